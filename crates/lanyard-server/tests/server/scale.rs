//! Running as several processes on Redis and PostgreSQL, and surviving a Redis outage.

use super::common::*;
use serde_json::Value;

#[tokio::test]
async fn two_processes_share_one_redis_and_one_postgres() {
    let (Some(db), Some(redis)) = (postgres_db().await, redis_url()) else {
        return;
    };
    let prefix = format!("two{}:", uuid::Uuid::new_v4().simple());
    let env = [
        ("LANYARD_DATABASE__URL", db.as_str()),
        ("LANYARD_SESSIONS__STORE", "redis"),
        ("LANYARD_SESSIONS__REDIS_URL", redis.as_str()),
        ("LANYARD_SESSIONS__KEY_PREFIX", prefix.as_str()),
    ];
    let mut a = Lanyard::prepare(&env);
    a.apply(&std::fs::read_to_string(demo_file()).unwrap());
    a.start().await;
    // The second process shares the key file (same key-encryption key) and the issuer.
    let key_file = a.dir.path().join("lanyard.key").display().to_string();
    let mut env_b = env.to_vec();
    env_b.push(("LANYARD_SECRETS__KEY_FILE", key_file.as_str()));
    env_b.push(("LANYARD_SERVER__ISSUER", a.base.as_str()));
    let b = Lanyard::prepare(&env_b).serve().await;
    // Sign in on A, exchange on B, refresh on A and B alternately, userinfo on B.
    let browser = Browser::new(&a.base);
    let (verifier, challenge) = pkce();
    let loc = browser
        .sign_in(
            &app_request(&challenge, "s", "n"),
            "learner@demo.test",
            PASSWORD,
        )
        .await;
    let t: Value = exchange(&b.base, &query_param(&loc, "code").unwrap(), &verifier)
        .await
        .json()
        .await
        .unwrap();
    let mut rt = t["refresh_token"].as_str().unwrap().to_string();
    for base in [&a.base, &b.base, &a.base] {
        let r = refresh(base, &rt).await;
        assert_eq!(r.status(), 200);
        rt = r.json::<Value>().await.unwrap()["refresh_token"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let ui = reqwest::Client::new()
        .get(format!("{}/userinfo", b.base))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 200);
    // The SSO session made on A answers on B.
    let on_b = Browser {
        http: browser.http.clone(),
        base: b.base.clone(),
    };
    let (_, challenge) = pkce();
    let mut none = app_request(&challenge, "s", "n");
    none.push(("prompt", "none"));
    // Cookies ignore ports (RFC 6265 §8.5), so the browser presents A's session to B.
    let r = on_b.authorize(&none).await;
    assert!(
        query_param(r.headers()["location"].to_str().unwrap(), "code").is_some(),
        "B did not see A's session"
    );
    // Refresh families survive a restart of both processes (they live in Redis).
    drop(b);
    a.stop();
    a.start().await;
    assert_eq!(refresh(&a.base, &rt).await.status(), 200);
}

#[tokio::test]
async fn a_redis_outage_fails_fast_and_heals_by_itself() {
    if redis_url().is_none() {
        return;
    }
    // A Redis of this test's own, so stopping it disturbs no one else.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let start_redis = || {
        std::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                dir.path().to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut redis = start_redis();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let url = format!("redis://127.0.0.1:{port}/0");
    let l = Lanyard::demo(
        &[
            ("LANYARD_SESSIONS__STORE", "redis"),
            ("LANYARD_SESSIONS__REDIS_URL", url.as_str()),
        ],
        "",
    )
    .await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    redis.kill().unwrap();
    redis.wait().unwrap();
    let started = std::time::Instant::now();
    let r = refresh(&l.base, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "failing took {:?}",
        started.elapsed()
    );
    assert_eq!(
        reqwest::get(format!("{}/readyz", l.base))
            .await
            .unwrap()
            .status(),
        503
    );
    // The sign-in page needs no store (its transaction is sealed into the page); the
    // password post does, and says so with a 503 page rather than "wrong password".
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (tx, csrf, _) = b
        .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    let r = b
        .submit_login(&tx, &csrf, "learner@demo.test", PASSWORD)
        .await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    // Redis returns (empty: its data is gone); Lanyard reconnects without a restart.
    let mut redis = start_redis();
    let mut healed = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if reqwest::get(format!("{}/readyz", l.base))
            .await
            .unwrap()
            .status()
            == 200
        {
            healed = true;
            break;
        }
    }
    assert!(healed, "lanyard did not recover after Redis came back");
    let again = full_sign_in(&l, "learner@demo.test").await;
    assert!(again["access_token"].is_string());
    redis.kill().unwrap();
    let _ = redis.wait();
}
