//! The record of sign-ins (accepted and refused): written by the sign-in journey, read by
//! reporting roles through the admin API, scrubbed when a person is anonymised, pruned after
//! the configured retention.

use crate::people::{Reach, Sql};
use crate::rows;
use crate::{Store, StoreError};
use lanyard_core::{TenantId, UserId};
use serde::Serialize;
use time::OffsetDateTime;

/// A sign-in to record.
#[derive(Debug, Clone, Default)]
pub struct NewSignIn {
    /// The tenant signed in to.
    pub tenant_id: Option<TenantId>,
    /// The person, when known.
    pub user_id: Option<UserId>,
    /// What was typed, for a refusal with no known person (never a password).
    pub login: Option<String>,
    /// `accepted` or `refused`.
    pub outcome: &'static str,
    /// `password`, `passkey`, `totp`, `recovery_code`, `upstream`, …
    pub method: String,
    /// Why a refusal (`wrong_password`, `locked`, `suspended`, …).
    pub reason: Option<String>,
    /// The app (client id or SP entity id).
    pub app: Option<String>,
    /// The upstream connection.
    pub upstream: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// User agent (cut to 300 characters).
    pub user_agent: Option<String>,
}

/// A recorded sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignInEntry {
    /// Id (time-ordered).
    pub id: String,
    /// Tenant.
    pub tenant_id: TenantId,
    /// The person, when known.
    pub user_id: Option<UserId>,
    /// What was typed (refusals without a known person).
    pub login: Option<String>,
    /// `accepted` or `refused`.
    pub outcome: String,
    /// How.
    pub method: String,
    /// Why refused.
    pub reason: Option<String>,
    /// The app.
    pub app: Option<String>,
    /// The upstream connection.
    pub upstream: Option<String>,
    /// From where.
    pub ip: Option<String>,
    /// With what.
    pub user_agent: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

/// Which sign-ins to read (newest first).
#[derive(Debug, Clone, Default)]
pub struct SignInQuery {
    /// Those of people in this reach (and every one of the tenants it names whole).
    pub reach: Reach,
    /// Only this person's.
    pub user: Option<UserId>,
    /// Only `accepted` or `refused`.
    pub outcome: Option<String>,
    /// Only this method.
    pub method: Option<String>,
    /// At or after (Unix ms).
    pub since: Option<i64>,
    /// Before (Unix ms).
    pub until: Option<i64>,
    /// Older than this id.
    pub before_id: Option<String>,
    /// Page size (1 to 500).
    pub limit: i64,
}

impl Store {
    /// Records a sign-in (its own small transaction; never part of the caller's).
    pub async fn record_sign_in(&self, s: NewSignIn) -> Result<(), StoreError> {
        let Some(tenant) = s.tenant_id else {
            return Ok(());
        };
        let id: lanyard_core::AuditId = self.ids().next();
        let ua = s
            .user_agent
            .map(|u| u.chars().take(300).collect::<String>());
        let login = s.login.map(|l| l.chars().take(200).collect::<String>());
        sqlx::query(
            "INSERT INTO sign_ins (id, tenant_id, user_id, login, outcome, method, reason, app, upstream, ip, user_agent, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(s.user_id.map(|u| u.to_string()))
        .bind(login)
        .bind(s.outcome)
        .bind(s.method)
        .bind(s.reason)
        .bind(s.app)
        .bind(s.upstream)
        .bind(s.ip)
        .bind(ua)
        .bind(self.now_ms())
        .execute(self.pool()?)
        .await?;
        Ok(())
    }

    /// Deletes sign-in records older than `before` (Unix ms); returns how many.
    pub async fn prune_sign_ins(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sign_ins WHERE at < $1")
            .bind(before)
            .execute(self.pool()?)
            .await?;
        Ok(done.rows_affected())
    }

    /// One page of sign-ins, newest first, and whether more follow.
    pub async fn sign_in_page(
        &self,
        q: &SignInQuery,
    ) -> Result<(Vec<SignInEntry>, bool), StoreError> {
        if q.reach.is_empty() {
            return Ok((Vec::new(), false));
        }
        let mut s = Sql::new("SELECT s.* FROM sign_ins s WHERE ");
        s.reach(&q.reach, "s.tenant_id", "u.id = s.user_id");
        for (col, v) in [
            ("s.user_id", q.user.map(|u| u.to_string())),
            ("s.outcome", q.outcome.clone()),
            ("s.method", q.method.clone()),
        ] {
            if let Some(v) = v {
                let a = s.arg(v);
                s.text.push_str(&format!(" AND {col} = {a}"));
            }
        }
        let limit = s.newest_first("s", q.since, q.until, q.before_id.clone(), q.limit);
        let found = s.query().fetch_all(self.pool()?).await?;
        let more = found.len() as i64 > limit;
        let items = found
            .iter()
            .take(limit as usize)
            .map(|r| {
                Ok(SignInEntry {
                    id: rows::text(r, "id")?,
                    tenant_id: rows::id(r, "tenant_id")?,
                    user_id: rows::opt_id(r, "user_id")?,
                    login: rows::opt_text(r, "login")?,
                    outcome: rows::text(r, "outcome")?,
                    method: rows::text(r, "method")?,
                    reason: rows::opt_text(r, "reason")?,
                    app: rows::opt_text(r, "app")?,
                    upstream: rows::opt_text(r, "upstream")?,
                    ip: rows::opt_text(r, "ip")?,
                    user_agent: rows::opt_text(r, "user_agent")?,
                    at: rows::time(r, "at")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((items, more))
    }
}
