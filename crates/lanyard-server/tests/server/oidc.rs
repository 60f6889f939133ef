//! The OpenID Connect provider end to end, and every attack it must stop.

use super::common::*;
use base64::Engine;
use serde_json::Value;

const LMS: &str = r#"
[[tenant.client]]
client_id = "demo-lms"
name = "Demo LMS"
type = "confidential"
secret = "demo-lms-secret-0123456789"
token_endpoint_auth_method = "client_secret_post"
redirect_uris = ["http://127.0.0.1:8090/cb"]
post_logout_redirect_uris = ["http://127.0.0.1:8090/"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "roles", "offline_access"]
signing_alg = "ES256"
role_map = { "Student" = "learner", "Trainer" = "instructor" }
"#;

async fn jwks(base: &str) -> Value {
    reqwest::get(format!("{base}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies a JWT with the published JWKS using jsonwebtoken (not Lanyard's own code).
async fn verify(base: &str, jwt: &str, aud: &str) -> Value {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks(base).await).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[base]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims
}

#[tokio::test]
async fn discovery_and_jwks_describe_the_provider() {
    let l = Lanyard::demo(&[], "").await;
    let d: Value = reqwest::get(format!("{}/.well-known/openid-configuration", l.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], l.base.as_str());
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let keys = jwks(&l.base).await;
    let kinds: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(kinds.contains(&alg), "{alg} missing from {kinds:?}");
    }
    assert!(
        keys.to_string().find("\"d\"").is_none(),
        "private key material published"
    );
}

#[tokio::test]
async fn the_code_flow_carries_roles_and_refresh_rotates() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let loc = b
        .sign_in(
            &app_request(&challenge, "state-1", "nonce-1"),
            "trainer@demo.test",
            PASSWORD,
        )
        .await;
    assert!(loc.starts_with(APP_REDIRECT), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("state-1"));
    assert_eq!(query_param(&loc, "iss").as_deref(), Some(l.base.as_str()));
    let code = query_param(&loc, "code").unwrap();
    let r = exchange(&l.base, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t: Value = r.json().await.unwrap();
    let id = verify(&l.base, t["id_token"].as_str().unwrap(), "demo-app").await;
    assert_eq!(id["nonce"], "nonce-1");
    assert_eq!(id["roles"], serde_json::json!(["Student", "Trainer"]));
    assert_eq!(id["main_role"], "Trainer");
    assert_eq!(id["tenant"], "demo");
    assert_eq!(id["accounts"], serde_json::json!(["Demo Training Co"]));
    assert_eq!(id["main_account"], "Demo Training Co");
    assert_eq!(id["location"]["path"], "Demo Training Co > North > Leeds");
    assert_eq!(id["email"], "trainer@demo.test");
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(access).unwrap().typ.as_deref(),
        Some("at+jwt")
    );
    let at = verify(&l.base, access, "demo-app").await;
    assert_eq!(at["main_role"], "Trainer");
    assert_eq!(at["client_id"], "demo-app");
    let ui: Value = reqwest::Client::new()
        .get(format!("{}/userinfo", l.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ui["sub"], id["sub"]);
    assert_eq!(ui["roles"], id["roles"]);
    assert_eq!(ui["given_name"], "Trainer");
    // Refresh rotates; the new token works, introspection agrees.
    let rt1 = t["refresh_token"].as_str().unwrap();
    let t2: Value = refresh(&l.base, rt1).await.json().await.unwrap();
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    assert_eq!(introspect(&l.base, rt2).await["active"], true);
    let i = introspect(&l.base, t2["access_token"].as_str().unwrap()).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["roles"], id["roles"]);
    // Revoke the access token and the refresh token.
    for tok in [t2["access_token"].as_str().unwrap(), rt2] {
        let r = reqwest::Client::new()
            .post(format!("{}/revoke", l.base))
            .form(&[("token", tok), ("client_id", "demo-app")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(introspect(&l.base, tok).await["active"], false);
    }
    assert_eq!(refresh(&l.base, rt2).await.status(), 400);
}

#[tokio::test]
async fn a_second_client_signs_in_without_a_password() {
    let l = Lanyard::demo(&[], LMS).await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    b.sign_in(
        &app_request(&challenge, "s", "n"),
        "trainer@demo.test",
        PASSWORD,
    )
    .await;
    // Same browser, another app: straight back with a code, no page.
    let (verifier, challenge) = pkce();
    let r = b
        .authorize(&[
            ("client_id", "demo-lms"),
            ("redirect_uri", "http://127.0.0.1:8090/cb"),
            ("response_type", "code"),
            ("scope", "openid roles"),
            ("state", "lms"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("http://127.0.0.1:8090/cb?code="), "{loc}");
    let t: Value = reqwest::Client::new()
        .post(format!("{}/token", l.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &query_param(&loc, "code").unwrap()),
            ("redirect_uri", "http://127.0.0.1:8090/cb"),
            ("client_id", "demo-lms"),
            ("client_secret", "demo-lms-secret-0123456789"),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = t["id_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(id_token).unwrap().alg,
        jsonwebtoken::Algorithm::ES256
    );
    let id = verify(&l.base, id_token, "demo-lms").await;
    // This client's claim mapping renames roles.
    assert_eq!(id["roles"], serde_json::json!(["learner", "instructor"]));
    assert_eq!(id["main_role"], "instructor");
}

#[tokio::test]
async fn prompt_none_and_max_age() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let mut req = app_request(&challenge, "s", "n");
    req.push(("prompt", "none"));
    let r = b.authorize(&req).await;
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required"),
        "{loc}"
    );
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s"));
    b.sign_in(
        &app_request(&challenge, "s", "n"),
        "learner@demo.test",
        PASSWORD,
    )
    .await;
    let r = b.authorize(&req).await;
    assert!(query_param(r.headers()["location"].to_str().unwrap(), "code").is_some());
    // prompt=login and an exceeded max_age both demand the password again.
    let mut login = app_request(&challenge, "s", "n");
    login.push(("prompt", "login"));
    assert!(b.authorize(&login).await.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut aged = app_request(&challenge, "s", "n");
    aged.push(("max_age", "0"));
    assert!(b.authorize(&aged).await.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirects_are_never_redirected_to() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let mut evil = app_request(&challenge, "s", "n");
    evil[1] = ("redirect_uri", "http://127.0.0.1:8088/callback/../evil");
    let r = b.authorize(&evil).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("not registered"));
    let mut unknown = app_request(&challenge, "s", "n");
    unknown[0] = ("client_id", "no-such-app");
    let r = b.authorize(&unknown).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // Other errors go back to the verified redirect URI.
    let mut bad_scope = app_request(&challenge, "s", "n");
    bad_scope[3] = ("scope", "openid wizardry");
    let r = b.authorize(&bad_scope).await;
    assert_eq!(
        query_param(r.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("invalid_scope")
    );
    let mut implicit = app_request(&challenge, "s", "n");
    implicit[2] = ("response_type", "token");
    let r = b.authorize(&implicit).await;
    assert_eq!(
        query_param(r.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("unsupported_response_type")
    );
}

#[tokio::test]
async fn pkce_is_required_and_cannot_be_downgraded() {
    let l = Lanyard::demo(&[], LMS).await;
    let b = Browser::new(&l.base);
    let err_of =
        |r: reqwest::Response| query_param(r.headers()["location"].to_str().unwrap(), "error");
    // A public client without PKCE, or with `plain`, is refused.
    let no_pkce: Vec<(&str, &str)> = app_request("x", "s", "n")
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    assert_eq!(
        err_of(b.authorize(&no_pkce).await).as_deref(),
        Some("invalid_request")
    );
    let (verifier, challenge) = pkce();
    let mut plain = app_request(&verifier, "s", "n");
    plain[7] = ("code_challenge_method", "plain");
    assert_eq!(
        err_of(b.authorize(&plain).await).as_deref(),
        Some("invalid_request")
    );
    // A wrong verifier fails the exchange.
    let loc = b
        .sign_in(
            &app_request(&challenge, "s", "n"),
            "learner@demo.test",
            PASSWORD,
        )
        .await;
    let (other_verifier, _) = pkce();
    let r = exchange(
        &l.base,
        &query_param(&loc, "code").unwrap(),
        &other_verifier,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // Downgrade: a code requested without a challenge cannot be redeemed with a verifier.
    let r = b
        .authorize(&[
            ("client_id", "demo-lms"),
            ("redirect_uri", "http://127.0.0.1:8090/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
        ])
        .await;
    let code = query_param(r.headers()["location"].to_str().unwrap(), "code").unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/token", l.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:8090/cb"),
            ("client_id", "demo-lms"),
            ("client_secret", "demo-lms-secret-0123456789"),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

#[tokio::test]
async fn a_replayed_code_revokes_what_it_issued() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let loc = b
        .sign_in(
            &app_request(&challenge, "s", "n"),
            "learner@demo.test",
            PASSWORD,
        )
        .await;
    let code = query_param(&loc, "code").unwrap();
    let first: Value = exchange(&l.base, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let second = exchange(&l.base, &code, &verifier).await;
    assert_eq!(second.status(), 400);
    assert_eq!(
        second.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(
        introspect(&l.base, first["access_token"].as_str().unwrap()).await["active"],
        false
    );
    assert_eq!(
        introspect(&l.base, first["refresh_token"].as_str().unwrap()).await["active"],
        false
    );
    assert_eq!(
        refresh(&l.base, first["refresh_token"].as_str().unwrap())
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_family() {
    let l = Lanyard::demo(&[], "").await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    let rt1 = t["refresh_token"].as_str().unwrap();
    let t2: Value = refresh(&l.base, rt1).await.json().await.unwrap();
    let rt2 = t2["refresh_token"].as_str().unwrap();
    let t3: Value = refresh(&l.base, rt2).await.json().await.unwrap();
    let rt3 = t3["refresh_token"].as_str().unwrap();
    // The thief replays a token whose successor has been used (rt1, succeeded by rt2):
    // refused, and the legitimate newest one dies with it.
    let r = refresh(&l.base, rt1).await;
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["error_description"]
        .as_str()
        .unwrap()
        .contains("reuse"));
    assert_eq!(refresh(&l.base, rt3).await.status(), 400);
    assert_eq!(introspect(&l.base, rt3).await["active"], false);
}

#[tokio::test]
async fn a_replay_within_the_grace_is_caught_when_the_client_refreshes() {
    let l = Lanyard::demo(&[], "").await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    let rt1 = t["refresh_token"].as_str().unwrap();
    let t2: Value = refresh(&l.base, rt1).await.json().await.unwrap();
    let rt2 = t2["refresh_token"].as_str().unwrap();
    // Within the grace, before rt2 is used, rt1 may come again (its answer may have been
    // lost): the thief holding rt1 gets a token...
    let r = refresh(&l.base, rt1).await;
    assert_eq!(r.status(), 200);
    let stolen: Value = r.json().await.unwrap();
    let stolen = stolen["refresh_token"].as_str().unwrap();
    // ...until the legitimate client refreshes with rt2: that is reuse, and the family,
    // the thief's token with it, ends.
    let r = refresh(&l.base, rt2).await;
    assert_eq!(r.status(), 400);
    assert_eq!(refresh(&l.base, stolen).await.status(), 400);
    assert_eq!(introspect(&l.base, stolen).await["active"], false);
    // Without a grace, the first replay ends the family.
    let strict = Lanyard::demo(&[("LANYARD_OIDC__REFRESH_TOKEN_REUSE_GRACE_SECS", "0")], "").await;
    let t = full_sign_in(&strict, "learner@demo.test").await;
    let rt1 = t["refresh_token"].as_str().unwrap();
    let t2: Value = refresh(&strict.base, rt1).await.json().await.unwrap();
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&strict.base, rt1).await.status(), 400);
    assert_eq!(refresh(&strict.base, rt2).await.status(), 400);
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let l = Lanyard::demo(&[], "").await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    let real = t["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(real).unwrap();
    let mut c = claims(real);
    c["sub"] = Value::String("someone-else".into());
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let kid = header.kid.clone().unwrap();
    let none = format!(
        "{}.{}.",
        b64(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#).as_bytes()),
        b64(c.to_string().as_bytes())
    );
    // HS256 keyed with the published public key.
    let public = jwks(&l.base).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .to_string();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(kid.clone());
    h.typ = Some("at+jwt".into());
    let hs = jsonwebtoken::encode(
        &h,
        &c,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    // The real signature on altered claims.
    let parts: Vec<&str> = real.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(c.to_string().as_bytes()),
        parts[2]
    );
    for forged in [none, hs, tampered] {
        let r = reqwest::Client::new()
            .get(format!("{}/userinfo", l.base))
            .bearer_auth(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "forged token accepted: {forged}");
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
        assert_eq!(introspect(&l.base, &forged).await["active"], false);
    }
    // An ID token is not an access token.
    let r = reqwest::Client::new()
        .get(format!("{}/userinfo", l.base))
        .bearer_auth(t["id_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn client_authentication_is_enforced() {
    let key = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    )
    .unwrap();
    use aws_lc_rs::signature::KeyPair;
    let point = key.public_key().as_ref().to_vec();
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let realm = format!(
        r#"
[[tenant.client]]
client_id = "jwt-service"
type = "confidential"
token_endpoint_auth_method = "private_key_jwt"
grant_types = ["client_credentials"]
scopes = ["reports"]
signing_alg = "EdDSA"
jwks = {{ keys = [ {{ kty = "EC", crv = "P-256", kid = "k1", x = "{}", y = "{}" }} ] }}
"#,
        b64(&point[1..33]),
        b64(&point[33..65])
    );
    let l = Lanyard::demo(&[], &realm).await;
    let token = |form: Vec<(&str, String)>, basic: Option<(&str, &str)>| {
        let mut r = reqwest::Client::new()
            .post(format!("{}/token", l.base))
            .form(&form);
        if let Some((u, p)) = basic {
            r = r.basic_auth(u, Some(p));
        }
        r.send()
    };
    let cc = || vec![("grant_type", "client_credentials".to_string())];
    let ok = token(cc(), Some(("demo-service", "demo-service-secret")))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = token(cc(), Some(("demo-service", "demo-service-secreT")))
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // A public client cannot use client credentials.
    let mut f = cc();
    f.push(("client_id", "demo-app".into()));
    assert_eq!(
        token(f, None).await.unwrap().json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    // private_key_jwt: a fresh assertion works once; its replay and a wrong audience do not.
    let pkcs8 = key.to_pkcs8v1().unwrap();
    let enc = jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref());
    let now = lanyard_core::Clock::now(&lanyard_core::SystemClock).unix_timestamp();
    let assertion = |aud: &str, jti: &str| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some("k1".into());
        let c = serde_json::json!({"iss": "jwt-service", "sub": "jwt-service", "aud": aud, "jti": jti, "exp": now + 60, "iat": now});
        jsonwebtoken::encode(&h, &c, &enc).unwrap()
    };
    let with = |a: String| {
        let mut f = cc();
        f.push((
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ));
        f.push(("client_assertion", a));
        f
    };
    let a1 = assertion(&format!("{}/token", l.base), "jti-1");
    let r = token(with(a1.clone()), None).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        token(with(a1), None).await.unwrap().status(),
        401,
        "assertion replay accepted"
    );
    assert_eq!(
        token(
            with(assertion("https://elsewhere.example/token", "jti-2")),
            None
        )
        .await
        .unwrap()
        .status(),
        401
    );
}

#[tokio::test]
async fn the_login_form_is_protected_against_csrf() {
    let l = Lanyard::demo(&[], "").await;
    let victim = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (tx, csrf, html) = victim
        .login_form(victim.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    assert!(
        html.contains("<label for=\"password\">"),
        "accessible labels"
    );
    // A cross-site post carries no CSRF cookie: refused even with the right token.
    let attacker = Browser::new(&l.base);
    let r = attacker
        .submit_login(&tx, &csrf, "learner@demo.test", PASSWORD)
        .await;
    assert_eq!(r.status(), 403);
    // A wrong token with the cookie: refused.
    let r = victim
        .submit_login(&tx, "not-the-token", "learner@demo.test", PASSWORD)
        .await;
    assert_eq!(r.status(), 403);
    let r = victim
        .submit_login(&tx, &csrf, "learner@demo.test", PASSWORD)
        .await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn brute_force_locks_the_account_and_answers_the_same_for_unknown_people() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (tx, csrf, _) = b
        .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    let unknown = b
        .submit_login(&tx, &csrf, "nobody@demo.test", "whatever-password")
        .await;
    assert_eq!(unknown.status(), 401);
    let unknown_text = unknown.text().await.unwrap();
    let mut wrong_text = String::new();
    for i in 0..5 {
        let r = b
            .submit_login(&tx, &csrf, "learner@demo.test", "wrong-password-123")
            .await;
        if i < 4 {
            assert_eq!(r.status(), 401);
            wrong_text = r.text().await.unwrap();
        } else {
            assert_eq!(r.status(), 429, "the fifth failure locks");
        }
    }
    let msg = |t: &str| {
        t.split("role=\"alert\"")
            .nth(1)
            .map(|s| s.split('<').next().unwrap_or("").to_string())
    };
    assert_eq!(
        msg(&unknown_text),
        msg(&wrong_text),
        "unknown user and wrong password must read the same"
    );
    // Locked: even the right password is refused now.
    let r = b
        .submit_login(&tx, &csrf, "learner@demo.test", PASSWORD)
        .await;
    assert_eq!(r.status(), 429);
    // Another account from another browser is not affected (per-account lock).
    let other = Browser::new(&l.base);
    let loc = other
        .sign_in(
            &app_request(&challenge, "s", "n"),
            "trainer@demo.test",
            PASSWORD,
        )
        .await;
    assert!(query_param(&loc, "code").is_some());
}

#[tokio::test]
async fn suspended_people_are_refused_and_suspension_ends_sessions_at_once() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (tx, csrf, _) = b
        .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    let r = b
        .submit_login(&tx, &csrf, "suspended@demo.test", PASSWORD)
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("suspended"));
    // A person signed in everywhere, then suspended by an administrator.
    let (verifier, challenge) = pkce();
    let loc = b
        .sign_in(
            &app_request(&challenge, "s", "n"),
            "learner@demo.test",
            PASSWORD,
        )
        .await;
    let t: Value = exchange(&l.base, &query_param(&loc, "code").unwrap(), &verifier)
        .await
        .json()
        .await
        .unwrap();
    let out = l.cli(&["user", "suspend", "learner@demo.test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        refresh(&l.base, t["refresh_token"].as_str().unwrap())
            .await
            .status(),
        400
    );
    let ui = reqwest::Client::new()
        .get(format!("{}/userinfo", l.base))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 401);
    assert_eq!(
        introspect(&l.base, t["access_token"].as_str().unwrap()).await["active"],
        false
    );
    // The SSO session no longer answers: back to the sign-in page.
    let r = b.authorize(&app_request(&challenge, "s", "n")).await;
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

#[tokio::test]
async fn logout_checks_the_redirect_and_ends_the_session() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let loc = b
        .sign_in(
            &app_request(&challenge, "s", "n"),
            "learner@demo.test",
            PASSWORD,
        )
        .await;
    let t: Value = exchange(&l.base, &query_param(&loc, "code").unwrap(), &verifier)
        .await
        .json()
        .await
        .unwrap();
    let id_token = t["id_token"].as_str().unwrap();
    let q = |uri: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", uri),
                ("state", "bye"),
            ])
            .finish()
    };
    let r = b
        .get(&format!("/logout?{}", q("http://127.0.0.1:8088/elsewhere")))
        .await;
    assert_eq!(
        r.status(),
        400,
        "an unregistered post-logout URI must not be redirected to"
    );
    assert!(r.headers().get("location").is_none());
    let r = b
        .get(&format!("/logout?{}", q("http://127.0.0.1:8088/")))
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "http://127.0.0.1:8088/?state=bye");
    let mut none = app_request(&challenge, "s", "n");
    none.push(("prompt", "none"));
    let r = b.authorize(&none).await;
    assert_eq!(
        query_param(r.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("login_required")
    );
    // Without a hint, the person is asked first: a stray link cannot sign him out.
    b.sign_in(
        &app_request(&challenge, "s", "n"),
        "learner@demo.test",
        PASSWORD,
    )
    .await;
    let r = b.get("/logout").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Sign out?"));
    let r = b.authorize(&none).await;
    assert!(
        query_param(r.headers()["location"].to_str().unwrap(), "code").is_some(),
        "a GET alone must not end the session"
    );
}

#[tokio::test]
async fn key_rotation_publishes_first_and_keeps_old_keys_until_tokens_expire() {
    let l = Lanyard::demo(&[("LANYARD_OIDC__KEY_RELOAD_SECS", "1")], "").await;
    let before = full_sign_in(&l, "learner@demo.test").await;
    let old_kid = jsonwebtoken::decode_header(before["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    let out = l.cli(&["keys", "rotate", "--alg", "RS256", "--publish-secs", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let keys = jwks(&l.base).await;
    let rs: Vec<&Value> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == "RS256")
        .collect();
    assert_eq!(rs.len(), 2, "old and new keys are both published");
    let after = full_sign_in(&l, "learner@demo.test").await;
    let new_kid = jsonwebtoken::decode_header(after["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    assert_ne!(old_kid, new_kid, "the new key signs");
    // Tokens signed by the old key still verify.
    let ui = reqwest::Client::new()
        .get(format!("{}/userinfo", l.base))
        .bearer_auth(before["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 200);
    let list = String::from_utf8_lossy(&l.cli(&["keys", "list"]).stdout).to_string();
    assert!(
        list.contains("retired (verifies only)") && list.contains(&new_kid),
        "{list}"
    );
}

#[tokio::test]
async fn pages_cannot_be_framed_and_cookies_are_locked_down() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let r = b.authorize(&app_request(&challenge, "s", "n")).await;
    // The sign-in cookie (which binds sign-ins to this browser) is set where the sign-in
    // starts, never by the page a link can open.
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.starts_with("lanyard_signin=")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let page = b.get(r.headers()["location"].to_str().unwrap()).await;
    assert!(page.headers().get("set-cookie").is_none());
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn a_refresh_returns_a_new_access_token_but_no_new_id_token() {
    let l = Lanyard::demo(&[], "").await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    assert!(t["id_token"].is_string());
    let r: Value = refresh(&l.base, t["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert!(
        r["access_token"].is_string() && r["refresh_token"].is_string(),
        "{r}"
    );
    assert!(
        r.get("id_token").is_none(),
        "refresh signed a new ID token: {r}"
    );
    assert_eq!(
        claims(r["access_token"].as_str().unwrap())["main_role"],
        "Student"
    );
}

#[tokio::test]
async fn malformed_token_requests_get_oauth_errors() {
    let l = Lanyard::demo(&[], "").await;
    let http = reqwest::Client::new();
    for path in ["/token", "/introspect", "/revoke"] {
        // JSON instead of a form: an OAuth error, not a framework rejection.
        let r = http
            .post(format!("{}{path}", l.base))
            .json(&serde_json::json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "invalid_request",
            "{path}"
        );
        // A repeated parameter (RFC 6749 §3.2).
        let r = http
            .post(format!("{}{path}", l.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&grant_type=refresh_token&token=a&client_id=demo-service")
            .basic_auth("demo-service", Some("demo-service-secret"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("repeated"),
            "{path}: {body}"
        );
    }
    let r = http
        .post(format!("{}/token", l.base))
        .form(&[("client_id", "demo-app")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_request",
        "missing grant_type"
    );
    let r = http
        .post(format!("{}/token", l.base))
        .form(&[("grant_type", "password"), ("client_id", "demo-app")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn malformed_browser_requests_get_pages_not_framework_text() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    for path in ["/login", "/login/mfa", "/login/enrol", "/login/continue"] {
        let r = b.get(path).await; // no ?tx=
        assert_eq!(r.status(), 400, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(
            r.text().await.unwrap().contains("could not be understood"),
            "{path}"
        );
    }
    let r = b
        .http
        .post(format!("{}/login", l.base))
        .form(&[("login", "learner@demo.test")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("could not be understood"));
    let r = b
        .http
        .post(format!("{}/login/passkey/options", l.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
}

#[tokio::test]
async fn a_refused_refresh_leaves_the_token_usable_and_hints_do_not_mislead() {
    let l = Lanyard::demo(&[], "").await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    let rt = t["refresh_token"].as_str().unwrap();
    // Asking for more scope than was granted is refused ...
    let r = reqwest::Client::new()
        .post(format!("{}/token", l.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "demo-app"),
            ("scope", "openid admin"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    // ... and the same token still works: the refusal did not rotate (and so burn) it.
    assert_eq!(
        refresh(&l.base, rt).await.status(),
        200,
        "a refused refresh revoked the family"
    );
    // A wrong token_type_hint does not make a valid token look inactive (RFC 7662 §2.1).
    let access = t["access_token"].as_str().unwrap();
    let r: Value = reqwest::Client::new()
        .post(format!("{}/introspect", l.base))
        .basic_auth("demo-service", Some("demo-service-secret"))
        .form(&[("token", access), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["active"], true, "{r}");
    // prompt=none with another value is refused.
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let mut req = app_request(&challenge, "s", "n");
    req.push(("prompt", "none consent"));
    let r = b.authorize(&req).await;
    assert_eq!(
        query_param(r.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn a_full_hashing_pool_answers_503_without_counting_against_the_lockout() {
    // One hashing thread, no waiting places: a rush of sign-ins finds the pool full. The
    // account locks after 10 failures: fewer than the 16 guesses (so counting the refused ones
    // would lock it), more than the few a slow machine may get checked one after another.
    let l = Lanyard::demo(
        &[
            ("LANYARD_PASSWORDS__HASHING_THREADS", "1"),
            ("LANYARD_PASSWORDS__HASHING_QUEUE", "0"),
            ("LANYARD_LOGIN__MAX_FAILURES_PER_ACCOUNT", "10"),
        ],
        "",
    )
    .await;
    let (b, tx, csrf, answers) = wrong_guesses_at_once(&l, 16).await;
    let (mut busy, mut wrong) = (0, 0);
    for answer in answers {
        match answer {
            (503, true) => busy += 1,
            (401, _) => wrong += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(busy > 0, "the pool never filled ({wrong} checked)");
    assert!(wrong < 10, "{wrong} guesses were checked");
    // Only the checked guesses counted: the right password still signs in.
    assert_eq!(
        b.submit_login(&tx, &csrf, "learner@demo.test", PASSWORD)
            .await
            .status(),
        303
    );
}

/// `n` wrong passwords for learner@demo.test posted at once on one sign-in form; returns the
/// browser, the form's tx and csrf, and each answer's status and whether it had Retry-After.
async fn wrong_guesses_at_once(
    l: &Lanyard,
    n: usize,
) -> (Browser, String, String, Vec<(u16, bool)>) {
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (tx, csrf, _) = b
        .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    let guesses: Vec<_> = (0..n)
        .map(|i| {
            let (http, base, tx, csrf) = (b.http.clone(), l.base.clone(), tx.clone(), csrf.clone());
            tokio::spawn(async move {
                let pw = format!("wrong-password-{i:04}");
                let r = http
                    .post(format!("{base}/login"))
                    .form(&[
                        ("tx", tx.as_str()),
                        ("csrf", csrf.as_str()),
                        ("login", "learner@demo.test"),
                        ("password", pw.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.headers().contains_key("retry-after"))
            })
        })
        .collect();
    let mut answers = Vec::new();
    for g in guesses {
        answers.push(g.await.unwrap());
    }
    (b, tx, csrf, answers)
}

#[tokio::test]
async fn parallel_guessing_cannot_outrun_the_lockout() {
    let l = Lanyard::demo(&[], "").await;
    // Twenty guesses at once: the lock must hold them to the per-account limit (5), not to
    // however many were in flight before the first failure was counted.
    let (b, tx, csrf, answers) = wrong_guesses_at_once(&l, 20).await;
    let mut wrong = 0;
    for (status, _) in answers {
        match status {
            401 => wrong += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        wrong <= 4,
        "{wrong} guesses were checked; the limit is 5 attempts"
    );
    assert_eq!(
        b.submit_login(&tx, &csrf, "learner@demo.test", PASSWORD)
            .await
            .status(),
        429
    );
}
