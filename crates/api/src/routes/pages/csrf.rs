//! The one extractor of the pages' form posts: it decodes the form and checks its CSRF value
//! against the browser's cookie (double submit), so no handler can forget the check.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::errors::refused_page;
use super::render::message;
use crate::http::sso::SsoCookies;
use crate::state::AppState;

/// A form whose CSRF value matched the browser's cookie; refused with the "please try again"
/// page otherwise.
pub(super) struct CsrfForm<T>(pub(super) T);

/// The form as posted: the CSRF value beside the fields.
#[derive(Deserialize)]
struct Posted<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

/// The answer to a form whose CSRF value does not match.
fn csrf_refused() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Please try again",
        "The form expired or did not come from this site. Go back, reload the page and submit it again.",
    )
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let jar = match CookieJar::from_request_parts(&mut parts, state).await {
            Ok(jar) => jar,
            Err(never) => match never {},
        };
        let Form(posted) = Form::<Posted<T>>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|rejection| refused_page(rejection.status()))?;
        if !SsoCookies::form_csrf_matches(&jar, &posted.csrf) {
            return Err(csrf_refused());
        }
        Ok(Self(posted.form))
    }
}
