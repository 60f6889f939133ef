//! Why an administration call was refused, in terms every entry point can render (the HTTP
//! API as RFC 9457 problem details, the CLI as a sentence).

use lanyard_core::FieldError;
use lanyard_store::StoreError;

/// A refused or failed administration call.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No such thing — or one outside the caller's scope: the two are never told apart, so a
    /// refusal reveals nothing about people the caller may not see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller sees the target but may not do this to it; says why.
    #[error("{0}")]
    Forbidden(String),
    /// Input that breaks a rule, by field.
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// A unique value (email, username) is taken.
    #[error("{field} {value:?} is already in use")]
    Taken {
        /// Which field.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// The record changed since the caller read it (`If-Match` no longer matches).
    #[error("the person was changed by someone else since you read them; read again and retry")]
    Stale,
    /// A change the model does not allow now (an archived person reactivated, …).
    #[error("{0}")]
    Conflict(String),
    /// The database or session store does not answer; worth a retry.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else; the detail is logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl AdminError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AdminError::Invalid(vec![FieldError {
            field,
            message: message.into(),
        }])
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AdminError::NotFound(what),
            StoreError::Taken { field, value } => AdminError::Taken { field, value },
            StoreError::Invalid(errs) => AdminError::Invalid(errs),
            StoreError::Stale => AdminError::Stale,
            StoreError::Refused(why) => AdminError::Conflict(why),
            e if e.is_unavailable() => AdminError::Unavailable(e.to_string()),
            other => {
                tracing::error!(error = %other, "administration: store error");
                AdminError::Internal(other.to_string())
            }
        }
    }
}

impl From<lanyard_session::SessionError> for AdminError {
    fn from(e: lanyard_session::SessionError) -> Self {
        AdminError::Unavailable(format!("the session store: {e}"))
    }
}
