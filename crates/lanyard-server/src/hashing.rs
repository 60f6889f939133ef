//! Argon2id off the async runtime: a bounded number of hashes run at once on the blocking
//! pool, a bounded number wait, and the rest are refused at once (the HTTP layer answers 503
//! with `Retry-After`) instead of piling up.

use lanyard_core::{Argon2Params, PasswordHash, Secret};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Why a hash was not computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes waiting.
    #[error("too many sign-ins at once; try again shortly")]
    Busy,
    /// The hashing task failed.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The bounded hashing pool.
#[derive(Clone)]
pub struct Hasher {
    params: Argon2Params,
    running: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    capacity: usize,
    dummy: Arc<tokio::sync::OnceCell<PasswordHash>>,
}

impl Hasher {
    /// `threads` hashes at once, `queue` more waiting.
    pub fn new(params: Argon2Params, threads: usize, queue: usize) -> Self {
        Self {
            params,
            running: Arc::new(Semaphore::new(threads.max(1))),
            in_flight: Arc::new(AtomicUsize::new(0)),
            capacity: threads.max(1) + queue,
            dummy: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// The configured parameters.
    pub fn params(&self) -> &Argon2Params {
        &self.params
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        // Counted from admission until the job ends, whether it is waiting or running.
        if self.in_flight.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(HashError::Busy);
        }
        struct Leave(Arc<AtomicUsize>);
        impl Drop for Leave {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _leave = Leave(self.in_flight.clone());
        let permit = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| HashError::Failed(e.to_string()))?;
        let out = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))?;
        Ok(out)
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: Secret) -> Result<PasswordHash, HashError> {
        let params = self.params;
        self.run(move || PasswordHash::create(&password, &params))
            .await?
            .map_err(|e| HashError::Failed(e.to_string()))
    }

    /// Checks a password against a stored hash.
    pub async fn verify(&self, hash: PasswordHash, password: Secret) -> Result<bool, HashError> {
        self.run(move || hash.verify(&password)).await
    }

    /// Spends the same work as [`Hasher::verify`] for a person who does not exist, so that
    /// the answer takes as long either way.
    pub async fn verify_dummy(&self, password: Secret) -> Result<bool, HashError> {
        let hash = self
            .dummy
            .get_or_try_init(|| self.hash(Secret::new("lanyard-dummy-password-for-timing")))
            .await?
            .clone();
        self.verify(hash, password).await.map(|_| false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_verifies_off_the_runtime() {
        let h = Hasher::new(Argon2Params::default(), 1, 4);
        let hash = h.hash(Secret::new("Lanyard-demo-pass-2026")).await.unwrap();
        assert!(h
            .verify(hash.clone(), Secret::new("Lanyard-demo-pass-2026"))
            .await
            .unwrap());
        assert!(!h.verify(hash, Secret::new("wrong")).await.unwrap());
        assert!(!h.verify_dummy(Secret::new("anything")).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_instead_of_piling_up() {
        // One thread, one waiting place: two blocked jobs fill it, the third is refused.
        let h = Hasher::new(Argon2Params::default(), 1, 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let blocked = |h: Hasher, rx: Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>| {
            tokio::spawn(async move {
                h.run(move || rx.lock().map(|r| r.recv().is_ok()).unwrap_or(false))
                    .await
            })
        };
        let a = blocked(h.clone(), rx.clone());
        let b = blocked(h.clone(), rx.clone());
        while h.in_flight.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            h.hash(Secret::new("some-password-123")).await,
            Err(HashError::Busy)
        ));
        tx.send(()).unwrap();
        tx.send(()).unwrap();
        assert!(a.await.unwrap().unwrap() && b.await.unwrap().unwrap());
        // Once drained, work is accepted again.
        assert!(h.hash(Secret::new("some-password-123")).await.is_ok());
    }
}
