//! The interaction: a validated authorization request kept while the user acts, and the
//! state machine that takes it to a code, step by step.

use castellan_domain::{ClientId, Consent, RedirectUri, Scope, Session, SessionId, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::organization::{ChosenOrganization, OrganizationRequest, Settled};
use super::{AuthorizeError, Resolution};
use crate::provider::error::{OAuthError, OAuthErrorCode};
use crate::provider::{OidcProvider, kv_key};

/// A validated authorization request while the user signs in and consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    /// Its handle (in the pages' URLs and forms).
    pub id: String,
    /// The client.
    pub client_id: ClientId,
    /// The client's display name.
    pub client_name: String,
    /// Castellan's own application: no consent asked.
    pub first_party: bool,
    /// The validated redirect URI.
    pub redirect_uri: RedirectUri,
    /// Whether the request named the redirect URI (then the token request must repeat it).
    pub redirect_uri_given: bool,
    /// The scopes asked for, normalised and space-separated (the hosted pages read them as
    /// text; [`Self::scopes`] is the parsed set).
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
    /// The scopes asked for.
    pub fn scopes(&self) -> Scope {
        Scope::parse(&self.scope)
    }

    pub(super) fn prompts(&self, value: &str) -> bool {
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
        let covered = consent.is_some_and(|consent| consent.covers(interaction.scopes().iter()));
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

impl OidcProvider {
    pub(super) async fn save_interaction(
        &self,
        interaction: &Interaction,
    ) -> Result<(), AuthorizeError> {
        let bytes = serde_json::to_vec(interaction).map_err(|error| {
            castellan_domain::DomainError::caused("encoding an interaction", error)
        })?;
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
            scopes: interaction.scopes().iter().map(str::to_owned).collect(),
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
            Some(session) => self.ports.session_service.active_session(session).await?,
            None => None,
        };
        let consent = match &browser {
            Some((_, user)) if !interaction.first_party => {
                self.ports
                    .consents
                    .get(user.id, interaction.client_id.as_str())
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

    pub(super) fn nobody_signed_in() -> AuthorizeError {
        AuthorizeError::Page(OAuthError::invalid_request("nobody is signed in"))
    }

    /// Ends the interaction and sends `error` to the client.
    pub(super) async fn refuse(
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

    async fn forget_interaction(&self, id: &str) -> Result<(), AuthorizeError> {
        self.ports
            .kv
            .delete(&kv_key("interaction", id))
            .await
            .map_err(castellan_domain::DomainError::from)?;
        Ok(())
    }

    /// Records that the user signed in during the interaction (with a session whose cookie
    /// the browser now holds).
    pub async fn signed_in(&self, id: &str, session: SessionId) -> Result<(), AuthorizeError> {
        let mut interaction = self.interaction(id).await?;
        interaction.signed_in = Some(session);
        self.save_interaction(&interaction).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use castellan_domain::{Email, OrganizationId, PlatformRole, UserId};

    /// The instant the tests happen at: only the differences between times matter here.
    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn interaction() -> Interaction {
        Interaction {
            id: "i".to_owned(),
            client_id: ClientId::parse("c").unwrap(),
            client_name: "App".to_owned(),
            first_party: false,
            redirect_uri: RedirectUri::parse("https://app.example/cb").unwrap(),
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
        let now = now();
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
            granted_at: now(),
        }
    }

    #[test]
    fn the_flow_asks_for_sign_in_then_consent_then_issues() {
        let now = now();
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
        let now = now();
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
        let now = now();
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
    fn the_organization_is_settled_after_sign_in_and_before_consent() {
        let now = now();
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
