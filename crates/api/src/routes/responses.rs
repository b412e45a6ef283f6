//! The answers an operation gives whatever its handler does, added to the OpenAPI document from
//! what each operation declares, so the document cannot forget them: 401 where it takes a bearer
//! token, 403 where the platform's second-factor rule or the cookie mode's CSRF check can
//! refuse it, 400/413/415/422 where it takes a body, 422 where it takes query parameters, and
//! 429 for the per-IP limits of `/api/v1`; the browser endpoints under `/api/v1` (the SAML
//! ACS) document the same refusals as pages. An answer the handler documents itself keeps its own
//! description.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder};

use crate::http::api_errors::is_api_path;
use crate::http::auth::ENROLMENT_PATHS;
use crate::routes::pages::PAGE_PATHS;

/// Adds the shared answers to every operation of `openapi`.
pub fn complete(openapi: &mut OpenApi) {
    for (path, item) in &mut openapi.paths.paths {
        let operations = [
            (false, item.get.as_mut()),
            (true, item.put.as_mut()),
            (true, item.post.as_mut()),
            (true, item.delete.as_mut()),
            (true, item.patch.as_mut()),
        ];
        for (changes_state, operation) in operations {
            if let Some(operation) = operation {
                complete_operation(path, changes_state, operation);
            }
        }
    }
}

fn complete_operation(path: &str, changes_state: bool, operation: &mut Operation) {
    if PAGE_PATHS.contains(&path) {
        // A browser endpoint under the API's prefix (the SAML ACS): its refusals are pages.
        for (status, description) in [
            ("400", "The form cannot be read (an HTML page)"),
            (
                "413",
                "The body is larger than server.body_limit_bytes (an HTML page)",
            ),
            ("415", "The body is not a form (an HTML page)"),
            ("422", "The form cannot be read (an HTML page)"),
            ("429", "Rate limited, with Retry-After (an HTML page)"),
        ] {
            add_page(operation, status, description);
        }
        return;
    }
    if !is_api_path(path) {
        return;
    }
    let bearer = operation.security.as_ref().is_some_and(|requirements| {
        requirements
            .iter()
            .any(|requirement| *requirement != SecurityRequirement::default())
    });
    if bearer {
        add(
            operation,
            "401",
            "The access token is missing, invalid, expired or revoked (TOKEN_ERROR)",
        );
        let enrolment = ENROLMENT_PATHS
            .iter()
            .any(|prefix| path.starts_with(prefix));
        match (changes_state, enrolment) {
            (true, false) => add(
                operation,
                "403",
                "Not allowed (AUTHORIZATION_ERROR): the server requires a second factor this \
                 session has not enrolled yet, or a cookie-authenticated request lacks the \
                 X-CSRF-Token header",
            ),
            (true, true) => add(
                operation,
                "403",
                "A cookie-authenticated request lacks the X-CSRF-Token header \
                 (AUTHORIZATION_ERROR)",
            ),
            (false, false) => add(
                operation,
                "403",
                "The server requires a second factor this session has not enrolled yet \
                 (AUTHORIZATION_ERROR)",
            ),
            (false, true) => {}
        }
    }
    if let Some(body) = &operation.request_body {
        let required = body_required(body);
        add(
            operation,
            "400",
            "The body is not valid JSON, or the request is malformed (BAD_REQUEST)",
        );
        add(
            operation,
            "413",
            "The body is larger than server.body_limit_bytes (PAYLOAD_TOO_LARGE)",
        );
        if required {
            add(
                operation,
                "415",
                "The body is neither JSON nor a form (UNSUPPORTED_MEDIA_TYPE)",
            );
        }
        add(
            operation,
            "422",
            "A field is missing or invalid; every one is named (VALIDATION_ERROR)",
        );
    }
    let queries = operation.parameters.as_ref().is_some_and(|parameters| {
        parameters
            .iter()
            .any(|parameter| parameter.parameter_in == ParameterIn::Query)
    });
    if queries {
        add(
            operation,
            "422",
            "A query parameter is invalid; every one is named (VALIDATION_ERROR)",
        );
    }
    add(
        operation,
        "429",
        "Rate limited (RATE_LIMIT_ERROR), with Retry-After",
    );
}

fn body_required(body: &RequestBody) -> bool {
    matches!(body.required, Some(Required::True))
}

/// Documents `status` with the `/api/v1` error body, unless the operation documents it already.
fn add(operation: &mut Operation, status: &str, description: &str) {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    add_as(operation, status, description, "application/json", body);
}

/// Documents `status` as an HTML page, unless the operation documents it already.
fn add_page(operation: &mut Operation, status: &str, description: &str) {
    let page = ContentBuilder::new().build();
    add_as(operation, status, description, "text/html", page);
}

fn add_as(
    operation: &mut Operation,
    status: &str,
    description: &str,
    content_type: &str,
    content: Content,
) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(content_type, content)
                    .build(),
            )
        });
}
