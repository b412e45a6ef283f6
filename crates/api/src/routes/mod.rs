//! Route tables, one folder per surface: the REST API (`api_v1`), the OAuth 2 and OpenID
//! Connect endpoints with discovery (`oauth2`), the hosted pages (`pages`) and operations
//! (`ops`). Handlers are thin: extract, call one service, map the result.

pub mod api_v1;
pub mod oauth2;
pub mod ops;
pub mod pages;
mod responses;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The top of the OpenAPI document; paths are added by the routers that serve them.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Castellan",
        description = "Castellan's REST API and operations endpoints. Errors under /api/v1 \
            share one body: {\"detail\", \"error_code\", \"status_code\"}.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "operations", description = "Health probes and metrics"),
        (name = "meta", description = "Service liveness for API clients"),
        (name = "auth", description = "Sign-up, sign-in, refresh, logout"),
        (name = "account", description = "The signed-in user's profile, password and sessions"),
        (name = "mfa", description = "Second factors: TOTP, backup codes, the two-step sign-in"),
        (name = "passkeys", description = "WebAuthn passkeys: registration and sign-in"),
        (name = "email", description = "Email verification, password reset, magic links, email change"),
        (name = "organizations", description = "Organizations, memberships and permission checks"),
        (name = "sso", description = "SAML single sign-on: organizations' connections to their IdPs"),
        (name = "compliance", description = "Data export, erasure and the consent ledger"),
        (name = "admin", description = "Platform administration"),
        (name = "clients", description = "OAuth / OpenID Connect client administration"),
        (name = "discovery", description = "Keys and metadata for relying parties"),
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the protected routes refer to.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every documented route, with its OpenAPI description.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(oauth2::wellknown::router())
        .nest("/api/v1", api_v1::router())
}

/// The documented routes and their OpenAPI document, completed with the answers every
/// operation shares.
pub fn documented_parts() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = documented().split_for_parts();
    responses::complete(&mut openapi);
    (router, openapi)
}

/// The OpenAPI document of the REST API, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_parts().1
}
