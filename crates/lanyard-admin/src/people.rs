//! People: list, read, create, change, lifecycle — each checked against the acting party.

use crate::actor::{Actor, Rules};
use crate::error::AdminError;
use crate::resolve::{self, bad, Names};
use crate::view::{NewPerson, PeoplePage, PersonPatch, PersonView, RolesChange};
use crate::{why_not, Admin};
use base64::Engine;
use lanyard_core::{
    FieldError, Holder, PasswordHash, Privilege, SensitiveFields, Status, User, UserId, UserKind,
    UserProfile,
};
use lanyard_store::{snapshot, NewUser, PeopleCursor, PeopleQuery, PeopleSort};
use serde_json::json;

/// Filters and paging of a listing, as the caller wrote them.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// Tenant slug.
    pub tenant: Option<String>,
    /// `invited`, `active`, `suspended`, `archived`.
    pub status: Option<String>,
    /// A role name.
    pub role: Option<String>,
    /// A location path: people there or beneath.
    pub location: Option<String>,
    /// An account name: people currently employed there.
    pub account: Option<String>,
    /// A group name.
    pub group: Option<String>,
    /// Text in the name, username or email.
    pub q: Option<String>,
    /// `created` (default) or `name`.
    pub sort: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<i64>,
}

/// A change of status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Invited → active (an administrator vouching for the person).
    Activate,
    /// No sign-in, no mail; reversible. Ends his sessions at once.
    Suspend,
    /// Suspended → active.
    Reactivate,
    /// Final. Ends his sessions.
    Archive,
    /// Personal data replaced, history kept; archived. Ends his sessions.
    Anonymise,
}

impl Lifecycle {
    fn verb(self) -> &'static str {
        match self {
            Lifecycle::Activate => "activate",
            Lifecycle::Suspend => "suspend",
            Lifecycle::Reactivate => "reactivate",
            Lifecycle::Archive => "archive",
            Lifecycle::Anonymise => "anonymise",
        }
    }
}

fn invalid_if_any(errs: Vec<FieldError>) -> Result<(), AdminError> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(AdminError::Invalid(errs))
    }
}

fn cursor_text(sort: PeopleSort, u: &User) -> String {
    let v = match sort {
        PeopleSort::Created => json!(["c", u.id.to_string()]),
        PeopleSort::Name => json!([
            "n",
            u.id.to_string(),
            u.profile.family_name.to_lowercase(),
            u.profile.given_name.to_lowercase()
        ]),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn parse_cursor(sort: PeopleSort, text: &str) -> Result<PeopleCursor, AdminError> {
    let wrong = || AdminError::invalid("cursor", "is not a cursor of this listing");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| wrong())?;
    let v: Vec<String> = serde_json::from_slice(&raw).map_err(|_| wrong())?;
    let id: UserId = v.get(1).and_then(|i| i.parse().ok()).ok_or_else(wrong)?;
    match (sort, v.first().map(String::as_str), v.len()) {
        (PeopleSort::Created, Some("c"), 2) => Ok(PeopleCursor {
            family: String::new(),
            given: String::new(),
            id,
        }),
        (PeopleSort::Name, Some("n"), 4) => Ok(PeopleCursor {
            family: v[2].clone(),
            given: v[3].clone(),
            id,
        }),
        _ => Err(wrong()),
    }
}

impl Admin {
    /// A person the actor may see, with his holder; anyone else is "not found".
    async fn visible(
        &self,
        names: &mut Names<'_>,
        rules: &Rules,
        actor: &Actor,
        id: UserId,
    ) -> Result<(User, Holder), AdminError> {
        let u = self
            .store
            .user(id)
            .await?
            .ok_or(AdminError::NotFound("user"))?;
        let h = names.holder(&u).await?;
        if !rules.sees(actor, &h) {
            return Err(AdminError::NotFound("user"));
        }
        Ok((u, h))
    }

    /// One page of the people the actor may see.
    pub async fn list(&self, actor: &Actor, p: &ListParams) -> Result<PeoplePage, AdminError> {
        let mut names = Names::load(&self.store).await?;
        let rules = self.rules(&names).await?;
        let mut errs = Vec::new();
        let tenant = match &p.tenant {
            Some(s) => Some(names.tenant_for(actor, Some(s))?),
            None => None,
        };
        let home = tenant.or(actor.tenant());
        let status = p.status.as_deref().and_then(|s| {
            let st = Status::parse(s);
            if st.is_none() {
                errs.push(bad(
                    "status",
                    "must be invited, active, suspended or archived",
                ));
            }
            st
        });
        let sort = match p.sort.as_deref() {
            None | Some("created") => PeopleSort::Created,
            Some("name") => PeopleSort::Name,
            Some(_) => {
                errs.push(bad("sort", "must be created or name"));
                PeopleSort::Created
            }
        };
        let mut role = None;
        let mut locations = None;
        let mut account = None;
        if p.role.is_some() || p.location.is_some() || p.account.is_some() {
            let Some(t) = home else {
                return Err(AdminError::invalid(
                    "tenant",
                    "name the tenant to filter by role, location or account",
                ));
            };
            if let Some(r) = &p.role {
                role = names.role_id(t, "role", r, &mut errs).await?;
            }
            if let Some(path) = &p.location {
                locations =
                    resolve::location_id(&rules, t, path, &mut errs).map(|l| rules.tree.subtree(l));
            }
            if let Some(a) = &p.account {
                account = names.account_id(t, a).await?;
                if account.is_none() {
                    errs.push(bad("account", format!("no account {a:?} in this tenant")));
                }
            }
        }
        let after = p
            .cursor
            .as_deref()
            .map(|c| parse_cursor(sort, c))
            .transpose()?;
        if let Some(l) = p.limit.filter(|l| !(1..=500).contains(l)) {
            errs.push(bad("limit", format!("{l} is not between 1 and 500")));
        }
        invalid_if_any(errs)?;
        let q = PeopleQuery {
            reach: rules.reach(actor, &names.tenant_ids()),
            tenant,
            status,
            role,
            locations,
            account,
            group: p.group.clone(),
            search: p.q.clone(),
            sort,
            after,
            limit: p.limit.unwrap_or(50),
            today: resolve::date(self.store.clock().now().date()),
        };
        let (people, more) = self.store.people(&q).await?;
        let next_cursor = if more {
            people.last().map(|u| cursor_text(sort, u))
        } else {
            None
        };
        let mut items = Vec::with_capacity(people.len());
        for u in &people {
            items.push(names.view(&rules, actor, u, false).await?);
        }
        Ok(PeoplePage { items, next_cursor })
    }

    /// One person the actor may see.
    pub async fn get(&self, actor: &Actor, id: UserId) -> Result<PersonView, AdminError> {
        let mut names = Names::load(&self.store).await?;
        let rules = self.rules(&names).await?;
        let (u, _) = self.visible(&mut names, &rules, actor, id).await?;
        names.view(&rules, actor, &u, true).await
    }

    /// One person by login within a tenant (the CLI's way of naming people).
    pub async fn find(
        &self,
        actor: &Actor,
        tenant: &str,
        login: &str,
    ) -> Result<PersonView, AdminError> {
        let t = self
            .store
            .tenant_by_slug(tenant)
            .await?
            .ok_or(AdminError::NotFound("tenant"))?;
        let u = self
            .store
            .user_by_login(t.id, login)
            .await?
            .ok_or(AdminError::NotFound("user"))?;
        self.get(actor, u.id).await
    }

    /// Creates a person; `password` already hashed (and checked against the tenant's policy)
    /// by the caller, who owns the hashing pool.
    pub async fn create(
        &self,
        actor: &Actor,
        p: NewPerson,
        password: Option<PasswordHash>,
    ) -> Result<PersonView, AdminError> {
        let mut names = Names::load(&self.store).await?;
        let rules = self.rules(&names).await?;
        let tenant = names.tenant_for(actor, p.tenant.as_deref())?;
        let mut errs = Vec::new();
        let roles = names.role_ids(tenant, &p.roles, &mut errs).await?;
        let main_role = match &p.main_role {
            Some(m) => names.role_id(tenant, "main_role", m, &mut errs).await?,
            None => names.top_role(tenant, &roles).await?,
        };
        let location_id = p
            .location
            .as_deref()
            .and_then(|l| resolve::location_id(&rules, tenant, l, &mut errs));
        let status = match p.status.as_deref() {
            None | Some("active") => Status::Active,
            Some("invited") => Status::Invited,
            Some(_) => {
                errs.push(bad("status", "a new person is active or invited"));
                Status::Active
            }
        };
        let kind = kind(p.kind.as_deref(), &mut errs);
        let sensitive = SensitiveFields {
            date_of_birth: p
                .date_of_birth
                .as_deref()
                .and_then(|d| resolve::parse_date("date_of_birth", d, &mut errs)),
            national_insurance_number: p
                .national_insurance_number
                .as_deref()
                .map(lanyard_core::user::normalise_nino),
        };
        invalid_if_any(errs)?;
        let profile = UserProfile {
            given_name: p.given_name,
            family_name: p.family_name,
            username: p.username,
            email: p.email,
            phone: p.phone,
            kind,
            groups: p.groups.into_iter().collect(),
            attributes: p.attributes,
            sensitive,
        };
        let prospective = User {
            id: lanyard_core::IdGen::new(self.store.clock()).next(),
            tenant_id: tenant,
            profile: profile.clone(),
            status,
            location_id,
            roles: roles.clone(),
            main_role,
            created_at: self.store.clock().now(),
            updated_at: self.store.clock().now(),
            anonymised: false,
            version: 1,
        };
        let h = names.holder(&prospective).await?;
        if !rules.manages(actor, &h) {
            return Err(AdminError::Forbidden(format!(
                "you may not create this person: {}",
                why_not(actor, &h)
            )));
        }
        for r in &h.roles {
            if !rules.grants(actor, r, &h) {
                return Err(AdminError::Forbidden(format!(
                    "you may not grant the role {:?}",
                    r.name
                )));
            }
        }
        if !profile.sensitive.is_empty() && !rules.sees_sensitive(actor, &h) {
            return Err(AdminError::Forbidden(
                "your roles may not set sensitive fields (date of birth, NI number)".into(),
            ));
        }
        let u = self
            .store
            .create_user(
                &actor.audit(),
                NewUser {
                    tenant_id: tenant,
                    profile,
                    status,
                    location_id,
                    roles,
                    main_role,
                    password,
                },
            )
            .await?;
        names.view(&rules, actor, &u, true).await
    }

    /// Changes the fields `patch` names, if the person is still at `expected` (his version
    /// when the caller read him; `None`: whatever he is now — a change racing another is then
    /// made again over the other's, a few times, rather than refused).
    pub async fn update(
        &self,
        actor: &Actor,
        id: UserId,
        expected: Option<i64>,
        patch: PersonPatch,
    ) -> Result<PersonView, AdminError> {
        let mut tries = 0;
        loop {
            match self.update_once(actor, id, expected, &patch).await {
                Err(AdminError::Stale) if expected.is_none() && tries < 5 => tries += 1,
                other => return other,
            }
        }
    }

    async fn update_once(
        &self,
        actor: &Actor,
        id: UserId,
        expected: Option<i64>,
        patch: &PersonPatch,
    ) -> Result<PersonView, AdminError> {
        let mut names = Names::load(&self.store).await?;
        let rules = self.rules(&names).await?;
        let (before, h) = self.visible(&mut names, &rules, actor, id).await?;
        if patch.status.is_some() {
            return Err(AdminError::invalid(
                "status",
                "is changed by POST …/suspend, /reactivate, /archive or /activate",
            ));
        }
        if before.anonymised {
            return Err(AdminError::Conflict(
                "an anonymised person cannot be edited".into(),
            ));
        }
        if !rules.manages(actor, &h) {
            return Err(AdminError::Forbidden(format!(
                "you may not change this person: {}",
                why_not(actor, &h)
            )));
        }
        let after = self.patched(&mut names, &rules, &before, patch).await?;
        let after_h = names.holder(&after).await?;
        // A role the caller may not grant (or revoke) is named, before the wider check.
        let changed = after_h
            .roles
            .iter()
            .filter(|r| !h.roles.iter().any(|b| b.id == r.id))
            .chain(
                h.roles
                    .iter()
                    .filter(|b| !after_h.roles.iter().any(|r| r.id == b.id)),
            );
        for r in changed {
            if !rules.grants(actor, r, &after_h) {
                return Err(AdminError::Forbidden(format!(
                    "you may not grant or revoke the role {:?}",
                    r.name
                )));
            }
        }
        rules
            .check_change(actor, &h, &after_h)
            .map_err(|e| match e {
                lanyard_core::scope::DelegationError::CannotManage => AdminError::Forbidden(
                    format!("you may not make this change: {}", why_not(actor, &after_h)),
                ),
                lanyard_core::scope::DelegationError::CannotGrant(r) => {
                    let name = after_h
                        .roles
                        .iter()
                        .chain(h.roles.iter())
                        .find(|x| x.id == r)
                        .map(|x| x.name.clone())
                        .unwrap_or_default();
                    AdminError::Forbidden(format!("you may not grant or revoke the role {name:?}"))
                }
            })?;
        if patch.touches_sensitive() && !rules.sees_sensitive(actor, &after_h) {
            return Err(AdminError::Forbidden(
                "your roles may not set sensitive fields (date of birth, NI number)".into(),
            ));
        }
        if expected.is_some_and(|v| v != before.version) {
            return Err(AdminError::Stale);
        }
        let version = before.version;
        let written = self
            .store
            .modify_user(
                &actor.audit(),
                id,
                Some(version),
                "user.update",
                |_| Ok(after),
                snapshot,
            )
            .await?;
        names.view(&rules, actor, &written, true).await
    }

    /// Replaces a person's roles (and main role).
    pub async fn set_roles(
        &self,
        actor: &Actor,
        id: UserId,
        expected: Option<i64>,
        change: RolesChange,
    ) -> Result<PersonView, AdminError> {
        let patch = PersonPatch {
            roles: Some(change.roles),
            main_role: change.main_role.map(Some),
            ..PersonPatch::default()
        };
        self.update(actor, id, expected, patch).await
    }

    /// `before` with `patch` applied, names resolved; every bad field reported.
    async fn patched(
        &self,
        names: &mut Names<'_>,
        rules: &Rules,
        before: &User,
        patch: &PersonPatch,
    ) -> Result<User, AdminError> {
        let t = before.tenant_id;
        let mut errs = Vec::new();
        let mut u = before.clone();
        let p = &mut u.profile;
        if let Some(v) = &patch.given_name {
            p.given_name = v.clone();
        }
        if let Some(v) = &patch.family_name {
            p.family_name = v.clone();
        }
        if let Some(v) = &patch.email {
            p.email = v.clone();
        }
        if let Some(v) = &patch.username {
            p.username = v.clone();
        }
        if let Some(v) = &patch.phone {
            p.phone = v.clone();
        }
        if let Some(v) = &patch.kind {
            p.kind = kind(v.as_deref(), &mut errs);
        }
        if let Some(v) = &patch.groups {
            p.groups = v.iter().cloned().collect();
        }
        if let Some(v) = &patch.attributes {
            p.attributes = v.clone();
        }
        if let Some(v) = &patch.date_of_birth {
            p.sensitive.date_of_birth = v
                .as_deref()
                .and_then(|d| resolve::parse_date("date_of_birth", d, &mut errs));
        }
        if let Some(v) = &patch.national_insurance_number {
            p.sensitive.national_insurance_number =
                v.as_deref().map(lanyard_core::user::normalise_nino);
        }
        if let Some(v) = &patch.location {
            u.location_id = v
                .as_deref()
                .and_then(|l| resolve::location_id(rules, t, l, &mut errs));
        }
        if let Some(r) = &patch.roles {
            u.roles = names.role_ids(t, r, &mut errs).await?;
        }
        match &patch.main_role {
            Some(Some(m)) => u.main_role = names.role_id(t, "main_role", m, &mut errs).await?,
            Some(None) => u.main_role = None,
            None if u.main_role.is_some_and(|m| !u.roles.contains(&m)) || u.main_role.is_none() => {
                u.main_role = names.top_role(t, &u.roles).await?;
            }
            None => {}
        }
        invalid_if_any(errs)?;
        Ok(u)
    }

    /// Moves a person through his lifecycle; suspension, archival and anonymisation end his
    /// sessions and refresh tokens at once. Without `expected`, a race with another change is
    /// retried, not refused.
    pub async fn lifecycle(
        &self,
        actor: &Actor,
        id: UserId,
        expected: Option<i64>,
        op: Lifecycle,
    ) -> Result<PersonView, AdminError> {
        let mut tries = 0;
        loop {
            match self.lifecycle_once(actor, id, expected, op).await {
                Err(AdminError::Stale) if expected.is_none() && tries < 5 => tries += 1,
                other => return other,
            }
        }
    }

    async fn lifecycle_once(
        &self,
        actor: &Actor,
        id: UserId,
        expected: Option<i64>,
        op: Lifecycle,
    ) -> Result<PersonView, AdminError> {
        let mut names = Names::load(&self.store).await?;
        let rules = self.rules(&names).await?;
        let (before, h) = self.visible(&mut names, &rules, actor, id).await?;
        if !rules.manages(actor, &h) {
            return Err(AdminError::Forbidden(format!(
                "you may not {} this person: {}",
                op.verb(),
                why_not(actor, &h)
            )));
        }
        if actor.holder().is_some_and(|a| a.user_id == id) && op != Lifecycle::Reactivate {
            return Err(AdminError::Forbidden(format!(
                "you may not {} your own account",
                op.verb()
            )));
        }
        if expected.is_some_and(|v| v != before.version) {
            return Err(AdminError::Stale);
        }
        let audit = actor.audit();
        let after = match op {
            Lifecycle::Anonymise => self.store.anonymise(&audit, id).await?,
            _ => {
                let to = match op {
                    Lifecycle::Suspend => Status::Suspended,
                    Lifecycle::Archive => Status::Archived,
                    _ => Status::Active,
                };
                let from_ok = match op {
                    Lifecycle::Reactivate => before.status == Status::Suspended,
                    Lifecycle::Activate => before.status == Status::Invited,
                    _ => true,
                };
                if !from_ok {
                    return Err(AdminError::Conflict(format!(
                        "the person is {}, not {}",
                        before.status.as_str(),
                        if op == Lifecycle::Activate {
                            "invited"
                        } else {
                            "suspended"
                        }
                    )));
                }
                let change = move |b: &User| {
                    b.status
                        .transition(to)
                        .map_err(|e| lanyard_store::StoreError::Refused(e.to_string()))?;
                    Ok(User {
                        status: to,
                        ..b.clone()
                    })
                };
                self.store
                    .modify_user(
                        &audit,
                        id,
                        Some(before.version),
                        "user.status",
                        change,
                        |u| json!({"status": u.status}),
                    )
                    .await?
            }
        };
        if matches!(
            op,
            Lifecycle::Suspend | Lifecycle::Archive | Lifecycle::Anonymise
        ) {
            self.end_sessions(id).await?;
        }
        names.view(&rules, actor, &after, true).await
    }

    /// Sets a person's password (hashed and policy-checked by the caller) and ends his
    /// sessions: whoever knew the old one is signed out.
    pub async fn set_password(
        &self,
        actor: &Actor,
        id: UserId,
        hash: &PasswordHash,
    ) -> Result<(), AdminError> {
        let mut names = Names::load(&self.store).await?;
        let rules = self.rules(&names).await?;
        let (_, h) = self.visible(&mut names, &rules, actor, id).await?;
        if !rules.manages(actor, &h) {
            return Err(AdminError::Forbidden(format!(
                "you may not set this person's password: {}",
                why_not(actor, &h)
            )));
        }
        self.store.set_password(&actor.audit(), id, hash).await?;
        self.end_sessions(id).await
    }

    /// The password policy that applies to a person the actor may manage (for the caller's
    /// check before hashing).
    pub async fn password_context(
        &self,
        actor: &Actor,
        id: UserId,
    ) -> Result<(lanyard_core::Tenant, UserProfile), AdminError> {
        let mut names = Names::load(&self.store).await?;
        let rules = self.rules(&names).await?;
        let (u, h) = self.visible(&mut names, &rules, actor, id).await?;
        if !rules.manages(actor, &h) {
            return Err(AdminError::Forbidden(format!(
                "you may not set this person's password: {}",
                why_not(actor, &h)
            )));
        }
        let t = names
            .tenant(u.tenant_id)
            .cloned()
            .ok_or(AdminError::NotFound("tenant"))?;
        Ok((t, u.profile))
    }

    async fn end_sessions(&self, id: UserId) -> Result<(), AdminError> {
        let (s, f) = self.sessions.end_user(id).await?;
        tracing::info!(user = %id, sessions = s, refresh_families = f, "ended sessions");
        Ok(())
    }

    /// The roles of the actor's tenant (or `tenant`), each marked whether he may grant it.
    pub async fn roles(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
    ) -> Result<Vec<crate::view::RoleView>, AdminError> {
        let mut names = Names::load(&self.store).await?;
        let t = names.tenant_for(actor, tenant)?;
        if actor.tenant().is_some_and(|own| own != t) {
            let rules = self.rules(&names).await?;
            if !rules.reach(actor, &[]).tenants.contains(&t) {
                return Err(AdminError::NotFound("tenant"));
            }
        }
        let top = actor
            .holder()
            .map(|h| {
                h.roles
                    .iter()
                    .filter(|r| r.allows(Privilege::AssignRoles))
                    .map(|r| r.rank)
                    .max()
                    .unwrap_or(i32::MIN)
            })
            .unwrap_or(i32::MAX);
        let mut out: Vec<_> = names
            .roles(t)
            .await?
            .iter()
            .map(|r| crate::view::RoleView {
                name: r.name.clone(),
                rank: r.rank,
                scope: r.scope.as_str().into(),
                privileges: r.privileges.iter().map(|p| p.as_str().into()).collect(),
                reports_only: r.reports_only,
                can_sign_in: r.can_sign_in,
                sees_sensitive: r.sees_sensitive,
                assignable: r.rank <= top,
            })
            .collect();
        out.sort_by(|a, b| a.rank.cmp(&b.rank).then(a.name.cmp(&b.name)));
        Ok(out)
    }

    /// The locations of the actor's tenant (or `tenant`), by path.
    pub async fn locations(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
    ) -> Result<Vec<crate::view::LocationView>, AdminError> {
        let names = Names::load(&self.store).await?;
        let t = names.tenant_for(actor, tenant)?;
        let rules = self.rules(&names).await?;
        if actor.tenant().is_some_and(|own| own != t)
            && !rules.reach(actor, &[]).tenants.contains(&t)
        {
            return Err(AdminError::NotFound("tenant"));
        }
        let slug = names.tenant(t).map(|x| x.slug.clone()).unwrap_or_default();
        let mut out: Vec<_> = rules
            .tree
            .all()
            .filter(|l| l.tenant_id == t)
            .map(|l| crate::view::LocationView {
                path: rules.tree.path_string(l.id),
                kind: l.kind.clone(),
                tenant: slug.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

fn kind(s: Option<&str>, errs: &mut Vec<FieldError>) -> Option<UserKind> {
    let s = s?;
    let k = UserKind::parse(s);
    if k.is_none() {
        errs.push(bad("kind", "must be internal or external"));
    }
    k
}
