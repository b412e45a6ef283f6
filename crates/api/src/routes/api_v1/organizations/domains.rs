//! Claimed email domains (`/api/v1/organizations/{org_id}/domains`): claim, verify by DNS or
//! by a platform operator, drop.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonOrForm, OptionalBody};
use crate::http::access::{OrgAccess, OrgManage, OrgRead};
use crate::http::client::Client;
use crate::state::AppState;

/// The DNS record that proves a domain claim.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainRecord {
    /// Always `TXT`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// Where to publish it.
    #[schema(example = "_castellan-verification.acme.example")]
    name: String,
    /// What it must say.
    #[schema(example = "castellan-verification=5f0c...")]
    value: String,
}

/// A domain an organization claims.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainBody {
    /// Id.
    id: String,
    /// The domain.
    #[schema(example = "acme.example")]
    domain: String,
    /// Whether it is verified.
    verified: bool,
    /// When it was verified.
    verified_at: Option<DateTime<Utc>>,
    /// How: `dns` or `operator`.
    verified_by: Option<String>,
    /// The record to publish for DNS verification.
    verification: DomainRecord,
    /// When it was claimed.
    created_at: DateTime<Utc>,
}

impl From<&castellan_domain::OrganizationDomain> for DomainBody {
    fn from(claim: &castellan_domain::OrganizationDomain) -> Self {
        Self {
            id: claim.id.to_string(),
            domain: claim.domain.clone(),
            verified: claim.verified_at.is_some(),
            verified_at: claim.verified_at,
            verified_by: claim.verified_by.clone(),
            verification: DomainRecord {
                kind: "TXT",
                name: claim.record_name(),
                value: claim.record_value(),
            },
            created_at: claim.created_at,
        }
    }
}

/// The organization's claimed email domains (`org:read`).
#[utoipa::path(get, path = "/organizations/{org_id}/domains", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, body = [DomainBody]),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn domains(
    State(state): State<AppState>,
    access: OrgAccess<OrgRead>,
) -> Result<Json<Vec<DomainBody>>, ApiError> {
    let claims = state.organizations.domains.list(&access.scope).await?;
    Ok(Json(claims.iter().map(DomainBody::from).collect()))
}

/// A domain to claim.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DomainRequest {
    /// The domain.
    #[schema(example = "acme.example")]
    domain: String,
}

/// Claim an email domain; publish the returned TXT record, then verify (`org:manage`).
#[utoipa::path(post, path = "/organizations/{org_id}/domains", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    request_body(content = DomainRequest, content_type = "application/json"),
    responses(
        (status = 201, body = DomainBody),
        (status = 403, description = "Not allowed (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 409, description = "Already claimed by this organization (CONFLICT_ERROR)", body = ErrorBody),
        (status = 422, description = "Not a domain name (VALIDATION_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn add_domain(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<OrgManage>,
    JsonOrForm(request): JsonOrForm<DomainRequest>,
) -> Result<(StatusCode, Json<DomainBody>), ApiError> {
    let claim = state
        .organizations
        .domains
        .add(&access.scope, &request.domain, &context)
        .await?;
    Ok((StatusCode::CREATED, Json(DomainBody::from(&claim))))
}

/// How to verify a domain.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VerifyDomainRequest {
    /// `dns` (default: look up the TXT record) or `operator` (a platform admin vouches).
    #[serde(default)]
    method: Option<String>,
}

/// Verify a claimed domain by its DNS TXT record, or as a platform operator (`org:manage`).
#[utoipa::path(post, path = "/organizations/{org_id}/domains/{domain}/verify", tag = "organizations", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("domain" = String, Path, description = "The claimed domain"),
    ),
    request_body(content = Option<VerifyDomainRequest>, content_type = "application/json", description = "Optional"),
    responses(
        (status = 200, body = DomainBody),
        (status = 400, description = "DNS verification is off (CONFIGURATION_ERROR)", body = ErrorBody),
        (status = 403, description = "Operator verification by a non-admin (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "No such claim (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 409, description = "Verified by another organization (CONFLICT_ERROR)", body = ErrorBody),
        (status = 422, description = "The TXT record is not there yet (VALIDATION_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn verify_domain(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<OrgManage>,
    Path(path): Path<(String, String)>,
    OptionalBody(request): OptionalBody<VerifyDomainRequest>,
) -> Result<Json<DomainBody>, ApiError> {
    let how = castellan_domain::Verification::parse(request.method.as_deref())?;
    let claim = state
        .organizations
        .domains
        .verify(&access.scope, &path.1, how, &context)
        .await?;
    Ok(Json(DomainBody::from(&claim)))
}

/// Drop a claimed domain (`org:manage`).
#[utoipa::path(delete, path = "/organizations/{org_id}/domains/{domain}", tag = "organizations", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("domain" = String, Path, description = "The claimed domain"),
    ),
    responses(
        (status = 204, description = "Dropped"),
        (status = 404, description = "No such claim (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn remove_domain(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<OrgManage>,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .domains
        .remove(&access.scope, &path.1, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
