//! Cross-cutting HTTP behaviour, applied once to the whole router: request ids, access logs,
//! metrics, security headers and the `/api/v1` error format.

pub mod access;
pub mod api_errors;
pub mod auth;
pub mod client;
pub mod cookies;
pub mod device;
pub mod envelope;
pub mod maintenance;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
pub mod security_headers;
pub mod sso;
