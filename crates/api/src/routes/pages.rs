//! The hosted pages and the browser-facing OAuth endpoints: authorize, sign-in, sign-up,
//! consent, device code entry and logout. Server-rendered with askama; every form carries the
//! double-submit CSRF value; the provider decides what comes next, the handlers only render it.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use castellan_domain::{
    Authenticated, BrowserSignIn, DomainError, FirstFactor, MfaMethod, NewAccount, Session,
    SessionId, User,
};
use castellan_oidc::provider::{
    AuthorizationParams, AuthorizeError, DevicePrompt, LogoutParams, OAuthError, Resolution,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::http::client::Client;
use crate::http::sso::SsoCookies;
use crate::state::AppState;

/// Pages may submit forms whose answer redirects to a client, so `form-action` is left open;
/// everything else is as strict as the rest of the HTML.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("../../static/castellan.css");
const PASSKEY_SCRIPT: &str = include_str!("../../static/passkeys.js");

/// The hosted pages and browser endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth2/authorize", get(authorize_get).post(authorize_post))
        .route("/oauth2/authorize/continue", get(authorize_continue))
        .route("/oauth2/logout", get(logout_get).post(logout_post))
        .route("/login", get(login_page).post(login_submit))
        .route("/login/mfa", axum::routing::post(mfa_submit))
        .route("/login/passkey", axum::routing::post(passkey_submit))
        .route("/login/enrol", axum::routing::post(enrol_submit))
        .route("/login/magic", get(magic_page).post(magic_submit))
        .route("/login/magic-link", axum::routing::post(magic_request))
        .route("/reset-password", get(reset_page).post(reset_submit))
        .route(
            "/invitations/accept",
            get(invitation_page).post(invitation_submit),
        )
        .route("/signup", get(signup_page).post(signup_submit))
        .route("/consent", get(consent_page).post(consent_submit))
        .route(
            "/select-organization",
            get(organization_page).post(organization_submit),
        )
        .route("/device", get(device_page).post(device_submit))
        .route("/static/castellan.css", get(stylesheet))
        .route("/static/passkeys.js", get(passkey_script))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn passkey_script() -> Response {
    asset("text/javascript; charset=utf-8", PASSKEY_SCRIPT)
}

/// Renders a template as an uncacheable HTML page.
fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    heading: &'a str,
    text: &'a str,
    error: bool,
    code: Option<&'a str>,
}

fn message(status: StatusCode, heading: &str, text: &str) -> Response {
    page(
        status,
        &MessagePage {
            heading,
            text,
            error: status.is_client_error() || status.is_server_error(),
            code: None,
        },
    )
}

/// The status and message of a page shown again with an error, or 200 without one.
fn page_status(error: Option<(StatusCode, String)>) -> (StatusCode, Option<String>) {
    match error {
        Some((status, text)) => (status, Some(text)),
        None => (StatusCode::OK, None),
    }
}

/// A page whose form carries the CSRF value: renders it and sets the CSRF cookie when the
/// browser had none. `build` receives the value to embed.
fn form_page<T: Template>(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    build: impl FnOnce(String) -> T,
) -> Response {
    let (csrf, cookie) = state.sso.form_csrf(&jar);
    let jar = match cookie {
        Some(cookie) => jar.add(cookie),
        None => jar,
    };
    (jar, page(status, &build(csrf))).into_response()
}

/// The interaction a page belongs to, or the response that replaces the page (it expired, or
/// must go back to the client).
async fn page_interaction(
    state: &AppState,
    id: Option<&str>,
) -> Result<Option<castellan_oidc::provider::Interaction>, Response> {
    let Some(id) = id else {
        return Ok(None);
    };
    match state.oidc.interaction(id).await {
        Ok(interaction) => Ok(Some(interaction)),
        Err(error) => Err(resolve(Err(error))),
    }
}

fn oauth_error_page(error: &OAuthError) -> Response {
    let status = if error.code.status() >= 500 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    page(
        status,
        &MessagePage {
            heading: "This sign-in request cannot continue",
            text: &error.description,
            error: true,
            code: Some(error.code.as_str()),
        },
    )
}

fn domain_error_page(error: DomainError) -> Response {
    oauth_error_page(&OAuthError::from(error))
}

fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

fn interaction_link(path: &str, id: &str) -> String {
    let query = serde_urlencoded::to_string([("interaction", id)]).unwrap_or_default();
    format!("{path}?{query}")
}

/// Turns the provider's decision into a response: a redirect to the client, or to a page.
fn resolve(result: Result<Resolution, AuthorizeError>) -> Response {
    match result {
        Ok(Resolution::Redirect(url)) => Redirect::to(&url).into_response(),
        Ok(Resolution::SignIn(view)) => see_other(&interaction_link("/login", &view.id)),
        Ok(Resolution::Consent(view)) => see_other(&interaction_link("/consent", &view.id)),
        Ok(Resolution::ChooseOrganization(view)) => {
            see_other(&interaction_link("/select-organization", &view.id))
        }
        Err(AuthorizeError::Redirect(url)) => Redirect::to(&url).into_response(),
        Err(AuthorizeError::Page(error)) => oauth_error_page(&error),
    }
}

/// Parses query or form text with every parameter at most once.
fn parse_once<T: DeserializeOwned>(text: &[u8]) -> Result<T, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(text)
        .map_err(|_| OAuthError::invalid_request("the request parameters are malformed"))?;
    let mut seen = std::collections::HashSet::new();
    if let Some((name, _)) = pairs.iter().find(|(name, _)| !seen.insert(name.as_str())) {
        return Err(OAuthError::invalid_request(format!(
            "the parameter {name} is repeated"
        )));
    }
    serde_urlencoded::from_bytes(text)
        .map_err(|error| OAuthError::invalid_request(format!("invalid parameters: {error}")))
}

async fn authorize_get(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    match parse_once::<AuthorizationParams>(query.unwrap_or_default().as_bytes()) {
        Ok(params) => resolve(state.oidc.authorize(params, state.sso.session(&jar)).await),
        Err(error) => oauth_error_page(&error),
    }
}

async fn authorize_post(State(state): State<AppState>, jar: CookieJar, body: Bytes) -> Response {
    match parse_once::<AuthorizationParams>(&body) {
        Ok(params) => resolve(state.oidc.authorize(params, state.sso.session(&jar)).await),
        Err(error) => oauth_error_page(&error),
    }
}

#[derive(Debug, Deserialize)]
struct InteractionQuery {
    interaction: String,
}

async fn authorize_continue(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<InteractionQuery>,
) -> Response {
    resolve(
        state
            .oidc
            .resume(&query.interaction, state.sso.session(&jar))
            .await,
    )
}

/// The signed-in user of the browser, if its session is active.
async fn browser_user(state: &AppState, jar: &CookieJar) -> Option<(SessionId, User)> {
    let session = state.sso.session(jar)?;
    match state.accounts.active_session(session).await {
        Ok(Some((session, user))) => Some((session.id, user)),
        _ => None,
    }
}

/// A local path to return to after sign-in; anything else is ignored (no open redirect).
fn local_target(next: Option<&str>) -> Option<String> {
    next.filter(|target| {
        target.starts_with('/') && !target.starts_with("//") && !target.contains('\\')
    })
    .map(str::to_owned)
}

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
    let magic_links = state.email.settings().magic_links != castellan_domain::MagicLinks::Off;
    form_page(state, jar, status, |csrf| LoginPage {
        csrf,
        next: local_target(query.next.as_deref()),
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

async fn login_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<FormTarget>,
) -> Response {
    render_login(&state, jar, query, String::new(), None).await
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    target: FormTarget,
}

fn csrf_refused() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Please try again",
        "The form expired or did not come from this site. Go back, reload the page and submit it again.",
    )
}

/// Renders where a step of a sign-in (or a sign-up) led: with the session open, the cookie and
/// on to the interaction, the requested local page, or the sign-in page showing who is signed
/// in; the second step; enrolment first; or the sign-in page again with what went wrong.
async fn sign_in_step(
    state: &AppState,
    jar: CookieJar,
    outcome: Result<BrowserSignIn, DomainError>,
    target: FormTarget,
    email: String,
    context: &castellan_domain::RequestContext,
) -> Response {
    match outcome {
        Ok(BrowserSignIn::Opened(session)) => match establish(state, jar, &session, &target).await
        {
            Ok((jar, next)) => (jar, see_other(&next)).into_response(),
            Err(response) => response,
        },
        Ok(BrowserSignIn::SecondFactor(challenge)) => {
            second_step_page(state, jar, challenge, target)
        }
        Ok(BrowserSignIn::MustEnrol(authenticated)) => {
            begin_enrolment(state, jar, &authenticated, target, context).await
        }
        Err(error) => login_failed(state, jar, target, email, error).await,
    }
}

/// The platform requires a second factor and the sign-in has none: on to setting one up.
async fn begin_enrolment(
    state: &AppState,
    jar: CookieJar,
    authenticated: &Authenticated,
    target: FormTarget,
    context: &castellan_domain::RequestContext,
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
        Err(error) => domain_error_page(error),
    }
}

/// Sets the browser session's cookie and tells the interaction; returns the cookie jar and
/// where to go next.
async fn establish(
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
        None => local_target(next).unwrap_or_else(|| "/login".to_owned()),
    };
    Ok((jar, target))
}

async fn login_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
    let password = FirstFactor::Password {
        email: form.email.clone(),
        password: form.password,
    };
    let outcome = state.signin.sign_in_browser(password.into(), &context).await;
    sign_in_step(&state, jar, outcome, form.target, form.email, &context).await
}

/// The second page of a sign-in, offering a passkey when the account has one and passkeys
/// are on.
fn second_step_page(
    state: &AppState,
    jar: CookieJar,
    challenge: castellan_domain::MfaChallenge,
    target: FormTarget,
) -> Response {
    let passkey = challenge.pending.methods.contains(&MfaMethod::Webauthn)
        && state.passkeys.unavailable_reason().is_none();
    render_mfa(state, jar, challenge.token, passkey, target, None)
}

/// The sign-in page again with what went wrong, or an error page.
async fn login_failed(
    state: &AppState,
    jar: CookieJar,
    query: FormTarget,
    email: String,
    error: DomainError,
) -> Response {
    let error = match error {
        DomainError::InvalidCredentials => (
            StatusCode::UNAUTHORIZED,
            "Wrong email or password.".to_owned(),
        ),
        DomainError::AccountLocked { retry_after } => {
            let minutes = retry_after.as_secs().div_ceil(60).max(1);
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many failed attempts. Try again in {minutes} minutes."),
            )
        }
        DomainError::InvalidToken => (
            StatusCode::UNAUTHORIZED,
            "The sign-in took too long or was already used. Please sign in again.".to_owned(),
        ),
        DomainError::Passkey(why) => (StatusCode::BAD_REQUEST, format!("Passkey refused: {why}.")),
        DomainError::PendingConfirmation => (
            StatusCode::FORBIDDEN,
            "Please confirm your email address first: open the link we sent you.".to_owned(),
        ),
        other => return domain_error_page(other),
    };
    render_login(state, jar, query, email, Some(error)).await
}

/// Where a sign-in page goes on to: an authorization in progress, or a local page.
#[derive(Debug, Clone, Default, Deserialize)]
struct FormTarget {
    interaction: Option<String>,
    next: Option<String>,
}

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
    mfa_token: String,
    passkey: bool,
    target: FormTarget,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = page_status(error);
    form_page(state, jar, status, |csrf| MfaPage {
        csrf,
        mfa_token,
        interaction: target.interaction,
        next: local_target(target.next.as_deref()),
        passkey,
        error,
    })
}

#[derive(Deserialize)]
struct MfaForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mfa_token: String,
    #[serde(default)]
    code: String,
    /// Whether the page offered a passkey, to offer it again after a wrong code.
    #[serde(default)]
    passkey: Option<String>,
    #[serde(flatten)]
    target: FormTarget,
}

async fn mfa_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(form): Form<MfaForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
    let outcome = match state
        .mfa
        .complete(&form.mfa_token, &form.code, &context)
        .await
    {
        Ok(proof) => state.signin.sign_in_browser(proof, &context).await,
        Err(error) => Err(error),
    };
    match outcome {
        Err(DomainError::InvalidMfaCode) => {
            let passkey = form.passkey.is_some();
            let error = (
                StatusCode::UNAUTHORIZED,
                "That code is wrong or was already used.".to_owned(),
            );
            render_mfa(
                &state,
                jar,
                form.mfa_token,
                passkey,
                form.target,
                Some(error),
            )
        }
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
struct EnrolForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enrolment: String,
    #[serde(default)]
    qr_code: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
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
        enrolment: form.enrolment,
        qr_code,
        secret: form.secret,
        interaction: form.target.interaction,
        next: local_target(form.target.next.as_deref()),
        error,
    })
}

#[derive(Template)]
#[template(path = "backup_codes.html")]
struct BackupCodesPage {
    codes: Vec<String>,
    target: String,
}

async fn enrol_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(mut form): Form<EnrolForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
    let code = std::mem::take(&mut form.code);
    match state
        .mfa
        .finish_enrolment_sign_in(&form.enrolment, &code, &context)
        .await
    {
        Ok((proof, codes)) => match state.signin.sign_in_browser(proof, &context).await {
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
            outcome => {
                sign_in_step(&state, jar, outcome, form.target, String::new(), &context).await
            }
        },
        Err(DomainError::InvalidMfaCode) => {
            let error = (
                StatusCode::UNAUTHORIZED,
                "That code is wrong. Check the app's clock and try the newest code.".to_owned(),
            );
            render_enrol(&state, jar, form, Some(error))
        }
        Err(error) => login_failed(&state, jar, form.target, String::new(), error).await,
    }
}

#[derive(Deserialize)]
struct PasskeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    ceremony_id: String,
    #[serde(default)]
    credential: String,
    #[serde(flatten)]
    target: FormTarget,
}

async fn passkey_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(form): Form<PasskeyForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
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
    let outcome = match proof {
        Ok(proof) => state.signin.sign_in_browser(proof, &context).await,
        Err(error) => Err(error),
    };
    sign_in_step(&state, jar, outcome, form.target, String::new(), &context).await
}

/// The page a link in a message lands on: what happened, or why the link no longer works.
pub fn link_outcome(outcome: Result<String, DomainError>, heading: &str) -> Response {
    match outcome {
        Ok(text) => message(StatusCode::OK, heading, &text),
        Err(DomainError::InvalidToken) => message(
            StatusCode::BAD_REQUEST,
            "This link no longer works",
            "It was used already or has expired. Ask for a new one.",
        ),
        Err(DomainError::Conflict(_)) => message(
            StatusCode::CONFLICT,
            "This address is taken",
            "Another account uses this address now.",
        ),
        Err(error) => domain_error_page(error),
    }
}

#[derive(Deserialize)]
struct LinkQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
struct MagicRequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

async fn magic_request(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<MagicRequestForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
    match state.email.request_magic_link(&form.email).await {
        Ok(()) => message(
            StatusCode::OK,
            "Check your inbox",
            "If the address belongs to an account, a sign-in link is on its way. It works once, for 15 minutes.",
        ),
        Err(DomainError::Validation { message: text, .. }) => message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That address does not look right",
            &capitalise(&text),
        ),
        Err(error) => domain_error_page(error),
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
async fn magic_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<LinkQuery>,
) -> Response {
    form_page(&state, jar, StatusCode::OK, |csrf| MagicPage {
        csrf,
        token: query.token,
    })
}

#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

async fn magic_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(form): Form<LinkForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
    let target = FormTarget::default();
    match state.email.verify_magic_link(&form.token, &context).await {
        Ok(magic_link) => {
            let outcome = state
                .signin
                .sign_in_browser(magic_link.into(), &context)
                .await;
            sign_in_step(&state, jar, outcome, target, String::new(), &context).await
        }
        Err(DomainError::InvalidToken) => link_outcome(Err(DomainError::InvalidToken), ""),
        Err(error) => login_failed(&state, jar, target, String::new(), error).await,
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
async fn invitation_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<LinkQuery>,
) -> Response {
    let Some((_, user)) = browser_user(&state, &jar).await else {
        let back = format!(
            "/invitations/accept?{}",
            serde_urlencoded::to_string([("token", query.token.as_str())]).unwrap_or_default()
        );
        let login = serde_urlencoded::to_string([("next", back.as_str())]).unwrap_or_default();
        return see_other(&format!("/login?{login}"));
    };
    form_page(&state, jar, StatusCode::OK, |csrf| InvitationPage {
        csrf,
        token: query.token,
        email: user.email.as_str().to_owned(),
    })
}

async fn invitation_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(form): Form<LinkForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
    let Some((_, user)) = browser_user(&state, &jar).await else {
        return see_other("/login");
    };
    match state
        .organizations
        .accept_invitation(&user, &form.token, &context)
        .await
    {
        Ok(organization) => message(
            StatusCode::OK,
            "Welcome",
            &format!("You joined {}.", organization.name),
        ),
        Err(DomainError::InvalidToken) => message(
            StatusCode::BAD_REQUEST,
            "This invitation does not work here",
            "It was used already, has expired, or was sent to another address than the one you are signed in with.",
        ),
        Err(error) => link_outcome(Err(error), ""),
    }
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    csrf: String,
    token: String,
    min_length: usize,
    error: Option<String>,
}

fn render_reset(
    state: &AppState,
    jar: CookieJar,
    token: String,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = page_status(error);
    let min_length = state.config.accounts.password_min_length;
    form_page(state, jar, status, |csrf| ResetPage {
        csrf,
        token,
        min_length,
        error,
    })
}

async fn reset_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<LinkQuery>,
) -> Response {
    render_reset(&state, jar, query.token, None)
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

async fn reset_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(form): Form<ResetForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
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
        Err(DomainError::Validation { message, .. }) => {
            let error = (StatusCode::UNPROCESSABLE_ENTITY, capitalise(&message));
            render_reset(&state, jar, form.token, Some(error))
        }
        Err(error) => link_outcome(Err(error), ""),
    }
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    csrf: String,
    interaction: Option<String>,
    client_name: Option<String>,
    email: String,
    first_name: String,
    last_name: String,
    error: Option<String>,
    min_length: usize,
    login_link: String,
}

#[derive(Deserialize, Default)]
struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    csrf: String,
    interaction: Option<String>,
}

async fn render_signup(
    state: &AppState,
    jar: CookieJar,
    form: SignupForm,
    error: Option<(StatusCode, String)>,
) -> Response {
    if !state.config.accounts.signup_enabled {
        return message(
            StatusCode::FORBIDDEN,
            "Sign-up is closed",
            "New accounts are created by an administrator.",
        );
    }
    let client_name = match page_interaction(state, form.interaction.as_deref()).await {
        Ok(interaction) => interaction.map(|interaction| interaction.client_name),
        Err(response) => return response,
    };
    let (status, error) = page_status(error);
    let min_length = state.config.accounts.password_min_length;
    form_page(state, jar, status, |csrf| SignupPage {
        csrf,
        login_link: match &form.interaction {
            Some(id) => interaction_link("/login", id),
            None => "/login".to_owned(),
        },
        interaction: form.interaction,
        client_name,
        email: form.email,
        first_name: form.first_name,
        last_name: form.last_name,
        error,
        min_length,
    })
}

async fn signup_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<FormTarget>,
) -> Response {
    let form = SignupForm {
        interaction: query.interaction,
        ..SignupForm::default()
    };
    render_signup(&state, jar, form, None).await
}

async fn signup_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(mut form): Form<SignupForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
    if !state.config.accounts.signup_enabled {
        return render_signup(&state, jar, form, None).await;
    }
    let optional = |text: &str| Some(text.to_owned()).filter(|text| !text.trim().is_empty());
    let new = NewAccount {
        email: form.email.clone(),
        password: std::mem::take(&mut form.password),
        first_name: optional(&form.first_name),
        last_name: optional(&form.last_name),
    };
    match state.email.sign_up(new, &context).await {
        Ok(user) => {
            let target = FormTarget {
                interaction: form.interaction.clone(),
                next: None,
            };
            let outcome = state
                .signin
                .sign_in_browser(FirstFactor::NewAccount(user).into(), &context)
                .await;
            sign_in_step(&state, jar, outcome, target, String::new(), &context).await
        }
        Err(DomainError::Validation { message, .. }) => {
            let error = (StatusCode::UNPROCESSABLE_ENTITY, capitalise(&message));
            render_signup(&state, jar, form, Some(error)).await
        }
        Err(DomainError::Conflict(_)) => {
            let error = (
                StatusCode::CONFLICT,
                "An account with this email already exists. Sign in instead.".to_owned(),
            );
            render_signup(&state, jar, form, Some(error)).await
        }
        Err(error) => domain_error_page(error),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!(
            "{}{}.",
            first.to_uppercase(),
            chars.as_str().trim_end_matches('.')
        ),
        None => String::new(),
    }
}

/// What a scope lets the client do, in words.
fn describe_scope(scope: &str) -> String {
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
) -> Result<(User, castellan_oidc::provider::Interaction), Response> {
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

async fn consent_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<InteractionQuery>,
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
    choices: Vec<castellan_domain::OrgChoice>,
}

async fn organization_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<InteractionQuery>,
) -> Response {
    let (user, interaction) = match signed_in_interaction(&state, &jar, &query.interaction).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let choices = match state.accounts.organization_choices(user.id).await {
        Ok(choices) => choices,
        Err(error) => return domain_error_page(error),
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
struct OrganizationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    interaction: String,
    #[serde(default)]
    organization: String,
}

async fn organization_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<OrganizationForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
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

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    interaction: String,
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    decision: String,
}

async fn consent_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(form): Form<DecisionForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
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
struct DeviceQuery {
    user_code: Option<String>,
}

async fn device_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<DeviceQuery>,
) -> Response {
    let user_code = query.user_code.unwrap_or_default();
    let Some((_, user)) = browser_user(&state, &jar).await else {
        let back = format!(
            "/device?{}",
            serde_urlencoded::to_string([("user_code", &user_code)]).unwrap_or_default()
        );
        let login = serde_urlencoded::to_string([("next", back)]).unwrap_or_default();
        return see_other(&format!("/login?{login}"));
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
            Err(error) => return domain_error_page(error),
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

async fn device_submit(
    State(state): State<AppState>,
    Client(context): Client,
    jar: CookieJar,
    Form(form): Form<DecisionForm>,
) -> Response {
    if !SsoCookies::form_csrf_matches(&jar, &form.csrf) {
        return csrf_refused();
    }
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
        Err(error) => domain_error_page(error),
    }
}

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

async fn logout_get(
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

async fn logout_post(
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
    context: &castellan_domain::RequestContext,
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
