//! Extractors whose rejections are the API's own errors, so a malformed body answers in the
//! `/api/v1` format and names the field at fault, and the OAuth endpoints' form body, whose
//! errors are RFC 6749's.

mod fields;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use castellan_oidc::provider::OAuthError;
use serde::Deserializer;
use serde::de::value::{Error as DeError, MapDeserializer};
use serde::de::{DeserializeOwned, IntoDeserializer, Visitor};

pub use fields::FieldError;

use crate::error::{ApiError, ErrorCode, OAuthFailure};

/// `axum::Json` with `/api/v1` errors: 400 for broken JSON, 415 without a JSON content type,
/// 422 naming every field when the JSON does not fit the expected shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "Expected a body with Content-Type: application/json",
            ));
        }
        let body = read_body(request, state).await?;
        json_body(&body).map(Self)
    }
}

/// A body as JSON or as `application/x-www-form-urlencoded` (clients send both), with the
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
        if !is_form(request.headers()) {
            return ApiJson::from_request(request, state)
                .await
                .map(|ApiJson(value)| Self(value));
        }
        let body = read_body(request, state).await?;
        fields::from_urlencoded(&body)
            .map(Self)
            .map_err(ApiError::invalid_fields)
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
        let body = read_body(request, state).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json_or_form(&headers, &body).map(Self)
    }
}

/// The query parameters as `T`, with `/api/v1` errors: 422 naming every parameter that does
/// not fit (`page: invalid digit found in string`), where axum's `Query` answers a bare 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        fields::from_urlencoded(query.as_bytes())
            .map(Self)
            .map_err(ApiError::invalid_fields)
    }
}

/// Two sets of query parameters read from one query (paging and filters), with the errors of
/// [`ApiQuery`] for both at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQueries<A, B>(pub A, pub B);

impl<S, A, B> FromRequestParts<S> for ApiQueries<A, B>
where
    A: DeserializeOwned,
    B: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default().as_bytes();
        match (
            fields::from_urlencoded(query),
            fields::from_urlencoded(query),
        ) {
            (Ok(first), Ok(second)) => Ok(Self(first, second)),
            (first, second) => {
                let mut errors = first.err().unwrap_or_default();
                errors.extend(second.err().unwrap_or_default());
                Err(ApiError::invalid_fields(errors))
            }
        }
    }
}

/// The whole body, or the `/api/v1` error of a body that could not be read (413 over the
/// limit).
async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            let status = rejection.status();
            let detail = if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                "The request body is too large".to_owned()
            } else {
                rejection.body_text()
            };
            ApiError::new(status, ErrorCode::for_status(status), detail)
        })
}

/// Whether the content type is JSON (`application/json` or `application/*+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

/// A JSON body as `T`: 400 when it is not JSON, 422 naming every field that does not fit.
fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    match axum::Json::<T>::from_bytes(body) {
        Ok(axum::Json(value)) => Ok(value),
        Err(JsonRejection::JsonDataError(_)) => {
            fields::from_json(body).map_err(ApiError::invalid_fields)
        }
        Err(rejection) => Err(json_rejection(&rejection)),
    }
}

/// An OAuth request body (RFC 6749 section 3.2): `application/x-www-form-urlencoded`,
/// decoded once, every parameter at most once.
pub(crate) struct OAuthForm(Vec<(String, String)>);

impl OAuthForm {
    /// Decodes `body`, refusing another content type, a malformed body and a repeated
    /// parameter.
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthFailure> {
        if !is_form(headers) {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            )
            .into());
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::invalid_request("the form body is malformed"))?;
        let mut seen = std::collections::HashSet::new();
        for (name, _) in &pairs {
            if !seen.insert(name.as_str()) {
                return Err(OAuthError::invalid_request(format!(
                    "the parameter {name} is repeated"
                ))
                .into());
            }
        }
        Ok(Self(pairs))
    }

    /// The value of the parameter `name`, when it was sent.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The parameters as `T`, whose fields are (optional) strings like every OAuth parameter.
    pub(crate) fn parse_into<T: DeserializeOwned>(&self) -> Result<T, OAuthFailure> {
        let pairs = self
            .0
            .iter()
            .map(|(name, value)| (name.as_str(), FormValue(value)));
        T::deserialize(MapDeserializer::<_, DeError>::new(pairs)).map_err(|error| {
            OAuthError::invalid_request(format!("the form is invalid: {error}")).into()
        })
    }
}

/// One decoded form value: a string, present (so `Some` for an `Option` field).
struct FormValue<'a>(&'a str);

impl<'de> IntoDeserializer<'de, DeError> for FormValue<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for FormValue<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
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
        fields::from_urlencoded(body).map_err(ApiError::invalid_fields)
    } else {
        json_body(body)
    }
}

/// A JSON value already read (a body taken as a whole first) as `T`, with 422 naming every
/// field that does not fit.
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    fields::from_value(value).map_err(ApiError::invalid_fields)
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
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
            body["detail"]
                .as_str()
                .unwrap()
                .contains("email: is required"),
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

    fn form_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers
    }

    #[derive(Deserialize)]
    struct Probe {
        present: Option<String>,
        absent: Option<String>,
    }

    #[test]
    fn an_oauth_form_is_decoded_once_into_named_and_typed_fields() {
        let form = OAuthForm::parse(&form_headers(), b"present=a%20b&other=x").unwrap();
        assert_eq!(form.get("other"), Some("x"));
        assert_eq!(form.get("absent"), None);
        let probe: Probe = form.parse_into().unwrap();
        assert_eq!(probe.present.as_deref(), Some("a b"));
        assert!(probe.absent.is_none());
    }

    #[test]
    fn an_oauth_form_refuses_a_repeated_parameter_and_other_content_types() {
        let Err(repeated) = OAuthForm::parse(&form_headers(), b"a=1&b=2&a=3") else {
            panic!("a repeated parameter was accepted");
        };
        assert_eq!(repeated.0.description, "the parameter a is repeated");
        let Err(json) = OAuthForm::parse(&HeaderMap::new(), b"a=1") else {
            panic!("a body without the form content type was accepted");
        };
        assert_eq!(
            json.0.description,
            "the body must be application/x-www-form-urlencoded"
        );
    }
}
