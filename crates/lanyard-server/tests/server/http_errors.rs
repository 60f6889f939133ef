//! What the framework refuses (too large, wrong method, too slow) is answered in the
//! endpoint's own format, and an https issuer turns on HSTS.

use super::common::*;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn content_type(r: &reqwest::Response) -> String {
    r.headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn refusals_come_in_the_endpoints_format() {
    let l = Lanyard::demo(&[("LANYARD_SERVER__MAX_BODY_BYTES", "2048")], "").await;
    let http = reqwest::Client::new();
    let big = format!("grant_type=client_credentials&pad={}", "x".repeat(4096));
    for path in ["/token", "/introspect", "/revoke"] {
        // Too large.
        let r = http
            .post(format!("{}{path}", l.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{path}");
        assert!(content_type(&r).starts_with("application/json"), "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
        // Wrong method.
        let r = http.get(format!("{}{path}", l.base)).send().await.unwrap();
        assert_eq!(r.status(), 405, "{path}");
        assert!(r.headers().contains_key("allow"), "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
    }
    let r = http
        .delete(format!("{}/userinfo", l.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // The pages' scripts get JSON, people get a page.
    let r = http
        .get(format!("{}/login/passkey/options", l.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    for (method, path) in [
        ("PUT", "/login"),
        ("DELETE", "/authorize"),
        ("PUT", "/saml/sso"),
    ] {
        let r = http
            .request(method.parse().unwrap(), format!("{}{path}", l.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert!(content_type(&r).starts_with("text/html"), "{method} {path}");
        assert!(r.headers().contains_key("content-security-policy"));
        assert!(r.text().await.unwrap().contains("does not accept"));
    }
    let r = http
        .post(format!("{}/login", l.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(content_type(&r).starts_with("text/html"));
}

/// Sends the head of a request and half its body, then waits: the answer the server gives.
async fn stalled_post(base: &str, path: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type="
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = s.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if String::from_utf8_lossy(&buf).contains("\r\n\r\n") && buf.len() > 200 {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn a_request_that_runs_out_of_time_is_answered_in_format() {
    let l = Lanyard::demo(
        &[
            ("LANYARD_SERVER__REQUEST_TIMEOUT_SECS", "2"),
            ("LANYARD_LOGIN__MAX_IP_DELAY_SECS", "1"),
        ],
        "",
    )
    .await;
    let (status, text) = stalled_post(&l.base, "/token").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("temporarily_unavailable"), "{text}");
    assert!(text.to_lowercase().contains("retry-after"), "{text}");
    let (status, text) = stalled_post(&l.base, "/login").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("text/html"), "{text}");
}

#[tokio::test]
async fn an_https_issuer_sends_hsts_and_an_http_one_does_not() {
    let l = Lanyard::demo(
        &[("LANYARD_SERVER__ISSUER", "https://id.lanyard.example")],
        "",
    )
    .await;
    for path in ["/healthz", "/.well-known/openid-configuration", "/nowhere"] {
        let r = reqwest::get(format!("{}{path}", l.base)).await.unwrap();
        assert_eq!(
            r.headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    let plain = Lanyard::demo(&[], "").await;
    let r = reqwest::get(format!("{}/healthz", plain.base))
        .await
        .unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
}
