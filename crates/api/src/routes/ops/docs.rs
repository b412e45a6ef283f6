//! The OpenAPI document and an interactive page to read it. The page loads Swagger UI from a
//! CDN when viewed; nothing is downloaded at build time.

use std::sync::Arc;

use axum::Json;
use axum::http::header;
use axum::response::{Html, IntoResponse};

/// The page's own policy: this origin plus the one CDN the viewer comes from.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; \
style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://cdn.jsdelivr.net; \
connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Castellan API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
<noscript>The interactive viewer needs JavaScript. The raw document is at <a href="/openapi.json">/openapi.json</a>.</noscript>
<div id="swagger-ui"><p>Loading the viewer&hellip; The raw document is at <a href="/openapi.json">/openapi.json</a>.</p></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js" crossorigin="anonymous"></script>
<script>
window.addEventListener("load", function () {
  if (window.SwaggerUIBundle) {
    window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
  }
});
</script>
</body>
</html>
"##;

/// `GET /openapi.json`.
pub async fn openapi_json(document: Arc<utoipa::openapi::OpenApi>) -> impl IntoResponse {
    Json(document)
}

/// `GET /docs`.
pub async fn docs_page() -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, DOCS_CSP)],
        Html(DOCS_PAGE),
    )
}
