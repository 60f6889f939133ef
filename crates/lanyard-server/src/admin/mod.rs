//! The admin API under `/admin/api/v1`: authenticated with Lanyard's own access tokens (scope
//! and audience `admin`), answered in RFC 9457 problem details when refused. Every handler
//! parses, calls `lanyard-admin` with the acting party, and renders — the rules live there.

pub mod openapi;
mod reports;
mod users;

use crate::app::App;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use lanyard_admin::{Actor, AdminError};
use lanyard_idp::authorize::{admin_audience, ADMIN_SCOPE};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::Arc;

/// Routes of the admin API.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/admin/api/v1/openapi.json", get(openapi::document))
        .route("/admin/api/v1/users", get(users::list).post(users::create))
        .route(
            "/admin/api/v1/users/{id}",
            get(users::read).patch(users::update),
        )
        .route("/admin/api/v1/users/{id}/roles", put(users::set_roles))
        .route("/admin/api/v1/users/{id}/password", post(users::password))
        .route("/admin/api/v1/users/{id}/{action}", post(users::lifecycle))
        .route("/admin/api/v1/roles", get(users::roles))
        .route("/admin/api/v1/locations", get(users::locations))
        .route("/admin/api/v1/me", get(users::me))
        .route("/admin/api/v1/audit", get(reports::audit))
        .route("/admin/api/v1/sign-ins", get(reports::sign_ins))
        .route("/admin/api/v1", get(not_found))
        .route("/admin/api/v1/{*rest}", get(not_found).post(not_found))
}

async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "no such resource in the admin API")
}

/// A refused request: the problem document to answer with (boxed, so `Result`s that carry
/// it stay small and handlers can use `?`).
pub(crate) struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(r: Response) -> Self {
        Refusal(Box::new(r))
    }
}

impl From<AdminError> for Refusal {
    fn from(e: AdminError) -> Self {
        refused(e).into()
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// An RFC 9457 problem document.
pub(crate) fn problem(status: StatusCode, detail: &str) -> Response {
    problem_with(status, detail, None)
}

fn problem_with(status: StatusCode, detail: &str, errors: Option<Value>) -> Response {
    let mut body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    if let Some(e) = errors {
        body["errors"] = e;
    }
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// An administration refusal as a problem document.
pub(crate) fn refused(e: AdminError) -> Response {
    let status = match &e {
        AdminError::NotFound(_) => StatusCode::NOT_FOUND,
        AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
        AdminError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AdminError::Taken { .. } | AdminError::Conflict(_) => StatusCode::CONFLICT,
        AdminError::Stale => StatusCode::PRECONDITION_FAILED,
        AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let errors = match &e {
        AdminError::Invalid(list) => Some(json!(list
            .iter()
            .map(|f| json!({"field": f.field, "message": f.message}))
            .collect::<Vec<_>>())),
        AdminError::Taken { field, .. } => {
            Some(json!([{"field": field, "message": "is already in use"}]))
        }
        _ => None,
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "admin API: could not answer");
    }
    let mut r = problem_with(status, &e.to_string(), errors);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    r
}

/// A 401 or 403 with the `WWW-Authenticate` challenge of RFC 6750 §3.
fn unauthorised(status: StatusCode, code: &str, detail: &str) -> Response {
    let mut r = problem(status, detail);
    let challenge = format!(
        "Bearer realm=\"lanyard-admin\", error=\"{code}\", error_description=\"{}\", scope=\"{ADMIN_SCOPE}\"",
        detail.replace('"', "'")
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// The acting party of a request, from its bearer token: a person's token from a client that
/// asked for the `admin` scope, or a provisioning client's `client_credentials` token.
pub(crate) async fn caller(app: &App, headers: &HeaderMap) -> Result<Actor, Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        let mut r = problem(
            StatusCode::UNAUTHORIZED,
            "a bearer access token with scope admin is required",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"lanyard-admin\", scope=\"admin\""),
        );
        return Err(r.into());
    };
    let claims = lanyard_idp::resource::check_access(&app.provider, token)
        .await
        .map_err(|e| match e {
            lanyard_idp::OAuthError::ServerError(_)
            | lanyard_idp::OAuthError::TemporarilyUnavailable => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the token could not be checked now; try again",
            ),
            _ => unauthorised(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is not valid",
            ),
        })?;
    let audience = admin_audience(&app.config.server.issuer);
    let aud_ok = match claims.rest.get("aud") {
        Some(Value::String(a)) => *a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&audience)),
        _ => false,
    };
    let scoped = claims.scope.split(' ').any(|s| s == ADMIN_SCOPE);
    if !scoped || !aud_ok {
        return Err(unauthorised(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token was not issued for the admin API (scope admin)",
        )
        .into());
    }
    if let Ok(user) = claims.sub.parse::<lanyard_core::UserId>() {
        return app.admin.person(user).await.map_err(|e| {
            match e {
                AdminError::NotFound(_) => unauthorised(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "the token's person no longer exists",
                ),
                other => refused(other),
            }
            .into()
        });
    }
    let spec = app
        .directory
        .client(&claims.client_id)
        .await
        .map_err(|_| {
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the client could not be read now; try again",
            )
        })?
        .filter(|s| s.client_id == claims.sub)
        .ok_or_else(|| {
            unauthorised(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token's client no longer exists",
            )
        })?;
    if spec.admin_roles.is_empty() {
        return Err(unauthorised(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "this client has no admin roles (admin_roles in its registration)",
        )
        .into());
    }
    Ok(app.admin.client(&spec).await?)
}

/// A JSON body, or a problem saying what is wrong with it.
pub(crate) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Refusal> {
    serde_json::from_slice(bytes).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            &format!("the body is not the JSON this call takes: {e}"),
        )
        .into()
    })
}

/// What an `If-Match` header asks.
pub(crate) enum IfMatch {
    /// None sent.
    Absent,
    /// `*`: whatever version the person is at (RFC 9110 §13.1.1) — a deliberate overwrite.
    Any,
    /// `"N"`: only if he is still at version N.
    Version(i64),
}

/// `If-Match` as a version; `Err` for a header that is not one of ours.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<IfMatch, Refusal> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(IfMatch::Absent);
    };
    let text = v.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(IfMatch::Any);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i64>().ok())
        .map(IfMatch::Version)
        .ok_or_else(|| {
            problem(
                StatusCode::PRECONDITION_FAILED,
                "If-Match must be the ETag of the person as read (e.g. \"3\"), or *",
            )
            .into()
        })
}

/// The strong ETag of a version.
pub(crate) fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}
