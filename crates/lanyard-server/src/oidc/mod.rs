//! The OpenID Connect routes. Handlers parse, call `lanyard-idp`, and render; every protocol
//! error becomes a response in [`oauth_error`].

mod authorize;
pub(crate) mod logout;

use crate::app::App;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use lanyard_idp::grants::{self, TokenRequest};
use lanyard_idp::{discovery, resource, OAuthError};
use std::collections::HashMap;
use std::sync::Arc;

/// Routes of the provider.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/jwks", get(jwks))
        .route(
            "/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/token", post(token))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/introspect", post(introspect))
        .route("/revoke", post(revoke))
        .route("/logout", get(logout::logout_get).post(logout::logout_post))
}

/// An OAuth error as JSON (RFC 6749 §5.2), with `WWW-Authenticate` where the spec wants one.
pub fn oauth_error(e: &OAuthError, basic_used: bool) -> Response {
    let wire = e.wire();
    if let OAuthError::ServerError(detail) = e {
        tracing::error!(%detail, "server error");
    }
    let status = StatusCode::from_u16(wire.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = serde_json::json!({ "error": wire.code });
    if let Some(d) = &wire.description {
        body["error_description"] = serde_json::json!(d);
    }
    let mut resp = (status, no_store(), Json(body)).into_response();
    let h = resp.headers_mut();
    match e {
        OAuthError::InvalidClient(_) if basic_used => {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"lanyard\""),
            );
        }
        OAuthError::InvalidToken(_) | OAuthError::InsufficientScope(_) => {
            let v = format!("Bearer error=\"{}\"", wire.code);
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        OAuthError::TemporarilyUnavailable => {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        _ => {}
    }
    resp
}

fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// Credentials from `Authorization: Basic` (each part form-decoded, RFC 6749 §2.3.1).
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let Some(b64) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let bad = || OAuthError::InvalidClient("malformed Basic credentials".into());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

/// The form body of a token, introspection or revocation request: it must be
/// `application/x-www-form-urlencoded`, and no parameter may appear twice (RFC 6749 §3.2).
/// Anything else is an `invalid_request` in OAuth's JSON, not a framework rejection.
pub fn oauth_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    let mut form = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if form.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter {k} is repeated"
            )));
        }
    }
    Ok(form)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(|t| t.trim().to_string())
}

async fn metadata(State(app): State<Arc<App>>) -> Response {
    let doc = discovery::metadata(
        app.provider.settings(),
        &[lanyard_mfa::ACR_PASSWORD, lanyard_mfa::ACR_MFA],
    );
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(doc)).into_response()
}

async fn jwks(State(app): State<Arc<App>>) -> Response {
    let set = app.provider.keys().jwks(app.provider.now());
    (
        [
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::CONTENT_TYPE, "application/jwk-set+json"),
        ],
        set.to_string(),
    )
        .into_response()
}

async fn token(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match oauth_form(&headers, &body) {
        Ok(f) => f,
        Err(e) => return oauth_error(&e, false),
    };
    let basic = match basic_credentials(&headers) {
        Ok(b) => b,
        Err(e) => return oauth_error(&e, true),
    };
    let used_basic = basic.is_some();
    let grant_type = form.get("grant_type").cloned();
    let result = grants::token(&app.provider, TokenRequest { form, basic }).await;
    let outcome = match &result {
        Ok(_) => "issued",
        Err(OAuthError::TemporarilyUnavailable) => "unavailable",
        Err(_) => "refused",
    };
    app.metrics.grant(grant_type.as_deref(), outcome);
    match result {
        Ok(t) => (StatusCode::OK, no_store(), Json(t)).into_response(),
        Err(e) => oauth_error(&e, used_basic),
    }
}

async fn userinfo(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match resource::userinfo(&app.provider, bearer(&headers).as_deref()).await {
        Ok(v) => (no_store(), Json(v)).into_response(),
        Err(e) => oauth_error(&e, false),
    }
}

async fn introspect(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let form = oauth_form(&headers, &body)?;
        let basic = basic_credentials(&headers)?;
        let client =
            grants::authenticate_client(&app.provider, &form, basic, "/introspect").await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::InvalidRequest("token is required".into()))?;
        resource::introspect(
            &app.provider,
            &client,
            token,
            form.get("token_type_hint").map(String::as_str),
        )
        .await
    }
    .await;
    match result {
        Ok(v) => (no_store(), Json(v)).into_response(),
        Err(e) => oauth_error(&e, headers.contains_key(header::AUTHORIZATION)),
    }
}

async fn revoke(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let form = oauth_form(&headers, &body)?;
        let basic = basic_credentials(&headers)?;
        let client = grants::authenticate_client(&app.provider, &form, basic, "/revoke").await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::InvalidRequest("token is required".into()))?;
        resource::revoke(&app.provider, &client, token).await
    }
    .await;
    match result {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(e) => oauth_error(&e, headers.contains_key(header::AUTHORIZATION)),
    }
}
