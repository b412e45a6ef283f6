//! ACS throughput: validations per second of one signed Response (RSA-2048, SHA-256), as the ACS
//! pays them per sign-in, in the three signing shapes IdPs send. Run:
//! `cargo bench -p castellan-sso --bench acs` (criterion's "thrpt" line is validations/s).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use castellan_domain::Clock;
use castellan_sso::validate_response;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[allow(dead_code, reason = "the benchmark uses a part of the tests' IdP")]
#[path = "../tests/saml/idp.rs"]
mod idp;

use idp::{Spec, clock, connection, fixture};

fn acs(c: &mut Criterion) {
    let clock = clock();
    let connection = connection();
    let mut group = c.benchmark_group("acs");
    group.throughput(Throughput::Elements(1));
    for (name, sign_response, sign_assertion) in [
        ("assertion_signed", false, true),
        ("response_signed", true, false),
        ("both_signed", true, true),
    ] {
        let spec = Spec {
            sign_response,
            sign_assertion,
            ..Spec::answering(Some("_bench-request"), clock.now())
        };
        let response = fixture().idp.respond(&spec);
        validate_response(&connection, &response, Some("_bench-request"), &clock).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                validate_response(&connection, &response, Some("_bench-request"), &clock).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, acs);
criterion_main!(benches);
