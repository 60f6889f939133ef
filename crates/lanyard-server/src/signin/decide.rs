//! What comes next in a sign-in: one pure function over what the app asked, what the browser
//! has proved, and what policy wants of the person. No HTTP, no store: table-tested below.

use super::journey::Wants;

/// What the browser has shown so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// Nothing: no usable session, no factor in this journey.
    Nothing,
    /// A usable SSO session for this tenant.
    Session {
        /// When its person last signed in (Unix seconds).
        auth_time: i64,
        /// Whether that sign-in used more than one factor.
        mfa: bool,
    },
    /// A first factor just passed in this journey.
    FirstFactor {
        /// Whether it proved more than one factor by itself (a user-verified passkey, an
        /// upstream that did MFA and is trusted to say so).
        mfa: bool,
    },
}

/// What policy wants of the person the proof names (ignored for [`Proof::Nothing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Policy {
    /// Tenant, role, app or request demand a second factor.
    pub(crate) mfa_required: bool,
    /// He has a second factor set up (then he is always asked for it after a first factor).
    pub(crate) has_factor: bool,
}

/// Why a passive request cannot be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Nobody (fresh enough) is signed in.
    LoginRequired,
    /// Someone is, but a second factor would have to be asked.
    InteractionRequired,
}

/// The next thing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Answer the app now.
    Answer,
    /// Ask for a second factor.
    SecondFactor,
    /// Make the person set one up.
    Enrol,
    /// Show the sign-in page.
    SignInPage,
    /// Tell the app no (a passive request that needs interaction).
    Refuse(Refusal),
}

/// Whether a session signed in at `auth_time` is fresh enough for `w` at `now`.
pub(crate) fn fresh_enough(w: &Wants, now: i64, auth_time: i64) -> bool {
    !w.force && w.max_age.is_none_or(|m| now - auth_time <= m)
}

/// Whether [`next`] needs [`Policy::has_factor`] for this proof (so callers read a person's
/// factors only when they matter).
pub(crate) fn needs_factors(w: &Wants, now: i64, proof: Proof, mfa_required: bool) -> bool {
    match proof {
        Proof::Nothing => false,
        Proof::Session { auth_time, mfa } => {
            fresh_enough(w, now, auth_time) && !mfa && mfa_required && !w.passive
        }
        Proof::FirstFactor { mfa } => !mfa,
    }
}

/// What comes next.
///
/// A session too old for the request (`max_age`) or one the app wants renewed (`force`) needs
/// the whole sign-in again, first factor included: a second factor alone would report
/// `amr`/`acr` the session no longer has. A fresh session that lacks a required second factor
/// steps up. After a first factor, a person who has a second factor is always asked for it.
pub(crate) fn next(w: &Wants, now: i64, proof: Proof, policy: Policy) -> Next {
    let sign_in = || {
        if w.passive {
            Next::Refuse(Refusal::LoginRequired)
        } else {
            Next::SignInPage
        }
    };
    match proof {
        Proof::Nothing => sign_in(),
        Proof::Session { auth_time, .. } if !fresh_enough(w, now, auth_time) => sign_in(),
        Proof::Session { mfa, .. } if mfa || !policy.mfa_required => Next::Answer,
        Proof::Session { .. } if w.passive => Next::Refuse(Refusal::InteractionRequired),
        Proof::Session { .. } | Proof::FirstFactor { mfa: false } if policy.has_factor => {
            Next::SecondFactor
        }
        Proof::Session { .. } => Next::Enrol,
        Proof::FirstFactor { mfa: true } => Next::Answer,
        Proof::FirstFactor { mfa: false } if policy.mfa_required => Next::Enrol,
        Proof::FirstFactor { mfa: false } => Next::Answer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn wants(force: bool, passive: bool, max_age: Option<i64>) -> Wants {
        Wants {
            force,
            passive,
            max_age,
            ..Wants::default()
        }
    }

    fn session(age: i64, mfa: bool) -> Proof {
        Proof::Session {
            auth_time: NOW - age,
            mfa,
        }
    }

    const NONE: Policy = Policy {
        mfa_required: false,
        has_factor: false,
    };
    const HAS: Policy = Policy {
        mfa_required: false,
        has_factor: true,
    };
    const MUST: Policy = Policy {
        mfa_required: true,
        has_factor: false,
    };
    const MUST_HAS: Policy = Policy {
        mfa_required: true,
        has_factor: true,
    };

    #[test]
    fn every_case_has_one_answer() {
        use Next::*;
        use Refusal::*;
        let plain = wants(false, false, None);
        let passive = wants(false, true, None);
        let forced = wants(true, false, None);
        let forced_passive = wants(true, true, None);
        let young = wants(false, false, Some(60));
        let young_passive = wants(false, true, Some(60));
        let first = |mfa| Proof::FirstFactor { mfa };
        #[rustfmt::skip]
        let table: Vec<(&str, &Wants, Proof, Policy, Next)> = vec![
            ("nobody", &plain, Proof::Nothing, NONE, SignInPage),
            ("nobody, passive", &passive, Proof::Nothing, MUST_HAS, Refuse(LoginRequired)),
            ("session", &plain, session(10, false), NONE, Answer),
            ("session, passive", &passive, session(10, false), NONE, Answer),
            ("session with mfa, mfa required", &plain, session(10, true), MUST_HAS, Answer),
            ("session, has a factor but none required", &plain, session(10, false), HAS, Answer),
            ("session without mfa, required, has factor", &plain, session(10, false), MUST_HAS, SecondFactor),
            ("session without mfa, required, no factor", &plain, session(10, false), MUST, Enrol),
            ("session without mfa, required, passive", &passive, session(10, false), MUST_HAS, Refuse(InteractionRequired)),
            ("forced", &forced, session(0, true), NONE, SignInPage),
            ("forced, passive", &forced_passive, session(0, true), NONE, Refuse(LoginRequired)),
            ("max_age met", &young, session(60, false), NONE, Answer),
            ("max_age exceeded", &young, session(61, true), NONE, SignInPage),
            ("max_age exceeded, passive", &young_passive, session(61, true), NONE, Refuse(LoginRequired)),
            ("max_age exceeded, step-up would be due", &young, session(61, false), MUST_HAS, SignInPage),
            ("password, nothing more", &plain, first(false), NONE, Answer),
            ("password, has a factor", &plain, first(false), HAS, SecondFactor),
            ("password, required, has a factor", &plain, first(false), MUST_HAS, SecondFactor),
            ("password, required, no factor", &plain, first(false), MUST, Enrol),
            ("passkey (mfa by itself)", &plain, first(true), MUST_HAS, Answer),
            ("upstream mfa trusted, no local factor", &plain, first(true), MUST, Answer),
        ];
        for (case, w, proof, policy, want) in table {
            assert_eq!(next(w, NOW, proof, policy), want, "{case}");
        }
    }

    #[test]
    fn factors_are_read_only_when_they_decide() {
        let plain = wants(false, false, None);
        for (proof, required, policies) in [
            (Proof::Nothing, true, false),
            (session(10, true), true, false),
            (session(10, false), false, false),
            (session(10, false), true, true),
            (Proof::FirstFactor { mfa: false }, false, true),
            (Proof::FirstFactor { mfa: true }, true, false),
        ] {
            assert_eq!(
                needs_factors(&plain, NOW, proof, required),
                policies,
                "{proof:?}"
            );
            // Where factors are not read, either value gives the same answer.
            if !policies {
                let p = |has_factor| Policy {
                    mfa_required: required,
                    has_factor,
                };
                assert_eq!(
                    next(&plain, NOW, proof, p(true)),
                    next(&plain, NOW, proof, p(false)),
                    "{proof:?}"
                );
            }
        }
    }
}
