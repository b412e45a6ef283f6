//! Asking for a link by address (password reset, magic link, a new verification link) must not
//! tell whether the address has an account: not in the answer, and not in how long the answer
//! takes. Requests for the known address and for unknown ones are sent in pairs, and the median
//! ratio of a pair's two times is compared with 1.

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use crate::support::{TestServer, on_both_stores};

on_both_stores!(server: asking_for_a_link_takes_as_long_for_an_unknown_address);

/// Pairs of requests per route: one for the known address, one for an unknown one.
const PAIRS: usize = 200;

/// How far from 1 the median ratio of a pair's two times may be. Before the requests were
/// stored and fulfilled after the answer, a known address took 2 to 3 times as long.
const MAX_RATIO: f64 = 1.5;

/// Sends one request about `email` to `route`; returns how long the answer took, and the answer.
async fn timed(server: &TestServer, route: &str, email: &str) -> (Duration, (u16, Value)) {
    let started = Instant::now();
    let answer = server.post(route, json!({"email": email}), None).await;
    (started.elapsed(), answer)
}

/// The median, over pairs of requests sent back to back (in a shuffled order within the
/// pair, so that a load that comes and goes falls on both alike), of the known address's time
/// over the unknown one's; and every answer, which must all be the same.
async fn median_ratio(server: &TestServer, route: &str, known: &str) -> (f64, Vec<(u16, Value)>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut ratios, mut answers) = (Vec::new(), Vec::new());
    for index in 0..PAIRS {
        let unknown = format!("nobody-{index}@example.com");
        let mut order = [true, false];
        order.shuffle(&mut rng);
        let (mut known_time, mut unknown_time) = (Duration::ZERO, Duration::ZERO);
        for is_known in order {
            let email = if is_known { known } else { unknown.as_str() };
            let (took, answer) = timed(server, route, email).await;
            if is_known {
                known_time = took;
            } else {
                unknown_time = took;
            }
            answers.push(answer);
        }
        ratios.push(known_time.as_secs_f64() / unknown_time.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    (ratios[ratios.len() / 2], answers)
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
        let (ratio, answers) = median_ratio(&server, route, known).await;
        let first = &answers[0];
        assert_eq!(first.0, 202, "{route}: {}", first.1);
        assert!(
            answers.iter().all(|answer| answer == first),
            "{route}: every answer is the same"
        );
        assert!(
            (1.0 / MAX_RATIO..=MAX_RATIO).contains(&ratio),
            "{route}: a known address takes {ratio:.2} times as long as an unknown one (median)"
        );
    }
}
