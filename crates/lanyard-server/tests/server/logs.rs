//! What Lanyard writes to its log: never a password, a secret, a code or a token.

use crate::common::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `lanyard serve` for `l` with its standard error collected line by line.
pub async fn serve_logged(l: &Lanyard) -> (std::process::Child, Arc<Mutex<Vec<String>>>) {
    let mut child = l
        .cmd(&["serve"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().unwrap();
    let lines = log.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            lines.lock().unwrap().push(line);
        }
    });
    for _ in 0..300 {
        if reqwest::get(format!("{}/healthz", l.base))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return (child, log);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("lanyard did not start: {:#?}", log.lock().unwrap());
}

/// Waits until a line of `log` contains every one of `words`.
pub async fn logged(log: &Arc<Mutex<Vec<String>>>, words: &[&str]) -> String {
    let started = Instant::now();
    loop {
        if let Some(l) = log
            .lock()
            .unwrap()
            .iter()
            .find(|l| words.iter().all(|w| l.contains(w)))
        {
            return l.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no log line with {words:?}: {:#?}",
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_secret_code_or_token_reaches_the_log_even_at_debug() {
    let l = Lanyard::prepare(&[("LANYARD_LOG__LEVEL", "debug")]);
    l.apply(&std::fs::read_to_string(demo_file()).unwrap());
    let (mut child, log) = serve_logged(&l).await;
    let mut secrets: Vec<String> = vec![
        PASSWORD.into(),
        "demo-service-secret".into(),
        "wrong-password-1".into(),
    ];
    // A sign-in (its code kept), the code exchange, a refresh, a wrong password, a second
    // factor, client_credentials, introspection and userinfo.
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let loc = b
        .sign_in(
            &app_request(&challenge, "st", "nn"),
            "learner@demo.test",
            PASSWORD,
        )
        .await;
    let code = query_param(&loc, "code").unwrap();
    secrets.push(code.clone());
    let t: serde_json::Value = exchange(&l.base, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    for k in ["access_token", "id_token", "refresh_token"] {
        secrets.push(t[k].as_str().unwrap().to_string());
    }
    let r: serde_json::Value = refresh(&l.base, t["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    secrets.push(r["refresh_token"].as_str().unwrap().to_string());
    secrets.push(r["access_token"].as_str().unwrap().to_string());
    let w = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (tx, csrf, _) = w
        .login_form(w.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    let wrong = w
        .submit_login(&tx, &csrf, "trainer@demo.test", "wrong-password-1")
        .await;
    assert_eq!(wrong.status(), 401);
    let m = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (tx, csrf, _) = m
        .login_form(m.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    let r = m.submit_login(&tx, &csrf, "mfa@demo.test", PASSWORD).await;
    let page = m
        .get(r.headers()["location"].to_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    let totp = demo_totp_code();
    secrets.push(totp.clone());
    let r = m
        .http
        .post(format!("{}/login/mfa", l.base))
        .form(&[
            ("tx", input_value(&page, "tx").unwrap().as_str()),
            ("csrf", input_value(&page, "csrf").unwrap().as_str()),
            ("code", totp.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cc: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/token", l.base))
        .basic_auth("demo-service", Some("demo-service-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(cc["access_token"].as_str().unwrap().to_string());
    assert_eq!(
        introspect(&l.base, t["access_token"].as_str().unwrap()).await["active"],
        true
    );
    let info = reqwest::Client::new()
        .get(format!("{}/userinfo", l.base))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    // Something was logged at debug (the check below can fail), then the whole log is read.
    logged(&log, &["DEBUG"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let all = log.lock().unwrap().join("\n");
    for s in &secrets {
        // A JWT's signature part alone is as good as the token.
        let needle = s.rsplit('.').next().unwrap_or(s);
        assert!(
            !all.contains(needle),
            "the log holds a secret ({}…)",
            &s[..s.len().min(12)]
        );
    }
}
