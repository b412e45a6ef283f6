//! The second page of a sign-in: a TOTP or backup code (or a passkey, through the login
//! script), and the enrolment a sign-in goes through when the platform requires a second
//! factor and the account has none.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use castellan_domain::{
    Authenticated, BrowserSignIn, MfaChallenge, MfaMethod, OneTimeCode, RequestContext,
};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::errors::{Flow, Shown, error_page, shown};
use super::login::{continue_sign_in, establish, sign_in_failed, sign_in_step};
use super::render::{form_page, page, page_status};
use super::{FormTarget, local_target};
use crate::http::client::Client;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage {
    csrf: String,
    mfa_token: String,
    interaction: Option<String>,
    next: Option<String>,
    passkey: bool,
    error: Option<String>,
}

fn render_mfa(
    state: &AppState,
    jar: CookieJar,
    mfa_token: &OneTimeCode,
    passkey: bool,
    target: FormTarget,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = page_status(error);
    form_page(state, jar, status, |csrf| MfaPage {
        csrf,
        // The page carries the challenge on to its next request.
        mfa_token: mfa_token.expose().to_owned(),
        interaction: target.interaction,
        next: local_target(&state.config.issuer, target.next.as_deref()),
        passkey,
        error,
    })
}

/// The second page of a sign-in, offering a passkey when the account has one and passkeys
/// are on.
pub(super) fn second_step_page(
    state: &AppState,
    jar: CookieJar,
    challenge: MfaChallenge,
    target: FormTarget,
) -> Response {
    let passkey = challenge.pending.methods.contains(&MfaMethod::Webauthn)
        && state.passkeys.unavailable_reason().is_none();
    render_mfa(state, jar, &challenge.token, passkey, target, None)
}

#[derive(Deserialize)]
pub(super) struct MfaForm {
    #[serde(default)]
    mfa_token: OneTimeCode,
    #[serde(default)]
    code: OneTimeCode,
    /// Whether the page offered a passkey, to offer it again after a wrong code.
    #[serde(default)]
    passkey: Option<String>,
    #[serde(flatten)]
    target: FormTarget,
}

pub(super) async fn mfa_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<MfaForm>,
) -> Response {
    let proof = state
        .mfa
        .complete(&form.mfa_token, &form.code, &context)
        .await;
    match continue_sign_in(&state, proof, &context).await {
        Err(error) => match shown(error, Flow::SecondStep) {
            Shown::Form(status, text) => {
                let passkey = form.passkey.is_some();
                render_mfa(
                    &state,
                    jar,
                    &form.mfa_token,
                    passkey,
                    form.target,
                    Some((status, text)),
                )
            }
            other => sign_in_failed(&state, jar, form.target, String::new(), other).await,
        },
        outcome => sign_in_step(&state, jar, outcome, form.target, String::new(), &context).await,
    }
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    csrf: String,
    enrolment: String,
    qr_code: String,
    secret: String,
    interaction: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

/// The enrolment step of a sign-in where the platform requires a second factor. The QR code
/// and secret travel in the form so a wrong code can show them again.
#[derive(Deserialize, Default)]
pub(super) struct EnrolForm {
    #[serde(default)]
    enrolment: OneTimeCode,
    #[serde(default)]
    qr_code: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: OneTimeCode,
    #[serde(flatten)]
    target: FormTarget,
}

fn render_enrol(
    state: &AppState,
    jar: CookieJar,
    form: EnrolForm,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = page_status(error);
    // Only a QR code this server drew goes back into the page.
    let qr_code = if form.qr_code.starts_with("data:image/svg+xml;base64,") {
        form.qr_code
    } else {
        String::new()
    };
    form_page(state, jar, status, |csrf| EnrolPage {
        csrf,
        enrolment: form.enrolment.expose().to_owned(),
        qr_code,
        secret: form.secret,
        interaction: form.target.interaction,
        next: local_target(&state.config.issuer, form.target.next.as_deref()),
        error,
    })
}

/// The platform requires a second factor and the sign-in has none: on to setting one up.
pub(super) async fn begin_enrolment(
    state: &AppState,
    jar: CookieJar,
    authenticated: &Authenticated,
    target: FormTarget,
    context: &RequestContext,
) -> Response {
    match state
        .mfa
        .begin_enrolment_sign_in(authenticated, context)
        .await
    {
        Ok((enrolment, provisioning)) => render_enrol(
            state,
            jar,
            EnrolForm {
                enrolment,
                qr_code: provisioning.qr_code,
                secret: provisioning.secret,
                target,
                ..EnrolForm::default()
            },
            None,
        ),
        Err(error) => error_page(error),
    }
}

#[derive(Template)]
#[template(path = "backup_codes.html")]
struct BackupCodesPage {
    codes: Vec<String>,
    target: String,
}

pub(super) async fn enrol_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    CsrfForm(mut form): CsrfForm<EnrolForm>,
) -> Response {
    let code = std::mem::take(&mut form.code);
    let (proof, codes) = match state
        .mfa
        .finish_enrolment_sign_in(&form.enrolment, &code, &context)
        .await
    {
        Ok(finished) => finished,
        Err(error) => {
            return match shown(error, Flow::Enrolment) {
                Shown::Form(status, text) => render_enrol(&state, jar, form, Some((status, text))),
                other => sign_in_failed(&state, jar, form.target, String::new(), other).await,
            };
        }
    };
    match state.signin.sign_in_browser(proof, &context).await {
        // The backup codes are shown once, on the way on.
        Ok(BrowserSignIn::Opened(session)) => {
            match establish(&state, jar, &session, &form.target).await {
                Ok((jar, target)) => (
                    jar,
                    page(StatusCode::OK, &BackupCodesPage { codes, target }),
                )
                    .into_response(),
                Err(response) => response,
            }
        }
        outcome => sign_in_step(&state, jar, outcome, form.target, String::new(), &context).await,
    }
}
