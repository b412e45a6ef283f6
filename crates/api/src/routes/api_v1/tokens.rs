//! How the REST API hands out tokens: as a JSON body, or in cookie mode as `HttpOnly` cookies;
//! and the answer to a sign-in step (the tokens, or the second step's challenge). Shared by
//! sign-in, refresh, the second step, passkeys, magic links and organization switching.

use axum::Json;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use castellan_domain::{SignInOutcome, TokenPair};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::{MessageBody, MfaRequiredResponse, TokenResponse};
use crate::error::no_store;
use crate::http::cookies::{secure_cookies, session_cookies};
use crate::state::AppState;

/// What a correct password gets: tokens, or the second step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignInAnswer {
    /// Signed in.
    Tokens(TokenResponse),
    /// A second factor must follow.
    SecondFactor(MfaRequiredResponse),
}

/// How the tokens should travel.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionMode {
    /// `cookie`: set `HttpOnly` cookies and answer `{"message":"Login successful"}`.
    pub(super) session: Option<String>,
}

impl SessionMode {
    /// Whether the tokens should travel as cookies.
    pub fn is_cookie(&self) -> bool {
        self.session.as_deref() == Some("cookie")
    }
}

/// Tokens as a JSON body, or in cookie mode as cookies with `{"message": message}`.
pub(in crate::routes) fn token_answer(
    state: &AppState,
    pair: &TokenPair,
    cookie_mode: bool,
    message: &'static str,
) -> Response {
    if cookie_mode {
        cookie_response(state, pair, message)
    } else {
        (no_store(), Json(TokenResponse::from(pair))).into_response()
    }
}

fn cookie_response(state: &AppState, pair: &TokenPair, message: &'static str) -> Response {
    let refresh_age =
        i64::try_from(state.config.tokens.refresh_token_idle_days * 86_400).unwrap_or(i64::MAX);
    let mut jar = CookieJar::new();
    for cookie in session_cookies(
        pair,
        refresh_age,
        secure_cookies(&state.config.issuer),
        state.sso.new_csrf(),
    ) {
        jar = jar.add(cookie);
    }
    (jar, no_store(), Json(MessageBody { message })).into_response()
}

/// The answer to a sign-in step: the tokens, or the second step's challenge.
pub(super) fn sign_in_answer(
    state: &AppState,
    outcome: SignInOutcome,
    cookie_mode: bool,
) -> Response {
    match outcome {
        SignInOutcome::Complete(pair) => {
            token_answer(state, &pair, cookie_mode, "Login successful")
        }
        SignInOutcome::SecondFactor(challenge) => (
            no_store(),
            Json(MfaRequiredResponse::new(
                &challenge,
                state.config.mfa.challenge_ttl_secs,
            )),
        )
            .into_response(),
    }
}
