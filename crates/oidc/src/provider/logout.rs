//! Logout: RP-Initiated Logout 1.0 (validate the request, decide whether to ask the user,
//! where to return) and Back-Channel Logout 1.0 (a signed logout token POSTed to every client
//! that took part in the session, retried, failures logged).

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::{
    ClientId, OAuthClient, OutboundHttp, RequestContext, Session, SessionEndListener, SessionId,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::OidcProvider;
use super::authorize::with_query;
use super::error::OAuthError;

/// The parameters of an end-session request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogoutParams {
    /// An ID token the client holds for the user.
    pub id_token_hint: Option<String>,
    /// The client asking.
    pub client_id: Option<String>,
    /// Where to return afterwards (must be registered).
    pub post_logout_redirect_uri: Option<String>,
    /// Returned with the redirect.
    pub state: Option<String>,
    /// Preferred languages.
    pub ui_locales: Option<String>,
}

/// How to carry out a logout request.
#[derive(Debug, Clone, Default)]
pub struct LogoutPlan {
    /// Ask the user before signing out (the request could not prove it came from their app).
    pub confirm: bool,
    /// Where to send the browser afterwards.
    pub redirect: Option<String>,
    /// The client's name, for the confirmation page.
    pub client_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct IdTokenHint {
    aud: Audience,
    #[serde(default)]
    sid: Option<String>,
}

#[derive(Debug, Serialize)]
struct LogoutTokenClaims {
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    jti: String,
    sub: String,
    sid: String,
    events: serde_json::Value,
}

/// The waits before each retry of a logout token's delivery (after the first attempt).
const BACKCHANNEL_RETRIES: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(8),
];

impl OidcProvider {
    /// Checks an end-session request against the browser's session.
    pub async fn plan_logout(
        &self,
        params: &LogoutParams,
        browser: Option<SessionId>,
    ) -> Result<LogoutPlan, OAuthError> {
        let hint = match params.id_token_hint.as_deref() {
            Some(token) => Some(
                self.ports
                    .tokens
                    .decode::<IdTokenHint>(token, true)
                    .await
                    .map_err(|_| {
                        OAuthError::invalid_request(
                            "id_token_hint is not a valid ID token of this provider",
                        )
                    })?,
            ),
            None => None,
        };
        let hinted_client = hint.as_ref().and_then(|hint| match &hint.aud {
            Audience::One(aud) => Some(aud.clone()),
            Audience::Many(auds) => auds.first().cloned(),
        });
        let client_id = match (hinted_client, params.client_id.clone()) {
            (Some(hinted), Some(named)) if hinted != named => {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the id_token_hint",
                ));
            }
            (hinted, named) => hinted.or(named),
        };
        let client =
            match &client_id {
                Some(id) => {
                    let registered = match ClientId::parse(id) {
                        Some(id) => self.client(&id).await?,
                        None => None,
                    };
                    Some(registered.ok_or_else(|| {
                        OAuthError::invalid_request("the client is not registered")
                    })?)
                }
                None => None,
            };
        let redirect = match (&params.post_logout_redirect_uri, &client) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri needs id_token_hint or client_id",
                ));
            }
            (Some(uri), Some(client)) if client.metadata.accepts_post_logout_uri(uri) => {
                Some(match &params.state {
                    Some(state) => with_query(uri, &[("state", state)]),
                    None => uri.clone(),
                })
            }
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri is not registered for this client",
                ));
            }
        };
        let session_matches = match (&hint, browser) {
            (Some(hint), Some(session)) => hint.sid.as_deref() == Some(&session.to_string()),
            _ => false,
        };
        Ok(LogoutPlan {
            confirm: browser.is_some() && !session_matches,
            redirect,
            client_name: client.map(|client| client.metadata.client_name.clone()),
        })
    }

    /// Ends a browser session and tells every client that took part in it.
    pub async fn logout(
        &self,
        session: SessionId,
        context: &RequestContext,
    ) -> Result<(), OAuthError> {
        let Some(session) = self.ports.sessions.get(session).await? else {
            return Ok(());
        };
        // Ending it tells the clients too (see the SessionEndListener below).
        self.ports
            .session_service
            .end_session(&session, context)
            .await?;
        Ok(())
    }

    /// Sends logout tokens to the clients of a session that registered a back-channel URI.
    /// Delivery runs in the background with retries; failures are logged.
    pub async fn notify_backchannel(&self, session: &Session) -> Result<(), OAuthError> {
        for client_id in self.ports.participants.of(session.id).await? {
            let Some(id) = ClientId::parse(&client_id) else {
                continue;
            };
            let Some(client) = self.client(&id).await? else {
                continue;
            };
            let Some(uri) = client.metadata.backchannel_logout_uri.clone() else {
                continue;
            };
            let token = self.logout_token(&client, session).await?;
            let outbound = self.ports.outbound.clone();
            tokio::spawn(deliver_logout_token(outbound, uri, client_id, token));
        }
        Ok(())
    }

    async fn logout_token(
        &self,
        client: &OAuthClient,
        session: &Session,
    ) -> Result<String, OAuthError> {
        let now = self.now().timestamp();
        let claims = LogoutTokenClaims {
            iss: self.settings.issuer.clone(),
            aud: client.client_id.clone(),
            iat: now,
            exp: now + 120,
            jti: Uuid::now_v7().to_string(),
            sub: session.user_id.to_string(),
            sid: session.id.to_string(),
            events: json!({ "http://schemas.openid.net/event/backchannel-logout": {} }),
        };
        // Signed like the client's ID tokens, which its library already verifies.
        Ok(self
            .ports
            .tokens
            .sign_with(
                &claims,
                "logout+jwt",
                &client.metadata.id_token_signed_response_alg,
            )
            .await?)
    }
}

/// Every ended session, however it ended, reaches the clients that took part in it.
#[async_trait::async_trait]
impl SessionEndListener for OidcProvider {
    async fn sessions_ended(&self, sessions: &[SessionId]) {
        for id in sessions {
            let result: Result<(), OAuthError> = async {
                if let Some(session) = self.ports.sessions.get(*id).await? {
                    self.notify_backchannel(&session).await?;
                }
                Ok(())
            }
            .await;
            if let Err(error) = result {
                tracing::warn!(session = %id, %error, "cannot send back-channel logout");
            }
        }
    }
}

async fn deliver_logout_token(
    outbound: Arc<dyn OutboundHttp>,
    uri: String,
    client_id: String,
    token: String,
) {
    let mut last_error = String::new();
    let waits = std::iter::once(Duration::ZERO).chain(BACKCHANNEL_RETRIES);
    for (attempt, wait) in waits.enumerate() {
        if attempt > 0 {
            tracing::info!(%client_id, attempt, error = %last_error, "back-channel logout delivery failed; retrying");
        }
        tokio::time::sleep(wait).await;
        match outbound.post_form(&uri, &[("logout_token", &token)]).await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => last_error = format!("answered {}", response.status()),
            Err(error) => last_error = error.to_string(),
        }
    }
    tracing::warn!(%client_id, error = %last_error, "back-channel logout could not be delivered");
}
