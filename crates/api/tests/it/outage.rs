//! Production mode through a TCP proxy that the test can cut and restore: the health endpoints
//! report PostgreSQL and Redis down while they are unreachable, and recover without a restart.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use castellan_api::config::ConnectionUrl;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::support::on_both_stores;
use crate::support::{Stores, TestServer, config_for};

/// A loopback TCP forwarder that can be taken down (listener closed, every connection cut) and
/// brought back on the same port. While down, the port stays bound but not listening, so
/// connections are refused and no other test can take the port in between.
struct Proxy {
    port: u16,
    target: SocketAddr,
    running: Option<JoinHandle<()>>,
    held: Option<TcpSocket>,
}

/// A socket on `port` (0: any) that may share the port with the proxy's other sockets.
fn shared_socket(port: u16) -> TcpSocket {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseport(true).unwrap();
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap();
    socket
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = shared_socket(0).listen(1024).unwrap();
        let port = listener.local_addr().unwrap().port();
        Self {
            port,
            target,
            running: Some(tokio::spawn(forward(listener, target))),
            held: None,
        }
    }

    async fn down(&mut self) {
        // Held before the listener closes, so the port is never free.
        self.held = Some(shared_socket(self.port));
        if let Some(task) = self.running.take() {
            task.abort();
            // Waiting for the aborted task guarantees its listener and connections are closed.
            let _ = task.await;
        }
    }

    async fn up(&mut self) {
        let listener = self.held.take().unwrap().listen(1024).unwrap();
        self.running = Some(tokio::spawn(forward(listener, self.target)));
    }
}

async fn forward(listener: TcpListener, target: SocketAddr) {
    // Dropping the set (when this task is aborted) aborts every connection.
    let mut connections = JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        connections.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

fn target_of(url: &str, default_port: u16) -> SocketAddr {
    let url = url::Url::parse(url).unwrap();
    let host = url.host_str().unwrap();
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{}", url.port().unwrap_or(default_port))
        .parse()
        .unwrap()
}

fn through(url: &str, port: u16) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(port)).unwrap();
    url.to_string()
}

/// Polls `/health/detailed` until `accept` holds; the dependency reconnects on its own
/// schedule, so this waits for a state, bounded, rather than for a fixed time.
async fn detailed_until(
    server: &TestServer,
    what: &str,
    accept: impl Fn(u16, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = server.get_json("/health/detailed").await;
        if accept(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "never reached {what}; last: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_stores!(production: outages_are_reported_and_recovered_without_restart);
async fn outages_are_reported_and_recovered_without_restart() {
    let (mut config, dir, postgres) = config_for(Stores::Production).await.unwrap();
    let database_url = config.database.url.expose().to_owned();
    let cache_url = config.cache.url.expose().to_owned();
    let mut database_proxy = Proxy::start(target_of(&database_url, 5432)).await;
    let mut cache_proxy = Proxy::start(target_of(&cache_url, 6379)).await;
    config.database.url = ConnectionUrl::from(through(&database_url, database_proxy.port));
    config.cache.url = ConnectionUrl::from(through(&cache_url, cache_proxy.port));
    config.database.connect_timeout_secs = 1;
    config.cache.timeout_ms = 500;
    let server = TestServer::start_config(config, dir, postgres).await;

    let body = detailed_until(&server, "healthy", |status, body| {
        status == 200 && body["status"] == "healthy"
    })
    .await;
    assert_eq!(
        (body["database"].clone(), body["cache"].clone()),
        (true.into(), true.into())
    );

    cache_proxy.down().await;
    let body = detailed_until(&server, "cache down", |status, body| {
        status == 200 && body["cache"] == false
    })
    .await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(server.get_json("/health/ready").await.0, 503);
    cache_proxy.up().await;
    detailed_until(&server, "cache back", |status, body| {
        status == 200 && body["status"] == "healthy"
    })
    .await;
    assert_eq!(server.get_json("/health/ready").await.0, 200);

    database_proxy.down().await;
    let body = detailed_until(&server, "database down", |status, body| {
        status == 503 && body["database"] == false
    })
    .await;
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(server.get_json("/health/ready").await.0, 503);
    database_proxy.up().await;
    detailed_until(&server, "database back", |status, body| {
        status == 200 && body["status"] == "healthy"
    })
    .await;
    assert_eq!(server.get_json("/health/ready").await.0, 200);

    server.stop().await;
}
