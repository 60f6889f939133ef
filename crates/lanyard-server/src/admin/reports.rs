//! `/admin/api/v1/audit`: the audit of changes, for roles that read reports, as JSON pages
//! or CSV.

use super::{caller, problem, Refusal};
use crate::app::App;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lanyard_admin::{AuditPage, AuditParams, SignInPage, SignInParams};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

/// Filters and paging of `GET /audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Records about this person (id).
    user: Option<String>,
    /// Records by this actor (`user:ID`, `cli:NAME`, `realm:FILE`, `client:ID`).
    actor: Option<String>,
    /// Actions starting with this (`user.` or `user.status`).
    action: Option<String>,
    /// RFC 3339: at or after.
    since: Option<String>,
    /// RFC 3339: before.
    until: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    limit: Option<i64>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// A CSV field, quoted when it needs to be, and never a formula a spreadsheet would run.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The audit of changes to people in the caller's scope, newest first.
#[utoipa::path(get, path = "/admin/api/v1/audit", tag = "reports",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit records (or CSV with format=csv)", body = AuditPage),
        (status = 403, description = "The caller's roles do not read reports", content_type = "application/problem+json"),
        (status = 422, description = "A filter that does not parse", content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub async fn audit(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let actor = caller(&app, &headers).await?;
    let Query(q) = q.map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            &format!("the query is not one this call takes: {}", e.body_text()),
        )
    })?;
    let csv = wants_csv(q.format.as_deref())?;
    let params = AuditParams {
        user: q.user,
        actor: q.actor,
        action: q.action,
        since: q.since,
        until: q.until,
        cursor: q.cursor,
        limit: q.limit,
    };
    let page = app.admin.audit(&actor, &params).await?;
    if !csv {
        return Ok(Json(page).into_response());
    }
    let rows = page.items.iter().map(|e| {
        vec![
            e.id.clone(),
            e.at.clone(),
            e.tenant.clone().unwrap_or_default(),
            e.actor.clone(),
            e.action.clone(),
            e.target_kind.clone(),
            e.target_id.clone(),
        ]
    });
    Ok(csv_response(
        "id,at,tenant,actor,action,target_kind,target_id",
        rows,
        page.next_cursor,
    ))
}

/// A CSV answer: header line, rows, and the next page's cursor in `X-Next-Cursor`.
fn csv_response(
    head: &str,
    rows: impl Iterator<Item = Vec<String>>,
    next: Option<String>,
) -> Response {
    let mut out = format!("{head}\r\n");
    for row in rows {
        let line: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Some(next) = next.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert("x-next-cursor", next);
    }
    r
}

/// `format=json|csv`.
fn wants_csv(format: Option<&str>) -> Result<bool, Refusal> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(
            lanyard_admin::AdminError::Invalid(vec![lanyard_core::FieldError {
                field: "format",
                message: "must be json or csv".into(),
            }])
            .into(),
        ),
    }
}

/// Filters and paging of `GET /sign-ins`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignInQuery {
    /// One person's (id).
    user: Option<String>,
    /// `accepted` or `refused`.
    outcome: Option<String>,
    /// `password`, `passkey`, `upstream`, `password+totp`, `totp`, …
    method: Option<String>,
    /// RFC 3339: at or after.
    since: Option<String>,
    /// RFC 3339: before.
    until: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    limit: Option<i64>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Sign-ins (accepted and refused) of people in the caller's scope, newest first.
#[utoipa::path(get, path = "/admin/api/v1/sign-ins", tag = "reports",
    params(SignInQuery),
    responses(
        (status = 200, description = "A page of sign-ins (or CSV with format=csv)", body = SignInPage),
        (status = 403, description = "The caller's roles do not read reports", content_type = "application/problem+json"),
        (status = 422, description = "A filter that does not parse", content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub async fn sign_ins(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<SignInQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let actor = caller(&app, &headers).await?;
    let Query(q) = q.map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            &format!("the query is not one this call takes: {}", e.body_text()),
        )
    })?;
    let csv = wants_csv(q.format.as_deref())?;
    let params = SignInParams {
        user: q.user,
        outcome: q.outcome,
        method: q.method,
        since: q.since,
        until: q.until,
        cursor: q.cursor,
        limit: q.limit,
    };
    let page: SignInPage = app.admin.sign_ins(&actor, &params).await?;
    if !csv {
        return Ok(Json(page).into_response());
    }
    let rows = page.items.iter().map(|e| {
        [
            Some(e.id.clone()),
            Some(e.at.clone()),
            e.tenant.clone(),
            e.user.clone(),
            e.login.clone(),
            Some(e.outcome.clone()),
            Some(e.method.clone()),
            e.reason.clone(),
            e.app.clone(),
            e.upstream.clone(),
            e.ip.clone(),
            e.user_agent.clone(),
        ]
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect()
    });
    Ok(csv_response(
        "id,at,tenant,user,login,outcome,method,reason,app,upstream,ip,user_agent",
        rows,
        page.next_cursor,
    ))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1+1"), "'-1+1");
    }
}
