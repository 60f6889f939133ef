//! Argon2id off the async runtime, on a fixed set of hashing threads: a bounded number of
//! hashes run at once, a bounded number wait, and the rest are refused at once (the HTTP layer
//! answers 503 with `Retry-After`) instead of piling up.
//!
//! Each thread keeps its own Argon2 working memory ([`HashMemory`], 19 MiB at the default
//! cost) from one verification to the next, so resident memory stays at threads × cost however
//! many sign-ins pass, and no sign-in pays for allocating, zeroing and faulting in fresh pages.
//! Setting a new password (rare) hashes with memory of its own, freed afterwards.

use lanyard_core::{Argon2Params, HashMemory, PasswordHash, Secret};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

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

type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

/// The bounded hashing pool.
#[derive(Clone)]
pub struct Hasher {
    params: Argon2Params,
    jobs: Sender<Job>,
    /// Hashes admitted and not yet finished (waiting or running), at most `capacity`.
    in_flight: Arc<AtomicUsize>,
    capacity: usize,
    /// What unknown logins are checked against (see [`Hasher::verify_dummy`]).
    dummy: Arc<PasswordHash>,
}

/// A place in the hashing pool, held from admission until the hash is done (or abandoned).
/// Taking it first lets a caller know a hash will be computed before it counts an attempt
/// against the sign-in throttle: a "busy" answer must not lock anybody out.
pub struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hasher {
    /// `threads` hashing threads, `queue` more hashes waiting. The threads end when the last
    /// clone of the `Hasher` is dropped.
    pub fn new(params: Argon2Params, threads: usize, queue: usize) -> std::io::Result<Self> {
        let dummy = PasswordHash::stand_in(&params).map_err(std::io::Error::other)?;
        let (jobs, waiting) = channel::<Job>();
        let waiting = Arc::new(Mutex::new(waiting));
        for i in 0..threads.max(1) {
            let waiting = waiting.clone();
            std::thread::Builder::new()
                .name(format!("lanyard-hash-{i}"))
                .spawn(move || work(&waiting))?;
        }
        Ok(Self {
            params,
            jobs,
            in_flight: Arc::new(AtomicUsize::new(0)),
            capacity: threads.max(1) + queue,
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes admitted and not finished, and how many may be.
    pub fn load(&self) -> (usize, usize) {
        (
            self.in_flight.load(Ordering::Relaxed).min(self.capacity),
            self.capacity,
        )
    }

    /// The configured parameters.
    pub fn params(&self) -> &Argon2Params {
        &self.params
    }

    /// A place for one hash, or `Busy` at once when every thread is busy and the queue is
    /// full.
    pub fn admit(&self) -> Result<Admission, HashError> {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(HashError::Busy);
        }
        Ok(Admission(self.in_flight.clone()))
    }

    /// Queues `job` in the place `admission` holds (released when the job is done).
    fn submit<T: Send + 'static>(
        &self,
        admission: Admission,
        job: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<T>, HashError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            // Whoever asked has gone (the client closed the connection while it waited):
            // nobody would read the answer, so the work is skipped.
            if done.is_closed() {
                return;
            }
            let answer = job(memory);
            // The place is free before the answer is: whoever reads it may hash again at once.
            drop(admission);
            let _ = done.send(answer);
        });
        self.jobs
            .send(job)
            .map_err(|_| HashError::Failed("the hashing threads have stopped".into()))?;
        Ok(result)
    }

    async fn run<T: Send + 'static>(
        &self,
        admission: Admission,
        job: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        self.submit(admission, job)?
            .await
            .map_err(|_| HashError::Failed("the hashing job panicked".into()))
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: Secret) -> Result<PasswordHash, HashError> {
        let params = self.params;
        self.run(self.admit()?, move |_| {
            PasswordHash::create(&password, &params)
        })
        .await?
        .map_err(|e| HashError::Failed(e.to_string()))
    }

    /// Checks a password against a stored hash.
    pub async fn verify(&self, hash: PasswordHash, password: Secret) -> Result<bool, HashError> {
        self.verify_admitted(self.admit()?, hash, password).await
    }

    /// [`Hasher::verify`] in a place taken with [`Hasher::admit`].
    pub async fn verify_admitted(
        &self,
        admission: Admission,
        hash: PasswordHash,
        password: Secret,
    ) -> Result<bool, HashError> {
        self.run(admission, move |memory| hash.verify_in(&password, memory))
            .await
    }

    /// Spends the same work as [`Hasher::verify`] for a person who does not exist, so that
    /// the answer takes as long either way: the password is checked against a stand-in hash
    /// with the configured parameters, made (without hashing) when the pool starts.
    pub async fn verify_dummy(
        &self,
        admission: Admission,
        password: Secret,
    ) -> Result<bool, HashError> {
        let dummy = self.dummy.clone();
        self.run(admission, move |memory| {
            let _ = dummy.verify_in(&password, memory);
            false
        })
        .await
    }
}

/// One hashing thread: takes the next job and runs it in this thread's memory, until every
/// `Hasher` is gone. A job that panics loses its answer (its caller sees `Failed`), not the thread.
fn work(waiting: &Mutex<Receiver<Job>>) {
    let mut memory = HashMemory::default();
    loop {
        let next = match waiting.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_verifies_off_the_runtime() {
        let h = Hasher::new(Argon2Params::default(), 1, 4).unwrap();
        let hash = h.hash(Secret::new("Lanyard-demo-pass-2026")).await.unwrap();
        assert!(h
            .verify(hash.clone(), Secret::new("Lanyard-demo-pass-2026"))
            .await
            .unwrap());
        assert!(!h.verify(hash, Secret::new("wrong")).await.unwrap());
        assert!(!h
            .verify_dummy(h.admit().unwrap(), Secret::new("anything"))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn an_unknown_login_needs_only_its_own_place() {
        // One place in all: the stand-in hash is made inside it, not in a second one.
        let h = Hasher::new(Argon2Params::default(), 1, 0).unwrap();
        let place = h.admit().unwrap();
        assert!(matches!(h.admit(), Err(HashError::Busy)));
        assert!(!h
            .verify_dummy(place, Secret::new("anything"))
            .await
            .unwrap());
        assert_eq!(h.in_flight.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_instead_of_piling_up() {
        // One thread, one waiting place: a running job and a queued one fill it, the third is
        // refused at once.
        let h = Hasher::new(Argon2Params::default(), 1, 1).unwrap();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let (release, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        let blocked = |rx: Arc<Mutex<std::sync::mpsc::Receiver<()>>>,
                       started: std::sync::mpsc::Sender<()>| {
            move |_: &mut HashMemory| {
                let _ = started.send(());
                rx.lock().map(|r| r.recv().is_ok()).unwrap_or(false)
            }
        };
        let a = h
            .submit(h.admit().unwrap(), blocked(rx.clone(), started_tx.clone()))
            .unwrap();
        started.recv().unwrap();
        let b = h
            .submit(h.admit().unwrap(), blocked(rx.clone(), started_tx.clone()))
            .unwrap();
        assert!(matches!(h.admit(), Err(HashError::Busy)));
        assert!(matches!(
            h.hash(Secret::new("some-password-123")).await,
            Err(HashError::Busy)
        ));
        release.send(()).unwrap();
        release.send(()).unwrap();
        assert!(a.await.unwrap() && b.await.unwrap());
        // Once drained, work is accepted again; the places were given back.
        assert_eq!(h.in_flight.load(Ordering::SeqCst), 0);
        assert!(h.hash(Secret::new("some-password-123")).await.is_ok());
    }

    #[tokio::test]
    async fn abandoned_jobs_are_skipped_and_panics_do_not_kill_the_thread() {
        let h = Hasher::new(Argon2Params::default(), 1, 4).unwrap();
        let (release, rx) = std::sync::mpsc::channel::<()>();
        let running = h
            .submit(h.admit().unwrap(), move |_: &mut HashMemory| {
                rx.recv().is_ok()
            })
            .unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let abandoned = h
            .submit(h.admit().unwrap(), move |_: &mut HashMemory| {
                flag.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .unwrap();
        drop(abandoned);
        let panics = h
            .submit(h.admit().unwrap(), |_: &mut HashMemory| -> bool {
                panic!("boom")
            })
            .unwrap();
        release.send(()).unwrap();
        assert!(running.await.unwrap());
        assert!(panics.await.is_err());
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
        // The one thread survived the panic.
        let hash = h.hash(Secret::new("Lanyard-demo-pass-2026")).await.unwrap();
        assert!(h
            .verify(hash, Secret::new("Lanyard-demo-pass-2026"))
            .await
            .unwrap());
    }
}
