//! Linked identities: which account an external subject (provider, issuer, subject) signs in
//! as, once it has been linked.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::DomainError;
use crate::user::UserId;

/// One external identity linked to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedLink {
    /// Row id.
    pub id: Uuid,
    /// The account it signs in as.
    pub user_id: UserId,
    /// The SAML connection or upstream provider it came through.
    pub provider_id: Uuid,
    /// The IdP's identifier.
    pub issuer: String,
    /// The IdP's identifier of the user.
    pub subject: String,
    /// The address the IdP asserted when the link was made.
    pub email: Option<String>,
    /// Linked.
    pub created_at: DateTime<Utc>,
    /// Last signed in through.
    pub last_used_at: DateTime<Utc>,
}

/// Storage of linked identities.
#[async_trait::async_trait]
pub trait FederatedIdentityStore: Send + Sync + std::fmt::Debug {
    /// The link of this subject through this provider.
    async fn find(
        &self,
        provider_id: Uuid,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<FederatedLink>, DomainError>;
    /// Stores a new link; `Conflict("federated identity")` when the subject is linked already.
    async fn link(&self, link: &FederatedLink) -> Result<(), DomainError>;
    /// Records a sign-in through the link.
    async fn touch(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), DomainError>;
    /// Every link of an account, oldest first.
    async fn links_of(&self, user: UserId) -> Result<Vec<FederatedLink>, DomainError>;
    /// Deletes a link; false when there was none.
    async fn unlink(&self, id: Uuid) -> Result<bool, DomainError>;
}
