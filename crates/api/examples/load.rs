//! A small load generator for Castellan's token endpoints, for `docs/benchmarks.md`.
//!
//! ```sh
//! cargo run --release -p castellan-api --example load -- http://127.0.0.1:8000 signin 32 10
//! cargo run --release -p castellan-api --example load -- http://127.0.0.1:8000 refresh 64 10
//! ```
//!
//! Arguments: base URL, scenario (`signin`, `refresh`, `me`, `client-credentials`,
//! `introspect`, `oauth-refresh`), concurrent workers, seconds. Each worker owns its account's
//! refresh chain (refresh tokens are single-use). It talks only to the URL given, and stops by
//! itself after the given time.
//!
//! The OAuth scenarios need clients (see `scripts/bench-load.sh`): `LOAD_CC_ID` and
//! `LOAD_CC_SECRET` for a client with the `client_credentials` grant (also used to introspect),
//! `LOAD_WEB_ID` and `LOAD_WEB_SECRET` for a first-party client with the code and refresh grants
//! and the redirect URI `http://127.0.0.1:9/cb`.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "Load-Test-Horse-9";
const WEB_REDIRECT: &str = "http://127.0.0.1:9/cb";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

async fn client_credentials(client: &reqwest::Client, base: &str) -> Value {
    client
        .post(format!("{base}/oauth2/token"))
        .basic_auth(env("LOAD_CC_ID"), Some(env("LOAD_CC_SECRET")))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// The authorization code flow as a browser would run it, for a first-party client (no
/// consent page); returns the token response.
async fn browser_sign_in(base: &str, email: &str) -> Value {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let client_id = env("LOAD_WEB_ID");
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", WEB_REDIRECT),
        ("scope", "openid email offline_access"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let location =
        |response: &reqwest::Response| response.headers()["location"].to_str().unwrap().to_owned();
    let start = browser
        .get(format!("{base}/oauth2/authorize?{query}"))
        .send()
        .await
        .unwrap();
    let login_page = browser
        .get(format!("{base}{}", location(&start)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let signed_in = browser
        .post(format!("{base}/login"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf", &hidden(&login_page, "csrf")),
            ("interaction", &hidden(&login_page, "interaction")),
        ])
        .send()
        .await
        .unwrap();
    let callback = browser
        .get(format!("{base}{}", location(&signed_in)))
        .send()
        .await
        .unwrap();
    let code = url::Url::parse(&location(&callback))
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "code")
        .unwrap()
        .1
        .into_owned();
    browser
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&client_id, Some(env("LOAD_WEB_SECRET")))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", WEB_REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

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
            let mut tokens = match scenario.as_str() {
                "client-credentials" | "introspect" => client_credentials(&client, &base).await,
                "oauth-refresh" => browser_sign_in(&base, &email).await,
                _ => sign_in(&client, &base, &email).await,
            };
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
                    "client-credentials" => {
                        client_credentials(&client, &base).await["access_token"].is_string()
                    }
                    "introspect" => {
                        let body: Value = client
                            .post(format!("{base}/oauth2/introspect"))
                            .basic_auth(env("LOAD_CC_ID"), Some(env("LOAD_CC_SECRET")))
                            .form(&[("token", tokens["access_token"].as_str().unwrap())])
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap();
                        body["active"] == true
                    }
                    "oauth-refresh" => {
                        let body: Value = client
                            .post(format!("{base}/oauth2/token"))
                            .basic_auth(env("LOAD_WEB_ID"), Some(env("LOAD_WEB_SECRET")))
                            .form(&[
                                ("grant_type", "refresh_token"),
                                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                            ])
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
