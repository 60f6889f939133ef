//! Registered SAML service providers, the certificates of the SAML signing keys, and the
//! persistent NameIDs handed out.

use crate::audit::AuditRecord;
use crate::rows;
use crate::{Store, StoreError};
use lanyard_core::{AuditActor, SamlSpSpec, TenantId, UserId};

fn spec_row(r: &sqlx::any::AnyRow) -> Result<SamlSpSpec, StoreError> {
    serde_json::from_str(&rows::text(r, "spec")?)
        .map_err(|e| StoreError::Corrupt(format!("SAML SP spec: {e}")))
}

pub(crate) async fn sp_by_entity(
    conn: &mut sqlx::AnyConnection,
    entity_id: &str,
) -> Result<Option<SamlSpSpec>, StoreError> {
    let row = sqlx::query("SELECT spec FROM saml_sps WHERE entity_id = $1")
        .bind(entity_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(spec_row).transpose()
}

/// Inserts or replaces an SP; returns `None` if nothing changed, else whether it was new.
pub(crate) async fn put_sp(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    actor: &AuditActor,
    spec: &SamlSpSpec,
) -> Result<Option<bool>, StoreError> {
    let problems = spec.validate();
    if !problems.is_empty() {
        return Err(StoreError::invalid("saml_sp", problems.join("; ")));
    }
    let old = sp_by_entity(conn, &spec.entity_id).await?;
    // Entity ids are unique across tenants; one tenant's registration never takes over another's.
    if old.as_ref().is_some_and(|o| o.tenant_id != spec.tenant_id) {
        return Err(StoreError::Taken {
            field: "SAML entity id",
            value: spec.entity_id.clone(),
        });
    }
    if old.as_ref() == Some(spec) {
        return Ok(None);
    }
    let json = serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let now = store.now_ms();
    let sql = if old.is_some() {
        "UPDATE saml_sps SET tenant_id = $2, spec = $3, updated_at = $4 WHERE entity_id = $1"
    } else {
        "INSERT INTO saml_sps (entity_id, tenant_id, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)"
    };
    sqlx::query(sql)
        .bind(spec.entity_id.clone())
        .bind(spec.tenant_id.to_string())
        .bind(json)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let action = if old.is_some() {
        "saml_sp.update"
    } else {
        "saml_sp.create"
    };
    let view = |s: &SamlSpSpec| serde_json::to_value(s).unwrap_or_default();
    let rec = AuditRecord::new(
        Some(spec.tenant_id),
        actor,
        action,
        "saml_sp",
        &spec.entity_id,
    )
    .before_opt(old.as_ref().map(view))
    .after(view(spec));
    store.append_audit(conn, rec).await?;
    Ok(Some(old.is_none()))
}

impl Store {
    /// A service provider by entity id.
    pub async fn saml_sp(&self, entity_id: &str) -> Result<Option<SamlSpSpec>, StoreError> {
        sp_by_entity(&mut *self.pool()?.acquire().await?, entity_id).await
    }

    /// A tenant's service providers.
    pub async fn saml_sps(&self, tenant: TenantId) -> Result<Vec<SamlSpSpec>, StoreError> {
        let rows = sqlx::query("SELECT spec FROM saml_sps WHERE tenant_id = $1 ORDER BY entity_id")
            .bind(tenant.to_string())
            .fetch_all(self.pool()?)
            .await?;
        rows.iter().map(spec_row).collect()
    }

    /// Registers (or updates) one service provider, audited.
    pub async fn put_saml_sp(
        &self,
        spec: &SamlSpSpec,
        actor: &AuditActor,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self.write_tx().await?;
        let r = put_sp(self, &mut tx, actor, spec).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// The certificates of the SAML signing keys, by kid (base64 DER).
    pub async fn saml_certificates(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT kid, der_base64 FROM saml_certificates ORDER BY kid")
            .fetch_all(self.pool()?)
            .await?;
        rows.iter()
            .map(|r| Ok((rows::text(r, "kid")?, rows::text(r, "der_base64")?)))
            .collect()
    }

    /// Stores a key's certificate unless another process stored one first.
    pub async fn insert_saml_certificate(
        &self,
        kid: &str,
        der_base64: &str,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO saml_certificates (kid, der_base64, created_at) VALUES ($1, $2, $3)",
        )
        .bind(kid.to_string())
        .bind(der_base64.to_string())
        .bind(self.now_ms())
        .execute(self.pool()?)
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) => match StoreError::from(e) {
                StoreError::Taken { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    /// The person's persistent NameID at an SP, made (randomly) on first use with `fresh`.
    pub async fn saml_persistent_id(
        &self,
        entity_id: &str,
        user: UserId,
        fresh: &str,
    ) -> Result<String, StoreError> {
        let read = || async {
            let row = sqlx::query(
                "SELECT name_id FROM saml_persistent_ids WHERE entity_id = $1 AND user_id = $2",
            )
            .bind(entity_id.to_string())
            .bind(user.to_string())
            .fetch_optional(self.pool()?)
            .await?;
            row.as_ref().map(|r| rows::text(r, "name_id")).transpose()
        };
        if let Some(id) = read().await? {
            return Ok(id);
        }
        let inserted = sqlx::query(
            "INSERT INTO saml_persistent_ids (entity_id, user_id, name_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(entity_id.to_string())
        .bind(user.to_string())
        .bind(fresh.to_string())
        .bind(self.now_ms())
        .execute(self.pool()?)
        .await;
        match inserted {
            Ok(_) => Ok(fresh.to_string()),
            // Another process made one at the same moment: his wins.
            Err(e) => match StoreError::from(e) {
                StoreError::Taken { .. } => read()
                    .await?
                    .ok_or(StoreError::NotFound("persistent NameID")),
                other => Err(other),
            },
        }
    }

    /// The person a persistent NameID names at an SP.
    pub async fn saml_user_by_persistent_id(
        &self,
        entity_id: &str,
        name_id: &str,
    ) -> Result<Option<UserId>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id FROM saml_persistent_ids WHERE entity_id = $1 AND name_id = $2",
        )
        .bind(entity_id.to_string())
        .bind(name_id.to_string())
        .fetch_optional(self.pool()?)
        .await?;
        row.as_ref()
            .map(|r| rows::id::<UserId>(r, "user_id"))
            .transpose()
    }
}
