//! The SAML routes: metadata, single sign-on (SP- and IdP-initiated) and single logout. The
//! protocol work is in `lanyard_idp::saml`; this module finds SPs and sessions, runs the same
//! sign-in pages and MFA as OpenID Connect, and renders what goes back to the browser.

use crate::app::App;
use crate::cookies;
use crate::extract::PageQuery;
use crate::pages;
use crate::signin::flow::{self, Moved};
use crate::signin::journey::{self, Origin, Stage, Wants};
use crate::web::{
    expired, own_journey, page_for, request_id, trouble_page, unavailable_page, TxQuery,
};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use lanyard_core::saml::BINDING_POST;
use lanyard_core::{NameIdFormat, SamlSpSpec, TenantId};
use lanyard_idp::saml::message::{self, Incoming};
use lanyard_idp::saml::response::{self, AssertionParts, NameId};
use lanyard_idp::saml::{self as idp_saml, Reply, SamlAuthn, SamlError, SamlParticipant};
use lanyard_session::SsoSession;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Routes of the identity provider.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/saml/metadata", get(metadata))
        .route("/saml/sso", get(sso_redirect).post(sso_post))
        .route("/saml/init", get(idp_initiated))
        .route("/saml/continue", get(continue_get))
        .route("/saml/slo", get(slo_redirect).post(slo_post))
        .route("/saml/slo/next", get(slo_next))
}

fn issuer(app: &App) -> &str {
    &app.config.server.issuer
}

async fn refused(app: &App, tenant: Option<TenantId>, rid: &str, msg: &str) -> Response {
    pages::message(
        StatusCode::BAD_REQUEST,
        page_for(app, tenant, "Sign-in error", rid).await,
        "This request from the application cannot be accepted",
        msg,
        None,
    )
}

async fn metadata(State(app): State<Arc<App>>) -> Response {
    let now = app.provider.now();
    let send = |xml: Arc<str>| {
        (
            [
                (header::CONTENT_TYPE, "application/samlmetadata+xml"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            xml.to_string(),
        )
            .into_response()
    };
    if let Some(xml) = app.saml_metadata(now) {
        return send(xml);
    }
    let keys = app.saml_keys();
    let iss = issuer(&app).to_string();
    let signing = keys.clone();
    match tokio::task::spawn_blocking(move || idp_saml::metadata::idp_metadata(&iss, &signing, now))
        .await
    {
        Ok(Ok(xml)) => {
            let xml: Arc<str> = xml.into();
            app.keep_saml_metadata(crate::app::SignedMetadata {
                keys,
                made_at: now,
                xml: xml.clone(),
            });
            send(xml)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "SAML metadata failed");
            (StatusCode::SERVICE_UNAVAILABLE, "metadata unavailable").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "SAML metadata task failed");
            (StatusCode::SERVICE_UNAVAILABLE, "metadata unavailable").into_response()
        }
    }
}

/// Runs `make` on the blocking pool (RSA signing takes a while) with the signing key of now,
/// the IdP's entity id and now. No active key, or a task that died, is `Internal`.
async fn with_signer<T: Send + 'static>(
    app: &App,
    make: impl FnOnce(&idp_saml::keys::SamlKey, &str, i64) -> Result<T, SamlError> + Send + 'static,
) -> Result<T, SamlError> {
    let keys = app.saml_keys();
    let entity = idp_saml::entity_id(issuer(app));
    let now = app.provider.now();
    tokio::task::spawn_blocking(move || {
        let key = keys
            .signer(now)
            .ok_or_else(|| SamlError::Internal("no SAML key".into()))?;
        make(key, &entity, now)
    })
    .await
    .map_err(|e| SamlError::Internal(e.to_string()))?
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn sso_redirect(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    let inc = Incoming::from_redirect(&q.unwrap_or_default(), "SAMLRequest");
    sso(app, headers, jar, inc).await
}

async fn sso_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let inc = Incoming::from_post(&form_pairs(&body), "SAMLRequest");
    sso(app, headers, jar, inc).await
}

/// Stores a request id as seen; `false` if it was seen before (a replay).
async fn first_sight(app: &App, sp: &str, id: &str) -> Result<bool, lanyard_session::SessionError> {
    let key = lanyard_core::random::hex(&Sha256::digest(format!("{sp}\n{id}").as_bytes()));
    app.sessions
        .store()
        .put_new(
            &format!("saml:seen:{key}"),
            b"1",
            Duration::from_secs((message::MAX_AGE_SECS + 2 * message::SKEW_SECS) as u64),
        )
        .await
}

async fn sso(
    app: Arc<App>,
    headers: HeaderMap,
    jar: CookieJar,
    inc: Result<Incoming, SamlError>,
) -> Response {
    let rid = request_id(&headers);
    let checked = async {
        let inc = inc?;
        let sp = registered_sp(&app, &inc).await?;
        let (xml, signed) = inc.verify(&sp.certificates)?;
        let (authn, id) = message::check_authn_request(
            &sp,
            &xml,
            inc.relay_state.clone(),
            signed,
            &idp_saml::sso_url(issuer(&app)),
            app.provider.now(),
        )?;
        Ok::<_, SamlError>((sp, authn, id))
    }
    .await;
    let (sp, authn, id) = match checked {
        Ok(x) => x,
        Err(e) => return saml_error(&app, &rid, e).await,
    };
    match first_sight(&app, &sp.entity_id, &id).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(request_id = %rid, sp = %sp.entity_id, "SAML request replayed");
            return refused(
                &app,
                Some(sp.tenant_id),
                &rid,
                "This sign-in request has already been used. Please start again from the application.",
            )
            .await;
        }
        Err(e) => return trouble_page(&app, Some(sp.tenant_id), e.into(), &rid).await,
    }
    start(&app, jar, &sp, authn, &rid).await
}

/// The registered SP that sent a message (by its `Issuer`).
async fn registered_sp(app: &App, inc: &Incoming) -> Result<SamlSpSpec, SamlError> {
    let sp_id = inc.issuer()?;
    app.store
        .saml_sp(&sp_id)
        .await
        .map_err(|e| SamlError::Internal(e.to_string()))?
        .ok_or_else(|| {
            SamlError::Page(format!(
                "The application {sp_id} is not registered with this identity provider."
            ))
        })
}

/// Turns a refusal into a page or a SAML error response.
async fn saml_error(app: &App, rid: &str, e: SamlError) -> Response {
    match e {
        SamlError::Page(msg) => {
            tracing::info!(request_id = %rid, reason = %msg, "SAML request refused");
            refused(app, None, rid, &msg).await
        }
        SamlError::Status {
            reply,
            code,
            top,
            message,
        } => send_failure(app, rid, &reply, top, code, &message).await,
        SamlError::Internal(detail) => {
            tracing::error!(request_id = %rid, %detail, "SAML failure");
            unavailable_page(app, None, rid).await
        }
    }
}

async fn send_failure(
    app: &App,
    rid: &str,
    reply: &Reply,
    top: &'static str,
    code: &'static str,
    message: &str,
) -> Response {
    let (r, m) = (reply.clone(), message.to_string());
    let xml = with_signer(app, move |key, entity, now| {
        response::failure(key, entity, &r, top, code, &m, now)
    })
    .await;
    match xml {
        Ok(xml) => {
            post_to_sp(
                app,
                rid,
                None,
                &reply.acs_url,
                "SAMLResponse",
                &xml,
                reply.relay_state.as_deref(),
            )
            .await
        }
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "could not sign a SAML failure status");
            unavailable_page(app, None, rid).await
        }
    }
}

async fn post_to_sp(
    app: &App,
    rid: &str,
    tenant: Option<TenantId>,
    url: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
) -> Response {
    let mut fields = vec![(
        param.to_string(),
        base64::engine::general_purpose::STANDARD.encode(xml.as_bytes()),
    )];
    if let Some(r) = relay_state {
        fields.push(("RelayState".into(), r.to_string()));
    }
    pages::saml_post(
        page_for(app, tenant, "Continue", rid).await,
        "Continue",
        url,
        fields,
    )
}

/// What a SAML request asks of the sign-in.
fn wants(authn: &SamlAuthn, sp: &SamlSpSpec) -> Wants {
    Wants {
        force: authn.force_authn,
        passive: authn.is_passive,
        max_age: None,
        acr_values: if authn.want_mfa {
            vec![lanyard_mfa::ACR_MFA.to_string()]
        } else {
            Vec::new()
        },
        login_hint: None,
        app_requires_mfa: sp.require_mfa,
        upstream: sp.connection.clone(),
        domain_hint: None,
    }
}

/// Answers from the session, steps up, or sends the person through the sign-in pages.
async fn start(
    app: &App,
    jar: CookieJar,
    sp: &SamlSpSpec,
    authn: SamlAuthn,
    rid: &str,
) -> Response {
    let tenant = sp.tenant_id;
    let w = wants(&authn, sp);
    let origin = Origin::Saml(authn.clone());
    match flow::start(app, jar, tenant, sp.name.clone(), origin, w).await {
        Ok(Moved::Session(sso)) => answer(app, sp, &authn, sso, rid).await,
        Ok(Moved::Answer(jar, url)) | Ok(Moved::Page(jar, url)) => {
            (jar, Redirect::to(&url)).into_response()
        }
        // Either refusal is "no passive sign-in possible" in SAML's terms.
        Ok(Moved::Refused(_)) => {
            send_failure(
                app,
                rid,
                &authn.reply,
                idp_saml::STATUS_RESPONDER,
                idp_saml::STATUS_NO_PASSIVE,
                "The person is not signed in.",
            )
            .await
        }
        Err(t) => trouble_page(app, Some(tenant), t, rid).await,
    }
}

#[derive(Deserialize)]
struct InitQuery {
    sp: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// IdP-initiated sign-in: `/saml/init?sp=ENTITY_ID[&RelayState=…]`.
async fn idp_initiated(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<InitQuery>,
) -> Response {
    let rid = request_id(&headers);
    let sp = match app.store.saml_sp(&q.sp).await {
        Ok(Some(sp)) => sp,
        Ok(None) => {
            return refused(
                &app,
                None,
                &rid,
                &format!(
                    "The application {} is not registered with this identity provider.",
                    q.sp
                ),
            )
            .await
        }
        Err(e) => return trouble_page(&app, None, e.into(), &rid).await,
    };
    // Any page can link a browser here; only an SP registered for unsolicited assertions gets
    // one (it then trusts RelayState only as far as it chooses).
    if !sp.idp_initiated {
        return refused(
            &app,
            Some(sp.tenant_id),
            &rid,
            "This application accepts sign-in only when it asks for it (IdP-initiated sign-in is not enabled for it).",
        )
        .await;
    }
    if q.relay_state
        .as_ref()
        .is_some_and(|r| r.len() > message::MAX_RELAY_STATE)
    {
        return refused(
            &app,
            Some(sp.tenant_id),
            &rid,
            "The RelayState is too long.",
        )
        .await;
    }
    let Some(acs) = sp.acs_for(None, None) else {
        return refused(
            &app,
            Some(sp.tenant_id),
            &rid,
            "The application has no ACS.",
        )
        .await;
    };
    let authn = SamlAuthn {
        reply: Reply {
            sp: sp.entity_id.clone(),
            acs_url: acs.url.clone(),
            in_response_to: None,
            relay_state: q.relay_state.filter(|r| !r.is_empty()),
        },
        name_id_format: sp
            .name_id_formats
            .first()
            .copied()
            .unwrap_or(NameIdFormat::Unspecified),
        force_authn: false,
        is_passive: false,
        want_mfa: false,
        received_at: app.provider.now(),
    };
    start(&app, jar, &sp, authn, &rid).await
}

/// After the sign-in pages: answer the SP from the session they made. The journey must be
/// this browser's, signed in, and is used once; one still waiting at a step goes back to it.
async fn continue_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<TxQuery>,
) -> Response {
    let rid = request_id(&headers);
    if journey::is_sealed(&q.tx) {
        return expired(&app, &rid).await;
    }
    let j = match own_journey(&app, &jar, &q.tx, &rid).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let tenant = j.tenant_id;
    let user_id = match j.stage {
        Stage::SignedIn { user_id } => user_id,
        // A step left waiting is not skipped by a session made elsewhere meanwhile.
        _ => return Redirect::to(&j.url("")).into_response(),
    };
    let taken = async {
        let Some(j) = journey::take(&app, &j.id).await? else {
            return Ok(None);
        };
        let Origin::Saml(authn) = j.origin else {
            return Ok(None);
        };
        // The session must come from the sign-in this journey made.
        let sso = flow::usable_session(&app, &jar, tenant)
            .await?
            .filter(|s| s.user_id == user_id && s.auth_time >= j.created_at);
        Ok::<_, flow::Trouble>(sso.map(|s| (authn, s)))
    }
    .await;
    let (authn, sso) = match taken {
        Ok(Some(x)) => x,
        Ok(None) => return expired(&app, &rid).await,
        Err(t) => return trouble_page(&app, Some(tenant), t, &rid).await,
    };
    match app.store.saml_sp(&authn.reply.sp).await {
        Ok(Some(sp)) => answer(&app, &sp, &authn, sso, &rid).await,
        Ok(None) => {
            refused(
                &app,
                Some(tenant),
                &rid,
                "The application is no longer registered.",
            )
            .await
        }
        Err(e) => trouble_page(&app, Some(tenant), e.into(), &rid).await,
    }
}

/// The NameID for this person at this SP, or why there is none.
async fn name_id_for(
    app: &App,
    sp: &SamlSpSpec,
    format: NameIdFormat,
    person: &lanyard_idp::Person,
    existing: Option<&SamlParticipant>,
) -> Result<Option<NameId>, lanyard_store::StoreError> {
    let value = match format {
        NameIdFormat::Email => person.email.clone(),
        NameIdFormat::Unspecified => Some(
            person
                .username
                .clone()
                .or_else(|| person.email.clone())
                .unwrap_or_else(|| person.user_id.to_string()),
        ),
        NameIdFormat::Transient => Some(
            existing
                .filter(|p| p.format == NameIdFormat::Transient.uri())
                .map(|p| p.name_id.clone())
                .unwrap_or_else(idp_saml::xml::new_id),
        ),
        NameIdFormat::Persistent => Some(
            app.store
                .saml_persistent_id(&sp.entity_id, person.user_id, &idp_saml::xml::new_id())
                .await?,
        ),
    };
    Ok(value.map(|value| NameId {
        value,
        format,
        sp_qualifier: Some(sp.entity_id.clone()),
    }))
}

/// Sends the signed response for a person signed in by `sso`.
async fn answer(
    app: &App,
    sp: &SamlSpSpec,
    authn: &SamlAuthn,
    sso: SsoSession,
    rid: &str,
) -> Response {
    let person = match app.provider.directory().person(sso.user_id).await {
        Ok(Some(p)) if p.may_sign_in => p,
        Ok(_) => {
            return send_failure(
                app,
                rid,
                &authn.reply,
                idp_saml::STATUS_RESPONDER,
                idp_saml::STATUS_REQUEST_DENIED,
                "The person may not sign in.",
            )
            .await
        }
        Err(e) => return trouble_page(app, Some(sp.tenant_id), e.into(), rid).await,
    };
    let existing = sso.saml.iter().find(|p| p.sp == sp.entity_id).cloned();
    let name_id = match name_id_for(app, sp, authn.name_id_format, &person, existing.as_ref()).await
    {
        Ok(Some(n)) => n,
        Ok(None) => {
            return send_failure(
                app,
                rid,
                &authn.reply,
                idp_saml::STATUS_REQUESTER,
                idp_saml::STATUS_INVALID_NAME_ID_POLICY,
                "The person has no value for the requested NameID format.",
            )
            .await
        }
        Err(e) => return trouble_page(app, Some(sp.tenant_id), e.into(), rid).await,
    };
    let session_index = existing
        .filter(|p| p.name_id == name_id.value)
        .map(|p| p.session_index)
        .unwrap_or_else(idp_saml::xml::new_id);
    let now = app.provider.now();
    let participant = SamlParticipant {
        sp: sp.entity_id.clone(),
        name_id: name_id.value.clone(),
        format: name_id.format.uri().to_string(),
        session_index: session_index.clone(),
    };
    // Recorded for single logout without overwriting a concurrent change to the session or
    // bringing back one that ended meanwhile.
    let sso = match app
        .sessions
        .update_sso(&sso.handle, now, |s| {
            s.saml.retain(|p| p.sp != participant.sp);
            s.saml.push(participant.clone());
        })
        .await
    {
        Ok(Some(s)) => s,
        Ok(None) => return expired(app, rid).await,
        Err(e) => return trouble_page(app, Some(sp.tenant_id), e.into(), rid).await,
    };
    let (sp2, reply) = (sp.clone(), authn.reply.clone());
    let mfa = sso.amr.iter().any(|a| a == "mfa");
    let (auth_time, expires) = (sso.auth_time, sso.expires_at);
    let xml = with_signer(app, move |key, entity, now| {
        let parts = AssertionParts {
            idp_entity: entity,
            sp: &sp2,
            reply: &reply,
            name_id: &name_id,
            session_index: &session_index,
            auth_time,
            mfa,
            session_expires: expires,
            attributes: response::attributes(&person, &sp2),
            now,
        };
        response::success(key, &parts)
    })
    .await;
    match xml {
        Ok(xml) => {
            tracing::info!(request_id = %rid, sp = %sp.entity_id, user = %sso.user_id, "SAML assertion issued");
            post_to_sp(
                app,
                rid,
                Some(sp.tenant_id),
                &authn.reply.acs_url,
                "SAMLResponse",
                &xml,
                authn.reply.relay_state.as_deref(),
            )
            .await
        }
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "SAML response failed");
            unavailable_page(app, Some(sp.tenant_id), rid).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Single logout

/// A logout going round the session's participants, one front-channel hop at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SloPlan {
    tenant: Option<TenantId>,
    /// Participants still to be told.
    pending: Vec<SamlParticipant>,
    /// The request we sent and await an answer to: (SP, request id).
    awaiting: Option<(String, String)>,
    /// Some participant could not be logged out.
    partial: bool,
    /// The SP that asked, answered last.
    initiator: Option<Initiator>,
    /// Where to go at the end when no SP asked (an OIDC post-logout redirect).
    then: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Initiator {
    sp: String,
    request_id: String,
    relay_state: Option<String>,
}

const SLO_TTL: Duration = Duration::from_secs(600);

/// Starts an IdP-initiated logout of `participants` (after the session has ended); returns
/// where the browser goes next.
pub(crate) async fn start_logout(
    app: &App,
    tenant: Option<TenantId>,
    participants: Vec<SamlParticipant>,
    then: Option<String>,
) -> Result<String, lanyard_session::SessionError> {
    let plan = SloPlan {
        tenant,
        pending: participants,
        awaiting: None,
        partial: false,
        initiator: None,
        then,
    };
    let id = lanyard_core::random::token(32);
    app.sessions
        .put_json(&format!("slo:{id}"), &plan, SLO_TTL)
        .await?;
    Ok(format!("/saml/slo/next?id={id}"))
}

async fn slo_redirect(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    let q = q.unwrap_or_default();
    let is_response = url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "SAMLResponse");
    if is_response {
        let inc = Incoming::from_redirect(&q, "SAMLResponse");
        slo_response(app, headers, inc).await
    } else {
        let inc = Incoming::from_redirect(&q, "SAMLRequest");
        slo_request(app, headers, jar, inc).await
    }
}

async fn slo_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let form = form_pairs(&body);
    if form.iter().any(|(k, _)| k == "SAMLResponse") {
        let inc = Incoming::from_post(&form, "SAMLResponse");
        slo_response(app, headers, inc).await
    } else {
        let inc = Incoming::from_post(&form, "SAMLRequest");
        slo_request(app, headers, jar, inc).await
    }
}

/// A logout request from an SP: end the session (if it is the one the SP knows), then log
/// out every other participant, then answer the SP.
async fn slo_request(
    app: Arc<App>,
    headers: HeaderMap,
    jar: CookieJar,
    inc: Result<Incoming, SamlError>,
) -> Response {
    let rid = request_id(&headers);
    let checked = async {
        let inc = inc?;
        let sp = registered_sp(&app, &inc).await?;
        let (xml, signed) = inc.verify(&sp.certificates)?;
        let req = message::check_logout_request(
            &xml,
            signed,
            &idp_saml::slo_url(issuer(&app)),
            app.provider.now(),
        )?;
        Ok::<_, SamlError>((sp, req, inc.relay_state))
    }
    .await;
    let (sp, req, relay_state) = match checked {
        Ok(x) => x,
        Err(e) => return saml_error(&app, &rid, e).await,
    };
    if sp.slo.is_none() {
        return refused(
            &app,
            Some(sp.tenant_id),
            &rid,
            "This application has no single logout address registered.",
        )
        .await;
    }
    match first_sight(&app, &sp.entity_id, &req.id).await {
        Ok(true) => {}
        Ok(false) => {
            return refused(
                &app,
                Some(sp.tenant_id),
                &rid,
                "This logout request has already been used.",
            )
            .await
        }
        Err(e) => return trouble_page(&app, Some(sp.tenant_id), e.into(), &rid).await,
    }
    let session = match cookies::sso_secret(&app, &jar) {
        Some(secret) => match app.sessions.sso_by_secret(&secret).await {
            Ok(x) => x,
            Err(e) => return trouble_page(&app, Some(sp.tenant_id), e.into(), &rid).await,
        },
        None => None,
    };
    // Only the session in which this SP knows the person under that NameID is ended.
    let known = session.as_ref().filter(|s| {
        s.saml
            .iter()
            .any(|p| p.sp == sp.entity_id && p.name_id == req.name_id)
    });
    let mut others = Vec::new();
    let mut jar = jar;
    if let Some(s) = known {
        match app.sessions.end_sso(&s.handle).await {
            Ok(Some(ended)) => {
                others = ended
                    .saml
                    .into_iter()
                    .filter(|p| p.sp != sp.entity_id)
                    .collect();
                tracing::info!(request_id = %rid, sp = %sp.entity_id, user = %ended.user_id, "signed out by SAML logout");
            }
            Ok(None) => {}
            Err(e) => return trouble_page(&app, Some(sp.tenant_id), e.into(), &rid).await,
        }
        jar = jar.remove(cookies::removal(&app, cookies::sso_name(&app)));
    }
    let plan = SloPlan {
        tenant: Some(sp.tenant_id),
        pending: others,
        awaiting: None,
        partial: false,
        initiator: Some(Initiator {
            sp: sp.entity_id.clone(),
            request_id: req.id,
            relay_state,
        }),
        then: None,
    };
    let id = lanyard_core::random::token(32);
    if let Err(e) = app
        .sessions
        .put_json(&format!("slo:{id}"), &plan, SLO_TTL)
        .await
    {
        return trouble_page(&app, Some(sp.tenant_id), e.into(), &rid).await;
    }
    (jar, next_hop(&app, &id, plan, &rid).await).into_response()
}

/// A logout response from an SP we asked: note it and go on.
async fn slo_response(
    app: Arc<App>,
    headers: HeaderMap,
    inc: Result<Incoming, SamlError>,
) -> Response {
    let rid = request_id(&headers);
    let inc = match inc {
        Ok(i) => i,
        Err(e) => return saml_error(&app, &rid, e).await,
    };
    let Some(id) = inc.relay_state.clone() else {
        return refused(
            &app,
            None,
            &rid,
            "The logout response does not say which logout it belongs to.",
        )
        .await;
    };
    let mut plan: SloPlan = match app.sessions.get_json(&format!("slo:{id}")).await {
        Ok(Some(p)) => p,
        Ok(None) => return expired(&app, &rid).await,
        Err(e) => return trouble_page(&app, None, e.into(), &rid).await,
    };
    let Some((sp_id, request_id)) = plan.awaiting.take() else {
        return refused(&app, plan.tenant, &rid, "No logout response was expected.").await;
    };
    let ok = async {
        if inc.issuer()? != sp_id {
            return Err(SamlError::Page(
                "The logout response comes from another application.".into(),
            ));
        }
        let sp = app
            .store
            .saml_sp(&sp_id)
            .await
            .map_err(|e| SamlError::Internal(e.to_string()))?
            .ok_or_else(|| SamlError::Page("The application is no longer registered.".into()))?;
        let (xml, signed) = inc.verify(&sp.certificates)?;
        if sp.require_signed_requests && !signed {
            return Err(SamlError::Page("The logout response is not signed.".into()));
        }
        let (irt, success) = message::check_logout_response(&xml)?;
        if irt.as_deref() != Some(request_id.as_str()) {
            return Err(SamlError::Page(
                "The logout response answers another request.".into(),
            ));
        }
        Ok(success)
    }
    .await;
    match ok {
        Ok(true) => {}
        Ok(false) => plan.partial = true,
        Err(SamlError::Internal(detail)) => {
            tracing::error!(request_id = %rid, %detail, "SAML logout response failed");
            return unavailable_page(&app, plan.tenant, &rid).await;
        }
        Err(e) => {
            tracing::warn!(request_id = %rid, sp = %sp_id, error = %e, "bad SAML logout response");
            plan.partial = true;
        }
    }
    next_hop(&app, &id, plan, &rid).await
}

#[derive(Deserialize)]
struct IdQuery {
    id: String,
}

async fn slo_next(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<IdQuery>,
) -> Response {
    let rid = request_id(&headers);
    match app
        .sessions
        .get_json::<SloPlan>(&format!("slo:{}", q.id))
        .await
    {
        Ok(Some(plan)) if plan.awaiting.is_none() => next_hop(&app, &q.id, plan, &rid).await,
        Ok(Some(plan)) => {
            // The awaited SP never answered (the person came back another way): go on.
            let mut plan = plan;
            plan.awaiting = None;
            plan.partial = true;
            next_hop(&app, &q.id, plan, &rid).await
        }
        Ok(None) => expired(&app, &rid).await,
        Err(e) => trouble_page(&app, None, e.into(), &rid).await,
    }
}

/// Sends the next logout request, or finishes.
async fn next_hop(app: &App, id: &str, mut plan: SloPlan, rid: &str) -> Response {
    let key_name = format!("slo:{id}");
    while let Some(p) = plan.pending.pop() {
        let sp = match app.store.saml_sp(&p.sp).await {
            Ok(Some(sp)) => sp,
            Ok(None) => continue,
            Err(e) => return trouble_page(app, plan.tenant, e.into(), rid).await,
        };
        let Some(slo) = sp.slo.clone() else {
            plan.partial = true;
            continue;
        };
        let post = slo.binding == BINDING_POST;
        let dest = slo.url.clone();
        let relay = id.to_string();
        let built = with_signer(app, move |key, entity, now| {
            let name_id = NameId {
                value: p.name_id.clone(),
                format: NameIdFormat::parse(&p.format).unwrap_or(NameIdFormat::Unspecified),
                sp_qualifier: Some(p.sp.clone()),
            };
            let (req_id, xml) = response::logout_request(
                key,
                entity,
                &dest,
                &name_id,
                &p.session_index,
                post,
                now,
            )?;
            let target = if post {
                None
            } else {
                Some(message::redirect_url(
                    &dest,
                    "SAMLRequest",
                    &xml,
                    Some(&relay),
                    key,
                )?)
            };
            Ok::<_, SamlError>((req_id, xml, target))
        })
        .await;
        let (req_id, xml, target) = match built {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(request_id = %rid, error = %e, "could not build a SAML logout request");
                return unavailable_page(app, plan.tenant, rid).await;
            }
        };
        plan.awaiting = Some((sp.entity_id.clone(), req_id));
        if let Err(e) = app.sessions.put_json(&key_name, &plan, SLO_TTL).await {
            return trouble_page(app, plan.tenant, e.into(), rid).await;
        }
        return match target {
            Some(url) => Redirect::to(&url).into_response(),
            None => {
                post_to_sp(
                    app,
                    rid,
                    plan.tenant,
                    &slo.url,
                    "SAMLRequest",
                    &xml,
                    Some(id),
                )
                .await
            }
        };
    }
    let _ = app.sessions.store().delete(&key_name).await;
    finish_logout(app, plan, rid).await
}

async fn finish_logout(app: &App, plan: SloPlan, rid: &str) -> Response {
    if let Some(init) = plan.initiator {
        let sp = match app.store.saml_sp(&init.sp).await {
            Ok(Some(sp)) => sp,
            Ok(None) => return signed_out(app, plan.tenant, rid).await,
            Err(e) => return trouble_page(app, plan.tenant, e.into(), rid).await,
        };
        let Some(slo) = sp.slo.clone() else {
            return signed_out(app, plan.tenant, rid).await;
        };
        let dest = slo.response_url.clone().unwrap_or(slo.url.clone());
        let post = slo.binding == BINDING_POST;
        let (d, relay, partial) = (dest.clone(), init.relay_state.clone(), plan.partial);
        let built = with_signer(app, move |key, entity, now| {
            let xml =
                response::logout_response(key, entity, &d, &init.request_id, partial, post, now)?;
            if post {
                Ok::<_, SamlError>((xml, None))
            } else {
                let url = message::redirect_url(&d, "SAMLResponse", &xml, relay.as_deref(), key)?;
                Ok((xml, Some(url)))
            }
        })
        .await;
        return match built {
            Ok((_, Some(url))) => Redirect::to(&url).into_response(),
            Ok((xml, None)) => {
                post_to_sp(
                    app,
                    rid,
                    plan.tenant,
                    &dest,
                    "SAMLResponse",
                    &xml,
                    init.relay_state.as_deref(),
                )
                .await
            }
            Err(e) => {
                tracing::error!(request_id = %rid, error = %e, "could not build a SAML logout response");
                unavailable_page(app, plan.tenant, rid).await
            }
        };
    }
    match plan.then {
        Some(url) => Redirect::to(&url).into_response(),
        None => signed_out(app, plan.tenant, rid).await,
    }
}

async fn signed_out(app: &App, tenant: Option<TenantId>, rid: &str) -> Response {
    pages::message(
        StatusCode::OK,
        page_for(app, tenant, "Signed out", rid).await,
        "You are signed out",
        "You have been signed out of every application that used this session.",
        None,
    )
}
