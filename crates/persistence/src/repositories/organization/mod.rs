//! The organization ports over the database, one file per port: organizations, memberships,
//! roles, groups, invitations and domains. One repository implements them all, over the
//! `organizations` table and the tables that hang off it.

mod domains;
mod groups;
mod invitations;
mod memberships;
mod organizations;
mod roles;

use crate::Database;

/// The organization ports ([`castellan_domain::OrganizationStore`],
/// [`castellan_domain::MembershipStore`], [`castellan_domain::RoleStore`],
/// [`castellan_domain::GroupStore`], [`castellan_domain::InvitationStore`],
/// [`castellan_domain::DomainStore`]) on the database.
#[derive(Debug, Clone)]
pub struct SqlOrganizationRepository {
    database: Database,
}

impl SqlOrganizationRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}
