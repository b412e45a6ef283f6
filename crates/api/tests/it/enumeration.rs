//! Asking for a link by address (password reset, magic link, a new verification link) must not
//! tell whether the address has an account: not in the answer, and not in how long the answer
//! takes. The requests for known and unknown addresses are interleaved in a shuffled order, so
//! whatever the machine does meanwhile falls on both alike, and their medians are compared.

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::json;

use crate::support::{TestServer, on_both_stores};

on_both_stores!(server: asking_for_a_link_takes_as_long_for_an_unknown_address);

/// Samples per kind of address and route.
const SAMPLES: usize = 150;

/// How far apart the medians may be. Before the requests were stored and fulfilled after the
/// answer, a known address took 2 to 3 times as long as an unknown one.
const MAX_RATIO: f64 = 1.5;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// The medians of `route` for the known address and for addresses without an account, and
/// every answer's status and body (which must all be the same).
async fn medians(
    server: &TestServer,
    route: &str,
    known: &str,
) -> (Duration, Duration, Vec<(u16, serde_json::Value)>) {
    let mut order: Vec<bool> = (0..SAMPLES * 2).map(|index| index % 2 == 0).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
    let (mut known_times, mut unknown_times, mut answers) = (Vec::new(), Vec::new(), Vec::new());
    for (index, is_known) in order.into_iter().enumerate() {
        let email = if is_known {
            known.to_owned()
        } else {
            format!("nobody-{index}@example.com")
        };
        let started = Instant::now();
        let answer = server.post(route, json!({"email": email}), None).await;
        let took = started.elapsed();
        if is_known {
            known_times.push(took);
        } else {
            unknown_times.push(took);
        }
        answers.push(answer);
    }
    (median(known_times), median(unknown_times), answers)
}

async fn asking_for_a_link_takes_as_long_for_an_unknown_address(server: TestServer) {
    // Signed up and not verified: it can be sent a reset, a magic link and a verification.
    let known = "known@example.com";
    server.account(known).await;
    // Warm the connection pool and the route's code paths before measuring.
    for _ in 0..20 {
        server
            .post("/api/v1/auth/password/reset", json!({"email": known}), None)
            .await;
    }
    for route in [
        "/api/v1/auth/password/reset",
        "/api/v1/auth/magic-link",
        "/api/v1/auth/email/resend",
    ] {
        let (known_median, unknown_median, answers) = medians(&server, route, known).await;
        let first = &answers[0];
        assert_eq!(first.0, 202, "{route}: {}", first.1);
        assert!(
            answers.iter().all(|answer| answer == first),
            "{route}: every answer is the same"
        );
        let ratio = known_median.as_secs_f64() / unknown_median.as_secs_f64();
        assert!(
            (1.0 / MAX_RATIO..=MAX_RATIO).contains(&ratio),
            "{route}: median {known_median:?} for a known address against {unknown_median:?} \
             for unknown ones"
        );
    }
}
