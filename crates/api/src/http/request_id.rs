//! `X-Request-Id`: a well-formed incoming id is kept (so a proxy's id follows the request
//! through), anything else is replaced by a fresh UUIDv7; the id is echoed on the response and
//! carried by the request's log span.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};

/// The header that carries the id.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Ids from outside are kept only when short and made of safe characters, so they cannot
/// forge log lines or bloat them.
fn is_acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        })
}

/// Assigns the request its id (kept from the client when acceptable): in the header and the
/// extensions. Returns the header value to echo on the response.
pub fn assign(request: &mut Request) -> Option<HeaderValue> {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_acceptable(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), ToOwned::to_owned);
    let header = HeaderValue::from_str(&id).ok();
    if let Some(header) = &header {
        request
            .headers_mut()
            .insert(X_REQUEST_ID.clone(), header.clone());
    }
    request.extensions_mut().insert(RequestId(id));
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tidy_ids_are_kept() {
        assert!(is_acceptable("3f2c8a40-1b7e-4d2e-9a55-0c1b2d3e4f50"));
        assert!(is_acceptable("lb:abc/123"));
        assert!(!is_acceptable(""));
        assert!(!is_acceptable("has space"));
        assert!(!is_acceptable("line\nbreak"));
        assert!(!is_acceptable(&"a".repeat(129)));
    }
}
