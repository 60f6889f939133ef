//! `/metrics`, scraped by a real Prometheus server (Debian's `prometheus`).

use crate::common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Whether the `prometheus` program is here; `make test` installs it, so there its absence fails.
fn have_prometheus() -> bool {
    let found = std::process::Command::new("prometheus")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var("LANYARD_REQUIRE_REDIS").is_err(),
        "prometheus is required under make test"
    );
    found
}

async fn client_credentials(base: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth("demo-service", Some("demo-service-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

/// The value of the first series `query` returns, once Prometheus has one.
async fn series(prometheus: &str, query: &str) -> f64 {
    let started = Instant::now();
    loop {
        let answer = reqwest::Client::new()
            .get(format!("{prometheus}/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .await;
        let r: Value = match answer {
            Ok(resp) => resp.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        if let Some(v) = r["data"]["result"][0]["value"][1].as_str() {
            return v.parse().unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Prometheus has no series for {query}: {r}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_prometheus_server_scrapes_requests_grants_sign_ins_and_the_pool() {
    if !have_prometheus() {
        return;
    }
    let l = Lanyard::demo(&[], "").await;
    full_sign_in(&l, "learner@demo.test").await;
    assert_eq!(client_credentials(&l.base).await, 200);
    // What a scrape sees, and what it must never show.
    let r = reqwest::get(format!("{}/metrics", l.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    for secret in ["learner@demo.test", "demo-service", PASSWORD, "/authorize?"] {
        assert!(!text.contains(secret), "the metrics show {secret}");
    }
    assert!(text.contains("lanyard_hashing_capacity"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let target = l.base.trim_start_matches("http://");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: lanyard\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let mut prometheus = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let api = format!("http://127.0.0.1:{port}");
    let grants = series(
        &api,
        r#"lanyard_grants_total{grant_type="client_credentials",outcome="issued"}"#,
    )
    .await;
    let sign_ins = series(
        &api,
        r#"lanyard_sign_ins_total{method="password",outcome="accepted"}"#,
    )
    .await;
    let tokens = series(
        &api,
        r#"sum(lanyard_http_request_duration_seconds_count{route="/token"})"#,
    )
    .await;
    let completed = series(&api, r#"sum(lanyard_sign_ins_completed_total)"#).await;
    let up = series(&api, r#"lanyard_store_up{store="database"}"#).await;
    let puts = series(
        &api,
        r#"lanyard_session_store_duration_seconds_count{op="put"}"#,
    )
    .await;
    let selects = series(
        &api,
        r#"lanyard_database_statement_duration_seconds_count{statement="select"}"#,
    )
    .await;
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert_eq!(grants, 1.0);
    assert!(sign_ins >= 1.0);
    assert!(completed >= 1.0);
    assert!(tokens >= 2.0, "the code exchange and the grant: {tokens}");
    assert_eq!(up, 1.0);
    assert!(
        puts >= 1.0,
        "the sign-in was kept in the session store: {puts}"
    );
    assert!(selects >= 1.0, "the sign-in read the database: {selects}");
}

/// The sum of the samples of `name` whose labels contain `labels`, in a scrape of `base`.
pub async fn scraped(base: &str, name: &str, labels: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_can_live_on_an_address_of_their_own() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let l = Lanyard::demo(&[("LANYARD_SERVER__METRICS_LISTEN", listen.as_str())], "").await;
    assert_eq!(client_credentials(&l.base).await, 200);
    let own = format!("http://{listen}");
    for path in ["/metrics", "/healthz", "/readyz"] {
        let r = reqwest::get(format!("{own}{path}")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let text = reqwest::get(format!("{own}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"grant_type="client_credentials""#),
        "{text}"
    );
    // The public listener no longer answers it.
    assert_eq!(
        reqwest::get(format!("{}/metrics", l.base))
            .await
            .unwrap()
            .status(),
        404
    );
}
