//! The SAML 2.0 identity provider: metadata, the Web Browser SSO profile (SP- and
//! IdP-initiated, requests by HTTP-Redirect or HTTP-POST, responses by HTTP-POST) and Single
//! Logout. XML signatures are made and checked by xmlsec through `samael`; everything this
//! crate writes is built by hand with every value escaped, so no user data can become markup.

pub mod keys;
pub mod message;
pub mod metadata;
pub mod response;
pub mod xml;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests;

use lanyard_core::NameIdFormat;
use serde::{Deserialize, Serialize};

pub use keys::{SamlKey, SamlKeys};

/// Top-level status: the request was wrong.
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
/// Top-level status: the IdP could not answer.
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
/// Top-level status: success.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// Second-level status: `IsPassive` and nobody signed in.
pub const STATUS_NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
/// Second-level status: the NameID format cannot be given.
pub const STATUS_INVALID_NAME_ID_POLICY: &str =
    "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";
/// Second-level status: the requested authentication context cannot be met.
pub const STATUS_NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";
/// Second-level status: the request is not supported.
pub const STATUS_REQUEST_UNSUPPORTED: &str =
    "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported";
/// Second-level status: the person could not be authenticated (refused).
pub const STATUS_REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";
/// Second-level status: a logout could not reach every participant.
pub const STATUS_PARTIAL_LOGOUT: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";

/// Authentication context: a password over TLS.
pub const AC_PASSWORD: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
/// Authentication context: multi-factor (the REFEDS MFA profile).
pub const AC_MFA: &str = "https://refeds.org/profile/mfa";

/// The IdP's entity id for an issuer URL.
pub fn entity_id(issuer: &str) -> String {
    format!("{}/saml/metadata", issuer.trim_end_matches('/'))
}

/// The single sign-on endpoint.
pub fn sso_url(issuer: &str) -> String {
    format!("{}/saml/sso", issuer.trim_end_matches('/'))
}

/// The single logout endpoint.
pub fn slo_url(issuer: &str) -> String {
    format!("{}/saml/slo", issuer.trim_end_matches('/'))
}

/// Why a SAML message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    /// Nothing can be sent to the SP (unknown SP, untrusted ACS, bad signature, malformed
    /// message): the person sees an error page.
    #[error("{0}")]
    Page(String),
    /// The request was understood and its ACS is trusted: the SP gets a SAML error status.
    #[error("{message}")]
    Status {
        /// Where and to whom.
        reply: Box<Reply>,
        /// Second-level status code.
        code: &'static str,
        /// Top-level status code.
        top: &'static str,
        /// Human-readable detail.
        message: String,
    },
    /// Something on our side failed.
    #[error("internal SAML error: {0}")]
    Internal(String),
}

/// Where an answer to an authentication request goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The SP's entity id.
    pub sp: String,
    /// The trusted ACS URL.
    pub acs_url: String,
    /// The request's id (`None` for an unsolicited response).
    pub in_response_to: Option<String>,
    /// `RelayState`, returned as it came.
    pub relay_state: Option<String>,
}

/// A checked authentication request (or an IdP-initiated sign-in), kept across the sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlAuthn {
    /// Where the answer goes.
    pub reply: Reply,
    /// The NameID format to give.
    pub name_id_format: NameIdFormat,
    /// `ForceAuthn`: authenticate again even inside a session.
    pub force_authn: bool,
    /// `IsPassive`: never show a page.
    pub is_passive: bool,
    /// The SP asked for multi-factor authentication.
    pub want_mfa: bool,
    /// When the request arrived (Unix seconds), so `ForceAuthn` can be checked at the end.
    pub received_at: i64,
}

/// One service provider that received an assertion in an SSO session (for logout).
pub use lanyard_session::SamlParticipant;
