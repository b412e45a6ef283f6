//! The device cookie (OWASP's "device cookies" against aimed lockouts): a random id that a
//! browser keeps across sign-ins. Once a sign-in from it succeeds, the lockout judges that
//! browser on its own failures, so failures from elsewhere cannot lock its owner out. The id is
//! given on the requests that take credentials, and reaches the domain only as its hash.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use castellan_domain::secret::hash_token;

use crate::http::auth::SIGN_IN_ROUTES;
use crate::http::cookies::secure_cookies;
use crate::http::rate_limit::PAGE_FORMS;
use crate::state::AppState;

/// The cookie's name.
pub const DEVICE_COOKIE: &str = "castellan_device";

/// How long a browser keeps its device id: as long as the lockout remembers a known device.
const DEVICE_COOKIE_MAX_AGE_DAYS: i64 = 180;

/// The hash of the request's device cookie, for [`crate::http::client::Client`].
#[derive(Debug, Clone)]
pub struct DeviceHash(pub String);

/// A device id as Castellan issues it: 43 base64url characters (32 random bytes).
fn well_formed(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Gives a browser a device id on the requests that take credentials when it has none, and
/// hands the id's hash to the request.
pub async fn device_cookie(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let takes_credentials = request.method() == Method::POST
        && (PAGE_FORMS.contains(&path) || SIGN_IN_ROUTES.contains(&path));
    if !takes_credentials {
        return next.run(request).await;
    }
    let presented = CookieJar::from_headers(request.headers())
        .get(DEVICE_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .filter(|value| well_formed(value));
    let (device, issued) = match presented {
        Some(device) => (device, false),
        None => (state.random.token(), true),
    };
    request
        .extensions_mut()
        .insert(DeviceHash(hash_token(&device)));
    let mut response = next.run(request).await;
    if issued {
        let cookie = Cookie::build((DEVICE_COOKIE, device))
            .path("/")
            .http_only(true)
            .secure(secure_cookies(&state.config.issuer))
            .same_site(SameSite::Lax)
            .max_age(time::Duration::days(DEVICE_COOKIE_MAX_AGE_DAYS))
            .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}
