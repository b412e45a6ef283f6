//! Cross-cutting HTTP behaviour, applied once to the whole router: request ids, access logs,
//! metrics, security headers and the `/api/v1` error format.

pub mod api_errors;
pub mod metrics;
pub mod request_id;
pub mod security_headers;
