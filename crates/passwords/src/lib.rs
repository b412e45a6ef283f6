//! Castellan's password hashing adapter: argon2id at OWASP's parameters, run off the async
//! runtime on a fixed pool of threads, so a burst of sign-ins queues instead of starving the
//! server's other work or its memory. It implements the domain's `PasswordHasher` port.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "an adapter: argon2 salts come from the system generator"
)]

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{
    Output, ParamsString, PasswordHash, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use castellan_domain::{DomainError, Password, PasswordHasher};
use rand::rngs::OsRng;
use tokio::sync::OnceCell;

/// The parameters of new hashes: OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane).
fn params() -> Result<Params, DomainError> {
    Params::new(19 * 1024, 2, 1, Some(32))
        .map_err(|error| DomainError::caused("argon2 parameters", error))
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// How long a hashing thread keeps its 19 MiB working memory after its last job.
const IDLE_RELEASE: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Hashes and verifies passwords with argon2id at OWASP's parameters, on a fixed pool of threads
/// off the async runtime. The pool bounds both concurrency and memory: each thread reuses one
/// working buffer (allocating 19 MiB per hash on whichever runtime thread happened to run it
/// left hundreds of megabytes in per-thread allocator arenas under load) and frees it when idle.
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    jobs: crossbeam_channel::Sender<Job>,
    /// A hash of a random password, verified against when the account does not exist so that
    /// unknown and known users cost the same time.
    decoy: Arc<OnceCell<String>>,
}

fn work_loop(jobs: &crossbeam_channel::Receiver<Job>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        match jobs.recv_timeout(IDLE_RELEASE) {
            Ok(job) => job(&mut memory),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => memory = Vec::new(),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Argon2id of `password` into `out`, using (and if need be growing) `memory`.
fn hash_into(
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), DomainError> {
    if memory.len() != params.block_count() {
        *memory = vec![Block::default(); params.block_count()];
    }
    argon2(params.clone())
        .hash_password_into_with_memory(password, salt, out, memory.as_mut_slice())
        .map_err(|error| DomainError::caused("argon2", error))
}

fn hash_with(password: &str, memory: &mut Vec<Block>) -> Result<String, DomainError> {
    let params = params()?;
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|error| DomainError::caused("salt", error))?;
    let mut out = [0u8; 32];
    hash_into(&params, password.as_bytes(), salt_raw, &mut out, memory)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)
            .map_err(|error| DomainError::caused("argon2", error))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|error| DomainError::caused("argon2", error))?),
    };
    Ok(hash.to_string())
}

fn verify_with(password: &str, hash: &str, memory: &mut Vec<Block>) -> Result<bool, DomainError> {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return Ok(false);
    };
    let current = params()?;
    let same_params = parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed).is_ok_and(|params| {
            params.m_cost() == current.m_cost()
                && params.t_cost() == current.t_cost()
                && params.p_cost() == current.p_cost()
        });
    match (same_params, parsed.salt, parsed.hash) {
        (true, Some(salt), Some(expected)) => {
            let mut salt_bytes = [0u8; 64];
            let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
                return Ok(false);
            };
            let mut out = vec![0u8; expected.len()];
            if hash_into(&current, password.as_bytes(), salt, &mut out, memory).is_err() {
                return Ok(false);
            }
            // Output compares in constant time.
            Ok(Output::new(&out).is_ok_and(|computed| computed == expected))
        }
        // Hashes made with other parameters still verify, the slower way.
        _ => Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()),
    }
}

impl Argon2Hasher {
    /// A hasher with `threads` hashing threads (the number of hashes computed at once).
    pub fn new(threads: usize) -> Result<Self, DomainError> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || work_loop(&queue))
                .map_err(|error| {
                    DomainError::caused("cannot start a password hashing thread", error)
                })?;
        }
        Ok(Self {
            jobs,
            decoy: Arc::new(OnceCell::new()),
        })
    }

    /// One hashing thread per core.
    pub fn for_this_machine() -> Result<Self, DomainError> {
        Self::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, DomainError> + Send + 'static,
    ) -> Result<T, DomainError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(work(memory));
        });
        self.jobs
            .send(job)
            .map_err(|_| DomainError::internal("the password hashing threads have stopped"))?;
        result
            .await
            .map_err(|_| DomainError::internal("a password hashing thread stopped mid-job"))?
    }
}

#[async_trait::async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, DomainError> {
        // The worker thread gets its own copy, still a secret that is wiped when dropped.
        let password = password.clone();
        self.run(move |memory| hash_with(password.expose(), memory))
            .await
    }

    async fn verify(&self, password: &Password, hash: &str) -> Result<bool, DomainError> {
        let password = password.clone();
        let hash = hash.to_owned();
        self.run(move |memory| verify_with(password.expose(), &hash, memory))
            .await
    }

    async fn verify_decoy(&self, password: &Password) -> Result<(), DomainError> {
        let decoy = self
            .decoy
            .get_or_try_init(|| async {
                let random: [u8; 16] = rand::random();
                self.hash(&Password::new(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    random,
                )))
                .await
            })
            .await?
            .clone();
        self.verify(password, &decoy).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let hasher = Argon2Hasher::new(2).unwrap();
        let first = hasher
            .hash(&Password::new("Correct-Horse-9"))
            .await
            .unwrap();
        let second = hasher
            .hash(&Password::new("Correct-Horse-9"))
            .await
            .unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second);
        assert!(
            hasher
                .verify(&Password::new("Correct-Horse-9"), &first)
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&Password::new("correct-horse-9"), &first)
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&Password::new("Correct-Horse-9"), "not a hash")
                .await
                .unwrap()
        );
        hasher
            .verify_decoy(&Password::new("anything"))
            .await
            .unwrap();
        // Hashes made the library's usual way (other code, older parameters) still verify.
        let other = Argon2::default()
            .hash_password(b"Correct-Horse-9", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(
            hasher
                .verify(&Password::new("Correct-Horse-9"), &other)
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&Password::new("wrong"), &other)
                .await
                .unwrap()
        );
        let standard = Argon2::new(Algorithm::Argon2id, Version::V0x13, params().unwrap());
        assert!(
            standard
                .verify_password(b"Correct-Horse-9", &PasswordHash::new(&first).unwrap())
                .is_ok()
        );
    }
}
