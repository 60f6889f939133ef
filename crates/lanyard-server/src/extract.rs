//! Extractors that answer malformed input in the page's own terms: a browser form or query
//! gets an HTML page, a passkey JSON call a JSON error — never the framework's plain text.

use crate::pages::{self, Page};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

fn bad_page(headers: &HeaderMap, detail: &str) -> Response {
    let rid = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info!(request_id = %rid, %detail, "malformed browser request");
    pages::message(
        StatusCode::BAD_REQUEST,
        Page::new("Bad request", "Lanyard", None, rid),
        "This request could not be understood",
        "Something was missing from it. Please go back to the application and try again.",
        None,
    )
}

/// A urlencoded form from a browser.
pub struct PageForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for PageForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let headers = req.headers().clone();
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|f| Self(f.0))
            .map_err(|e| bad_page(&headers, &e.body_text()))
    }
}

/// A query string from a browser.
pub struct PageQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for PageQuery<T> {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| bad_page(&parts.headers, &e.body_text()))
    }
}

/// A JSON body from the passkey script.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|j| Self(j.0))
            .map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(
                        serde_json::json!({"error": "The request could not be understood."}),
                    ),
                )
                    .into_response()
            })
    }
}
