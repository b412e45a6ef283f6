//! The consent step: the user's answer on the consent page.

use castellan_domain::{Consent, SessionId};

use super::{AuthorizeError, Resolution};
use crate::provider::OidcProvider;
use crate::provider::error::{OAuthError, OAuthErrorCode};

impl OidcProvider {
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
        let Some((_, user)) = self.ports.session_service.active_session(session).await? else {
            return self.resume(id, None).await;
        };
        if !approve {
            let refusal = OAuthError::new(OAuthErrorCode::AccessDenied, "the user refused");
            return self.refuse(&interaction, &refusal).await;
        }
        let mut scopes: Vec<String> = self
            .ports
            .consents
            .get(user.id, interaction.client_id.as_str())
            .await?
            .map(|consent| consent.scopes)
            .unwrap_or_default();
        for scope in interaction.scopes().iter() {
            if !scopes.iter().any(|granted| granted == scope) {
                scopes.push(scope.to_owned());
            }
        }
        self.ports
            .consents
            .put(&Consent {
                user_id: user.id,
                client_id: interaction.client_id.to_string(),
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
}
