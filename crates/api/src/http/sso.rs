//! The browser's sign-in session for the hosted pages: a cookie carrying the session id and an
//! HMAC over it (key derived from the master key), so any replica can check it without a lookup
//! table; the session row still decides whether it is active. Also the forms' CSRF cookie.

use aws_lc_rs::hmac;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

use castellan_domain::{RandomSource, SessionId};
use subtle::ConstantTimeEq;

/// The sign-in session cookie.
pub const SESSION_COOKIE: &str = "castellan_session";
/// The hosted forms' CSRF cookie (double submit: the form repeats it).
pub const FORM_CSRF_COOKIE: &str = "castellan_csrf";
/// The cookie that binds SAML AuthnRequests to the browser that started them.
pub const SAML_REQUEST_COOKIE: &str = "castellan_saml";
/// Where the SAML request cookie is sent: the sign-in start and the ACS.
const SAML_COOKIE_PATH: &str = "/api/v1/sso/";

/// Signs and checks the session cookie.
#[derive(Clone)]
pub struct SsoCookies {
    key: hmac::Key,
    secure: bool,
    max_age_secs: i64,
    random: Arc<dyn RandomSource>,
}

impl std::fmt::Debug for SsoCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoCookies")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl SsoCookies {
    /// Cookies signed with `key`, `Secure` unless `secure` is false, living `max_age_secs`;
    /// CSRF values are drawn from `random`.
    pub fn new(
        key: &[u8; 32],
        secure: bool,
        max_age_secs: i64,
        random: Arc<dyn RandomSource>,
    ) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            secure,
            max_age_secs,
            random,
        }
    }

    /// A fresh CSRF value for the cookies of a signed-in API client.
    pub fn new_csrf(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.random.bytes::<24>())
    }

    fn build(&self, name: &'static str, value: String, max_age: i64) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::seconds(max_age))
            .build()
    }

    /// The cookie for a session.
    pub fn session_cookie(&self, session: SessionId) -> Cookie<'static> {
        let id = session.to_string();
        let tag = hmac::sign(&self.key, id.as_bytes());
        let value = format!("{id}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        self.build(SESSION_COOKIE, value, self.max_age_secs)
    }

    /// A cookie that deletes the session cookie.
    pub fn clearing_cookie(&self) -> Cookie<'static> {
        self.build(SESSION_COOKIE, String::new(), 0)
    }

    /// The session the browser's cookie names, if its signature holds.
    pub fn session(&self, jar: &CookieJar) -> Option<SessionId> {
        let value = jar.get(SESSION_COOKIE)?.value();
        let (id, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, id.as_bytes(), &tag).ok()?;
        uuid::Uuid::parse_str(id).ok().map(SessionId)
    }

    /// The browser's CSRF value, and a cookie to set when it had none.
    pub fn form_csrf(&self, jar: &CookieJar) -> (String, Option<Cookie<'static>>) {
        if let Some(existing) = jar.get(FORM_CSRF_COOKIE)
            && existing.value().len() >= 32
        {
            return (existing.value().to_owned(), None);
        }
        let value = URL_SAFE_NO_PAD.encode(self.random.bytes::<32>());
        let cookie = self.build(FORM_CSRF_COOKIE, value.clone(), self.max_age_secs);
        (value, Some(cookie))
    }

    /// The cookie binding SAML requests to this browser, for as long as a request may be
    /// answered. The IdP posts the Response from its own site, so over HTTPS the cookie is
    /// `SameSite=None`; without HTTPS (development) it carries no SameSite attribute, which
    /// browsers still send on a top-level cross-site POST within two minutes of setting it.
    pub fn saml_request_cookie(&self, value: &str, max_age_secs: i64) -> Cookie<'static> {
        let mut cookie = Cookie::build((SAML_REQUEST_COOKIE, value.to_owned()))
            .path(SAML_COOKIE_PATH)
            .http_only(true)
            .secure(self.secure)
            .max_age(time::Duration::seconds(max_age_secs))
            .build();
        if self.secure {
            cookie.set_same_site(SameSite::None);
        }
        cookie
    }

    /// The browser's SAML request cookie, if it has one.
    pub fn saml_browser(jar: &CookieJar) -> Option<String> {
        jar.get(SAML_REQUEST_COOKIE)
            .map(|cookie| cookie.value().to_owned())
    }

    /// True when a submitted form's CSRF value matches the browser's cookie.
    pub fn form_csrf_matches(jar: &CookieJar, submitted: &str) -> bool {
        jar.get(FORM_CSRF_COOKIE).is_some_and(|cookie| {
            !submitted.is_empty()
                && bool::from(cookie.value().as_bytes().ct_eq(submitted.as_bytes()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signed_session_cookies_are_accepted() {
        let cookies = SsoCookies::new(
            &[7; 32],
            false,
            60,
            Arc::new(castellan_domain::SystemRandom),
        );
        let session = SessionId::new();
        let cookie = cookies.session_cookie(session);
        let jar = CookieJar::new().add(cookie.clone());
        assert_eq!(cookies.session(&jar), Some(session));
        let other = SsoCookies::new(
            &[8; 32],
            false,
            60,
            Arc::new(castellan_domain::SystemRandom),
        );
        assert_eq!(other.session(&jar), None);
        let forged = format!(
            "{}.{}",
            SessionId::new(),
            cookie.value().split_once('.').unwrap().1
        );
        let jar = CookieJar::new().add(Cookie::new(SESSION_COOKIE, forged));
        assert_eq!(cookies.session(&jar), None);
    }
}
