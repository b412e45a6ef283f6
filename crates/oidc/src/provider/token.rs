//! The token endpoint: `authorization_code` (single use, bound to client, redirect URI and PKCE
//! verifier; a replay revokes what the code issued), `refresh_token` (rotation with reuse
//! detection; scope may only narrow), `client_credentials`, and the device grant.

use castellan_domain::client::{
    GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN,
};
use castellan_domain::{
    AuditAction, AuditEvent, DomainError, OAuthClient, OrgClaims, OrganizationId, RequestContext,
    Session, User,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::authorize::{CodeGrant, USED_CODE_MEMORY, pkce_matches};
use super::claims::{ClientAccessClaims, requested_claims, user_claims};
use super::error::{OAuthError, OAuthErrorCode};
use super::{OidcProvider, kv_key, normalise_scope, scopes_within};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A token request's body (without the client authentication fields).
#[derive(Clone, Default, Deserialize)]
pub struct TokenRequest {
    /// The grant.
    pub grant_type: Option<String>,
    /// `authorization_code`: the code.
    pub code: Option<String>,
    /// `authorization_code`: the redirect URI of the authorization request.
    pub redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier.
    pub code_verifier: Option<String>,
    /// `refresh_token`: the token.
    pub refresh_token: Option<String>,
    /// Requested (narrower) scope.
    pub scope: Option<String>,
    /// Device grant: the device code.
    pub device_code: Option<String>,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A successful token response (RFC 6749 section 5.1 plus `id_token`).
#[derive(Clone, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// A refresh token, when `offline_access` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The ID token, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The granted scopes.
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// What a used code issued, remembered to undo it on replay.
#[derive(Debug, Serialize, Deserialize)]
struct UsedCode {
    jti: String,
    exp: i64,
    grant_id: Option<Uuid>,
}

/// A signed access token and what the deny-list needs of it.
pub(super) struct MintedAccess {
    pub token: String,
    pub jti: String,
    pub exp: i64,
    pub expires_in: u64,
}

/// `at_hash` (OIDC Core 3.1.3.6): the left half of the access token's hash with the ID
/// token's algorithm's hash function, base64url; Ed25519 signs with SHA-512 inside, so EdDSA
/// uses SHA-512 here, as relying-party libraries expect.
fn at_hash(access_token: &str, algorithm: &str) -> String {
    if algorithm == "EdDSA" {
        let digest = sha2::Sha512::digest(access_token.as_bytes());
        URL_SAFE_NO_PAD.encode(&digest[..32])
    } else {
        let digest = Sha256::digest(access_token.as_bytes());
        URL_SAFE_NO_PAD.encode(&digest[..16])
    }
}

/// The user-facing part of a token response: who, in which session, with which scopes.
pub(super) struct UserGrant<'a> {
    pub client: &'a OAuthClient,
    pub session: &'a Session,
    pub user: &'a User,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub claims: Option<&'a Value>,
    /// The organization the tokens are scoped to.
    pub organization: Option<OrganizationId>,
}

impl OidcProvider {
    /// Handles a token request from an authenticated client.
    pub async fn token(
        &self,
        client: &OAuthClient,
        request: TokenRequest,
        context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type = request
            .grant_type
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
        let known = [
            GRANT_AUTHORIZATION_CODE,
            GRANT_REFRESH_TOKEN,
            GRANT_CLIENT_CREDENTIALS,
            GRANT_DEVICE_CODE,
        ];
        if !known.contains(&grant_type) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                format!("grant_type {grant_type:?} is not supported"),
            ));
        }
        if !client.metadata.allows(grant_type) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                format!("this client may not use the {grant_type} grant"),
            ));
        }
        match grant_type {
            GRANT_AUTHORIZATION_CODE => self.exchange_code(client, &request, context).await,
            GRANT_REFRESH_TOKEN => self.refresh_grant(client, &request, context).await,
            GRANT_CLIENT_CREDENTIALS => self.client_credentials(client, &request).await,
            _ => self.device_grant(client, &request).await,
        }
    }

    async fn exchange_code(
        &self,
        client: &OAuthClient,
        request: &TokenRequest,
        context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let code = request
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let Some(bytes) = self.ports.kv.take(&kv_key("code", code)).await? else {
            self.code_replayed(code, context).await?;
            return Err(OAuthError::invalid_grant(
                "the code is invalid, expired or already used",
            ));
        };
        let grant: CodeGrant = serde_json::from_slice(&bytes)
            .map_err(|error| DomainError::Storage(format!("stored code: {error}")))?;
        if grant.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        match request.redirect_uri.as_deref() {
            Some(uri) if uri == grant.redirect_uri => {}
            None if !grant.redirect_uri_given => {}
            _ => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri does not match the authorization request",
                ));
            }
        }
        match (&grant.code_challenge, request.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
            (None, None) => {}
            (Some(_), None) => {
                return Err(OAuthError::invalid_grant("code_verifier is missing"));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier given but the authorization request had no code_challenge",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_grant("code_verifier does not match"));
            }
        }
        let Some((session, user)) = self.ports.accounts.active_session(grant.session_id).await?
        else {
            return Err(OAuthError::invalid_grant("the sign-in session has ended"));
        };
        let (response, jti, exp, grant_id) = self
            .user_tokens(
                UserGrant {
                    client,
                    session: &session,
                    user: &user,
                    scope: &grant.scope,
                    nonce: grant.nonce.as_deref(),
                    claims: grant.claims.as_ref(),
                    organization: grant.organization,
                },
                None,
            )
            .await?;
        let used = serde_json::to_vec(&UsedCode { jti, exp, grant_id })
            .map_err(|error| DomainError::Storage(error.to_string()))?;
        self.ports
            .kv
            .set(&kv_key("used-code", code), &used, Some(USED_CODE_MEMORY))
            .await?;
        Ok(response)
    }

    /// A code came back after it was exchanged: revoke what it issued.
    async fn code_replayed(&self, code: &str, context: &RequestContext) -> Result<(), OAuthError> {
        let Some(bytes) = self.ports.kv.take(&kv_key("used-code", code)).await? else {
            return Ok(());
        };
        let Ok(used) = serde_json::from_slice::<UsedCode>(&bytes) else {
            return Ok(());
        };
        self.deny_token(&used.jti, used.exp).await?;
        if let Some(grant_id) = used.grant_id {
            self.ports.accounts.revoke_grant(grant_id).await?;
        }
        self.ports
            .events
            .record(
                AuditEvent::new(AuditAction::CodeReplay, self.now(), context)
                    .on(&used.jti)
                    .failed("an authorization code was used twice; its tokens were revoked"),
            )
            .await?;
        Ok(())
    }

    async fn refresh_grant(
        &self,
        client: &OAuthClient,
        request: &TokenRequest,
        context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let token = request
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        // A narrower scope is checked before the token is touched, so a refused request
        // leaves it usable.
        if let Some(requested) = request.scope.as_deref() {
            let Some((record, _)) = self.ports.accounts.inspect_refresh(token).await? else {
                return Err(OAuthError::invalid_grant(
                    "the refresh token is invalid or expired",
                ));
            };
            let granted = record.scope.as_deref().unwrap_or_default();
            if !scopes_within(requested, granted) {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds what was granted",
                ));
            }
        }
        let exchange = self
            .ports
            .accounts
            .exchange_refresh(token, Some(&client.client_id), context)
            .await
            .map_err(|error| match error {
                DomainError::InvalidToken => {
                    OAuthError::invalid_grant("the refresh token is invalid, expired or reused")
                }
                other => other.into(),
            })?;
        let granted = exchange.record.scope.clone().unwrap_or_default();
        let scope = request
            .scope
            .as_deref()
            .map_or_else(|| granted.clone(), normalise_scope);
        let (mut response, ..) = self
            .user_tokens(
                UserGrant {
                    client,
                    session: &exchange.session,
                    user: &exchange.user,
                    scope: &scope,
                    nonce: None,
                    claims: None,
                    organization: exchange.record.organization_id,
                },
                Some(exchange.token),
            )
            .await?;
        response.scope = scope;
        Ok(response)
    }

    async fn client_credentials(
        &self,
        client: &OAuthClient,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        // Scopes about a user mean nothing without one.
        let allowed: String = client
            .metadata
            .scopes()
            .filter(|scope| !matches!(*scope, "openid" | "offline_access" | "organization"))
            .collect::<Vec<_>>()
            .join(" ");
        let scope = match request.scope.as_deref() {
            Some(requested) => {
                let requested = normalise_scope(requested);
                if !scopes_within(&requested, &allowed) {
                    return Err(OAuthError::invalid_scope(
                        "a requested scope is not allowed for this client",
                    ));
                }
                requested
            }
            None => allowed,
        };
        let access = self
            .mint_access(client, &client.client_id, &scope, None, Vec::new(), None)
            .await?;
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token: None,
            id_token: None,
            scope,
        })
    }

    /// Signs an access token for `client` about `subject`, within `session` when a user
    /// signed in, scoped to `organization` when one was chosen.
    pub(super) async fn mint_access(
        &self,
        client: &OAuthClient,
        subject: &str,
        scope: &str,
        session: Option<&Session>,
        userinfo_claims: Vec<String>,
        organization: Option<&OrgClaims>,
    ) -> Result<MintedAccess, OAuthError> {
        let now = self.now().timestamp();
        let lifetime = self.access_lifetime(client);
        let exp = now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
        let claims = ClientAccessClaims {
            iss: self.settings.issuer.clone(),
            sub: subject.to_owned(),
            aud: client.client_id.clone(),
            exp,
            iat: now,
            nbf: now,
            jti: Uuid::now_v7().to_string(),
            client_id: client.client_id.clone(),
            scope: scope.to_owned(),
            sid: session.map(|session| session.id.to_string()),
            auth_time: session.map(|session| session.created_at.timestamp()),
            userinfo_claims,
            org_id: organization.map(|org| org.id.clone()),
            org_slug: organization.map(|org| org.slug.clone()),
            roles: organization
                .map(|org| org.roles.clone())
                .unwrap_or_default(),
            permissions: organization
                .map(|org| org.permissions.clone())
                .unwrap_or_default(),
        };
        let token = self.ports.tokens.sign(&claims, "at+jwt").await?;
        Ok(MintedAccess {
            token,
            jti: claims.jti,
            exp,
            expires_in: lifetime.as_secs(),
        })
    }

    /// What tokens scoped to `organization` say about it: refused once the user left it or
    /// the organization's session lifetime has passed.
    async fn organization_claims(
        &self,
        organization: OrganizationId,
        session: &Session,
    ) -> Result<OrgClaims, OAuthError> {
        match self
            .ports
            .accounts
            .session_organization_claims(organization, session)
            .await
        {
            Ok(Some(claims)) => Ok(claims),
            Ok(None) => Err(OAuthError::invalid_grant(
                "the user is no longer a member of the organization",
            )),
            Err(DomainError::Forbidden(why)) => Err(OAuthError::invalid_grant(why)),
            Err(other) => Err(other.into()),
        }
    }

    /// Access token, ID token (with `openid`) and refresh token (with `offline_access` and the
    /// refresh grant) for a user. `rotated` is the refresh token a refresh grant just issued.
    /// Also returns the access token's id and expiry and the refresh grant's id.
    pub(super) async fn user_tokens(
        &self,
        grant: UserGrant<'_>,
        rotated: Option<String>,
    ) -> Result<(TokenResponse, String, i64, Option<Uuid>), OAuthError> {
        let UserGrant {
            client,
            session,
            user,
            scope,
            nonce,
            claims,
            organization: grant_organization,
        } = grant;
        let auth_time = session.created_at.timestamp();
        let has = |wanted: &str| scope.split_whitespace().any(|scope| scope == wanted);
        let organization = match grant_organization {
            Some(id) => Some(self.organization_claims(id, session).await?),
            None => None,
        };
        let access = self
            .mint_access(
                client,
                &user.id.to_string(),
                scope,
                Some(session),
                requested_claims(claims, "userinfo"),
                organization.as_ref(),
            )
            .await?;
        let id_token = if has("openid") {
            let mut body = Map::new();
            body.insert("iss".into(), self.settings.issuer.clone().into());
            body.insert("sub".into(), user.id.to_string().into());
            body.insert("aud".into(), client.client_id.clone().into());
            body.insert("azp".into(), client.client_id.clone().into());
            body.insert(
                "iat".into(),
                (access.exp - i64::try_from(access.expires_in).unwrap_or(0)).into(),
            );
            body.insert("exp".into(), access.exp.into());
            body.insert("auth_time".into(), auth_time.into());
            body.insert("sid".into(), session.id.to_string().into());
            body.insert("amr".into(), session.amr.clone().into());
            let acr = if session.amr.iter().any(|method| method == "mfa") {
                "2"
            } else {
                "1"
            };
            body.insert("acr".into(), acr.into());
            let algorithm = client.metadata.id_token_signed_response_alg.as_str();
            body.insert("at_hash".into(), at_hash(&access.token, algorithm).into());
            if let Some(nonce) = nonce {
                body.insert("nonce".into(), nonce.into());
            }
            if let Some(organization) = &organization {
                body.insert("org_id".into(), organization.id.clone().into());
                body.insert("org_slug".into(), organization.slug.clone().into());
            }
            let extra = requested_claims(claims, "id_token");
            for (name, value) in user_claims(user, scope, extra.iter().map(String::as_str)) {
                body.entry(name).or_insert(value);
            }
            Some(
                self.ports
                    .tokens
                    .sign_with(&Value::Object(body), "JWT", algorithm)
                    .await?,
            )
        } else {
            None
        };
        let wants_refresh = has("offline_access") && client.metadata.allows(GRANT_REFRESH_TOKEN);
        let (refresh_token, grant_id) = match rotated {
            Some(token) => (Some(token), None),
            None if wants_refresh => {
                let (token, grant_id) = self
                    .ports
                    .accounts
                    .issue_client_refresh(session, &client.client_id, scope, grant_organization)
                    .await?;
                (Some(token), Some(grant_id))
            }
            None => (None, None),
        };
        let jti = access.jti.clone();
        let exp = access.exp;
        Ok((
            TokenResponse {
                access_token: access.token,
                token_type: "Bearer",
                expires_in: access.expires_in,
                refresh_token,
                id_token,
                scope: scope.to_owned(),
            },
            jti,
            exp,
            grant_id,
        ))
    }
}
