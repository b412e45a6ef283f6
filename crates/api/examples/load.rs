//! A small load generator for Castellan's token endpoints, for `docs/benchmarks.md`.
//!
//! ```sh
//! cargo run --release -p castellan-api --example load -- http://127.0.0.1:8000 signin 32 10
//! cargo run --release -p castellan-api --example load -- http://127.0.0.1:8000 refresh 64 10
//! ```
//!
//! Arguments: base URL, scenario (`signin`, `refresh`, `me`), concurrent workers, seconds.
//! Each worker owns its account's refresh chain (refresh tokens are single-use). It talks only to
//! the URL given, and stops by itself after the given time.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PASSWORD: &str = "Load-Test-Horse-9";

async fn sign_in(client: &reqwest::Client, base: &str, email: &str) -> Value {
    client
        .post(format!("{base}/api/v1/auth/signin"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8000".to_owned());
    let scenario = args.get(2).cloned().unwrap_or_else(|| "signin".to_owned());
    let workers: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(32);
    let seconds: u64 = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(10);
    assert!(
        base.starts_with("http://127.0.0.1") || base.starts_with("http://localhost"),
        "load only loopback"
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(workers)
        .build()
        .unwrap();

    let run = format!("{:x}", std::process::id());
    for worker in 0..workers {
        let email = format!("load-{run}-{worker}@example.com");
        let response = client
            .post(format!("{base}/api/v1/auth/signup"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            201,
            "signup: {}",
            response.text().await.unwrap()
        );
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks = (0..workers).map(|worker| {
        let client = client.clone();
        let base = base.clone();
        let scenario = scenario.clone();
        let email = format!("load-{run}-{worker}@example.com");
        tokio::spawn(async move {
            let mut tokens = sign_in(&client, &base, &email).await;
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            while Instant::now() < deadline {
                let started = Instant::now();
                let ok = match scenario.as_str() {
                    "signin" => {
                        let body = sign_in(&client, &base, &email).await;
                        body["access_token"].is_string()
                    }
                    "refresh" => {
                        let body: Value = client
                            .post(format!("{base}/api/v1/auth/token/refresh"))
                            .json(&json!({"refresh_token": tokens["refresh_token"]}))
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap();
                        let ok = body["refresh_token"].is_string();
                        if ok {
                            tokens = body;
                        }
                        ok
                    }
                    "me" => client
                        .get(format!("{base}/api/v1/auth/me"))
                        .bearer_auth(tokens["access_token"].as_str().unwrap())
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .is_success(),
                    other => panic!("unknown scenario {other}"),
                };
                latencies.push(started.elapsed());
                failures += u64::from(!ok);
            }
            (latencies, failures)
        })
    });
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for task in tasks.collect::<Vec<_>>() {
        let (mut done, failed) = task.await.unwrap();
        latencies.append(&mut done);
        failures += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{scenario}: {} requests in {elapsed:.1} s = {:.0}/s, {failures} failed, p50 {:?}, p99 {:?}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
    );
}
