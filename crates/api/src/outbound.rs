//! The guarded outbound HTTP client: the one [`OutboundHttp`] every request Castellan makes
//! itself goes through. The address check runs inside the client's DNS resolver, so the address
//! checked is the address connected to (a name cannot resolve to a public address for the
//! check and to an internal one for the connection); literal IP hosts, which skip the resolver,
//! are checked before the request and on every redirect. Redirects are followed up to
//! [`MAX_REDIRECTS`] with the same rules, the whole exchange is bounded in time, and the body
//! is read in chunks up to a limit. System proxy settings are ignored: through a proxy, the
//! address connected to would be the proxy's, and the check meaningless.

mod policy;

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use castellan_domain::{OutboundError, OutboundHttp, OutboundRequest, OutboundResponse};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

pub use policy::{AllowList, AllowListError, is_internal};

/// Redirects followed before a request fails.
pub const MAX_REDIRECTS: usize = 5;
/// The longest wait for a connection (TCP and TLS), within the whole request's time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the guarded client behaves.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// Reach internal addresses too (what the deprecated
    /// `oidc.allow_private_network_callbacks` means).
    pub allow_everything: bool,
    /// Internal hosts, addresses and networks that may be reached all the same.
    pub allowed: AllowList,
    /// The most a whole request may take: connecting, every redirect and the body.
    pub timeout: Duration,
    /// The largest response body accepted, in bytes.
    pub max_response_bytes: u64,
}

/// [`OutboundHttp`] over reqwest, with the internal-address guard.
#[derive(Debug, Clone)]
pub struct GuardedOutbound {
    client: reqwest::Client,
    guard: Arc<Guard>,
    max_response_bytes: u64,
}

/// The outbound client could not be built (its TLS backend failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the outbound HTTP client: {0}")]
pub struct BuildError(String);

impl GuardedOutbound {
    /// A client applying `settings`.
    pub fn new(settings: OutboundSettings) -> Result<Self, BuildError> {
        let guard = Arc::new(Guard {
            everything: settings.allow_everything,
            allowed: settings.allowed,
        });
        let redirects = guard.clone();
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                guard: guard.clone(),
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // The first of `previous` is the original request, not a redirect.
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(Refusal::TooManyRedirects);
                }
                match redirects.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refusal) => attempt.error(refusal),
                }
            }))
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
            .timeout(settings.timeout)
            .user_agent(concat!("Castellan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| BuildError(error.to_string()))?;
        Ok(Self {
            client,
            guard,
            max_response_bytes: settings.max_response_bytes,
        })
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, OutboundError> {
        let limit = self.max_response_bytes;
        let too_large = OutboundError::TooLarge { limit };
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(too_large);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[async_trait]
impl OutboundHttp for GuardedOutbound {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let request = reqwest::Request::try_from(request).map_err(|_| OutboundError::InvalidUrl)?;
        self.guard.check_url(request.url())?;
        let response = self.client.execute(request).await.map_err(classify)?;
        let status = response.status();
        let version = response.version();
        let headers = response.headers().clone();
        let mut answer = http::Response::new(self.read_body(response).await?);
        *answer.status_mut() = status;
        *answer.version_mut() = version;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}

/// Which targets may be reached.
#[derive(Debug)]
struct Guard {
    everything: bool,
    allowed: AllowList,
}

impl Guard {
    /// True when `host` (as the URL names it) may be reached at `address`.
    fn permits(&self, host: &str, address: IpAddr) -> bool {
        self.everything
            || !is_internal(address)
            || self.allowed.allows_address(address)
            || self.allowed.allows_host(host)
    }

    /// Checks what can be checked before resolving: the scheme, and a literal IP host (which
    /// the connector uses without asking the resolver).
    fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::NotHttp);
        }
        let address = match url.host() {
            None => return Err(Refusal::InvalidUrl),
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        };
        let host = url.host_str().unwrap_or_default();
        if self.permits(host, address) {
            Ok(())
        } else {
            Err(Refusal::Internal(host.to_owned()))
        }
    }
}

/// Resolves names through the system (`getaddrinfo`, so `/etc/hosts` counts) and keeps only
/// the addresses the guard permits; those are the only ones the client may connect to.
#[derive(Debug)]
struct GuardedResolver {
    guard: Arc<Guard>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|address| guard.permits(&host, address.ip()))
                .collect();
            if permitted.is_empty() && !found.is_empty() {
                return Err(Box::new(Refusal::Internal(host)) as BoxError);
            }
            Ok::<Addrs, BoxError>(Box::new(permitted.into_iter()))
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A refusal by the guard, carried through reqwest's error chain and recognised on the way out.
#[derive(Debug, Clone, thiserror::Error)]
enum Refusal {
    #[error("{0} is an internal address")]
    Internal(String),
    #[error("not an http(s) URL")]
    NotHttp,
    #[error("no host")]
    InvalidUrl,
    #[error("too many redirects")]
    TooManyRedirects,
}

impl From<Refusal> for OutboundError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Internal(host) => Self::InternalAddress { host },
            Refusal::NotHttp => Self::NotHttp,
            Refusal::InvalidUrl => Self::InvalidUrl,
            Refusal::TooManyRedirects => Self::TooManyRedirects {
                limit: MAX_REDIRECTS,
            },
        }
    }
}

/// Maps a reqwest error to the port's error: the guard's refusal when one is in the chain,
/// else a timeout, else the transport failure described without the URL.
fn classify(error: reqwest::Error) -> OutboundError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = cause {
        if let Some(refusal) = current.downcast_ref::<Refusal>() {
            return refusal.clone().into();
        }
        cause = current.source();
    }
    if error.is_timeout() {
        return OutboundError::Timeout;
    }
    let error = error.without_url();
    let mut described = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        described.push_str(": ");
        described.push_str(&current.to_string());
        cause = current.source();
    }
    OutboundError::Transport(described)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(allowed: &[&str], max_response_bytes: u64) -> GuardedOutbound {
        GuardedOutbound::new(OutboundSettings {
            allow_everything: false,
            allowed: AllowList::parse(allowed).unwrap(),
            timeout: Duration::from_secs(5),
            max_response_bytes,
        })
        .unwrap()
    }

    /// Serves `app` on `address` (port 0), returning its port.
    async fn serve(address: &str, app: axum::Router) -> u16 {
        let listener = tokio::net::TcpListener::bind((address, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    fn hello() -> axum::Router {
        axum::Router::new().route("/", axum::routing::get(|| async { "hello" }))
    }

    #[tokio::test]
    async fn literal_and_resolved_internal_addresses_are_refused() {
        let port = serve("127.0.0.1", hello()).await;
        let guarded = client(&[], 1024);
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            format!("http://0x7f.1:{port}/"),
            // Through the resolver: `localhost` comes from /etc/hosts.
            format!("http://localhost:{port}/"),
        ] {
            let error = guarded.get_json(&url).await.unwrap_err();
            assert!(
                matches!(error, OutboundError::InternalAddress { .. }),
                "{url}: {error:?}"
            );
        }
    }

    #[tokio::test]
    async fn listed_names_and_addresses_are_reached() {
        let port = serve("127.0.0.1", hello()).await;
        for allowed in ["127.0.0.1", "127.0.0.0/8", "::ffff:127.0.0.0/104"] {
            let response = client(&[allowed], 1024)
                .send(
                    http::Request::get(format!("http://127.0.0.1:{port}/"))
                        .body(Vec::new())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(response.body(), b"hello", "{allowed}");
        }
        // A listed name may reach whatever it resolves to.
        let response = client(&["localhost"], 1024)
            .send(
                http::Request::get(format!("http://localhost:{port}/"))
                    .body(Vec::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    #[tokio::test]
    async fn every_redirect_is_checked_and_counted() {
        let target = serve("127.0.0.2", hello()).await;
        let app = axum::Router::new()
            .route(
                "/away",
                axum::routing::get(move || async move {
                    axum::response::Redirect::temporary(&format!("http://127.0.0.2:{target}/"))
                }),
            )
            .route(
                "/loop/{n}",
                axum::routing::get(
                    |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                        axum::response::Redirect::temporary(&format!("/loop/{}", n + 1))
                    },
                ),
            )
            .route(
                "/ftp",
                axum::routing::get(|| async {
                    axum::response::Redirect::temporary("ftp://127.0.0.1/")
                }),
            );
        let port = serve("127.0.0.1", app).await;
        let only_first = client(&["127.0.0.1"], 1024);
        let error = only_first
            .get_json(&format!("http://127.0.0.1:{port}/away"))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, OutboundError::InternalAddress { host } if host == "127.0.0.2"),
            "{error:?}"
        );
        let both = client(&["127.0.0.1", "127.0.0.2"], 1024);
        let response = both
            .send(
                http::Request::get(format!("http://127.0.0.1:{port}/away"))
                    .body(Vec::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.body(), b"hello");
        let error = both
            .get_json(&format!("http://127.0.0.1:{port}/loop/0"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, OutboundError::TooManyRedirects { limit: 5 }),
            "{error:?}"
        );
        let error = both
            .get_json(&format!("http://127.0.0.1:{port}/ftp"))
            .await
            .unwrap_err();
        assert!(matches!(error, OutboundError::NotHttp), "{error:?}");
    }

    #[tokio::test]
    async fn bodies_are_bounded_with_or_without_a_length() {
        let app = axum::Router::new()
            .route("/sized", axum::routing::get(|| async { vec![b'x'; 2048] }))
            .route(
                "/streamed",
                axum::routing::get(|| async {
                    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 512]));
                    axum::body::Body::from_stream(futures::stream::iter(chunks))
                }),
            );
        let port = serve("127.0.0.1", app).await;
        let guarded = client(&["127.0.0.1"], 1024);
        for path in ["sized", "streamed"] {
            let error = guarded
                .get_json(&format!("http://127.0.0.1:{port}/{path}"))
                .await
                .unwrap_err();
            assert!(
                matches!(error, OutboundError::TooLarge { limit: 1024 }),
                "{path}: {error:?}"
            );
        }
        let roomy = client(&["127.0.0.1"], 4096);
        let response = roomy
            .send(
                http::Request::get(format!("http://127.0.0.1:{port}/streamed"))
                    .body(Vec::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.body().len(), 4096);
    }

    #[tokio::test]
    async fn a_silent_peer_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts and holds the connection without ever answering.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let guarded = GuardedOutbound::new(OutboundSettings {
            allow_everything: false,
            allowed: AllowList::parse(&["127.0.0.1"]).unwrap(),
            timeout: Duration::from_millis(300),
            max_response_bytes: 1024,
        })
        .unwrap();
        let error = guarded
            .get_json(&format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        assert!(matches!(error, OutboundError::Timeout), "{error:?}");
    }

    #[tokio::test]
    async fn failures_name_no_url() {
        // A port nothing listens on: bind one, then let it go.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = client(&["127.0.0.1"], 1024)
            .get_json(&format!(
                "http://127.0.0.1:{port}/secret-path?token=hunter2"
            ))
            .await
            .unwrap_err();
        let shown = error.to_string();
        assert!(matches!(error, OutboundError::Transport(_)), "{error:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("secret-path"),
            "{shown}"
        );
    }
}
