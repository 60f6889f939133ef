//! Request spans, and OpenTelemetry traces over OTLP/HTTP when `telemetry.otlp_endpoint` is set.
//!
//! Every request runs in a `request` span carrying its method, path, request id and trace id,
//! so every log line written while serving it names them. The trace id is OpenTelemetry's when
//! traces are exported; otherwise it is the caller's W3C `traceparent` id (from a trusted proxy
//! only) or a fresh random one — so pages and logs always show one.

use crate::app::App;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_http::{
    Bytes, HttpClient, HttpError, Request as OtlpRequest, Response as OtlpResponse,
};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `[telemetry]`: OpenTelemetry traces, off unless an endpoint is given.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP collector (protobuf), such as `http://127.0.0.1:4318`; `/v1/traces` is
    /// added when the URL has no path. Empty: no traces are exported.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of new traces kept (0 to 1); a caller's sampling decision (`traceparent` from a
    /// trusted proxy) is followed.
    pub sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "lanyard".into(),
            sample_ratio: 1.0,
        }
    }
}

impl TelemetryConfig {
    /// Where spans are sent, if anywhere.
    pub fn traces_url(&self) -> Option<String> {
        let e = self.otlp_endpoint.trim();
        if e.is_empty() {
            return None;
        }
        match reqwest::Url::parse(e) {
            Ok(u) if u.path() == "/" => Some(format!("{}v1/traces", u)),
            _ => Some(e.to_owned()),
        }
    }

    /// What is wrong, by key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let e = self.otlp_endpoint.trim();
        if !e.is_empty() {
            match reqwest::Url::parse(e) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => out.push((
                    "telemetry.otlp_endpoint",
                    format!("{e:?} is not an http(s) URL like http://127.0.0.1:4318"),
                )),
            }
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            out.push((
                "telemetry.sample_ratio",
                format!("{} is not between 0 and 1", self.sample_ratio),
            ));
        }
        if self.service_name.trim().is_empty() {
            out.push(("telemetry.service_name", "must not be empty".into()));
        }
        out
    }
}

/// The target of the request spans, kept at `info` whatever the log filter says (see
/// [`always_spanned`]): a warning's line must still name its request and trace.
pub const REQUEST_SPAN: &str = "lanyard::request";

/// `filter` with the request spans enabled.
pub fn always_spanned(filter: tracing_subscriber::EnvFilter) -> tracing_subscriber::EnvFilter {
    match format!("{REQUEST_SPAN}=info").parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    }
}

tokio::task_local! {
    static TRACE_ID: String;
}

/// The trace id of the request being served on this task ("" outside a request).
pub fn current_trace_id() -> String {
    TRACE_ID.try_with(Clone::clone).unwrap_or_default()
}

/// A W3C Trace Context `traceparent` header, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traceparent {
    /// The trace.
    pub trace_id: TraceId,
    /// The caller's span.
    pub span_id: SpanId,
    /// The caller sampled it.
    pub sampled: bool,
}

impl Traceparent {
    /// Reads `version-traceid-parentid-flags` (W3C Trace Context §3.2): lower-case hex, ids
    /// not all zeros, version `ff` refused; a later version may append fields after a `-`.
    pub fn parse(v: &str) -> Option<Self> {
        let v = v.trim();
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let mut parts = v.splitn(5, '-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let rest = parts.next();
        if !hex(version, 2) || version == "ff" || (version == "00" && rest.is_some()) {
            return None;
        }
        if !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
            return None;
        }
        let trace_id = TraceId::from_hex(trace).ok()?;
        let span_id = SpanId::from_hex(span).ok()?;
        if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    fn context(&self) -> opentelemetry::Context {
        let flags = if self.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
            self.trace_id,
            self.span_id,
            flags,
            true,
            TraceState::default(),
        ))
    }
}

/// Middleware: runs the request in its `request` span, with its trace id known to the pages
/// ([`current_trace_id`]). A `traceparent` is believed only from `server.trusted_proxies`:
/// anyone else could otherwise join his requests to someone else's trace, or choose the ids
/// support will look for.
pub(crate) async fn trace_request(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let trusted = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| app.trusted_proxies.trusts(c.0.ip()));
    let parent = trusted
        .then(|| req.headers().get("traceparent"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(Traceparent::parse);
    let method = req.method().clone();
    let span = tracing::info_span!(
        target: REQUEST_SPAN,
        "request",
        otel.name = %format_args!("{} {}", method, req.uri().path()),
        otel.kind = "server",
        method = %method,
        path = %req.uri().path(),
        request_id = %request_id,
        trace_id = Empty,
        status = Empty,
        otel.status_code = Empty,
    );
    if let Some(p) = &parent {
        // Fails harmlessly when traces are not exported (no OpenTelemetry layer).
        let _ = span.set_parent(p.context());
    }
    let exported = span.context().span().span_context().trace_id();
    let trace_id = if exported != TraceId::INVALID {
        exported.to_string()
    } else if let Some(p) = &parent {
        p.trace_id.to_string()
    } else {
        lanyard_core::random::hex_token(16)
    };
    span.record("trace_id", trace_id.as_str());
    let started = std::time::Instant::now();
    let resp = TRACE_ID
        .scope(trace_id, next.run(req).instrument(span.clone()))
        .await;
    let status = resp.status();
    span.record("status", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    span.in_scope(|| {
        tracing::debug!(
            status = status.as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request answered"
        )
    });
    resp
}

/// The exporter's tracer provider, while traces are exported; shut it down (flushing what is
/// queued) before the runtime ends.
pub struct Traces {
    provider: SdkTracerProvider,
    /// The tracer for the `tracing` layer.
    pub tracer: Tracer,
}

impl Traces {
    /// Starts exporting to `config.otlp_endpoint` (None when it is empty). The batch
    /// processor runs on a thread of its own; its HTTP requests run on `runtime`.
    pub fn start(
        config: &TelemetryConfig,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<Option<Self>> {
        let Some(endpoint) = config.traces_url() else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let exporter = {
            use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .with_http_client(Exporting { http, runtime })
                .build()?
        };
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("lanyard");
        Ok(Some(Self { provider, tracer }))
    }

    /// Sends what is queued and stops.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "traces: the last spans could not be sent");
        }
    }
}

/// The exporter's HTTP client: reqwest, on the server's runtime (the batch processor's own
/// thread has none).
#[derive(Debug)]
struct Exporting {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

/// A collector's answer is small; more than this is not read.
const MAX_ANSWER: usize = 64 * 1024;

#[async_trait::async_trait]
impl HttpClient for Exporting {
    async fn send_bytes(
        &self,
        request: OtlpRequest<Bytes>,
    ) -> Result<OtlpResponse<Bytes>, HttpError> {
        let http = self.http.clone();
        let sent = self.runtime.spawn(async move {
            let (parts, body) = request.into_parts();
            let mut answer = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut out = OtlpResponse::builder().status(answer.status());
            if let Some(h) = out.headers_mut() {
                *h = std::mem::take(answer.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = answer.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, HttpError>(out.body(Bytes::from(body))?)
        });
        sent.await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_gets_the_traces_path_and_bad_values_are_named() {
        let mut c = TelemetryConfig::default();
        assert_eq!(c.traces_url(), None);
        assert!(c.problems().is_empty());
        c.otlp_endpoint = "http://127.0.0.1:4318".into();
        assert_eq!(
            c.traces_url().as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        c.otlp_endpoint = "https://otel.example/custom/traces".into();
        assert_eq!(
            c.traces_url().as_deref(),
            Some("https://otel.example/custom/traces")
        );
        c.otlp_endpoint = "udp://x".into();
        c.sample_ratio = 1.5;
        c.service_name = " ".into();
        let keys: Vec<_> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "telemetry.otlp_endpoint",
                "telemetry.sample_ratio",
                "telemetry.service_name"
            ]
        );
    }

    #[test]
    fn a_traceparent_is_read_strictly() {
        let p = Traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        assert_eq!(p.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(p.span_id.to_string(), "00f067aa0ba902b7");
        assert!(p.sampled);
        assert!(
            Traceparent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some_and(|p| !p.sampled)
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(Traceparent::parse(bad), None, "{bad:?}");
        }
    }
}
