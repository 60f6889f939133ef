//! Second factors at rest: TOTP secrets (sealed), passkeys, recovery codes (hashed). Every
//! enrolment, removal and use is audited in the same transaction.

use crate::audit::AuditRecord;
use crate::rows;
use crate::{Store, StoreError};
use lanyard_core::{AuditActor, TenantId, UserId};
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A stored passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// Credential id (base64url).
    pub cred_id: String,
    /// The person's name for it ("Laptop", "YubiKey").
    pub name: String,
    /// The webauthn-rs credential as JSON.
    pub data: String,
    /// Registered (Unix ms).
    pub created_at: i64,
    /// Last used (Unix ms).
    pub last_used_at: Option<i64>,
}

impl Store {
    async fn tenant_of(
        &self,
        conn: &mut sqlx::AnyConnection,
        user: UserId,
    ) -> Result<TenantId, StoreError> {
        let row = sqlx::query("SELECT tenant_id FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        rows::id(&row.ok_or(StoreError::NotFound("user"))?, "tenant_id")
    }

    async fn audit_user(
        &self,
        conn: &mut sqlx::AnyConnection,
        actor: &AuditActor,
        user: UserId,
        action: &'static str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let tenant = self.tenant_of(conn, user).await?;
        let rec = AuditRecord::new(Some(tenant), actor, action, "user", user).after(detail);
        self.append_audit(conn, rec).await
    }

    /// Records an MFA event that changes nothing else (a failed code, a refused passkey).
    pub async fn audit_mfa_event(
        &self,
        actor: &AuditActor,
        user: UserId,
        action: &'static str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        self.audit_user(&mut tx, actor, user, action, detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A person's TOTP secret (base32) and the last step used, if enrolled.
    pub async fn totp(
        &self,
        user: UserId,
    ) -> Result<Option<(Zeroizing<String>, Option<i64>)>, StoreError> {
        let row = sqlx::query(
            "SELECT sealed_secret, key_id, last_step FROM totp_enrolments WHERE user_id = $1",
        )
        .bind(user.to_string())
        .fetch_optional(self.pool()?)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let plain = self.keyring.open(
            &rows::text(&r, "key_id")?,
            &rows::text(&r, "sealed_secret")?,
            &format!("totp:{user}"),
        )?;
        let secret = String::from_utf8(plain.to_vec())
            .map_err(|_| StoreError::Corrupt("totp secret".into()))?;
        Ok(Some((
            Zeroizing::new(secret),
            rows::opt_int(&r, "last_step")?,
        )))
    }

    /// Enrols (or replaces) a person's TOTP secret.
    pub async fn enrol_totp(
        &self,
        actor: &AuditActor,
        user: UserId,
        secret_b32: &str,
    ) -> Result<(), StoreError> {
        let (key_id, sealed) = self
            .keyring
            .seal(secret_b32.as_bytes(), &format!("totp:{user}"))?;
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM totp_enrolments WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO totp_enrolments (user_id, sealed_secret, key_id, confirmed_at) VALUES ($1, $2, $3, $4)")
            .bind(user.to_string())
            .bind(sealed)
            .bind(key_id)
            .bind(self.now_ms())
            .execute(&mut *tx)
            .await?;
        self.audit_user(
            &mut tx,
            actor,
            user,
            "mfa.totp.enrol",
            json!({"factor": "totp"}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a person's TOTP enrolment; returns whether there was one.
    pub async fn remove_totp(&self, actor: &AuditActor, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("DELETE FROM totp_enrolments WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            self.audit_user(
                &mut tx,
                actor,
                user,
                "mfa.totp.remove",
                json!({"factor": "totp"}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Records `step` as used, atomically: `false` if that step (or a later one) was already
    /// used — so two requests racing with the same code cannot both succeed.
    pub async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE totp_enrolments SET last_step = $2 WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)")
            .bind(user.to_string())
            .bind(step)
            .execute(self.pool()?)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// A person's passkeys, oldest first.
    pub async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM passkeys WHERE user_id = $1 ORDER BY created_at, cred_id")
                .bind(user.to_string())
                .fetch_all(self.pool()?)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(PasskeyRecord {
                    cred_id: rows::text(r, "cred_id")?,
                    name: rows::text(r, "name")?,
                    data: rows::text(r, "data")?,
                    created_at: rows::int(r, "created_at")?,
                    last_used_at: rows::opt_int(r, "last_used_at")?,
                })
            })
            .collect()
    }

    /// Registers a passkey.
    pub async fn add_passkey(
        &self,
        actor: &AuditActor,
        user: UserId,
        cred_id: &str,
        name: &str,
        data: &str,
    ) -> Result<(), StoreError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(StoreError::invalid(
                "name",
                "a passkey name must be 1 to 60 characters",
            ));
        }
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO passkeys (cred_id, user_id, name, data, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(cred_id.to_string())
            .bind(user.to_string())
            .bind(name.to_string())
            .bind(data.to_string())
            .bind(self.now_ms())
            .execute(&mut *tx)
            .await?;
        self.audit_user(
            &mut tx,
            actor,
            user,
            "mfa.passkey.add",
            json!({"factor": "passkey", "name": name, "credential": cred_id}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Notes a passkey's use, storing its updated counter when it changed.
    pub async fn touch_passkey(&self, cred_id: &str, data: Option<&str>) -> Result<(), StoreError> {
        let now = self.now_ms();
        match data {
            Some(d) => {
                sqlx::query("UPDATE passkeys SET data = $2, last_used_at = $3 WHERE cred_id = $1")
                    .bind(cred_id.to_string())
                    .bind(d.to_string())
                    .bind(now)
                    .execute(self.pool()?)
                    .await?
            }
            None => {
                sqlx::query("UPDATE passkeys SET last_used_at = $2 WHERE cred_id = $1")
                    .bind(cred_id.to_string())
                    .bind(now)
                    .execute(self.pool()?)
                    .await?
            }
        };
        Ok(())
    }

    /// Removes one of a person's passkeys; returns whether it existed.
    pub async fn remove_passkey(
        &self,
        actor: &AuditActor,
        user: UserId,
        cred_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("DELETE FROM passkeys WHERE cred_id = $1 AND user_id = $2")
            .bind(cred_id.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            self.audit_user(
                &mut tx,
                actor,
                user,
                "mfa.passkey.remove",
                json!({"factor": "passkey", "credential": cred_id}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The stored form of a (normalised) recovery code: a keyed hash under the sealing key,
    /// `r1:KEYID:HEX`, so a copy of the database alone cannot test guesses at the codes.
    fn recovery_hash(&self, code: &str) -> Result<String, StoreError> {
        let ring = self.keyring();
        let id = ring.active_id();
        let mac = ring.mac(id, "recovery-code", code.as_bytes())?;
        Ok(format!("r1:{id}:{}", lanyard_core::random::hex(&mac)))
    }

    /// Every stored form a code may have: keyed under each key of the keyring, and the
    /// unkeyed SHA-256 that sets made before keyed hashes still carry.
    fn recovery_candidates(&self, code: &str) -> Vec<String> {
        let ring = self.keyring();
        let mut out: Vec<String> = ring
            .key_ids()
            .filter_map(|id| {
                ring.mac(id, "recovery-code", code.as_bytes())
                    .ok()
                    .map(|m| format!("r1:{id}:{}", lanyard_core::random::hex(&m)))
            })
            .collect();
        out.push(lanyard_core::random::hex(&Sha256::digest(code.as_bytes())));
        out
    }

    /// Replaces a person's recovery codes with a new set (normalised codes; only keyed hashes
    /// of them are kept).
    pub async fn set_recovery_codes(
        &self,
        actor: &AuditActor,
        user: UserId,
        codes: &[String],
    ) -> Result<(), StoreError> {
        let hashes = codes
            .iter()
            .map(|c| self.recovery_hash(c))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        for h in &hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user.to_string())
            .bind(h.clone())
            .bind(self.now_ms())
            .execute(&mut *tx)
            .await?;
        }
        self.audit_user(
            &mut tx,
            actor,
            user,
            "mfa.recovery.generate",
            json!({"factor": "recovery_code", "count": hashes.len()}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Spends a recovery code (normalised); `false` if unknown or already used.
    pub async fn use_recovery_code(
        &self,
        actor: &AuditActor,
        user: UserId,
        code: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut n = 0;
        for hash in self.recovery_candidates(code) {
            n = sqlx::query("UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
                .bind(user.to_string())
                .bind(hash)
                .bind(self.now_ms())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                break;
            }
        }
        if n == 1 {
            self.audit_user(
                &mut tx,
                actor,
                user,
                "mfa.recovery.use",
                json!({"factor": "recovery_code"}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Unused recovery codes a person has left.
    pub async fn recovery_codes_left(&self, user: UserId) -> Result<i64, StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user.to_string())
        .fetch_one(self.pool()?)
        .await?;
        rows::int(&r, "n")
    }
}
