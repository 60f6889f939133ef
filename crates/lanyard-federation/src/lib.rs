//! `lanyard-federation`: the identity providers people sign in *through* — today OpenID
//! Connect (Microsoft Entra ID / Azure AD, Google, any standard provider). It validates what
//! an upstream says and maps it to a Lanyard person; the journey, the pages and the store
//! are the server's. No HTTP server, no database.
#![forbid(unsafe_code)]

pub mod connection;
pub mod id_token;
pub mod mapping;
pub mod upstream;

pub use connection::OidcConnection;
pub use id_token::{IdClaims, Rejection};
pub use mapping::{map, Mapped, RoleRule, Rules};
pub use upstream::{Upstream, UpstreamError};
