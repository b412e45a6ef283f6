//! Sign-in through an organization's SAML connection: `GET /api/v1/sso/initiate` sends the
//! browser to the IdP with a signed AuthnRequest; `POST /api/v1/sso/acs` receives the IdP's
//! Response. The ACS is a browser endpoint: it answers with pages (the sign-in continuing, or
//! why it cannot), rendered by the hosted pages.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use castellan_sso::{Continuation, Realm, SamlSignInError};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::http::client::Client;
use crate::http::sso::SsoCookies;
use crate::routes::pages;

use crate::state::AppState;

/// The longest `next` or `interaction` value kept while the browser is at its IdP.
const MAX_TARGET_LEN: usize = 2048;

/// The SAML sign-in routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(initiate))
        .routes(routes!(acs))
}

/// Whose IdP to sign in at, and where to continue afterwards.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InitiateQuery {
    /// The organization, by slug or id.
    organization: Option<String>,
    /// An address in a domain the organization verified (home-realm discovery), instead.
    email: Option<String>,
    /// The authorization in progress to continue once signed in.
    interaction: Option<String>,
    /// Else a page of this server to continue on (a path such as `/account`).
    next: Option<String>,
}

/// Start single sign-on: redirects the browser to the organization's IdP.
#[utoipa::path(get, path = "/sso/initiate", tag = "sso", params(InitiateQuery),
    responses(
        (status = 302, description = "To the IdP with a signed AuthnRequest (HTTP-Redirect binding); sets the cookie that binds the request to this browser"),
        (status = 404, description = "No enabled SAML connection for that organization or address (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 422, description = "Neither organization nor email given, or a target too long (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn initiate(
    State(state): State<AppState>,
    jar: CookieJar,
    ApiQuery(query): ApiQuery<InitiateQuery>,
) -> Result<Response, ApiError> {
    let realm = match (query.organization.as_deref(), query.email.as_deref()) {
        (Some(organization), _) if !organization.trim().is_empty() => {
            Realm::Organization(organization)
        }
        (_, Some(email)) if !email.trim().is_empty() => Realm::Email(email),
        _ => {
            return Err(ApiError::from(castellan_domain::DomainError::invalid(
                "organization",
                "give the organization's slug, or an email address of its domain",
            )));
        }
    };
    for (field, value) in [("interaction", &query.interaction), ("next", &query.next)] {
        if value.as_ref().is_some_and(|v| v.len() > MAX_TARGET_LEN) {
            return Err(ApiError::from(castellan_domain::DomainError::invalid(
                field,
                format!("at most {MAX_TARGET_LEN} characters"),
            )));
        }
    }
    let no_connection = || ApiError::not_found("No SAML sign-in for this organization");
    let connection = state
        .saml
        .sign_in
        .discover(realm)
        .await
        .map_err(api_error)?
        .ok_or_else(no_connection)?;
    let continuation = Continuation {
        interaction: query.interaction,
        next: query.next,
    };
    pages::to_idp(&state, jar, &connection, continuation, StatusCode::FOUND)
        .await
        .map_err(api_error)
}

fn api_error(error: SamlSignInError) -> ApiError {
    match error {
        SamlSignInError::NoConnection => {
            ApiError::not_found("No SAML sign-in for this organization")
        }
        SamlSignInError::Domain(error) => error.into(),
        other => ApiError::internal(&other),
    }
}

/// What the IdP posts to the ACS (HTTP-POST binding).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AcsForm {
    /// The base64 Response.
    #[serde(rename = "SAMLResponse", default)]
    pub(crate) saml_response: String,
    /// The RelayState of the request it answers (or, IdP-initiated, a page to land on).
    #[serde(rename = "RelayState")]
    pub(crate) relay_state: Option<String>,
}

/// The Assertion Consumer Service: the IdP's Response, checked strictly; the browser continues
/// signed in, to its second step, or sees why it cannot (the rule a refused Response broke is
/// recorded in the audit log as `sso.response.refused`, never shown).
#[utoipa::path(post, path = "/sso/acs", tag = "sso",
    request_body(content = AcsForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: on to the authorization, the page asked for, or the second step"),
        (status = 200, description = "A page: the second step, or enrolment the platform requires", content_type = "text/html"),
        (status = 400, description = "The Response was refused (an HTML page)", content_type = "text/html"),
        (status = 403, description = "The account may not sign in this way (an HTML page)", content_type = "text/html"),
        (status = 404, description = "The connection is gone or switched off (an HTML page)", content_type = "text/html"),
    ))]
async fn acs(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(form): Form<AcsForm>,
) -> Response {
    let browser = SsoCookies::saml_browser(&jar);
    let proven = state
        .saml
        .sign_in
        .finish(
            &form.saml_response,
            form.relay_state.as_deref(),
            browser.as_deref(),
            &context,
        )
        .await;
    pages::saml_signed_in(&state, jar, proven, &context).await
}
