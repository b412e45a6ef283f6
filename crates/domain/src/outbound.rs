//! Outbound HTTP: the one port through which Castellan makes requests of its own (clients'
//! `jwks_uri` and back-channel logout endpoints, upstream identity providers, SAML metadata
//! URLs, webhooks). The adapter behind it decides which addresses may be reached, follows
//! redirects under the same rule, and bounds time and response size; callers only describe
//! the request.
//!
//! Requests and responses are `http` types with whole bodies, the shape HTTP client crates
//! such as `openidconnect` and `oauth2` expect of a pluggable client.

use async_trait::async_trait;

/// A request Castellan sends: method, absolute `http(s)` URI, headers and the whole body.
pub type OutboundRequest = http::Request<Vec<u8>>;
/// The final answer after redirects: status, headers and the whole body.
pub type OutboundResponse = http::Response<Vec<u8>>;

/// Why an outbound request got no usable answer. Messages name at most the host, never the
/// URL's path, query or credentials, nor the address a name resolved to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// The URL cannot be parsed, or has no host.
    #[error("not an absolute URL with a host")]
    InvalidUrl,
    /// The URL (or a redirect) uses a scheme other than `http` or `https`.
    #[error("only http and https URLs may be requested")]
    NotHttp,
    /// The host is, or resolves only to, loopback, private, link-local or other internal
    /// addresses, and is not allow-listed.
    #[error("{host} is an internal address and is not allow-listed")]
    InternalAddress {
        /// The host as the URL names it.
        host: String,
    },
    /// The response body is larger than the configured limit.
    #[error("the response is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// No complete answer within the configured time.
    #[error("no answer in time")]
    Timeout,
    /// The redirect chain is longer than allowed.
    #[error("more than {limit} redirects")]
    TooManyRedirects {
        /// The most redirects followed.
        limit: usize,
    },
    /// The peer answered with a status the caller does not accept.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// The body is not the JSON the caller asked for.
    #[error("the response is not JSON")]
    NotJson,
    /// The connection or the HTTP exchange failed (refused, reset, TLS, protocol).
    #[error("transport: {0}")]
    Transport(String),
}

/// Sends Castellan's own HTTP requests; implemented by the guarded client in `castellan-api`.
#[async_trait]
pub trait OutboundHttp: Send + Sync + std::fmt::Debug {
    /// Sends `request`, following redirects the guard permits, and returns the final response
    /// whatever its status.
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError>;

    /// POSTs `form` as `application/x-www-form-urlencoded` and returns the response.
    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<OutboundResponse, OutboundError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = http::Request::post(http_uri(url)?)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body.into_bytes())
            .map_err(|_| OutboundError::InvalidUrl)?;
        self.send(request).await
    }

    /// GETs a JSON document; a status other than 2xx, or a body that is not JSON, is an error.
    async fn get_json(&self, url: &str) -> Result<serde_json::Value, OutboundError> {
        let request = http::Request::get(http_uri(url)?)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|_| OutboundError::InvalidUrl)?;
        let response = self.send(request).await?;
        if !response.status().is_success() {
            return Err(OutboundError::Status(response.status().as_u16()));
        }
        serde_json::from_slice(response.body()).map_err(|_| OutboundError::NotJson)
    }
}

/// Parses an absolute `http(s)` URL into a URI. `url` normalises first (international host
/// names to punycode, default ports), which `http::Uri` alone would refuse or keep.
pub fn http_uri(url: &str) -> Result<http::Uri, OutboundError> {
    let parsed = url::Url::parse(url).map_err(|_| OutboundError::InvalidUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(OutboundError::NotHttp);
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(OutboundError::InvalidUrl);
    }
    parsed
        .as_str()
        .parse()
        .map_err(|_| OutboundError::InvalidUrl)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records the request and answers with a fixed status and body.
    #[derive(Debug)]
    struct Recorder {
        seen: Mutex<Vec<OutboundRequest>>,
        status: u16,
        body: &'static [u8],
    }

    #[async_trait]
    impl OutboundHttp for Recorder {
        async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
            self.seen.lock().unwrap().push(request);
            Ok(http::Response::builder()
                .status(self.status)
                .body(self.body.to_vec())
                .unwrap())
        }
    }

    fn recorder(status: u16, body: &'static [u8]) -> Recorder {
        Recorder {
            seen: Mutex::new(Vec::new()),
            status,
            body,
        }
    }

    #[test]
    fn only_absolute_http_urls_become_uris() {
        assert_eq!(
            http_uri("https://Bücher.example/a?b=c")
                .unwrap()
                .to_string(),
            "https://xn--bcher-kva.example/a?b=c"
        );
        assert!(matches!(
            http_uri("ftp://example.com/"),
            Err(OutboundError::NotHttp)
        ));
        assert!(matches!(
            http_uri("file:///etc/passwd"),
            Err(OutboundError::NotHttp)
        ));
        assert!(matches!(
            http_uri("/relative"),
            Err(OutboundError::InvalidUrl)
        ));
    }

    #[tokio::test]
    async fn a_form_is_posted_encoded() {
        let http = recorder(204, b"");
        let response = http
            .post_form("https://rp.example/logout", &[("logout_token", "a b&c")])
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let seen = http.seen.lock().unwrap();
        assert_eq!(seen[0].method(), http::Method::POST);
        assert_eq!(seen[0].uri(), "https://rp.example/logout");
        assert_eq!(
            seen[0].headers()[http::header::CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(seen[0].body(), b"logout_token=a+b%26c");
    }

    #[tokio::test]
    async fn json_needs_success_and_json() {
        let json = recorder(200, br#"{"keys":[]}"#)
            .get_json("https://rp.example/jwks")
            .await
            .unwrap();
        assert_eq!(json, serde_json::json!({"keys": []}));
        let status = recorder(404, b"{}")
            .get_json("https://rp.example/jwks")
            .await;
        assert!(matches!(status, Err(OutboundError::Status(404))));
        let garbage = recorder(200, b"<html>")
            .get_json("https://rp.example/jwks")
            .await;
        assert!(matches!(garbage, Err(OutboundError::NotJson)));
    }
}
