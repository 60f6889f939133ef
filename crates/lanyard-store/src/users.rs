//! People: creating, reading, changing status, credentials and anonymisation.

use crate::audit::AuditRecord;
use crate::org::{role_owner, roles_of, tenant_by_id};
use crate::rows::{self, b};
use crate::{Store, StoreError};
use lanyard_core::account::Employment;
use lanyard_core::user::{normalise_login, FieldError, SensitiveFields, UserProfile};
use lanyard_core::{
    AuditActor, Holder, LocationId, PasswordHash, RoleId, Status, TenantId, User, UserId, UserKind,
};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use std::collections::{BTreeMap, BTreeSet};

/// A person to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Tenant.
    pub tenant_id: TenantId,
    /// Profile.
    pub profile: UserProfile,
    /// Starting status.
    pub status: Status,
    /// Location.
    pub location_id: Option<LocationId>,
    /// Roles.
    pub roles: BTreeSet<RoleId>,
    /// Main role (defaults to the highest-ranked of `roles`).
    pub main_role: Option<RoleId>,
    /// Initial password, already hashed.
    pub password: Option<PasswordHash>,
}

/// Which people to list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only people whose name, username or email contains this (case-insensitive).
    pub search: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// A person together with his employment records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The person.
    pub user: User,
    /// His employments.
    pub employments: Vec<Employment>,
}

/// The audit snapshot of a person: everything but the values of sensitive fields.
pub fn snapshot(u: &User) -> Value {
    let mut v = serde_json::to_value(u).unwrap_or(Value::Null);
    if let Some(s) = v.pointer_mut("/profile/sensitive") {
        let mask = |x: bool| if x { json!("***") } else { Value::Null };
        *s = json!({
            "date_of_birth": mask(u.profile.sensitive.date_of_birth.is_some()),
            "national_insurance_number": mask(u.profile.sensitive.national_insurance_number.is_some()),
        });
    }
    v
}

pub(crate) fn user_row(r: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: rows::id(r, "id")?,
        tenant_id: rows::id(r, "tenant_id")?,
        profile: UserProfile {
            given_name: rows::text(r, "given_name")?,
            family_name: rows::text(r, "family_name")?,
            username: rows::opt_text(r, "username")?,
            email: rows::opt_text(r, "email")?,
            phone: rows::opt_text(r, "phone")?,
            kind: rows::opt_text(r, "kind")?
                .as_deref()
                .and_then(UserKind::parse),
            groups: BTreeSet::new(),
            attributes: BTreeMap::new(),
            sensitive: SensitiveFields {
                date_of_birth: rows::opt_date(r, "date_of_birth")?,
                national_insurance_number: rows::opt_text(r, "ni_number")?,
            },
        },
        status: rows::parsed(r, "status", Status::parse)?,
        location_id: rows::opt_id(r, "location_id")?,
        roles: BTreeSet::new(),
        main_role: rows::opt_id(r, "main_role_id")?,
        created_at: rows::time(r, "created_at")?,
        updated_at: rows::time(r, "updated_at")?,
        anonymised: rows::flag(r, "anonymised")?,
        version: rows::int(r, "version")?,
    })
}

/// Loads one person with roles, groups and attributes.
pub(crate) async fn load_user(
    conn: &mut AnyConnection,
    id: UserId,
) -> Result<Option<User>, StoreError> {
    let row = sqlx::query("SELECT * FROM users WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    with_children(conn, row).await
}

/// The person of `row` (if any), with roles, groups and attributes.
async fn with_children(
    conn: &mut AnyConnection,
    row: Option<sqlx::any::AnyRow>,
) -> Result<Option<User>, StoreError> {
    let Some(row) = row else { return Ok(None) };
    let mut u = user_row(&row)?;
    fill_children(conn, &mut u).await?;
    Ok(Some(u))
}

async fn fill_children(conn: &mut AnyConnection, u: &mut User) -> Result<(), StoreError> {
    // Roles, groups and attributes in one round trip.
    let rows = sqlx::query(
        "SELECT 'r' AS kind, role_id AS k, CAST(NULL AS TEXT) AS v FROM user_roles WHERE user_id = $1
         UNION ALL SELECT 'g', name, CAST(NULL AS TEXT) FROM user_groups WHERE user_id = $1
         UNION ALL SELECT 'a', key, value FROM user_attributes WHERE user_id = $1",
    )
    .bind(u.id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        match rows::text(&r, "kind")?.as_str() {
            "r" => {
                u.roles.insert(rows::id(&r, "k")?);
            }
            "g" => {
                u.profile.groups.insert(rows::text(&r, "k")?);
            }
            "a" => {
                u.profile
                    .attributes
                    .insert(rows::text(&r, "k")?, rows::text(&r, "v")?);
            }
            other => return Err(StoreError::Corrupt(format!("user child kind {other:?}"))),
        }
    }
    Ok(())
}

/// Finds a person by email or username within a tenant.
pub(crate) async fn find_by_login(
    conn: &mut AnyConnection,
    tenant: TenantId,
    login: &str,
) -> Result<Option<User>, StoreError> {
    let key = normalise_login(login);
    let row = sqlx::query(
        "SELECT * FROM users WHERE tenant_id = $1 AND (email_lower = $2 OR username_lower = $2) ORDER BY CASE WHEN email_lower = $2 THEN 0 ELSE 1 END LIMIT 1",
    )
    .bind(tenant.to_string())
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    with_children(conn, row).await
}

/// Checks a person's references (location, roles, main role) against his tenant.
pub(crate) async fn check_refs(conn: &mut AnyConnection, u: &User) -> Result<(), StoreError> {
    let mut errs: Vec<FieldError> = u.profile.validate();
    if let Some(loc) = u.location_id {
        let row = sqlx::query("SELECT tenant_id FROM locations WHERE id = $1")
            .bind(loc.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        if row.map(|r| rows::text(&r, "tenant_id")).transpose()? != Some(u.tenant_id.to_string()) {
            errs.push(FieldError {
                field: "location",
                message: "is not a location of this tenant".into(),
            });
        }
    }
    let owner = role_owner(conn, u.tenant_id).await?;
    let roles = roles_of(conn, owner).await?;
    if u.roles.iter().any(|r| !roles.iter().any(|x| x.id == *r)) {
        errs.push(FieldError {
            field: "roles",
            message: "names a role that is not in this tenant's role set".into(),
        });
    }
    match u.main_role {
        Some(m) if !u.roles.contains(&m) => errs.push(FieldError {
            field: "main_role",
            message: "must be one of the person's roles".into(),
        }),
        None if !u.roles.is_empty() => errs.push(FieldError {
            field: "main_role",
            message: "is required when the person has roles".into(),
        }),
        _ => {}
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(errs))
    }
}

/// Inserts or updates the row and replaces roles, groups and attributes. An update writes
/// only over the version `u` was read at (`u.version`) and fails with [`StoreError::Stale`]
/// if someone else wrote the person since; returns the version written.
pub(crate) async fn write_user(
    conn: &mut AnyConnection,
    u: &User,
    insert: bool,
) -> Result<i64, StoreError> {
    let p = &u.profile;
    let sql = if insert {
        "INSERT INTO users (given_name, family_name, username, username_lower, email, email_lower, phone, kind,
            status, location_id, main_role_id, date_of_birth, ni_number, anonymised, created_at, updated_at, id, tenant_id, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 1)"
    } else {
        "UPDATE users SET given_name = $1, family_name = $2, username = $3, username_lower = $4, email = $5,
            email_lower = $6, phone = $7, kind = $8, status = $9, location_id = $10, main_role_id = $11,
            date_of_birth = $12, ni_number = $13, anonymised = $14, created_at = $15, updated_at = $16,
            version = $19 + 1
         WHERE id = $17 AND tenant_id = $18 AND version = $19"
    };
    let written = sqlx::query(sql)
        .bind(p.given_name.clone())
        .bind(p.family_name.clone())
        .bind(p.username.clone())
        .bind(p.username.as_deref().map(normalise_login))
        .bind(p.email.clone())
        .bind(p.email.as_deref().map(normalise_login))
        .bind(p.phone.clone())
        .bind(p.kind.map(|k| k.as_str().to_string()))
        .bind(u.status.as_str())
        .bind(u.location_id.map(|l| l.to_string()))
        .bind(u.main_role.map(|r| r.to_string()))
        .bind(p.sensitive.date_of_birth.map(rows::date_text))
        .bind(p.sensitive.national_insurance_number.clone())
        .bind(b(u.anonymised))
        .bind(lanyard_core::clock::to_millis(u.created_at))
        .bind(lanyard_core::clock::to_millis(u.updated_at))
        .bind(u.id.to_string())
        .bind(u.tenant_id.to_string());
    let written = if insert {
        written
    } else {
        written.bind(u.version)
    };
    let done = written.execute(&mut *conn).await.map_err(|e| taken(e, p))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Stale);
    }
    let id = u.id.to_string();
    for table in ["user_roles", "user_groups", "user_attributes"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(id.clone())
            .execute(&mut *conn)
            .await?;
    }
    let roles = u.roles.iter().map(|r| vec![r.to_string()]);
    insert_children(
        conn,
        "INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)",
        &id,
        roles,
    )
    .await?;
    let groups = p.groups.iter().map(|g| vec![g.clone()]);
    insert_children(
        conn,
        "INSERT INTO user_groups (user_id, name) VALUES ($1, $2)",
        &id,
        groups,
    )
    .await?;
    let attrs = p.attributes.iter().map(|(k, v)| vec![k.clone(), v.clone()]);
    insert_children(
        conn,
        "INSERT INTO user_attributes (user_id, key, value) VALUES ($1, $2, $3)",
        &id,
        attrs,
    )
    .await?;
    Ok(if insert { 1 } else { u.version + 1 })
}

/// Inserts one child row per item: `$1` is the parent id, the item's values follow.
async fn insert_children(
    conn: &mut AnyConnection,
    sql: &'static str,
    parent: &str,
    items: impl Iterator<Item = Vec<String>>,
) -> Result<(), StoreError> {
    for values in items {
        let mut q = sqlx::query(sql).bind(parent.to_string());
        for v in values {
            q = q.bind(v);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Names the value that a unique violation is about.
fn taken(e: sqlx::Error, p: &UserProfile) -> StoreError {
    match StoreError::from(e) {
        StoreError::Taken { field, .. } => {
            let value = if field == "email" {
                p.email.clone()
            } else {
                p.username.clone()
            };
            StoreError::Taken {
                field,
                value: value.unwrap_or_default(),
            }
        }
        other => other,
    }
}

pub(crate) async fn write_password(
    conn: &mut AnyConnection,
    id: UserId,
    hash: &PasswordHash,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM passwords WHERE user_id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO passwords (user_id, hash, updated_at) VALUES ($1, $2, $3)")
        .bind(id.to_string())
        .bind(hash.as_str().to_string())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What a forgotten login is remembered as: a keyed hash, never the login itself.
const FORGOTTEN: &str = "forgotten-login";

fn forgotten_mac(
    store: &Store,
    key_id: &str,
    tenant: TenantId,
    login: &str,
) -> Result<String, StoreError> {
    let data = format!("{tenant}:{}", normalise_login(login));
    let mac = store.keyring().mac(key_id, FORGOTTEN, data.as_bytes())?;
    Ok(mac.iter().map(|b| format!("{b:02x}")).collect())
}

/// Remembers an anonymised person's email and username as keyed hashes, so a realm file
/// that still lists him never re-creates him with his personal data.
async fn forget_logins(
    store: &Store,
    conn: &mut AnyConnection,
    u: &User,
) -> Result<(), StoreError> {
    let key_id = store.keyring().active_id().to_string();
    for login in [&u.profile.email, &u.profile.username]
        .into_iter()
        .flatten()
    {
        let mac = forgotten_mac(store, &key_id, u.tenant_id, login)?;
        sqlx::query(
            "INSERT INTO forgotten_logins (tenant_id, mac, key_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, mac) DO NOTHING",
        )
        .bind(u.tenant_id.to_string())
        .bind(mac)
        .bind(key_id.clone())
        .bind(store.now_ms())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Whether `login` belonged to a person since anonymised.
pub(crate) async fn forgotten(
    store: &Store,
    conn: &mut AnyConnection,
    tenant: TenantId,
    login: &str,
) -> Result<bool, StoreError> {
    for key_id in store.keyring().key_ids() {
        let mac = forgotten_mac(store, key_id, tenant, login)?;
        let row =
            sqlx::query("SELECT 1 AS x FROM forgotten_logins WHERE tenant_id = $1 AND mac = $2")
                .bind(tenant.to_string())
                .bind(mac)
                .fetch_optional(&mut *conn)
                .await?;
        if row.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Store {
    /// Creates a person (and his password, if given), audited.
    pub async fn create_user(&self, actor: &AuditActor, new: NewUser) -> Result<User, StoreError> {
        let mut tx = self.write_tx().await?;
        tenant_by_id(&mut tx, new.tenant_id)
            .await?
            .ok_or(StoreError::NotFound("tenant"))?;
        let now = self.clock.now();
        let main_role = match new.main_role {
            Some(m) => Some(m),
            None => {
                let owner = role_owner(&mut tx, new.tenant_id).await?;
                let roles = roles_of(&mut tx, owner).await?;
                roles
                    .iter()
                    .filter(|r| new.roles.contains(&r.id))
                    .max_by_key(|r| r.rank)
                    .map(|r| r.id)
            }
        };
        let user = User {
            id: self.ids().next(),
            tenant_id: new.tenant_id,
            profile: new.profile,
            status: new.status,
            location_id: new.location_id,
            roles: new.roles,
            main_role,
            created_at: now,
            updated_at: now,
            anonymised: false,
            version: 1,
        };
        check_refs(&mut tx, &user).await?;
        write_user(&mut tx, &user, true).await?;
        if let Some(h) = &new.password {
            write_password(&mut tx, user.id, h, self.now_ms()).await?;
        }
        let rec = AuditRecord::new(Some(user.tenant_id), actor, "user.create", "user", user.id)
            .after(snapshot(&user));
        self.append_audit(&mut tx, rec).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// A person by id.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        load_user(&mut *self.pool()?.acquire().await?, id).await
    }

    /// A person by email address or username (case-insensitive) within a tenant.
    pub async fn user_by_login(
        &self,
        tenant: TenantId,
        login: &str,
    ) -> Result<Option<User>, StoreError> {
        find_by_login(&mut *self.pool()?.acquire().await?, tenant, login).await
    }

    /// People of a tenant, by family then given name.
    pub async fn list_users(
        &self,
        tenant: TenantId,
        f: &UserFilter,
    ) -> Result<Vec<User>, StoreError> {
        let like = f
            .search
            .as_ref()
            .map(|s| format!("%{}%", s.to_lowercase().replace(['%', '_'], "")));
        let rows = sqlx::query(
            "SELECT * FROM users WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2)
               AND ($3 IS NULL OR LOWER(given_name || ' ' || family_name) LIKE $3 OR email_lower LIKE $3 OR username_lower LIKE $3)
             ORDER BY LOWER(family_name), LOWER(given_name), id LIMIT $4 OFFSET $5",
        )
        .bind(tenant.to_string())
        .bind(f.status.map(|s| s.as_str().to_string()))
        .bind(like)
        .bind(f.limit.unwrap_or(100).clamp(1, 1000))
        .bind(f.offset.unwrap_or(0).max(0))
        .fetch_all(self.pool()?)
        .await?;
        let mut conn = self.pool()?.acquire().await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut u = user_row(r)?;
            fill_children(&mut conn, &mut u).await?;
            out.push(u);
        }
        Ok(out)
    }

    /// A person's employment records.
    pub async fn employments(&self, user: UserId) -> Result<Vec<Employment>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM employments WHERE user_id = $1 ORDER BY starts_on, id")
                .bind(user.to_string())
                .fetch_all(self.pool()?)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(Employment {
                    id: rows::id(r, "id")?,
                    user_id: rows::id(r, "user_id")?,
                    account_id: rows::id(r, "account_id")?,
                    starts_on: rows::date(r, "starts_on")?,
                    ends_on: rows::opt_date(r, "ends_on")?,
                    main: rows::flag(r, "main")?,
                })
            })
            .collect()
    }

    /// A person as the scope rules see him.
    pub async fn holder(&self, user: &User) -> Result<Holder, StoreError> {
        let roles = self.roles(user.tenant_id).await?;
        Ok(Holder {
            user_id: user.id,
            tenant_id: user.tenant_id,
            location_id: user.location_id,
            roles: roles
                .into_iter()
                .filter(|r| user.roles.contains(&r.id))
                .collect(),
        })
    }

    /// Loads a person, applies `change`, checks and writes the result, and audits it under
    /// `action` with `view` of the before and after states — all in one transaction.
    async fn change_user(
        &self,
        actor: &AuditActor,
        id: UserId,
        action: &'static str,
        change: impl FnOnce(&User) -> Result<User, StoreError>,
        view: fn(&User) -> serde_json::Value,
    ) -> Result<User, StoreError> {
        self.modify_user(actor, id, None, action, change, view)
            .await
    }

    /// Loads a person, checks he is still at `expected` (his version when the caller read
    /// him, if given), applies `change` (which may refuse: the caller's rules run here, on the
    /// state being changed), checks and writes the result and audits it under `action` with
    /// `view` of both states — all in one transaction. A concurrent writer makes it fail
    /// with [`StoreError::Stale`] rather than be overwritten.
    pub async fn modify_user(
        &self,
        actor: &AuditActor,
        id: UserId,
        expected: Option<i64>,
        action: &'static str,
        change: impl FnOnce(&User) -> Result<User, StoreError>,
        view: fn(&User) -> serde_json::Value,
    ) -> Result<User, StoreError> {
        let mut tx = self.write_tx().await?;
        let before = load_user(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        if expected.is_some_and(|v| v != before.version) {
            return Err(StoreError::Stale);
        }
        let after = User {
            updated_at: self.clock.now(),
            version: before.version,
            ..change(&before)?
        };
        check_refs(&mut tx, &after).await?;
        let version = write_user(&mut tx, &after, false).await?;
        let rec = AuditRecord::new(Some(after.tenant_id), actor, action, "user", id)
            .before(view(&before))
            .after(view(&after));
        self.append_audit(&mut tx, rec).await?;
        tx.commit().await?;
        Ok(User { version, ..after })
    }

    /// Moves a person to another status, if the move is legal; audited.
    pub async fn set_status(
        &self,
        actor: &AuditActor,
        id: UserId,
        to: Status,
    ) -> Result<User, StoreError> {
        let change = |before: &User| {
            before
                .status
                .transition(to)
                .map_err(|e| StoreError::Refused(e.to_string()))?;
            Ok(User {
                status: to,
                ..before.clone()
            })
        };
        self.change_user(
            actor,
            id,
            "user.status",
            change,
            |u| json!({"status": u.status}),
        )
        .await
    }

    /// Replaces a person's roles and main role; audited. (Delegation is checked by the caller,
    /// who knows who is acting.)
    pub async fn set_roles(
        &self,
        actor: &AuditActor,
        id: UserId,
        roles: BTreeSet<RoleId>,
        main: Option<RoleId>,
    ) -> Result<User, StoreError> {
        let change = |before: &User| {
            Ok(User {
                roles,
                main_role: main,
                ..before.clone()
            })
        };
        let view = |u: &User| json!({"roles": u.roles, "main_role": u.main_role});
        self.change_user(actor, id, "user.roles", change, view)
            .await
    }

    /// Replaces a person's profile; audited (sensitive values masked in the record).
    pub async fn update_profile(
        &self,
        actor: &AuditActor,
        id: UserId,
        profile: UserProfile,
    ) -> Result<User, StoreError> {
        let change = |before: &User| {
            if before.anonymised {
                return Err(StoreError::Refused(
                    "an anonymised person cannot be edited".into(),
                ));
            }
            Ok(User {
                profile,
                ..before.clone()
            })
        };
        self.change_user(actor, id, "user.update", change, snapshot)
            .await
    }

    /// Sets a person's password hash; audited (without the hash).
    pub async fn set_password(
        &self,
        actor: &AuditActor,
        id: UserId,
        hash: &PasswordHash,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let u = load_user(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        if u.status == Status::Archived {
            return Err(StoreError::Refused(
                "an archived person cannot be given a password".into(),
            ));
        }
        write_password(&mut tx, id, hash, self.now_ms()).await?;
        let rec = AuditRecord::new(Some(u.tenant_id), actor, "user.password", "user", id);
        self.append_audit(&mut tx, rec).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A person's password hash, if he has one.
    pub async fn password_hash(&self, id: UserId) -> Result<Option<PasswordHash>, StoreError> {
        let row = sqlx::query("SELECT hash FROM passwords WHERE user_id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool()?)
            .await?;
        row.map(|r| {
            PasswordHash::parse(&rows::text(&r, "hash")?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .transpose()
    }

    /// Replaces a person's personal data, keeping his id and history: profile anonymised,
    /// password and second factors removed, status archived, and the personal values in past
    /// audit snapshots of him scrubbed (the records of who did what, when, stay).
    pub async fn anonymise(&self, actor: &AuditActor, id: UserId) -> Result<User, StoreError> {
        let mut tx = self.write_tx().await?;
        let before = load_user(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        if before.anonymised {
            return Err(StoreError::Refused(
                "the person is already anonymised".into(),
            ));
        }
        let tag: String = id
            .to_string()
            .chars()
            .filter(char::is_ascii_hexdigit)
            .skip(20)
            .collect();
        let after = User {
            profile: UserProfile::anonymised(&tag),
            status: Status::Archived,
            anonymised: true,
            updated_at: self.clock.now(),
            ..before.clone()
        };
        let version = write_user(&mut tx, &after, false).await?;
        forget_logins(self, &mut tx, &before).await?;
        // His sign-ins stay counted, but no longer say what he typed, from where, with what.
        sqlx::query(
            "UPDATE sign_ins SET login = NULL, ip = NULL, user_agent = NULL WHERE user_id = $1",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        for table in ["passwords", "totp_enrolments", "passkeys", "recovery_codes"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE audit_log SET before_json = CASE WHEN before_json IS NULL THEN NULL ELSE $1 END,
                                  after_json = CASE WHEN after_json IS NULL THEN NULL ELSE $1 END
             WHERE target_kind = 'user' AND target_id = $2",
        )
        .bind(json!({"anonymised": true}).to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let rec = AuditRecord::new(Some(after.tenant_id), actor, "user.anonymise", "user", id)
            .before(json!({"status": before.status}))
            .after(json!({"status": after.status, "anonymised": true}));
        self.append_audit(&mut tx, rec).await?;
        tx.commit().await?;
        Ok(User { version, ..after })
    }
}
