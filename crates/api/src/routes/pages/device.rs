//! Device code entry (RFC 8628 §3.3): the signed-in user types the code their device shows
//! and allows or denies it.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use castellan_oidc::provider::DevicePrompt;
use serde::Deserialize;

use super::consent::{DecisionForm, describe_scope};
use super::csrf::CsrfForm;
use super::errors::error_page;
use super::query::PageQuery;
use super::render::{form_page, message};
use super::{browser_user, see_other, sign_in_first};
use crate::http::client::Client;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    csrf: String,
    user: String,
    user_code: String,
    prompt: Option<DevicePrompt>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DeviceQuery {
    user_code: Option<String>,
}

pub(super) async fn device_page(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<DeviceQuery>,
) -> Response {
    let user_code = query.user_code.unwrap_or_default();
    let Some((_, user)) = browser_user(&state, &jar).await else {
        let back = format!(
            "/device?{}",
            serde_urlencoded::to_string([("user_code", &user_code)]).unwrap_or_default()
        );
        return sign_in_first(&back);
    };
    let (prompt, error, status) = if user_code.trim().is_empty() {
        (None, None, StatusCode::OK)
    } else {
        match state.oidc.device_prompt(&user_code).await {
            Ok(Some(prompt)) => (
                Some(DevicePrompt {
                    scopes: prompt
                        .scopes
                        .iter()
                        .map(|scope| describe_scope(scope))
                        .collect(),
                    ..prompt
                }),
                None,
                StatusCode::OK,
            ),
            Ok(None) => (
                None,
                Some(
                    "That code is unknown or has expired. Check the code on your device."
                        .to_owned(),
                ),
                StatusCode::BAD_REQUEST,
            ),
            Err(error) => return error_page(error),
        }
    };
    form_page(&state, jar, status, |csrf| DevicePage {
        csrf,
        user: user.email.as_str().to_owned(),
        user_code,
        prompt,
        error,
    })
}

pub(super) async fn device_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<DecisionForm>,
) -> Response {
    let Some((session, _)) = browser_user(&state, &jar).await else {
        return see_other("/login?next=/device");
    };
    let approve = form.decision == "allow";
    match state
        .oidc
        .decide_device(&form.user_code, session, approve, &context)
        .await
    {
        Ok(true) if approve => message(
            StatusCode::OK,
            "Device connected",
            "You can return to your device; it will continue on its own.",
        ),
        Ok(true) => message(
            StatusCode::OK,
            "Request denied",
            "The device was not given access.",
        ),
        Ok(false) => message(
            StatusCode::BAD_REQUEST,
            "Code expired",
            "That code is unknown or has expired. Start again on your device.",
        ),
        Err(error) => error_page(error),
    }
}
