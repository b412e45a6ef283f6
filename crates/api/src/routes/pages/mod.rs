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
mod second_factor;
mod signup;

use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use castellan_domain::{SessionId, User};
use castellan_oidc::provider::{AuthorizeError, Interaction, Resolution};
use serde::Deserialize;

use crate::state::AppState;

pub(crate) use errors::refused_page;
pub(crate) use links::link_page;

/// The paths the hosted pages (and the browser-facing OAuth endpoints) answer: their refusals
/// render as pages.
pub(crate) const PAGE_PATHS: &[&str] = &[
    "/oauth2/authorize",
    "/oauth2/authorize/continue",
    "/oauth2/logout",
    "/login",
    "/login/mfa",
    "/login/passkey",
    "/login/enrol",
    "/login/magic",
    "/login/magic-link",
    "/reset-password",
    "/invitations/accept",
    "/signup",
    "/consent",
    "/select-organization",
    "/device",
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

fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

fn interaction_link(path: &str, id: &str) -> String {
    let query = serde_urlencoded::to_string([("interaction", id)]).unwrap_or_default();
    format!("{path}?{query}")
}

/// A local path to return to after sign-in; anything else is ignored (no open redirect).
fn local_target(next: Option<&str>) -> Option<String> {
    next.filter(|target| {
        target.starts_with('/') && !target.starts_with("//") && !target.contains('\\')
    })
    .map(str::to_owned)
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
        Ok(Resolution::Redirect(url)) => Redirect::to(&url).into_response(),
        Ok(Resolution::SignIn(view)) => see_other(&interaction_link("/login", &view.id)),
        Ok(Resolution::Consent(view)) => see_other(&interaction_link("/consent", &view.id)),
        Ok(Resolution::ChooseOrganization(view)) => {
            see_other(&interaction_link("/select-organization", &view.id))
        }
        Err(AuthorizeError::Redirect(url)) => Redirect::to(&url).into_response(),
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
