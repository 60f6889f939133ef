//! `lanyard-idp` owns the protocols Lanyard speaks to applications: the OpenID Connect provider
//! (discovery, JWKS, authorization, token, userinfo, introspection, revocation, logout) and
//! the SAML 2.0 identity provider (metadata, SSO, SLO; XML signatures through `samael`). It validates requests, authenticates clients, mints and
//! verifies tokens, and turns every failure into the protocol's own error.
//!
//! It never touches the database (people and clients come through the [`Directory`] trait) and
//! knows nothing of HTTP frameworks: the server parses requests into plain values, calls in,
//! and renders what comes back.
#![forbid(unsafe_code)]

pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod grants;
pub mod jws;
pub mod keys;
pub mod logout;
pub mod pkce;
pub mod provider;
pub mod resource;
pub mod saml;
mod util;

pub use claims::Person;

/// Splits a refresh token `FAMILY.SECRET`.
pub(crate) fn grants_refresh_split(token: &str) -> Option<(&str, &str)> {
    token
        .split_once('.')
        .filter(|(f, s)| !f.is_empty() && !s.is_empty() && !s.contains('.'))
}

pub use error::OAuthError;
pub use keys::{KeyMaterial, KeySet};
pub use provider::{Directory, DirectoryError, Provider, ProviderSettings};
