//! Castellan as the client of upstream OpenID Connect and OAuth 2 providers: the protocol
//! core of "sign in with Google, GitHub, Microsoft, Apple, Discord, X, LinkedIn, Slack or any
//! OpenID issuer". Storage, routes and account linking belong to the caller.
//!
//! # The flow
//! 1. **Settings.** An [`UpstreamProvider`] is either [`ProviderKind::Oidc`] (an issuer whose
//!    endpoints and keys come from discovery) or [`ProviderKind::OAuth2`] (authorization,
//!    token and userinfo endpoints plus a [`ClaimMapping`]). [`Preset::provider`] fills one in
//!    from the [`PRESETS`] table with the operator's client id and secret.
//! 2. **Discovery.** [`UpstreamClient::discover`] checks the settings and, for OpenID Connect,
//!    fetches `{issuer}/.well-known/openid-configuration`, whose `issuer` must be the
//!    configured one (or, for Microsoft's multi-tenant endpoints, the `{tenantid}` template).
//!    The client may be kept and reused.
//! 3. **Start.** [`UpstreamClient::start`] draws `state`, `nonce` and a PKCE verifier from the
//!    domain's random source and answers the authorization URL (S256 challenge, scopes,
//!    `redirect_uri` = `{castellan issuer}/api/v1/auth/oauth/{slug}/callback`, and
//!    `response_mode=form_post` where the provider needs it) with the [`PendingLogin`] the
//!    caller stores bound to the browser, for one use.
//! 4. **Finish.** [`UpstreamClient::finish`] takes the [`Callback`] (query or form) and the
//!    stored [`PendingLogin`]: the state must match (constant time), then the code is
//!    exchanged with the verifier (`client_secret_basic` or `client_secret_post`, as the
//!    preset or the discovery document says). For OpenID Connect the ID token is verified
//!    with the provider's current key set (fetched at each finish, so key rotation is seen):
//!    signature, issuer, audience, expiry against the injected [`castellan_domain::Clock`]
//!    with [`ID_TOKEN_CLOCK_SKEW`], nonce and `at_hash`; userinfo completes an ID token
//!    without an email. For OAuth 2 the userinfo document goes through the claim mapping
//!    (and GitHub's email list). The answer is an [`UpstreamIdentity`] or an
//!    [`UpstreamError`] naming the rule that failed, without secrets.
//!
//! Every request goes through the domain's [`castellan_domain::OutboundHttp`] port, adapted to
//! the `openidconnect` / `oauth2` crates' pluggable asynchronous client, so the outbound
//! guard applies to discovery, key sets, token and userinfo calls alike.
//!
//! # Provider quirks
//! - **GitHub** has no OpenID Connect: the user comes from `/user` (numeric `id` as subject)
//!   and the email from `/user/emails`, the primary address, verified only if GitHub says so.
//! - **Apple** answers with `response_mode=form_post` (the callback must accept POST), sends
//!   the user's name only on the first sign-in, in the unsigned `user` form field (read for
//!   the name only), and takes as client secret a JWT the operator signs with their Sign in
//!   with Apple key (ES256; `iss` the team id, `sub` the Services ID, `aud`
//!   `https://appleid.apple.com`, at most six months of validity) and rotates before it
//!   expires; Castellan sends it as given.
//! - **Microsoft**'s `common`, `organizations` and `consumers` endpoints sign tokens with the
//!   user's tenant as issuer: the `iss` must equal the template filled with the token's
//!   `tid`. Its `email` is not verified by default; only the optional `xms_edov` claim vouches
//!   for it.
//! - **Discord**'s `verified` flag covers the email; **X** gives no email; **LinkedIn** and
//!   **Slack** speak OpenID Connect with `email_verified` and take `client_secret_post`.

mod claims;
mod discovery;
mod error;
mod finish;
mod http_client;
mod id_token;
mod login;
mod presets;
mod provider;

pub use claims::{ClaimMapping, EmailSource, UpstreamIdentity, github_primary_email};
pub use error::UpstreamError;
pub use finish::Callback;
pub use id_token::ID_TOKEN_CLOCK_SKEW;
pub use login::{LoginStart, PendingLogin, UpstreamClient};
pub use presets::{MappingRow, PRESETS, Preset, PresetProtocol, PresetSpec};
pub use provider::{
    IssuerRule, OAuth2Endpoints, ProviderKind, ResponseMode, TENANT_PLACEHOLDER, TokenAuth,
    UpstreamProvider, callback_url,
};
