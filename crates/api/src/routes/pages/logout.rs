//! Logout (OpenID Connect RP-Initiated Logout 1.0): asks the user to confirm where the
//! request cannot be trusted, ends the browser session, and goes back to the client.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use castellan_domain::RequestContext;
use castellan_oidc::provider::LogoutParams;
use serde::Deserialize;

use super::authorize::parse_once;
use super::errors::oauth_error_page;
use super::render::{form_page, message};
use super::{browser_user, see_other};
use crate::http::client::Client;
use crate::http::sso::SsoCookies;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    csrf: String,
    client_name: Option<String>,
    user: Option<String>,
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    ui_locales: Option<String>,
}

impl LogoutForm {
    fn params(&self) -> LogoutParams {
        LogoutParams {
            id_token_hint: self.id_token_hint.clone(),
            client_id: self.client_id.clone(),
            post_logout_redirect_uri: self.post_logout_redirect_uri.clone(),
            state: self.state.clone(),
            ui_locales: self.ui_locales.clone(),
        }
    }
}

pub(super) async fn logout_get(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    match parse_once::<LogoutForm>(query.unwrap_or_default().as_bytes()) {
        // A GET never counts as confirmed: it could come from any page.
        Ok(form) => logout(&state, jar, form, false, &context).await,
        Err(error) => oauth_error_page(&error),
    }
}

pub(super) async fn logout_post(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    match parse_once::<LogoutForm>(&body) {
        Ok(form) => {
            let confirmed =
                form.confirm == "yes" && SsoCookies::form_csrf_matches(&jar, &form.csrf);
            logout(&state, jar, form, confirmed, &context).await
        }
        Err(error) => oauth_error_page(&error),
    }
}

async fn logout(
    state: &AppState,
    jar: CookieJar,
    form: LogoutForm,
    confirmed: bool,
    context: &RequestContext,
) -> Response {
    let browser = browser_user(state, &jar).await;
    let plan = match state
        .oidc
        .plan_logout(
            &form.params(),
            browser.as_ref().map(|(session, _)| *session),
        )
        .await
    {
        Ok(plan) => plan,
        Err(error) => return oauth_error_page(&error),
    };
    if plan.confirm && !confirmed {
        return form_page(state, jar, StatusCode::OK, |csrf| LogoutPage {
            csrf,
            client_name: plan.client_name,
            user: browser.map(|(_, user)| user.email.as_str().to_owned()),
            id_token_hint: form.id_token_hint,
            client_id: form.client_id,
            post_logout_redirect_uri: form.post_logout_redirect_uri,
            state: form.state,
        });
    }
    if let Some((session, _)) = browser
        && let Err(error) = state.oidc.logout(session, context).await
    {
        return oauth_error_page(&error);
    }
    let jar = jar.add(state.sso.clearing_cookie());
    let response = match plan.redirect {
        Some(url) => see_other(&url),
        None => message(
            StatusCode::OK,
            "Signed out",
            "You are signed out of Castellan.",
        ),
    };
    (jar, response).into_response()
}
