//! Token minting and verification with a 2048-bit RSA key, as the token endpoint and every
//! authenticated request pay them. Run: `cargo bench -p castellan-oidc --bench tokens`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use castellan_domain::{
    AccessGrant, AuditEvent, DomainError, EventSink, LeaseError, LeaseRepository, PlatformRole,
    SessionId, SigningKeyRecord, SigningKeyRepository, SystemClock, TokenIssuer, UserId,
};
use castellan_oidc::{JwtTokenIssuer, KeyManager, KeySettings, MasterKey};
use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

#[derive(Debug, Default)]
struct Keys(Mutex<Vec<SigningKeyRecord>>);

#[async_trait]
impl SigningKeyRepository for Keys {
    async fn published(&self, _now: DateTime<Utc>) -> Result<Vec<SigningKeyRecord>, DomainError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn insert(&self, key: &SigningKeyRecord) -> Result<(), DomainError> {
        self.0.lock().unwrap().push(key.clone());
        Ok(())
    }
    async fn rotate(
        &self,
        _: &str,
        _: &SigningKeyRecord,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        Ok(false)
    }
}

#[derive(Debug)]
struct Leases;

#[async_trait]
impl LeaseRepository for Leases {
    async fn try_acquire(&self, _: &str, _: &str, _: Duration) -> Result<bool, LeaseError> {
        Ok(true)
    }
    async fn release(&self, _: &str, _: &str) -> Result<(), LeaseError> {
        Ok(())
    }
}

#[derive(Debug)]
struct Events;

#[async_trait]
impl EventSink for Events {
    async fn record(&self, _: AuditEvent) -> Result<(), DomainError> {
        Ok(())
    }
}

fn tokens(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let issuer = runtime.block_on(async {
        let settings = KeySettings {
            rsa_bits: 2048,
            rotation_interval: Duration::from_secs(86_400),
            max_token_lifetime: Duration::from_secs(900),
        };
        let keys = KeyManager::start(
            Arc::new(Keys::default()),
            Arc::new(Leases),
            Arc::new(Events),
            MasterKey::generate().0,
            Arc::new(SystemClock),
            settings,
            true,
        )
        .await
        .unwrap();
        JwtTokenIssuer::new(
            keys,
            Arc::new(SystemClock),
            "https://id.example.com",
            Duration::from_secs(900),
        )
    });
    let grant = AccessGrant {
        user_id: UserId::new(),
        session_id: SessionId::new(),
        role: PlatformRole::User,
        email: "jane@example.com".to_owned(),
        email_verified: true,
        amr: vec!["pwd".to_owned()],
        organization: None,
    };
    let token = runtime.block_on(issuer.issue(&grant)).unwrap().token;
    c.bench_function("mint RS256 access token", |b| {
        b.iter(|| runtime.block_on(issuer.issue(&grant)).unwrap())
    });
    c.bench_function("verify RS256 access token", |b| {
        b.iter(|| runtime.block_on(issuer.verify(&token)).unwrap())
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
