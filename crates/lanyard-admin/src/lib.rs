//! `lanyard-admin`: the one administration service. Every entry point that changes people —
//! the HTTP admin API, the CLI (as the operator, or `--as` someone) — calls it with the acting
//! party, and it enforces the rules of `lanyard_core::scope` before touching the store: scope
//! (self, location, subtree, organisation, organisation and clients), the rank ceiling, the
//! privileges (reports-only roles read, never change) and sensitive-field visibility. A person
//! outside the caller's scope is "not found", never "forbidden".
//!
//! It knows no HTTP: errors are [`AdminError`]s each entry point renders in its own format.
#![forbid(unsafe_code)]

mod actor;
mod error;
mod people;
mod reports;
mod resolve;
pub mod view;

pub use actor::{Actor, Rules};
pub use error::AdminError;
pub use people::{Lifecycle, ListParams};
pub use reports::{AuditPage, AuditParams, AuditView, SignInPage, SignInParams, SignInView};

use lanyard_core::{Holder, Privilege, TenantId, UserId};
use lanyard_session::Sessions;
use lanyard_store::Store;

/// The administration service.
#[derive(Clone)]
pub struct Admin {
    store: Store,
    sessions: Sessions,
}

impl Admin {
    /// Over a store and the session store (suspensions end sessions at once).
    pub fn new(store: Store, sessions: Sessions) -> Self {
        Self { store, sessions }
    }

    /// A person acting as himself (from his access token).
    pub async fn person(&self, user: UserId) -> Result<Actor, AdminError> {
        let u = self
            .store
            .user(user)
            .await?
            .ok_or(AdminError::NotFound("user"))?;
        let login = u
            .profile
            .email
            .clone()
            .or_else(|| u.profile.username.clone())
            .unwrap_or_default();
        Ok(Actor::Person {
            holder: self.store.holder(&u).await?,
            login,
            audit: lanyard_core::AuditActor::User(u.id),
        })
    }

    /// An operator acting as a person (`lanyard user … --as LOGIN`): the person's rules, the
    /// operator's name in the audit log.
    pub async fn operator_as(
        &self,
        operator: &str,
        tenant: &str,
        login: &str,
    ) -> Result<Actor, AdminError> {
        let t = self
            .store
            .tenant_by_slug(tenant)
            .await?
            .ok_or(AdminError::NotFound("tenant"))?;
        let u = self
            .store
            .user_by_login(t.id, login)
            .await?
            .ok_or(AdminError::NotFound("user"))?;
        Ok(Actor::Person {
            holder: self.store.holder(&u).await?,
            login: login.to_string(),
            audit: lanyard_core::AuditActor::Cli(format!("{operator} as {login}")),
        })
    }

    /// A provisioning client acting with the admin roles its registration grants it.
    pub async fn client(&self, spec: &lanyard_core::ClientSpec) -> Result<Actor, AdminError> {
        let roles = self.store.roles(spec.tenant_id).await?;
        let granted = roles
            .into_iter()
            .filter(|r| {
                spec.admin_roles
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(&r.name))
            })
            .collect();
        Ok(Actor::Client {
            holder: Holder {
                user_id: actor::client_holder_id(),
                tenant_id: spec.tenant_id,
                location_id: None,
                roles: granted,
            },
            client_id: spec.client_id.clone(),
        })
    }

    /// The rules' world as it is now (the tenants from `names`, read once per call).
    pub(crate) async fn rules(&self, names: &resolve::Names<'_>) -> Result<Rules, AdminError> {
        let client_of: Vec<(TenantId, TenantId)> = names
            .tenants()
            .iter()
            .filter_map(|t| t.client_of.map(|p| (t.id, p)))
            .collect();
        Ok(Rules {
            tree: self.store.location_tree().await?,
            orgs: lanyard_core::Orgs::new(client_of.iter().copied()),
            client_of,
        })
    }
}

/// Why `actor` may not manage `target`, in words that reveal nothing he cannot see.
pub(crate) fn why_not(actor: &Actor, target: &Holder) -> String {
    if !actor.allows(Privilege::ManageUsers) {
        return "your roles allow reading people, not changing them".into();
    }
    let ceiling = actor
        .holder()
        .map(|h| {
            h.roles
                .iter()
                .filter(|r| r.allows(Privilege::ManageUsers))
                .map(|r| r.rank)
                .max()
                .unwrap_or(i32::MIN)
        })
        .unwrap_or(i32::MAX);
    if target.top_rank() > ceiling {
        return "this person holds a role ranked above yours".into();
    }
    "this person is outside the part of the organisation you manage".into()
}
