//! Permission checks for organization-scoped routes, in one typed place: a handler names the
//! permission it needs in its signature (`OrgAccess<MembersWrite>`), and the extractor resolves
//! the caller, the organization from the path, and the caller's effective permissions. No
//! handler checks roles by hand.

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use castellan_domain::{OrganizationId, Principal};

use crate::error::ApiError;
use crate::http::auth::Authenticated;
use crate::state::AppState;

/// A permission a route needs.
pub trait Needs: Send + Sync {
    /// Its `resource:action` name.
    const PERMISSION: &'static str;
}

macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident = $permission:literal;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name;

            impl Needs for $name {
                const PERMISSION: &'static str = $permission;
            }
        )*
    };
}

permissions! {
    /// `org:read`.
    OrgRead = "org:read";
    /// `org:manage`.
    OrgManage = "org:manage";
    /// `members:read`.
    MembersRead = "members:read";
    /// `members:write`.
    MembersWrite = "members:write";
}

/// A caller allowed `P` in the organization named by the path (`{id}` or `{org_id}`). Outside
/// the caller's organizations the answer is 404, so other tenants stay invisible; a member
/// without the permission gets 403.
#[derive(Debug)]
pub struct OrgAccess<P> {
    /// Who is calling.
    pub principal: Principal,
    /// The organization.
    pub organization: OrganizationId,
    needs: PhantomData<P>,
}

impl<P: Needs> FromRequestParts<AppState> for OrgAccess<P> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Authenticated::from_request_parts(parts, state).await?;
        let not_found = || ApiError::not_found("No such organization");
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        let id = params
            .get("org_id")
            .or_else(|| params.get("id"))
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
            .map(OrganizationId)
            .ok_or_else(not_found)?;
        state
            .organizations
            .require(&caller.principal, id, P::PERMISSION)
            .await?;
        Ok(Self {
            principal: caller.principal,
            organization: id,
            needs: PhantomData,
        })
    }
}

/// A caller holding a platform administrator role; anyone else gets 403. Platform routes
/// name it in their signature, as organization routes name [`OrgAccess`].
#[derive(Debug)]
pub struct PlatformAdmin {
    /// Who is calling.
    pub principal: Principal,
}

impl FromRequestParts<AppState> for PlatformAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Authenticated::from_request_parts(parts, state).await?;
        castellan_domain::admin::require_admin(&caller.principal)?;
        Ok(Self {
            principal: caller.principal,
        })
    }
}
