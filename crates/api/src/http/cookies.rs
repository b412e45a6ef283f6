//! Cookie mode: the tokens travel in `HttpOnly` cookies instead of the body, with a
//! readable CSRF cookie whose value state-changing requests must echo in `X-CSRF-Token`.

use axum_extra::extract::cookie::{Cookie, SameSite};
use castellan_domain::TokenPair;

/// The access-token cookie.
pub const ACCESS_COOKIE: &str = "access_token";
/// The refresh-token cookie, sent only to the auth routes.
pub const REFRESH_COOKIE: &str = "refresh_token";
/// The CSRF cookie (readable by scripts on purpose: they copy it into the header).
pub const CSRF_COOKIE: &str = "csrf_token";
/// The header that must repeat the CSRF cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";
const REFRESH_PATH: &str = "/api/v1/auth";

/// `Secure` is left off only for a plain-http issuer on the loopback host, where browsers would
/// otherwise drop the cookies during local development.
pub fn secure_cookies(issuer: &str) -> bool {
    let Ok(url) = url::Url::parse(issuer) else {
        return true;
    };
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    !(url.scheme() == "http" && loopback)
}

fn cookie(
    name: &'static str,
    value: String,
    path: &'static str,
    max_age_secs: i64,
    http_only: bool,
    secure: bool,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path(path)
        .http_only(http_only)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(max_age_secs))
        .build()
}

/// The three cookies of a signed-in browser.
pub fn session_cookies(
    pair: &TokenPair,
    refresh_max_age_secs: i64,
    secure: bool,
    csrf: String,
) -> [Cookie<'static>; 3] {
    let access_age = i64::try_from(pair.expires_in).unwrap_or(i64::MAX);
    [
        cookie(
            ACCESS_COOKIE,
            pair.access_token.expose().to_owned(),
            "/",
            access_age,
            true,
            secure,
        ),
        cookie(
            REFRESH_COOKIE,
            pair.refresh_token.expose().to_owned(),
            REFRESH_PATH,
            refresh_max_age_secs,
            true,
            secure,
        ),
        cookie(CSRF_COOKIE, csrf, "/", refresh_max_age_secs, false, secure),
    ]
}

/// Cookies that delete the session cookies.
pub fn clearing_cookies(secure: bool) -> [Cookie<'static>; 3] {
    [
        cookie(ACCESS_COOKIE, String::new(), "/", 0, true, secure),
        cookie(REFRESH_COOKIE, String::new(), REFRESH_PATH, 0, true, secure),
        cookie(CSRF_COOKIE, String::new(), "/", 0, false, secure),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_everywhere_but_plain_http_loopback() {
        assert!(!secure_cookies("http://localhost:8000"));
        assert!(!secure_cookies("http://127.0.0.1:9000"));
        assert!(secure_cookies("https://localhost:8000"));
        assert!(secure_cookies("http://id.example.com"));
        assert!(secure_cookies("https://id.example.com"));
    }
}
