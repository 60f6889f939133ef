//! `lanyard-core` owns Lanyard's user model and the rules that govern it: typed ids, tenants and
//! their client organisations, the location tree, accounts and employment, users and their
//! statuses, ranked roles with scope and delegation, password policy and password hashing.
//!
//! It is pure: no I/O, no async, no framework types, no system clock (time comes from a
//! [`Clock`] the caller passes in). Every other crate builds on it; it depends on none of them.
#![forbid(unsafe_code)]

pub mod account;
pub mod audit;
pub mod client;
pub mod clock;
pub mod ids;
pub mod location;
pub mod password;
pub mod policy;
pub mod preset;
pub mod random;
pub mod role;
pub mod saml;
pub mod scope;
pub mod secret;
pub mod status;
pub mod tenant;
pub mod user;

pub use account::{Account, AccountKind, Employment, EmploymentError};
pub use audit::AuditActor;
pub use client::{AuthMethod, ClientKind, ClientSpec, GrantType, SigningAlg};
pub use clock::{Clock, FixedClock, SystemClock};
pub use ids::{AccountId, AuditId, EmploymentId, IdGen, LocationId, RoleId, TenantId, UserId};
pub use location::{Location, LocationError, LocationTree};
pub use password::{Argon2Params, HashMemory, PasswordError, PasswordHash};
pub use policy::{PasswordPolicy, PolicyViolation};
pub use preset::RolePreset;
pub use role::{Privilege, Role, RoleSet, ScopeKind};
pub use saml::{NameIdFormat, SamlSpSpec};
pub use scope::{Holder, Orgs};
pub use secret::Secret;
pub use status::{Status, StatusError};
pub use tenant::{Tenant, TenantError};
pub use user::{FieldError, SensitiveFields, User, UserKind, UserProfile};

#[cfg(test)]
mod rules_tests;
