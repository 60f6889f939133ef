//! The `lanyard` binary.
#![forbid(unsafe_code)]

use clap::Parser;
use lanyard_server::cli::{self, Cli, Command};
use lanyard_server::config::{Config, LogFormat};
use std::process::ExitCode;

/// mimalloc instead of glibc's allocator: a request allocates and frees many small buffers,
/// and glibc spent about a seventh of a token request's CPU doing it (measured; see
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `RUST_LOG` when it is set to something, else `log.level`; an empty `RUST_LOG=` (easily left
/// in a unit file) must not silence errors. Returns why `RUST_LOG` was ignored, if it was.
fn init_logging(config: &Config) -> Option<String> {
    use tracing_subscriber::EnvFilter;
    let configured =
        || EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, ignored) = match env.as_deref().map(EnvFilter::try_new) {
        Some(Ok(f)) => (f, None),
        Some(Err(e)) => (
            configured(),
            Some(format!("RUST_LOG does not parse ({e}); using log.level")),
        ),
        None => (configured(), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
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
    if matches!(cli.command, Command::CheckConfig) {
        for w in &config.warnings {
            eprintln!("config warning: {w}");
        }
    } else {
        if let Some(why) = init_logging(&config) {
            tracing::warn!("{why}");
        }
        for w in &config.warnings {
            tracing::warn!("config: {w}");
        }
    }
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
    match runtime.block_on(cli::run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
