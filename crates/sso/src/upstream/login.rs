//! Starting an upstream login: an [`UpstreamClient`] (the provider's settings with its
//! discovered metadata) builds the authorization URL with `state`, `nonce` (OpenID Connect),
//! PKCE S256, the scopes and Castellan's callback URL, and answers the [`PendingLogin`] the
//! caller keeps bound to the browser until the callback.

use castellan_domain::{OutboundHttp, RandomSource};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthUrl, ClientId, ClientSecret, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::UpstreamError;
use super::discovery;
use super::http_client::PortClient;
use super::provider::{ProviderKind, ResponseMode, UpstreamProvider};

/// A provider ready for logins: its settings, Castellan's callback URL, and (for OpenID
/// Connect) the discovered metadata. Cheap to keep and reuse across logins.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    pub(crate) provider: UpstreamProvider,
    pub(crate) redirect_uri: RedirectUrl,
    pub(crate) metadata: Option<Box<CoreProviderMetadata>>,
}

/// What starting a login answers: where to send the browser, and what to keep for it.
#[derive(Debug)]
pub struct LoginStart {
    /// The provider's authorization URL the browser is redirected to.
    pub authorization_url: String,
    /// The secrets the callback is checked against; the caller stores them bound to this
    /// browser (a cookie naming a server-side record), for one use.
    pub pending: PendingLogin,
}

/// The secrets of one started login. `Debug` redacts them; `Serialize` writes them out for
/// the caller's server-side store only.
#[derive(Debug, Clone, Deserialize)]
pub struct PendingLogin {
    /// The slug of the provider the login was started with.
    pub provider: String,
    /// The `state` sent upstream, which the callback must return.
    pub state: SecretString,
    /// The `nonce` sent upstream, which the ID token must carry (OpenID Connect only).
    pub nonce: Option<SecretString>,
    /// The PKCE code verifier whose S256 challenge was sent upstream.
    pub pkce_verifier: SecretString,
}

impl Serialize for PendingLogin {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Stored<'a> {
            provider: &'a str,
            state: &'a str,
            nonce: Option<&'a str>,
            pkce_verifier: &'a str,
        }
        Stored {
            provider: &self.provider,
            state: self.state.expose_secret(),
            nonce: self.nonce.as_ref().map(|nonce| nonce.expose_secret()),
            pkce_verifier: self.pkce_verifier.expose_secret(),
        }
        .serialize(serializer)
    }
}

impl UpstreamClient {
    /// Checks `provider`'s settings and, for OpenID Connect, fetches its discovery document
    /// through `http`. `castellan_issuer` is Castellan's own issuer, under which the callback
    /// URL lives.
    pub async fn discover(
        provider: UpstreamProvider,
        castellan_issuer: &str,
        http: &dyn OutboundHttp,
    ) -> Result<Self, UpstreamError> {
        provider.validate()?;
        let redirect_uri = RedirectUrl::new(provider.callback_url(castellan_issuer))
            .map_err(|_| UpstreamError::InvalidSettings("castellan issuer"))?;
        let metadata = match &provider.kind {
            ProviderKind::Oidc {
                issuer,
                issuer_rule,
                ..
            } => Some(Box::new(
                discovery::provider_metadata(PortClient(http), issuer, issuer_rule).await?,
            )),
            ProviderKind::OAuth2(_) => None,
        };
        Ok(Self {
            provider,
            redirect_uri,
            metadata,
        })
    }

    /// The provider's settings.
    pub fn provider(&self) -> &UpstreamProvider {
        &self.provider
    }

    /// The callback URL the provider must send the browser back to.
    pub fn redirect_uri(&self) -> &str {
        self.redirect_uri.as_str()
    }

    /// Starts a login: fresh `state`, `nonce` and PKCE verifier from `random`, and the
    /// authorization URL carrying them (the nonce and the challenge, not the verifier).
    pub fn start(&self, random: &dyn RandomSource) -> Result<LoginStart, UpstreamError> {
        let state = random.token();
        let verifier = PkceCodeVerifier::new(random.token());
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        let client_id = ClientId::new(self.provider.client_id.clone());
        let form_post = self.provider.response_mode == ResponseMode::FormPost;
        let (url, nonce) = match &self.metadata {
            Some(metadata) => {
                let nonce = random.token();
                let client =
                    CoreClient::from_provider_metadata(metadata.as_ref().clone(), client_id, None)
                        .set_redirect_uri(self.redirect_uri.clone());
                let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
                let mut request = client
                    .authorize_url(
                        CoreAuthenticationFlow::AuthorizationCode,
                        move || CsrfToken::new(state_for_url),
                        move || Nonce::new(nonce_for_url),
                    )
                    // The crate always asks for `openid` itself.
                    .add_scopes(
                        self.provider
                            .scopes
                            .iter()
                            .filter(|scope| *scope != "openid")
                            .map(|scope| Scope::new(scope.clone())),
                    )
                    .set_pkce_challenge(challenge);
                if form_post {
                    request = request.add_extra_param("response_mode", "form_post");
                }
                let (url, _, _) = request.url();
                (url, Some(nonce))
            }
            None => {
                let ProviderKind::OAuth2(endpoints) = &self.provider.kind else {
                    return Err(UpstreamError::Discovery("OpenID provider not discovered"));
                };
                let client = oauth2::basic::BasicClient::new(client_id)
                    .set_client_secret(ClientSecret::new(
                        self.provider.client_secret.expose_secret().to_owned(),
                    ))
                    .set_auth_uri(
                        AuthUrl::new(endpoints.authorization_url.clone())
                            .map_err(|_| UpstreamError::InvalidSettings("authorization_url"))?,
                    )
                    .set_redirect_uri(self.redirect_uri.clone());
                let state_for_url = state.clone();
                let mut request = client
                    .authorize_url(move || CsrfToken::new(state_for_url))
                    .add_scopes(
                        self.provider
                            .scopes
                            .iter()
                            .map(|scope| Scope::new(scope.clone())),
                    )
                    .set_pkce_challenge(challenge);
                if form_post {
                    request = request.add_extra_param("response_mode", "form_post");
                }
                (request.url().0, None)
            }
        };
        Ok(LoginStart {
            authorization_url: url.to_string(),
            pending: PendingLogin {
                provider: self.provider.slug.clone(),
                state: SecretString::from(state),
                nonce: nonce.map(SecretString::from),
                pkce_verifier: SecretString::from(verifier.into_secret()),
            },
        })
    }
}
