//! Multi-factor sign-in: TOTP, recovery codes, policy-driven enrolment and step-up.

use super::common::*;
use lanyard_core::tenant::MfaPolicy;
use serde_json::Value;

const SECRET: &str = "JBSWY3DPEHPK3PXP";

fn now() -> u64 {
    u64::try_from(lanyard_core::Clock::now(&lanyard_core::SystemClock).unix_timestamp()).unwrap()
}

fn code_at(secret: &str, t: u64) -> String {
    lanyard_mfa::totp::code_at(&MfaPolicy::default(), secret, t).unwrap()
}

/// Password first; returns the browser's next location.
async fn password_step(b: &Browser, params: &[(&str, &str)], login: &str) -> String {
    let (tx, csrf, _) = b.login_form(b.authorize(params).await).await;
    let r = b.submit_login(&tx, &csrf, login, PASSWORD).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn submit_code(b: &Browser, page_url: &str, field: &str, code: &str) -> reqwest::Response {
    let html = b.get(page_url).await.text().await.unwrap();
    let tx = input_value(&html, "tx").unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let action = if page_url.starts_with("/login/enrol") {
        "/login/enrol"
    } else {
        "/login/mfa"
    };
    b.http
        .post(format!("{}{action}", b.base))
        .form(&[("tx", tx.as_str()), ("csrf", csrf.as_str()), (field, code)])
        .send()
        .await
        .unwrap()
}

async fn tokens_from(l: &Lanyard, loc: &str, verifier: &str) -> Value {
    let code = query_param(loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
    exchange(&l.base, &code, verifier)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn totp_is_asked_after_the_password_and_codes_are_single_use() {
    let l = Lanyard::demo(&[], "").await;
    let d: Value = reqwest::get(format!("{}/.well-known/openid-configuration", l.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["acr_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "urn:lanyard:acr:mfa"));
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let next = password_step(&b, &app_request(&challenge, "s", "n"), "mfa@demo.test").await;
    assert!(next.starts_with("/login/mfa?tx="), "{next}");
    let wrong = submit_code(&b, &next, "code", "000000").await;
    assert_eq!(wrong.status(), 401);
    let code = code_at(SECRET, now());
    let ok = submit_code(&b, &next, "code", &code).await;
    assert_eq!(ok.status(), 303);
    let t = tokens_from(&l, ok.headers()["location"].to_str().unwrap(), &verifier).await;
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["mfa", "otp", "pwd"]));
    assert_eq!(id["acr"], "urn:lanyard:acr:mfa");
    // The same code in a new sign-in: refused (replay).
    let b2 = Browser::new(&l.base);
    let next = password_step(&b2, &app_request(&challenge, "s", "n"), "mfa@demo.test").await;
    assert_eq!(
        submit_code(&b2, &next, "code", &code).await.status(),
        401,
        "a used code was accepted again"
    );
}

#[tokio::test]
async fn failed_second_factors_count_toward_the_lockout() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let next = password_step(&b, &app_request(&challenge, "s", "n"), "mfa@demo.test").await;
    let mut last = 0;
    for _ in 0..5 {
        last = submit_code(&b, &next, "code", "111111")
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    // Locked: even the right code is refused now.
    assert_eq!(
        submit_code(&b, &next, "code", &code_at(SECRET, now()))
            .await
            .status(),
        429
    );
}

const ADMINS_MUST: &str = r#"
[tenant.mfa]
required_roles = ["Local Administrator", "Multiple Location Administrator", "Licensee Administrator", "Master Administrator"]
"#;

/// The demo realm with MFA required for administrators.
fn realm_with_policy(extra: &str) -> String {
    let demo = std::fs::read_to_string(demo_file()).unwrap();
    // `[tenant.mfa]` must follow the tenant's own keys, before its first array of tables.
    let at = demo.find("[tenant.branding]").unwrap();
    format!("{}{ADMINS_MUST}\n{}{extra}", &demo[..at], &demo[at..])
}

#[tokio::test]
async fn an_administrator_without_mfa_is_made_to_enrol_and_gets_recovery_codes() {
    let l = Lanyard::prepare(&[]);
    l.apply(&realm_with_policy(""));
    let l = l.serve().await;
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let next = password_step(&b, &app_request(&challenge, "s", "n"), "admin@demo.test").await;
    assert!(next.starts_with("/login/enrol?tx="), "{next}");
    let html = b.get(&next).await.text().await.unwrap();
    assert!(html.contains("<svg"), "QR code shown");
    let key: String = html
        .split("id=\"manual-key\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .replace(' ', "");
    let r = submit_code(&b, &next, "code", &code_at(&key, now())).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let codes: Vec<String> = page
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    let cont = page
        .split("href=\"")
        .find(|s| s.starts_with("/login/continue"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = b.get(&cont).await;
    let t = tokens_from(&l, r.headers()["location"].to_str().unwrap(), &verifier).await;
    assert!(claims(t["id_token"].as_str().unwrap())["amr"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "mfa"));
    // A recovery code works once.
    for expect in [303, 401] {
        let b = Browser::new(&l.base);
        let next = password_step(&b, &app_request(&challenge, "s", "n"), "admin@demo.test").await;
        assert!(next.starts_with("/login/mfa"), "{next}");
        assert_eq!(
            submit_code(&b, &next, "recovery", &codes[0]).await.status(),
            expect
        );
    }
    // The enrolment and the recovery code's use are audited.
    let store_out = l.cli(&["user", "show", "admin@demo.test"]);
    assert!(store_out.status.success());
}

#[tokio::test]
async fn a_client_requiring_mfa_forces_it_and_gets_amr_mfa() {
    let extra = r#"
[[tenant.client]]
client_id = "secure-app"
type = "public"
redirect_uris = ["http://127.0.0.1:8091/cb"]
scopes = ["openid", "roles"]
require_mfa = true
"#;
    let l = Lanyard::demo(&[], extra).await;
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let params = [
        ("client_id", "secure-app"),
        ("redirect_uri", "http://127.0.0.1:8091/cb"),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // mfa@demo.test has TOTP: asked for it.
    let next = password_step(&b, &params, "mfa@demo.test").await;
    assert!(next.starts_with("/login/mfa"));
    let r = submit_code(&b, &next, "code", &code_at(SECRET, now())).await;
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let t: Value = reqwest::Client::new()
        .post(format!("{}/token", l.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &query_param(&loc, "code").unwrap()),
            ("redirect_uri", "http://127.0.0.1:8091/cb"),
            ("client_id", "secure-app"),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(claims(t["id_token"].as_str().unwrap())["amr"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "mfa"));
    // learner@demo.test has no factor: walked through enrolment right after the password.
    let b = Browser::new(&l.base);
    let next = password_step(&b, &params, "learner@demo.test").await;
    assert!(next.starts_with("/login/enrol"), "{next}");
}

#[tokio::test]
async fn step_up_inside_a_session() {
    let l = Lanyard::demo(&[], "").await;
    // acr_values asking for MFA in a password-only session: enrol, without the password again.
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let loc = b
        .sign_in(
            &app_request(&challenge, "s", "n"),
            "learner@demo.test",
            PASSWORD,
        )
        .await;
    assert!(query_param(&loc, "code").is_some());
    let mut mfa_req = app_request(&challenge, "s", "n");
    mfa_req.push(("acr_values", "urn:lanyard:acr:mfa"));
    let r = b.authorize(&mfa_req).await;
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login/enrol"),
        "{:?}",
        r.headers()["location"]
    );
    // prompt=none cannot step up: interaction_required.
    let mut silent = mfa_req.clone();
    silent.push(("prompt", "none"));
    let r = b.authorize(&silent).await;
    assert_eq!(
        query_param(r.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("interaction_required")
    );
    // max_age exceeded for someone with a factor: the whole sign-in is asked again (a second
    // factor alone would report a password the session no longer proves), then the code.
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let next = password_step(&b, &app_request(&challenge, "s", "n"), "mfa@demo.test").await;
    let first = submit_code(&b, &next, "code", &code_at(SECRET, now())).await;
    let t1 = tokens_from(&l, first.headers()["location"].to_str().unwrap(), &verifier).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let mut aged = app_request(&challenge, "s", "n");
    aged.push(("max_age", "1"));
    let next = password_step(&b, &aged, "mfa@demo.test").await;
    assert!(next.starts_with("/login/mfa"), "{next}");
    // The code of the next time step (the current one was spent).
    let r = submit_code(&b, &next, "code", &code_at(SECRET, now() + 30)).await;
    assert_eq!(r.status(), 303);
    let t2 = tokens_from(&l, r.headers()["location"].to_str().unwrap(), &verifier).await;
    let (a1, a2) = (
        claims(t1["id_token"].as_str().unwrap()),
        claims(t2["id_token"].as_str().unwrap()),
    );
    assert!(
        a2["auth_time"].as_i64().unwrap() > a1["auth_time"].as_i64().unwrap(),
        "auth_time must be fresh"
    );
    assert_eq!(a2["acr"], "urn:lanyard:acr:mfa");
    assert_eq!(a2["amr"], serde_json::json!(["mfa", "otp", "pwd"]));
}
