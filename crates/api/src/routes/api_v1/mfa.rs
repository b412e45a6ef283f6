//! Second factors (`/api/v1/mfa/...`): TOTP enrolment, backup codes, turning MFA off, and the
//! second step of a sign-in, as JSON and as a form (`/api/v1/auth/two-factor`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use castellan_domain::MfaMethod;
use castellan_mfa::Reauthentication;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{MessageBody, TokenResponse};
use super::tokens::{SessionMode, sign_in_answer};
use crate::error::no_store;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, JsonOrForm};
use crate::http::auth::{Authenticated, bearer_from_headers, check_csrf};
use crate::http::client::Client;
use crate::state::AppState;
use castellan_domain::{OneTimeCode, Password};

/// The `/api/v1/mfa` routes and the form two-factor step.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(enable_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(disable))
        .routes(routes!(backup_codes, regenerate_backup_codes))
        .routes(routes!(verify))
        .routes(routes!(two_factor))
}

/// The TOTP factor.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpStatus {
    /// Confirmed and in use.
    enabled: bool,
    /// Enrolment begun, not yet confirmed.
    pending: bool,
    /// When it was confirmed.
    confirmed_at: Option<DateTime<Utc>>,
}

/// The caller's second factors.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatusResponse {
    /// Password sign-ins take a second step.
    enabled: bool,
    /// What the second step accepts: `totp`, `backup_code`, `webauthn`.
    #[schema(example = json!(["totp", "backup_code", "webauthn"]))]
    methods: Vec<&'static str>,
    /// The TOTP factor.
    totp: TotpStatus,
    /// Unused backup codes.
    backup_codes_remaining: u32,
    /// Registered passkeys.
    passkeys: usize,
    /// The platform requires a second factor of every account.
    required: bool,
}

/// The caller's enrolled factors and how many backup codes are left.
#[utoipa::path(get, path = "/mfa", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "The factors", body = MfaStatusResponse),
        (status = 401, description = "Not signed in (TOKEN_ERROR)", body = ErrorBody),
    ))]
async fn status(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<MfaStatusResponse>, ApiError> {
    let status = state.mfa.status(caller.principal.user.id).await?;
    Ok(Json(MfaStatusResponse {
        enabled: status.enabled,
        methods: status
            .methods()
            .into_iter()
            .map(MfaMethod::as_str)
            .collect(),
        totp: TotpStatus {
            enabled: status.enabled,
            pending: status.totp_pending,
            confirmed_at: status.totp_confirmed_at,
        },
        backup_codes_remaining: status.backup_codes_remaining,
        passkeys: status.passkeys,
        required: state.config.mfa.required,
    }))
}

/// What an authenticator app needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrollmentResponse {
    /// The secret, base32, for typing in by hand.
    secret: String,
    /// The `otpauth://totp/...` URI.
    otpauth_uri: String,
    /// The URI as a QR code: `data:image/svg+xml;base64,...`.
    qr_code: String,
    /// What to do next.
    message: &'static str,
}

/// Begin TOTP enrolment: returns a new secret as text, URI and QR code. The factor is active
/// only after `/mfa/totp/confirm`; calling this again before that replaces the secret.
#[utoipa::path(post, path = "/mfa/totp/enable", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "Scan the QR code, then confirm with a code", body = TotpEnrollmentResponse),
        (status = 401, description = "Not signed in (TOKEN_ERROR)", body = ErrorBody),
        (status = 409, description = "TOTP is already on (CONFLICT_ERROR)", body = ErrorBody),
    ))]
async fn enable_totp(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let provisioning = state.mfa.begin_totp(&caller.principal.user).await?;
    Ok((
        no_store(),
        Json(TotpEnrollmentResponse {
            secret: provisioning.secret,
            otpauth_uri: provisioning.uri,
            qr_code: provisioning.qr_code,
            message: "Scan the code with an authenticator app, then confirm with a code from it",
        }),
    )
        .into_response())
}

/// A code from the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    /// Six digits.
    #[schema(example = "123456")]
    #[schema(value_type = String)]
    code: OneTimeCode,
}

/// MFA is on; here are the backup codes.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupCodesResponse {
    /// Single-use codes, shown this once; each replaces a TOTP code when the app is lost.
    #[schema(example = json!(["k7m2p-x9q4r", "..."]))]
    backup_codes: Vec<String>,
    /// How many are unused.
    remaining: usize,
    /// What happened.
    message: &'static str,
}

impl BackupCodesResponse {
    fn answer(backup_codes: Vec<String>, message: &'static str) -> Response {
        let remaining = backup_codes.len();
        (
            no_store(),
            Json(Self {
                backup_codes,
                remaining,
                message,
            }),
        )
            .into_response()
    }
}

/// Confirm TOTP enrolment with a current code: MFA is on from now, and ten backup codes are
/// returned (shown once). Wrong codes count toward the account's lockout.
#[utoipa::path(post, path = "/mfa/totp/confirm", tag = "mfa", security(("bearer" = [])),
    request_body(content = CodeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "MFA is on", body = BackupCodesResponse),
        (status = 401, description = "Wrong code (AUTHENTICATION_ERROR) or not signed in (TOKEN_ERROR)", body = ErrorBody),
        (status = 404, description = "No enrolment was begun (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 409, description = "TOTP is already on (CONFLICT_ERROR)", body = ErrorBody),
        (status = 429, description = "Locked after repeated failures (RATE_LIMIT_ERROR)", body = ErrorBody),
    ))]
async fn confirm_totp(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    JsonOrForm(request): JsonOrForm<CodeRequest>,
) -> Result<Response, ApiError> {
    let codes = state
        .mfa
        .confirm_totp(&caller.principal.user, &request.code, &context)
        .await?;
    Ok(BackupCodesResponse::answer(
        codes,
        "Two-step sign-in is on; keep these backup codes somewhere safe",
    ))
}

/// Proof that it is really the account holder: the password, or a current code.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableRequest {
    /// The account password.
    #[schema(value_type = Option<String>)]
    password: Option<Password>,
    /// A current TOTP code or an unused backup code.
    #[schema(value_type = Option<String>)]
    code: Option<OneTimeCode>,
}

/// Turn MFA off: removes the TOTP factor and the backup codes (passkeys stay). Needs the
/// password or a current code.
#[utoipa::path(post, path = "/mfa/totp/disable", tag = "mfa", security(("bearer" = [])),
    request_body(content = DisableRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "MFA is off", body = MessageBody),
        (status = 401, description = "Wrong password or code (AUTHENTICATION_ERROR)", body = ErrorBody),
        (status = 404, description = "MFA is not on (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 422, description = "Neither password nor code (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn disable(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    JsonOrForm(request): JsonOrForm<DisableRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    let proof = match (request.password, request.code) {
        (Some(password), _) => Reauthentication::Password(password),
        (None, Some(code)) => Reauthentication::Code(code),
        (None, None) => {
            return Err(ApiError::validation(
                "password or code: one is required to turn MFA off",
            ));
        }
    };
    state
        .mfa
        .disable(&caller.principal.user, proof, &context)
        .await?;
    Ok(Json(MessageBody {
        message: "Two-step sign-in is off",
    }))
}

/// Generate a new set of ten backup codes, replacing the old ones (a GET works too, for clients that call it so). This GET
/// changes state, so with cookie authentication it needs the CSRF header like a POST.
#[utoipa::path(get, path = "/mfa/backup-codes", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "New codes, shown once", body = BackupCodesResponse),
        (status = 403, description = "Cookie without the CSRF header (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 422, description = "MFA is not on (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn backup_codes(
    state: State<AppState>,
    client: Client,
    headers: HeaderMap,
    jar: CookieJar,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    // A link on another site can make the browser send cookies with a GET.
    if bearer_from_headers(&headers).is_none() {
        check_csrf(&Method::POST, &headers, &jar)?;
    }
    regenerate_backup_codes(state, client, caller).await
}

/// Generate a new set of ten backup codes, replacing the old ones.
#[utoipa::path(post, path = "/mfa/backup-codes", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "New codes, shown once", body = BackupCodesResponse),
        (status = 422, description = "MFA is not on (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn regenerate_backup_codes(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let codes = state
        .mfa
        .regenerate_backup_codes(&caller.principal.user, &context)
        .await?;
    Ok(BackupCodesResponse::answer(
        codes,
        "New backup codes; the old ones no longer work",
    ))
}

/// The second step of a sign-in (`token` works for `mfa_token` too).
#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// From the sign-in answer.
    #[schema(value_type = Option<String>)]
    mfa_token: Option<OneTimeCode>,
    /// Another name for `mfa_token`.
    #[schema(value_type = Option<String>)]
    token: Option<OneTimeCode>,
    /// A TOTP code or a backup code.
    #[schema(example = "123456")]
    #[schema(value_type = String)]
    code: OneTimeCode,
    /// `cookie` for the tokens as cookies.
    session: Option<String>,
}

async fn answer_second_step(
    state: &AppState,
    context: &castellan_domain::RequestContext,
    request: VerifyRequest,
    cookie_mode: bool,
) -> Result<Response, ApiError> {
    let token = request
        .mfa_token
        .or(request.token)
        .filter(|token| !token.expose().is_empty())
        .ok_or_else(|| ApiError::invalid("mfa_token", "is required"))?;
    let proof = state.mfa.complete(&token, &request.code, context).await?;
    let outcome = state.signin.sign_in(proof, None, context).await?;
    let cookie_mode = cookie_mode || request.session.is_some_and(|mode| mode == "cookie");
    Ok(sign_in_answer(state, outcome, cookie_mode))
}

/// Finish a sign-in with a TOTP or backup code. Wrong codes count toward the lockout; five
/// wrong codes withdraw the `mfa_token`.
#[utoipa::path(post, path = "/mfa/verify", tag = "mfa", params(SessionMode),
    request_body(content = VerifyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong or used code (AUTHENTICATION_ERROR), or unknown, used or expired token (TOKEN_ERROR)", body = ErrorBody),
        (status = 429, description = "Locked after repeated failures (RATE_LIMIT_ERROR)", body = ErrorBody),
    ))]
async fn verify(
    State(state): State<AppState>,
    Client(context): Client,
    ApiQuery(mode): ApiQuery<SessionMode>,
    JsonOrForm(request): JsonOrForm<VerifyRequest>,
) -> Result<Response, ApiError> {
    let cookie_mode = mode.is_cookie();
    answer_second_step(&state, &context, request, cookie_mode).await
}

/// The form two-factor step: form `token` and `code`, answered with the tokens and
/// `twoFactor: true`.
#[utoipa::path(post, path = "/auth/two-factor", tag = "mfa",
    request_body(content = VerifyRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong or used code, or bad token", body = ErrorBody),
        (status = 429, description = "Locked after repeated failures (RATE_LIMIT_ERROR)", body = ErrorBody),
    ))]
async fn two_factor(
    State(state): State<AppState>,
    Client(context): Client,
    JsonOrForm(request): JsonOrForm<VerifyRequest>,
) -> Result<Response, ApiError> {
    answer_second_step(&state, &context, request, false).await
}
