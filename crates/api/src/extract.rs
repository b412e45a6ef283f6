//! Extractors whose rejections are the API's own errors, so a malformed body answers in the
//! `/api/v1` format and names the field at fault.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// `axum::Json` with `/api/v1` errors: 400 for broken JSON, 415 without a JSON content type,
/// 422 naming the field when the JSON does not fit the expected shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// A body as JSON or as `application/x-www-form-urlencoded` (the seeds send both), with the
/// same errors as [`ApiJson`].
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOrForm<T>(pub T);

impl<S, T> FromRequest<S> for JsonOrForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = is_form(request.headers());
        if !is_form {
            return ApiJson::from_request(request, state)
                .await
                .map(|ApiJson(value)| Self(value));
        }
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::validation(
                rejection
                    .body_text()
                    .trim_start_matches("Failed to deserialize form body: ")
                    .to_owned(),
            )),
        }
    }
}

/// A body that may be left out: an empty body gives `T::default()`, anything else is parsed
/// as [`JsonOrForm`] would.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalBody<T>(pub T);

impl<S, T> FromRequest<S> for OptionalBody<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError::new(
                    rejection.status(),
                    ErrorCode::for_status(rejection.status()),
                    rejection.body_text(),
                )
            })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json_or_form(&headers, &body).map(Self)
    }
}

pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

/// Parses an already-read body as a form or as JSON, with the errors of [`JsonOrForm`]; for
/// handlers whose body is optional.
pub fn parse_json_or_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    if is_form(headers) {
        serde_urlencoded::from_bytes(body).map_err(|error| ApiError::validation(error.to_string()))
    } else {
        axum::Json::<T>::from_bytes(body)
            .map(|axum::Json(value)| value)
            .map_err(|rejection| json_rejection(&rejection))
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(error) => {
            // axum's message carries serde's path to the field, e.g. "email: invalid type".
            let detail = error
                .body_text()
                .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
                .to_owned();
            ApiError::validation(detail)
        }
        JsonRejection::JsonSyntaxError(error) => ApiError::bad_request(format!(
            "The body is not valid JSON: {}",
            error
                .body_text()
                .trim_start_matches("Failed to parse the request body as JSON: ")
        )),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            rejection.status(),
            ErrorCode::UnsupportedMediaType,
            "Expected a body with Content-Type: application/json",
        ),
        other => ApiError::new(
            other.status(),
            ErrorCode::for_status(other.status()),
            other.body_text(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::post;
    use http_body_util::BodyExt;
    use serde::Deserialize;
    use tower::ServiceExt;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Signup {
        email: String,
        age: u8,
    }

    async fn call(content_type: Option<&str>, body: &str) -> (StatusCode, serde_json::Value) {
        let app = Router::new().route("/", post(|ApiJson(_): ApiJson<Signup>| async { "ok" }));
        let mut request = Request::post("/");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = app
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn a_wrongly_typed_field_is_named() {
        let (status, body) = call(Some("application/json"), r#"{"email":"a@b.c","age":"x"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error_code"], "VALIDATION_ERROR");
        assert_eq!(body["status_code"], 422);
        assert!(
            body["detail"].as_str().unwrap().starts_with("age:"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_missing_field_is_named() {
        let (status, body) = call(Some("application/json"), r#"{"age":3}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["detail"].as_str().unwrap().contains("`email`"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn broken_json_is_a_bad_request() {
        let (status, body) = call(Some("application/json"), r#"{"email":"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error_code"], "BAD_REQUEST");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("The body is not valid JSON")
        );
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_unsupported() {
        let (status, body) = call(Some("text/plain"), "hello").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["error_code"], "UNSUPPORTED_MEDIA_TYPE");
        let (status, _) = call(None, "{}").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
