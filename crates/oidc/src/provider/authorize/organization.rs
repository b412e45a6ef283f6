//! The organization step: which organization an authorization request asks its tokens to
//! be scoped to, and settling it for the signed-in user (named, the only one, or picked).

use castellan_domain::client::{ORGANIZATION_SCOPE, ORGANIZATION_SCOPE_PREFIX};
use castellan_domain::{DomainError, OrganizationId, Session, SessionId, User, UserId};
use serde::{Deserialize, Serialize};

use super::{AuthorizeError, Interaction, Resolution};
use crate::provider::OidcProvider;
use crate::provider::error::{OAuthError, OAuthErrorCode};

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
pub(super) fn organization_request(
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

/// How the organization of an interaction was settled.
pub(super) enum Settled {
    /// This one.
    Chosen(ChosenOrganization),
    /// The user must pick.
    Ask,
    /// Not allowed; the client hears this.
    Refused(OAuthError),
}

impl OidcProvider {
    /// Settles the organization without asking when the request named one or the user has
    /// only one; the user must belong to it and their sign-in meet its policy.
    pub(super) async fn settle_organization(
        &self,
        interaction: &Interaction,
        session: &Session,
        user: &User,
    ) -> Result<Settled, AuthorizeError> {
        let reference = match &interaction.organization {
            Some(OrganizationRequest::Named(reference)) => reference.clone(),
            Some(OrganizationRequest::Pick) => {
                let mut choices = self
                    .ports
                    .session_service
                    .organization_choices(user.id)
                    .await?;
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
            .session_service
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
            Some(session) => self.ports.session_service.active_session(session).await?,
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
