//! argon2id hashing, verified on a pool of its own.
//!
//! A verification costs ~16 ms of a core and 19 MiB of memory at OWASP parameters. They run
//! on `auth.hash_concurrency` dedicated threads (one per core by default), never on the
//! async threads, because of three properties needed under load:
//! - **Bounded work:** a flood of password attempts queues; it cannot take more cores than
//!   the pool has.
//! - **Priority:** the threads run at a lower scheduling priority (nice 10), so requests with
//!   tokens or remembered credentials keep their latency while a flood runs.
//! - **Bounded memory:** each thread reuses one set of argon2 blocks while it is busy and
//!   returns it to the system once it has been idle a moment. (Verifying on the blocking
//!   pool instead left a 19 MiB arena behind on every thread it ever used: 700+ MiB.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

use super::AuthError;
use crate::store::PasswordHash;

/// Verifications that may wait for a thread; more are refused (503) rather than queued
/// without bound.
const QUEUE: usize = 4096;
/// How long a thread keeps its argon2 memory after its last verification.
const KEEP_MEMORY: Duration = Duration::from_millis(250);
const NICE: i32 = 10;

struct Job {
    /// When it was queued, for the wait metric.
    queued: std::time::Instant,
    phc: Arc<str>,
    password: SecretString,
    reply: oneshot::Sender<bool>,
}

#[derive(Clone)]
pub struct PasswordHasher {
    jobs: Sender<Job>,
    /// Verified against when a user does not exist or cannot log in with a password (people
    /// who sign in at their identity provider have a hash that never verifies), so that such
    /// a name costs the same time as a wrong password and cannot be told apart by timing.
    dummy: Arc<str>,
    /// argon2 computations run so far.
    runs: Arc<AtomicU64>,
}

impl PasswordHasher {
    /// Starts `threads` verification threads (they end when the last handle is dropped).
    pub fn new(threads: usize) -> PasswordHasher {
        let dummy =
            hash_password(&SecretString::from(random_string())).expect("hashing a random password");
        // Several receivers on one queue: each thread waits (and times out) on its own.
        let (tx, rx) = crossbeam_channel::bounded::<Job>(QUEUE);
        let runs = Arc::new(AtomicU64::new(0));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let runs = runs.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(rx, &runs))
                .expect("spawning a password verification thread");
        }
        PasswordHasher {
            jobs: tx,
            dummy: Arc::from(dummy.0),
            runs,
        }
    }

    /// argon2 computations run so far (each costs the same, real or dummy).
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is no user or
    /// the hash is not one a password can match (the result is then always false).
    pub async fn verify(
        &self,
        hash: Option<&PasswordHash>,
        password: &SecretString,
    ) -> Result<bool, AuthError> {
        let hash = hash.filter(|h| usable(&h.0));
        let real = hash.is_some();
        let phc: Arc<str> = hash.map_or_else(|| self.dummy.clone(), |h| Arc::from(h.0.as_str()));
        let (reply, answer) = oneshot::channel();
        let job = Job {
            queued: std::time::Instant::now(),
            phc,
            password: password.clone(),
            reply,
        };
        let sent = self.jobs.try_send(job);
        if sent.is_ok() {
            crate::metrics::password_queue(1, None);
        }
        sent.map_err(|e| {
            AuthError::new(
                "password verification",
                match e {
                    TrySendError::Full(_) => format!("{QUEUE} verifications are already waiting"),
                    TrySendError::Disconnected(_) => "shutting down".into(),
                },
            )
        })?;
        let ok = answer.await.map_err(|e| {
            AuthError::caused("password verification", "a verification thread stopped", e)
        })?;
        Ok(real && ok)
    }
}

/// Whether `phc` is an argon2 hash a password could match (not `!`, not garbage).
fn usable(phc: &str) -> bool {
    PhcHash::new(phc).is_ok_and(|h| {
        h.salt.is_some()
            && h.hash.is_some()
            && Params::try_from(&h).is_ok()
            && Algorithm::try_from(h.algorithm.as_str()).is_ok()
    })
}

fn worker(rx: Receiver<Job>, runs: &AtomicU64) {
    lower_priority();
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let next = if memory.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(KEEP_MEMORY)
        };
        match next {
            Ok(job) => {
                crate::metrics::password_queue(-1, Some(job.queued.elapsed()));
                let ok = verify_with(&mut memory, &job.phc, &job.password);
                if ok.is_some() {
                    runs.fetch_add(1, Ordering::Relaxed);
                }
                let _ = job.reply.send(ok == Some(true));
            }
            // Idle: give the memory back (it is allocated again on the next job).
            Err(RecvTimeoutError::Timeout) => memory = Vec::new(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// nice 10 for this thread only (Linux keeps the nice value per thread).
fn lower_priority() {
    // SAFETY: plain system calls on the current thread; failure only leaves the default priority.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE);
    }
}

/// A new argon2id hash with a random salt, OWASP parameters (m=19 MiB, t=2, p=1).
pub fn hash_password(password: &SecretString) -> Result<PasswordHash, String> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| e.to_string())
}

thread_local! {
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One argon2 verification on the calling thread, reusing that thread's memory as the
/// pool's threads do (the benchmark measures what the cores allow with it).
pub fn verify_password(phc: &str, password: &SecretString) -> bool {
    MEMORY.with(|m| verify_with(&mut m.borrow_mut(), phc, password)) == Some(true)
}

/// Recomputes the hash of `password` with the parameters and salt of `phc`, in `memory`
/// (resized as needed), and compares in constant time. `None` when `phc` is not a hash
/// argon2 can recompute (nothing was computed).
fn verify_with(memory: &mut Vec<Block>, phc: &str, password: &SecretString) -> Option<bool> {
    let hash = PhcHash::new(phc).ok()?;
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return None;
    };
    let params = Params::try_from(&hash).ok()?;
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    if memory.len() != params.block_count() {
        *memory = vec![Block::default(); params.block_count()];
    }
    let mut out = vec![0u8; expected.as_bytes().len()];
    Some(
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(
                password.expose_secret().as_bytes(),
                salt,
                &mut out,
                &mut memory[..],
            )
            .is_ok()
            && bool::from(subtle::ConstantTimeEq::ct_eq(&out[..], expected.as_bytes())),
    )
}

fn random_string() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system RNG");
    data_encoding::BASE64URL_NOPAD.encode(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let h = hash_password(&SecretString::from("correct horse")).unwrap();
        assert!(h.0.starts_with("$argon2id$"));
        let hasher = PasswordHasher::new(2);
        assert!(hasher
            .verify(Some(&h), &SecretString::from("correct horse"))
            .await
            .unwrap());
        assert!(!hasher
            .verify(Some(&h), &SecretString::from("wrong"))
            .await
            .unwrap());
        assert!(verify_password(&h.0, &SecretString::from("correct horse")));
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::new(1);
        assert!(!hasher
            .verify(None, &SecretString::from("anything"))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_hash_that_can_never_verify_costs_the_same_dummy_verification() {
        let hasher = PasswordHasher::new(1);
        for hash in [
            None,
            Some(PasswordHash("!".into())),
            Some(PasswordHash("$argon2id$junk".into())),
        ] {
            let before = hasher.runs();
            assert!(!hasher
                .verify(hash.as_ref(), &SecretString::from("anything"))
                .await
                .unwrap());
            assert_eq!(hasher.runs(), before + 1, "{hash:?}: one argon2 run");
        }
    }

    #[tokio::test]
    async fn hashes_with_other_parameters_verify_too() {
        // A hash made elsewhere (e.g. imported) with different costs.
        let params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let h = a.hash_password(b"pw").unwrap().to_string();
        let hasher = PasswordHasher::new(1);
        let h = PasswordHash(h);
        assert!(hasher
            .verify(Some(&h), &SecretString::from("pw"))
            .await
            .unwrap());
        assert!(!hasher
            .verify(Some(&h), &SecretString::from("px"))
            .await
            .unwrap());
        assert!(!verify_password(
            "$argon2id$garbage",
            &SecretString::from("pw")
        ));
    }
}
