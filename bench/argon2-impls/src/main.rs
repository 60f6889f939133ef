//! Argon2id verifications per CPU-second, at Lanyard's parameters (m = 19 MiB, t = 2, p = 1),
//! for every implementation a Rust program can use here, on one thread per core as the server
//! hashes. Each verifies the same PHC string, made by one of them and checked by all first, so
//! a row that computes something else fails the run instead of looking fast.
//!
//! `argon2-impls PROFILE SECS` prints a JSON list of rows; PROFILE names the cargo profile the
//! binary was built with (the caller knows it; the binary cannot).
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::time::{Duration, Instant};

const M_KIB: u32 = 19_456;
const T: u32 = 2;
const PASSWORD: &[u8] = b"Lanyard-demo-pass-2026";
const WRONG: &[u8] = b"Lanyard-demo-pass-2025";
const SALT: &[u8] = b"lanyard-bench-salt-16";

type Verify = Box<dyn Fn(&[u8]) -> bool + Sync>;

/// This process's CPU time (user + system), from /proc (clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn per_cpu_second(secs: f64, verify: &Verify) -> f64 {
    let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let c0 = cpu_seconds();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let t0 = Instant::now();
                    let mut n = 0u64;
                    while t0.elapsed() < Duration::from_secs_f64(secs) {
                        if verify(PASSWORD) {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    total as f64 / (cpu_seconds() - c0).max(0.01)
}

thread_local! {
    static BLOCKS_05: RefCell<Vec<argon2_05::Block>> = const { RefCell::new(Vec::new()) };
    static BLOCKS_06: RefCell<Vec<argon2_06::Block>> = const { RefCell::new(Vec::new()) };
    static HASHER: RefCell<Option<argon2_rust::Hasher>> = const { RefCell::new(None) };
}

/// The raw 32-byte tag every implementation must reproduce, and its PHC string.
fn reference() -> Result<(Vec<u8>, String), String> {
    use argon2_rust::{params::Memory, Algorithm, Argon2, Params, Version};
    let params = Params::builder()
        .memory(Memory::kib(u64::from(M_KIB)))
        .passes(T)
        .lanes(1)
        .threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let phc = a.hash_password(PASSWORD, SALT).map_err(|e| e.to_string())?;
    let mut tag = vec![0u8; 32];
    a.hash_into(PASSWORD, SALT, &mut tag).map_err(|e| e.to_string())?;
    Ok((tag, phc))
}

fn implementations(tag: &[u8], phc: &str) -> Result<Vec<(String, String, Verify)>, String> {
    let mut rows: Vec<(String, String, Verify)> = Vec::new();
    let e = |e: &dyn std::fmt::Display| e.to_string();

    let p05 = argon2_05::Params::new(M_KIB, T, 1, Some(32)).map_err(|x| e(&x))?;
    let a05 = argon2_05::Argon2::new(argon2_05::Algorithm::Argon2id, argon2_05::Version::V0x13, p05);
    let want = tag.to_vec();
    rows.push((
        "argon2 0.5 (RustCrypto), reused memory".into(),
        "AVX2 if present (cpufeatures)".into(),
        Box::new(move |pw| {
            BLOCKS_05.with_borrow_mut(|m| {
                m.resize(M_KIB as usize, argon2_05::Block::default());
                let mut out = [0u8; 32];
                a05.hash_password_into_with_memory(pw, SALT, &mut out, &mut m[..]).is_ok() && out[..] == want[..]
            })
        }),
    ));

    let p06 = argon2_06::Params::new(M_KIB, T, 1, Some(32)).map_err(|x| e(&x))?;
    let a06 = argon2_06::Argon2::new(argon2_06::Algorithm::Argon2id, argon2_06::Version::V0x13, p06);
    let want = tag.to_vec();
    rows.push((
        "argon2 0.6 (RustCrypto), reused memory".into(),
        "AVX2 if present (cpufeatures)".into(),
        Box::new(move |pw| {
            BLOCKS_06.with_borrow_mut(|m| {
                m.resize(M_KIB as usize, argon2_06::Block::default());
                let mut out = [0u8; 32];
                a06.hash_password_into_with_memory(pw, SALT, &mut out, &mut m[..]).is_ok() && out[..] == want[..]
            })
        }),
    ));

    let backend = format!("{} (runtime detection)", argon2_rust::detected_backend());
    let (phc1, phc2) = (phc.to_string(), phc.to_string());
    rows.push((
        "argon2-rust 1.1, reused memory (Lanyard)".into(),
        backend.clone(),
        Box::new(move |pw| {
            // As Lanyard's `PasswordHash::verify_in`: parameters from the PHC string, one
            // arena per thread kept (and wiped) between calls.
            let Ok(d) = argon2_rust::decode_string(&phc1, argon2_rust::Algorithm::Argon2id) else {
                return false;
            };
            let argon = argon2_rust::Argon2::new(d.algorithm, d.version, d.params);
            HASHER.with_borrow_mut(|h| match h {
                Some(h) => {
                    h.set_argon2(argon);
                    h.verify(pw, &d.salt, &d.hash).is_ok()
                }
                None => h.insert(argon.hasher()).verify(pw, &d.salt, &d.hash).is_ok(),
            })
        }),
    ));
    rows.push((
        "argon2-rust 1.1, memory per call".into(),
        backend,
        Box::new(move |pw| argon2_rust::Argon2::verify_encoded(&phc2, pw, argon2_rust::Algorithm::Argon2id).is_ok()),
    ));

    let want = tag.to_vec();
    rows.push((
        "C reference (libargon2 opt.c via argon2-kdf)".into(),
        "SSE2 (its build default)".into(),
        Box::new(move |pw| {
            argon2_kdf::Hash::from_parts(&want, SALT, argon2_kdf::Algorithm::Argon2id, M_KIB, T, 1).verify(pw)
        }),
    ));
    Ok(rows)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let profile = args.next().unwrap_or_else(|| "release".into());
    let secs: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let (tag, phc) = match reference() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("argon2-impls: reference hash: {e}");
            std::process::exit(2);
        }
    };
    let rows = match implementations(&tag, &phc) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("argon2-impls: {e}");
            std::process::exit(2);
        }
    };
    let mut out = Vec::new();
    for (name, backend, verify) in &rows {
        // Each must accept the password and refuse a wrong one before it is timed.
        if !verify(PASSWORD) || verify(WRONG) {
            eprintln!("argon2-impls: {name} does not agree with the reference hash");
            std::process::exit(1);
        }
        let rate = per_cpu_second(secs, verify);
        out.push(serde_json::json!({
            "implementation": name,
            "backend": backend,
            "profile": profile,
            "verify_per_cpu_s": (rate * 10.0).round() / 10.0,
        }));
    }
    println!("{}", serde_json::Value::Array(out));
}
