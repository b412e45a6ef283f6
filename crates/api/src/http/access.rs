//! Permission checks in one typed place: a handler names the permission it needs in its
//! signature (`OrgAccess<MembersWrite>`, `OrgAccess<RolesWrite, OfRole>`,
//! `OrgRequest<RolesWrite, Body>`, `PlatformAdmin`), and the extractor resolves the caller and
//! the organization (from the path, the query, the body or the token's organization scope),
//! has the organization service check the permission, and hands the handler the service's
//! proof of it ([`Authorized`]), which the organization-scoped use cases require. No handler
//! checks roles by hand.

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use castellan_domain::org::{Authorized, Requirement};
use castellan_domain::{OrganizationId, Principal};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::extract::JsonOrForm;
use crate::http::auth::Authenticated;
use crate::state::AppState;

pub use castellan_domain::org::{
    AnyMember, MembersRead, MembersWrite, OrgManage, OrgRead, RolesRead, RolesWrite,
};

/// Where a route finds the organization it acts on.
pub trait OrgSource: Send + Sync {
    /// What a 404 says when the request names no organization the caller can see.
    const MISSING: &'static str = "No such organization";

    /// The organization of the request; `None` when it names none.
    fn organization(
        parts: &mut Parts,
        state: &AppState,
        caller: &Principal,
    ) -> impl Future<Output = Result<Option<OrganizationId>, ApiError>> + Send;
}

/// The path's `{org_id}` (or `{id}` on `/organizations/{id}`).
#[derive(Debug)]
pub struct InPath;

impl OrgSource for InPath {
    async fn organization(
        parts: &mut Parts,
        state: &AppState,
        _caller: &Principal,
    ) -> Result<Option<OrganizationId>, ApiError> {
        let Ok(Path(params)) =
            Path::<HashMap<String, String>>::from_request_parts(parts, state).await
        else {
            return Ok(None);
        };
        Ok(params
            .get("org_id")
            .or_else(|| params.get("id"))
            .and_then(|id| parse_organization(id)))
    }
}

/// The `organization_id` query parameter, else the organization the caller's token is scoped
/// to.
#[derive(Debug)]
pub struct InQueryOrToken;

impl OrgSource for InQueryOrToken {
    async fn organization(
        parts: &mut Parts,
        _state: &AppState,
        caller: &Principal,
    ) -> Result<Option<OrganizationId>, ApiError> {
        let query: HashMap<String, String> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).unwrap_or_default();
        Ok(match query.get("organization_id") {
            Some(id) => parse_organization(id),
            None => caller.token.organization,
        })
    }
}

/// The organization owning the custom role `{id}` of the path.
#[derive(Debug)]
pub struct OfRole;

impl OrgSource for OfRole {
    const MISSING: &'static str = "No such role";

    async fn organization(
        parts: &mut Parts,
        state: &AppState,
        _caller: &Principal,
    ) -> Result<Option<OrganizationId>, ApiError> {
        let Ok(Path(id)) = Path::<String>::from_request_parts(parts, state).await else {
            return Ok(None);
        };
        let Ok(role) = uuid::Uuid::parse_str(&id) else {
            return Ok(None);
        };
        Ok(state.organizations.roles.organization_of(role).await?)
    }
}

fn parse_organization(id: &str) -> Option<OrganizationId> {
    uuid::Uuid::parse_str(id).ok().map(OrganizationId)
}

/// A caller allowed `P` in the organization the request names, found through `S` (the path
/// by default). Outside the caller's organizations the answer is 404, so other tenants stay
/// invisible; a member without the permission gets 403.
#[derive(Debug)]
pub struct OrgAccess<P, S = InPath> {
    /// The service's proof that the caller is allowed `P` in the organization.
    pub scope: Authorized<P>,
    source: PhantomData<S>,
}

impl<P: Requirement, S: OrgSource> FromRequestParts<AppState> for OrgAccess<P, S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Authenticated::from_request_parts(parts, state).await?;
        let id = S::organization(parts, state, &caller.principal)
            .await?
            .ok_or_else(|| ApiError::not_found(S::MISSING))?;
        checked(caller.principal, id, state).await
    }
}

/// `principal` with `P` checked in the organization: outside it, a 404 saying `S::MISSING`.
async fn checked<P: Requirement, S: OrgSource>(
    principal: Principal,
    id: OrganizationId,
    state: &AppState,
) -> Result<OrgAccess<P, S>, ApiError> {
    match state
        .organizations
        .access
        .authorize::<P>(principal, id)
        .await
    {
        Ok(scope) => Ok(OrgAccess {
            scope,
            source: PhantomData,
        }),
        Err(castellan_domain::DomainError::NotFound(_)) => Err(ApiError::not_found(S::MISSING)),
        Err(other) => Err(other.into()),
    }
}

/// A request body that names the organization it acts on.
pub trait NamesOrganization {
    /// The organization id as sent.
    fn organization_id(&self) -> Option<&str>;
}

/// A body naming its organization, with the caller allowed `P` there (the body's
/// `organization_id`, else the organization of the caller's token).
#[derive(Debug)]
pub struct OrgRequest<P, T> {
    /// The caller and organization.
    pub access: OrgAccess<P>,
    /// The body.
    pub body: T,
}

impl<P, T> FromRequest<AppState> for OrgRequest<P, T>
where
    P: Requirement,
    T: DeserializeOwned + NamesOrganization + Send,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let caller = Authenticated::from_request_parts(&mut parts, state).await?;
        let JsonOrForm(body) =
            JsonOrForm::<T>::from_request(Request::from_parts(parts, body), state).await?;
        let id = match body.organization_id() {
            Some(id) => parse_organization(id),
            None => caller.principal.token.organization,
        }
        .ok_or_else(|| ApiError::not_found(InPath::MISSING))?;
        Ok(Self {
            access: checked(caller.principal, id, state).await?,
            body,
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
