//! DNS TXT lookups for organization domain verification, through hickory-resolver. Answers are
//! not cached, so a record published a moment ago (or found missing a moment ago) is asked
//! for again on the next verification. The resolver is built on the first verification, so a
//! server that never verifies a domain does not carry it.

use std::net::SocketAddr;
use std::time::Duration;

use castellan_domain::{DomainError, TxtLookup};
use hickory_resolver::config::{NameServerConfig, NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, Resolver, TokioResolver};

/// [`TxtLookup`] over the system's resolvers or the configured servers.
pub struct DnsTxtLookup {
    servers: Vec<SocketAddr>,
    resolver: tokio::sync::OnceCell<TokioResolver>,
}

impl std::fmt::Debug for DnsTxtLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsTxtLookup").finish_non_exhaustive()
    }
}

impl DnsTxtLookup {
    /// Asks `servers` (UDP, then TCP for truncated answers), or the system's resolvers when
    /// there are none.
    pub fn new(servers: Vec<SocketAddr>) -> Self {
        Self {
            servers,
            resolver: tokio::sync::OnceCell::new(),
        }
    }

    fn build(servers: &[SocketAddr]) -> Result<TokioResolver, ResolveError> {
        let mut builder = if servers.is_empty() {
            Resolver::builder_tokio()?
        } else {
            let mut group = NameServerConfigGroup::new();
            for server in servers {
                group.push(NameServerConfig::new(*server, Protocol::Udp));
                group.push(NameServerConfig::new(*server, Protocol::Tcp));
            }
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), group),
                TokioConnectionProvider::default(),
            )
        };
        let options = builder.options_mut();
        options.cache_size = 0;
        options.timeout = Duration::from_secs(3);
        options.attempts = 2;
        Ok(builder.build())
    }
}

#[async_trait::async_trait]
impl TxtLookup for DnsTxtLookup {
    async fn txt(&self, name: &str) -> Result<Vec<String>, DomainError> {
        // A fully qualified name, so no search domain is appended.
        let name = format!("{}.", name.trim_end_matches('.'));
        let resolver = self
            .resolver
            .get_or_try_init(|| async { Self::build(&self.servers) })
            .await
            .map_err(|error| {
                DomainError::NotConfigured(format!(
                    "no DNS resolver ({error}); set organizations.dns_servers"
                ))
            })?;
        match resolver.txt_lookup(name).await {
            Ok(records) => Ok(records
                .iter()
                .map(|record| {
                    record
                        .txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>()
                })
                .collect()),
            Err(error) if error.is_no_records_found() => Ok(Vec::new()),
            Err(error) => Err(DomainError::invalid(
                "domain",
                format!("the DNS lookup failed ({error}); try again later"),
            )),
        }
    }
}
