//! Prints, as JSON, how many operations one CPU-second buys with Lanyard's own primitives and
//! keys: JWS signatures (RS256, ES256, EdDSA — the same signing code the token endpoint uses)
//! and Argon2id verifications at the configured (OWASP) parameters. The benchmark compares the
//! server's throughput per CPU-second with these ceilings.
#![forbid(unsafe_code)]

use lanyard_core::{Argon2Params, PasswordHash, Secret, SigningAlg};
use lanyard_idp::keys::{generate, KeySet};
use std::time::{Duration, Instant};

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

fn main() {
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
    let params = Argon2Params::default();
    let hash = PasswordHash::create(&Secret::new("Lanyard-demo-pass-2026"), &params).ok();
    if let Some(h) = hash {
        let pw = Secret::new("Lanyard-demo-pass-2026");
        let rate = per_cpu_second(secs, || {
            let _ = h.verify(&pw);
        });
        out.insert(
            "argon2id_verify".into(),
            serde_json::json!((rate * 10.0).round() / 10.0),
        );
    }
    println!("{}", serde_json::Value::Object(out));
}
