//! Operating the platform: figures for the admin dashboard and maintenance mode. Maintenance
//! lives in the key-value store, so every replica sees it at once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::accounts::Principal;
use crate::admin::{DirectoryPorts, require_admin};
use crate::audit::{AuditAction, AuditEvent, AuditLog};
use crate::org::OrganizationStore;
use crate::session::RequestContext;
use crate::user::UserQuery;

const MAINTENANCE_KEY: &str = "maintenance";

/// Platform figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformStats {
    /// Accounts.
    pub users: u64,
    /// Organizations.
    pub organizations: u64,
    /// Sessions not ended or expired.
    pub active_sessions: u64,
    /// Successful sign-ins in the last 24 hours.
    pub sign_ins_last_24h: u64,
}

/// Maintenance mode, when on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    /// What users are told.
    pub message: String,
    /// Since when.
    pub since: DateTime<Utc>,
    /// Which admin turned it on.
    pub by: String,
}

/// The operations use cases (platform admins only).
#[derive(Debug, Clone)]
pub struct PlatformService {
    directory: DirectoryPorts,
    organizations: Arc<dyn OrganizationStore>,
    audit: Arc<dyn AuditLog>,
}

impl PlatformService {
    /// A service over these adapters.
    pub fn new(
        directory: DirectoryPorts,
        organizations: Arc<dyn OrganizationStore>,
        audit: Arc<dyn AuditLog>,
    ) -> Self {
        Self {
            directory,
            organizations,
            audit,
        }
    }

    /// Users, organizations, active sessions and recent sign-ins.
    pub async fn stats(&self, actor: &Principal) -> Result<PlatformStats, DomainError> {
        require_admin(actor)?;
        let ports = &self.directory;
        let now = ports.clock.now();
        let users = ports
            .users
            .list(&UserQuery {
                page: 1,
                per_page: 1,
                search: None,
                role: None,
                email_verified: None,
            })
            .await?
            .total;
        let organizations = self.organizations.list(None, None, 1, 1).await?.total;
        Ok(PlatformStats {
            users,
            organizations,
            active_sessions: ports.sessions.count_active(now).await?,
            sign_ins_last_24h: self
                .audit
                .count_since(
                    AuditAction::SigninSucceeded,
                    now - chrono::Duration::hours(24),
                )
                .await?,
        })
    }

    /// Maintenance mode, when on.
    pub async fn maintenance(&self) -> Result<Option<Maintenance>, DomainError> {
        Ok(self
            .directory
            .kv
            .get(MAINTENANCE_KEY)
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Turns maintenance mode on (with a message) or off, for every replica.
    pub async fn set_maintenance(
        &self,
        actor: &Principal,
        on: Option<String>,
        context: &RequestContext,
    ) -> Result<Option<Maintenance>, DomainError> {
        require_admin(actor)?;
        let ports = &self.directory;
        let now = ports.clock.now();
        let state = match on {
            Some(message) => {
                let maintenance = Maintenance {
                    message,
                    since: now,
                    by: actor.user.id.to_string(),
                };
                let value = serde_json::to_vec(&maintenance)
                    .map_err(|error| DomainError::caused("encoding maintenance", error))?;
                ports.kv.set(MAINTENANCE_KEY, &value, None).await?;
                Some(maintenance)
            }
            None => {
                ports.kv.delete(MAINTENANCE_KEY).await?;
                None
            }
        };
        ports
            .events
            .record(
                AuditEvent::new(AuditAction::MaintenanceChanged, now, context)
                    .by(actor.user.id)
                    .note(if state.is_some() { "on" } else { "off" }),
            )
            .await?;
        Ok(state)
    }
}
