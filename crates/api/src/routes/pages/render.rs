//! Rendering a page: the headers every page carries (no caching, a strict content security
//! policy), the message page, and forms with their CSRF value.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

use crate::state::AppState;

/// Pages may submit forms whose answer redirects to a client, so `form-action` is left open;
/// everything else is as strict as the rest of the HTML.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Renders a template as an uncacheable HTML page.
pub(super) fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A page that only says something.
#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage<'a> {
    pub(super) heading: &'a str,
    pub(super) text: &'a str,
    pub(super) error: bool,
    pub(super) code: Option<&'a str>,
}

/// A message page; an error status marks it as an error.
pub(super) fn message(status: StatusCode, heading: &str, text: &str) -> Response {
    page(
        status,
        &MessagePage {
            heading,
            text,
            error: status.is_client_error() || status.is_server_error(),
            code: None,
        },
    )
}

/// The status and message of a page shown again with an error, or 200 without one.
pub(super) fn page_status(error: Option<(StatusCode, String)>) -> (StatusCode, Option<String>) {
    match error {
        Some((status, text)) => (status, Some(text)),
        None => (StatusCode::OK, None),
    }
}

/// A page whose form carries the CSRF value: renders it and sets the CSRF cookie when the
/// browser had none. `build` receives the value to embed.
pub(super) fn form_page<T: Template>(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    build: impl FnOnce(String) -> T,
) -> Response {
    let (csrf, cookie) = state.sso.form_csrf(&jar);
    let jar = match cookie {
        Some(cookie) => jar.add(cookie),
        None => jar,
    };
    (jar, page(status, &build(csrf))).into_response()
}

/// A rule's message as a sentence: capitalised, with one full stop.
pub(super) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!(
            "{}{}.",
            first.to_uppercase(),
            chars.as_str().trim_end_matches('.')
        ),
        None => String::new(),
    }
}
