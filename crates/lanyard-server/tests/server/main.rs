//! The server's integration tests: the real `lanyard` binary driven over HTTP and the CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod attacks;
mod backups;
mod cli;
mod common;
mod db_faults;
mod faults;
mod federation;
mod federation_pages;
mod http_errors;
mod logs;
mod metrics;
mod mfa;
mod oidc;
mod saml;
mod scale;
mod telemetry;
mod throttling;
