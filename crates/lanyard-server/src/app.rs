//! The running application: configuration, store, hashing pool and clock, built once.

use crate::config::{Config, SessionBackend};
use crate::hashing::Hasher;
use crate::realm::{FilePassword, ParsedRealm};
use anyhow::Context;
use lanyard_core::{AuditActor, Clock, SystemClock};
use lanyard_idp::{Provider, ProviderSettings};
use lanyard_session::{MemoryStore, RedisStore, SessionStore, Sessions};
use lanyard_store::realm::PasswordPlan;
use lanyard_store::{ApplyReport, Keyring, Store, StoreOptions};
use std::path::Path;
use std::sync::Arc;

/// Everything a request or command needs.
pub struct App {
    /// The configuration it started with.
    pub config: Config,
    /// Durable storage.
    pub store: Store,
    /// The bounded Argon2id pool.
    pub hasher: Hasher,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Short-lived state.
    pub sessions: Sessions,
    /// The OpenID Connect provider.
    pub provider: Arc<Provider>,
    /// Clients and tenants' shared data, cached briefly (the provider reads through it too).
    pub directory: Arc<crate::directory::StoreDirectory>,
    /// The WebAuthn relying party.
    pub passkeys: Arc<lanyard_mfa::passkeys::Passkeys>,
    /// The SAML signing keys and certificates (reloaded with the OIDC keys).
    saml_keys: std::sync::RwLock<Arc<lanyard_idp::saml::SamlKeys>>,
    /// The signed IdP metadata last made, for the keys it was made with.
    saml_metadata: std::sync::Mutex<Option<SignedMetadata>>,
    /// Upstream providers met so far, with the connection they were made for (a changed
    /// connection makes a new one).
    pub upstreams: crate::federation::Upstreams,
    /// The proxies whose forwarded-for headers are believed.
    pub trusted_proxies: crate::forwarded::TrustedProxies,
    /// Set on SIGTERM: `/readyz` turns 503 so the balancer drains this node.
    pub draining: std::sync::atomic::AtomicBool,
    /// What `/metrics` reports.
    pub metrics: crate::metrics::Metrics,
    /// Whether the session store answered its last ping (always, in process).
    pub sessions_up: Arc<std::sync::atomic::AtomicBool>,
    /// The administration service every entry point changes people through.
    pub admin: lanyard_admin::Admin,
}

/// Signed metadata kept for reuse: signing it costs an RSA signature, and the endpoint is public.
#[derive(Clone)]
pub struct SignedMetadata {
    /// The keys it lists (the same `Arc` while no reload happened).
    pub keys: Arc<lanyard_idp::saml::SamlKeys>,
    /// When it was made (Unix seconds).
    pub made_at: i64,
    /// The document.
    pub xml: Arc<str>,
}

/// How long signed metadata is reused: well inside the time a next key is published before
/// it signs (`oidc.key_publish_secs`), so no SP misses a certificate.
pub const METADATA_REUSE_SECS: i64 = 60;

/// Connects the configured session store.
pub async fn session_store(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn SessionStore>> {
    Ok(match config.sessions.store {
        SessionBackend::Memory => Arc::new(MemoryStore::new(clock)),
        SessionBackend::Redis => {
            let url = config
                .sessions
                .redis_url
                .as_deref()
                .context("sessions.redis_url is required")?;
            let store = RedisStore::connect(url, &config.sessions.key_prefix)
                .await
                .with_context(|| {
                    format!("connecting to Redis at {}", lanyard_store::redact_url(url))
                })?;
            warn_without_persistence(&store).await;
            Arc::new(store)
        }
    })
}

/// Pings the shared session store every second and logs when it stops and starts answering
/// (requests that need it fail at once meanwhile; this is what tells the operator).
async fn watch_sessions(up: std::sync::Weak<std::sync::atomic::AtomicBool>, sessions: Sessions) {
    use std::sync::atomic::Ordering;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let answers = sessions.store().ping().await;
        let Some(flag) = up.upgrade() else {
            return;
        };
        let was = flag.swap(answers.is_ok(), Ordering::Relaxed);
        match answers {
            Err(e) if was => tracing::error!(
                error = %e,
                "the session store (Redis) does not answer: sign-ins, codes and refreshes get 503 until it does"
            ),
            // At `warn`, like the outage: an operator who sees one must see the other.
            Ok(()) if !was => tracing::warn!("the session store (Redis) answers again"),
            _ => {}
        }
    }
}

/// Refresh tokens (valid for weeks) and SSO sessions live only in Redis: a Redis that does
/// not write an append-only file loses them all when it restarts.
async fn warn_without_persistence(store: &RedisStore) {
    match store.persistence().await {
        Some((appendonly, _)) if appendonly == "yes" => {}
        Some((_, save)) => tracing::warn!(
            snapshots = %save,
            "Redis runs without its append-only file (appendonly no): when it restarts, every \
             refresh token and SSO session is lost (snapshots keep only what they last saved); \
             set `appendonly yes` and `appendfsync everysec` (docs/operations.md)"
        ),
        None => tracing::info!(
            "could not read Redis's persistence settings (CONFIG is not allowed); production \
             Redis needs `appendonly yes` (docs/operations.md)"
        ),
    }
}

/// Reads the key file, creating it (mode 0600) with one fresh key if it does not exist.
pub fn load_keyring(path: &Path) -> anyhow::Result<Keyring> {
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        use std::io::Write;
        let mut f = opts
            .open(path)
            .with_context(|| format!("creating key file {}", path.display()))?;
        f.write_all(Keyring::generate_file_text().as_bytes())?;
        tracing::info!(path = %path.display(), "created a new key-encryption key file");
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    Keyring::parse(&text).with_context(|| format!("key file {}", path.display()))
}

impl App {
    /// Opens the store (migrating it) and builds the pools.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let keyring = load_keyring(&config.secrets.key_file)?;
        let mut opts = StoreOptions::new(config.database.url.clone());
        opts.max_connections = config.database.max_connections;
        let store = Store::open(&opts, clock.clone(), keyring)
            .await
            .with_context(|| {
                format!(
                    "opening {}",
                    lanyard_store::redact_url(&config.database.url)
                )
            })?;
        store.migrate().await?;
        let hasher = Hasher::new(
            config.passwords.argon2,
            config.hashing_threads(),
            config.passwords.hashing_queue,
        )
        .context("starting the password hashing threads")?;
        let metrics = crate::metrics::Metrics::default();
        let measured = crate::store_metrics::Measured::new(
            session_store(&config, clock.clone()).await?,
            metrics.session_store(),
        );
        let sessions = Sessions::new(Arc::new(measured)).with_refresh_grace(
            std::time::Duration::from_secs(config.oidc.refresh_token_reuse_grace_secs),
        );
        let keys = crate::keys::load_or_bootstrap(&store).await?;
        let mut settings = ProviderSettings::new(config.server.issuer.clone());
        settings.code_ttl_secs = config.oidc.code_ttl_secs;
        settings.sso_ttl_secs = config.signin.sso_ttl_secs;
        settings.login_ttl_secs = config.signin.page_ttl_secs;
        let directory = Arc::new(crate::directory::StoreDirectory::new(store.clone()));
        let provider = Arc::new(Provider::new(
            settings,
            keys,
            sessions.clone(),
            directory.clone(),
            clock.clone(),
        ));
        let saml_keys = crate::keys::load_saml(&store, &config.server.issuer).await?;
        let (rp_id, rp_name, origins) = config.webauthn_settings();
        let passkeys = Arc::new(lanyard_mfa::passkeys::Passkeys::new(
            &rp_id, &rp_name, &origins,
        )?);
        let sessions_up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        if config.sessions.store == SessionBackend::Redis {
            tokio::spawn(watch_sessions(
                Arc::downgrade(&sessions_up),
                sessions.clone(),
            ));
        }
        // Checked with the rest of the configuration; an entry that does not parse stops the start.
        let trusted_proxies =
            crate::forwarded::TrustedProxies::parse(&config.server.trusted_proxies)
                .map_err(|bad| anyhow::anyhow!("server.trusted_proxies: {}", bad.join(", ")))?;
        let admin = lanyard_admin::Admin::new(store.clone(), sessions.clone());
        Ok(Self {
            admin,
            config,
            store,
            hasher,
            clock,
            sessions,
            provider,
            directory,
            passkeys,
            saml_keys: std::sync::RwLock::new(Arc::new(saml_keys)),
            saml_metadata: std::sync::Mutex::new(None),
            upstreams: Default::default(),
            trusted_proxies,
            draining: Default::default(),
            metrics,
            sessions_up,
        })
    }

    /// The SAML keys now.
    pub fn saml_keys(&self) -> Arc<lanyard_idp::saml::SamlKeys> {
        match self.saml_keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Signed metadata made less than [`METADATA_REUSE_SECS`] ago with the current keys.
    pub fn saml_metadata(&self, now: i64) -> Option<Arc<str>> {
        let keys = self.saml_keys();
        let kept = match self.saml_metadata.lock() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }?;
        (Arc::ptr_eq(&kept.keys, &keys) && (0..METADATA_REUSE_SECS).contains(&(now - kept.made_at)))
            .then_some(kept.xml)
    }

    /// Keeps signed metadata for reuse.
    pub fn keep_saml_metadata(&self, m: SignedMetadata) {
        match self.saml_metadata.lock() {
            Ok(mut k) => *k = Some(m),
            Err(poisoned) => *poisoned.into_inner() = Some(m),
        }
    }

    /// Replaces the SAML keys (after a reload).
    pub fn set_saml_keys(&self, keys: lanyard_idp::saml::SamlKeys) {
        match self.saml_keys.write() {
            Ok(mut k) => *k = Arc::new(keys),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
        }
    }

    /// The sign-in throttling limits.
    pub fn limits(&self) -> crate::throttle::Limits {
        let l = &self.config.login;
        crate::throttle::Limits {
            per_account: l.max_failures_per_account,
            per_ip: l.max_failures_per_ip,
            window: std::time::Duration::from_secs(l.failure_window_secs),
            lockout: std::time::Duration::from_secs(l.lockout_secs),
            max_ip_delay: std::time::Duration::from_secs(l.max_ip_delay_secs),
        }
    }

    /// Ends every session and refresh family of a person (after suspension or archival).
    pub async fn end_user_sessions(&self, user: lanyard_core::UserId) -> anyhow::Result<()> {
        let (s, f) = self.sessions.end_user(user).await?;
        tracing::info!(%user, sessions = s, refresh_families = f, "ended sessions");
        Ok(())
    }

    /// Applies a parsed realm: passwords already matching what is stored are kept (so a
    /// second apply writes nothing), others are hashed, then the plan goes in one transaction.
    pub async fn apply_realm(
        &self,
        parsed: ParsedRealm,
        actor: &AuditActor,
    ) -> anyhow::Result<ApplyReport> {
        let mut plan = parsed.plan;
        for ((ti, ui), given) in parsed.passwords {
            let Some(tenant) = plan.tenants.get(ti) else {
                continue;
            };
            let Some(user) = tenant.users.get(ui) else {
                continue;
            };
            let login = user
                .profile
                .email
                .clone()
                .or_else(|| user.profile.username.clone())
                .unwrap_or_default();
            let stored = match self.store.tenant_by_slug(&tenant.slug).await? {
                Some(t) => match self.store.user_by_login(t.id, &login).await? {
                    Some(u) => self.store.password_hash(u.id).await?,
                    None => None,
                },
                None => None,
            };
            let decided = match (given, stored) {
                (FilePassword::None, _) => PasswordPlan::Keep,
                (FilePassword::Hash(h), Some(s)) if h == s => PasswordPlan::Keep,
                (FilePassword::Hash(h), _) => PasswordPlan::Set(h),
                (FilePassword::Plain(p), Some(s))
                    if self.hasher.verify(s.clone(), p.clone()).await? =>
                {
                    PasswordPlan::Keep
                }
                (FilePassword::Plain(p), _) => PasswordPlan::Set(self.hasher.hash(p).await?),
            };
            if let Some(u) = plan.tenants.get_mut(ti).and_then(|t| t.users.get_mut(ui)) {
                u.password = decided;
            }
        }
        Ok(self.store.apply_realm(&plan, actor).await?)
    }
}
