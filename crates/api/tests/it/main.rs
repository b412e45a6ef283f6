//! Castellan's integration tests, one binary: each module starts the real router on
//! 127.0.0.1:0 (or the real executable). A test that touches storage runs as `…_embedded`
//! (SQLite, in-process cache) and `…_production` (PostgreSQL and Redis from `DATABASE_URL` and
//! `REDIS_URL`); the production and browser tests are ignored unless run with
//! `--include-ignored`, and then fail without their servers (see `support::on_both_stores!`).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "tests read the wall clock and the system generator, as outside peers do"
)]
// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod architecture;
mod browser;
mod cli;
mod client_flows;
mod compliance;
mod device_lockout;
mod enumeration;
mod mail;
mod mfa;
mod oauth_attacks;
mod oauth_negatives;
mod oidc;
mod oidc_support;
mod openapi;
mod operations;
mod organizations;
mod outage;
mod outbound;
mod passkeys;
mod platform;
mod rate_limits;
mod refresh_families;
mod saml;
mod saml_signin;
mod shutdown;
mod support;
mod surface;
mod tokens;
mod upstream;
