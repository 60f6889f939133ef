//! Passkeys while signing in: as the second factor of a stored transaction, or on their own
//! (a discoverable passkey, from the sign-in page). Every attempt counts against the person's
//! lockout before it is checked; a store that cannot answer is a 503, never "no keys".
//!
//! The challenge of a passwordless attempt is not stored: it travels sealed with the options,
//! bound to its transaction, for five minutes, and is spent (remembered as used) only when a
//! real passkey has answered it, so anonymous visitors cost the server nothing.

use super::mfa::{purpose, LOCKED};
use super::{request_id, ClientAddr};
use crate::app::App;
use crate::extract::ApiJson;
use crate::signin::flow::{self, factors, Method, Moved};
use crate::signin::journey::{self, Journey, Person, Stage, Step};
use crate::throttle::{self, Subject};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use lanyard_core::{AuditActor, User, UserId};
use lanyard_mfa::passkeys::{PasskeyError, Verified};
use lanyard_mfa::Factor;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyAuthentication};

const SEALED: &str = "lanyard:passkey-challenge:v1";
const CHALLENGE_SECS: i64 = 300;

fn json_error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

fn unavailable(rid: &str, what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!(request_id = %rid, error = %e, "{what}");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is temporarily unavailable. Please try again in a moment.",
    )
}

/// The transaction of a passkey call: live, this browser's, with the page's form token.
async fn json_tx(
    app: &App,
    jar: &CookieJar,
    reference: &str,
    csrf: &str,
    purpose: &str,
    rid: &str,
) -> Result<Journey, Response> {
    match journey::load(app, reference).await {
        Ok(Some(t))
            if journey::is_mine(app, jar, &t) && journey::form_token_ok(&t, purpose, csrf) =>
        {
            Ok(t)
        }
        Ok(Some(_)) => Err(json_error(
            StatusCode::FORBIDDEN,
            "This request could not be accepted.",
        )),
        Ok(None) => Err(json_error(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired. Please start again.",
        )),
        Err(e) => Err(unavailable(rid, "sign-in transaction unavailable", e)),
    }
}

/// The journey of a passkey call waiting at its second factor: the person, and the ceremony
/// state it holds (the caller puts back what it leaves).
async fn at_second_factor(
    app: &App,
    jar: &CookieJar,
    reference: &str,
    csrf: &str,
    rid: &str,
) -> Result<(Journey, Person, Option<Value>), Response> {
    let t = json_tx(app, jar, reference, csrf, purpose(Step::SecondFactor), rid).await?;
    match t.stage.clone() {
        Stage::SecondFactor {
            person,
            passkey_state,
        } => Ok((t, person, passkey_state)),
        _ => Err(json_error(
            StatusCode::BAD_REQUEST,
            "No passkey sign-in is possible here. Please start again.",
        )),
    }
}

#[derive(Deserialize)]
pub(crate) struct PasskeyStart {
    tx: String,
    csrf: String,
    mode: String,
}

/// The sealed challenge of a passwordless attempt.
#[derive(Serialize, Deserialize)]
struct Challenge {
    tx: String,
    issued_at: i64,
    state: DiscoverableAuthentication,
}

pub(crate) async fn passkey_options(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(b): ApiJson<PasskeyStart>,
) -> Response {
    let rid = request_id(&headers);
    match b.mode.as_str() {
        "second" => {
            let (mut t, person, _) = match at_second_factor(&app, &jar, &b.tx, &b.csrf, &rid).await
            {
                Ok(x) => x,
                Err(r) => return r,
            };
            let keys = match factors(&app, person.user_id).await {
                Ok(f) => f.passkeys,
                Err(e) => return unavailable(&rid, "passkeys unavailable", e),
            };
            let (options, state) = match app.passkeys.start_authentication(&keys) {
                Ok(x) => x,
                Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
            };
            t.stage = Stage::SecondFactor {
                person,
                passkey_state: serde_json::to_value(&state).ok(),
            };
            match journey::save(&app, &t).await {
                Ok(()) => Json(options).into_response(),
                Err(e) => unavailable(&rid, "could not store a sign-in", e),
            }
        }
        "discover" => {
            let t = match json_tx(&app, &jar, &b.tx, &b.csrf, "login", &rid).await {
                Ok(t) => t,
                Err(r) => return r,
            };
            let (mut options, state) = match app.passkeys.start_discoverable() {
                Ok(x) => x,
                Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
            };
            let challenge = Challenge {
                tx: t.id.clone(),
                issued_at: app.provider.now(),
                state,
            };
            let sealed = serde_json::to_vec(&challenge)
                .map_err(|e| e.to_string())
                .and_then(|j| {
                    app.store
                        .keyring()
                        .seal_token(&j, SEALED)
                        .map_err(|e| e.to_string())
                });
            match sealed {
                Ok(s) => {
                    options["state"] = Value::String(s);
                    Json(options).into_response()
                }
                Err(e) => unavailable(&rid, "could not seal a passkey challenge", e),
            }
        }
        _ => json_error(
            StatusCode::BAD_REQUEST,
            "No passkey sign-in is possible here.",
        ),
    }
}

#[derive(Deserialize)]
pub(crate) struct PasskeyFinish {
    tx: String,
    csrf: String,
    credential: Value,
    /// The sealed challenge of a passwordless attempt.
    #[serde(default)]
    state: Option<String>,
}

/// Who a passkey answer claims to be.
enum Claimant {
    /// The journey's person, at his second factor.
    Second(Person),
    /// Whoever the passkey names, signing in without a password.
    Passwordless(Box<User>),
}

/// Who answered and how, before the verdict.
struct Attempt {
    user: UserId,
    claimant: Claimant,
    verified: Result<Verified, PasskeyError>,
    /// What marks a passwordless challenge as spent.
    spent: Option<String>,
}

pub(crate) async fn passkey_finish(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    seen: super::Seen,
    jar: CookieJar,
    ApiJson(b): ApiJson<PasskeyFinish>,
) -> Response {
    let rid = request_id(&headers);
    let kv = app.sessions.store();
    let limits = app.limits();
    let (t, attempt) = match &b.state {
        Some(sealed) => {
            let t = match json_tx(&app, &jar, &b.tx, &b.csrf, "login", &rid).await {
                Ok(t) => t,
                Err(r) => return r,
            };
            match passwordless(&app, &t, sealed, &b.credential, &rid).await {
                Ok(a) => (t, a),
                Err(r) => return r,
            }
        }
        None => {
            let (mut t, person, passkey_state) =
                match at_second_factor(&app, &jar, &b.tx, &b.csrf, &rid).await {
                    Ok(x) => x,
                    Err(r) => return r,
                };
            // Ceremony state is single-use: it leaves the journey before it is checked.
            t.stage = Stage::SecondFactor {
                person: person.clone(),
                passkey_state: None,
            };
            let Some(state) = passkey_state else {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "Please start the passkey sign-in again.",
                );
            };
            if let Err(e) = journey::save(&app, &t).await {
                return unavailable(&rid, "could not store a sign-in", e);
            }
            let Ok(state) = serde_json::from_value::<PasskeyAuthentication>(state) else {
                return json_error(StatusCode::BAD_REQUEST, "Please try again.");
            };
            let keys = match factors(&app, person.user_id).await {
                Ok(f) => f.passkeys,
                Err(e) => return unavailable(&rid, "passkeys unavailable", e),
            };
            let verified = app
                .passkeys
                .finish_authentication(&b.credential, &state, &keys);
            (
                t,
                Attempt {
                    user: person.user_id,
                    claimant: Claimant::Second(person),
                    verified,
                    spent: None,
                },
            )
        }
    };
    let subject = Subject::Person(attempt.user);
    let n = match throttle::begin(kv, &limits, &subject).await {
        Ok(Some(n)) => n,
        Ok(None) => return json_error(StatusCode::TOO_MANY_REQUESTS, LOCKED),
        Err(e) => return unavailable(&rid, "throttle unavailable", e),
    };
    let actor = AuditActor::User(attempt.user);
    let failure = match attempt.verified {
        Ok(Verified {
            credential_id,
            updated,
        }) => {
            if let Some(spent) = &attempt.spent {
                match kv
                    .put_new(spent, b"1", Duration::from_secs(2 * CHALLENGE_SECS as u64))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        return json_error(
                            StatusCode::BAD_REQUEST,
                            "This passkey answer has been used already. Please try again.",
                        )
                    }
                    Err(e) => {
                        throttle::abandoned(kv, &subject).await;
                        return unavailable(&rid, "could not spend a challenge", e);
                    }
                }
            }
            let data = updated.and_then(|p| serde_json::to_string(&p).ok());
            if let Err(e) = app
                .store
                .touch_passkey(&credential_id, data.as_deref())
                .await
            {
                throttle::abandoned(kv, &subject).await;
                return unavailable(&rid, "could not record a passkey use", e);
            }
            let moved = match &attempt.claimant {
                Claimant::Second(person) => {
                    match flow::second_factor(&app, jar, t, person, Factor::Passkey, &seen).await {
                        Ok((jar, t, sso)) => flow::answer(&app, jar, t, sso).await,
                        Err(e) => Err(e),
                    }
                }
                Claimant::Passwordless(user) => {
                    flow::first_factor(&app, jar, t, user, Method::Passkey, &seen).await
                }
            };
            return match moved {
                Ok(Moved::Answer(jar, url)) | Ok(Moved::Page(jar, url)) => {
                    (jar, Json(json!({ "redirect": url }))).into_response()
                }
                Ok(Moved::Session(_)) | Ok(Moved::Refused(_)) => json_error(
                    StatusCode::BAD_REQUEST,
                    "Please start the passkey sign-in again.",
                ),
                Err(e) => unavailable(&rid, "finishing a sign-in failed", e),
            };
        }
        Err(PasskeyError::PossiblyCloned) => {
            tracing::warn!(user = %attempt.user, "passkey counter went backwards: possibly cloned");
            ("mfa.passkey.cloned", json!({"factor": "passkey"}))
        }
        Err(e) => (
            "mfa.failure",
            json!({"factor": "passkey", "reason": e.to_string()}),
        ),
    };
    let cloned = failure.0 == "mfa.passkey.cloned";
    if let Err(e) = app
        .store
        .audit_mfa_event(&actor, attempt.user, failure.0, failure.1)
        .await
    {
        throttle::abandoned(kv, &subject).await;
        return unavailable(&rid, "could not audit a failure", e);
    }
    let locked = match throttle::failed(kv, &limits, &subject, &addr, n).await {
        Ok(l) => l,
        Err(e) => return unavailable(&rid, "throttle unavailable", e),
    };
    app.metrics.sign_in(
        "passkey",
        if cloned {
            "cloned"
        } else if locked {
            "locked"
        } else {
            "wrong"
        },
    );
    if cloned {
        json_error(StatusCode::FORBIDDEN, "This passkey may have been copied, so it was refused. Please contact your administrator.")
    } else if locked {
        json_error(StatusCode::TOO_MANY_REQUESTS, LOCKED)
    } else {
        json_error(
            StatusCode::BAD_REQUEST,
            "The passkey could not be verified.",
        )
    }
}

/// Checks the sealed challenge and who the passkey claims to be; the signature is verified
/// here too, its verdict counted by the caller.
async fn passwordless(
    app: &App,
    t: &Journey,
    sealed: &str,
    credential: &Value,
    rid: &str,
) -> Result<Attempt, Response> {
    let again = || {
        json_error(
            StatusCode::BAD_REQUEST,
            "Please start the passkey sign-in again.",
        )
    };
    let challenge = app
        .store
        .keyring()
        .open_token(sealed, SEALED)
        .ok()
        .and_then(|j| serde_json::from_slice::<Challenge>(&j).ok())
        .filter(|c| {
            c.tx == t.id && (0..CHALLENGE_SECS).contains(&(app.provider.now() - c.issued_at))
        })
        .ok_or_else(again)?;
    let unknown = || json_error(StatusCode::BAD_REQUEST, "This passkey is not known here.");
    let uuid = app.passkeys.identify(credential).map_err(|_| unknown())?;
    let user_id = UserId::from_uuid(uuid);
    let user = match app.store.user(user_id).await {
        Ok(Some(u)) if u.tenant_id == t.tenant_id => u,
        Ok(_) => return Err(unknown()),
        Err(e) => return Err(unavailable(rid, "person unavailable", e)),
    };
    let view = match app.directory.tenant(user.tenant_id).await {
        Ok(v) => v,
        Err(e) => return Err(unavailable(rid, "tenant unavailable", e)),
    };
    let held: Vec<_> = view.held(&user.roles).cloned().collect();
    if let Err(r) = lanyard_core::status::may_sign_in(user.status, &held) {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            &format!("You cannot sign in: {r}. Please contact your administrator."),
        ));
    }
    let keys = match factors(app, user_id).await {
        Ok(f) => f.passkeys,
        Err(e) => return Err(unavailable(rid, "passkeys unavailable", e)),
    };
    let verified = app
        .passkeys
        .finish_discoverable(credential, challenge.state, &keys);
    Ok(Attempt {
        user: user_id,
        claimant: Claimant::Passwordless(Box::new(user)),
        verified,
        spent: Some(format!(
            "login_pk_spent:{}",
            lanyard_core::random::hex(&Sha256::digest(sealed.as_bytes()))
        )),
    })
}
