//! A person's status, its legal transitions, and who may sign in.

use crate::role::Role;
use serde::{Deserialize, Serialize};

/// Where a person stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Invited, not yet accepted: no sign-in.
    Invited,
    /// Active.
    Active,
    /// Suspended: no sign-in, no mail; reversible.
    Suspended,
    /// Archived: final; the record stays for audit.
    Archived,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 4] = [
        Status::Invited,
        Status::Active,
        Status::Suspended,
        Status::Archived,
    ];

    /// The name used in realm files and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Invited => "invited",
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Archived => "archived",
        }
    }

    /// Parse the name used in realm files and storage.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether mail may be sent to a person in this status.
    pub fn may_receive_mail(self) -> bool {
        matches!(self, Status::Invited | Status::Active)
    }

    /// Checks a move from `self` to `to`. Invited becomes active on acceptance; active and
    /// suspended swap freely; anything but archived may be archived; archived is final.
    pub fn transition(self, to: Status) -> Result<Status, StatusError> {
        use Status::*;
        match (self, to) {
            (Invited, Invited)
            | (Active, Active)
            | (Suspended, Suspended)
            | (Archived, Archived) => Err(StatusError::Unchanged(self)),
            (Archived, Invited | Active | Suspended) => Err(StatusError::ArchivedIsFinal),
            (Invited, Active | Suspended | Archived) => Ok(to),
            (Active, Suspended | Archived) | (Suspended, Active | Archived) => Ok(to),
            (Active | Suspended, Invited) => Err(StatusError::CannotReinvite),
        }
    }
}

/// Why a status change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// Already in that status.
    #[error("the person is already {}", .0.as_str())]
    Unchanged(Status),
    /// Archived people stay archived.
    #[error("an archived person cannot change status")]
    ArchivedIsFinal,
    /// A person who has accepted cannot go back to invited.
    #[error("a person who has accepted cannot be invited again")]
    CannotReinvite,
}

/// Why a person may not sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignInRefusal {
    /// Has not accepted the invitation.
    #[error("the invitation has not been accepted yet")]
    Invited,
    /// Suspended.
    #[error("the account is suspended")]
    Suspended,
    /// Archived.
    #[error("the account is archived")]
    Archived,
    /// None of his roles allows sign-in.
    #[error("none of the person's roles allows sign-in")]
    NoSignInRole,
}

/// Whether a person in `status` holding `roles` may sign in.
pub fn may_sign_in(status: Status, roles: &[Role]) -> Result<(), SignInRefusal> {
    match status {
        Status::Invited => Err(SignInRefusal::Invited),
        Status::Suspended => Err(SignInRefusal::Suspended),
        Status::Archived => Err(SignInRefusal::Archived),
        Status::Active if roles.iter().any(|r| r.can_sign_in) => Ok(()),
        Status::Active => Err(SignInRefusal::NoSignInRole),
    }
}
