//! The sign-in journey, in one place and protocol-neutral.
//!
//! A protocol (OIDC's `/authorize`, SAML's `/saml/sso` and `/saml/init`) describes what the
//! app asked for ([`journey::Wants`]) and where the request came from ([`journey::Origin`]),
//! and calls [`flow::start`]. The journey answers from the browser's session, or leads
//! through the sign-in pages ([`crate::web`]): every first factor — password, passkey, and
//! the upstreams to come — enters through [`flow::first_factor`], the second factors through
//! [`flow::second_factor`], and [`decide::next`] alone says what comes next. When the person
//! is signed in, [`flow::answer`] hands back to the protocol with one match on the origin.
//!
//! This module imports neither `crate::oidc` nor `crate::saml` nor the pages.

pub(crate) mod decide;
pub(crate) mod flow;
pub(crate) mod journey;
pub(crate) mod upstreams;
