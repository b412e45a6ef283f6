//! The `saml_connections` table.

use sea_orm::entity::prelude::*;

/// A SAML connection of an organization.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "saml_connections")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The organization.
    pub organization_id: Uuid,
    /// The IdP product preset.
    pub provider: String,
    /// The SP's entity id.
    pub sp_entity_id: String,
    /// The IdP's entity id.
    pub idp_entity_id: String,
    /// The IdP's SSO URL.
    pub idp_sso_url: String,
    /// The IdP's Single Logout URL.
    pub idp_slo_url: Option<String>,
    /// The IdP's certificates, a JSON list of base64 DER.
    pub idp_certificates: String,
    /// Where the IdP's metadata came from.
    pub idp_metadata_url: Option<String>,
    /// When it was last fetched.
    pub metadata_refreshed_at: Option<DateTimeUtc>,
    /// Which parts must be signed.
    pub signed_parts: String,
    /// Whether IdP-initiated Responses are accepted.
    pub allow_unsolicited: bool,
    /// The NameID format asked for.
    pub name_id_format: String,
    /// The attribute mapping, JSON.
    pub attribute_mapping: String,
    /// The group-to-role mapping, JSON.
    pub role_mapping: String,
    /// Whether the IdP's addresses count as verified.
    pub trust_email: bool,
    /// Whether sign-in through it is on.
    pub enabled: bool,
    /// The SP's private key, sealed.
    pub sealed_sp_key: Vec<u8>,
    /// The SP's certificate, PEM.
    pub sp_certificate: String,
    /// Created.
    pub created_at: DateTimeUtc,
    /// Last changed.
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
