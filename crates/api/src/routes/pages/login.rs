//! The sign-in page: the password and passkey forms, and rendering where a step of the
//! sign-in flow led (on through the interaction, the second step, enrolment, or the page again
//! with what went wrong).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use castellan_domain::{
    BrowserSignIn, DomainError, FirstFactor, MagicLinks, Proof, RequestContext, Session,
};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::errors::{Flow, Shown, shown};
use super::query::PageQuery;
use super::render::{form_page, page_status};
use super::saml::organization_sign_in;
use super::second_factor::{begin_enrolment, second_step_page};
use super::{
    FormTarget, browser_user, interaction_link, local_target, page_interaction, resolve, see_other,
};
use castellan_oidc::provider::OrganizationRequest;

use crate::http::client::Client;
use crate::state::AppState;
use castellan_domain::Password;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    interaction: Option<String>,
    next: Option<String>,
    client_name: Option<String>,
    email: String,
    error: Option<String>,
    signed_in_as: Option<String>,
    signup_enabled: bool,
    signup_link: String,
    passkeys_enabled: bool,
    magic_links: bool,
}

/// Renders the sign-in page, setting the CSRF cookie when the browser has none.
async fn render_login(
    state: &AppState,
    jar: CookieJar,
    query: FormTarget,
    email: String,
    error: Option<(StatusCode, String)>,
) -> Response {
    let interaction = match page_interaction(state, query.interaction.as_deref()).await {
        Ok(interaction) => interaction,
        Err(response) => return response,
    };
    let (client_name, login_hint) = match interaction {
        Some(interaction) => (Some(interaction.client_name), interaction.login_hint),
        None => (None, None),
    };
    let signed_in_as = browser_user(state, &jar)
        .await
        .map(|(_, user)| user.email.as_str().to_owned());
    let signup_link = match &query.interaction {
        Some(id) => interaction_link("/signup", id),
        None => "/signup".to_owned(),
    };
    let (status, error) = page_status(error);
    let signup_enabled = state.config.accounts.signup_enabled;
    let passkeys_enabled = state.passkeys.unavailable_reason().is_none();
    let magic_links = state.email.settings().magic_links != MagicLinks::Off;
    form_page(state, jar, status, |csrf| LoginPage {
        csrf,
        next: local_target(&state.config.issuer, query.next.as_deref()),
        interaction: query.interaction,
        client_name,
        email: if email.is_empty() {
            login_hint.unwrap_or_default()
        } else {
            email
        },
        error,
        signed_in_as,
        signup_enabled,
        signup_link,
        passkeys_enabled,
        magic_links,
    })
}

/// The sign-in page; an authorization that names an organization with single sign-on goes
/// straight to that organization's IdP instead.
pub(super) async fn login_page(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<FormTarget>,
) -> Response {
    if let Some(id) = query.interaction.as_deref()
        && let Ok(interaction) = state.oidc.interaction(id).await
        && let Some(OrganizationRequest::Named(organization)) = &interaction.organization
        && let Some(location) = organization_sign_in(&state, organization, id).await
    {
        return see_other(&location);
    }
    render_login(&state, jar, query, String::new(), None).await
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: Password,
    #[serde(flatten)]
    target: FormTarget,
}

pub(super) async fn login_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Response {
    let password = FirstFactor::Password {
        email: form.email.clone(),
        password: form.password,
    };
    let outcome = state
        .signin
        .sign_in_browser(password.into(), &context)
        .await;
    sign_in_step(&state, jar, outcome, form.target, form.email, &context).await
}

#[derive(Deserialize)]
pub(super) struct PasskeyForm {
    #[serde(default)]
    ceremony_id: String,
    #[serde(default)]
    credential: String,
    #[serde(flatten)]
    target: FormTarget,
}

/// A passkey's answer, as the first factor or as the second step.
pub(super) async fn passkey_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<PasskeyForm>,
) -> Response {
    let proof = match serde_json::from_str(&form.credential) {
        Ok(credential) => {
            state
                .passkeys
                .finish_sign_in(&form.ceremony_id, &credential, &context)
                .await
        }
        Err(_) => Err(DomainError::Passkey(
            "the browser's answer could not be read".to_owned(),
        )),
    };
    let outcome = continue_sign_in(&state, proof, &context).await;
    sign_in_step(&state, jar, outcome, form.target, String::new(), &context).await
}

/// Hands a proof that a protocol service verified on to the sign-in flow.
pub(super) async fn continue_sign_in(
    state: &AppState,
    proof: Result<Proof, DomainError>,
    context: &RequestContext,
) -> Result<BrowserSignIn, DomainError> {
    match proof {
        Ok(proof) => state.signin.sign_in_browser(proof, context).await,
        Err(error) => Err(error),
    }
}

/// Renders where a step of a sign-in (or a sign-up) led: with the session open, the cookie and
/// on to the interaction, the requested local page, or the sign-in page showing who is signed
/// in; the second step; enrolment first; or the sign-in page again with what went wrong.
pub(super) async fn sign_in_step(
    state: &AppState,
    jar: CookieJar,
    outcome: Result<BrowserSignIn, DomainError>,
    target: FormTarget,
    email: String,
    context: &RequestContext,
) -> Response {
    match outcome {
        Ok(BrowserSignIn::Opened(session)) => {
            match establish(state, jar, &session, &target).await {
                Ok((jar, next)) => (jar, see_other(&next)).into_response(),
                Err(response) => response,
            }
        }
        Ok(BrowserSignIn::SecondFactor(challenge)) => {
            second_step_page(state, jar, challenge, target)
        }
        Ok(BrowserSignIn::MustEnrol(authenticated)) => {
            begin_enrolment(state, jar, &authenticated, target, context).await
        }
        Err(error) => sign_in_failed(state, jar, target, email, shown(error, Flow::SignIn)).await,
    }
}

/// The sign-in page again with what went wrong, or the page the error has of its own.
pub(super) async fn sign_in_failed(
    state: &AppState,
    jar: CookieJar,
    target: FormTarget,
    email: String,
    error: Shown,
) -> Response {
    match error {
        // The sign-in page is the form of a sign-in.
        Shown::SignIn(status, text) | Shown::Form(status, text) => {
            render_login(state, jar, target, email, Some((status, text))).await
        }
        Shown::Page(response) => response,
    }
}

/// Sets the browser session's cookie and tells the interaction; returns the cookie jar and
/// where to go next.
pub(super) async fn establish(
    state: &AppState,
    jar: CookieJar,
    session: &Session,
    target: &FormTarget,
) -> Result<(CookieJar, String), Response> {
    let (interaction, next) = (target.interaction.as_deref(), target.next.as_deref());
    let jar = jar.add(state.sso.session_cookie(session.id));
    let target = match interaction {
        Some(id) => {
            if let Err(error) = state.oidc.signed_in(id, session.id).await {
                return Err((jar, resolve(Err(error))).into_response());
            }
            interaction_link("/oauth2/authorize/continue", id)
        }
        None => local_target(&state.config.issuer, next).unwrap_or_else(|| "/login".to_owned()),
    };
    Ok((jar, target))
}
