//! The provider: settings, keys, sessions, and the directory of clients and people.

use crate::claims::Person;
use crate::keys::KeySet;
use async_trait::async_trait;
use lanyard_core::{ClientSpec, Clock, UserId};
use lanyard_session::Sessions;
use std::sync::{Arc, RwLock};

/// Tunables, with the defaults a careful operator would choose.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The issuer URL (no trailing slash).
    pub issuer: String,
    /// Authorization code lifetime.
    pub code_ttl_secs: i64,
    /// SSO session lifetime.
    pub sso_ttl_secs: i64,
    /// How long a sign-in page may sit before its transaction expires.
    pub login_ttl_secs: i64,
    /// The longest lifetime any client's tokens may have (for key retirement).
    pub max_token_ttl_secs: i64,
}

impl ProviderSettings {
    /// Defaults for `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            code_ttl_secs: 60,
            sso_ttl_secs: 10 * 3600,
            login_ttl_secs: 900,
            max_token_ttl_secs: 86_400,
        }
    }

    /// An endpoint URL under the issuer.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// Why the directory could not answer.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The database is unreachable.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    /// Anything else (logged, never shown).
    #[error("directory failed: {0}")]
    Failed(String),
}

/// Where clients and people come from; the server implements it over the store.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// A registered client.
    async fn client(&self, client_id: &str) -> Result<Option<ClientSpec>, DirectoryError>;
    /// A person as tokens describe him (`None` if he does not exist).
    async fn person(&self, user: UserId) -> Result<Option<Person>, DirectoryError>;
}

/// Everything the protocol endpoints share.
pub struct Provider {
    settings: ProviderSettings,
    keys: RwLock<Arc<KeySet>>,
    sessions: Sessions,
    directory: Arc<dyn Directory>,
    clock: Arc<dyn Clock>,
}

impl Provider {
    /// Assembles a provider.
    pub fn new(
        settings: ProviderSettings,
        keys: KeySet,
        sessions: Sessions,
        directory: Arc<dyn Directory>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            settings,
            keys: RwLock::new(Arc::new(keys)),
            sessions,
            directory,
            clock,
        }
    }

    /// Settings.
    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.read().map(|k| k.clone()).unwrap_or_default()
    }

    /// Replaces the key set (after a rotation or a reload).
    pub fn set_keys(&self, keys: KeySet) {
        if let Ok(mut k) = self.keys.write() {
            *k = Arc::new(keys);
        }
    }

    /// Session state.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Clients and people.
    pub fn directory(&self) -> &dyn Directory {
        self.directory.as_ref()
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }
}
