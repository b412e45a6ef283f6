//! Graceful shutdown lets a request already in flight finish.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use castellan_api::server;
use tokio::sync::{mpsc, oneshot};

#[tokio::test]
async fn in_flight_requests_finish_after_the_signal() {
    let (entered_tx, mut entered) = mpsc::channel::<()>(1);
    let (release_tx, release) = oneshot::channel::<()>();
    let release = std::sync::Arc::new(tokio::sync::Mutex::new(Some(release)));
    let router = Router::new().route(
        "/slow",
        get(move || {
            let entered_tx = entered_tx.clone();
            let release = release.clone();
            async move {
                entered_tx.send(()).await.unwrap();
                let release = release.lock().await.take().unwrap();
                release.await.unwrap();
                "finished"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop_tx, stop) = oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(
        listener,
        router,
        async move {
            let _ = stop.await;
        },
        Duration::from_secs(30),
    ));
    let request = tokio::spawn(async move {
        reqwest::get(format!("http://{address}/slow"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    entered.recv().await.unwrap();
    stop_tx.send(()).unwrap();
    // The server is draining; it must not have finished while the request is held.
    tokio::task::yield_now().await;
    assert!(!serving.is_finished());
    release_tx.send(()).unwrap();
    assert_eq!(request.await.unwrap(), "finished");
    serving.await.unwrap().unwrap();
}
