//! RP-initiated logout. With a valid `id_token_hint` the session ends at once; without one the
//! person confirms on a page (a CSRF-protected form), so a stray link cannot sign him out.

use crate::app::App;
use crate::cookies;
use crate::pages::{self, LogoutPage};
use crate::web::{page_for, request_id, trouble_page, unavailable_page};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use lanyard_idp::logout;
use std::collections::HashMap;
use std::sync::Arc;

/// The confirmation form's token purpose (bound to the session being ended).
const LOGOUT_FORM: &str = "logout";

const CARRIED: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

pub(crate) async fn logout_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    handle(app, headers, jar, params, false).await
}

pub(crate) async fn logout_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    handle(app, headers, jar, params, true).await
}

async fn handle(
    app: Arc<App>,
    headers: HeaderMap,
    jar: CookieJar,
    params: HashMap<String, String>,
    posted: bool,
) -> Response {
    let rid = request_id(&headers);
    let plan = match logout::plan(&app.provider, &params).await {
        Ok(p) => p,
        Err(msg) => {
            return pages::message(
                StatusCode::BAD_REQUEST,
                page_for(&app, None, "Sign-out error", &rid).await,
                "This sign-out link is not valid",
                &msg,
                None,
            )
        }
    };
    let session = match cookies::sso_secret(&app, &jar) {
        Some(secret) => match app.sessions.sso_by_secret(&secret).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(request_id = %rid, error = %e, "logout: session unavailable");
                return unavailable_page(&app, None, &rid).await;
            }
        },
        None => None,
    };
    let confirmed_by_form = posted
        && params.get("confirm").map(String::as_str) == Some("yes")
        && session.as_ref().is_some_and(|s| {
            crate::csrf::verify(
                &s.handle,
                LOGOUT_FORM,
                params.get("csrf").map(String::as_str).unwrap_or_default(),
            )
        });
    // A hint for another session than this browser's proves nothing about this browser.
    let hint_matches = plan.confirmed
        && (plan.sid.is_none() || plan.sid.as_deref() == session.as_ref().map(|s| s.sid.as_str()));
    if let Some(s) = session
        .as_ref()
        .filter(|_| !hint_matches && !confirmed_by_form)
    {
        let csrf = crate::csrf::token(&s.handle, LOGOUT_FORM);
        let page = page_for(&app, Some(s.tenant_id), "Sign out", &rid).await;
        let nonce = page.nonce.clone();
        let carried = CARRIED
            .iter()
            .filter_map(|k| params.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
        let targets: Vec<String> = plan
            .redirect
            .as_deref()
            .and_then(pages::origin)
            .into_iter()
            .collect();
        return pages::render(
            StatusCode::OK,
            &LogoutPage {
                page,
                csrf,
                params: carried,
            },
            &nonce,
            &targets,
        );
    }
    let tenant = session.as_ref().map(|s| s.tenant_id);
    let mut saml_participants = Vec::new();
    if let Some(s) = &session {
        match app.sessions.end_sso(&s.handle).await {
            Ok(ended) => saml_participants = ended.map(|e| e.saml).unwrap_or_default(),
            Err(e) => {
                tracing::error!(request_id = %rid, error = %e, "logout: could not end the session");
                return unavailable_page(&app, tenant, &rid).await;
            }
        }
        tracing::info!(request_id = %rid, "signed out");
    }
    let jar = jar.remove(cookies::removal(&app, cookies::sso_name(&app)));
    if !saml_participants.is_empty() {
        // SAML applications of the session are logged out one by one, then on to the redirect.
        return match crate::saml::start_logout(&app, tenant, saml_participants, plan.redirect).await
        {
            Ok(next) => (jar, Redirect::to(&next)).into_response(),
            Err(e) => trouble_page(&app, tenant, e.into(), &rid).await,
        };
    }
    match plan.redirect {
        Some(url) => (jar, Redirect::to(&url)).into_response(),
        None => (
            jar,
            pages::message(
                StatusCode::OK,
                page_for(&app, tenant, "Signed out", &rid).await,
                "You are signed out",
                "You can close this window.",
                None,
            ),
        )
            .into_response(),
    }
}
