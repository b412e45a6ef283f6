//! argon2id at OWASP parameters (19 MiB, 2 passes, 1 lane): the cost of every password sign-in.
//! Run: `cargo bench -p castellan-passwords --bench argon2`.
#![allow(missing_docs, clippy::unwrap_used)]

use castellan_domain::{Password, PasswordHasher as _};
use castellan_passwords::Argon2Hasher;
use criterion::{Criterion, criterion_group, criterion_main};

fn password(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hasher = Argon2Hasher::new(1).unwrap();
    let password = Password::new("Correct-Horse-9-Battery");
    let hash = runtime.block_on(hasher.hash(&password)).unwrap();
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(20);
    group.bench_function("hash", |b| {
        b.iter(|| runtime.block_on(hasher.hash(&password)).unwrap())
    });
    group.bench_function("verify", |b| {
        b.iter(|| runtime.block_on(hasher.verify(&password, &hash)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, password);
criterion_main!(benches);
