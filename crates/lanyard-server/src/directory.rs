//! The IdP's view of clients and people, served from the store.

use async_trait::async_trait;
use lanyard_core::{ClientSpec, UserId};
use lanyard_idp::claims::LocationClaim;
use lanyard_idp::{Directory, DirectoryError, Person};
use lanyard_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a client registration is served from memory before it is read again. Client
/// changes (`lanyard apply`, possibly in another process) reach every process within this time.
const CLIENT_CACHE: Duration = Duration::from_secs(5);

/// [`Directory`] over [`Store`], with client registrations cached briefly (they are read on
/// every token request and change rarely). People are always read fresh, so a suspension takes
/// effect at once.
pub struct StoreDirectory {
    store: Store,
    clients: Mutex<HashMap<String, (Instant, Option<ClientSpec>)>>,
}

impl StoreDirectory {
    /// Over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, id: &str) -> Option<Option<ClientSpec>> {
        let map = self.clients.lock().ok()?;
        map.get(id)
            .filter(|(at, _)| at.elapsed() < CLIENT_CACHE)
            .map(|(_, c)| c.clone())
    }

    fn remember(&self, id: &str, client: Option<ClientSpec>) {
        if let Ok(mut map) = self.clients.lock() {
            if map.len() > 10_000 {
                map.retain(|_, (at, _)| at.elapsed() < CLIENT_CACHE);
            }
            map.insert(id.to_string(), (Instant::now(), client));
        }
    }
}

fn dir_err(e: StoreError) -> DirectoryError {
    if e.is_unavailable() {
        DirectoryError::Unavailable(e.to_string())
    } else {
        DirectoryError::Failed(e.to_string())
    }
}

/// Builds the token view of a person.
pub async fn person(store: &Store, user: UserId) -> Result<Option<Person>, StoreError> {
    let Some(u) = store.user(user).await? else {
        return Ok(None);
    };
    let tenant = store
        .tenant(u.tenant_id)
        .await?
        .ok_or(StoreError::NotFound("tenant"))?;
    let roles = store.roles(u.tenant_id).await?;
    let held: Vec<_> = roles
        .iter()
        .filter(|r| u.roles.contains(&r.id))
        .cloned()
        .collect();
    let may_sign_in = lanyard_core::status::may_sign_in(u.status, &held).is_ok();
    let today = store.clock().now().date();
    let employments = store.employments(u.id).await?;
    let accounts = store.accounts(u.tenant_id).await?;
    let name_of = |id| accounts.iter().find(|a| a.id == id).map(|a| a.name.clone());
    let current: Vec<_> = employments.iter().filter(|e| e.is_current(today)).collect();
    let location = match u.location_id {
        Some(l) => {
            let tree = lanyard_core::LocationTree::new(store.locations(u.tenant_id).await?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Some(LocationClaim {
                id: l.to_string(),
                path: tree.path_string(l),
            })
        }
        None => None,
    };
    Ok(Some(Person {
        user_id: u.id,
        tenant_id: u.tenant_id,
        tenant: tenant.slug,
        may_sign_in,
        given_name: u.profile.given_name.clone(),
        family_name: u.profile.family_name.clone(),
        email: u.profile.email.clone(),
        username: u.profile.username.clone(),
        updated_at: u.updated_at.unix_timestamp(),
        roles: held.iter().map(|r| r.name.clone()).collect(),
        main_role: u
            .main_role
            .and_then(|m| held.iter().find(|r| r.id == m))
            .map(|r| r.name.clone()),
        accounts: current
            .iter()
            .filter_map(|e| name_of(e.account_id))
            .collect(),
        main_account: current
            .iter()
            .find(|e| e.main)
            .and_then(|e| name_of(e.account_id)),
        location,
    }))
}

#[async_trait]
impl Directory for StoreDirectory {
    async fn client(&self, client_id: &str) -> Result<Option<ClientSpec>, DirectoryError> {
        if let Some(hit) = self.cached(client_id) {
            return Ok(hit);
        }
        let client = self.store.client(client_id).await.map_err(dir_err)?;
        self.remember(client_id, client.clone());
        Ok(client)
    }

    async fn person(&self, user: UserId) -> Result<Option<Person>, DirectoryError> {
        person(&self.store, user).await.map_err(dir_err)
    }
}
