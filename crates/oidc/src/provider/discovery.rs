//! The provider metadata (OpenID Connect Discovery 1.0, RFC 8414): exactly what is
//! implemented, nothing more.

use castellan_domain::client::{GRANT_TYPES, ID_TOKEN_ALGORITHMS, SCOPES};
use serde_json::{Value, json};

use super::ProviderSettings;

/// The discovery document for `settings`.
pub fn discovery_document(settings: &ProviderSettings) -> Value {
    let endpoint = |path: &str| settings.endpoint(path);
    let mut document = json!({
        "issuer": settings.issuer,
        "authorization_endpoint": endpoint("/oauth2/authorize"),
        "token_endpoint": endpoint("/oauth2/token"),
        "userinfo_endpoint": endpoint("/oauth2/userinfo"),
        "jwks_uri": endpoint("/.well-known/jwks.json"),
        "introspection_endpoint": endpoint("/oauth2/introspect"),
        "revocation_endpoint": endpoint("/oauth2/revoke"),
        "end_session_endpoint": endpoint("/oauth2/logout"),
        "device_authorization_endpoint": endpoint("/oauth2/device_authorization"),
        "pushed_authorization_request_endpoint": endpoint("/oauth2/par"),
        "require_pushed_authorization_requests": false,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ID_TOKEN_ALGORITHMS,
        "userinfo_signing_alg_values_supported": ["none"],
        "scopes_supported": SCOPES,
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp",
            "at_hash", "sid", "name", "given_name", "family_name", "updated_at", "email",
            "email_verified"
        ],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt", "none"
        ],
        "token_endpoint_auth_signing_alg_values_supported": [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt"
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt", "none"
        ],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "acr_values_supported": ["1", "2"],
    });
    if settings.dynamic_registration
        && let Some(map) = document.as_object_mut()
    {
        map.insert(
            "registration_endpoint".to_owned(),
            Value::String(endpoint("/oauth2/register")),
        );
    }
    document
}
