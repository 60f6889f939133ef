//! Prints, as JSON, how many operations one CPU-second buys with Lanyard's own primitives and
//! keys: JWS signatures (RS256, ES256, EdDSA — the same signing code the token endpoint uses)
//! and Argon2id verifications at the configured (OWASP) parameters. The benchmark compares the
//! server's throughput per CPU-second with these ceilings.
//!
//! `lanyard-ceiling argon2 SECS` measures only the Argon2id ceiling.
//! `lanyard-ceiling sessions COUNT [REDIS_URL]` instead measures the memory COUNT SSO sessions
//! take, in this process's in-process store (RSS growth) and in Redis (its `used_memory`).
#![forbid(unsafe_code)]

use lanyard_core::{Argon2Params, HashMemory, PasswordHash, Secret, SigningAlg};
use lanyard_idp::keys::{generate, KeySet};
use std::time::{Duration, Instant};

/// The server's allocator, so the ceiling measures the same code the server runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// This process's CPU time (user + system), from /proc (clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs `op` on one thread per core for about `secs` seconds (the server, too, signs and
/// hashes on every core at once; memory-bound work such as Argon2id costs more CPU per
/// operation under that contention); returns operations per CPU-second of the whole process.
fn per_cpu_second(secs: f64, op: impl Fn() + Sync) -> f64 {
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    let c0 = cpu_seconds();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let t0 = Instant::now();
                    let mut n = 0u64;
                    while t0.elapsed() < Duration::from_secs_f64(secs) {
                        for _ in 0..16 {
                            op();
                        }
                        n += 16;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let cpu = (cpu_seconds() - c0).max(0.01);
    total as f64 / cpu
}

fn rss_bytes() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        * 1024.0
}

/// A session as sign-in makes one: random ids, password and second factor, two clients.
fn session(i: u64, now: i64) -> lanyard_session::SsoSession {
    let clock = lanyard_core::FixedClock::new(lanyard_core::clock::from_millis(now * 1000));
    let ids = lanyard_core::IdGen::new(&clock);
    lanyard_session::SsoSession {
        sid: format!("{:024}", i),
        handle: format!("{:064x}", i),
        user_id: ids.next(),
        tenant_id: ids.next(),
        auth_time: now,
        amr: vec!["mfa".into(), "otp".into(), "pwd".into()],
        acr: "urn:lanyard:acr:mfa".into(),
        clients: ["demo-app".to_string(), "demo-lms".to_string()]
            .into_iter()
            .collect(),
        saml: vec![],
        expires_at: now + 600,
    }
}

async fn fill(store: std::sync::Arc<dyn lanyard_session::SessionStore>, count: u64, now: i64) {
    let sessions = lanyard_session::Sessions::new(store);
    let workers = 32;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let s = sessions.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < count {
                if let Err(e) = s.save_sso(&session(i, now), now).await {
                    eprintln!("save failed: {e}");
                    return;
                }
                i += workers;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

fn sessions_main(count: u64, redis: Option<String>) {
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let now = lanyard_core::Clock::now(&lanyard_core::SystemClock).unix_timestamp();
    let mut out = serde_json::Map::new();
    rt.block_on(async {
        let before = rss_bytes();
        let mem = std::sync::Arc::new(lanyard_session::MemoryStore::new(std::sync::Arc::new(
            lanyard_core::SystemClock,
        )));
        fill(mem.clone(), count, now).await;
        let per = (rss_bytes() - before) / count as f64;
        out.insert(
            "in_process_bytes_per_session".into(),
            serde_json::json!(per.round()),
        );
        out.insert("in_process_entries".into(), serde_json::json!(mem.len()));
        drop(mem);
        if let Some(url) = redis {
            let prefix = format!("memtest{now}:");
            match lanyard_session::RedisStore::connect(&url, &prefix).await {
                Ok(r) => {
                    let before = r.used_memory().await.unwrap_or(0) as f64;
                    fill(std::sync::Arc::new(r.clone()), count, now).await;
                    let after = r.used_memory().await.unwrap_or(0) as f64;
                    out.insert(
                        "redis_bytes_per_session".into(),
                        serde_json::json!(((after - before) / count as f64).round()),
                    );
                }
                Err(e) => eprintln!("redis: {e}"),
            }
        }
    });
    out.insert("sessions".into(), serde_json::json!(count));
    println!("{}", serde_json::Value::Object(out));
}

/// Argon2id verifications per CPU-second at the default (OWASP) cost, one decimal.
fn argon2_rate(secs: f64) -> Option<f64> {
    let params = Argon2Params::default();
    let h = PasswordHash::create(&Secret::new("Lanyard-demo-pass-2026"), &params).ok()?;
    let pw = Secret::new("Lanyard-demo-pass-2026");
    // As the server's hashing threads do: each thread reuses its own working memory.
    thread_local! {
        static MEMORY: std::cell::RefCell<HashMemory> = std::cell::RefCell::default();
    }
    let rate = per_cpu_second(secs, || {
        MEMORY.with_borrow_mut(|m| {
            let _ = h.verify_in(&pw, m);
        });
    });
    Some((rate * 10.0).round() / 10.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `argon2 SECS`: only the Argon2id ceiling (the benchmark measures it again right beside
    // each sign-in run, since it drifts with the machine's memory bandwidth).
    if args.get(1).map(String::as_str) == Some("argon2") {
        let secs = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);
        let rate = argon2_rate(secs).unwrap_or(0.0);
        println!("{}", serde_json::json!({ "argon2id_verify": rate }));
        return;
    }
    if args.get(1).map(String::as_str) == Some("sessions") {
        let count = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(100_000);
        sessions_main(count, args.get(3).cloned());
        return;
    }
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let mats: Vec<_> = SigningAlg::ALL
        .iter()
        .filter_map(|a| generate(*a, 1, 0).ok())
        .collect();
    let keys = match KeySet::load(&mats) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("cannot load keys: {e}");
            std::process::exit(1);
        }
    };
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080", "sub": "bench-rs256", "aud": "bench-rs256", "client_id": "bench-rs256",
        "iat": 1_800_000_000, "exp": 1_800_000_600, "jti": "0123456789abcdef0123456789", "scope": "api"
    });
    let mut out = serde_json::Map::new();
    for alg in SigningAlg::ALL {
        let Some(key) = keys.signer(alg, 1) else {
            continue;
        };
        let rate = per_cpu_second(secs, || {
            let _ = lanyard_idp::jws::sign(&key, "at+jwt", &claims);
        });
        out.insert(
            format!("sign_{}", alg.as_str()),
            serde_json::json!(rate.round()),
        );
    }
    if let Some(rate) = argon2_rate(secs) {
        out.insert("argon2id_verify".into(), serde_json::json!(rate));
    }
    println!("{}", serde_json::Value::Object(out));
}
