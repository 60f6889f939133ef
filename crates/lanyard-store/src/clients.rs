//! Registered clients (relying parties) and token signing keys.

use crate::audit::AuditRecord;
use crate::rows;
use crate::{Store, StoreError};
use lanyard_core::client::ClientSpec;
use lanyard_core::{AuditActor, TenantId};
use zeroize::Zeroizing;

/// A signing key as stored, with its private half opened.
pub struct StoredKey {
    /// Key id (`kid`).
    pub kid: String,
    /// JOSE algorithm name.
    pub alg: String,
    /// Generation within its algorithm (unique, so concurrent bootstraps cannot both win).
    pub seq: i64,
    /// PKCS#8 DER of the private key.
    pub pkcs8: Zeroizing<Vec<u8>>,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Signs from (Unix seconds).
    pub activates_at: i64,
    /// Stops signing at (Unix seconds).
    pub retires_at: Option<i64>,
    /// Leaves the JWKS at (Unix seconds).
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

fn spec_row(r: &sqlx::any::AnyRow) -> Result<ClientSpec, StoreError> {
    serde_json::from_str(&rows::text(r, "spec")?)
        .map_err(|e| StoreError::Corrupt(format!("client spec: {e}")))
}

pub(crate) async fn client_by_id(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<ClientSpec>, StoreError> {
    let row = sqlx::query("SELECT spec FROM clients WHERE client_id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(spec_row).transpose()
}

/// Inserts or replaces a client; returns `None` if nothing changed, else whether it was new.
pub(crate) async fn put_client(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    actor: &AuditActor,
    spec: &ClientSpec,
) -> Result<Option<bool>, StoreError> {
    let problems = spec.validate();
    if !problems.is_empty() {
        return Err(StoreError::invalid("client", problems.join("; ")));
    }
    let old = client_by_id(conn, &spec.client_id).await?;
    // Client ids are unique across tenants; one tenant's registration never takes over another's.
    if old.as_ref().is_some_and(|o| o.tenant_id != spec.tenant_id) {
        return Err(StoreError::Taken {
            field: "client id",
            value: spec.client_id.clone(),
        });
    }
    if old.as_ref() == Some(spec) {
        return Ok(None);
    }
    let json = serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let now = store.now_ms();
    let sql = if old.is_some() {
        "UPDATE clients SET tenant_id = $2, spec = $3, updated_at = $4 WHERE client_id = $1"
    } else {
        "INSERT INTO clients (client_id, tenant_id, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)"
    };
    sqlx::query(sql)
        .bind(spec.client_id.clone())
        .bind(spec.tenant_id.to_string())
        .bind(json)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let action = if old.is_some() {
        "client.update"
    } else {
        "client.create"
    };
    // The secret's hash is not worth auditing; its change is.
    let view = |c: &ClientSpec| {
        let mut v = serde_json::to_value(c).unwrap_or_default();
        v["secret_sha256"] = serde_json::json!(c.secret_sha256.as_ref().map(|_| "***"));
        v
    };
    let rec = AuditRecord::new(
        Some(spec.tenant_id),
        actor,
        action,
        "client",
        &spec.client_id,
    )
    .before_opt(old.as_ref().map(view))
    .after(view(spec));
    store.append_audit(conn, rec).await?;
    Ok(Some(old.is_none()))
}

impl Store {
    /// A client by `client_id`.
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientSpec>, StoreError> {
        client_by_id(&mut *self.pool()?.acquire().await?, client_id).await
    }

    /// A tenant's clients.
    pub async fn clients(&self, tenant: TenantId) -> Result<Vec<ClientSpec>, StoreError> {
        let rows = sqlx::query("SELECT spec FROM clients WHERE tenant_id = $1 ORDER BY client_id")
            .bind(tenant.to_string())
            .fetch_all(self.pool()?)
            .await?;
        rows.iter().map(spec_row).collect()
    }

    /// Every signing key, private halves opened, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY alg, seq")
            .fetch_all(self.pool()?)
            .await?;
        rows.iter()
            .map(|r| {
                let kid = rows::text(r, "kid")?;
                let pkcs8 = self.keyring.open(
                    &rows::text(r, "kek_id")?,
                    &rows::text(r, "sealed_private")?,
                    &format!("signing-key:{kid}"),
                )?;
                let opt = |c| rows::opt_int(r, c);
                Ok(StoredKey {
                    alg: rows::text(r, "alg")?,
                    seq: rows::int(r, "seq")?,
                    pkcs8,
                    created_at: rows::int(r, "created_at")?,
                    activates_at: rows::int(r, "activates_at")?,
                    retires_at: opt("retires_at")?,
                    expires_at: opt("expires_at")?,
                    kid,
                })
            })
            .collect()
    }

    /// Adds a signing key, sealing its private half. Returns `false` if another process added
    /// a key of the same algorithm and generation first.
    pub async fn insert_signing_key(&self, k: &StoredKey) -> Result<bool, StoreError> {
        let (kek_id, sealed) = self
            .keyring
            .seal(&k.pkcs8, &format!("signing-key:{}", k.kid))?;
        let mut tx = self.write_tx().await?;
        let inserted = sqlx::query(
            "INSERT INTO signing_keys (kid, alg, seq, sealed_private, kek_id, created_at, activates_at, retires_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(k.kid.clone())
        .bind(k.alg.clone())
        .bind(k.seq)
        .bind(sealed)
        .bind(kek_id)
        .bind(k.created_at)
        .bind(k.activates_at)
        .bind(k.retires_at)
        .bind(k.expires_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) => {
                return match StoreError::from(e) {
                    StoreError::Taken { .. } => Ok(false),
                    other => Err(other),
                }
            }
        }
        let rec = AuditRecord::new(
            None,
            &AuditActor::System,
            "key.create",
            "signing_key",
            &k.kid,
        )
        .after(serde_json::json!({"alg": k.alg, "seq": k.seq, "activates_at": k.activates_at}));
        self.append_audit(&mut tx, rec).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Schedules a key's retirement (it stops signing) and expiry (it leaves the JWKS).
    pub async fn retire_signing_key(
        &self,
        kid: &str,
        retires_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE signing_keys SET retires_at = $2, expires_at = $3 WHERE kid = $1")
            .bind(kid.to_string())
            .bind(retires_at)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        let rec = AuditRecord::new(None, &AuditActor::System, "key.retire", "signing_key", kid)
            .after(serde_json::json!({"retires_at": retires_at, "expires_at": expires_at}));
        self.append_audit(&mut tx, rec).await?;
        tx.commit().await?;
        Ok(())
    }
}
