//! The attacks of the outside attack run (issue 12), each performed and seen to fail: session
//! take-over from a token's `sid`, sessions that survive re-authentication, forged account and
//! logout forms, sign-ins finished in another browser, unbounded anonymous state, oversized
//! parameters and racing codes.

use super::common::*;
use serde_json::Value;

/// The value a response sets for cookie `name`, if any.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().find_map(|c| {
        let pair = c.to_str().ok()?.split(';').next()?;
        let (k, v) = pair.split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.to_string())
    })
}

/// A client that sends exactly the cookies it is told to, follows nothing.
fn bare() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs `login` in through `b`; returns the SSO cookie it was given and the token response.
async fn sign_in_keeping_cookie(
    l: &Lanyard,
    b: &Browser,
    login: &str,
    extra: &[(&str, &str)],
) -> (String, Value) {
    let (verifier, challenge) = pkce();
    let mut req = app_request(&challenge, "st", "nn");
    req.extend_from_slice(extra);
    let (tx, csrf, _) = b.login_form(b.authorize(&req).await).await;
    let mut r = b.submit_login(&tx, &csrf, login, PASSWORD).await;
    assert_eq!(r.status(), 303);
    let next = r.headers()["location"].to_str().unwrap().to_string();
    if next.starts_with("/login/mfa?") {
        // The demo's TOTP person: his second factor.
        let html = b.get(&next).await.text().await.unwrap();
        let code = demo_totp_code();
        let (tx, csrf) = (
            input_value(&html, "tx").unwrap(),
            input_value(&html, "csrf").unwrap(),
        );
        r = b
            .http
            .post(format!("{}/login/mfa", b.base))
            .form(&[
                ("tx", tx.as_str()),
                ("csrf", csrf.as_str()),
                ("code", code.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
    }
    let cookie = set_cookie(&r, "lanyard_sso").expect("no SSO cookie");
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let t: Value = exchange(&l.base, &query_param(&loc, "code").unwrap(), &verifier)
        .await
        .json()
        .await
        .unwrap();
    (cookie, t)
}

/// What `prompt=none` answers to a browser presenting `cookie` as its SSO cookie.
async fn silent_answer(l: &Lanyard, cookie: &str) -> String {
    let (_, challenge) = pkce();
    let mut req = app_request(&challenge, "s", "n");
    req.push(("prompt", "none"));
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(req)
        .finish();
    let r = bare()
        .get(format!("{}/authorize?{q}", l.base))
        .header("cookie", format!("lanyard_sso={cookie}"))
        .send()
        .await
        .unwrap();
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn account_status(l: &Lanyard, cookie: &str) -> u16 {
    bare()
        .get(format!("{}/account", l.base))
        .header("cookie", format!("lanyard_sso={cookie}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_tokens_sid_never_opens_the_session(l: &Lanyard) {
    let b = Browser::new(&l.base);
    let (cookie, t) = sign_in_keeping_cookie(l, &b, "learner@demo.test", &[]).await;
    let sid = claims(t["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let access_sid = claims(t["access_token"].as_str().unwrap())["sid"].clone();
    assert!(
        !cookie.contains(&sid) && !sid.contains(&cookie),
        "sid is the cookie"
    );
    assert!(access_sid.is_null() || access_sid == sid.as_str());
    // The real cookie works (so the failures below mean something) ...
    assert!(query_param(&silent_answer(l, &cookie).await, "code").is_some());
    assert_eq!(account_status(l, &cookie).await, 200);
    // ... the token's sid set as the cookie does not.
    let loc = silent_answer(l, &sid).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required"),
        "{loc}"
    );
    assert_eq!(account_status(l, &sid).await, 401);
}

#[tokio::test]
async fn a_tokens_sid_never_opens_the_session_embedded() {
    let l = Lanyard::demo(&[], "").await;
    a_tokens_sid_never_opens_the_session(&l).await;
}

#[tokio::test]
async fn a_tokens_sid_never_opens_the_session_on_redis_and_postgres() {
    let (Some(db), Some(redis)) = (postgres_db().await, redis_url()) else {
        return;
    };
    let prefix = format!("sid{}:", uuid::Uuid::new_v4().simple());
    let l = Lanyard::demo(
        &[
            ("LANYARD_DATABASE__URL", db.as_str()),
            ("LANYARD_SESSIONS__STORE", "redis"),
            ("LANYARD_SESSIONS__REDIS_URL", redis.as_str()),
            ("LANYARD_SESSIONS__KEY_PREFIX", prefix.as_str()),
        ],
        "",
    )
    .await;
    a_tokens_sid_never_opens_the_session(&l).await;
}

fn redis_cli(url: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-u", url, "--no-raw"])
        .args(args)
        .output()
        .expect("redis-cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn redis_raw(url: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-u", url, "--raw"])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn sessions_of_the_old_scheme_do_not_survive_the_upgrade() {
    let Some(redis) = redis_url() else {
        return;
    };
    let prefix = format!("old{}:", uuid::Uuid::new_v4().simple());
    let l = Lanyard::demo(
        &[
            ("LANYARD_SESSIONS__STORE", "redis"),
            ("LANYARD_SESSIONS__REDIS_URL", redis.as_str()),
            ("LANYARD_SESSIONS__KEY_PREFIX", prefix.as_str()),
        ],
        "",
    )
    .await;
    let b = Browser::new(&l.base);
    sign_in_keeping_cookie(&l, &b, "learner@demo.test", &[]).await;
    // A record as the previous release wrote it: `sso:{cookie}`, the cookie being the sid.
    let keys = redis_raw(&redis, &["KEYS", &format!("{prefix}ssn:*")]);
    let key = keys.lines().next().expect("no session stored");
    let mut record: Value = serde_json::from_str(&redis_raw(&redis, &["GET", key])).unwrap();
    let old_sid = "legacysessionidlegacysessionidlegacysess00";
    record["sid"] = Value::from(old_sid);
    record.as_object_mut().unwrap().remove("handle");
    let old_key = format!("{prefix}sso:{old_sid}");
    redis_cli(&redis, &["SET", &old_key, &record.to_string(), "EX", "600"]);
    let loc = silent_answer(&l, old_sid).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required"),
        "an old-scheme session was honoured: {loc}"
    );
    assert_eq!(account_status(&l, old_sid).await, 401);
    redis_cli(&redis, &["DEL", &old_key]);
}

#[tokio::test]
async fn signing_in_again_changes_the_cookie_and_ends_the_old_one() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (first, _) = sign_in_keeping_cookie(&l, &b, "learner@demo.test", &[]).await;
    // prompt=login inside the session asks for the password and answers under a new cookie.
    let (second, t) =
        sign_in_keeping_cookie(&l, &b, "learner@demo.test", &[("prompt", "login")]).await;
    assert_ne!(first, second, "the session id was not rotated");
    assert_eq!(
        account_status(&l, &first).await,
        401,
        "the old cookie still works"
    );
    assert_eq!(account_status(&l, &second).await, 200);
    // max_age=0 right after the sign-in is prompt=login (OIDC Core §3.1.2.1): asked again.
    let (_, challenge) = pkce();
    let mut aged = app_request(&challenge, "s", "n");
    aged.push(("max_age", "0"));
    let loc = b.authorize(&aged).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(loc.starts_with("/login?"), "{loc}");
    assert!(claims(t["id_token"].as_str().unwrap())["auth_time"].is_i64());
}

#[tokio::test]
async fn a_sign_in_started_by_an_attacker_cannot_be_finished_in_the_victims_browser() {
    let l = Lanyard::demo(&[], "").await;
    let (_, challenge) = pkce();
    // The attacker starts a sign-in and hands its page (tx and form token) to the victim.
    let attacker = Browser::new(&l.base);
    let (tx, csrf, _) = attacker
        .login_form(attacker.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    let victim = Browser::new(&l.base);
    // The victim has a sign-in of his own (so he holds a sign-in cookie) ...
    victim
        .login_form(victim.authorize(&app_request(&challenge, "v", "n")).await)
        .await;
    // ... yet the attacker's transaction is refused in his browser, page and post alike.
    let page = victim.get(&format!("/login?tx={}", urlencode(&tx))).await;
    assert_ne!(page.status(), 200, "the attacker's sign-in page opened");
    let r = victim
        .submit_login(&tx, &csrf, "learner@demo.test", PASSWORD)
        .await;
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "lanyard_sso").is_none());
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn two_sign_in_tabs_both_work() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (tx1, csrf1, _) = b
        .login_form(b.authorize(&app_request(&challenge, "one", "n")).await)
        .await;
    let (tx2, csrf2, _) = b
        .login_form(b.authorize(&app_request(&challenge, "two", "n")).await)
        .await;
    for (tx, csrf, state) in [(&tx2, &csrf2, "two"), (&tx1, &csrf1, "one")] {
        let r = b
            .submit_login(tx, csrf, "learner@demo.test", PASSWORD)
            .await;
        assert_eq!(r.status(), 303, "tab {state}");
        let loc = r.headers()["location"].to_str().unwrap();
        assert_eq!(query_param(loc, "state").as_deref(), Some(state));
        assert!(query_param(loc, "code").is_some());
    }
}

/// The form tokens of `/account` for a browser.
async fn account_tokens(b: &Browser) -> Vec<String> {
    let html = b.get("/account").await.text().await.unwrap();
    html.split("name=\"csrf\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

async fn post_form(b: &Browser, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    b.http
        .post(format!("{}{path}", b.base))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn account_and_logout_forms_refuse_other_sessions_and_other_forms_tokens() {
    let l = Lanyard::demo(&[], "").await;
    let victim = Browser::new(&l.base);
    sign_in_keeping_cookie(&l, &victim, "mfa@demo.test", &[]).await;
    let attacker = Browser::new(&l.base);
    sign_in_keeping_cookie(&l, &attacker, "trainer@demo.test", &[]).await;
    // Tokens the attacker can see: his own account page's.
    let his = account_tokens(&attacker).await;
    assert!(!his.is_empty());
    let mine = account_tokens(&victim).await;
    // The page's forms: TOTP off (mfa@ has TOTP), recovery codes. Tokens differ per form.
    let totp_remove = mine.first().unwrap().clone();
    let recovery = mine.last().unwrap().clone();
    assert_ne!(totp_remove, recovery, "one token for every form");
    for token in his.iter().chain([&recovery, &String::new()]) {
        let r = post_form(&victim, "/account/totp/remove", &[("csrf", token)]).await;
        assert_eq!(r.status(), 403, "TOTP removed with a foreign token");
    }
    let r = post_form(&victim, "/account/recovery", &[("csrf", &totp_remove)]).await;
    assert_eq!(
        r.status(),
        403,
        "recovery codes made with another form's token"
    );
    assert!(
        account_tokens(&victim).await.len() == mine.len(),
        "TOTP was removed"
    );
    // Logout: the attacker's logout token does not sign the victim out.
    let html = attacker.get("/logout").await.text().await.unwrap();
    let his_logout = input_value(&html, "csrf").unwrap();
    let r = post_form(
        &victim,
        "/logout",
        &[("csrf", his_logout.as_str()), ("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Sign out?"));
    assert_eq!(
        victim.get("/account").await.status(),
        200,
        "signed out by a forged form"
    );
    // The victim's own form does.
    let html = victim.get("/logout").await.text().await.unwrap();
    let own = input_value(&html, "csrf").unwrap();
    let r = post_form(
        &victim,
        "/logout",
        &[("csrf", own.as_str()), ("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(victim.get("/account").await.status(), 401);
}

#[tokio::test]
async fn anonymous_sign_in_starts_store_nothing() {
    let Some(redis) = redis_url() else {
        return;
    };
    let prefix = format!("anon{}:", uuid::Uuid::new_v4().simple());
    let l = Lanyard::demo(
        &[
            ("LANYARD_SESSIONS__STORE", "redis"),
            ("LANYARD_SESSIONS__REDIS_URL", redis.as_str()),
            ("LANYARD_SESSIONS__KEY_PREFIX", prefix.as_str()),
        ],
        "",
    )
    .await;
    let (_, challenge) = pkce();
    let big_state = "s".repeat(2000);
    let count = || {
        redis_raw(&redis, &["KEYS", &format!("{prefix}*")])
            .lines()
            .count()
    };
    let before = count();
    let http = bare();
    for i in 0..1000 {
        let nonce = format!("n{i}");
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(app_request(&challenge, &big_state, &nonce))
            .finish();
        let r = http
            .get(format!("{}/authorize?{q}", l.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
    }
    assert_eq!(
        count(),
        before,
        "anonymous /authorize requests stored state"
    );
    // And a sign-in page still comes from such a request.
    let b = Browser::new(&l.base);
    b.login_form(b.authorize(&app_request(&challenge, &big_state, "n")).await)
        .await;
}

#[tokio::test]
async fn oversized_parameters_are_refused_in_the_protocols_format() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let long = |n: usize| "x".repeat(n);
    let (state, nonce, hint, acr) = (long(2049), long(513), long(257), long(513));
    for (name, value) in [
        ("state", &state),
        ("nonce", &nonce),
        ("login_hint", &hint),
        ("acr_values", &acr),
    ] {
        let mut req: Vec<(&str, &str)> = app_request(&challenge, "s", "n")
            .into_iter()
            .filter(|(k, _)| *k != name)
            .collect();
        req.push((name, value));
        let r = b.authorize(&req).await;
        assert_eq!(r.status(), 303, "{name}");
        let loc = r.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with(APP_REDIRECT), "{name}: {loc}");
        assert_eq!(
            query_param(loc, "error").as_deref(),
            Some("invalid_request"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_code_exchanged_twice_at_once_leaves_no_working_token() {
    let l = Lanyard::demo(&[], "").await;
    for _ in 0..3 {
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
        let (a, c) = tokio::join!(
            exchange(&l.base, &code, &verifier),
            exchange(&l.base, &code, &verifier)
        );
        let mut issued = Vec::new();
        let mut refused = 0;
        for r in [a, c] {
            if r.status() == 200 {
                issued.push(r.json::<Value>().await.unwrap());
            } else {
                assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
                refused += 1;
            }
        }
        assert!(refused >= 1, "one code gave two token sets");
        for t in issued {
            let i = introspect(&l.base, t["access_token"].as_str().unwrap()).await;
            assert_eq!(i["active"], false, "a replayed code's access token works");
            let r = refresh(&l.base, t["refresh_token"].as_str().unwrap()).await;
            assert_eq!(r.status(), 400, "a replayed code's refresh token works");
        }
    }
}

#[tokio::test]
async fn revoking_a_rotated_out_refresh_token_ends_its_family() {
    let l = Lanyard::demo(&[], "").await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    let old = t["refresh_token"].as_str().unwrap();
    let r: Value = refresh(&l.base, old).await.json().await.unwrap();
    let current = r["refresh_token"].as_str().unwrap();
    let revoked = bare()
        .post(format!("{}/revoke", l.base))
        .form(&[("token", old), ("client_id", "demo-app")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let r = refresh(&l.base, current).await;
    assert_eq!(
        r.status(),
        400,
        "the family outlived the revocation of its old token"
    );
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}
