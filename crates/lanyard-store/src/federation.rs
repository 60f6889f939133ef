//! Upstream connections of a tenant and the links from upstream people to Lanyard people;
//! just-in-time people are made here in one transaction with their link.
//!
//! A connection's spec is opaque JSON to the store (the federation crate gives it its type);
//! its client secret is kept apart, sealed, and never written to the audit trail.

use crate::audit::AuditRecord;
use crate::rows;
use crate::users::{check_refs, write_user};
use crate::{Store, StoreError};
use lanyard_core::account::Employment;
use lanyard_core::{AccountId, AuditActor, TenantId, User, UserId};
use serde_json::Value;

/// A connection as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    pub tenant_id: TenantId,
    pub name: String,
    /// `oidc` (more kinds to come).
    pub kind: String,
    /// Everything but the secret.
    pub spec: Value,
    /// The client secret, opened.
    pub secret: Option<String>,
}

fn context(tenant: TenantId, name: &str) -> String {
    format!("connection-secret:{tenant}:{name}")
}

impl Store {
    fn connection_row(&self, r: &sqlx::any::AnyRow) -> Result<ConnectionRecord, StoreError> {
        let tenant_id: TenantId = rows::id(r, "tenant_id")?;
        let name = rows::text(r, "name")?;
        let secret = match rows::opt_text(r, "secret")? {
            Some(stored) => {
                let (kid, sealed) = stored
                    .split_once(':')
                    .ok_or_else(|| StoreError::Corrupt("connection secret".into()))?;
                let plain = self.keyring.open(kid, sealed, &context(tenant_id, &name))?;
                Some(
                    String::from_utf8(plain.to_vec())
                        .map_err(|_| StoreError::Corrupt("connection secret".into()))?,
                )
            }
            None => None,
        };
        Ok(ConnectionRecord {
            tenant_id,
            name,
            kind: rows::text(r, "kind")?,
            spec: serde_json::from_str(&rows::text(r, "spec")?)
                .map_err(|e| StoreError::Corrupt(format!("connection spec: {e}")))?,
            secret,
        })
    }

    /// A tenant's connections, by name.
    pub async fn connections(&self, tenant: TenantId) -> Result<Vec<ConnectionRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM connections WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant.to_string())
            .fetch_all(self.pool()?)
            .await?;
        rows.iter().map(|r| self.connection_row(r)).collect()
    }

    /// One connection.
    pub async fn connection(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM connections WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.to_string())
            .bind(name.to_string())
            .fetch_optional(self.pool()?)
            .await?;
        row.as_ref().map(|r| self.connection_row(r)).transpose()
    }

    /// The person an upstream subject is linked to.
    pub async fn federated_user(
        &self,
        tenant: TenantId,
        connection: &str,
        subject: &str,
    ) -> Result<Option<UserId>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id FROM federated_links WHERE tenant_id = $1 AND connection = $2 AND subject = $3",
        )
        .bind(tenant.to_string())
        .bind(connection.to_string())
        .bind(subject.to_string())
        .fetch_optional(self.pool()?)
        .await?;
        row.as_ref().map(|r| rows::id(r, "user_id")).transpose()
    }

    /// Links an existing person to an upstream subject, audited.
    pub async fn link_federated(
        &self,
        actor: &AuditActor,
        user: &User,
        connection: &str,
        subject: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        insert_link(self, &mut tx, actor, user, connection, subject).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes a new person for an upstream subject, with his employment and link, in one
    /// transaction (audited as done by `actor`, the connection).
    pub async fn provision_federated(
        &self,
        actor: &AuditActor,
        new: crate::NewUser,
        account: Option<AccountId>,
        connection: &str,
        subject: &str,
    ) -> Result<User, StoreError> {
        let mut tx = self.write_tx().await?;
        let now = self.clock.now();
        let user = User {
            id: self.ids().next(),
            tenant_id: new.tenant_id,
            profile: new.profile,
            status: new.status,
            location_id: new.location_id,
            roles: new.roles,
            main_role: new.main_role,
            created_at: now,
            updated_at: now,
            anonymised: false,
            version: 1,
        };
        check_refs(&mut tx, &user).await?;
        write_user(&mut tx, &user, true).await?;
        let rec = AuditRecord::new(Some(user.tenant_id), actor, "user.create", "user", user.id)
            .after(crate::users::snapshot(&user));
        self.append_audit(&mut tx, rec).await?;
        if let Some(account_id) = account {
            let e = Employment {
                id: self.ids().next(),
                user_id: user.id,
                account_id,
                starts_on: now.date(),
                ends_on: None,
                main: true,
            };
            sqlx::query("INSERT INTO employments (id, user_id, account_id, starts_on, ends_on, main) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(e.id.to_string())
                .bind(user.id.to_string())
                .bind(e.account_id.to_string())
                .bind(rows::date_text(e.starts_on))
                .bind(None::<String>)
                .bind(rows::b(true))
                .execute(&mut *tx)
                .await?;
            let rec = AuditRecord::new(
                Some(user.tenant_id),
                actor,
                "user.employments",
                "user",
                user.id,
            )
            .after(vec![e]);
            self.append_audit(&mut tx, rec).await?;
        }
        insert_link(self, &mut tx, actor, &user, connection, subject).await?;
        tx.commit().await?;
        Ok(user)
    }
}

async fn insert_link(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    actor: &AuditActor,
    user: &User,
    connection: &str,
    subject: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO federated_links (tenant_id, connection, subject, user_id, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(user.tenant_id.to_string())
        .bind(connection.to_string())
        .bind(subject.to_string())
        .bind(user.id.to_string())
        .bind(store.now_ms())
        .execute(&mut *conn)
        .await?;
    let rec = AuditRecord::new(Some(user.tenant_id), actor, "user.link", "user", user.id)
        .after(serde_json::json!({"connection": connection, "subject": subject}));
    store.append_audit(conn, rec).await
}

/// Inserts or replaces a connection; returns `None` if nothing changed, else whether it was
/// new. The secret is compared opened and stored sealed; the audit shows only whether one is
/// set.
pub(crate) async fn put_connection(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    actor: &AuditActor,
    c: &ConnectionRecord,
) -> Result<Option<bool>, StoreError> {
    let row = sqlx::query("SELECT * FROM connections WHERE tenant_id = $1 AND name = $2")
        .bind(c.tenant_id.to_string())
        .bind(c.name.clone())
        .fetch_optional(&mut *conn)
        .await?;
    let old = row.as_ref().map(|r| store.connection_row(r)).transpose()?;
    if old.as_ref() == Some(c) {
        return Ok(None);
    }
    let secret = match &c.secret {
        Some(s) => {
            let (kid, sealed) = store
                .keyring
                .seal(s.as_bytes(), &context(c.tenant_id, &c.name))?;
            Some(format!("{kid}:{sealed}"))
        }
        None => None,
    };
    let spec = c.spec.to_string();
    let now = store.now_ms();
    let sql = if old.is_some() {
        "UPDATE connections SET kind = $3, spec = $4, secret = $5, updated_at = $6 WHERE tenant_id = $1 AND name = $2"
    } else {
        "INSERT INTO connections (tenant_id, name, kind, spec, secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)"
    };
    sqlx::query(sql)
        .bind(c.tenant_id.to_string())
        .bind(c.name.clone())
        .bind(c.kind.clone())
        .bind(spec)
        .bind(secret)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let view = |r: &ConnectionRecord| serde_json::json!({"kind": r.kind, "spec": r.spec, "secret_set": r.secret.is_some()});
    let action = if old.is_some() {
        "connection.update"
    } else {
        "connection.create"
    };
    let rec = AuditRecord::new(Some(c.tenant_id), actor, action, "connection", &c.name)
        .before_opt(old.as_ref().map(view))
        .after(view(c));
    store.append_audit(conn, rec).await?;
    Ok(Some(old.is_none()))
}
