//! Realm files (TOML, with line-numbered errors) as `lanyard apply` reads them.

/// One input.
pub fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lanyard_server::realm::parse(text);
    }
}
