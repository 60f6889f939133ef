//! Applying a declarative realm (tenants, locations, accounts, roles, users) in one
//! transaction: things are matched by their natural keys (tenant slug, location path, account
//! and role name, user email or username), only differences are written, and every write is
//! audited. Applying the same realm twice writes nothing the second time. Things that exist in
//! the database but not in the realm are left alone.

use crate::audit::AuditRecord;
use crate::org::{accounts_of, locations_of, roles_of, tenant_by_slug};
use crate::rows::{self, b};
use crate::users::{check_refs, find_by_login, forgotten, snapshot, write_password, write_user};
use crate::{Store, StoreError};
use lanyard_core::account::{validate_employments, AccountKind, Employment, GUEST_ACCOUNT_NAME};
use lanyard_core::role::{Privilege, Role, ScopeKind};
use lanyard_core::tenant::{Branding, Tenant};
use lanyard_core::user::UserProfile;
use lanyard_core::{
    AccountId, AuditActor, LocationId, PasswordHash, PasswordPolicy, RoleId, RolePreset, Secret,
    Status, TenantId, User,
};
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::{BTreeMap, BTreeSet};
use time::Date;

/// The desired state, as parsed and cross-checked from a realm file.
#[derive(Debug, Clone, Default)]
pub struct RealmPlan {
    /// Tenants; providers must come before their clients.
    pub tenants: Vec<TenantPlan>,
}

/// One tenant and everything in it.
#[derive(Debug, Clone)]
pub struct TenantPlan {
    /// Slug (natural key).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Provider's slug, for a client organisation.
    pub client_of: Option<String>,
    /// Role preset.
    pub preset: RolePreset,
    /// Password policy.
    pub password_policy: PasswordPolicy,
    /// Branding.
    pub branding: Branding,
    /// Multi-factor policy.
    pub mfa: lanyard_core::tenant::MfaPolicy,
    /// Locations, each by its path of names from the root; parents before children.
    pub locations: Vec<LocationPlan>,
    /// Accounts (the guest account is always added).
    pub accounts: Vec<AccountPlan>,
    /// Roles beyond (or overriding, by name) the preset's.
    pub roles: Vec<RolePlan>,
    /// People.
    pub users: Vec<UserPlan>,
    /// Registered clients (their `tenant_id` is filled in on apply).
    pub clients: Vec<lanyard_core::ClientSpec>,
    /// Registered SAML service providers (their `tenant_id` is filled in on apply).
    pub saml_sps: Vec<lanyard_core::SamlSpSpec>,
    /// Upstream connections (their `tenant_id` is filled in on apply).
    pub connections: Vec<crate::ConnectionRecord>,
}

/// A location.
#[derive(Debug, Clone)]
pub struct LocationPlan {
    /// Names from the root down to this one.
    pub path: Vec<String>,
    /// Level name ("company", "region", …).
    pub kind: String,
}

/// An account.
#[derive(Debug, Clone)]
pub struct AccountPlan {
    /// Name (natural key).
    pub name: String,
    /// Kind.
    pub kind: AccountKind,
}

/// A role.
#[derive(Debug, Clone)]
pub struct RolePlan {
    /// Name (natural key).
    pub name: String,
    /// Rank.
    pub rank: i32,
    /// Scope.
    pub scope: ScopeKind,
    /// Privileges.
    pub privileges: BTreeSet<Privilege>,
    /// Reports only.
    pub reports_only: bool,
    /// May sign in.
    pub can_sign_in: bool,
    /// Sees sensitive fields.
    pub sees_sensitive: bool,
}

/// A person.
#[derive(Debug, Clone)]
pub struct UserPlan {
    /// Profile (email or username is the natural key).
    pub profile: UserProfile,
    /// Status.
    pub status: Status,
    /// Location path.
    pub location: Option<Vec<String>>,
    /// Role names.
    pub roles: Vec<String>,
    /// Main role name (defaults to the highest-ranked role).
    pub main_role: Option<String>,
    /// Employments.
    pub employments: Vec<EmploymentPlan>,
    /// What to do about the password.
    pub password: PasswordPlan,
    /// A TOTP secret (base32) to have enrolled.
    pub totp_secret: Option<Secret>,
    /// The keys the file names for this person (`status`, `roles`, `location`, …): on an
    /// existing person only these change; what the file leaves out is left as it is, so an
    /// apply never undoes what an administrator did through the API or the CLI.
    pub named: BTreeSet<String>,
}

/// An employment.
#[derive(Debug, Clone)]
pub struct EmploymentPlan {
    /// Account name.
    pub account: String,
    /// First day.
    pub starts_on: Date,
    /// Last day.
    pub ends_on: Option<Date>,
    /// Main account.
    pub main: bool,
}

/// What to do about a person's password.
#[derive(Debug, Clone)]
pub enum PasswordPlan {
    /// Leave it as it is (none given, or the given one already matches).
    Keep,
    /// Store this hash.
    Set(PasswordHash),
}

/// What an apply changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Things created.
    pub created: usize,
    /// Things changed.
    pub updated: usize,
    /// Things already as described.
    pub unchanged: usize,
    /// People the file describes that the apply left alone, and why (archived, anonymised).
    pub left_alone: Vec<String>,
}

impl ApplyReport {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    fn and(self, other: Outcome) -> Outcome {
        match (self, other) {
            (Outcome::Created, _) | (_, Outcome::Created) => Outcome::Created,
            (Outcome::Updated, _) | (_, Outcome::Updated) => Outcome::Updated,
            _ => Outcome::Unchanged,
        }
    }
}

struct Ctx<'a> {
    store: &'a Store,
    actor: AuditActor,
    report: ApplyReport,
}

impl Ctx<'_> {
    /// Appends the audit record of a change and counts it.
    async fn log(
        &mut self,
        conn: &mut AnyConnection,
        rec: AuditRecord,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        self.store.append_audit(conn, rec).await?;
        self.report.count(outcome);
        Ok(())
    }
}

impl Store {
    /// Applies `plan` in one transaction; on any error nothing is written.
    pub async fn apply_realm(
        &self,
        plan: &RealmPlan,
        actor: &AuditActor,
    ) -> Result<ApplyReport, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut cx = Ctx {
            store: self,
            actor: actor.clone(),
            report: ApplyReport::default(),
        };
        for t in &plan.tenants {
            apply_tenant(&mut cx, &mut tx, t).await?;
        }
        tx.commit().await?;
        Ok(cx.report)
    }
}

async fn apply_tenant(
    cx: &mut Ctx<'_>,
    conn: &mut AnyConnection,
    t: &TenantPlan,
) -> Result<(), StoreError> {
    let client_of = match &t.client_of {
        Some(slug) => Some(
            tenant_by_slug(conn, slug)
                .await?
                .ok_or_else(|| StoreError::invalid("client_of", format!("no tenant {slug:?}")))?
                .id,
        ),
        None => None,
    };
    let existing = tenant_by_slug(conn, &t.slug).await?;
    let tenant = Tenant {
        id: existing
            .as_ref()
            .map(|e| e.id)
            .unwrap_or_else(|| cx.store.ids().next()),
        slug: t.slug.clone(),
        name: t.name.clone(),
        client_of,
        preset: t.preset,
        password_policy: t.password_policy.clone(),
        branding: t.branding.clone(),
        mfa: t.mfa.clone(),
    };
    tenant
        .validate()
        .map_err(|e| StoreError::invalid("tenant", e.to_string()))?;
    let now = cx.store.now_ms();
    let js = |v: &dyn erased::Json| v.json();
    if existing.as_ref() != Some(&tenant) {
        let sql = if existing.is_some() {
            "UPDATE tenants SET slug = $2, name = $3, client_of = $4, preset = $5, password_policy = $6, branding = $7, updated_at = $8, mfa_policy = $9 WHERE id = $1"
        } else {
            "INSERT INTO tenants (id, slug, name, client_of, preset, password_policy, branding, created_at, updated_at, mfa_policy) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)"
        };
        sqlx::query(sql)
            .bind(tenant.id.to_string())
            .bind(tenant.slug.clone())
            .bind(tenant.name.clone())
            .bind(client_of.map(|c| c.to_string()))
            .bind(tenant.preset.as_str())
            .bind(js(&tenant.password_policy))
            .bind(js(&tenant.branding))
            .bind(now)
            .bind(js(&tenant.mfa))
            .execute(&mut *conn)
            .await?;
        let action = if existing.is_some() {
            "tenant.update"
        } else {
            "tenant.create"
        };
        let rec = AuditRecord::new(Some(tenant.id), &cx.actor, action, "tenant", tenant.id)
            .before_opt(existing.as_ref())
            .after(&tenant);
        cx.log(
            conn,
            rec,
            if existing.is_some() {
                Outcome::Updated
            } else {
                Outcome::Created
            },
        )
        .await?;
    } else {
        cx.report.count(Outcome::Unchanged);
    }

    if client_of.is_none() {
        apply_roles(cx, conn, tenant.id, t).await?;
    } else if !t.roles.is_empty() {
        return Err(StoreError::invalid(
            "roles",
            "a client organisation uses its provider's roles",
        ));
    }
    let locations = apply_locations(cx, conn, tenant.id, &t.locations).await?;
    let mut accounts = t.accounts.clone();
    if !accounts.iter().any(|a| a.kind == AccountKind::Guest) {
        accounts.push(AccountPlan {
            name: GUEST_ACCOUNT_NAME.into(),
            kind: AccountKind::Guest,
        });
    }
    let accounts = apply_accounts(cx, conn, tenant.id, &accounts).await?;
    let role_owner = client_of.unwrap_or(tenant.id);
    let roles = roles_of(conn, role_owner).await?;
    for u in &t.users {
        apply_user(cx, conn, tenant.id, u, &locations, &accounts, &roles).await?;
    }
    for c in &t.clients {
        let spec = lanyard_core::ClientSpec {
            tenant_id: tenant.id,
            ..c.clone()
        };
        let changed = crate::clients::put_client(cx.store, conn, &cx.actor, &spec).await?;
        cx.report.count(match changed {
            None => Outcome::Unchanged,
            Some(true) => Outcome::Created,
            Some(false) => Outcome::Updated,
        });
    }
    for sp in &t.saml_sps {
        let spec = lanyard_core::SamlSpSpec {
            tenant_id: tenant.id,
            ..sp.clone()
        };
        let changed = crate::saml::put_sp(cx.store, conn, &cx.actor, &spec).await?;
        cx.report.count(match changed {
            None => Outcome::Unchanged,
            Some(true) => Outcome::Created,
            Some(false) => Outcome::Updated,
        });
    }
    for c in &t.connections {
        let rec = crate::ConnectionRecord {
            tenant_id: tenant.id,
            ..c.clone()
        };
        let changed = crate::federation::put_connection(cx.store, conn, &cx.actor, &rec).await?;
        cx.report.count(match changed {
            None => Outcome::Unchanged,
            Some(true) => Outcome::Created,
            Some(false) => Outcome::Updated,
        });
    }
    Ok(())
}

mod erased {
    /// Serialises to JSON text (settings columns).
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

async fn apply_roles(
    cx: &mut Ctx<'_>,
    conn: &mut AnyConnection,
    tenant: TenantId,
    t: &TenantPlan,
) -> Result<(), StoreError> {
    let mut desired: Vec<RolePlan> = t
        .preset
        .roles()
        .iter()
        .map(|s| RolePlan {
            name: s.name.into(),
            rank: s.rank,
            scope: s.scope,
            privileges: s.privileges.iter().copied().collect(),
            reports_only: s.reports_only,
            can_sign_in: s.can_sign_in,
            sees_sensitive: s.sees_sensitive,
        })
        .collect();
    for r in &t.roles {
        desired.retain(|d| !d.name.eq_ignore_ascii_case(&r.name));
        desired.push(r.clone());
    }
    let existing = roles_of(conn, tenant).await?;
    for d in desired {
        let old = existing
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(&d.name));
        let role = Role {
            id: old.map(|o| o.id).unwrap_or_else(|| cx.store.ids().next()),
            tenant_id: tenant,
            name: d.name.clone(),
            rank: d.rank,
            scope: d.scope,
            privileges: d.privileges.clone(),
            reports_only: d.reports_only,
            can_sign_in: d.can_sign_in,
            sees_sensitive: d.sees_sensitive,
        };
        role.validate()
            .map_err(|e| StoreError::invalid("roles", e.to_string()))?;
        if old == Some(&role) {
            cx.report.count(Outcome::Unchanged);
            continue;
        }
        let now = cx.store.now_ms();
        let sql = if old.is_some() {
            "UPDATE roles SET tenant_id = $2, name = $3, name_lower = $4, rank = $5, scope = $6, reports_only = $7, can_sign_in = $8, sees_sensitive = $9, updated_at = $10 WHERE id = $1"
        } else {
            "INSERT INTO roles (id, tenant_id, name, name_lower, rank, scope, reports_only, can_sign_in, sees_sensitive, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"
        };
        sqlx::query(sql)
            .bind(role.id.to_string())
            .bind(tenant.to_string())
            .bind(role.name.clone())
            .bind(role.name.to_lowercase())
            .bind(i64::from(role.rank))
            .bind(role.scope.as_str())
            .bind(b(role.reports_only))
            .bind(b(role.can_sign_in))
            .bind(b(role.sees_sensitive))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM role_privileges WHERE role_id = $1")
            .bind(role.id.to_string())
            .execute(&mut *conn)
            .await?;
        for p in &role.privileges {
            sqlx::query("INSERT INTO role_privileges (role_id, privilege) VALUES ($1, $2)")
                .bind(role.id.to_string())
                .bind(p.as_str())
                .execute(&mut *conn)
                .await?;
        }
        let action = if old.is_some() {
            "role.update"
        } else {
            "role.create"
        };
        let rec = AuditRecord::new(Some(tenant), &cx.actor, action, "role", role.id)
            .before_opt(old)
            .after(&role);
        cx.log(
            conn,
            rec,
            if old.is_some() {
                Outcome::Updated
            } else {
                Outcome::Created
            },
        )
        .await?;
    }
    Ok(())
}

type PathKey = Vec<String>;

fn path_key(path: &[String]) -> PathKey {
    path.iter().map(|p| p.to_lowercase()).collect()
}

async fn apply_locations(
    cx: &mut Ctx<'_>,
    conn: &mut AnyConnection,
    tenant: TenantId,
    plans: &[LocationPlan],
) -> Result<BTreeMap<PathKey, LocationId>, StoreError> {
    let existing = locations_of(conn, tenant).await?;
    let tree = lanyard_core::LocationTree::new(existing.clone())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut ids: BTreeMap<PathKey, LocationId> = existing
        .iter()
        .map(|l| (path_key(&tree.path(l.id)), l.id))
        .collect();
    for p in plans {
        let Some((name, parent_path)) = p.path.split_last() else {
            continue;
        };
        let parent = if parent_path.is_empty() {
            None
        } else {
            Some(*ids.get(&path_key(parent_path)).ok_or_else(|| {
                StoreError::invalid(
                    "locations",
                    format!("parent of {:?} is not defined", p.path.join(" > ")),
                )
            })?)
        };
        let key = path_key(&p.path);
        if let Some(id) = ids.get(&key) {
            let old = existing.iter().find(|l| l.id == *id);
            if old.is_some_and(|o| o.kind != p.kind || o.name != *name) {
                sqlx::query("UPDATE locations SET kind = $2, name = $3 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(p.kind.clone())
                    .bind(name.clone())
                    .execute(&mut *conn)
                    .await?;
                let rec =
                    AuditRecord::new(Some(tenant), &cx.actor, "location.update", "location", id)
                        .before_opt(old)
                        .after(json!({"name": name, "kind": p.kind}));
                cx.log(conn, rec, Outcome::Updated).await?;
            } else {
                cx.report.count(Outcome::Unchanged);
            }
            continue;
        }
        let id: LocationId = cx.store.ids().next();
        sqlx::query("INSERT INTO locations (id, tenant_id, parent_id, name, name_lower, kind, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(id.to_string())
            .bind(tenant.to_string())
            .bind(parent.map(|x| x.to_string()))
            .bind(name.clone())
            .bind(name.to_lowercase())
            .bind(p.kind.clone())
            .bind(cx.store.now_ms())
            .execute(&mut *conn)
            .await?;
        let rec = AuditRecord::new(Some(tenant), &cx.actor, "location.create", "location", id)
            .after(json!({"path": p.path, "kind": p.kind}));
        cx.log(conn, rec, Outcome::Created).await?;
        ids.insert(key, id);
    }
    Ok(ids)
}

async fn apply_accounts(
    cx: &mut Ctx<'_>,
    conn: &mut AnyConnection,
    tenant: TenantId,
    plans: &[AccountPlan],
) -> Result<BTreeMap<String, AccountId>, StoreError> {
    let existing = accounts_of(conn, tenant).await?;
    let mut ids: BTreeMap<String, AccountId> = existing
        .iter()
        .map(|a| (a.name.to_lowercase(), a.id))
        .collect();
    for p in plans {
        if p.name.trim().is_empty() || p.name.chars().count() > 200 {
            return Err(StoreError::invalid(
                "accounts",
                "account names must be 1 to 200 characters",
            ));
        }
        match existing
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(&p.name))
        {
            Some(a) if a.kind == p.kind && a.name == p.name => cx.report.count(Outcome::Unchanged),
            Some(a) => {
                sqlx::query("UPDATE accounts SET kind = $2, name = $3 WHERE id = $1")
                    .bind(a.id.to_string())
                    .bind(p.kind.as_str())
                    .bind(p.name.clone())
                    .execute(&mut *conn)
                    .await?;
                let rec =
                    AuditRecord::new(Some(tenant), &cx.actor, "account.update", "account", a.id)
                        .before(a)
                        .after(json!({"name": p.name, "kind": p.kind}));
                cx.log(conn, rec, Outcome::Updated).await?;
            }
            None => {
                let id: AccountId = cx.store.ids().next();
                sqlx::query("INSERT INTO accounts (id, tenant_id, name, name_lower, kind, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(id.to_string())
                    .bind(tenant.to_string())
                    .bind(p.name.clone())
                    .bind(p.name.to_lowercase())
                    .bind(p.kind.as_str())
                    .bind(cx.store.now_ms())
                    .execute(&mut *conn)
                    .await?;
                let rec =
                    AuditRecord::new(Some(tenant), &cx.actor, "account.create", "account", id)
                        .after(json!({"name": p.name, "kind": p.kind}));
                cx.log(conn, rec, Outcome::Created).await?;
                ids.insert(p.name.to_lowercase(), id);
            }
        }
    }
    Ok(ids)
}

async fn apply_user(
    cx: &mut Ctx<'_>,
    conn: &mut AnyConnection,
    tenant: TenantId,
    p: &UserPlan,
    locations: &BTreeMap<PathKey, LocationId>,
    accounts: &BTreeMap<String, AccountId>,
    roles: &[Role],
) -> Result<(), StoreError> {
    let login = p
        .profile
        .email
        .as_deref()
        .or(p.profile.username.as_deref())
        .unwrap_or_default();
    let existing = find_by_login(conn, tenant, login).await?;
    if let Some(old) = &existing {
        if old.status == Status::Archived || old.anonymised {
            let says_archived = p.named.contains("status") && p.status == Status::Archived;
            if says_archived && !old.anonymised {
                cx.report.count(Outcome::Unchanged);
            } else {
                cx.report.left_alone.push(format!(
                    "{login}: archived{}; a realm file never brings a person back",
                    if old.anonymised {
                        " and anonymised"
                    } else {
                        ""
                    }
                ));
            }
            return Ok(());
        }
    } else if forgotten(cx.store, conn, tenant, login).await? {
        cx.report.left_alone.push(format!(
            "{login}: this person was anonymised; a realm file never brings a person back"
        ));
        return Ok(());
    }
    let named = |k: &str| existing.is_none() || p.named.contains(k);
    let role_id = |name: &str| -> Result<RoleId, StoreError> {
        roles
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
            .map(|r| r.id)
            .ok_or_else(|| StoreError::invalid("roles", format!("no role {name:?}")))
    };
    let role_ids = match &existing {
        Some(old) if !named("roles") => old.roles.clone(),
        _ => p
            .roles
            .iter()
            .map(|n| role_id(n))
            .collect::<Result<BTreeSet<_>, _>>()?,
    };
    let top = roles
        .iter()
        .filter(|r| role_ids.contains(&r.id))
        .max_by_key(|r| r.rank)
        .map(|r| r.id);
    let main_role = match (&p.main_role, &existing) {
        (Some(n), _) if named("main_role") => Some(role_id(n)?),
        (_, Some(old)) if old.main_role.is_some_and(|m| role_ids.contains(&m)) => old.main_role,
        _ => top,
    };
    let location_id = match (&p.location, &existing) {
        (_, Some(old)) if !named("location") => old.location_id,
        (Some(path), _) => Some(*locations.get(&path_key(path)).ok_or_else(|| {
            StoreError::invalid("location", format!("no location {:?}", path.join(" > ")))
        })?),
        (None, _) => None,
    };
    let profile = match &existing {
        None => p.profile.clone(),
        Some(old) => {
            let (f, o) = (&p.profile, &old.profile);
            let pick = |k: &str, file: &Option<String>, had: &Option<String>| {
                if named(k) {
                    file.clone()
                } else {
                    had.clone()
                }
            };
            lanyard_core::UserProfile {
                given_name: f.given_name.clone(),
                family_name: f.family_name.clone(),
                username: pick("username", &f.username, &o.username),
                email: pick("email", &f.email, &o.email),
                phone: pick("phone", &f.phone, &o.phone),
                kind: if named("kind") { f.kind } else { o.kind },
                groups: if named("groups") {
                    f.groups.clone()
                } else {
                    o.groups.clone()
                },
                attributes: if named("attributes") {
                    f.attributes.clone()
                } else {
                    o.attributes.clone()
                },
                sensitive: lanyard_core::SensitiveFields {
                    date_of_birth: if named("date_of_birth") {
                        f.sensitive.date_of_birth
                    } else {
                        o.sensitive.date_of_birth
                    },
                    national_insurance_number: pick(
                        "national_insurance_number",
                        &f.sensitive.national_insurance_number,
                        &o.sensitive.national_insurance_number,
                    ),
                },
            }
        }
    };
    let status = match &existing {
        Some(old) if !named("status") => old.status,
        _ => p.status,
    };
    let now = cx.store.clock.now();
    let desired = User {
        id: existing
            .as_ref()
            .map(|e| e.id)
            .unwrap_or_else(|| cx.store.ids().next()),
        tenant_id: tenant,
        profile,
        status,
        location_id,
        roles: role_ids,
        main_role,
        created_at: existing.as_ref().map(|e| e.created_at).unwrap_or(now),
        updated_at: existing.as_ref().map(|e| e.updated_at).unwrap_or(now),
        anonymised: false,
        version: existing.as_ref().map(|e| e.version).unwrap_or(1),
    };
    let mut outcome = Outcome::Unchanged;
    match &existing {
        None => {
            check_refs(conn, &desired).await?;
            write_user(conn, &desired, true).await?;
            let rec = AuditRecord::new(Some(tenant), &cx.actor, "user.create", "user", desired.id)
                .after(snapshot(&desired));
            cx.store.append_audit(conn, rec).await?;
            outcome = Outcome::Created;
        }
        Some(old) if *old != desired => {
            if old.anonymised {
                return Err(StoreError::Refused(format!(
                    "{login}: an anonymised person cannot be changed by a realm file"
                )));
            }
            if old.status != desired.status {
                old.status
                    .transition(desired.status)
                    .map_err(|e| StoreError::Refused(format!("{login}: {e}")))?;
            }
            let updated = User {
                updated_at: now,
                ..desired.clone()
            };
            check_refs(conn, &updated).await?;
            write_user(conn, &updated, false).await?;
            let rec = AuditRecord::new(Some(tenant), &cx.actor, "user.update", "user", desired.id)
                .before(snapshot(old))
                .after(snapshot(&updated));
            cx.store.append_audit(conn, rec).await?;
            outcome = Outcome::Updated;
        }
        Some(_) => {}
    }
    if named("employments") {
        outcome =
            outcome.and(apply_employments(cx, conn, &desired, &p.employments, accounts).await?);
    }
    if let PasswordPlan::Set(h) = &p.password {
        write_password(conn, desired.id, h, cx.store.now_ms()).await?;
        let rec = AuditRecord::new(Some(tenant), &cx.actor, "user.password", "user", desired.id);
        cx.store.append_audit(conn, rec).await?;
        outcome = outcome.and(Outcome::Updated);
    }
    if let Some(secret) = &p.totp_secret {
        outcome = outcome.and(apply_totp(cx, conn, &desired, secret).await?);
    }
    cx.report.count(outcome);
    Ok(())
}

async fn apply_employments(
    cx: &mut Ctx<'_>,
    conn: &mut AnyConnection,
    user: &User,
    plans: &[EmploymentPlan],
    accounts: &BTreeMap<String, AccountId>,
) -> Result<Outcome, StoreError> {
    let rows = sqlx::query("SELECT * FROM employments WHERE user_id = $1")
        .bind(user.id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    let key = |a: AccountId, s: Date, e: Option<Date>, m: bool| {
        (a.to_string(), rows::date_text(s), e.map(rows::date_text), m)
    };
    let mut have = Vec::new();
    for r in &rows {
        have.push(key(
            rows::id(r, "account_id")?,
            rows::date(r, "starts_on")?,
            rows::opt_date(r, "ends_on")?,
            rows::flag(r, "main")?,
        ));
    }
    let mut want_list = Vec::new();
    for e in plans {
        let account = *accounts.get(&e.account.to_lowercase()).ok_or_else(|| {
            StoreError::invalid("employments", format!("no account {:?}", e.account))
        })?;
        want_list.push(Employment {
            id: cx.store.ids().next(),
            user_id: user.id,
            account_id: account,
            starts_on: e.starts_on,
            ends_on: e.ends_on,
            main: e.main,
        });
    }
    validate_employments(&want_list)
        .map_err(|e| StoreError::invalid("employments", e.to_string()))?;
    let mut want: Vec<_> = want_list
        .iter()
        .map(|e| key(e.account_id, e.starts_on, e.ends_on, e.main))
        .collect();
    have.sort();
    want.sort();
    if have == want {
        return Ok(Outcome::Unchanged);
    }
    sqlx::query("DELETE FROM employments WHERE user_id = $1")
        .bind(user.id.to_string())
        .execute(&mut *conn)
        .await?;
    for e in &want_list {
        sqlx::query("INSERT INTO employments (id, user_id, account_id, starts_on, ends_on, main) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(e.id.to_string())
            .bind(user.id.to_string())
            .bind(e.account_id.to_string())
            .bind(rows::date_text(e.starts_on))
            .bind(e.ends_on.map(rows::date_text))
            .bind(b(e.main))
            .execute(&mut *conn)
            .await?;
    }
    let rec = AuditRecord::new(
        Some(user.tenant_id),
        &cx.actor,
        "user.employments",
        "user",
        user.id,
    )
    .before(&have)
    .after(&want);
    cx.store.append_audit(conn, rec).await?;
    Ok(Outcome::Updated)
}

async fn apply_totp(
    cx: &mut Ctx<'_>,
    conn: &mut AnyConnection,
    user: &User,
    secret: &Secret,
) -> Result<Outcome, StoreError> {
    let context = format!("totp:{}", user.id);
    let row = sqlx::query("SELECT sealed_secret, key_id FROM totp_enrolments WHERE user_id = $1")
        .bind(user.id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(r) = &row {
        let opened = cx.store.keyring.open(
            &rows::text(r, "key_id")?,
            &rows::text(r, "sealed_secret")?,
            &context,
        );
        if opened.is_ok_and(|plain| plain.as_slice() == secret.expose().as_bytes()) {
            return Ok(Outcome::Unchanged);
        }
    }
    let (key_id, sealed) = cx
        .store
        .keyring
        .seal(secret.expose().as_bytes(), &context)?;
    sqlx::query("DELETE FROM totp_enrolments WHERE user_id = $1")
        .bind(user.id.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO totp_enrolments (user_id, sealed_secret, key_id, confirmed_at) VALUES ($1, $2, $3, $4)")
        .bind(user.id.to_string())
        .bind(sealed)
        .bind(key_id)
        .bind(cx.store.now_ms())
        .execute(&mut *conn)
        .await?;
    let rec = AuditRecord::new(
        Some(user.tenant_id),
        &cx.actor,
        "mfa.totp.enrol",
        "user",
        user.id,
    )
    .after(json!({"factor": "totp"}));
    cx.store.append_audit(conn, rec).await?;
    Ok(if row.is_some() {
        Outcome::Updated
    } else {
        Outcome::Created
    })
}
