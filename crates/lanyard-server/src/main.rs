//! The `lanyard` binary.
#![forbid(unsafe_code)]

use clap::Parser;
use lanyard_server::cli::{self, Cli, Command};
use lanyard_server::config::{Config, LogFormat};
use lanyard_server::telemetry::Traces;
use std::process::ExitCode;

/// mimalloc instead of glibc's allocator: a request allocates and frees many small buffers,
/// and glibc spent about a seventh of a token request's CPU doing it (measured; see
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `RUST_LOG` when it is set to something, else `log.level`; an empty `RUST_LOG=` (easily left
/// in a unit file) must not silence errors. Returns why `RUST_LOG` was ignored, if it was.
/// With `tracer`, spans also go to OpenTelemetry.
fn init_logging(
    config: &Config,
    tracer: Option<opentelemetry_sdk::trace::Tracer>,
) -> Option<String> {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let configured =
        || EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let ignored = match env.as_deref().map(EnvFilter::try_new) {
        Some(Err(e)) => Some(format!("RUST_LOG does not parse ({e}); using log.level")),
        _ => None,
    };
    // Each layer has its filter (the log's, built anew for the traces), so the database
    // metrics see sqlx's statement events whatever the log level.
    let filter = || {
        let f = match env.as_deref().map(EnvFilter::try_new) {
            Some(Ok(f)) => f,
            _ => configured(),
        };
        lanyard_server::telemetry::always_spanned(f)
    };
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match config.log.format {
        LogFormat::Json => lines.json().boxed(),
        LogFormat::Text => lines.boxed(),
    };
    let traces = tracer.map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t)
            .with_filter(filter())
    });
    use lanyard_server::store_metrics::DatabaseEvents;
    tracing_subscriber::registry()
        .with(lines.with_filter(filter()))
        .with(traces)
        .with(DatabaseEvents.with_filter(DatabaseEvents::filter()))
        .init();
    ignored
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(problems) => {
            for p in &problems {
                eprintln!("config error: {p}");
            }
            eprintln!("{} configuration problem(s)", problems.len());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut traces = None;
    if matches!(cli.command, Command::CheckConfig) {
        for w in &config.warnings {
            eprintln!("config warning: {w}");
        }
    } else {
        // Only a serving node exports traces; the other commands only log.
        if matches!(cli.command, Command::Serve { .. }) {
            match Traces::start(&config.telemetry, runtime.handle().clone()) {
                Ok(t) => traces = t,
                Err(e) => {
                    eprintln!("error: telemetry: cannot export traces: {e:#}");
                    return ExitCode::FAILURE;
                }
            }
        }
        if let Some(why) = init_logging(&config, traces.as_ref().map(|t| t.tracer.clone())) {
            tracing::warn!("{why}");
        }
        for w in &config.warnings {
            tracing::warn!("config: {w}");
        }
        if let Some(url) = config.telemetry.traces_url().filter(|_| traces.is_some()) {
            tracing::info!(endpoint = %url, sample_ratio = config.telemetry.sample_ratio, "exporting traces over OTLP/HTTP");
        }
    }
    let outcome = runtime.block_on(cli::run(cli, config));
    if let Some(t) = traces {
        t.shutdown();
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
