//! The adapter from the domain's [`OutboundHttp`] port to the `oauth2` / `openidconnect`
//! crates' pluggable asynchronous HTTP client, so their requests pass the outbound guard.

use std::future::Future;
use std::pin::Pin;

use castellan_domain::{OutboundError, OutboundHttp};
use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// What Castellan calls itself upstream; GitHub's API refuses requests without a user agent.
const USER_AGENT: &str = concat!("Castellan/", env!("CARGO_PKG_VERSION"));

/// Sends the protocol crates' requests through the outbound port.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PortClient<'a>(pub(crate) &'a dyn OutboundHttp);

impl PortClient<'_> {
    /// Sends `request` with Castellan's user agent unless it names one.
    pub(crate) async fn send(
        &self,
        mut request: HttpRequest,
    ) -> Result<HttpResponse, OutboundError> {
        request
            .headers_mut()
            .entry(http::header::USER_AGENT)
            .or_insert(http::HeaderValue::from_static(USER_AGENT));
        self.0.send(request).await
    }
}

impl<'c> AsyncHttpClient<'c> for PortClient<'_> {
    type Error = OutboundError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, OutboundError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// GETs `url` with `access_token` as a bearer token and answers the JSON body; `endpoint`
/// names the endpoint in errors.
pub(crate) async fn get_bearer_json(
    client: PortClient<'_>,
    url: &str,
    access_token: &str,
    endpoint: &'static str,
) -> Result<serde_json::Value, super::UpstreamError> {
    let request = http::Request::get(castellan_domain::outbound::http_uri(url)?)
        .header(http::header::ACCEPT, "application/json")
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {access_token}"),
        )
        .body(Vec::new())
        .map_err(|_| OutboundError::InvalidUrl)?;
    let response = client.send(request).await?;
    if !response.status().is_success() {
        return Err(super::UpstreamError::UpstreamStatus {
            endpoint,
            status: response.status().as_u16(),
        });
    }
    serde_json::from_slice(response.body())
        .map_err(|_| super::UpstreamError::Malformed("a JSON answer was expected"))
}

/// GETs a public JSON document (discovery, key set).
pub(crate) async fn get_json(
    client: PortClient<'_>,
    url: &str,
) -> Result<serde_json::Value, OutboundError> {
    let request = http::Request::get(castellan_domain::outbound::http_uri(url)?)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|_| OutboundError::InvalidUrl)?;
    let response = client.send(request).await?;
    if !response.status().is_success() {
        return Err(OutboundError::Status(response.status().as_u16()));
    }
    serde_json::from_slice(response.body()).map_err(|_| OutboundError::NotJson)
}
