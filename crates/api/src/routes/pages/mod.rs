//! The hosted pages and the browser-facing OAuth endpoints: authorize, sign-in, sign-up,
//! consent, device code entry, the links sent by mail, and logout. Server-rendered with
//! askama; every form carries the double-submit CSRF value ([`csrf::CsrfForm`]); the sign-in
//! flow and the provider decide what comes next, the handlers only render it.

mod assets;
mod authorize;
mod consent;
mod csrf;
mod device;
mod errors;
mod links;
mod login;
mod logout;
mod query;
mod render;
mod saml;
mod second_factor;
mod signup;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use castellan_domain::{SessionId, User};
use castellan_oidc::provider::{AuthorizeError, Interaction, OAuthError, Resolution};
use serde::Deserialize;

use crate::state::AppState;

pub(crate) use errors::refused_page;
pub(crate) use links::link_page;
pub(crate) use saml::{saml_signed_in, to_idp};

/// The paths the hosted pages (and the browser-facing OAuth endpoints) answer: their refusals
/// render as pages.
pub(crate) const PAGE_PATHS: &[&str] = &[
    "/oauth2/authorize",
    "/oauth2/authorize/continue",
    "/oauth2/logout",
    "/login",
    "/login/mfa",
    "/login/passkey",
    "/login/sso",
    "/login/enrol",
    "/login/magic",
    "/login/magic-link",
    "/reset-password",
    "/invitations/accept",
    "/signup",
    "/consent",
    "/select-organization",
    "/device",
    "/api/v1/sso/acs",
];

/// The hosted pages and browser endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/oauth2/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            "/oauth2/authorize/continue",
            get(authorize::authorize_continue),
        )
        .route(
            "/oauth2/logout",
            get(logout::logout_get).post(logout::logout_post),
        )
        .route("/login", get(login::login_page).post(login::login_submit))
        .route("/login/mfa", post(second_factor::mfa_submit))
        .route("/login/passkey", post(login::passkey_submit))
        .route("/login/sso", post(saml::sso_submit))
        .route("/login/enrol", post(second_factor::enrol_submit))
        .route(
            "/login/magic",
            get(links::magic_page).post(links::magic_submit),
        )
        .route("/login/magic-link", post(links::magic_request))
        .route(
            "/reset-password",
            get(links::reset_page).post(links::reset_submit),
        )
        .route(
            "/invitations/accept",
            get(links::invitation_page).post(links::invitation_submit),
        )
        .route(
            "/signup",
            get(signup::signup_page).post(signup::signup_submit),
        )
        .route(
            "/consent",
            get(consent::consent_page).post(consent::consent_submit),
        )
        .route(
            "/select-organization",
            get(consent::organization_page).post(consent::organization_submit),
        )
        .route(
            "/device",
            get(device::device_page).post(device::device_submit),
        )
        .route("/static/castellan.css", get(assets::stylesheet))
        .route("/static/passkeys.js", get(assets::passkey_script))
}

/// Where a sign-in page goes on to: an authorization in progress, or a local page.
#[derive(Debug, Clone, Default, Deserialize)]
struct FormTarget {
    interaction: Option<String>,
    next: Option<String>,
}

/// A page that belongs to an interaction.
#[derive(Debug, Deserialize)]
struct InteractionQuery {
    interaction: String,
}

/// A 303 to `location`. A location that cannot be a header value (only a bug could build
/// one: targets are validated first) shows an error page instead of a panic.
fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => {
            tracing::warn!("refused to redirect to a location that is not a header value");
            errors::oauth_error_page(&OAuthError::invalid_request(
                "the page to return to is not a valid address",
            ))
        }
    }
}

/// A 303 to the client carrying a code or an error: no cache may keep it (RFC 6749
/// section 4.1.2 codes are credentials).
fn client_redirect(location: &str) -> Response {
    let mut response = see_other(location);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn interaction_link(path: &str, id: &str) -> String {
    let query = serde_urlencoded::to_string([("interaction", id)]).unwrap_or_default();
    format!("{path}?{query}")
}

/// The one check of a page to return to after sign-in (`next`): a path on this server, as a
/// browser would read it. The text is parsed as a WHATWG URL against the issuer, and must
/// stay on the issuer's origin with a path that starts with a single `/`; control
/// characters (browsers drop tabs and newlines, so `/\t/evil.example` reads as
/// `//evil.example`) and backslashes (read as `/`) refuse it outright. The answer is the
/// parsed path, query and fragment, so it is always a valid `Location`. `None` means the
/// default landing.
fn local_target(issuer: &str, next: Option<&str>) -> Option<String> {
    let next = next?;
    if !next.starts_with('/')
        || next.starts_with("//")
        || next.chars().any(|c| c.is_control() || c == '\\')
    {
        return None;
    }
    let base = url::Url::parse(issuer).ok()?;
    let resolved = base.join(next).ok()?;
    if resolved.origin() != base.origin() {
        return None;
    }
    let path = resolved.path();
    if !path.starts_with('/') || path.starts_with("//") {
        return None;
    }
    let mut target = path.to_owned();
    if let Some(query) = resolved.query() {
        target.push('?');
        target.push_str(query);
    }
    if let Some(fragment) = resolved.fragment() {
        target.push('#');
        target.push_str(fragment);
    }
    Some(target)
}

/// Where a page that needs a signed-in browser sends anyone else: the sign-in page, coming
/// back to `back` afterwards.
fn sign_in_first(back: &str) -> Response {
    let login = serde_urlencoded::to_string([("next", back)]).unwrap_or_default();
    see_other(&format!("/login?{login}"))
}

/// Turns the provider's decision into a response: a redirect to the client, or to a page.
fn resolve(result: Result<Resolution, AuthorizeError>) -> Response {
    match result {
        Ok(Resolution::Redirect(url)) => client_redirect(&url),
        Ok(Resolution::SignIn(view)) => see_other(&interaction_link("/login", &view.id)),
        Ok(Resolution::Consent(view)) => see_other(&interaction_link("/consent", &view.id)),
        Ok(Resolution::ChooseOrganization(view)) => {
            see_other(&interaction_link("/select-organization", &view.id))
        }
        Err(AuthorizeError::Redirect(url)) => client_redirect(&url),
        Err(AuthorizeError::Page(error)) => errors::oauth_error_page(&error),
    }
}

/// The signed-in user of the browser, if its session is active.
async fn browser_user(state: &AppState, jar: &CookieJar) -> Option<(SessionId, User)> {
    let session = state.sso.session(jar)?;
    match state.sessions.active_session(session).await {
        Ok(Some((session, user))) => Some((session.id, user)),
        _ => None,
    }
}

/// The interaction a page belongs to, or the response that replaces the page (it expired, or
/// must go back to the client).
async fn page_interaction(
    state: &AppState,
    id: Option<&str>,
) -> Result<Option<Interaction>, Response> {
    let Some(id) = id else {
        return Ok(None);
    };
    match state.oidc.interaction(id).await {
        Ok(interaction) => Ok(Some(interaction)),
        Err(error) => Err(resolve(Err(error))),
    }
}

#[cfg(test)]
mod tests {
    use super::local_target;

    const ISSUER: &str = "https://id.example";

    #[test]
    fn local_paths_are_kept_in_their_parsed_form() {
        let kept = |next: &str| local_target(ISSUER, Some(next));
        assert_eq!(kept("/device").as_deref(), Some("/device"));
        assert_eq!(kept("/a/../b?x=1#top").as_deref(), Some("/b?x=1#top"));
        assert_eq!(kept("/caf\u{e9} x").as_deref(), Some("/caf%C3%A9%20x"));
    }

    #[test]
    fn anything_a_browser_could_read_as_another_origin_is_refused() {
        for next in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "//evil.example",
            "/.//evil.example",
            "https://evil.example/",
            "https:evil.example",
            "evil.example",
            "",
            "/\u{0}x",
        ] {
            assert_eq!(local_target(ISSUER, Some(next)), None, "{next:?}");
        }
        assert_eq!(local_target(ISSUER, None), None);
    }
}
