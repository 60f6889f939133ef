//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `post_logout_redirect_uri` is
//! honoured only when registered for the client that the `id_token_hint` or `client_id` names.

use crate::jws;
use crate::provider::Provider;
use serde::Deserialize;
use std::collections::HashMap;

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutPlan {
    /// Where to send the browser afterwards (with `state`), if anywhere.
    pub redirect: Option<String>,
    /// Whether the request proved itself with a valid ID token of this session (if not, the
    /// person is asked to confirm, so a stray link cannot sign him out).
    pub confirmed: bool,
    /// The session the hint named.
    pub sid: Option<String>,
}

#[derive(Deserialize)]
struct Hint {
    aud: serde_json::Value,
    sid: Option<String>,
    iss: String,
}

/// Checks a logout request.
pub async fn plan(
    provider: &Provider,
    params: &HashMap<String, String>,
) -> Result<LogoutPlan, String> {
    let now = provider.now();
    let hint = match params.get("id_token_hint") {
        Some(t) => {
            let h: Hint =
                jws::verify_own(&provider.keys(), t, "JWT", false, now).map_err(|_| {
                    "The id_token_hint is not a valid ID token from this server.".to_string()
                })?;
            if h.iss != provider.settings().issuer {
                return Err("The id_token_hint was issued by another server.".into());
            }
            Some(h)
        }
        None => None,
    };
    let hinted_client = hint.as_ref().and_then(|h| match &h.aud {
        serde_json::Value::String(a) => Some(a.clone()),
        serde_json::Value::Array(a) => a.first().and_then(|x| x.as_str()).map(str::to_string),
        _ => None,
    });
    let client_id = match (params.get("client_id"), hinted_client) {
        (Some(a), Some(b)) if *a != b => {
            return Err("client_id does not match the id_token_hint.".into())
        }
        (Some(a), _) => Some(a.clone()),
        (None, b) => b,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        Some(uri) => {
            let client_id =
                client_id.ok_or("post_logout_redirect_uri needs client_id or id_token_hint.")?;
            let client = provider
                .directory()
                .client(&client_id)
                .await
                .map_err(|_| "Sign-out is temporarily unavailable.".to_string())?
                .ok_or("Unknown application.")?;
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Err(
                    "The post_logout_redirect_uri is not registered for this application.".into(),
                );
            }
            let mut url = uri.clone();
            if let Some(s) = params.get("state") {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("state=");
                url.extend(url::form_urlencoded::byte_serialize(s.as_bytes()));
            }
            Some(url)
        }
        None => None,
    };
    Ok(LogoutPlan {
        redirect,
        confirmed: hint.is_some(),
        sid: hint.and_then(|h| h.sid),
    })
}
