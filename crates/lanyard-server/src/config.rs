//! The one typed configuration: defaults, then a TOML file, then `LANYARD_SECTION__KEY`
//! environment variables; unknown keys are errors, and every problem is reported by its key.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use lanyard_core::Argon2Params;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything Lanyard can be told.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP listener and public identity.
    pub server: ServerConfig,
    /// Durable storage.
    pub database: DatabaseConfig,
    /// Short-lived state (SSO sessions, codes).
    pub sessions: SessionConfig,
    /// Key-encryption keys for secrets at rest.
    pub secrets: SecretsConfig,
    /// Password hashing.
    pub passwords: PasswordConfig,
    /// Logging.
    pub log: LogConfig,
    /// OpenID Connect provider.
    pub oidc: OidcConfig,
    /// Sign-in lifetimes, whatever protocol asked.
    pub signin: SigninConfig,
    /// Sign-in throttling.
    pub login: LoginConfig,
    /// Passkeys and security keys.
    pub webauthn: WebauthnConfig,
    /// OpenTelemetry traces.
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// What loading noticed but accepted (renamed keys); logged at start, printed by
    /// `check-config`.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// `[signin]`: the lifetimes of the sign-in, whatever protocol asked for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigninConfig {
    /// Single sign-on session lifetime.
    pub sso_ttl_secs: i64,
    /// How long a sign-in page (and a step of it) stays usable.
    pub page_ttl_secs: i64,
    /// How long the record of each sign-in (the admin API's `/sign-ins`) is kept.
    pub record_retention_days: i64,
}

impl Default for SigninConfig {
    fn default() -> Self {
        Self {
            sso_ttl_secs: 10 * 3600,
            page_ttl_secs: 900,
            record_retention_days: 90,
        }
    }
}

/// `[webauthn]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// Relying-party id: the domain passkeys are bound to. Default: the issuer's host, or
    /// `localhost` when the issuer is an IP address (browsers refuse IP addresses).
    pub rp_id: Option<String>,
    /// Name shown by the browser and authenticator.
    pub rp_name: Option<String>,
    /// Page origins allowed to use passkeys. Default: the issuer's origin (for an IP issuer,
    /// the same port on `localhost`).
    pub origins: Vec<String>,
}

impl Config {
    /// The effective (rp_id, rp_name, origins).
    pub fn webauthn_settings(&self) -> (String, String, Vec<String>) {
        let issuer = &self.server.issuer;
        let (scheme, rest) = issuer.split_once("://").unwrap_or(("https", issuer));
        let hostport = rest.split('/').next().unwrap_or_default();
        let (host, port) = if hostport.starts_with('[') {
            match hostport.split_once("]:") {
                Some((h, p)) => (&hostport[..h.len() + 1], Some(p)),
                None => (hostport, None),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        let is_ip = host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok();
        let rp_id = self.webauthn.rp_id.clone().unwrap_or_else(|| {
            if is_ip {
                "localhost".into()
            } else {
                host.to_string()
            }
        });
        let mut origins = self.webauthn.origins.clone();
        if origins.is_empty() {
            // An IP address cannot carry passkeys; the same server on `localhost` can.
            origins.push(match (is_ip, port) {
                (false, _) => format!("{scheme}://{hostport}"),
                (true, Some(p)) => format!("{scheme}://localhost:{p}"),
                (true, None) => format!("{scheme}://localhost"),
            });
        }
        (
            rp_id,
            self.webauthn
                .rp_name
                .clone()
                .unwrap_or_else(|| "Lanyard".into()),
            origins,
        )
    }
}

/// `[oidc]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// A rotated key is published this long before it starts signing (relying parties cache
    /// JWKS; give them time to see the new key).
    pub key_publish_secs: i64,
    /// How often each process re-reads the signing keys (to see rotations).
    pub key_reload_secs: u64,
    /// Renamed `signin.sso_ttl_secs`; accepted (with a warning) for one release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso_ttl_secs: Option<i64>,
    /// Authorization code lifetime.
    pub code_ttl_secs: i64,
    /// Renamed `signin.page_ttl_secs`; accepted (with a warning) for one release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_ttl_secs: Option<i64>,
    /// A rotated-out refresh token is accepted again for this long, while its successor has
    /// never been presented (a retry after a lost answer or a session-store timeout must not
    /// revoke the grant). 0 treats every second presentation as reuse.
    pub refresh_token_reuse_grace_secs: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            key_publish_secs: 3600,
            key_reload_secs: 30,
            sso_ttl_secs: None,
            code_ttl_secs: 60,
            login_ttl_secs: None,
            refresh_token_reuse_grace_secs: 30,
        }
    }
}

/// `[login]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Failed sign-ins for one person within the window before his sign-in is locked.
    pub max_failures_per_account: u64,
    /// Failed sign-ins from one address within the window before its attempts are slowed
    /// down (never locked: people behind one NAT or proxy share an address).
    pub max_failures_per_ip: u64,
    /// The longest an attempt from a slowed-down address is held, seconds.
    pub max_ip_delay_secs: u64,
    /// The counting window, seconds.
    pub failure_window_secs: u64,
    /// How long a lock lasts, seconds.
    pub lockout_secs: u64,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_ip: 50,
            max_ip_delay_secs: 10,
            failure_window_secs: 900,
            lockout_secs: 900,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Public base URL; the OIDC issuer.
    pub issuer: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Per-request time limit, in seconds.
    pub request_timeout_secs: u64,
    /// Load balancers and reverse proxies (CIDR blocks or addresses) whose `Forwarded` /
    /// `X-Forwarded-For` headers are believed for the caller's address; from any other peer
    /// those headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// Serve `/metrics` (with `/healthz` and `/readyz`) on this address of its own instead of
    /// the public listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// On SIGTERM, `/readyz` answers 503 for this long while everything is still served, so
    /// the load balancer stops sending new work first.
    pub drain_secs: u64,
    /// Then new connections are refused and requests in flight get this long to finish.
    pub shutdown_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080".into(),
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 30,
            trusted_proxies: Vec::new(),
            metrics_listen: None,
            drain_secs: 5,
            shutdown_timeout_secs: 30,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` or `postgres://USER@HOST:PORT/DB`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://./data/lanyard.db".into(),
            max_connections: 10,
        }
    }
}

/// Where sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionBackend {
    /// In this process (the embedded default; lost on restart).
    Memory,
    /// A Redis server shared by every Lanyard process.
    Redis,
}

/// `[sessions]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// `memory` or `redis`.
    pub store: SessionBackend,
    /// `redis://HOST:PORT/DB`, required with `store = "redis"`.
    pub redis_url: Option<String>,
    /// Key prefix in Redis.
    pub key_prefix: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            store: SessionBackend::Memory,
            redis_url: None,
            key_prefix: "lanyard:".into(),
        }
    }
}

/// `[secrets]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// File of key-encryption keys (`id:base64` lines, newest first); created if missing.
    pub key_file: PathBuf,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            key_file: "./data/lanyard.key".into(),
        }
    }
}

/// `[passwords]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Argon2id cost (OWASP's m = 19 MiB, t = 2, p = 1 by default).
    pub argon2: Argon2Params,
    /// Hashes computed at once (0: one per CPU core).
    pub hashing_threads: usize,
    /// Hashes allowed to wait for a thread before new ones are refused with 503.
    pub hashing_queue: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            argon2: Argon2Params::default(),
            hashing_threads: 0,
            hashing_queue: 256,
        }
    }
}

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `lanyard=debug,sqlx=warn`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// One configuration problem, by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key (`server.listen`), or empty for the file as a whole.
    pub key: String,
    /// What is wrong (and where the value came from, when known).
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

fn problems_of(e: figment::Error) -> Vec<ConfigProblem> {
    e.into_iter()
        .map(|err| {
            let key = err.path.join(".");
            let source = err
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            ConfigProblem {
                key,
                message: format!("{}{source}", err.kind),
            }
        })
        .collect()
}

/// Serde stops at the first error; extracting each section on its own finds one per section,
/// and unknown sections are listed by name.
fn extraction_problems(fig: &Figment, first: figment::Error) -> Vec<ConfigProblem> {
    fn section<T: serde::de::DeserializeOwned>(
        fig: &Figment,
        name: &str,
        out: &mut Vec<ConfigProblem>,
    ) {
        if let Err(e) = fig.extract_inner::<T>(name) {
            for mut p in problems_of(e) {
                let rest: Vec<&str> = p
                    .key
                    .split('.')
                    .filter(|k| !k.is_empty() && *k != name)
                    .collect();
                p.key = std::iter::once(name)
                    .chain(rest)
                    .collect::<Vec<_>>()
                    .join(".");
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    section::<ServerConfig>(fig, "server", &mut out);
    section::<DatabaseConfig>(fig, "database", &mut out);
    section::<SessionConfig>(fig, "sessions", &mut out);
    section::<SecretsConfig>(fig, "secrets", &mut out);
    section::<PasswordConfig>(fig, "passwords", &mut out);
    section::<LogConfig>(fig, "log", &mut out);
    section::<OidcConfig>(fig, "oidc", &mut out);
    section::<LoginConfig>(fig, "login", &mut out);
    section::<WebauthnConfig>(fig, "webauthn", &mut out);
    const SECTIONS: [&str; 9] = [
        "server",
        "database",
        "sessions",
        "secrets",
        "passwords",
        "log",
        "oidc",
        "login",
        "webauthn",
    ];
    if let Ok(data) = figment::Provider::data(fig) {
        for dict in data.values() {
            for key in dict.keys().filter(|k| !SECTIONS.contains(&k.as_str())) {
                out.push(ConfigProblem {
                    key: key.clone(),
                    message: "unknown section".into(),
                });
            }
        }
    }
    if out.is_empty() {
        out = problems_of(first);
    }
    out
}

/// Builds the layered source: defaults, the file (if any), then the environment.
fn figment(file: Option<&Path>) -> Figment {
    let mut f = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        f = f.merge(Toml::file_exact(path));
    }
    // Only `LANYARD_SECTION__KEY` variables are configuration; others with the prefix
    // (LANYARD_CONFIG, test helpers) are not, and must not trip `deny_unknown_fields`.
    f.merge(
        Env::prefixed("LANYARD_")
            .filter(|k| k.as_str().contains("__"))
            .split("__"),
    )
}

impl Config {
    /// Loads and validates; on failure returns every problem found.
    pub fn load(file: Option<&Path>) -> Result<Config, Vec<ConfigProblem>> {
        if let Some(path) = file {
            if !path.exists() {
                return Err(vec![ConfigProblem {
                    key: String::new(),
                    message: format!("config file {} does not exist", path.display()),
                }]);
            }
        }
        let fig = figment(file);
        let cfg: Config = match fig.extract() {
            Ok(c) => c,
            Err(first) => return Err(extraction_problems(&fig, first)),
        };
        let mut cfg = cfg;
        let mut problems = cfg.fold_renamed();
        problems.extend(cfg.validate());
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(problems)
        }
    }

    /// Moves the values of renamed keys to their new place, with a warning each; a key set
    /// under both names to different values is a problem (neither may silently win).
    fn fold_renamed(&mut self) -> Vec<ConfigProblem> {
        let defaults = SigninConfig::default();
        let mut problems = Vec::new();
        for (old, new, old_value, value, default) in [
            (
                "oidc.sso_ttl_secs",
                "signin.sso_ttl_secs",
                self.oidc.sso_ttl_secs.take(),
                &mut self.signin.sso_ttl_secs,
                defaults.sso_ttl_secs,
            ),
            (
                "oidc.login_ttl_secs",
                "signin.page_ttl_secs",
                self.oidc.login_ttl_secs.take(),
                &mut self.signin.page_ttl_secs,
                defaults.page_ttl_secs,
            ),
        ] {
            let Some(v) = old_value else { continue };
            if *value != default && *value != v {
                problems.push(ConfigProblem {
                    key: old.into(),
                    message: format!(
                        "was renamed {new}, which is set too, to another value; keep only {new}"
                    ),
                });
                continue;
            }
            *value = v;
            self.warnings.push(format!(
                "{old} was renamed {new}; the old name is accepted for this release only"
            ));
        }
        problems
    }

    /// Checks the values as a whole.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let mut bad = |key: &str, message: String| {
            out.push(ConfigProblem {
                key: key.into(),
                message,
            })
        };
        if let Err(entries) = crate::forwarded::TrustedProxies::parse(&self.server.trusted_proxies)
        {
            bad(
                "server.trusted_proxies",
                format!(
                    "{} {} not an address or CIDR block like 10.0.0.0/8",
                    entries.join(", "),
                    if entries.len() == 1 { "is" } else { "are" }
                ),
            );
        }
        if let Some(m) = &self.server.metrics_listen {
            if m.parse::<SocketAddr>().is_err() {
                bad(
                    "server.metrics_listen",
                    format!("{m:?} is not an address like 127.0.0.1:9100"),
                );
            }
        }
        if self.server.listen.parse::<SocketAddr>().is_err() {
            bad(
                "server.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:8080",
                    self.server.listen
                ),
            );
        }
        if let Err(m) = check_issuer(&self.server.issuer) {
            bad("server.issuer", m);
        }
        for (key, m) in self.telemetry.problems() {
            bad(key, m);
        }
        if self.server.max_body_bytes < 1024 {
            bad("server.max_body_bytes", "must be at least 1024".into());
        }
        if self.server.drain_secs > 300 || self.server.shutdown_timeout_secs > 600 {
            bad(
                "server.drain_secs",
                "drain_secs must be 0 to 300 and shutdown_timeout_secs 0 to 600".into(),
            );
        }
        if self.server.request_timeout_secs == 0 {
            bad("server.request_timeout_secs", "must be at least 1".into());
        }
        if lanyard_store::backend_of(&self.database.url).is_none() {
            bad(
                "database.url",
                format!(
                    "{:?} must start with sqlite:// or postgres://",
                    lanyard_store::redact_url(&self.database.url)
                ),
            );
        }
        if self.database.max_connections == 0 {
            bad("database.max_connections", "must be at least 1".into());
        }
        match (&self.sessions.store, &self.sessions.redis_url) {
            (SessionBackend::Redis, None) => bad(
                "sessions.redis_url",
                "is required when sessions.store = \"redis\"".into(),
            ),
            (_, Some(u)) if !(u.starts_with("redis://") || u.starts_with("rediss://")) => bad(
                "sessions.redis_url",
                "must start with redis:// or rediss://".into(),
            ),
            _ => {}
        }
        if let Err(e) = self.passwords.argon2.validate() {
            bad("passwords.argon2", e.to_string());
        }
        if !(0..=30 * 86_400).contains(&self.oidc.key_publish_secs) {
            bad("oidc.key_publish_secs", "must be 0 to 2592000".into());
        }
        if self.oidc.key_reload_secs == 0 {
            bad("oidc.key_reload_secs", "must be at least 1".into());
        }
        if !(1..=3650).contains(&self.signin.record_retention_days) {
            bad("signin.record_retention_days", "must be 1 to 3650".into());
        }
        if !(60..=30 * 86_400).contains(&self.signin.sso_ttl_secs) {
            bad("signin.sso_ttl_secs", "must be 60 to 2592000".into());
        }
        if !(10..=600).contains(&self.oidc.code_ttl_secs) {
            bad(
                "oidc.code_ttl_secs",
                "must be 10 to 600 (codes are short-lived)".into(),
            );
        }
        if self.oidc.refresh_token_reuse_grace_secs > 300 {
            bad(
                "oidc.refresh_token_reuse_grace_secs",
                "must be 0 to 300 (a retry comes within seconds)".into(),
            );
        }
        if !(60..=86_400).contains(&self.signin.page_ttl_secs) {
            bad("signin.page_ttl_secs", "must be 60 to 86400".into());
        }
        if self.passwords.hashing_threads > 256 {
            bad(
                "passwords.hashing_threads",
                "must be 0 (one per core) to 256; each keeps its hash memory".into(),
            );
        }
        if self.login.max_failures_per_account == 0 || self.login.max_failures_per_ip == 0 {
            bad("login", "failure limits must be at least 1".into());
        }
        if self.login.max_ip_delay_secs > self.server.request_timeout_secs / 2 {
            bad(
                "login.max_ip_delay_secs",
                "must be at most half of server.request_timeout_secs (a held attempt must still be answered)".into(),
            );
        }
        let (rp_id, rp_name, origins) = self.webauthn_settings();
        if let Err(e) = lanyard_mfa::passkeys::Passkeys::new(&rp_id, &rp_name, &origins) {
            bad("webauthn", e.to_string());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            bad(
                "log.level",
                format!("{:?} is not a valid log filter", self.log.level),
            );
        }
        out
    }

    /// Hashing threads, resolving 0 to the number of cores.
    pub fn hashing_threads(&self) -> usize {
        match self.passwords.hashing_threads {
            0 => std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            n => n,
        }
    }
}

/// The issuer must be an absolute http(s) URL without query or fragment; plain http only on
/// loopback (RFC 9700 and OIDC Core require TLS elsewhere).
fn check_issuer(issuer: &str) -> Result<(), String> {
    let rest = issuer
        .strip_prefix("https://")
        .map(|r| (r, true))
        .or_else(|| issuer.strip_prefix("http://").map(|r| (r, false)));
    let Some((rest, tls)) = rest else {
        return Err(format!("{issuer:?} must start with https://"));
    };
    if rest.is_empty() || rest.contains(['?', '#']) || issuer.ends_with('/') {
        return Err(format!(
            "{issuer:?} must be a URL without query, fragment or trailing slash"
        ));
    }
    let host = rest.split('/').next().unwrap_or_default();
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    if !tls && !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return Err(format!(
            "{issuer:?} must use https:// (plain http is allowed only on loopback)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_the_defaults() {
        let example =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/lanyard.example.toml");
        let loaded = Config::load(Some(&example)).expect("the example loads");
        let json = |c: &Config| serde_json::to_value(c).expect("serialises");
        assert_eq!(json(&loaded), json(&Config::default()));
    }

    #[test]
    fn defaults_are_valid_and_as_documented() {
        let c = Config::default();
        assert!(c.validate().is_empty());
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.server.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://./data/lanyard.db");
        assert_eq!(c.sessions.store, SessionBackend::Memory);
    }

    #[test]
    fn webauthn_defaults_follow_the_issuer() {
        let mut c = Config::default();
        let (rp, _, origins) = c.webauthn_settings();
        assert_eq!(rp, "localhost");
        assert_eq!(origins, ["http://localhost:8080"]);
        c.server.issuer = "https://sso.example.com".into();
        let (rp, _, origins) = c.webauthn_settings();
        assert_eq!(
            (rp.as_str(), origins),
            (
                "sso.example.com",
                vec!["https://sso.example.com".to_string()]
            )
        );
    }

    #[test]
    fn unknown_sections_are_named_and_known_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[oidc]\nsso_ttl_secs = 5\n[login]\nlockout_secs = 60\n[webauthn]\nrp_id = \"localhost\"\n[sesions]\nstore = \"memory\"\n").unwrap();
        let problems = Config::load(Some(&path)).unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"sesions"), "{keys:?}");
        assert!(
            !keys
                .iter()
                .any(|k| ["oidc", "login", "webauthn"].contains(k)),
            "{keys:?}"
        );
    }

    #[test]
    fn hashing_threads_are_bounded() {
        let mut c = Config::default();
        c.passwords.hashing_threads = 257;
        let keys: Vec<_> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["passwords.hashing_threads"]);
        c.passwords.hashing_threads = 256;
        assert!(c.validate().is_empty());
    }

    #[test]
    fn issuers() {
        assert!(check_issuer("https://id.example.com").is_ok());
        assert!(check_issuer("https://id.example.com/realms/x").is_ok());
        assert!(check_issuer("http://localhost:8080").is_ok());
        assert!(check_issuer("http://id.example.com").is_err());
        assert!(check_issuer("https://id.example.com/").is_err());
        assert!(check_issuer("https://id.example.com?x=1").is_err());
        assert!(check_issuer("ftp://x").is_err());
    }

    #[test]
    fn every_problem_is_reported_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[server]\nlisten = \"nowhere\"\nissuer = \"http://example.com\"\n[database]\nurl = \"mysql://x\"\n[sessions]\nstore = \"redis\"\n").unwrap();
        let problems = Config::load(Some(&path)).unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.listen",
                "server.issuer",
                "database.url",
                "sessions.redis_url"
            ]
        );
        std::fs::write(
            &path,
            "[server]\nlisen = \"127.0.0.1:1\"\n[log]\nformat = \"xml\"\n",
        )
        .unwrap();
        let problems = Config::load(Some(&path)).unwrap_err();
        let text: Vec<_> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("server.lisen: unknown field")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.starts_with("log.format")), "{text:?}");
    }

    #[test]
    fn renamed_lifetimes_are_accepted_with_a_warning_and_never_fight_the_new_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[oidc]\nsso_ttl_secs = 7200\nlogin_ttl_secs = 600\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!((c.signin.sso_ttl_secs, c.signin.page_ttl_secs), (7200, 600));
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("signin.sso_ttl_secs"));
        std::fs::write(&path, "[signin]\nsso_ttl_secs = 3600\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.signin.sso_ttl_secs, 3600);
        assert!(c.warnings.is_empty());
        std::fs::write(
            &path,
            "[oidc]\nsso_ttl_secs = 7200\n[signin]\nsso_ttl_secs = 3600\n",
        )
        .unwrap();
        let keys: Vec<_> = Config::load(Some(&path))
            .unwrap_err()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(keys, ["oidc.sso_ttl_secs"]);
    }
}
