//! The claims of the tokens the provider issues, and the user claims each scope releases.

use castellan_domain::{Scope, User};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An access token issued to an OAuth client (RFC 9068 profile).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientAccessClaims {
    /// Issuer.
    pub iss: String,
    /// The user, or the client itself for `client_credentials`.
    pub sub: String,
    /// The client it was issued to.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    #[serde(default)]
    pub nbf: i64,
    /// Token id, for revocation.
    pub jti: String,
    /// The client.
    pub client_id: String,
    /// Granted scopes.
    #[serde(default)]
    pub scope: Scope,
    /// The session, when a user signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Individual userinfo claims asked for with the `claims` parameter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo_claims: Vec<String>,
    /// The organization the token is scoped to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// That organization's slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_slug: Option<String>,
    /// The user's roles in that organization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The user's effective permissions in that organization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// The refresh grant (token family) the token was issued under: revoking the family (its
    /// refresh token revoked or reused, its code replayed) ends the grant's access tokens too
    /// (RFC 7009 section 2.1, RFC 9700 section 4.14.2).
    #[serde(default, rename = "gid", skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<uuid::Uuid>,
}

impl ClientAccessClaims {
    /// True when the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.contains(scope)
    }
}

/// The claims of the standard scopes that Castellan stores.
fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &["name", "given_name", "family_name", "updated_at"],
        "email" => &["email", "email_verified"],
        _ => &[],
    }
}

/// The value of one user claim, when the user has it.
fn claim_value(user: &User, claim: &str) -> Option<Value> {
    match claim {
        "name" => {
            let name = [user.first_name.as_deref(), user.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!name.is_empty()).then_some(Value::String(name))
        }
        "given_name" => user.first_name.clone().map(Value::String),
        "family_name" => user.last_name.clone().map(Value::String),
        "updated_at" => Some(Value::from(user.updated_at.timestamp())),
        "email" => Some(Value::String(user.email.as_str().to_owned())),
        "email_verified" => Some(Value::Bool(user.email_verified)),
        _ => None,
    }
}

/// The user claims released for `scope` plus the individually requested `extra` claims.
pub fn user_claims<'a>(
    user: &User,
    scope: &Scope,
    extra: impl Iterator<Item = &'a str>,
) -> Map<String, Value> {
    let mut claims = Map::new();
    let names = scope
        .iter()
        .flat_map(|scope| scope_claims(scope).iter().copied())
        .chain(extra);
    for name in names {
        if let Some(value) = claim_value(user, name) {
            claims.insert(name.to_owned(), value);
        }
    }
    claims
}

/// The claim names the `claims` request parameter (OIDC Core 5.5) asks for under `member`
/// (`userinfo` or `id_token`).
pub fn requested_claims(claims: Option<&Value>, member: &str) -> Vec<String> {
    claims
        .and_then(|claims| claims.get(member))
        .and_then(Value::as_object)
        .map(|requested| requested.keys().cloned().collect())
        .unwrap_or_default()
}
