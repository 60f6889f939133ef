//! `lanyard-server` is the only crate that knows HTTP, files and the command line: it loads the
//! configuration, opens the store, serves the axum routers and runs the `lanyard` CLI. Handlers
//! stay thin — parse, call the capability crate, render — and the rules live in `lanyard-core`,
//! persistence in `lanyard-store`. No other crate depends on this one.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub(crate) mod cookies;
pub(crate) mod csrf;
pub mod directory;
pub(crate) mod errors;
pub mod extract;
pub mod federation;
pub mod forwarded;
pub mod hashing;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod realm;
pub mod saml;
pub(crate) mod signin;
pub mod store_metrics;
pub mod telemetry;
pub mod throttle;
pub mod user_cli;
pub mod web;
