//! What every request passes through once, outermost: its request id, its metric and its
//! security headers. One middleware instead of three, because each layer of boxed middleware
//! costs more than the work these do (see docs/benchmarks.md).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::metrics::{Metrics, RequestMetric};
use super::request_id::{self, X_REQUEST_ID};
use super::security_headers::{self, SecurityHeaders};

/// What the envelope needs: the header policy and the server's metrics registry.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Which security headers every answer gets.
    pub policy: SecurityHeaders,
    /// Where each request is counted.
    pub metrics: Metrics,
}

/// Assigns the request id, serves the request, then records its metric and sets the id and
/// security headers on the response.
pub async fn envelope(
    State(Envelope { policy, metrics }): State<Envelope>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = request_id::assign(&mut request);
    let metric = RequestMetric::start(&request);
    let mut response = next.run(request).await;
    metric.finish(&metrics, response.status());
    let headers = response.headers_mut();
    security_headers::apply(headers, policy);
    if let Some(id) = id {
        headers.insert(X_REQUEST_ID.clone(), id);
    }
    response
}
