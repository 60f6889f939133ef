//! What reporting roles read: the audit of changes, limited to the people the caller may see.

use crate::actor::Actor;
use crate::error::AdminError;
use crate::resolve::{bad, Names};
use crate::Admin;
use base64::Engine;
use lanyard_core::{AuditId, Privilege, UserId};
use lanyard_store::AuditQuery;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// Filters and paging of an audit listing, as the caller wrote them.
#[derive(Debug, Clone, Default)]
pub struct AuditParams {
    /// Records about this person (id).
    pub user: Option<String>,
    /// Records by this actor (`user:ID`, `cli:NAME`, `realm:FILE`, `client:ID`, `connection:NAME`).
    pub actor: Option<String>,
    /// Actions starting with this (`user.` or `user.status`).
    pub action: Option<String>,
    /// RFC 3339: at or after.
    pub since: Option<String>,
    /// RFC 3339: before.
    pub until: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// One audit record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    /// Id (time-ordered).
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// The tenant's slug, if any.
    pub tenant: Option<String>,
    /// Who: `user:ID`, `cli:NAME`, `realm:FILE`, `client:ID`, `connection:NAME`, `system`.
    pub actor: String,
    /// What (`user.create`, `user.status`, …).
    pub action: String,
    /// Kind of target (`user`, `client`, …).
    pub target_kind: String,
    /// Its id.
    pub target_id: String,
    /// The state before (sensitive values masked).
    pub before: Option<serde_json::Value>,
    /// The state after (sensitive values masked).
    pub after: Option<serde_json::Value>,
}

/// A page of audit records, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// The records.
    pub items: Vec<AuditView>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn millis(field: &'static str, s: &str, errs: &mut Vec<lanyard_core::FieldError>) -> Option<i64> {
    match time::OffsetDateTime::parse(s.trim(), &Rfc3339) {
        Ok(t) => Some(lanyard_core::clock::to_millis(t)),
        Err(_) => {
            errs.push(bad(field, format!("{s:?} is not an RFC 3339 time")));
            None
        }
    }
}

/// The part every log listing shares: whose, when, from where, how many — each bad value
/// reported by field.
struct Window {
    user: Option<UserId>,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<AuditId>,
}

fn window(
    user: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
    errs: &mut Vec<lanyard_core::FieldError>,
) -> Window {
    let user = user.and_then(|u| {
        let id = u.parse::<UserId>().ok();
        if id.is_none() {
            errs.push(bad("user", "is not a person's id"));
        }
        id
    });
    let since = since.and_then(|s| millis("since", s, errs));
    let until = until.and_then(|s| millis("until", s, errs));
    let before = cursor.and_then(|c| {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<AuditId>().ok());
        if id.is_none() {
            errs.push(bad("cursor", "is not a cursor of this listing"));
        }
        id
    });
    if let Some(l) = limit.filter(|l| !(1..=500).contains(l)) {
        errs.push(bad("limit", format!("{l} is not between 1 and 500")));
    }
    Window {
        user,
        since,
        until,
        before,
    }
}

/// The cursor of the page after the one ending at `last`.
fn cursor_after(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

impl Admin {
    /// The audit records about people the actor may see (and every record of the tenants
    /// his roles reach whole). Needs a role that may read reports.
    pub async fn audit(&self, actor: &Actor, p: &AuditParams) -> Result<AuditPage, AdminError> {
        if !actor.allows(Privilege::ViewReports) {
            return Err(AdminError::Forbidden(
                "your roles do not allow reading reports".into(),
            ));
        }
        let names = Names::load(&self.store).await?;
        let rules = self.rules(&names).await?;
        let mut errs = Vec::new();
        let w = window(
            p.user.as_deref(),
            p.since.as_deref(),
            p.until.as_deref(),
            p.cursor.as_deref(),
            p.limit,
            &mut errs,
        );
        if !errs.is_empty() {
            return Err(AdminError::Invalid(errs));
        }
        let q = AuditQuery {
            reach: rules.reach(actor, &names.tenant_ids()),
            user: w.user,
            actor: p.actor.clone(),
            action: p.action.clone(),
            since: w.since,
            until: w.until,
            before_id: w.before,
            limit: p.limit.unwrap_or(100),
        };
        let (entries, more) = self.store.audit_page(&q).await?;
        let next_cursor = more
            .then(|| entries.last())
            .flatten()
            .map(|e| cursor_after(&e.id.to_string()));
        let items = entries
            .into_iter()
            .map(|e| AuditView {
                id: e.id.to_string(),
                at: e.at.format(&Rfc3339).unwrap_or_default(),
                tenant: e
                    .tenant_id
                    .and_then(|t| names.tenant(t))
                    .map(|t| t.slug.clone()),
                actor: e.actor,
                action: e.action,
                target_kind: e.target_kind,
                target_id: e.target_id,
                before: e.before,
                after: e.after,
            })
            .collect();
        Ok(AuditPage { items, next_cursor })
    }
}

/// Filters and paging of a sign-in listing.
#[derive(Debug, Clone, Default)]
pub struct SignInParams {
    /// One person's (id).
    pub user: Option<String>,
    /// `accepted` or `refused`.
    pub outcome: Option<String>,
    /// `password`, `passkey`, `upstream`, `password+totp`, `totp`, …
    pub method: Option<String>,
    /// RFC 3339: at or after.
    pub since: Option<String>,
    /// RFC 3339: before.
    pub until: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// One sign-in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignInView {
    /// Id (time-ordered).
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// Tenant slug.
    pub tenant: Option<String>,
    /// The person's id, when known.
    pub user: Option<String>,
    /// What was typed, for a refusal naming nobody.
    pub login: Option<String>,
    /// `accepted` or `refused`.
    pub outcome: String,
    /// How.
    pub method: String,
    /// Why refused (`wrong_password`, `locked`, `suspended`, `wrong_code`, …).
    pub reason: Option<String>,
    /// The app (client id or SP entity id).
    pub app: Option<String>,
    /// The upstream connection.
    pub upstream: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
}

/// A page of sign-ins, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignInPage {
    /// The sign-ins.
    pub items: Vec<SignInView>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl Admin {
    /// The sign-ins of people the actor may see (and every one of the tenants his roles
    /// reach whole, refusals naming nobody included). Needs a role that may read reports.
    pub async fn sign_ins(
        &self,
        actor: &Actor,
        p: &SignInParams,
    ) -> Result<SignInPage, AdminError> {
        if !actor.allows(Privilege::ViewReports) {
            return Err(AdminError::Forbidden(
                "your roles do not allow reading reports".into(),
            ));
        }
        let names = Names::load(&self.store).await?;
        let rules = self.rules(&names).await?;
        let mut errs = Vec::new();
        let w = window(
            p.user.as_deref(),
            p.since.as_deref(),
            p.until.as_deref(),
            p.cursor.as_deref(),
            p.limit,
            &mut errs,
        );
        if let Some(o) = p
            .outcome
            .as_deref()
            .filter(|o| !["accepted", "refused"].contains(o))
        {
            errs.push(bad("outcome", format!("{o:?} is not accepted or refused")));
        }
        if !errs.is_empty() {
            return Err(AdminError::Invalid(errs));
        }
        let q = lanyard_store::SignInQuery {
            reach: rules.reach(actor, &names.tenant_ids()),
            user: w.user,
            outcome: p.outcome.clone(),
            method: p.method.clone(),
            since: w.since,
            until: w.until,
            before_id: w.before.map(|b| b.to_string()),
            limit: p.limit.unwrap_or(100),
        };
        let (entries, more) = self.store.sign_in_page(&q).await?;
        let next_cursor = more
            .then(|| entries.last())
            .flatten()
            .map(|e| cursor_after(&e.id));
        let items = entries
            .into_iter()
            .map(|e| SignInView {
                id: e.id,
                at: e.at.format(&Rfc3339).unwrap_or_default(),
                tenant: names.tenant(e.tenant_id).map(|t| t.slug.clone()),
                user: e.user_id.map(|u| u.to_string()),
                login: e.login,
                outcome: e.outcome,
                method: e.method,
                reason: e.reason,
                app: e.app,
                upstream: e.upstream,
                ip: e.ip,
                user_agent: e.user_agent,
            })
            .collect();
        Ok(SignInPage { items, next_cursor })
    }
}
