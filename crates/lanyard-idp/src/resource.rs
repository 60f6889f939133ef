//! UserInfo (OIDC Core §5.3), token introspection (RFC 7662) and revocation (RFC 7009).

use crate::claims::{self, parse_scope};
use crate::client_auth::AuthenticatedClient;
use crate::error::OAuthError;
use crate::grants::{is_revoked, AccessClaims};
use crate::jws;
use crate::provider::Provider;
use crate::util::sha256_hex;
use lanyard_core::UserId;
use serde_json::{json, Map, Value};

/// A valid, unrevoked access token of a person who may still sign in (or of a client):
/// what every resource Lanyard serves itself (userinfo, the admin API) checks first.
pub async fn check_access(provider: &Provider, token: &str) -> Result<AccessClaims, OAuthError> {
    let bad = |m: &str| OAuthError::InvalidToken(m.to_string());
    let claims: AccessClaims =
        jws::verify_own(&provider.keys(), token, "at+jwt", true, provider.now())
            .map_err(|e| bad(&e.to_string()))?;
    if claims.rest.get("iss").and_then(Value::as_str) != Some(provider.settings().issuer.as_str()) {
        return Err(bad("wrong issuer"));
    }
    if is_revoked(provider, &claims.jti).await? {
        return Err(bad("the token has been revoked"));
    }
    if let Ok(user) = claims.sub.parse::<UserId>() {
        let active = provider
            .directory()
            .person(user)
            .await?
            .is_some_and(|p| p.may_sign_in);
        if !active {
            return Err(bad("the person may no longer sign in"));
        }
    }
    Ok(claims)
}

/// UserInfo: the claims the access token's scope releases.
pub async fn userinfo(provider: &Provider, bearer: Option<&str>) -> Result<Value, OAuthError> {
    let token =
        bearer.ok_or_else(|| OAuthError::InvalidToken("a bearer token is required".into()))?;
    let claims = check_access(provider, token).await?;
    let scope = parse_scope(&claims.scope);
    if !scope.contains("openid") {
        return Err(OAuthError::InsufficientScope(
            "the token was not issued with scope openid".into(),
        ));
    }
    let user: UserId = claims
        .sub
        .parse()
        .map_err(|_| OAuthError::InvalidToken("not a person's token".into()))?;
    let person = provider
        .directory()
        .person(user)
        .await?
        .ok_or_else(|| OAuthError::InvalidToken("unknown person".into()))?;
    let client = provider
        .directory()
        .client(&claims.client_id)
        .await?
        .ok_or_else(|| OAuthError::InvalidToken("unknown client".into()))?;
    let mut out = Map::new();
    out.insert("sub".into(), json!(claims.sub));
    out.extend(claims::scoped(&person, &client, &scope));
    Ok(Value::Object(out))
}

/// Introspection: `{"active": false}` for anything not currently valid.
pub async fn introspect(
    provider: &Provider,
    client: &AuthenticatedClient,
    token: &str,
    hint: Option<&str>,
) -> Result<Value, OAuthError> {
    if !client.spec().may_introspect {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not introspect tokens".into(),
        ));
    }
    let inactive = json!({"active": false});
    // The hint is only a hint (RFC 7662 §2.1): the token's shape decides — refresh tokens are
    // FAMILY.SECRET, access tokens three-part JWTs.
    let _ = hint;
    let as_refresh = crate::grants_refresh_split(token).is_some();
    if as_refresh {
        let Some((family_id, secret)) = crate::grants_refresh_split(token) else {
            return Ok(inactive);
        };
        let Some(f) = provider.sessions().family(family_id).await? else {
            return Ok(inactive);
        };
        if !provider
            .sessions()
            .is_current(family_id, &sha256_hex(secret))
            .await?
        {
            return Ok(inactive);
        }
        let active = provider
            .directory()
            .person(f.user_id)
            .await?
            .is_some_and(|p| p.may_sign_in);
        if !active {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true, "token_type": "refresh_token", "client_id": f.client_id, "sub": f.user_id.to_string(),
            "scope": f.scope, "exp": f.expires_at, "iss": provider.settings().issuer,
        }));
    }
    match check_access(provider, token).await {
        Ok(c) => {
            let mut out = Map::new();
            out.insert("active".into(), json!(true));
            out.insert("token_type".into(), json!("Bearer"));
            out.insert("client_id".into(), json!(c.client_id));
            out.insert("sub".into(), json!(c.sub));
            out.insert("scope".into(), json!(c.scope));
            out.insert("exp".into(), json!(c.exp));
            out.insert("iat".into(), json!(c.iat));
            out.insert("jti".into(), json!(c.jti));
            for k in [
                "iss",
                "aud",
                "auth_time",
                "acr",
                "amr",
                "roles",
                "main_role",
                "tenant",
                "accounts",
                "main_account",
                "location",
            ] {
                if let Some(v) = c.rest.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            Ok(Value::Object(out))
        }
        Err(OAuthError::InvalidToken(_)) => Ok(inactive),
        Err(e) => Err(e),
    }
}

/// Revocation: refresh tokens end their family; access tokens are marked revoked until they
/// expire. Unknown tokens, and tokens of other clients, are answered the same (RFC 7009 §2.2).
pub async fn revoke(
    provider: &Provider,
    client: &AuthenticatedClient,
    token: &str,
) -> Result<(), OAuthError> {
    if let Some((family_id, secret)) = crate::grants_refresh_split(token) {
        if let Some(f) = provider.sessions().family(family_id).await? {
            // The current token or one rotated out of the family (whoever holds that has
            // seen the family): either way the whole family ends (RFC 7009 §2.1).
            let hash = sha256_hex(secret);
            if f.client_id == client.spec().client_id
                && (provider.sessions().is_current(family_id, &hash).await?
                    || provider.sessions().was_current(family_id, &hash).await?)
            {
                provider.sessions().revoke_family(family_id).await?;
            }
        }
        return Ok(());
    }
    if let Ok(c) =
        jws::verify_own::<AccessClaims>(&provider.keys(), token, "at+jwt", true, provider.now())
    {
        if c.client_id == client.spec().client_id {
            let ttl = std::time::Duration::from_secs(
                u64::try_from(c.exp - provider.now()).unwrap_or(0).max(1),
            );
            provider
                .sessions()
                .store()
                .put(&format!("revoked:{}", c.jti), b"1", ttl)
                .await?;
        }
    }
    Ok(())
}
