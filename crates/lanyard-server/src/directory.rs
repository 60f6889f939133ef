//! The IdP's view of clients and people, served from the store.

use async_trait::async_trait;
use lanyard_core::{ClientSpec, UserId};
use lanyard_idp::claims::LocationClaim;
use lanyard_idp::{Directory, DirectoryError, Person};
use lanyard_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a client registration, or a tenant's shared data (the tenant with its branding and
/// MFA policy, roles, accounts, locations), is
/// served from memory before it is read again; changes (`lanyard apply`, possibly in another
/// process) reach every process within this time. A person's own record is never cached.
const CLIENT_CACHE: Duration = Duration::from_secs(5);

/// [`Directory`] over [`Store`], with client registrations cached briefly (they are read on
/// every token request and change rarely). People are always read fresh, so a suspension takes
/// effect at once.
pub struct StoreDirectory {
    store: Store,
    clients: Mutex<HashMap<String, (Instant, Option<ClientSpec>)>>,
    tenants: Mutex<HashMap<lanyard_core::TenantId, (Instant, Arc<TenantView>)>>,
}

impl StoreDirectory {
    /// Over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            clients: Mutex::new(HashMap::new()),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// A tenant's shared data (the tenant, its roles, accounts and locations), at most
    /// [`CLIENT_CACHE`] old: what sign-in pages, MFA policy and tokens read for every person.
    pub async fn tenant(
        &self,
        tenant: lanyard_core::TenantId,
    ) -> Result<Arc<TenantView>, StoreError> {
        let hit = self.tenants.lock().ok().and_then(|m| {
            m.get(&tenant)
                .filter(|(at, _)| at.elapsed() < CLIENT_CACHE)
                .map(|(_, v)| v.clone())
        });
        if let Some(v) = hit {
            return Ok(v);
        }
        let v = Arc::new(tenant_view(&self.store, tenant).await?);
        if let Ok(mut m) = self.tenants.lock() {
            m.insert(tenant, (Instant::now(), v.clone()));
        }
        Ok(v)
    }

    /// A client registration, at most [`CLIENT_CACHE`] old.
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientSpec>, StoreError> {
        if let Some(hit) = self.cached(client_id) {
            return Ok(hit);
        }
        let client = self.store.client(client_id).await?;
        self.remember(client_id, client.clone());
        Ok(client)
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

/// What every person of a tenant shares: read once, used for many tokens and sign-ins.
pub struct TenantView {
    tenant: lanyard_core::Tenant,
    roles: Vec<lanyard_core::Role>,
    accounts: Vec<lanyard_core::Account>,
    tree: lanyard_core::LocationTree,
    /// Its upstream OpenID Connect connections (without their secrets).
    connections: Vec<lanyard_federation::OidcConnection>,
}

impl TenantView {
    /// The tenant (name, branding, MFA policy).
    pub fn tenant(&self) -> &lanyard_core::Tenant {
        &self.tenant
    }

    /// The names of those of the tenant's roles that `held` lists.
    pub fn role_names(
        &self,
        held: &std::collections::BTreeSet<lanyard_core::RoleId>,
    ) -> Vec<String> {
        self.held(held).map(|r| r.name.clone()).collect()
    }

    /// The tenant's upstream OpenID Connect connections (secrets left out).
    pub fn connections(&self) -> &[lanyard_federation::OidcConnection] {
        &self.connections
    }

    /// A role by name (case-insensitive).
    pub fn role_by_name(&self, name: &str) -> Option<&lanyard_core::Role> {
        self.roles
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// An account by name (case-insensitive).
    pub fn account_by_name(&self, name: &str) -> Option<&lanyard_core::Account> {
        self.accounts
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// A location by its path (`A > B > C`).
    pub fn location_by_path(&self, path: &str) -> Option<&lanyard_core::Location> {
        let parts: Vec<&str> = path.split('>').map(str::trim).collect();
        self.tree.find_by_path(self.tenant.id, &parts)
    }

    /// Those of the tenant's roles that `held` lists.
    pub fn held<'a>(
        &'a self,
        held: &'a std::collections::BTreeSet<lanyard_core::RoleId>,
    ) -> impl Iterator<Item = &'a lanyard_core::Role> + 'a {
        self.roles.iter().filter(|r| held.contains(&r.id))
    }
}

/// Reads a tenant's shared view.
pub async fn tenant_view(
    store: &Store,
    tenant: lanyard_core::TenantId,
) -> Result<TenantView, StoreError> {
    let t = store
        .tenant(tenant)
        .await?
        .ok_or(StoreError::NotFound("tenant"))?;
    let tree = lanyard_core::LocationTree::new(store.locations(tenant).await?)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(TenantView {
        tenant: t,
        roles: store.roles(tenant).await?,
        accounts: store.accounts(tenant).await?,
        tree,
        connections: store
            .connections(tenant)
            .await?
            .into_iter()
            .filter(|r| r.kind == "oidc")
            .filter_map(|r| serde_json::from_value(r.spec).ok())
            .collect(),
    })
}

/// Builds the token view of a person: his own record (status, roles, employments) always
/// fresh, the tenant's shared data from `view`.
pub async fn person_with(
    store: &Store,
    user: UserId,
    view: impl AsyncFnOnce(lanyard_core::TenantId) -> Result<Arc<TenantView>, StoreError>,
) -> Result<Option<Person>, StoreError> {
    let Some(u) = store.user(user).await? else {
        return Ok(None);
    };
    let t = view(u.tenant_id).await?;
    let held: Vec<_> = t.held(&u.roles).cloned().collect();
    let may_sign_in = lanyard_core::status::may_sign_in(u.status, &held).is_ok();
    let today = store.clock().now().date();
    let employments = store.employments(u.id).await?;
    let name_of = |id| {
        t.accounts
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.name.clone())
    };
    let current: Vec<_> = employments.iter().filter(|e| e.is_current(today)).collect();
    let location = u.location_id.map(|l| LocationClaim {
        id: l.to_string(),
        path: t.tree.path_string(l),
    });
    Ok(Some(Person {
        user_id: u.id,
        tenant_id: u.tenant_id,
        tenant: t.tenant.slug.clone(),
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

/// Builds the token view of a person, reading everything fresh.
pub async fn person(store: &Store, user: UserId) -> Result<Option<Person>, StoreError> {
    person_with(store, user, async |tenant| {
        tenant_view(store, tenant).await.map(Arc::new)
    })
    .await
}

#[async_trait]
impl Directory for StoreDirectory {
    async fn client(&self, client_id: &str) -> Result<Option<ClientSpec>, DirectoryError> {
        StoreDirectory::client(self, client_id)
            .await
            .map_err(dir_err)
    }

    async fn person(&self, user: UserId) -> Result<Option<Person>, DirectoryError> {
        person_with(&self.store, user, async |tenant| self.tenant(tenant).await)
            .await
            .map_err(dir_err)
    }
}
