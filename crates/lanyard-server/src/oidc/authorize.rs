//! The authorization endpoint: validates the request, describes it to the sign-in journey,
//! and answers the app in OAuth's terms (a code, or an error at its redirect URI).

use crate::app::App;
use crate::pages;
use crate::signin::decide::Refusal;
use crate::signin::flow::{self, Moved};
use crate::signin::journey::{Origin, Wants};
use crate::web::{page_for, request_id, trouble_page, unavailable_page};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use lanyard_idp::authorize::{self, AuthRequest, AuthorizeError};
use lanyard_idp::OAuthError;
use std::sync::Arc;

pub(crate) async fn authorize_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    authorize(app, headers, jar, params).await
}

pub(crate) async fn authorize_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Response {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    authorize(app, headers, jar, params).await
}

/// What an authorization request asks of the sign-in (OIDC Core §3.1.2.1; `max_age=0` has
/// become `prompt=login` in validation).
fn wants(req: &AuthRequest, app_requires_mfa: bool) -> Wants {
    Wants {
        force: req.prompt.login,
        passive: req.prompt.none,
        max_age: req.max_age,
        acr_values: req.acr_values.clone(),
        login_hint: req.login_hint.clone(),
        app_requires_mfa,
        upstream: None,
        domain_hint: req.domain_hint.clone(),
    }
}

async fn authorize(
    app: Arc<App>,
    headers: HeaderMap,
    jar: CookieJar,
    params: Vec<(String, String)>,
) -> Response {
    let rid = request_id(&headers);
    let issuer = app.provider.settings().issuer.clone();
    let (req, client) = match authorize::validate(&app.provider, &params).await {
        Ok(x) => x,
        Err(AuthorizeError::Page(msg)) => {
            return pages::message(
                StatusCode::BAD_REQUEST,
                page_for(&app, None, "Sign-in error", &rid).await,
                "This sign-in link is not valid",
                &msg,
                None,
            );
        }
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
        }) => {
            return Redirect::to(&authorize::error_redirect(
                &issuer,
                &redirect_uri,
                state.as_deref(),
                &error,
            ))
            .into_response();
        }
    };
    let to_client = |e: &OAuthError| {
        Redirect::to(&authorize::error_redirect(
            &issuer,
            &req.redirect_uri,
            req.state.as_deref(),
            e,
        ))
        .into_response()
    };
    let w = Wants {
        upstream: client.connection.clone(),
        ..wants(&req, client.require_mfa)
    };
    let origin = Origin::Oidc(req.clone());
    let tenant = client.tenant_id;
    match flow::start(&app, jar, tenant, client.name.clone(), origin, w).await {
        Ok(Moved::Session(sso)) => match authorize::issue_code(&app.provider, &req, &sso).await {
            Ok(url) => Redirect::to(&url).into_response(),
            Err(OAuthError::TemporarilyUnavailable) => {
                unavailable_page(&app, Some(tenant), &rid).await
            }
            Err(e) => to_client(&e),
        },
        Ok(Moved::Answer(jar, url)) | Ok(Moved::Page(jar, url)) => {
            (jar, Redirect::to(&url)).into_response()
        }
        Ok(Moved::Refused(Refusal::LoginRequired)) => to_client(&OAuthError::LoginRequired),
        Ok(Moved::Refused(Refusal::InteractionRequired)) => {
            to_client(&OAuthError::InteractionRequired)
        }
        Err(t) => trouble_page(&app, Some(tenant), t, &rid).await,
    }
}
