//! Who is calling: the client IP (from the socket, or from `X-Forwarded-For` only when the
//! socket peer is a configured trusted proxy), the user agent, and the device cookie's hash.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use castellan_domain::RequestContext;

use crate::state::AppState;

/// The client's IP address, per the trusted-proxy rule.
pub fn client_ip(
    parts_extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = parts_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    // Walk the chain from the nearest hop outwards; the first address that is not one of our
    // proxies is the client. Addresses further out could be forged by the client itself.
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .filter_map(|hop| hop.parse::<IpAddr>().ok())
        .find(|hop| !trusted.contains(hop))
        .or(Some(peer))
}

/// The caller's IP and user agent, for sessions and the audit log.
#[derive(Debug, Clone)]
pub struct Client(pub RequestContext);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(
            &parts.extensions,
            &parts.headers,
            &state.config.rate_limit.trusted_proxies,
        );
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(512).collect());
        let device = parts
            .extensions
            .get::<crate::http::device::DeviceHash>()
            .map(|device| device.0.clone());
        Ok(Self(RequestContext {
            ip: ip.map(|ip| ip.to_string()),
            user_agent,
            device,
        }))
    }
}
