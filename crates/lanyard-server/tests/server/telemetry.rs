//! OpenTelemetry traces: spans reach a real OTLP/HTTP receiver (decoded with the protocol's own
//! protobuf definitions), with the trace id a page and the log lines show; a `traceparent` is
//! believed only from a trusted proxy.

use crate::common::*;
use crate::logs::{logged, serve_logged};
use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One exported span: trace id, parent span id (hex; "" for a root), name.
#[derive(Debug, Clone)]
struct Exported {
    trace_id: String,
    parent: String,
    name: String,
    service: String,
}

/// An OTLP/HTTP receiver on a free loopback port: `(endpoint, spans received)`.
async fn receiver() -> (String, Arc<Mutex<Vec<Exported>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let kept = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let kept = kept.clone();
            async move {
                let req = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                for rs in req.resource_spans {
                    let service = rs
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|a| a.key == "service.name")
                        .and_then(|a| a.value.as_ref())
                        .map(|v| format!("{:?}", v.value))
                        .unwrap_or_default();
                    for ss in rs.scope_spans {
                        for s in ss.spans {
                            kept.lock().unwrap().push(Exported {
                                trace_id: hex(&s.trace_id),
                                parent: hex(&s.parent_span_id),
                                name: s.name,
                                service: service.clone(),
                            });
                        }
                    }
                }
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), spans)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The trace id a page shows beside its reference.
fn trace_on_page(html: &str) -> String {
    let (_, rest) = html
        .split_once("Trace: <code>")
        .unwrap_or_else(|| panic!("no trace id on the page: {html}"));
    rest.split('<').next().unwrap().to_owned()
}

async fn exported(spans: &Arc<Mutex<Vec<Exported>>>, trace_id: &str) -> Exported {
    let started = Instant::now();
    loop {
        if let Some(s) = spans
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.trace_id == trace_id)
        {
            return s.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no span of trace {trace_id} exported: {:#?}",
            spans.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

async fn error_page(base: &str, traceparent: bool) -> String {
    let mut req = reqwest::Client::new().get(format!("{base}/authorize?client_id=nobody"));
    if traceparent {
        req = req.header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"));
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 400);
    r.text().await.unwrap()
}

#[tokio::test]
async fn spans_reach_the_collector_with_the_trace_id_of_the_page_and_the_log() {
    let (endpoint, spans) = receiver().await;
    let l = Lanyard::prepare(&[
        ("LANYARD_TELEMETRY__OTLP_ENDPOINT", &endpoint),
        ("LANYARD_TELEMETRY__SERVICE_NAME", "lanyard-under-test"),
        ("LANYARD_LOG__FORMAT", "json"),
        ("LANYARD_LOG__LEVEL", "lanyard_server=debug,warn"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let (mut child, log) = serve_logged(&l).await;
    let page = error_page(&l.base, false).await;
    let trace = trace_on_page(&page);
    assert_eq!(trace.len(), 32, "{trace}");
    let span = exported(&spans, &trace).await;
    assert_eq!(span.name, "GET /authorize");
    assert_eq!(
        span.parent, "",
        "a request from outside starts its own trace"
    );
    assert!(span.service.contains("lanyard-under-test"), "{span:?}");
    // The log lines written while serving it carry the same trace id and the request id.
    let line = logged(&log, &["request answered", &trace]).await;
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["span"]["trace_id"], trace.as_str(), "{line}");
    assert!(
        v["span"]["request_id"]
            .as_str()
            .is_some_and(|r| r.len() >= 32),
        "{line}"
    );
    // An untrusted caller's traceparent is not adopted: a new trace, and the caller's ids
    // appear nowhere.
    let page = error_page(&l.base, true).await;
    let trace = trace_on_page(&page);
    assert_ne!(trace, CALLER_TRACE);
    exported(&spans, &trace).await;
    assert!(spans
        .lock()
        .unwrap()
        .iter()
        .all(|s| s.trace_id != CALLER_TRACE && s.parent != CALLER_SPAN));
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn a_trusted_proxy_s_traceparent_joins_its_trace() {
    let (endpoint, spans) = receiver().await;
    let l = Lanyard::prepare(&[
        ("LANYARD_TELEMETRY__OTLP_ENDPOINT", &endpoint),
        ("LANYARD_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .serve()
    .await;
    let page = error_page(&l.base, true).await;
    assert_eq!(trace_on_page(&page), CALLER_TRACE);
    let span = exported(&spans, CALLER_TRACE).await;
    assert_eq!(span.parent, CALLER_SPAN);
}

#[tokio::test]
async fn without_an_endpoint_pages_still_show_a_trace_id_and_a_trusted_one_is_kept() {
    let l = Lanyard::prepare(&[("LANYARD_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]")])
        .serve()
        .await;
    let own = trace_on_page(&error_page(&l.base, false).await);
    assert_eq!(own.len(), 32);
    assert_ne!(own, trace_on_page(&error_page(&l.base, false).await));
    assert_eq!(
        trace_on_page(&error_page(&l.base, true).await),
        CALLER_TRACE
    );
    let bad = reqwest::Client::new()
        .get(format!("{}/authorize?client_id=nobody", l.base))
        .header("traceparent", "00-zz-00f067aa0ba902b7-01")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(trace_on_page(&bad).len(), 32);
}

#[test]
fn a_bad_telemetry_setting_is_refused_by_key() {
    let l = Lanyard::prepare(&[
        ("LANYARD_TELEMETRY__OTLP_ENDPOINT", "collector:4318"),
        ("LANYARD_TELEMETRY__SAMPLE_RATIO", "2"),
    ]);
    let out = l.cli(&["check-config"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("telemetry.otlp_endpoint"), "{err}");
    assert!(err.contains("telemetry.sample_ratio"), "{err}");
}
