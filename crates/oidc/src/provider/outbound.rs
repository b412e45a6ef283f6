//! Outbound HTTP to clients: back-channel logout tokens and `jwks_uri` documents. Addresses
//! on loopback, private, link-local and other internal networks are refused unless the
//! operator allows them, so a registered URL cannot be aimed at the inside of the network.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;

/// Requests the provider makes to clients.
#[async_trait]
pub trait OutboundHttp: Send + Sync + std::fmt::Debug {
    /// POSTs a form; returns the status code.
    async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<u16, String>;
    /// GETs a JSON document.
    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String>;
}

/// [`OutboundHttp`] with reqwest, with the internal-address guard.
#[derive(Debug, Clone)]
pub struct ReqwestOutbound {
    client: reqwest::Client,
    allow_private: bool,
}

impl ReqwestOutbound {
    /// A client with `timeout` per request; `allow_private` lifts the internal-address guard.
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Self {
            client,
            allow_private,
        })
    }

    /// Refuses URLs whose host resolves to an internal address.
    async fn check(&self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url).map_err(|_| format!("{url:?} is not a URL"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err("only http(s) URLs are allowed".to_owned());
        }
        if self.allow_private {
            return Ok(parsed);
        }
        let host = parsed.host_str().ok_or("the URL has no host")?;
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addresses = tokio::net::lookup_host((host, port))
            .await
            .map_err(|error| format!("cannot resolve {host}: {error}"))?;
        for address in addresses {
            if is_internal(address.ip()) {
                return Err(format!(
                    "{host} resolves to an internal address; allow private networks in the configuration to reach it"
                ));
            }
        }
        Ok(parsed)
    }
}

/// True for addresses that are not on the public internet.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_documentation()
                || ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(ip) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

#[async_trait]
impl OutboundHttp for ReqwestOutbound {
    async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<u16, String> {
        let url = self.check(url).await?;
        let response = self
            .client
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(|error| error.without_url().to_string())?;
        Ok(response.status().as_u16())
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let url = self.check(url).await?;
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|error| error.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|error| error.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "100.64.0.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let guarded = ReqwestOutbound::new(Duration::from_secs(1), false).unwrap();
        let error = guarded
            .check("http://127.0.0.1:9/logout")
            .await
            .unwrap_err();
        assert!(error.contains("internal address"), "{error}");
        let open = ReqwestOutbound::new(Duration::from_secs(1), true).unwrap();
        assert!(open.check("http://127.0.0.1:9/logout").await.is_ok());
    }
}
