//! Faults of the shared stores, made with real servers: a proxy between Lanyard and the
//! Redis `make test` started holds Redis's answers back as a hung Redis would.

use crate::common::*;
use crate::logs::{logged, serve_logged};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Forwards to Redis. Once armed, the first command naming `trigger` goes through to Redis
/// (which performs it), but every answer from then on waits until `hold` has passed.
struct HoldingProxy {
    port: u16,
    state: Arc<Mutex<Hold>>,
}

#[derive(Default)]
struct Hold {
    armed: Option<(Vec<u8>, Duration)>,
    until: Option<Instant>,
}

impl HoldingProxy {
    async fn start(redis: &str) -> Self {
        let target = redis
            .trim_start_matches("redis://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(Hold::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = shared.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = cr.read(&mut buf).await {
                        {
                            let mut h = up.lock().unwrap();
                            if let Some((trigger, hold)) = h.armed.clone() {
                                if buf[..n].windows(trigger.len()).any(|w| w == trigger) {
                                    h.until = Some(Instant::now() + hold);
                                    h.armed = None;
                                }
                            }
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let down = shared.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = sr.read(&mut buf).await {
                        let until = down.lock().unwrap().until;
                        if let Some(wait) =
                            until.and_then(|u| u.checked_duration_since(Instant::now()))
                        {
                            tokio::time::sleep(wait).await;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { port, state }
    }

    fn arm(&self, trigger: &str, hold: Duration) {
        self.state.lock().unwrap().armed = Some((trigger.as_bytes().to_vec(), hold));
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

// The proxy's tasks must run while the test thread waits for the CLI's `apply`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_whose_rotation_redis_answered_too_late_can_be_retried() {
    let Some(redis) = redis_url() else {
        return;
    };
    let proxy = HoldingProxy::start(&redis).await;
    let prefix = format!("hang{}:", uuid::Uuid::new_v4().simple());
    let url = proxy.url();
    let l = Lanyard::demo(
        &[
            ("LANYARD_SESSIONS__STORE", "redis"),
            ("LANYARD_SESSIONS__REDIS_URL", url.as_str()),
            ("LANYARD_SESSIONS__KEY_PREFIX", prefix.as_str()),
        ],
        "",
    )
    .await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    let first = t["refresh_token"].as_str().unwrap().to_string();
    // Redis performs the rotation's swap, but its answer comes after Lanyard gave up (2 s).
    proxy.arm("rf_cur:", Duration::from_secs(3));
    let started = Instant::now();
    let r = refresh(&l.base, &first).await;
    assert_eq!(r.status(), 503, "{:?}", r.text().await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the 503 waited for Redis"
    );
    tokio::time::sleep(Duration::from_millis(3200).saturating_sub(started.elapsed())).await;
    // The client retries with the token it still has: that is not reuse, and the grant lives.
    let r = refresh(&l.base, &first).await;
    assert_eq!(
        r.status(),
        200,
        "the retry lost the grant: {:?}",
        r.text().await
    );
    let next: serde_json::Value = r.json().await.unwrap();
    let next = next["refresh_token"].as_str().unwrap();
    let r = refresh(&l.base, next).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let newest: serde_json::Value = r.json().await.unwrap();
    let newest = newest["refresh_token"].as_str().unwrap();
    let r = refresh(&l.base, newest).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // A successor that was used was delivered: replaying the token it replaced ends the family.
    assert_eq!(refresh(&l.base, next).await.status(), 400);
    assert_eq!(refresh(&l.base, newest).await.status(), 400);
}

/// What `lanyard serve` logs while starting against the Redis at `url`.
async fn start_up_log(url: &str) -> String {
    let prefix = format!("aof{}:", uuid::Uuid::new_v4().simple());
    let l = Lanyard::prepare(&[
        ("LANYARD_SESSIONS__STORE", "redis"),
        ("LANYARD_SESSIONS__REDIS_URL", url),
        ("LANYARD_SESSIONS__KEY_PREFIX", prefix.as_str()),
    ]);
    let (mut child, log) = serve_logged(&l).await;
    let _ = child.kill();
    let _ = child.wait();
    // The reader thread has the lines written before the kill.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let lines = log.lock().unwrap().join("\n");
    lines
}

#[tokio::test]
async fn a_redis_that_would_lose_every_refresh_token_on_restart_is_warned_about() {
    let Some(shared) = redis_url() else {
        return;
    };
    // The Redis of `make test` runs as docs/operations.md asks: no warning.
    let log = start_up_log(&shared).await;
    assert!(!log.contains("appendonly"), "{log}");
    // One of its own without the append-only file.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--dir", dir.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = start_up_log(&format!("redis://127.0.0.1:{port}")).await;
    let _ = redis.kill();
    let _ = redis.wait();
    assert!(
        log.contains("WARN") && log.contains("appendonly no") && log.contains("refresh token"),
        "no warning about a Redis without persistence: {log}"
    );
}

#[tokio::test]
async fn on_sigterm_a_node_reports_not_ready_first_and_finishes_what_is_in_flight() {
    let l = Lanyard::prepare(&[
        ("LANYARD_SERVER__DRAIN_SECS", "2"),
        ("LANYARD_SERVER__SHUTDOWN_TIMEOUT_SECS", "10"),
    ]);
    let mut child = l.cmd(&["serve"]).spawn().unwrap();
    let ready = || async {
        reqwest::get(format!("{}/readyz", l.base))
            .await
            .map(|r| r.status().as_u16())
    };
    let mut up = false;
    for _ in 0..300 {
        if ready().await.is_ok_and(|s| s == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "lanyard did not start");
    // A request in flight: its headers are in, its body is still coming.
    let addr = l.base.trim_start_matches("http://").to_string();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 20\r\n\r\ngrant_type=",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let signalled = Instant::now();
    // Draining: not ready, but still serving everything else.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ready().await.unwrap(), 503);
    let healthz = reqwest::get(format!("{}/healthz", l.base)).await.unwrap();
    assert_eq!(healthz.status(), 200);
    // After the drain, new connections are refused ...
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        ready().await.is_err(),
        "a new connection was accepted after the drain"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    // ... and the request in flight is still answered.
    slow.write_all(b"refresh_to").await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_string(&mut answer)).await;
    // (401: the form names no client; any answer in the protocol's format will do.)
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // Then the process ends on its own, well before the deadline.
    let mut exited = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        exited.is_some_and(|s| s.success()),
        "did not stop cleanly: {exited:?}"
    );
    assert!(signalled.elapsed() < Duration::from_secs(9));
}

/// A `redis-server` of this test's own on `port` (no persistence), stopped on drop.
struct PrivateRedis(std::process::Child);

impl PrivateRedis {
    async fn start(port: u16, dir: &std::path::Path) -> Self {
        let child = std::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--dir", dir.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self(child)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_its_return_and_each_request_it_fails_are_logged() {
    if redis_url().is_none() {
        return;
    }
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let redis = PrivateRedis::start(port, data.path()).await;
    let url = format!("redis://127.0.0.1:{port}");
    // An empty RUST_LOG (left in a unit file) must not silence anything.
    let l = Lanyard::prepare(&[
        ("LANYARD_SESSIONS__STORE", "redis"),
        ("LANYARD_SESSIONS__REDIS_URL", url.as_str()),
        ("RUST_LOG", ""),
    ]);
    l.apply(&std::fs::read_to_string(demo_file()).unwrap());
    let (mut child, log) = serve_logged(&l).await;
    logged(&log, &["WARN", "appendonly no"]).await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    let token = t["refresh_token"].as_str().unwrap().to_string();
    drop(redis);
    logged(&log, &["ERROR", "session store (Redis) does not answer"]).await;
    let r = refresh(&l.base, &token).await;
    assert_eq!(r.status(), 503);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let failed = crate::metrics::scraped(
        &l.base,
        "lanyard_session_store_errors_total",
        r#"kind="unavailable""#,
    )
    .await;
    assert!(failed >= 1.0, "session-store failures counted: {failed}");
    logged(
        &log,
        &["answered with a server error", "/token", "503", &rid],
    )
    .await;
    let _redis = PrivateRedis::start(port, data.path()).await;
    logged(&log, &["WARN", "session store (Redis) answers again"]).await;
    let _ = child.kill();
    let _ = child.wait();
}
