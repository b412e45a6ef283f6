//! The SAML connections of organizations as a use case: platform administrators and members
//! holding `sso:manage` create, read, change and delete them; sign-in reads enabled ones
//! without a caller. The protocol details (metadata, keys) are checked by the `sso` crate
//! before a record reaches this service; here the ownership, the role mapping and the audit
//! trail are decided.

use std::sync::Arc;

use uuid::Uuid;

use super::connection::{SamlConnectionRecord, SamlConnectionStore};
use crate::accounts::Principal;
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::org::{Authorized, OrganizationAccess, OrganizationId, SsoManage};
use crate::session::RequestContext;
use crate::{Clock, DomainError};

/// SAML connection management.
#[derive(Debug, Clone)]
pub struct SamlConnectionService {
    store: Arc<dyn SamlConnectionStore>,
    access: OrganizationAccess,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
}

impl SamlConnectionService {
    /// A service over `store`, checking callers with `access`.
    pub fn new(
        store: Arc<dyn SamlConnectionStore>,
        access: OrganizationAccess,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            access,
            events,
            clock,
        }
    }

    /// The proof that `caller` manages single sign-on of `organization`.
    pub async fn authorize(
        &self,
        caller: Principal,
        organization: OrganizationId,
    ) -> Result<Authorized<SsoManage>, DomainError> {
        self.access.authorize(caller, organization).await
    }

    /// Stores a new connection of the scope's organization; its role mapping must name roles
    /// the organization has.
    pub async fn create(
        &self,
        scope: &Authorized<SsoManage>,
        mut record: SamlConnectionRecord,
        context: &RequestContext,
    ) -> Result<SamlConnectionRecord, DomainError> {
        record.organization_id = scope.organization();
        self.check_roles(&mut record).await?;
        let now = self.clock.now();
        record.created_at = now;
        record.updated_at = now;
        self.store.create_connection(&record).await?;
        self.record(AuditAction::SsoConnectionCreated, scope, record.id, context)
            .await?;
        Ok(record)
    }

    /// The connections `caller` may manage: every one for a platform administrator (or one
    /// organization's, when named), else those of `organization`, which the caller must manage.
    pub async fn list(
        &self,
        caller: Principal,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<SamlConnectionRecord>, DomainError> {
        match organization {
            Some(id) => {
                self.authorize(caller, id).await?;
                self.store.connections(Some(id)).await
            }
            None if caller.user.role.is_admin() => self.store.connections(None).await,
            None => Err(DomainError::invalid(
                "organization_id",
                "name the organization whose connections to list",
            )),
        }
    }

    /// One connection with the proof that `caller` manages it; a connection of an organization
    /// the caller does not belong to is not found, like one that does not exist.
    pub async fn get(
        &self,
        caller: Principal,
        id: Uuid,
    ) -> Result<(Authorized<SsoManage>, SamlConnectionRecord), DomainError> {
        let record = self
            .store
            .connection(id)
            .await?
            .ok_or(DomainError::NotFound("SAML connection"))?;
        let scope = match self.authorize(caller, record.organization_id).await {
            Err(DomainError::NotFound(_)) => return Err(DomainError::NotFound("SAML connection")),
            other => other?,
        };
        Ok((scope, record))
    }

    /// Saves a changed connection (its id, organization and creation time stay).
    pub async fn update(
        &self,
        scope: &Authorized<SsoManage>,
        before: &SamlConnectionRecord,
        mut record: SamlConnectionRecord,
        context: &RequestContext,
    ) -> Result<SamlConnectionRecord, DomainError> {
        if before.organization_id != scope.organization() {
            return Err(DomainError::NotFound("SAML connection"));
        }
        record.id = before.id;
        record.organization_id = before.organization_id;
        record.created_at = before.created_at;
        record.updated_at = self.clock.now();
        self.check_roles(&mut record).await?;
        self.store.update_connection(&record).await?;
        self.record(AuditAction::SsoConnectionUpdated, scope, record.id, context)
            .await?;
        Ok(record)
    }

    /// Deletes a connection and the identities linked through it.
    pub async fn delete(
        &self,
        scope: &Authorized<SsoManage>,
        record: &SamlConnectionRecord,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        if record.organization_id != scope.organization()
            || !self.store.delete_connection(record.id).await?
        {
            return Err(DomainError::NotFound("SAML connection"));
        }
        self.record(AuditAction::SsoConnectionDeleted, scope, record.id, context)
            .await
    }

    /// A connection with no caller, enabled or not, for what its IdP reads (the SP metadata
    /// is public, and an IdP is set up before the connection is switched on).
    pub async fn stored(&self, id: Uuid) -> Result<SamlConnectionRecord, DomainError> {
        self.store
            .connection(id)
            .await?
            .ok_or(DomainError::NotFound("SAML connection"))
    }

    /// An enabled connection, for sign-in (no caller: the browser is not signed in yet).
    pub async fn enabled(&self, id: Uuid) -> Result<SamlConnectionRecord, DomainError> {
        self.store
            .connection(id)
            .await?
            .filter(|record| record.enabled)
            .ok_or(DomainError::NotFound("SAML connection"))
    }

    /// The first enabled connection of an organization, for sign-in.
    pub async fn enabled_for(
        &self,
        organization: OrganizationId,
    ) -> Result<SamlConnectionRecord, DomainError> {
        self.store
            .connections(Some(organization))
            .await?
            .into_iter()
            .find(|record| record.enabled)
            .ok_or(DomainError::NotFound("SAML connection"))
    }

    /// The first enabled connection to the IdP `idp_entity_id` that accepts IdP-initiated
    /// Responses, for an unsolicited Response.
    pub async fn unsolicited_for(
        &self,
        idp_entity_id: &str,
    ) -> Result<Option<SamlConnectionRecord>, DomainError> {
        let mut candidates = self.store.connections_of_idp(idp_entity_id).await?;
        candidates.retain(|record| record.enabled);
        // One that allows them, else any: its refusal names the rule.
        let allowing = candidates
            .iter()
            .position(|record| record.allow_unsolicited);
        Ok(match allowing {
            Some(index) => Some(candidates.swap_remove(index)),
            None => candidates.into_iter().next(),
        })
    }

    /// Checks the roles a record's mapping names, in its organization, keeping their canonical
    /// form.
    async fn check_roles(&self, record: &mut SamlConnectionRecord) -> Result<(), DomainError> {
        let id = record.organization_id;
        record.roles.default_role = self
            .access
            .check_role(id, &record.roles.default_role)
            .await?;
        for rule in &mut record.roles.rules {
            if rule.group.trim().is_empty() {
                return Err(DomainError::invalid(
                    "group_role_mapping",
                    "a rule needs the group's name",
                ));
            }
            rule.role = self.access.check_role(id, &rule.role).await?;
        }
        Ok(())
    }

    async fn record(
        &self,
        action: AuditAction,
        scope: &Authorized<SsoManage>,
        id: Uuid,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.events
            .record(
                AuditEvent::new(action, self.clock.now(), context)
                    .by(scope.principal().user.id)
                    .on(scope.organization())
                    .note(format!("connection={id}")),
            )
            .await
    }
}
