//! The authorization endpoint and the interaction behind it.
//!
//! A validated request becomes an [`Interaction`], kept in the key-value store while the user
//! acts. [`next_step`] is the flow's state machine: from the interaction, the browser's session
//! and the stored consent it decides whether the user must sign in, must consent, or whether a
//! code can be issued. A later step (a second factor) is a new [`Step`] variant and one rule
//! here, not a change to the pages around it.

use castellan_domain::client::{ORGANIZATION_SCOPE, ORGANIZATION_SCOPE_PREFIX};
use castellan_domain::{
    Consent, DomainError, OAuthClient, OrganizationId, Session, SessionId, User, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{OAuthError, OAuthErrorCode};
use super::{OidcProvider, kv_key, normalise_scope, random_token, scopes_within};
use super::pkce::valid_pkce_value;

/// The parameters of an authorization request, as sent (query or form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationParams {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// The client.
    pub client_id: Option<String>,
    /// Where to send the answer.
    pub redirect_uri: Option<String>,
    /// Requested scopes.
    pub scope: Option<String>,
    /// Opaque value returned to the client.
    pub state: Option<String>,
    /// Bound into the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method; only `S256`.
    pub code_challenge_method: Option<String>,
    /// `none`, `login`, `consent`, `select_account`.
    pub prompt: Option<String>,
    /// Maximum authentication age in seconds.
    pub max_age: Option<String>,
    /// Who the client thinks is signing in.
    pub login_hint: Option<String>,
    /// Requested authentication context classes.
    pub acr_values: Option<String>,
    /// Preferred languages of the pages.
    pub ui_locales: Option<String>,
    /// The `claims` request parameter (JSON).
    pub claims: Option<String>,
    /// A pushed request's handle (RFC 9126).
    pub request_uri: Option<String>,
    /// Request objects are not supported.
    pub request: Option<String>,
    /// Only `query`.
    pub response_mode: Option<String>,
    /// The organization (id or slug) the tokens are to be scoped to; the same as an
    /// `org:<slug>` scope.
    pub organization: Option<String>,
}

/// The organization an authorization request asks its tokens to be scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrganizationRequest {
    /// This one (id or slug).
    Named(String),
    /// One of the user's: they pick when they have several.
    Pick,
}

/// The organization settled for an interaction, and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChosenOrganization {
    /// The user it was settled for (a different sign-in settles it again).
    pub user: UserId,
    /// The organization.
    pub id: OrganizationId,
}

/// The organization `scope` and the `organization` parameter ask for; `Err` says why the two
/// cannot be read as one request.
fn organization_request(
    scope: &str,
    parameter: Option<&str>,
) -> Result<Option<OrganizationRequest>, &'static str> {
    let mut named = scope
        .split_whitespace()
        .filter_map(|scope| scope.strip_prefix(ORGANIZATION_SCOPE_PREFIX));
    let from_scope = named.next();
    if named.next().is_some() {
        return Err("name at most one organization (one org:<slug> scope)");
    }
    let parameter = parameter.map(str::trim);
    let reference = match (from_scope, parameter) {
        (Some(""), _) | (_, Some("")) => return Err("the organization is empty"),
        (Some(scope), Some(parameter)) if !scope.eq_ignore_ascii_case(parameter) => {
            return Err("the organization parameter and the org:<slug> scope disagree");
        }
        (Some(reference), _) | (None, Some(reference)) => Some(reference),
        (None, None) => None,
    };
    Ok(match reference {
        Some(reference) => Some(OrganizationRequest::Named(reference.to_owned())),
        None if scope.split_whitespace().any(|s| s == ORGANIZATION_SCOPE) => {
            Some(OrganizationRequest::Pick)
        }
        None => None,
    })
}

/// Why an authorization request failed, and how to tell.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// The redirect URI cannot be trusted: show the error to the user.
    Page(OAuthError),
    /// Send the error back to the client at this URL.
    Redirect(String),
}

impl From<castellan_domain::DomainError> for AuthorizeError {
    fn from(error: castellan_domain::DomainError) -> Self {
        Self::Page(error.into())
    }
}

/// A validated authorization request while the user signs in and consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    /// Its handle (in the pages' URLs and forms).
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The client's display name.
    pub client_name: String,
    /// Castellan's own application: no consent asked.
    pub first_party: bool,
    /// The validated redirect URI.
    pub redirect_uri: String,
    /// Whether the request named the redirect URI (then the token request must repeat it).
    pub redirect_uri_given: bool,
    /// Normalised scopes.
    pub scope: String,
    /// Client state.
    pub state: Option<String>,
    /// Nonce for the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// Prompt values.
    pub prompt: Vec<String>,
    /// Maximum authentication age.
    pub max_age: Option<u64>,
    /// Email the client suggests.
    pub login_hint: Option<String>,
    /// Requested ACR values.
    pub acr_values: Option<String>,
    /// Preferred languages.
    pub ui_locales: Option<String>,
    /// The `claims` parameter.
    pub claims: Option<Value>,
    /// The session signed in during this interaction, if one was.
    pub signed_in: Option<SessionId>,
    /// Whether the user consented during this interaction.
    pub consented: bool,
    /// The organization the tokens are to be scoped to, as asked.
    #[serde(default)]
    pub organization: Option<OrganizationRequest>,
    /// The organization settled for the signed-in user.
    #[serde(default)]
    pub chosen_organization: Option<ChosenOrganization>,
}

impl Interaction {
    fn prompts(&self, value: &str) -> bool {
        self.prompt.iter().any(|prompt| prompt == value)
    }
}

/// What the user must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Sign in (again).
    SignIn,
    /// Settle the organization the tokens are scoped to (named, the only one, or picked).
    ChooseOrganization,
    /// Approve the scopes.
    Consent,
    /// Nothing: issue the code.
    Issue,
}

/// What a page needs to show an interaction.
#[derive(Debug, Clone)]
pub struct InteractionView {
    /// The interaction handle.
    pub id: String,
    /// The client's name.
    pub client_name: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// Suggested email for the sign-in form.
    pub login_hint: Option<String>,
    /// Who is signed in, when someone is.
    pub signed_in_as: Option<String>,
}

/// Where an authorization request goes next.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// To the client (a code or an error).
    Redirect(String),
    /// To the sign-in page.
    SignIn(InteractionView),
    /// To the consent page.
    Consent(InteractionView),
    /// To the organization picker.
    ChooseOrganization(InteractionView),
}

/// How the organization of an interaction was settled.
enum Settled {
    /// This one.
    Chosen(ChosenOrganization),
    /// The user must pick.
    Ask,
    /// Not allowed; the client hears this.
    Refused(OAuthError),
}

/// What a code stands for, kept until the code is exchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub session_id: SessionId,
    pub claims: Option<Value>,
    #[serde(default)]
    pub organization: Option<OrganizationId>,
}

/// The state machine of the interaction: what must happen before a code can be issued.
/// `Err` carries the error `prompt=none` answers with when the user would have to act.
pub fn next_step(
    interaction: &Interaction,
    browser: Option<(&Session, &User)>,
    consent: Option<&Consent>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Step, OAuthErrorCode> {
    let silent = interaction.prompts("none");
    let Some((session, user)) = browser else {
        return if silent {
            Err(OAuthErrorCode::LoginRequired)
        } else {
            Ok(Step::SignIn)
        };
    };
    let fresh = interaction.signed_in == Some(session.id);
    if !fresh {
        let too_old = interaction.max_age.is_some_and(|max_age| {
            (now - session.created_at).num_seconds() > i64::try_from(max_age).unwrap_or(i64::MAX)
        });
        let other_user = interaction.login_hint.as_deref().is_some_and(|hint| {
            hint.contains('@') && !hint.eq_ignore_ascii_case(user.email.as_str())
        });
        let asked = interaction.prompts("login") || interaction.prompts("select_account");
        if too_old || other_user || asked {
            return if silent {
                Err(OAuthErrorCode::LoginRequired)
            } else {
                Ok(Step::SignIn)
            };
        }
    }
    let settled = interaction
        .chosen_organization
        .is_some_and(|chosen| chosen.user == user.id);
    if interaction.organization.is_some() && !settled {
        return Ok(Step::ChooseOrganization);
    }
    if !interaction.first_party && !interaction.consented {
        let covered =
            consent.is_some_and(|consent| consent.covers(interaction.scope.split_whitespace()));
        if interaction.prompts("consent") || !covered {
            return if silent {
                Err(OAuthErrorCode::ConsentRequired)
            } else {
                Ok(Step::Consent)
            };
        }
    }
    Ok(Step::Issue)
}

/// `redirect_uri` with `params` added to its query.
pub(super) fn with_query(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in params {
                    query.append_pair(name, value);
                }
            }
            url.into()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

/// Why a request failed validation, and where to tell: the client's redirect URI and state
/// once the redirect URI is trusted, the user otherwise.
struct RequestError {
    error: OAuthError,
    return_to: Option<(String, Option<String>)>,
}

impl From<castellan_domain::DomainError> for RequestError {
    fn from(error: castellan_domain::DomainError) -> Self {
        Self {
            error: error.into(),
            return_to: None,
        }
    }
}

impl OidcProvider {
    /// Validates a request and starts its interaction. `pushed` is true for a request that
    /// arrived through PAR (its client already authenticated).
    async fn validate_request(
        &self,
        params: AuthorizationParams,
        pushed: bool,
    ) -> Result<Interaction, RequestError> {
        let page = |description: &str| RequestError {
            error: OAuthError::invalid_request(description.to_owned()),
            return_to: None,
        };
        let client_id = params
            .client_id
            .as_deref()
            .ok_or_else(|| page("client_id is missing"))?;
        let client = self
            .client(client_id)
            .await?
            .ok_or_else(|| page("the client is not registered"))?;
        let metadata = &client.metadata;
        let (redirect_uri, redirect_uri_given) = match params.redirect_uri.as_deref() {
            Some(uri) if metadata.accepts_redirect_uri(uri) => (uri.to_owned(), true),
            Some(_) => return Err(page("the redirect_uri is not registered for this client")),
            None if metadata.redirect_uris.len() == 1 => (metadata.redirect_uris[0].clone(), false),
            None => return Err(page("redirect_uri is missing")),
        };
        let fail = |code: OAuthErrorCode, description: &str| RequestError {
            error: OAuthError::new(code, description.to_owned()),
            return_to: Some((redirect_uri.clone(), params.state.clone())),
        };
        if params.request.is_some() {
            return Err(fail(
                OAuthErrorCode::RequestNotSupported,
                "request objects are not supported; use pushed authorization requests",
            ));
        }
        if metadata.require_pushed_authorization_requests && !pushed {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "this client must push its authorization requests (PAR)",
            ));
        }
        match params.response_type.as_deref() {
            Some("code") => {}
            None => {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "response_type is missing",
                ));
            }
            Some(_) => {
                return Err(fail(
                    OAuthErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        if params
            .response_mode
            .as_deref()
            .is_some_and(|mode| mode != "query")
        {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "only response_mode=query is supported",
            ));
        }
        if !metadata.allows(castellan_domain::client::GRANT_AUTHORIZATION_CODE) {
            return Err(fail(
                OAuthErrorCode::UnauthorizedClient,
                "this client may not use the authorization code grant",
            ));
        }
        let scope = normalise_scope(params.scope.as_deref().unwrap_or("openid"));
        let organization = organization_request(&scope, params.organization.as_deref())
            .map_err(|why| fail(OAuthErrorCode::InvalidRequest, why))?;
        let registered: String = scope
            .split_whitespace()
            .filter(|scope| !scope.starts_with(ORGANIZATION_SCOPE_PREFIX))
            .collect::<Vec<_>>()
            .join(" ");
        if scope.is_empty() || !scopes_within(&registered, &metadata.scope) {
            return Err(fail(
                OAuthErrorCode::InvalidScope,
                "a requested scope is unknown or not allowed for this client",
            ));
        }
        if organization.is_some() && !metadata.scopes().any(|scope| scope == ORGANIZATION_SCOPE) {
            return Err(fail(
                OAuthErrorCode::InvalidScope,
                "this client may not ask for organization-scoped tokens (its scope lacks organization)",
            ));
        }
        let method = params.code_challenge_method.as_deref();
        let code_challenge = match (params.code_challenge.as_deref(), method) {
            (Some(challenge), Some("S256") | None) if valid_pkce_value(challenge) => {
                Some(challenge.to_owned())
            }
            (Some(_), Some("S256") | None) => {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "code_challenge_method must be S256 (plain is not allowed)",
                ));
            }
            (None, _) => None,
        };
        let pkce_required =
            metadata.is_public() || (metadata.require_pkce && self.settings.require_pkce);
        if code_challenge.is_none() && pkce_required {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ));
        }
        let prompt: Vec<String> = params
            .prompt
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for value in &prompt {
            if !matches!(
                value.as_str(),
                "none" | "login" | "consent" | "select_account"
            ) {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "prompt may contain none, login, consent or select_account",
                ));
            }
        }
        if prompt.len() > 1 && prompt.iter().any(|value| value == "none") {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "prompt=none cannot be combined with other values",
            ));
        }
        let max_age = match params.max_age.as_deref() {
            None => None,
            Some(text) => Some(text.parse::<u64>().map_err(|_| {
                fail(
                    OAuthErrorCode::InvalidRequest,
                    "max_age must be a non-negative integer",
                )
            })?),
        };
        let claims = match params.claims.as_deref() {
            None => None,
            Some(text) => {
                let value: Value = serde_json::from_str(text).map_err(|_| {
                    fail(
                        OAuthErrorCode::InvalidRequest,
                        "claims must be a JSON object",
                    )
                })?;
                if !value.is_object() {
                    return Err(fail(
                        OAuthErrorCode::InvalidRequest,
                        "claims must be a JSON object",
                    ));
                }
                Some(value)
            }
        };
        Ok(Interaction {
            id: random_token(),
            client_id: client.client_id.clone(),
            client_name: metadata.client_name.clone(),
            first_party: metadata.first_party,
            redirect_uri: redirect_uri.clone(),
            redirect_uri_given,
            scope,
            state: params.state,
            nonce: params.nonce,
            code_challenge,
            prompt,
            max_age,
            login_hint: params.login_hint,
            acr_values: params.acr_values,
            ui_locales: params.ui_locales,
            claims,
            signed_in: None,
            consented: false,
            organization,
            chosen_organization: None,
        })
    }

    /// Handles an authorization request from the browser, whose sign-in session (from its
    /// cookie) is `browser`.
    pub async fn authorize(
        &self,
        mut params: AuthorizationParams,
        browser: Option<SessionId>,
    ) -> Result<Resolution, AuthorizeError> {
        let mut pushed = false;
        if let Some(request_uri) = params.request_uri.clone() {
            let stored = self
                .ports
                .kv
                .take(&kv_key("par", &request_uri))
                .await
                .map_err(castellan_domain::DomainError::from)?;
            let stored: AuthorizationParams = stored
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or_else(|| {
                    AuthorizeError::Page(OAuthError::new(
                        OAuthErrorCode::InvalidRequestUri,
                        "the request_uri is unknown, used or expired",
                    ))
                })?;
            if stored.client_id != params.client_id {
                return Err(AuthorizeError::Page(OAuthError::new(
                    OAuthErrorCode::InvalidRequestUri,
                    "the request_uri belongs to another client",
                )));
            }
            params = stored;
            pushed = true;
        }
        let interaction = self
            .validate_request(params, pushed)
            .await
            .map_err(|failure| match failure.return_to {
                Some((redirect_uri, state)) => AuthorizeError::Redirect(self.error_redirect(
                    &redirect_uri,
                    state.as_deref(),
                    &failure.error,
                )),
                None => AuthorizeError::Page(failure.error),
            })?;
        self.save_interaction(&interaction).await?;
        self.resume(&interaction.id, browser).await
    }

    /// Validates a pushed authorization request of an authenticated client and stores it;
    /// returns the `request_uri` and its lifetime in seconds.
    pub async fn push_authorization_request(
        &self,
        client: &OAuthClient,
        mut params: AuthorizationParams,
    ) -> Result<(String, u64), OAuthError> {
        if params.request_uri.is_some() {
            return Err(OAuthError::invalid_request("request_uri cannot be pushed"));
        }
        match params.client_id.as_deref() {
            Some(id) if id != client.client_id => {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the authenticated client",
                ));
            }
            _ => params.client_id = Some(client.client_id.clone()),
        }
        // Answered as JSON to the client that pushed it, whatever the redirect would have been.
        self.validate_request(params.clone(), true)
            .await
            .map_err(|failure| failure.error)?;
        let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", random_token());
        let bytes = serde_json::to_vec(&params)
            .map_err(|error| castellan_domain::DomainError::Storage(error.to_string()))?;
        self.ports
            .kv
            .set(
                &kv_key("par", &request_uri),
                &bytes,
                Some(self.settings.par_lifetime),
            )
            .await?;
        Ok((request_uri, self.settings.par_lifetime.as_secs()))
    }

    async fn save_interaction(&self, interaction: &Interaction) -> Result<(), AuthorizeError> {
        let bytes = serde_json::to_vec(interaction)
            .map_err(|error| castellan_domain::DomainError::Storage(error.to_string()))?;
        self.ports
            .kv
            .set(
                &kv_key("interaction", &interaction.id),
                &bytes,
                Some(self.settings.interaction_lifetime),
            )
            .await
            .map_err(castellan_domain::DomainError::from)?;
        Ok(())
    }

    /// The interaction with this handle.
    pub async fn interaction(&self, id: &str) -> Result<Interaction, AuthorizeError> {
        self.ports
            .kv
            .get(&kv_key("interaction", id))
            .await
            .map_err(castellan_domain::DomainError::from)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| {
                AuthorizeError::Page(OAuthError::invalid_request(
                    "this sign-in request has expired; go back to the application and start again",
                ))
            })
    }

    fn view(interaction: &Interaction, user: Option<&User>) -> InteractionView {
        InteractionView {
            id: interaction.id.clone(),
            client_name: interaction.client_name.clone(),
            scopes: interaction
                .scope
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            login_hint: interaction.login_hint.clone(),
            signed_in_as: user.map(|user| user.email.as_str().to_owned()),
        }
    }

    /// Takes an interaction one step further with the browser's session.
    pub async fn resume(
        &self,
        id: &str,
        browser: Option<SessionId>,
    ) -> Result<Resolution, AuthorizeError> {
        let mut interaction = self.interaction(id).await?;
        let browser = match browser {
            Some(session) => self.ports.accounts.active_session(session).await?,
            None => None,
        };
        let consent = match &browser {
            Some((_, user)) if !interaction.first_party => {
                self.ports
                    .consents
                    .get(user.id, &interaction.client_id)
                    .await?
            }
            _ => None,
        };
        loop {
            let step = next_step(
                &interaction,
                browser.as_ref().map(|(session, user)| (session, user)),
                consent.as_ref(),
                self.now(),
            );
            let user = browser.as_ref().map(|(_, user)| user);
            return match step {
                Err(code) => {
                    self.refuse(
                        &interaction,
                        &OAuthError::new(code, "the user must sign in or consent"),
                    )
                    .await
                }
                Ok(Step::SignIn) => Ok(Resolution::SignIn(Self::view(&interaction, user))),
                Ok(Step::Consent) => Ok(Resolution::Consent(Self::view(&interaction, user))),
                Ok(Step::ChooseOrganization) => {
                    let Some((session, user)) = &browser else {
                        return Err(Self::nobody_signed_in());
                    };
                    match self
                        .settle_organization(&interaction, session, user)
                        .await?
                    {
                        Settled::Chosen(chosen) => {
                            interaction.chosen_organization = Some(chosen);
                            self.save_interaction(&interaction).await?;
                            continue;
                        }
                        Settled::Refused(error) => self.refuse(&interaction, &error).await,
                        Settled::Ask if interaction.prompts("none") => {
                            let error = OAuthError::new(
                                OAuthErrorCode::InteractionRequired,
                                "the user belongs to several organizations and must pick one",
                            );
                            self.refuse(&interaction, &error).await
                        }
                        Settled::Ask => Ok(Resolution::ChooseOrganization(Self::view(
                            &interaction,
                            Some(user),
                        ))),
                    }
                }
                Ok(Step::Issue) => {
                    let Some((session, _)) = &browser else {
                        return Err(Self::nobody_signed_in());
                    };
                    self.forget_interaction(id).await?;
                    Ok(Resolution::Redirect(
                        self.issue_code(&interaction, session).await?,
                    ))
                }
            };
        }
    }

    fn nobody_signed_in() -> AuthorizeError {
        AuthorizeError::Page(OAuthError::invalid_request("nobody is signed in"))
    }

    /// Ends the interaction and sends `error` to the client.
    async fn refuse(
        &self,
        interaction: &Interaction,
        error: &OAuthError,
    ) -> Result<Resolution, AuthorizeError> {
        self.forget_interaction(&interaction.id).await?;
        Ok(Resolution::Redirect(self.error_redirect(
            &interaction.redirect_uri,
            interaction.state.as_deref(),
            error,
        )))
    }

    /// Settles the organization without asking when the request named one or the user has
    /// only one; the user must belong to it and their sign-in meet its policy.
    async fn settle_organization(
        &self,
        interaction: &Interaction,
        session: &Session,
        user: &User,
    ) -> Result<Settled, AuthorizeError> {
        let reference = match &interaction.organization {
            Some(OrganizationRequest::Named(reference)) => reference.clone(),
            Some(OrganizationRequest::Pick) => {
                let mut choices = self.ports.accounts.organization_choices(user.id).await?;
                if choices.len() > 1 {
                    return Ok(Settled::Ask);
                }
                let Some(only) = choices.pop() else {
                    return Ok(Settled::Refused(OAuthError::new(
                        OAuthErrorCode::AccessDenied,
                        "the user is not a member of any organization",
                    )));
                };
                only.id.to_string()
            }
            None => return Err(Self::nobody_signed_in()),
        };
        self.check_organization(session, user, &reference).await
    }

    /// Whether `user`, signed in with `session`, may have tokens scoped to `reference`.
    async fn check_organization(
        &self,
        session: &Session,
        user: &User,
        reference: &str,
    ) -> Result<Settled, AuthorizeError> {
        let refused = |why: &str| {
            Ok(Settled::Refused(OAuthError::new(
                OAuthErrorCode::AccessDenied,
                why.to_owned(),
            )))
        };
        match self
            .ports
            .accounts
            .organization_for_session(user, &session.amr, reference)
            .await
        {
            Ok(id) => Ok(Settled::Chosen(ChosenOrganization { user: user.id, id })),
            Err(DomainError::NotFound(_)) => {
                refused("the user is not a member of the organization asked for")
            }
            Err(DomainError::Forbidden(why)) => refused(why),
            Err(other) => Err(other.into()),
        }
    }

    /// The organization the user picked on the hosted picker (by id or slug).
    pub async fn choose_organization(
        &self,
        id: &str,
        browser: Option<SessionId>,
        reference: &str,
    ) -> Result<Resolution, AuthorizeError> {
        let mut interaction = self.interaction(id).await?;
        let signed_in = match browser {
            Some(session) => self.ports.accounts.active_session(session).await?,
            None => None,
        };
        let Some((session, user)) = signed_in else {
            return self.resume(id, None).await;
        };
        if interaction.organization != Some(OrganizationRequest::Pick) {
            // Only an open choice is the user's to make; anything else continues as asked.
            return self.resume(id, browser).await;
        }
        match self.check_organization(&session, &user, reference).await? {
            Settled::Chosen(chosen) => {
                interaction.chosen_organization = Some(chosen);
                self.save_interaction(&interaction).await?;
                self.resume(id, browser).await
            }
            Settled::Refused(error) => self.refuse(&interaction, &error).await,
            Settled::Ask => self.resume(id, browser).await,
        }
    }

    async fn forget_interaction(&self, id: &str) -> Result<(), AuthorizeError> {
        self.ports
            .kv
            .delete(&kv_key("interaction", id))
            .await
            .map_err(castellan_domain::DomainError::from)?;
        Ok(())
    }

    /// A redirect to the client carrying `params`, its `state` and the issuer (RFC 9207).
    fn client_redirect<'a>(
        &'a self,
        redirect_uri: &str,
        state: Option<&'a str>,
        mut params: Vec<(&'a str, &'a str)>,
    ) -> String {
        if let Some(state) = state {
            params.push(("state", state));
        }
        params.push(("iss", self.settings.issuer.as_str()));
        with_query(redirect_uri, &params)
    }

    fn error_redirect(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &OAuthError,
    ) -> String {
        self.client_redirect(
            redirect_uri,
            state,
            vec![
                ("error", error.code.as_str()),
                ("error_description", error.description.as_str()),
            ],
        )
    }

    /// Records that the user signed in during the interaction (with a session whose cookie
    /// the browser now holds).
    pub async fn signed_in(&self, id: &str, session: SessionId) -> Result<(), AuthorizeError> {
        let mut interaction = self.interaction(id).await?;
        interaction.signed_in = Some(session);
        self.save_interaction(&interaction).await
    }

    /// The user's answer on the consent page: approval is remembered; refusal sends
    /// `access_denied` to the client.
    pub async fn decide_consent(
        &self,
        id: &str,
        browser: Option<SessionId>,
        approve: bool,
        context: &castellan_domain::RequestContext,
    ) -> Result<Resolution, AuthorizeError> {
        let mut interaction = self.interaction(id).await?;
        let Some(session) = browser else {
            return self.resume(id, None).await;
        };
        let Some((_, user)) = self.ports.accounts.active_session(session).await? else {
            return self.resume(id, None).await;
        };
        if !approve {
            let refusal = OAuthError::new(OAuthErrorCode::AccessDenied, "the user refused");
            return self.refuse(&interaction, &refusal).await;
        }
        let mut scopes: Vec<String> = self
            .ports
            .consents
            .get(user.id, &interaction.client_id)
            .await?
            .map(|consent| consent.scopes)
            .unwrap_or_default();
        for scope in interaction.scope.split_whitespace() {
            if !scopes.iter().any(|granted| granted == scope) {
                scopes.push(scope.to_owned());
            }
        }
        self.ports
            .consents
            .put(&Consent {
                user_id: user.id,
                client_id: interaction.client_id.clone(),
                scopes,
                granted_at: self.now(),
            })
            .await?;
        self.ports
            .events
            .record(
                castellan_domain::AuditEvent::new(
                    castellan_domain::AuditAction::ConsentGranted,
                    self.now(),
                    context,
                )
                .by(user.id)
                .on(&interaction.client_id)
                .note(format!("scope={}", interaction.scope)),
            )
            .await?;
        interaction.consented = true;
        self.save_interaction(&interaction).await?;
        self.resume(id, Some(session)).await
    }

    /// Issues a code for the interaction and returns the redirect that carries it.
    async fn issue_code(
        &self,
        interaction: &Interaction,
        session: &Session,
    ) -> Result<String, AuthorizeError> {
        let code = random_token();
        let grant = CodeRecord {
            client_id: interaction.client_id.clone(),
            redirect_uri: interaction.redirect_uri.clone(),
            redirect_uri_given: interaction.redirect_uri_given,
            scope: interaction.scope.clone(),
            nonce: interaction.nonce.clone(),
            code_challenge: interaction.code_challenge.clone(),
            session_id: session.id,
            claims: interaction.claims.clone(),
            organization: interaction
                .chosen_organization
                .filter(|chosen| chosen.user == session.user_id)
                .map(|chosen| chosen.id),
        };
        let bytes = serde_json::to_vec(&grant)
            .map_err(|error| castellan_domain::DomainError::Storage(error.to_string()))?;
        self.ports
            .kv
            .set(
                &kv_key("code", &code),
                &bytes,
                Some(self.settings.code_lifetime),
            )
            .await
            .map_err(castellan_domain::DomainError::from)?;
        self.ports
            .participants
            .add(session.id, &interaction.client_id)
            .await?;
        Ok(self.client_redirect(
            &interaction.redirect_uri,
            interaction.state.as_deref(),
            vec![("code", code.as_str())],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use castellan_domain::{Email, PlatformRole, UserId};

    fn interaction() -> Interaction {
        Interaction {
            id: "i".to_owned(),
            client_id: "c".to_owned(),
            client_name: "App".to_owned(),
            first_party: false,
            redirect_uri: "https://app.example/cb".to_owned(),
            redirect_uri_given: true,
            scope: "openid email".to_owned(),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: Vec::new(),
            max_age: None,
            login_hint: None,
            acr_values: None,
            ui_locales: None,
            claims: None,
            signed_in: None,
            consented: false,
            organization: None,
            chosen_organization: None,
        }
    }

    fn signed_in(minutes_ago: i64) -> (Session, User) {
        let now = chrono::Utc::now();
        let user = User {
            id: UserId::new(),
            email: Email::parse("ada@example.com").unwrap(),
            first_name: None,
            last_name: None,
            email_verified: true,
            role: PlatformRole::User,
            password_hash: None,
            created_at: now,
            updated_at: now,
        };
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            created_at: now - chrono::Duration::minutes(minutes_ago),
            last_seen_at: now,
            expires_at: now + chrono::Duration::days(1),
            ip: None,
            user_agent: None,
            amr: vec!["pwd".to_owned()],
            revoked_at: None,
            organization_id: None,
        };
        (session, user)
    }

    fn consent(scopes: &[&str]) -> Consent {
        Consent {
            user_id: UserId::new(),
            client_id: "c".to_owned(),
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
            granted_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_flow_asks_for_sign_in_then_consent_then_issues() {
        let now = chrono::Utc::now();
        let mut request = interaction();
        assert_eq!(next_step(&request, None, None, now), Ok(Step::SignIn));
        let (session, user) = signed_in(1);
        let browser = Some((&session, &user));
        assert_eq!(next_step(&request, browser, None, now), Ok(Step::Consent));
        let partial = consent(&["openid"]);
        assert_eq!(
            next_step(&request, browser, Some(&partial), now),
            Ok(Step::Consent)
        );
        let full = consent(&["openid", "email", "profile"]);
        assert_eq!(
            next_step(&request, browser, Some(&full), now),
            Ok(Step::Issue)
        );
        request.first_party = true;
        assert_eq!(next_step(&request, browser, None, now), Ok(Step::Issue));
    }

    #[test]
    fn prompts_and_max_age_force_a_fresh_sign_in() {
        let now = chrono::Utc::now();
        let (session, user) = signed_in(30);
        let browser = Some((&session, &user));
        let full = consent(&["openid", "email"]);
        let mut request = interaction();
        request.prompt = vec!["login".to_owned()];
        assert_eq!(
            next_step(&request, browser, Some(&full), now),
            Ok(Step::SignIn)
        );
        request.signed_in = Some(session.id);
        assert_eq!(
            next_step(&request, browser, Some(&full), now),
            Ok(Step::Issue)
        );
        let mut request = interaction();
        request.max_age = Some(60);
        assert_eq!(
            next_step(&request, browser, Some(&full), now),
            Ok(Step::SignIn)
        );
        request.max_age = Some(3600);
        assert_eq!(
            next_step(&request, browser, Some(&full), now),
            Ok(Step::Issue)
        );
        request.prompt = vec!["consent".to_owned()];
        assert_eq!(
            next_step(&request, browser, Some(&full), now),
            Ok(Step::Consent)
        );
        request.login_hint = Some("someone-else@example.com".to_owned());
        request.prompt = Vec::new();
        assert_eq!(
            next_step(&request, browser, Some(&full), now),
            Ok(Step::SignIn)
        );
    }

    #[test]
    fn prompt_none_never_shows_a_page() {
        let now = chrono::Utc::now();
        let mut request = interaction();
        request.prompt = vec!["none".to_owned()];
        assert_eq!(
            next_step(&request, None, None, now),
            Err(OAuthErrorCode::LoginRequired)
        );
        let (session, user) = signed_in(1);
        assert_eq!(
            next_step(&request, Some((&session, &user)), None, now),
            Err(OAuthErrorCode::ConsentRequired)
        );
    }

    #[test]
    fn organizations_are_asked_for_by_scope_or_parameter() {
        let named = |reference: &str| Ok(Some(OrganizationRequest::Named(reference.to_owned())));
        assert_eq!(organization_request("openid", None), Ok(None));
        assert_eq!(
            organization_request("openid organization", None),
            Ok(Some(OrganizationRequest::Pick))
        );
        assert_eq!(organization_request("openid org:acme", None), named("acme"));
        assert_eq!(organization_request("openid", Some("acme")), named("acme"));
        assert_eq!(
            organization_request("openid organization org:acme", Some("ACME")),
            named("acme")
        );
        assert!(organization_request("org:acme org:globex", None).is_err());
        assert!(organization_request("org:acme", Some("globex")).is_err());
        assert!(organization_request("org:", None).is_err());
        assert!(organization_request("openid", Some(" ")).is_err());
    }

    #[test]
    fn the_organization_is_settled_after_sign_in_and_before_consent() {
        let now = chrono::Utc::now();
        let (session, user) = signed_in(1);
        let browser = Some((&session, &user));
        let mut request = interaction();
        request.organization = Some(OrganizationRequest::Pick);
        assert_eq!(next_step(&request, None, None, now), Ok(Step::SignIn));
        assert_eq!(
            next_step(&request, browser, None, now),
            Ok(Step::ChooseOrganization)
        );
        // Settled for someone else: settled again for this user.
        request.chosen_organization = Some(ChosenOrganization {
            user: UserId::new(),
            id: OrganizationId(uuid::Uuid::now_v7()),
        });
        assert_eq!(
            next_step(&request, browser, None, now),
            Ok(Step::ChooseOrganization)
        );
        request.chosen_organization = Some(ChosenOrganization {
            user: user.id,
            id: OrganizationId(uuid::Uuid::now_v7()),
        });
        assert_eq!(next_step(&request, browser, None, now), Ok(Step::Consent));
    }
}
