//! Castellan's database schema, one forward-only migration per change, named
//! `mYYYYMMDD_HHMMSS_verb_object`. Every migration runs on SQLite and PostgreSQL; the
//! persistence crate's tests apply them all on both.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_leases;
mod m20261123_000002_create_accounts;
mod m20261123_000003_create_audit_events;
mod m20261123_000004_create_signing_keys;
mod m20261123_000005_create_oauth;
mod m20261201_000006_create_second_factors;
mod m20261201_000007_create_mail;
mod m20261201_000008_create_organizations;
mod m20261201_000009_create_consent_records;
mod m20261201_000010_scope_sessions_to_organizations;
mod m20261201_000011_create_roles;
mod m20261201_000012_create_invitations;
mod m20261201_000013_create_groups;
mod m20261201_000014_scope_client_grants_to_organizations;
mod m20261201_000015_create_organization_domains;
mod m20261202_000016_create_link_requests;
mod m20261202_000017_create_saml_connections;
mod m20261202_000018_rename_sso_permission;

/// Applies Castellan's migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_leases::Migration),
            Box::new(m20261123_000002_create_accounts::Migration),
            Box::new(m20261123_000003_create_audit_events::Migration),
            Box::new(m20261123_000004_create_signing_keys::Migration),
            Box::new(m20261123_000005_create_oauth::Migration),
            Box::new(m20261201_000006_create_second_factors::Migration),
            Box::new(m20261201_000007_create_mail::Migration),
            Box::new(m20261201_000008_create_organizations::Migration),
            Box::new(m20261201_000009_create_consent_records::Migration),
            Box::new(m20261201_000010_scope_sessions_to_organizations::Migration),
            Box::new(m20261201_000011_create_roles::Migration),
            Box::new(m20261201_000012_create_invitations::Migration),
            Box::new(m20261201_000013_create_groups::Migration),
            Box::new(m20261201_000014_scope_client_grants_to_organizations::Migration),
            Box::new(m20261201_000015_create_organization_domains::Migration),
            Box::new(m20261202_000016_create_link_requests::Migration),
            Box::new(m20261202_000017_create_saml_connections::Migration),
            Box::new(m20261202_000018_rename_sso_permission::Migration),
        ]
    }
}
