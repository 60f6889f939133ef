//! What the administration service takes and gives: people as administrators read and write
//! them, with the realm file's names for the same things (`given_name`, `roles` by name,
//! `location` as a path), never ids where a name is what people use.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A person as an administrator sees him.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PersonView {
    /// Lanyard's id (the `sub` of his tokens).
    pub id: String,
    /// His tenant's slug.
    pub tenant: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email address.
    pub email: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// `internal` or `external`.
    pub kind: Option<String>,
    /// `invited`, `active`, `suspended` or `archived`.
    pub status: String,
    /// Role names.
    pub roles: Vec<String>,
    /// The main role's name.
    pub main_role: Option<String>,
    /// Location path, `Company > Region > Location`.
    pub location: Option<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// Custom attributes.
    pub attributes: BTreeMap<String, String>,
    /// Employment records (on a single read, not in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employments: Option<Vec<EmploymentView>>,
    /// Sensitive fields: present only for callers allowed to see them.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<SensitiveView>,
    /// Whether his personal data was anonymised.
    pub anonymised: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Bumped by every change; also the `ETag`.
    pub version: i64,
}

/// Date of birth and NI number, shown only to those allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SensitiveView {
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// UK National Insurance number.
    pub national_insurance_number: Option<String>,
}

/// One employment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EmploymentView {
    /// The account's name.
    pub account: String,
    /// `YYYY-MM-DD`.
    pub starts_on: String,
    /// `YYYY-MM-DD`, if ended or ending.
    pub ends_on: Option<String>,
    /// The main account.
    pub main: bool,
}

/// A person to create.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    /// Tenant slug; default: the caller's own.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email address (this or `username` is required).
    #[serde(default)]
    pub email: Option<String>,
    /// Username.
    #[serde(default)]
    pub username: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// `internal` or `external`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `active` (default) or `invited`.
    #[serde(default)]
    pub status: Option<String>,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The main role (default: the highest-ranked).
    #[serde(default)]
    pub main_role: Option<String>,
    /// Location path.
    #[serde(default)]
    pub location: Option<String>,
    /// Group names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Custom attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// `YYYY-MM-DD` (only for callers who may see sensitive fields).
    #[serde(default)]
    pub date_of_birth: Option<String>,
    /// QQ123456C (only for callers who may see sensitive fields).
    #[serde(default)]
    pub national_insurance_number: Option<String>,
}

/// A partial change: every field left out is left as it is; `null` clears an optional one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Email address.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Username.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    /// Phone number.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// `internal` or `external`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub kind: Option<Option<String>>,
    /// Role names (replaces them all).
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// The main role.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub main_role: Option<Option<String>>,
    /// Location path.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    /// Group names (replaces them all).
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Custom attributes (replaces them all).
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, String>>,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub date_of_birth: Option<Option<String>>,
    /// QQ123456C.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub national_insurance_number: Option<Option<String>>,
    /// Not changeable here: the lifecycle calls (`/suspend`, `/reactivate`, `/archive`) do it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub status: Option<serde_json::Value>,
}

/// A field that was present in the body, `null` or not.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl PersonPatch {
    /// Whether it touches sensitive fields.
    pub fn touches_sensitive(&self) -> bool {
        self.date_of_birth.is_some() || self.national_insurance_number.is_some()
    }
}

/// The roles of a person: a replacement set and the main one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesChange {
    /// Role names.
    pub roles: Vec<String>,
    /// The main role (default: the highest-ranked).
    #[serde(default)]
    pub main_role: Option<String>,
}

/// A page of people.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PeoplePage {
    /// The people.
    pub items: Vec<PersonView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A role as administrators see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    /// Name.
    pub name: String,
    /// Rank: higher manages lower.
    pub rank: i32,
    /// `self`, `location`, `location_subtree`, `organisation`, `organisation_and_clients`.
    pub scope: String,
    /// Privilege names.
    pub privileges: Vec<String>,
    /// Reporting only.
    pub reports_only: bool,
    /// Holders may sign in.
    pub can_sign_in: bool,
    /// Holders see sensitive fields.
    pub sees_sensitive: bool,
    /// Whether the caller may grant it.
    pub assignable: bool,
}

/// A location as administrators see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LocationView {
    /// Path, `Company > Region > Location`.
    pub path: String,
    /// Level (`company`, `region`, …).
    pub kind: String,
    /// Its tenant's slug.
    pub tenant: String,
}
