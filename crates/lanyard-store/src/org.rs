//! Tenants, locations, accounts and roles: reading them (the realm module writes them).

use crate::rows;
use crate::{Store, StoreError};
use lanyard_core::account::{Account, AccountKind};
use lanyard_core::location::{Location, LocationTree};
use lanyard_core::role::{Privilege, Role, ScopeKind};
use lanyard_core::tenant::Tenant;
use lanyard_core::{Orgs, RoleId, RolePreset, TenantId};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use std::collections::BTreeMap;

fn tenant_row(r: &AnyRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: rows::id(r, "id")?,
        slug: rows::text(r, "slug")?,
        name: rows::text(r, "name")?,
        client_of: rows::opt_id(r, "client_of")?,
        preset: rows::parsed(r, "preset", RolePreset::parse)?,
        password_policy: json_col(r, "password_policy")?,
        branding: json_col(r, "branding")?,
        mfa: json_col(r, "mfa_policy")?,
    })
}

fn json_col<T: serde::de::DeserializeOwned>(r: &AnyRow, col: &str) -> Result<T, StoreError> {
    let s = rows::text(r, col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn location_row(r: &AnyRow) -> Result<Location, StoreError> {
    Ok(Location {
        id: rows::id(r, "id")?,
        tenant_id: rows::id(r, "tenant_id")?,
        parent_id: rows::opt_id(r, "parent_id")?,
        name: rows::text(r, "name")?,
        kind: rows::text(r, "kind")?,
    })
}

fn account_row(r: &AnyRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: rows::id(r, "id")?,
        tenant_id: rows::id(r, "tenant_id")?,
        name: rows::text(r, "name")?,
        kind: rows::parsed(r, "kind", AccountKind::parse)?,
    })
}

pub(crate) async fn tenant_by_slug(
    conn: &mut AnyConnection,
    slug: &str,
) -> Result<Option<Tenant>, StoreError> {
    let row = sqlx::query("SELECT * FROM tenants WHERE slug = $1")
        .bind(slug.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(tenant_row).transpose()
}

pub(crate) async fn tenant_by_id(
    conn: &mut AnyConnection,
    id: TenantId,
) -> Result<Option<Tenant>, StoreError> {
    let row = sqlx::query("SELECT * FROM tenants WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(tenant_row).transpose()
}

pub(crate) async fn locations_of(
    conn: &mut AnyConnection,
    tenant: TenantId,
) -> Result<Vec<Location>, StoreError> {
    let rows = sqlx::query("SELECT * FROM locations WHERE tenant_id = $1 ORDER BY id")
        .bind(tenant.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(location_row).collect()
}

pub(crate) async fn accounts_of(
    conn: &mut AnyConnection,
    tenant: TenantId,
) -> Result<Vec<Account>, StoreError> {
    let rows = sqlx::query("SELECT * FROM accounts WHERE tenant_id = $1 ORDER BY name_lower")
        .bind(tenant.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(account_row).collect()
}

pub(crate) async fn roles_of(
    conn: &mut AnyConnection,
    tenant: TenantId,
) -> Result<Vec<Role>, StoreError> {
    let rows = sqlx::query("SELECT * FROM roles WHERE tenant_id = $1 ORDER BY rank, name_lower")
        .bind(tenant.to_string())
        .fetch_all(&mut *conn)
        .await?;
    let privs = sqlx::query(
        "SELECT p.role_id, p.privilege FROM role_privileges p JOIN roles r ON r.id = p.role_id WHERE r.tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut by_role: BTreeMap<String, Vec<Privilege>> = BTreeMap::new();
    for p in &privs {
        by_role
            .entry(rows::text(p, "role_id")?)
            .or_default()
            .push(rows::parsed(p, "privilege", Privilege::parse)?);
    }
    rows.iter()
        .map(|r| {
            let id = rows::text(r, "id")?;
            Ok(Role {
                id: rows::id(r, "id")?,
                tenant_id: rows::id(r, "tenant_id")?,
                name: rows::text(r, "name")?,
                rank: i32::try_from(rows::int(r, "rank")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                scope: rows::parsed(r, "scope", ScopeKind::parse)?,
                privileges: by_role
                    .remove(&id)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                reports_only: rows::flag(r, "reports_only")?,
                can_sign_in: rows::flag(r, "can_sign_in")?,
                sees_sensitive: rows::flag(r, "sees_sensitive")?,
            })
        })
        .collect()
}

impl Store {
    /// A tenant by slug.
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        tenant_by_slug(&mut *self.pool()?.acquire().await?, slug).await
    }

    /// A tenant by id.
    pub async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        tenant_by_id(&mut *self.pool()?.acquire().await?, id).await
    }

    /// Every tenant, by slug.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tenants ORDER BY slug")
            .fetch_all(self.pool()?)
            .await?;
        rows.iter().map(tenant_row).collect()
    }

    /// Which tenants are clients of which.
    pub async fn orgs(&self) -> Result<Orgs, StoreError> {
        let rows = sqlx::query("SELECT id, client_of FROM tenants WHERE client_of IS NOT NULL")
            .fetch_all(self.pool()?)
            .await?;
        let pairs = rows
            .iter()
            .map(|r| Ok((rows::id(r, "id")?, rows::id(r, "client_of")?)))
            .collect::<Result<Vec<(TenantId, TenantId)>, StoreError>>()?;
        Ok(Orgs::new(pairs))
    }

    /// The location tree of every tenant (scope checks may cross into client organisations).
    pub async fn location_tree(&self) -> Result<LocationTree, StoreError> {
        let rows = sqlx::query("SELECT * FROM locations")
            .fetch_all(self.pool()?)
            .await?;
        let all = rows
            .iter()
            .map(location_row)
            .collect::<Result<Vec<_>, _>>()?;
        LocationTree::new(all).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// A tenant's locations.
    pub async fn locations(&self, tenant: TenantId) -> Result<Vec<Location>, StoreError> {
        locations_of(&mut *self.pool()?.acquire().await?, tenant).await
    }

    /// A tenant's accounts.
    pub async fn accounts(&self, tenant: TenantId) -> Result<Vec<Account>, StoreError> {
        accounts_of(&mut *self.pool()?.acquire().await?, tenant).await
    }

    /// The role set that applies in `tenant`: its own, or its provider's for a client
    /// organisation.
    pub async fn roles(&self, tenant: TenantId) -> Result<Vec<Role>, StoreError> {
        let mut conn = self.pool()?.acquire().await?;
        let owner = role_owner(&mut conn, tenant).await?;
        roles_of(&mut conn, owner).await
    }

    /// One role by id.
    pub async fn role(&self, id: RoleId) -> Result<Option<Role>, StoreError> {
        let mut conn = self.pool()?.acquire().await?;
        let row = sqlx::query("SELECT tenant_id FROM roles WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let tenant: TenantId = rows::id(&row, "tenant_id")?;
        Ok(roles_of(&mut conn, tenant)
            .await?
            .into_iter()
            .find(|r| r.id == id))
    }
}

/// The tenant whose role set `tenant` uses.
pub(crate) async fn role_owner(
    conn: &mut AnyConnection,
    tenant: TenantId,
) -> Result<TenantId, StoreError> {
    let t = tenant_by_id(conn, tenant)
        .await?
        .ok_or(StoreError::NotFound("tenant"))?;
    Ok(t.client_of.unwrap_or(t.id))
}
