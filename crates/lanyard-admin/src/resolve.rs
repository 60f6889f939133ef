//! Names to ids and back, in one place: role names, location paths, account names and tenant
//! slugs as administrators write them, and the person views built from stored records.

use crate::actor::{Actor, Rules};
use crate::error::AdminError;
use crate::view::{EmploymentView, PersonView, SensitiveView};
use lanyard_core::{
    AccountId, FieldError, Holder, LocationId, Role, RoleId, Tenant, TenantId, User,
};
use lanyard_store::Store;
use std::collections::{BTreeSet, HashMap};
use time::format_description::well_known::Rfc3339;

/// Tenants and role sets met during one call, fetched once each.
pub(crate) struct Names<'a> {
    store: &'a Store,
    tenants: Vec<Tenant>,
    roles: HashMap<TenantId, Vec<Role>>,
}

pub(crate) fn bad(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

impl<'a> Names<'a> {
    pub(crate) async fn load(store: &'a Store) -> Result<Names<'a>, AdminError> {
        Ok(Self {
            store,
            tenants: store.tenants().await?,
            roles: HashMap::new(),
        })
    }

    pub(crate) fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    pub(crate) fn tenant_ids(&self) -> Vec<TenantId> {
        self.tenants.iter().map(|t| t.id).collect()
    }

    pub(crate) fn tenant(&self, id: TenantId) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }

    pub(crate) fn tenant_by_slug(&self, slug: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.slug == slug)
    }

    /// The tenant named by `slug`, or the actor's own; the operator must name one.
    pub(crate) fn tenant_for(
        &self,
        actor: &Actor,
        slug: Option<&str>,
    ) -> Result<TenantId, AdminError> {
        match (slug, actor.tenant()) {
            (Some(s), _) => self
                .tenant_by_slug(s)
                .map(|t| t.id)
                .ok_or_else(|| AdminError::invalid("tenant", format!("no tenant {s:?}"))),
            (None, Some(t)) => Ok(t),
            (None, None) => Err(AdminError::invalid("tenant", "name the tenant")),
        }
    }

    /// The role set that applies in `tenant` (a client organisation uses its provider's).
    pub(crate) async fn roles(&mut self, tenant: TenantId) -> Result<&[Role], AdminError> {
        if !self.roles.contains_key(&tenant) {
            let r = self.store.roles(tenant).await?;
            self.roles.insert(tenant, r);
        }
        Ok(self.roles.get(&tenant).map(Vec::as_slice).unwrap_or(&[]))
    }

    /// Role names to ids, every unknown name reported.
    pub(crate) async fn role_ids(
        &mut self,
        tenant: TenantId,
        names: &[String],
        errs: &mut Vec<FieldError>,
    ) -> Result<BTreeSet<RoleId>, AdminError> {
        let roles = self.roles(tenant).await?;
        let mut out = BTreeSet::new();
        for n in names {
            match roles.iter().find(|r| r.name.eq_ignore_ascii_case(n.trim())) {
                Some(r) => {
                    out.insert(r.id);
                }
                None => errs.push(bad("roles", format!("no role {n:?} in this tenant"))),
            }
        }
        Ok(out)
    }

    /// One role name to its id.
    pub(crate) async fn role_id(
        &mut self,
        tenant: TenantId,
        field: &'static str,
        name: &str,
        errs: &mut Vec<FieldError>,
    ) -> Result<Option<RoleId>, AdminError> {
        let roles = self.roles(tenant).await?;
        let found = roles
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name.trim()))
            .map(|r| r.id);
        if found.is_none() {
            errs.push(bad(field, format!("no role {name:?} in this tenant")));
        }
        Ok(found)
    }

    /// The highest-ranked of `roles`: the default main role.
    pub(crate) async fn top_role(
        &mut self,
        tenant: TenantId,
        roles: &BTreeSet<RoleId>,
    ) -> Result<Option<RoleId>, AdminError> {
        Ok(self
            .roles(tenant)
            .await?
            .iter()
            .filter(|r| roles.contains(&r.id))
            .max_by_key(|r| r.rank)
            .map(|r| r.id))
    }

    /// A person as the rules see him.
    pub(crate) async fn holder(&mut self, u: &User) -> Result<Holder, AdminError> {
        let roles = self.roles(u.tenant_id).await?;
        Ok(Holder {
            user_id: u.id,
            tenant_id: u.tenant_id,
            location_id: u.location_id,
            roles: roles
                .iter()
                .filter(|r| u.roles.contains(&r.id))
                .cloned()
                .collect(),
        })
    }

    /// An account of `tenant` by name.
    pub(crate) async fn account_id(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<AccountId>, AdminError> {
        Ok(self
            .store
            .accounts(tenant)
            .await?
            .into_iter()
            .find(|a| a.name.eq_ignore_ascii_case(name.trim()))
            .map(|a| a.id))
    }

    /// The view of `u` that `actor` may see; employments only when asked for.
    pub(crate) async fn view(
        &mut self,
        rules: &Rules,
        actor: &Actor,
        u: &User,
        employments: bool,
    ) -> Result<PersonView, AdminError> {
        let holder = self.holder(u).await?;
        let roles = self.roles(u.tenant_id).await?;
        let mut role_names: Vec<String> = roles
            .iter()
            .filter(|r| u.roles.contains(&r.id))
            .map(|r| r.name.clone())
            .collect();
        role_names.sort();
        let main_role = roles
            .iter()
            .find(|r| Some(r.id) == u.main_role)
            .map(|r| r.name.clone());
        let employments = if employments {
            let accounts = self.store.accounts(u.tenant_id).await?;
            let list = self.store.employments(u.id).await?;
            Some(
                list.into_iter()
                    .map(|e| EmploymentView {
                        account: accounts
                            .iter()
                            .find(|a| a.id == e.account_id)
                            .map(|a| a.name.clone())
                            .unwrap_or_default(),
                        starts_on: date(e.starts_on),
                        ends_on: e.ends_on.map(date),
                        main: e.main,
                    })
                    .collect(),
            )
        } else {
            None
        };
        let p = &u.profile;
        let sensitive = rules.sees_sensitive(actor, &holder).then(|| SensitiveView {
            date_of_birth: p.sensitive.date_of_birth.map(date),
            national_insurance_number: p.sensitive.national_insurance_number.clone(),
        });
        Ok(PersonView {
            id: u.id.to_string(),
            tenant: self
                .tenant(u.tenant_id)
                .map(|t| t.slug.clone())
                .unwrap_or_default(),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            email: p.email.clone(),
            username: p.username.clone(),
            phone: p.phone.clone(),
            kind: p.kind.map(|k| k.as_str().to_string()),
            status: u.status.as_str().to_string(),
            roles: role_names,
            main_role,
            location: u.location_id.map(|l| rules.tree.path_string(l)),
            groups: p.groups.iter().cloned().collect(),
            attributes: p.attributes.clone(),
            employments,
            sensitive,
            anonymised: u.anonymised,
            created_at: u.created_at.format(&Rfc3339).unwrap_or_default(),
            updated_at: u.updated_at.format(&Rfc3339).unwrap_or_default(),
            version: u.version,
        })
    }
}

/// A location path ("A > B > C") within `tenant`.
pub(crate) fn location_id(
    rules: &Rules,
    tenant: TenantId,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Option<LocationId> {
    let parts: Vec<&str> = path.split('>').map(str::trim).collect();
    let found = rules.tree.find_by_path(tenant, &parts).map(|l| l.id);
    if found.is_none() {
        errs.push(bad(
            "location",
            format!("no location {path:?} in this tenant"),
        ));
    }
    found
}

/// `YYYY-MM-DD`.
pub(crate) fn date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses `YYYY-MM-DD`.
pub(crate) fn parse_date(
    field: &'static str,
    s: &str,
    errs: &mut Vec<FieldError>,
) -> Option<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(s.trim(), &fmt) {
        Ok(d) => Some(d),
        Err(_) => {
            errs.push(bad(field, format!("{s:?} is not a date (YYYY-MM-DD)")));
            None
        }
    }
}
