//! Errors the framework makes (a body over the limit, a method a route does not take, a request
//! that ran out of time, a body that is not the form or JSON a handler wants) answered in the
//! format of the endpoint they hit: OAuth JSON on the protocol endpoints (RFC 6749 §5.2), JSON on
//! the scripts' endpoints, an HTML page where a person is looking.
//!
//! Handlers answer in their own format already; this layer touches only error responses that
//! carry no body format of their own (no content type, or `text/plain` from an extractor).

use crate::pages;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The wire format an endpoint answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `{"error": ..., "error_description": ...}` (RFC 6749 §5.2).
    OAuth,
    /// `{"error": ...}` for the pages' scripts and the health endpoints.
    Json,
    /// A page for a person.
    Html,
    /// RFC 9457 problem details, on the admin API.
    Problem,
}

/// Which format answers at `path`.
pub(crate) fn format_for(path: &str) -> Format {
    const OAUTH: [&str; 5] = ["/token", "/introspect", "/revoke", "/userinfo", "/jwks"];
    if OAUTH.contains(&path) || path.starts_with("/.well-known/") {
        Format::OAuth
    } else if path.starts_with("/admin/api/") {
        Format::Problem
    } else if path.ends_with("/options")
        || path.ends_with("/finish")
        || path == "/healthz"
        || path == "/readyz"
    {
        Format::Json
    } else {
        Format::Html
    }
}

/// True when a response already says what it is (a handler's own JSON, page, XML or file).
fn has_format(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| !ct.starts_with("text/plain"))
}

/// What went wrong, in the words of each format.
struct Said {
    code: &'static str,
    description: &'static str,
    heading: &'static str,
    message: &'static str,
}

fn said(status: StatusCode) -> Said {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Said {
            code: "invalid_request",
            description: "the request is too large",
            heading: "Request too large",
            message: "The request was larger than this server accepts.",
        },
        StatusCode::METHOD_NOT_ALLOWED => Said {
            code: "invalid_request",
            description: "this endpoint does not accept that method",
            heading: "Not accepted here",
            message: "This address does not accept that kind of request.",
        },
        StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT
        | StatusCode::REQUEST_TIMEOUT => Said {
            code: "temporarily_unavailable",
            description: "the server could not answer in time; try again",
            heading: "Temporarily unavailable",
            message: "The server could not answer in time. Please try again in a moment.",
        },
        s if s.is_server_error() => Said {
            code: "server_error",
            description: "the server could not answer",
            heading: "Something went wrong",
            message: "The server could not answer this request.",
        },
        _ => Said {
            code: "invalid_request",
            description: "the request is malformed",
            heading: "Request not understood",
            message: "The request could not be understood.",
        },
    }
}

/// Middleware: rewrites format-less error responses into the endpoint's format, keeping the
/// status and the headers that matter (`Allow`, `Retry-After`, `WWW-Authenticate`).
pub(crate) async fn in_protocol_format(req: Request, next: Next) -> Response {
    let format = format_for(req.uri().path());
    let rid = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || has_format(resp.headers()) {
        return resp;
    }
    let (parts, _) = resp.into_parts();
    let s = said(status);
    let mut out = match format {
        Format::OAuth => (
            status,
            Json(serde_json::json!({ "error": s.code, "error_description": s.description })),
        )
            .into_response(),
        Format::Json => (
            status,
            Json(serde_json::json!({ "error": s.code, "message": s.description })),
        )
            .into_response(),
        Format::Problem => crate::admin::problem(status, s.description),
        Format::Html => pages::message(
            status,
            pages::Page::new(s.heading, "Lanyard", None, &rid),
            s.heading,
            s.message,
            None,
        ),
    };
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    if s.code == "temporarily_unavailable" && !out.headers().contains_key(header::RETRY_AFTER) {
        out.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    out.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out.map(Body::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_endpoint_has_its_format() {
        for (path, f) in [
            ("/token", Format::OAuth),
            ("/introspect", Format::OAuth),
            ("/revoke", Format::OAuth),
            ("/userinfo", Format::OAuth),
            ("/jwks", Format::OAuth),
            ("/.well-known/openid-configuration", Format::OAuth),
            ("/login/passkey/options", Format::Json),
            ("/account/passkeys/finish", Format::Json),
            ("/readyz", Format::Json),
            ("/authorize", Format::Html),
            ("/login", Format::Html),
            ("/account/totp", Format::Html),
            ("/saml/sso", Format::Html),
            ("/admin/api/v1/users", Format::Problem),
        ] {
            assert_eq!(format_for(path), f, "{path}");
        }
    }

    #[test]
    fn plain_text_is_format_less_and_json_is_not() {
        let mut h = HeaderMap::new();
        assert!(!has_format(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        assert!(!has_format(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(has_format(&h));
    }
}
