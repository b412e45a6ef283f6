//! The pages the links sent by mail land on: magic links (asked for and used), password
//! reset, and invitations; and the outcome page of the links the API answers (address
//! verification and change).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use castellan_domain::DomainError;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::errors::{Flow, Shown, shown};
use super::login::{sign_in_failed, sign_in_step};
use super::query::PageQuery;
use super::render::{form_page, message, page_status};
use super::{FormTarget, browser_user, see_other, sign_in_first};
use crate::http::client::Client;
use crate::state::AppState;
use castellan_domain::{OneTimeCode, Password};

/// The page a link in a message lands on: what happened, or why the link no longer works.
pub(crate) fn link_page(outcome: Result<String, DomainError>, heading: &str) -> Response {
    match outcome {
        Ok(text) => message(StatusCode::OK, heading, &text),
        Err(error) => match shown(error, Flow::Link) {
            Shown::Form(status, text) | Shown::SignIn(status, text) => {
                message(status, heading, &text)
            }
            Shown::Page(response) => response,
        },
    }
}

#[derive(Deserialize)]
pub(super) struct LinkQuery {
    #[serde(default)]
    token: OneTimeCode,
}

#[derive(Deserialize)]
pub(super) struct MagicRequestForm {
    #[serde(default)]
    email: String,
}

pub(super) async fn magic_request(
    State(state): State<AppState>,
    Client(context): Client,
    CsrfForm(form): CsrfForm<MagicRequestForm>,
) -> Response {
    match state.email.request_magic_link(&form.email, &context).await {
        Ok(()) => message(
            StatusCode::OK,
            "Check your inbox",
            "If the address belongs to an account, a sign-in link is on its way. It works once, for 15 minutes.",
        ),
        Err(error) => page_of(error, Flow::MagicLinkRequest),
    }
}

/// The page an error has on a page without a form of its own.
fn page_of(error: DomainError, flow: Flow) -> Response {
    match shown(error, flow) {
        Shown::Form(status, text) | Shown::SignIn(status, text) => {
            message(status, "This did not work", &text)
        }
        Shown::Page(response) => response,
    }
}

#[derive(Template)]
#[template(path = "magic.html")]
struct MagicPage {
    csrf: String,
    token: String,
}

/// A magic link lands here and asks for one click: mail scanners that open links do not
/// use up the token.
pub(super) async fn magic_page(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<LinkQuery>,
) -> Response {
    form_page(&state, jar, StatusCode::OK, |csrf| MagicPage {
        csrf,
        token: query.token.expose().to_owned(),
    })
}

#[derive(Deserialize)]
pub(super) struct LinkForm {
    #[serde(default)]
    token: OneTimeCode,
}

pub(super) async fn magic_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<LinkForm>,
) -> Response {
    let target = FormTarget::default();
    match state.email.verify_magic_link(&form.token, &context).await {
        Ok(magic_link) => {
            let outcome = state
                .signin
                .sign_in_browser(magic_link.into(), &context)
                .await;
            sign_in_step(&state, jar, outcome, target, String::new(), &context).await
        }
        Err(error) => {
            sign_in_failed(
                &state,
                jar,
                target,
                String::new(),
                shown(error, Flow::MagicLink),
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    csrf: String,
    token: String,
    email: String,
}

/// An invitation's link lands here: a signed-in browser is asked to join; anyone else signs
/// in (or signs up) first and comes back.
pub(super) async fn invitation_page(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<LinkQuery>,
) -> Response {
    let Some((_, user)) = browser_user(&state, &jar).await else {
        let back = format!(
            "/invitations/accept?{}",
            serde_urlencoded::to_string([("token", query.token.expose())]).unwrap_or_default()
        );
        return sign_in_first(&back);
    };
    form_page(&state, jar, StatusCode::OK, |csrf| InvitationPage {
        csrf,
        token: query.token.expose().to_owned(),
        email: user.email.as_str().to_owned(),
    })
}

pub(super) async fn invitation_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<LinkForm>,
) -> Response {
    let Some((_, user)) = browser_user(&state, &jar).await else {
        return see_other("/login");
    };
    match state
        .organizations
        .invitations
        .accept(&user, &form.token, &context)
        .await
    {
        Ok(organization) => message(
            StatusCode::OK,
            "Welcome",
            &format!("You joined {}.", organization.name),
        ),
        Err(error) => page_of(error, Flow::Invitation),
    }
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    csrf: String,
    token: String,
    min_length: usize,
    /// The password policy in force, in one sentence.
    policy: String,
    error: Option<String>,
}

fn render_reset(
    state: &AppState,
    jar: CookieJar,
    token: &OneTimeCode,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = page_status(error);
    let min_length = state.config.accounts.password_min_length;
    let policy = crate::server::settings::password_policy(&state.config).describe();
    form_page(state, jar, status, |csrf| ResetPage {
        csrf,
        // The form carries the link's token on to the new password.
        token: token.expose().to_owned(),
        min_length,
        policy,
        error,
    })
}

pub(super) async fn reset_page(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<LinkQuery>,
) -> Response {
    render_reset(&state, jar, &query.token, None)
}

#[derive(Deserialize)]
pub(super) struct ResetForm {
    #[serde(default)]
    token: OneTimeCode,
    #[serde(default)]
    new_password: Password,
}

pub(super) async fn reset_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> Response {
    match state
        .email
        .reset_password(&form.token, &form.new_password, &context)
        .await
    {
        Ok(()) => message(
            StatusCode::OK,
            "Password changed",
            "Your password was changed and every session signed out. Sign in with the new one.",
        ),
        Err(error) => match shown(error, Flow::PasswordReset) {
            Shown::Form(status, text) | Shown::SignIn(status, text) => {
                render_reset(&state, jar, &form.token, Some((status, text)))
            }
            Shown::Page(response) => response,
        },
    }
}
