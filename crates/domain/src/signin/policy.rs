//! What an organization asks of a sign-in before a session is scoped to it: membership, a
//! second factor when its policy requires one, and one of the sign-in methods it allows.

use super::method::Amr;
use crate::error::DomainError;
use crate::org::OrganizationId;
use crate::token::{OrgClaims, OrganizationDirectory};
use crate::user::User;

/// The organization `reference` (id or slug) names and what `user` holds in it; `NotFound`
/// alike when there is no such organization and when the user is not a member.
pub(crate) async fn membership(
    directory: &dyn OrganizationDirectory,
    user: &User,
    reference: &str,
) -> Result<(OrganizationId, OrgClaims), DomainError> {
    let id = directory
        .resolve(reference)
        .await?
        .ok_or(DomainError::NotFound("organization"))?;
    let claims = directory
        .claims(id, user.id)
        .await?
        .ok_or(DomainError::NotFound("organization"))?;
    Ok((id, claims))
}

/// Refuses a sign-in (`amr`) that the organization's policy does not accept.
pub(crate) fn admits(claims: &OrgClaims, amr: &Amr) -> Result<(), DomainError> {
    if claims.mfa_required && !amr.is_strong() {
        return Err(DomainError::Forbidden(
            "this organization requires two-step sign-in; sign in with a second factor first",
        ));
    }
    let allowed = &claims.allowed_sign_in_methods;
    if !allowed.is_empty()
        && !amr
            .policy_names()
            .any(|method| allowed.iter().any(|name| name == method))
    {
        return Err(DomainError::Forbidden(
            "this organization does not allow the way this session signed in",
        ));
    }
    Ok(())
}
