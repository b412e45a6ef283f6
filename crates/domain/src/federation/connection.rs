//! A SAML connection as stored: an organization's IdP, the SP's own sealed key, and how its
//! assertions map onto accounts and roles. The `sso` crate turns a record into its protocol
//! configuration; the domain keeps the protocol settings as the names that crate defines.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;
use crate::org::OrganizationId;

/// Which assertion attributes carry the user's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeNames {
    /// The email address attribute.
    pub email: String,
    /// The given name attribute.
    pub given_name: String,
    /// The family name attribute.
    pub family_name: String,
    /// The attribute listing the user's groups.
    pub groups: String,
}

/// One rule of a [`RoleMapping`]: members of `group` at the IdP get `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRole {
    /// The group as the IdP names it.
    pub group: String,
    /// A built-in role name or a custom role's id in the connection's organization.
    pub role: String,
}

/// How IdP groups become organization roles: the first rule whose group the user is in wins;
/// a user in none of them joins with `default_role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleMapping {
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<GroupRole>,
    /// The role of a new member whom no rule matches.
    pub default_role: String,
}

impl Default for RoleMapping {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            default_role: "member".to_owned(),
        }
    }
}

impl RoleMapping {
    /// The role the first matching rule gives a user in `groups`.
    pub fn mapped_role(&self, groups: &[String]) -> Option<&str> {
        self.rules
            .iter()
            .find(|rule| groups.iter().any(|group| group == &rule.group))
            .map(|rule| rule.role.as_str())
    }
}

/// A stored SAML connection of one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlConnectionRecord {
    /// Id (also part of the SP's URLs).
    pub id: Uuid,
    /// The organization whose members sign in through it.
    pub organization_id: OrganizationId,
    /// The IdP product preset (`generic`, `okta`, `entra`, `adfs`, `google`).
    pub provider: String,
    /// The SP's entity id.
    pub sp_entity_id: String,
    /// The IdP's entity id.
    pub idp_entity_id: String,
    /// The IdP's SSO URL (HTTP-Redirect binding).
    pub idp_sso_url: String,
    /// The IdP's Single Logout URL, if it offers one.
    pub idp_slo_url: Option<String>,
    /// The IdP's signing certificates, base64 DER, several during a rollover.
    pub idp_certificates: Vec<String>,
    /// Where the IdP's metadata was fetched from, if it was.
    pub idp_metadata_url: Option<String>,
    /// When that metadata was last fetched.
    pub metadata_refreshed_at: Option<DateTime<Utc>>,
    /// Which parts must be signed (`either`, `response`, `assertion`, `both`).
    pub signed_parts: String,
    /// Whether IdP-initiated Responses are accepted.
    pub allow_unsolicited: bool,
    /// The NameID format asked for (`unspecified`, `email_address`, `persistent`, `transient`).
    pub name_id_format: String,
    /// Where the user's details are in the assertion.
    pub attributes: AttributeNames,
    /// Groups to roles.
    pub roles: RoleMapping,
    /// Whether every address this IdP asserts counts as verified (else only addresses in the
    /// organization's verified domains do).
    pub trust_email: bool,
    /// Whether sign-in through it is on.
    pub enabled: bool,
    /// The SP's private key (PKCS#8 PEM), sealed with the [`crate::SecretSealer`] and bound to
    /// the connection id.
    pub sealed_sp_key: Vec<u8>,
    /// The SP's certificate, PEM.
    pub sp_certificate: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Storage of SAML connections.
#[async_trait::async_trait]
pub trait SamlConnectionStore: Send + Sync + std::fmt::Debug {
    /// Stores a new connection.
    async fn create_connection(&self, connection: &SamlConnectionRecord)
    -> Result<(), DomainError>;
    /// By id.
    async fn connection(&self, id: Uuid) -> Result<Option<SamlConnectionRecord>, DomainError>;
    /// Every connection, or only one organization's, oldest first.
    async fn connections(
        &self,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<SamlConnectionRecord>, DomainError>;
    /// The connections that trust the IdP with this entity id, oldest first.
    async fn connections_of_idp(
        &self,
        idp_entity_id: &str,
    ) -> Result<Vec<SamlConnectionRecord>, DomainError>;
    /// Saves every field of an existing connection; `NotFound` when it is gone.
    async fn update_connection(&self, connection: &SamlConnectionRecord)
    -> Result<(), DomainError>;
    /// Deletes a connection and the identities linked through it; false when there was none.
    async fn delete_connection(&self, id: Uuid) -> Result<bool, DomainError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(group: &str, role: &str) -> GroupRole {
        GroupRole {
            group: group.to_owned(),
            role: role.to_owned(),
        }
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let mapping = RoleMapping {
            rules: vec![rule("admins", "admin"), rule("staff", "viewer")],
            default_role: "member".to_owned(),
        };
        let groups = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            mapping.mapped_role(&groups(&["staff", "admins"])),
            Some("admin")
        );
        assert_eq!(mapping.mapped_role(&groups(&["staff"])), Some("viewer"));
        assert_eq!(mapping.mapped_role(&groups(&["Admins"])), None);
        assert_eq!(mapping.mapped_role(&[]), None);
    }

    #[test]
    fn a_mapping_reads_without_rules() {
        let mapping: RoleMapping =
            serde_json::from_str(r#"{"default_role":"viewer"}"#).unwrap_or_default();
        assert_eq!(mapping.default_role, "viewer");
        assert!(mapping.rules.is_empty());
    }
}
