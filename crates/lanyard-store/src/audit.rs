//! The audit log: who did what to whom, when, with the state before and after. Records are
//! appended inside the transaction of the change they describe.

use crate::rows;
use crate::{Store, StoreError};
use lanyard_core::{AuditActor, AuditId, TenantId};
use serde::Serialize;
use sqlx::AnyConnection;
use time::OffsetDateTime;

/// A record to append.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// The tenant concerned, if any.
    pub tenant_id: Option<TenantId>,
    /// Who.
    pub actor: AuditActor,
    /// What (`user.create`, `user.status`, `role.update`, …).
    pub action: &'static str,
    /// Kind of thing changed (`user`, `role`, `tenant`, …).
    pub target_kind: &'static str,
    /// Its id.
    pub target_id: String,
    /// State before (absent for creations).
    pub before: Option<serde_json::Value>,
    /// State after (absent for deletions).
    pub after: Option<serde_json::Value>,
}

impl AuditRecord {
    /// A record for `action` on (`kind`, `id`) by `actor`; add snapshots with
    /// [`AuditRecord::before`] and [`AuditRecord::after`].
    pub fn new(
        tenant_id: Option<TenantId>,
        actor: &AuditActor,
        action: &'static str,
        target_kind: &'static str,
        target_id: impl ToString,
    ) -> Self {
        Self {
            tenant_id,
            actor: actor.clone(),
            action,
            target_kind,
            target_id: target_id.to_string(),
            before: None,
            after: None,
        }
    }

    /// The state before the change.
    pub fn before(self, v: impl Serialize) -> Self {
        Self {
            before: serde_json::to_value(v).ok(),
            ..self
        }
    }

    /// The state before the change, if there was one.
    pub fn before_opt(self, v: Option<impl Serialize>) -> Self {
        Self {
            before: v.and_then(|v| serde_json::to_value(v).ok()),
            ..self
        }
    }

    /// The state after the change.
    pub fn after(self, v: impl Serialize) -> Self {
        Self {
            after: serde_json::to_value(v).ok(),
            ..self
        }
    }

    /// The state after the change, if there is one.
    pub fn after_opt(self, v: Option<impl Serialize>) -> Self {
        Self {
            after: v.and_then(|v| serde_json::to_value(v).ok()),
            ..self
        }
    }
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Id (time-ordered).
    pub id: AuditId,
    /// Tenant.
    pub tenant_id: Option<TenantId>,
    /// Who, as `user:ID`, `cli:NAME`, `realm:FILE` or `system`.
    pub actor: String,
    /// What.
    pub action: String,
    /// Kind of target.
    pub target_kind: String,
    /// Target id.
    pub target_id: String,
    /// Before.
    pub before: Option<serde_json::Value>,
    /// After.
    pub after: Option<serde_json::Value>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Store {
    /// Appends `rec` on `conn` (inside the caller's transaction).
    pub(crate) async fn append_audit(
        &self,
        conn: &mut AnyConnection,
        rec: AuditRecord,
    ) -> Result<(), StoreError> {
        let id: AuditId = self.ids().next();
        let js = |v: &Option<serde_json::Value>| v.as_ref().map(ToString::to_string);
        sqlx::query(
            "INSERT INTO audit_log (id, tenant_id, actor, action, target_kind, target_id, before_json, after_json, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(rec.tenant_id.map(|t| t.to_string()))
        .bind(rec.actor.to_string())
        .bind(rec.action)
        .bind(rec.target_kind)
        .bind(rec.target_id)
        .bind(js(&rec.before))
        .bind(js(&rec.after))
        .bind(self.now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The history of one target, oldest first.
    pub async fn audit_for(
        &self,
        target_kind: &str,
        target_id: &str,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE target_kind = $1 AND target_id = $2 ORDER BY at, id",
        )
        .bind(target_kind.to_string())
        .bind(target_id.to_string())
        .fetch_all(self.pool()?)
        .await?;
        rows.iter().map(entry).collect()
    }

    /// The newest `limit` records of a tenant, newest first.
    pub async fn audit_recent(
        &self,
        tenant: TenantId,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(tenant.to_string())
        .bind(limit)
        .fetch_all(self.pool()?)
        .await?;
        rows.iter().map(entry).collect()
    }
}

pub(crate) fn entry(r: &sqlx::any::AnyRow) -> Result<AuditEntry, StoreError> {
    let json = |col| -> Result<Option<serde_json::Value>, StoreError> {
        rows::opt_text(r, col)?
            .map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    };
    Ok(AuditEntry {
        id: rows::id(r, "id")?,
        tenant_id: rows::opt_id(r, "tenant_id")?,
        actor: rows::text(r, "actor")?,
        action: rows::text(r, "action")?,
        target_kind: rows::text(r, "target_kind")?,
        target_id: rows::text(r, "target_id")?,
        before: json("before_json")?,
        after: json("after_json")?,
        at: rows::time(r, "at")?,
    })
}
