//! Realm files (TOML, with line-numbered errors) as `lanyard apply` reads them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanyard_fuzz::targets::realm::run(data));
