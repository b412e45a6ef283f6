//! Consent and the organization picker: the pages an authorization stops at when the user
//! must allow the client, or choose the organization the client acts for.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use castellan_domain::{OrgChoice, User};
use castellan_oidc::provider::Interaction;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::errors::error_page;
use super::query::PageQuery;
use super::render::form_page;
use super::{
    InteractionQuery, browser_user, interaction_link, page_interaction, resolve, see_other,
};
use crate::http::client::Client;
use crate::state::AppState;

/// What a scope lets the client do, in words.
pub(super) fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Confirm who you are".to_owned(),
        "profile" => "See your name".to_owned(),
        "email" => "See your email address".to_owned(),
        "offline_access" => "Keep access while you are away".to_owned(),
        "phone" => "See your phone number".to_owned(),
        "address" => "See your postal address".to_owned(),
        "organization" => {
            "Know which of your organizations you use it for, and your roles there".to_owned()
        }
        other => match other.strip_prefix("org:") {
            Some(slug) => {
                format!("Act for the organization \u{201c}{slug}\u{201d} with your roles there")
            }
            None => format!("Use the \u{201c}{other}\u{201d} permission"),
        },
    }
}

/// The signed-in user and the interaction of a page that needs both (consent, organization
/// picker), or the response that replaces the page: signed out, back through the flow.
async fn signed_in_interaction(
    state: &AppState,
    jar: &CookieJar,
    id: &str,
) -> Result<(User, Interaction), Response> {
    let Some((_, user)) = browser_user(state, jar).await else {
        return Err(see_other(&interaction_link(
            "/oauth2/authorize/continue",
            id,
        )));
    };
    match page_interaction(state, Some(id)).await? {
        Some(interaction) => Ok((user, interaction)),
        None => Err(see_other("/login")),
    }
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    csrf: String,
    interaction: String,
    client_name: String,
    user: String,
    scopes: Vec<String>,
}

pub(super) async fn consent_page(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<InteractionQuery>,
) -> Response {
    let (user, interaction) = match signed_in_interaction(&state, &jar, &query.interaction).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    form_page(&state, jar, StatusCode::OK, |csrf| ConsentPage {
        csrf,
        user: user.email.as_str().to_owned(),
        scopes: interaction
            .scope
            .split_whitespace()
            .map(describe_scope)
            .collect(),
        interaction: interaction.id,
        client_name: interaction.client_name,
    })
}

#[derive(Template)]
#[template(path = "organization.html")]
struct OrganizationPage {
    csrf: String,
    interaction: String,
    client_name: String,
    user: String,
    choices: Vec<OrgChoice>,
}

pub(super) async fn organization_page(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<InteractionQuery>,
) -> Response {
    let (user, interaction) = match signed_in_interaction(&state, &jar, &query.interaction).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let choices = match state.sessions.organization_choices(user.id).await {
        Ok(choices) => choices,
        Err(error) => return error_page(error),
    };
    form_page(&state, jar, StatusCode::OK, |csrf| OrganizationPage {
        csrf,
        user: user.email.as_str().to_owned(),
        choices,
        interaction: interaction.id,
        client_name: interaction.client_name,
    })
}

#[derive(Deserialize)]
pub(super) struct OrganizationForm {
    #[serde(default)]
    interaction: String,
    #[serde(default)]
    organization: String,
}

pub(super) async fn organization_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<OrganizationForm>,
) -> Response {
    resolve(
        state
            .oidc
            .choose_organization(
                &form.interaction,
                state.sso.session(&jar),
                &form.organization,
            )
            .await,
    )
}

/// Allow or deny, on the consent page and on the device page.
#[derive(Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    pub(super) interaction: String,
    #[serde(default)]
    pub(super) user_code: String,
    #[serde(default)]
    pub(super) decision: String,
}

pub(super) async fn consent_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<DecisionForm>,
) -> Response {
    let approve = form.decision == "allow";
    resolve(
        state
            .oidc
            .decide_consent(
                &form.interaction,
                state.sso.session(&jar),
                approve,
                &context,
            )
            .await,
    )
}
