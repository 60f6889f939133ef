//! Throttling under attack (issue 12): one address must not lock out the people behind it, a
//! person's lock holds however he is named, and a store outage is never counted as a guess.

use super::common::*;
use std::time::{Duration, Instant};

async fn form(b: &Browser) -> (String, String) {
    let (_, challenge) = pkce();
    let (tx, csrf, _) = b
        .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    (tx, csrf)
}

#[tokio::test]
async fn one_address_cannot_lock_out_the_people_behind_it() {
    // The office NAT: every attempt below comes from 127.0.0.1.
    let l = Lanyard::demo(
        &[
            ("LANYARD_LOGIN__MAX_FAILURES_PER_IP", "2"),
            ("LANYARD_LOGIN__MAX_IP_DELAY_SECS", "1"),
        ],
        "",
    )
    .await;
    let script = Browser::new(&l.base);
    let (tx, csrf) = form(&script).await;
    for i in 0..6 {
        let r = script
            .submit_login(
                &tx,
                &csrf,
                &format!("guess{i}@demo.test"),
                "wrong-password-1",
            )
            .await;
        assert_eq!(
            r.status(),
            401,
            "guess {i}: an address was refused, not slowed"
        );
    }
    // A colleague behind the same address who knows his password gets in, only later.
    let colleague = Browser::new(&l.base);
    let (tx, csrf) = form(&colleague).await;
    let t = Instant::now();
    let r = colleague
        .submit_login(&tx, &csrf, "trainer@demo.test", PASSWORD)
        .await;
    assert_eq!(r.status(), 303, "the right password was refused");
    assert!(t.elapsed() >= Duration::from_millis(900), "not slowed down");
    // A forged X-Forwarded-For does not make the script a new address.
    let (tx, csrf) = form(&script).await;
    let t = Instant::now();
    let r = script
        .http
        .post(format!("{}/login", l.base))
        .header("x-forwarded-for", "203.0.113.77")
        .header("forwarded", "for=203.0.113.77")
        .form(&[
            ("tx", tx.as_str()),
            ("csrf", csrf.as_str()),
            ("login", "guess-more@demo.test"),
            ("password", "wrong-password-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "X-Forwarded-For escaped the delay"
    );
}

/// A failed sign-in posted as a load balancer forwards it for `client`.
async fn guess_via_proxy(b: &Browser, client: &str, login: &str) -> (u16, Duration) {
    let (tx, csrf) = form(b).await;
    let t = Instant::now();
    let r = b
        .http
        .post(format!("{}/login", b.base))
        .header("x-forwarded-for", format!("198.51.100.200, {client}"))
        .form(&[
            ("tx", tx.as_str()),
            ("csrf", csrf.as_str()),
            ("login", login),
            ("password", "wrong-password-1"),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), t.elapsed())
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_caller_is_throttled_by_his_own_address() {
    // Every request reaches Lanyard from 127.0.0.1, the balancer, which appends the address
    // it saw to X-Forwarded-For (the first entry is the caller's own forgery).
    let l = Lanyard::demo(
        &[
            ("LANYARD_LOGIN__MAX_FAILURES_PER_IP", "2"),
            ("LANYARD_LOGIN__MAX_IP_DELAY_SECS", "1"),
            (
                "LANYARD_SERVER__TRUSTED_PROXIES",
                r#"["127.0.0.1/32", "::1"]"#,
            ),
        ],
        "",
    )
    .await;
    let b = Browser::new(&l.base);
    for i in 0..3 {
        let (status, _) = guess_via_proxy(&b, "203.0.113.10", &format!("g{i}@demo.test")).await;
        assert_eq!(status, 401);
    }
    let (_, slowed) = guess_via_proxy(&b, "203.0.113.10", "g9@demo.test").await;
    assert!(
        slowed >= Duration::from_millis(900),
        "the guessing address was not slowed"
    );
    // Someone else behind the same balancer is not: his own address is what counts.
    let (status, other) = guess_via_proxy(&b, "203.0.113.11", "h1@demo.test").await;
    assert_eq!(status, 401);
    assert!(
        other < Duration::from_millis(900),
        "a different caller behind the balancer was slowed ({other:?})"
    );
}

#[tokio::test]
async fn trusted_proxies_that_do_not_parse_stop_the_start_with_their_names() {
    let l = Lanyard::prepare(&[(
        "LANYARD_SERVER__TRUSTED_PROXIES",
        r#"["10.0.0.0/8", "lb.internal"]"#,
    )]);
    let out = l.cli(&["check-config"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.trusted_proxies") && err.contains("lb.internal"),
        "{err}"
    );
}

const TWO_NAMES: &str = r#"
[[tenant.user]]
given_name = "Jo"
family_name = "Named-Twice"
email = "jo@demo.test"
username = "jo.twice"
password = "Lanyard-demo-pass-2026"
roles = ["Student"]
location = "Demo Training Co > North > Leeds"
employments = [{ account = "Acme Ltd", starts_on = 2025-01-06, main = true }]
"#;

#[tokio::test]
async fn the_lockout_counts_per_person_however_he_is_named() {
    let l = Lanyard::demo(&[], TWO_NAMES).await;
    let b = Browser::new(&l.base);
    let (tx, csrf) = form(&b).await;
    // Five guesses (the limit), split between his email and his username.
    let mut last = 0;
    for login in [
        "jo@demo.test",
        "jo.twice",
        "JO@demo.test",
        "jo.twice",
        "jo@demo.test",
    ] {
        last = b
            .submit_login(&tx, &csrf, login, "wrong-password-1")
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429, "two names gave more guesses");
    for login in ["jo.twice", "jo@demo.test"] {
        let r = b.submit_login(&tx, &csrf, login, PASSWORD).await;
        assert_eq!(r.status(), 429, "the lock was bypassed through {login}");
    }
}

#[tokio::test]
async fn a_database_outage_during_the_second_factor_is_a_503_and_counts_nothing() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let admin = std::env::var("LANYARD_TEST_POSTGRES_URL").unwrap();
    let name = db.rsplit('/').next().unwrap().to_string();
    let l = Lanyard::demo(&[("LANYARD_DATABASE__URL", db.as_str())], "").await;
    let b = Browser::new(&l.base);
    let (tx, csrf) = form(&b).await;
    let r = b.submit_login(&tx, &csrf, "mfa@demo.test", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let page = b.get(r.headers()["location"].to_str().unwrap()).await;
    let html = page.text().await.unwrap();
    let (tx, csrf) = (
        input_value(&html, "tx").unwrap(),
        input_value(&html, "csrf").unwrap(),
    );
    let post = |code: String| {
        let (http, base, tx, csrf) = (b.http.clone(), l.base.clone(), tx.clone(), csrf.clone());
        async move {
            http.post(format!("{base}/login/mfa"))
                .form(&[
                    ("tx", tx.as_str()),
                    ("csrf", csrf.as_str()),
                    ("code", code.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // The database goes away: no new connections, and the pool's are cut.
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let outage = |allow: bool| format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}");
    sqlx::query(&outage(false))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    for i in 0..6 {
        let r = post("111111".into()).await;
        assert_eq!(r.status(), 503, "attempt {i} during the outage");
        assert!(r.headers().contains_key("retry-after"));
        assert!(r.text().await.unwrap().contains("temporarily unavailable"));
    }
    sqlx::query(&outage(true)).execute(&mut conn).await.unwrap();
    // Six answers during the outage would have locked him (limit 5); none counted.
    let mut status = 0;
    for _ in 0..50 {
        let code = demo_totp_code();
        status = post(code).await.status().as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 303, "the outage counted toward the lockout");
}
