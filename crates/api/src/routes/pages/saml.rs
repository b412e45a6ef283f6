//! Where a SAML Response posted to the ACS leads: the sign-in flow with the proven first
//! factor (on to the interaction, the page asked for, or the second step), or a page saying
//! the single sign-on failed. Which rule a refused Response broke is in the audit log only.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use castellan_domain::federation::REQUEST_TTL;
use castellan_domain::federation::SamlConnectionRecord;
use castellan_domain::{DomainError, RequestContext};
use castellan_sso::{Continuation, Proven, Realm, SamlSignInError};
use serde::Deserialize;

use super::FormTarget;
use super::csrf::CsrfForm;
use super::errors::{Flow, Shown, shown};
use super::login::{sign_in_failed, sign_in_step};
use super::render::{capitalise, message};
use crate::http::sso::SsoCookies;
use crate::state::AppState;

/// Sends the browser to the IdP of `connection` with a signed AuthnRequest bound to it (the
/// cookie), answering `status` (302 from the API, 303 after a form).
pub(crate) async fn to_idp(
    state: &AppState,
    jar: CookieJar,
    connection: &SamlConnectionRecord,
    continuation: Continuation,
    status: StatusCode,
) -> Result<Response, SamlSignInError> {
    let browser = SsoCookies::saml_browser(&jar);
    let redirect = state
        .saml
        .sign_in
        .start(connection, continuation, browser.as_deref())
        .await?;
    let Ok(location) = HeaderValue::from_str(redirect.url.as_str()) else {
        return Err(SamlSignInError::Domain(DomainError::internal(
            "the IdP's SSO URL is not a header value",
        )));
    };
    let ttl = i64::try_from(REQUEST_TTL.as_secs()).unwrap_or(600);
    let jar = jar.add(
        state
            .sso
            .saml_request_cookie(redirect.browser.expose(), ttl),
    );
    Ok((
        status,
        jar,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

/// Where the sign-in page sends an authorization that names an organization with single
/// sign-on: its IdP, by way of the API's start.
pub(super) async fn organization_sign_in(
    state: &AppState,
    organization: &str,
    interaction: &str,
) -> Option<String> {
    match state
        .saml
        .sign_in
        .discover(Realm::Organization(organization))
        .await
    {
        Ok(Some(_)) => {
            let query = serde_urlencoded::to_string([
                ("organization", organization),
                ("interaction", interaction),
            ])
            .ok()?;
            Some(format!("/api/v1/sso/initiate?{query}"))
        }
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%error, "single sign-on discovery failed; showing the sign-in page");
            None
        }
    }
}

#[derive(Deserialize)]
pub(super) struct SsoForm {
    #[serde(default)]
    email: String,
    #[serde(flatten)]
    target: FormTarget,
}

/// The sign-in page's single sign-on form: the IdP of the organization that verified the
/// address's domain.
pub(super) async fn sso_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<SsoForm>,
) -> Response {
    let found = state.saml.sign_in.discover(Realm::Email(&form.email)).await;
    let connection = match found {
        Ok(Some(connection)) => connection,
        Ok(None) => {
            return failed(
                &state,
                jar,
                SamlSignInError::NoConnection,
                form.target,
                form.email,
            )
            .await;
        }
        Err(error) => return failed(&state, jar, error, form.target, form.email).await,
    };
    let continuation = Continuation {
        interaction: form.target.interaction.clone(),
        next: form.target.next.clone(),
    };
    match to_idp(
        &state,
        jar.clone(),
        &connection,
        continuation,
        StatusCode::SEE_OTHER,
    )
    .await
    {
        Ok(response) => response,
        Err(error) => failed(&state, jar, error, form.target, form.email).await,
    }
}

async fn failed(
    state: &AppState,
    jar: CookieJar,
    error: SamlSignInError,
    target: FormTarget,
    email: String,
) -> Response {
    let shown = match error {
        SamlSignInError::NoConnection => Shown::SignIn(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Single sign-on is not set up for this address. Sign in with your password or a passkey."
                .to_owned(),
        ),
        SamlSignInError::Domain(error) => shown(error, Flow::SignIn),
        other => {
            tracing::error!(error = %other, "single sign-on could not start");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Single sign-on could not start. Try again in a moment.",
            );
        }
    };
    sign_in_failed(state, jar, target, email, shown).await
}

/// Renders the outcome of the ACS.
pub(crate) async fn saml_signed_in(
    state: &AppState,
    jar: CookieJar,
    proven: Result<Proven, SamlSignInError>,
    context: &RequestContext,
) -> Response {
    let proven = match proven {
        Ok(proven) => proven,
        Err(SamlSignInError::Refused(_)) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Single sign-on failed",
                "Your organization's identity provider sent an answer this server cannot accept. \
                 Start the sign-in again from the application; if it fails again, tell your \
                 administrator the time it happened.",
            );
        }
        Err(SamlSignInError::NoConnection) => {
            return message(
                StatusCode::NOT_FOUND,
                "Single sign-on is not available",
                "Your organization's single sign-on is switched off or was removed. Sign in \
                 another way, or ask your administrator.",
            );
        }
        Err(SamlSignInError::Connection(error)) => {
            tracing::error!(%error, "a stored SAML connection cannot be used");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not complete the sign-in. Try again in a moment.",
            );
        }
        // Who the IdP vouched for may not sign in this way (an existing account whose
        // address nobody vouches for): the reason is the user's to read.
        Err(SamlSignInError::Domain(DomainError::Forbidden(why))) => {
            return message(
                StatusCode::FORBIDDEN,
                "Single sign-on cannot sign you in",
                &format!(
                    "{}. Sign in another way, or ask your administrator.",
                    capitalise(why)
                ),
            );
        }
        Err(SamlSignInError::Domain(error)) => {
            let outcome = Err(error);
            let target = FormTarget::default();
            return sign_in_step(state, jar, outcome, target, String::new(), context).await;
        }
    };
    let target = FormTarget {
        interaction: proven.continuation.interaction,
        next: proven.continuation.next,
    };
    let outcome = state
        .signin
        .sign_in_browser(proven.factor.into(), context)
        .await;
    sign_in_step(state, jar, outcome, target, String::new(), context).await
}
