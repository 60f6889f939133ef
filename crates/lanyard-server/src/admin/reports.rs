//! `/admin/api/v1/audit`: the audit of changes, for roles that read reports, as JSON pages
//! or CSV.

use super::{caller, problem, Refusal};
use crate::app::App;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lanyard_admin::{AuditPage, AuditParams};
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
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(
                lanyard_admin::AdminError::Invalid(vec![lanyard_core::FieldError {
                    field: "format",
                    message: "must be json or csv".into(),
                }])
                .into(),
            )
        }
    };
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
    let mut out = String::from("id,at,tenant,actor,action,target_kind,target_id\r\n");
    for e in &page.items {
        let row = [
            e.id.as_str(),
            e.at.as_str(),
            e.tenant.as_deref().unwrap_or(""),
            e.actor.as_str(),
            e.action.as_str(),
            e.target_kind.as_str(),
            e.target_id.as_str(),
        ]
        .map(csv_field)
        .join(",");
        out.push_str(&row);
        out.push_str("\r\n");
    }
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Some(next) = page
        .next_cursor
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        r.headers_mut().insert("x-next-cursor", next);
    }
    Ok(r)
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
