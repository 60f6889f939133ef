//! Who did something, as the audit log records it.

use crate::ids::UserId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The author of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum AuditActor {
    /// A signed-in person.
    User(UserId),
    /// An operator at the command line (with the OS user name when known).
    Cli(String),
    /// `lanyard apply` of a realm file (with the file name).
    Realm(String),
    /// Lanyard itself (expiry, migrations).
    System,
    /// An upstream connection (just-in-time people), by its name.
    Connection(String),
    /// A provisioning client acting with an admin role (client credentials), by client id.
    Client(String),
}

impl fmt::Display for AuditActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditActor::User(id) => write!(f, "user:{id}"),
            AuditActor::Cli(who) => write!(f, "cli:{who}"),
            AuditActor::Realm(file) => write!(f, "realm:{file}"),
            AuditActor::System => f.write_str("system"),
            AuditActor::Connection(name) => write!(f, "connection:{name}"),
            AuditActor::Client(id) => write!(f, "client:{id}"),
        }
    }
}
