//! SAML connections (`/api/v1/sso/configurations`): platform administrators and members
//! holding `sso:manage` create, list, read, change and delete an organization's connection to
//! its IdP; the SP metadata an IdP imports is served without authentication.
//!
//! The handler reads the IdP through `castellan-sso` (metadata XML, or entity id, SSO URL and
//! certificates), generates the connection's own SP key (sealed at rest by the master key),
//! and hands the record to the domain's `SamlConnectionService`, which checks the caller, the
//! role mapping and records the change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use castellan_domain::OrganizationId;
use castellan_domain::federation::{GroupRole, RoleMapping, SamlConnectionRecord};
use castellan_sso::{
    AttributeMapping, IdpCertificate, IdpDescriptor, Preset, SamlConnection, SamlError,
    SignedParts, SpCredentials, connection_from_record, parse_idp_metadata, seal_sp_key,
    sp_metadata_xml,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, JsonOrForm};
use crate::http::auth::Authenticated;
use crate::http::client::Client;
use crate::state::AppState;

/// The SAML connection routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, update, delete))
        .routes(routes!(metadata))
}

/// One rule of the group-to-role mapping.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupRoleBody {
    /// The group as the IdP names it.
    #[schema(example = "engineering-admins")]
    group: String,
    /// A built-in role or a custom role's id.
    #[schema(example = "admin")]
    role: String,
}

/// Which assertion attributes carry the user's details; left out: the provider's defaults.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttributeMappingBody {
    /// The email attribute.
    email: String,
    /// The given name attribute.
    given_name: String,
    /// The family name attribute.
    family_name: String,
    /// The groups attribute.
    groups: String,
}

/// A SAML connection to create. The IdP is given as `idp_metadata_xml`, or as
/// `idp_entity_id` + `idp_sso_url` + `idp_certificates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The organization whose members sign in through it.
    organization_id: Uuid,
    /// `generic`, `okta`, `entra`, `adfs` or `google` (defaults for NameID and attributes).
    #[serde(default = "generic")]
    #[schema(example = "okta")]
    provider: String,
    /// The IdP's metadata document.
    idp_metadata_xml: Option<String>,
    /// The IdP's entity id.
    idp_entity_id: Option<String>,
    /// The IdP's SSO URL (HTTP-Redirect binding).
    idp_sso_url: Option<String>,
    /// The IdP's signing certificates, PEM or base64 DER; several during a rollover.
    idp_certificates: Option<Vec<String>>,
    /// `either` (default), `response`, `assertion` or `both`.
    signed_parts: Option<String>,
    /// Accept IdP-initiated Responses (default false).
    #[serde(default)]
    allow_unsolicited: bool,
    /// Trust every address the IdP asserts as verified (default false: only addresses in the
    /// organization's verified domains link to existing accounts).
    #[serde(default)]
    trust_email: bool,
    /// Attribute names; left out: the provider's defaults.
    attribute_mapping: Option<AttributeMappingBody>,
    /// Groups to roles, first match wins.
    #[serde(default)]
    group_role_mapping: Vec<GroupRoleBody>,
    /// The role of a new member whom no rule matches (default `member`).
    default_role: Option<String>,
    /// Whether sign-in through it is on (default true).
    #[serde(default = "yes")]
    enabled: bool,
}

fn generic() -> String {
    Preset::Generic.as_str().to_owned()
}

fn yes() -> bool {
    true
}

/// Changes to a connection; left out: unchanged.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// New IdP metadata (replaces entity id, SSO URL and certificates).
    idp_metadata_xml: Option<String>,
    /// New IdP signing certificates.
    idp_certificates: Option<Vec<String>>,
    /// New SSO URL.
    idp_sso_url: Option<String>,
    /// `either`, `response`, `assertion` or `both`.
    signed_parts: Option<String>,
    /// Accept IdP-initiated Responses.
    allow_unsolicited: Option<bool>,
    /// Trust every address the IdP asserts.
    trust_email: Option<bool>,
    /// Attribute names.
    attribute_mapping: Option<AttributeMappingBody>,
    /// Groups to roles (replaces the rules).
    group_role_mapping: Option<Vec<GroupRoleBody>>,
    /// The role of a new member whom no rule matches.
    default_role: Option<String>,
    /// Whether sign-in through it is on.
    enabled: Option<bool>,
}

/// A SAML connection, with the URLs to give the IdP.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionBody {
    /// Id.
    id: Uuid,
    /// The organization.
    organization_id: Uuid,
    /// The provider preset.
    provider: String,
    /// The SP entity id (Audience) to give the IdP.
    sp_entity_id: String,
    /// The ACS URL (Reply URL) to give the IdP.
    acs_url: String,
    /// The SP metadata, for IdPs that import it.
    metadata_url: String,
    /// The SP's certificate (PEM): it signs AuthnRequests, and IdPs encrypt assertions to it.
    sp_certificate: String,
    /// The IdP's entity id.
    idp_entity_id: String,
    /// The IdP's SSO URL.
    idp_sso_url: String,
    /// How many IdP certificates are trusted.
    idp_certificate_count: usize,
    /// Which parts must be signed.
    signed_parts: String,
    /// Whether IdP-initiated Responses are accepted.
    allow_unsolicited: bool,
    /// Whether every asserted address counts as verified.
    trust_email: bool,
    /// Attribute names.
    attribute_mapping: AttributeMappingBody,
    /// Groups to roles.
    group_role_mapping: Vec<GroupRoleBody>,
    /// The role of a new member whom no rule matches.
    default_role: String,
    /// Whether sign-in through it is on.
    enabled: bool,
    /// Created.
    created_at: DateTime<Utc>,
    /// Last changed.
    updated_at: DateTime<Utc>,
}

fn body(state: &AppState, record: &SamlConnectionRecord) -> ConnectionBody {
    let names = &record.attributes;
    ConnectionBody {
        id: record.id,
        organization_id: record.organization_id.0,
        provider: record.provider.clone(),
        sp_entity_id: record.sp_entity_id.clone(),
        acs_url: state.saml.sign_in.acs_url().to_string(),
        metadata_url: metadata_url(state, record.id),
        sp_certificate: record.sp_certificate.clone(),
        idp_entity_id: record.idp_entity_id.clone(),
        idp_sso_url: record.idp_sso_url.clone(),
        idp_certificate_count: record.idp_certificates.len(),
        signed_parts: record.signed_parts.clone(),
        allow_unsolicited: record.allow_unsolicited,
        trust_email: record.trust_email,
        attribute_mapping: AttributeMappingBody {
            email: names.email.clone(),
            given_name: names.given_name.clone(),
            family_name: names.family_name.clone(),
            groups: names.groups.clone(),
        },
        group_role_mapping: record
            .roles
            .rules
            .iter()
            .map(|rule| GroupRoleBody {
                group: rule.group.clone(),
                role: rule.role.clone(),
            })
            .collect(),
        default_role: record.roles.default_role.clone(),
        enabled: record.enabled,
        created_at: record.created_at,
        updated_at: record.updated_at,
    }
}

fn issuer(state: &AppState) -> &str {
    state.config.issuer.trim_end_matches('/')
}

/// A connection id from the path; anything else names no connection.
fn connection_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found("No such connection"))
}

/// The SP metadata URL, which is also the SP entity id.
fn metadata_url(state: &AppState, id: Uuid) -> String {
    format!("{}/api/v1/sso/configurations/{id}/metadata", issuer(state))
}

/// A setting an administrator gave that `castellan-sso` refuses: 422 naming the field.
fn invalid(field: &'static str) -> impl Fn(SamlError) -> ApiError {
    move |error| match error {
        SamlError::Config(message) | SamlError::Metadata(message) | SamlError::Key(message) => {
            ApiError::from(castellan_domain::DomainError::invalid(field, message))
        }
        other => ApiError::internal(&other),
    }
}

fn certificates(texts: &[String]) -> Result<Vec<IdpCertificate>, ApiError> {
    texts
        .iter()
        .map(|text| IdpCertificate::parse(text).map_err(invalid("idp_certificates")))
        .collect()
}

fn parse_url(text: &str, field: &'static str) -> Result<Url, ApiError> {
    Url::parse(text)
        .map_err(|_| ApiError::from(castellan_domain::DomainError::invalid(field, "not a URL")))
}

/// The IdP as the request gives it.
fn idp_of(request: &CreateRequest) -> Result<IdpDescriptor, ApiError> {
    if let Some(xml) = &request.idp_metadata_xml {
        return parse_idp_metadata(xml).map_err(invalid("idp_metadata_xml"));
    }
    let missing = |field: &'static str| {
        ApiError::from(castellan_domain::DomainError::invalid(
            field,
            "give idp_metadata_xml, or idp_entity_id, idp_sso_url and idp_certificates",
        ))
    };
    Ok(IdpDescriptor {
        entity_id: request
            .idp_entity_id
            .clone()
            .ok_or_else(|| missing("idp_entity_id"))?,
        sso_redirect_url: parse_url(
            request
                .idp_sso_url
                .as_deref()
                .ok_or_else(|| missing("idp_sso_url"))?,
            "idp_sso_url",
        )?,
        slo_url: None,
        certificates: certificates(
            request
                .idp_certificates
                .as_deref()
                .ok_or_else(|| missing("idp_certificates"))?,
        )?,
    })
}

fn store_idp(record: &mut SamlConnectionRecord, idp: &IdpDescriptor) {
    record.idp_entity_id = idp.entity_id.clone();
    record.idp_sso_url = idp.sso_redirect_url.to_string();
    record.idp_slo_url = idp.slo_url.as_ref().map(Url::to_string);
    record.idp_certificates = idp
        .certificates
        .iter()
        .map(IdpCertificate::to_base64)
        .collect();
}

fn rules(rules: Vec<GroupRoleBody>) -> Vec<GroupRole> {
    rules
        .into_iter()
        .map(|rule| GroupRole {
            group: rule.group,
            role: rule.role,
        })
        .collect()
}

fn names(body: AttributeMappingBody) -> castellan_domain::federation::AttributeNames {
    castellan_domain::federation::AttributeNames {
        email: body.email,
        given_name: body.given_name,
        family_name: body.family_name,
        groups: body.groups,
    }
}

/// Checks a record the way sign-in will read it, so a stored connection always opens.
fn check(state: &AppState, record: &SamlConnectionRecord) -> Result<SamlConnection, ApiError> {
    let acs = state.saml.sign_in.acs_url().clone();
    connection_from_record(record, acs, state.saml.sealer.as_ref())
        .map_err(invalid("configuration"))
}

/// Create a SAML connection for an organization (`sso:manage`, or a platform admin).
#[utoipa::path(post, path = "/sso/configurations", tag = "sso", security(("bearer" = [])),
    request_body(content = CreateRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; give the IdP `sp_entity_id` and `acs_url`", body = ConnectionBody),
        (status = 403, description = "Not allowed (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 422, description = "Unusable IdP settings (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    JsonOrForm(request): JsonOrForm<CreateRequest>,
) -> Result<(StatusCode, Json<ConnectionBody>), ApiError> {
    let scope = state
        .saml
        .connections
        .authorize(caller.principal, OrganizationId(request.organization_id))
        .await?;
    let preset = Preset::parse(&request.provider).map_err(invalid("provider"))?;
    let idp = idp_of(&request)?;
    let signed_parts = match &request.signed_parts {
        Some(name) => SignedParts::parse(name).map_err(invalid("signed_parts"))?,
        None => SignedParts::Either,
    };
    let id = Uuid::now_v7();
    let common_name = Url::parse(&state.config.issuer)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| "castellan".to_owned());
    let (clock, random) = (state.saml.clock.clone(), state.random.clone());
    // RSA key generation is CPU-bound: off the async workers.
    let sp = tokio::task::spawn_blocking(move || {
        SpCredentials::generate(&common_name, clock.as_ref(), random.as_ref())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))?;
    let now = state.saml.clock.now();
    let mut record = SamlConnectionRecord {
        id,
        organization_id: scope.organization(),
        provider: preset.as_str().to_owned(),
        sp_entity_id: metadata_url(&state, id),
        idp_entity_id: String::new(),
        idp_sso_url: String::new(),
        idp_slo_url: None,
        idp_certificates: Vec::new(),
        idp_metadata_url: None,
        metadata_refreshed_at: None,
        signed_parts: signed_parts.as_str().to_owned(),
        allow_unsolicited: request.allow_unsolicited,
        name_id_format: preset.name_id_format().as_str().to_owned(),
        attributes: match request.attribute_mapping {
            Some(mapping) => names(mapping),
            None => (&AttributeMapping::for_preset(preset)).into(),
        },
        roles: RoleMapping {
            rules: rules(request.group_role_mapping),
            default_role: request.default_role.unwrap_or_else(|| "member".to_owned()),
        },
        trust_email: request.trust_email,
        enabled: request.enabled,
        sealed_sp_key: seal_sp_key(&sp, id.as_bytes(), state.saml.sealer.as_ref())
            .map_err(|e| ApiError::internal(&e))?,
        sp_certificate: sp.certificate_pem().map_err(|e| ApiError::internal(&e))?,
        created_at: now,
        updated_at: now,
    };
    store_idp(&mut record, &idp);
    check(&state, &record)?;
    let record = state
        .saml
        .connections
        .create(&scope, record, &context)
        .await?;
    Ok((StatusCode::CREATED, Json(body(&state, &record))))
}

/// Which connections to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this organization's (required unless the caller is a platform admin).
    organization_id: Option<Uuid>,
}

/// The SAML connections of an organization (`sso:manage`), or every one (platform admins).
#[utoipa::path(get, path = "/sso/configurations", tag = "sso", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = [ConnectionBody]),
        (status = 403, description = "Not allowed (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 422, description = "No organization named (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<ConnectionBody>>, ApiError> {
    let records = state
        .saml
        .connections
        .list(caller.principal, query.organization_id.map(OrganizationId))
        .await?;
    Ok(Json(records.iter().map(|r| body(&state, r)).collect()))
}

/// One SAML connection (`sso:manage`).
#[utoipa::path(get, path = "/sso/configurations/{id}", tag = "sso", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Connection id")),
    responses(
        (status = 200, body = ConnectionBody),
        (status = 403, description = "Not allowed (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "No such connection among the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn get(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ConnectionBody>, ApiError> {
    let id = connection_id(&id)?;
    let (_, record) = state.saml.connections.get(caller.principal, id).await?;
    Ok(Json(body(&state, &record)))
}

/// Change a SAML connection (`sso:manage`).
#[utoipa::path(patch, path = "/sso/configurations/{id}", tag = "sso", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Connection id")),
    request_body(content = UpdateRequest, content_type = "application/json"),
    responses(
        (status = 200, body = ConnectionBody),
        (status = 403, description = "Not allowed (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "No such connection among the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 422, description = "Unusable settings (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn update(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    Path(id): Path<String>,
    JsonOrForm(request): JsonOrForm<UpdateRequest>,
) -> Result<Json<ConnectionBody>, ApiError> {
    let id = connection_id(&id)?;
    let (scope, before) = state.saml.connections.get(caller.principal, id).await?;
    let mut record = before.clone();
    if let Some(xml) = &request.idp_metadata_xml {
        let idp = parse_idp_metadata(xml).map_err(invalid("idp_metadata_xml"))?;
        store_idp(&mut record, &idp);
    }
    if let Some(texts) = &request.idp_certificates {
        record.idp_certificates = certificates(texts)?
            .iter()
            .map(IdpCertificate::to_base64)
            .collect();
    }
    if let Some(url) = &request.idp_sso_url {
        record.idp_sso_url = parse_url(url, "idp_sso_url")?.to_string();
    }
    if let Some(name) = &request.signed_parts {
        record.signed_parts = SignedParts::parse(name)
            .map_err(invalid("signed_parts"))?
            .as_str()
            .to_owned();
    }
    if let Some(mapping) = request.attribute_mapping {
        record.attributes = names(mapping);
    }
    if let Some(mapping) = request.group_role_mapping {
        record.roles.rules = rules(mapping);
    }
    if let Some(role) = request.default_role {
        record.roles.default_role = role;
    }
    record.allow_unsolicited = request
        .allow_unsolicited
        .unwrap_or(record.allow_unsolicited);
    record.trust_email = request.trust_email.unwrap_or(record.trust_email);
    record.enabled = request.enabled.unwrap_or(record.enabled);
    check(&state, &record)?;
    let record = state
        .saml
        .connections
        .update(&scope, &before, record, &context)
        .await?;
    Ok(Json(body(&state, &record)))
}

/// Delete a SAML connection and the identities linked through it (`sso:manage`).
#[utoipa::path(delete, path = "/sso/configurations/{id}", tag = "sso", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Connection id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not allowed (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "No such connection among the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = connection_id(&id)?;
    let (scope, record) = state.saml.connections.get(caller.principal, id).await?;
    state
        .saml
        .connections
        .delete(&scope, &record, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The SP metadata of a connection, for the IdP to import (no authentication).
#[utoipa::path(get, path = "/sso/configurations/{id}/metadata", tag = "sso",
    params(("id" = Uuid, Path, description = "Connection id")),
    responses(
        (status = 200, description = "SAML 2.0 SP metadata", content_type = "application/samlmetadata+xml", body = String),
        (status = 404, description = "No such connection (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn metadata(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = connection_id(&id)?;
    let record = state.saml.connections.stored(id).await?;
    let connection = check(&state, &record)?;
    let xml = sp_metadata_xml(&connection).map_err(|e| ApiError::internal(&e))?;
    Ok((
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        xml,
    ))
}
