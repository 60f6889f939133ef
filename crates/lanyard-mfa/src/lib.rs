//! `lanyard-mfa` owns the second factors: TOTP (RFC 6238) with replay protection, WebAuthn
//! passkeys and security keys (second factor and passwordless), single-use recovery codes, and
//! the decision whether a sign-in needs a second factor.
//!
//! It stores nothing itself and knows nothing of HTTP: the caller keeps secrets (sealed) and
//! ceremony state, and records the last TOTP step used so a code is never accepted twice.
#![forbid(unsafe_code)]

pub mod passkeys;
pub mod recovery;
pub mod totp;

use std::collections::BTreeSet;

/// The class Lanyard puts in `acr` for a password alone.
pub const ACR_PASSWORD: &str = "urn:lanyard:acr:password";
/// The class for a sign-in with a second factor (or a user-verified passkey).
pub const ACR_MFA: &str = "urn:lanyard:acr:mfa";

/// A second factor that was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// A TOTP code.
    Totp,
    /// A passkey or security key.
    Passkey,
    /// A recovery code.
    RecoveryCode,
}

impl Factor {
    /// Its RFC 8176 method reference.
    pub fn amr(self) -> &'static str {
        match self {
            Factor::Totp | Factor::RecoveryCode => "otp",
            Factor::Passkey => "hwk",
        }
    }
}

/// The `amr` values for the methods used, with `mfa` when there was more than one kind of proof
/// (RFC 8176 §2). A user-verified passkey on its own counts as multi-factor.
pub fn amr(password: bool, second: Option<Factor>) -> Vec<String> {
    let mut out: BTreeSet<&str> = BTreeSet::new();
    if password {
        out.insert("pwd");
    }
    if let Some(f) = second {
        out.insert(f.amr());
        out.insert("mfa");
    }
    out.into_iter().map(str::to_string).collect()
}

/// The `acr` for `amr`.
pub fn acr(amr: &[String]) -> &'static str {
    if amr.iter().any(|a| a == "mfa") {
        ACR_MFA
    } else {
        ACR_PASSWORD
    }
}

/// Why a second factor is required for this sign-in, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// None: a password is enough (though enrolled people are still asked).
    None,
    /// The tenant, one of the person's roles, the client or the request demands one.
    Required,
}

/// Decides whether a sign-in must include a second factor.
pub fn requirement(
    tenant: &lanyard_core::tenant::MfaPolicy,
    roles: &[String],
    client_requires: bool,
    acr_values: &[String],
) -> Requirement {
    if tenant.requires(roles) || client_requires || acr_values.iter().any(|a| a == ACR_MFA) {
        Requirement::Required
    } else {
        Requirement::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanyard_core::tenant::MfaPolicy;

    #[test]
    fn amr_values_follow_rfc8176() {
        assert_eq!(amr(true, None), ["pwd"]);
        assert_eq!(amr(true, Some(Factor::Totp)), ["mfa", "otp", "pwd"]);
        assert_eq!(amr(false, Some(Factor::Passkey)), ["hwk", "mfa"]);
        assert_eq!(acr(&amr(true, None)), ACR_PASSWORD);
        assert_eq!(acr(&amr(true, Some(Factor::RecoveryCode))), ACR_MFA);
    }

    #[test]
    fn policy_table() {
        let admins = MfaPolicy {
            required_roles: vec!["Local Administrator".into()],
            ..Default::default()
        };
        let everyone = MfaPolicy {
            required: true,
            ..Default::default()
        };
        let none = MfaPolicy::default();
        let student = vec!["Student".to_string()];
        let admin = vec!["Student".to_string(), "local administrator".to_string()];
        let mfa = vec![ACR_MFA.to_string()];
        let table = [
            (&none, &student, false, &vec![], Requirement::None),
            (&none, &student, true, &vec![], Requirement::Required),
            (&none, &student, false, &mfa, Requirement::Required),
            (&admins, &student, false, &vec![], Requirement::None),
            (&admins, &admin, false, &vec![], Requirement::Required),
            (&everyone, &student, false, &vec![], Requirement::Required),
        ];
        for (policy, roles, client, acr_values, want) in table {
            assert_eq!(
                requirement(policy, roles, client, acr_values),
                want,
                "{policy:?} {roles:?} {client} {acr_values:?}"
            );
        }
    }
}
