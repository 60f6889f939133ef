//! The fuzz targets' bodies: each takes one input and must never panic, hang or allocate
//! without bound, whatever the input.

pub mod jwt;
pub mod metadata;
pub mod oauth_request;
pub mod realm;
pub mod saml_post;
pub mod saml_redirect;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target by name.
pub const ALL: [(&str, Target); 6] = [
    ("saml_redirect", saml_redirect::run),
    ("saml_post", saml_post::run),
    ("oauth_request", oauth_request::run),
    ("jwt", jwt::run),
    ("realm", realm::run),
    ("metadata", metadata::run),
];
