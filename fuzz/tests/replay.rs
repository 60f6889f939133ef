//! The fuzz targets, run without libFuzzer: every seed (and every input a `make fuzz`
//! campaign kept in `fuzz/corpus/`), then random mutations of them for a few seconds per
//! target (`FUZZ_REPLAY_SECONDS`). Not coverage-guided — that is `make fuzz` — but it proves
//! each target runs, and any panic or slow input here fails `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The seeds and the kept corpus of `target`.
fn inputs(target: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in [
        root().join("seeds").join(target),
        root().join("corpus").join(target),
    ] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if let Ok(b) = std::fs::read(e.path()) {
                    out.push(b);
                }
            }
        }
    }
    if target == "realm" {
        for f in ["../config/demo.toml", "../bench/realm.toml"] {
            out.push(std::fs::read(root().join(f)).unwrap());
        }
    }
    out
}

/// xorshift64*: reproducible from the seed printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Pieces that matter to the parsers, spliced in at random.
const TOKENS: [&[u8]; 16] = [
    b"<",
    b">",
    b"\"",
    b"&",
    b"=",
    b"%",
    b"\0",
    b"<!--x-->",
    b"<!DOCTYPE a>",
    b"<?x?>",
    b"]]>",
    b"\xef\xbb\xbf",
    b"&amp;",
    b"%00",
    b"[[",
    b"\n",
];

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => b.insert(at, rng.next() as u8),
            2 if !b.is_empty() => {
                let end = (at + rng.below(16)).min(b.len());
                b.drain(at.min(end)..end);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.iter().copied());
            }
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let len = rng.below(other.len() - from + 1);
                b.splice(at..at, other[from..from + len].iter().copied());
            }
            _ => b.truncate(at),
        }
    }
    b
}

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    let budget = std::env::var("FUZZ_REPLAY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3u64);
    for (name, run) in lanyard_fuzz::targets::ALL {
        let seeds = inputs(name);
        assert!(!seeds.is_empty(), "{name} has no seeds");
        let slow = |input: &[u8], took: Duration| {
            assert!(
                took < Duration::from_secs(2),
                "{name}: one input took {took:?}: {:?}",
                String::from_utf8_lossy(input)
            );
        };
        for s in &seeds {
            let started = Instant::now();
            run(s);
            slow(s, started.elapsed());
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        let started = Instant::now();
        let mut runs = seeds.len();
        while started.elapsed() < Duration::from_secs(budget) {
            let a = &seeds[rng.below(seeds.len())];
            let b = &seeds[rng.below(seeds.len())];
            let input = mutate(&mut rng, a, b);
            let one = Instant::now();
            run(&input);
            slow(&input, one.elapsed());
            runs += 1;
        }
        eprintln!("{name}: {runs} inputs ({} seeds)", seeds.len());
    }
}
