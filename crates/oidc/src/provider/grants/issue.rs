//! What the grants issue: signed access tokens, and for a user the ID token and refresh
//! token beside them, in the RFC 6749 section 5.1 answer.

use castellan_domain::client::GRANT_REFRESH_TOKEN;
use castellan_domain::{
    AccessToken, DomainError, OAuthClient, OrgClaims, OrganizationId, RefreshToken, Scope, Session,
    SessionId, User,
};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::provider::OidcProvider;
use crate::provider::claims::{ClientAccessClaims, requested_claims, user_claims};
use crate::provider::error::OAuthError;

/// A successful token response (RFC 6749 section 5.1 plus `id_token`).
#[derive(Clone, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// A refresh token, when `offline_access` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// The ID token, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The granted scopes.
    pub scope: Scope,
}

// Written out because the ID token carries the user's claims.
impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A signed access token and what the deny-list needs of it.
pub(in crate::provider) struct MintedAccess {
    pub token: AccessToken,
    pub jti: String,
    pub exp: i64,
    pub expires_in: u64,
}

/// The sign-in session an access token is issued within, and the refresh grant (token family)
/// it belongs to, when there is one.
#[derive(Clone, Copy)]
pub(in crate::provider) struct Within<'a> {
    pub session: &'a Session,
    pub grant_id: Option<Uuid>,
}

/// The user-facing part of a token response: for which client, with which scopes.
pub(in crate::provider) struct UserGrant<'a> {
    pub client: &'a OAuthClient,
    pub scope: &'a Scope,
    pub nonce: Option<&'a str>,
    pub claims: Option<&'a Value>,
    /// The organization the tokens are scoped to.
    pub organization: Option<OrganizationId>,
}

/// The tokens issued for a user, and what undoing them later needs.
pub(in crate::provider) struct UserTokens {
    /// The answer to the client.
    pub response: TokenResponse,
    /// The access token's id, for the deny-list.
    pub access_jti: String,
    /// The access token's expiry (Unix seconds), until which it stays on the deny-list.
    pub access_exp: i64,
    /// The refresh grant opened for these tokens, when one was.
    pub grant_id: Option<Uuid>,
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

impl OidcProvider {
    /// Signs an access token for `client` about `subject`, `within` a session and grant when a
    /// user signed in, scoped to `organization` when one was chosen.
    pub(in crate::provider) async fn mint_access(
        &self,
        client: &OAuthClient,
        subject: &str,
        scope: &Scope,
        within: Option<Within<'_>>,
        userinfo_claims: Vec<String>,
        organization: Option<&OrgClaims>,
    ) -> Result<MintedAccess, OAuthError> {
        let now = self.now().timestamp();
        let lifetime = self.access_lifetime(client);
        let session = within.map(|within| within.session);
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
            scope: scope.clone(),
            sid: session.map(|session| session.id.to_string()),
            grant_id: within.and_then(|within| within.grant_id),
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
            token: AccessToken::new(token),
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
            .session_service
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

    /// [`Self::user_tokens`] for the user of the sign-in session `session_id`, in which they
    /// approved the grant (a code's, a device's); refused once that session has ended.
    pub(in crate::provider) async fn session_tokens(
        &self,
        grant: UserGrant<'_>,
        session_id: SessionId,
    ) -> Result<UserTokens, OAuthError> {
        let Some((session, user)) = self
            .ports
            .session_service
            .active_session(session_id)
            .await?
        else {
            return Err(OAuthError::invalid_grant("the sign-in session has ended"));
        };
        self.user_tokens(grant, &session, &user, None).await
    }

    /// Access token, ID token (with `openid`) and refresh token (with `offline_access` and the
    /// refresh grant) for `user` in `session`. `rotated` is the refresh token a refresh grant
    /// just issued, with its grant id.
    pub(in crate::provider) async fn user_tokens(
        &self,
        grant: UserGrant<'_>,
        session: &Session,
        user: &User,
        rotated: Option<(RefreshToken, Uuid)>,
    ) -> Result<UserTokens, OAuthError> {
        let UserGrant {
            client,
            scope,
            claims,
            organization: grant_organization,
            ..
        } = grant;
        let organization = match grant_organization {
            Some(id) => Some(self.organization_claims(id, session).await?),
            None => None,
        };
        // The refresh token comes first: the access token names the family it belongs to.
        let wants_refresh =
            scope.contains("offline_access") && client.metadata.allows(GRANT_REFRESH_TOKEN);
        let (refresh_token, family, opened_grant) = match rotated {
            Some((token, grant_id)) => (Some(token), Some(grant_id), None),
            None if wants_refresh => {
                let (token, grant_id) = self
                    .ports
                    .session_service
                    .issue_client_refresh(
                        session,
                        &client.client_id,
                        &scope.to_string(),
                        grant_organization,
                    )
                    .await?;
                (Some(token), Some(grant_id), Some(grant_id))
            }
            None => (None, None, None),
        };
        let access = self
            .mint_access(
                client,
                &user.id.to_string(),
                scope,
                Some(Within {
                    session,
                    grant_id: family,
                }),
                requested_claims(claims, "userinfo"),
                organization.as_ref(),
            )
            .await?;
        let id_token = if scope.contains("openid") {
            let body = self.id_token_claims(&grant, session, user, &access, organization.as_ref());
            let algorithm = client.metadata.id_token_signed_response_alg.as_str();
            Some(
                self.ports
                    .tokens
                    .sign_with(&Value::Object(body), "JWT", algorithm)
                    .await?,
            )
        } else {
            None
        };
        Ok(UserTokens {
            access_jti: access.jti,
            access_exp: access.exp,
            grant_id: opened_grant,
            response: TokenResponse {
                access_token: access.token,
                token_type: "Bearer",
                expires_in: access.expires_in,
                refresh_token,
                id_token,
                scope: scope.clone(),
            },
        })
    }

    /// The ID token's claims (OIDC Core 2) for `user` in `session`, beside `access`.
    fn id_token_claims(
        &self,
        grant: &UserGrant<'_>,
        session: &Session,
        user: &User,
        access: &MintedAccess,
        organization: Option<&OrgClaims>,
    ) -> Map<String, Value> {
        let UserGrant {
            client,
            scope,
            nonce,
            claims,
            ..
        } = *grant;
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
        body.insert("auth_time".into(), session.created_at.timestamp().into());
        body.insert("sid".into(), session.id.to_string().into());
        body.insert("amr".into(), session.amr.clone().into());
        let acr = if session.amr.iter().any(|method| method == "mfa") {
            "2"
        } else {
            "1"
        };
        body.insert("acr".into(), acr.into());
        let algorithm = client.metadata.id_token_signed_response_alg.as_str();
        body.insert(
            "at_hash".into(),
            at_hash(access.token.expose(), algorithm).into(),
        );
        if let Some(nonce) = nonce {
            body.insert("nonce".into(), nonce.into());
        }
        if let Some(organization) = organization {
            body.insert("org_id".into(), organization.id.clone().into());
            body.insert("org_slug".into(), organization.slug.clone().into());
        }
        let extra = requested_claims(claims, "id_token");
        for (name, value) in user_claims(user, scope, extra.iter().map(String::as_str)) {
            body.entry(name).or_insert(value);
        }
        body
    }
}
