//! OAuth 2.0 / OpenID Connect errors and the one place they become wire values.

/// An error the protocol defines (RFC 6749 §4.1.2.1 and §5.2, OIDC Core §3.1.2.6, RFC 6750).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// Malformed or missing parameter.
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Client authentication failed.
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    /// Bad, expired, used or revoked grant.
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    /// The client may not use this grant or flow.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    /// Grant type not supported.
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    /// Response type not supported.
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(String),
    /// Scope not allowed or unknown.
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// The person or the server refused.
    #[error("access_denied: {0}")]
    AccessDenied(String),
    /// `prompt=none` but the person must sign in.
    #[error("login_required")]
    LoginRequired,
    /// `prompt=none` but interaction (e.g. a second factor) is needed.
    #[error("interaction_required")]
    InteractionRequired,
    /// `request` objects are not supported.
    #[error("request_not_supported")]
    RequestNotSupported,
    /// `request_uri` is not supported.
    #[error("request_uri_not_supported")]
    RequestUriNotSupported,
    /// A bearer token is missing, expired, revoked or malformed (RFC 6750).
    #[error("invalid_token: {0}")]
    InvalidToken(String),
    /// The client may not use this endpoint.
    #[error("insufficient_scope: {0}")]
    InsufficientScope(String),
    /// A dependency (session store, database) is unavailable.
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable,
    /// A bug or unexpected failure; details are logged, never sent.
    #[error("server_error")]
    ServerError(String),
}

/// How an error goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    /// HTTP status for direct (non-redirect) responses.
    pub status: u16,
    /// The `error` code.
    pub code: &'static str,
    /// The `error_description` (never internal details).
    pub description: Option<String>,
}

impl OAuthError {
    /// The wire form. Exhaustive on purpose: a new variant must decide its status and code here.
    pub fn wire(&self) -> Wire {
        let (status, code, description) = match self {
            OAuthError::InvalidRequest(d) => (400, "invalid_request", Some(d.clone())),
            OAuthError::InvalidClient(d) => (401, "invalid_client", Some(d.clone())),
            OAuthError::InvalidGrant(d) => (400, "invalid_grant", Some(d.clone())),
            OAuthError::UnauthorizedClient(d) => (400, "unauthorized_client", Some(d.clone())),
            OAuthError::UnsupportedGrantType(d) => (400, "unsupported_grant_type", Some(d.clone())),
            OAuthError::UnsupportedResponseType(d) => {
                (400, "unsupported_response_type", Some(d.clone()))
            }
            OAuthError::InvalidScope(d) => (400, "invalid_scope", Some(d.clone())),
            OAuthError::AccessDenied(d) => (403, "access_denied", Some(d.clone())),
            OAuthError::LoginRequired => (
                400,
                "login_required",
                Some("the person must sign in".into()),
            ),
            OAuthError::InteractionRequired => (
                400,
                "interaction_required",
                Some("the person must interact".into()),
            ),
            OAuthError::RequestNotSupported => (400, "request_not_supported", None),
            OAuthError::RequestUriNotSupported => (400, "request_uri_not_supported", None),
            OAuthError::InvalidToken(d) => (401, "invalid_token", Some(d.clone())),
            OAuthError::InsufficientScope(d) => (403, "insufficient_scope", Some(d.clone())),
            OAuthError::TemporarilyUnavailable => (
                503,
                "temporarily_unavailable",
                Some("try again shortly".into()),
            ),
            OAuthError::ServerError(_) => (500, "server_error", None),
        };
        Wire {
            status,
            code,
            description,
        }
    }
}

impl From<lanyard_session::SessionError> for OAuthError {
    fn from(e: lanyard_session::SessionError) -> Self {
        match e {
            lanyard_session::SessionError::Unavailable(_) => OAuthError::TemporarilyUnavailable,
            lanyard_session::SessionError::Corrupt(m) => OAuthError::ServerError(m),
        }
    }
}

impl From<crate::provider::DirectoryError> for OAuthError {
    fn from(e: crate::provider::DirectoryError) -> Self {
        match e {
            crate::provider::DirectoryError::Unavailable(_) => OAuthError::TemporarilyUnavailable,
            crate::provider::DirectoryError::Failed(m) => OAuthError::ServerError(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_never_reach_the_wire() {
        let w = OAuthError::ServerError("SELECT * FROM secrets failed".into()).wire();
        assert_eq!(
            (w.status, w.code, w.description),
            (500, "server_error", None)
        );
        assert_eq!(OAuthError::InvalidClient("x".into()).wire().status, 401);
        assert_eq!(OAuthError::TemporarilyUnavailable.wire().status, 503);
    }
}
