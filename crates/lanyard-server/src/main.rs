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

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
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
        init_logging(&config);
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
