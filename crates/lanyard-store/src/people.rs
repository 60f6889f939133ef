//! Listing people for administrators: limited to a reach (the union of tenants, locations and
//! named people a caller's roles cover), filtered in the database, paged by keyset cursor so a
//! deep page costs what the first one does.

use crate::rows;
use crate::users::user_row;
use crate::{Store, StoreError};
use lanyard_core::{AccountId, LocationId, RoleId, Status, TenantId, User, UserId};
use std::collections::HashMap;

/// Whom a listing may return: anyone in one of these tenants, at one of these locations, or
/// named here. Empty everywhere means nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// Whole tenants.
    pub tenants: Vec<TenantId>,
    /// Locations (a subtree is listed node by node).
    pub locations: Vec<LocationId>,
    /// Individual people.
    pub users: Vec<UserId>,
}

impl Reach {
    /// Whether it reaches nobody.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty() && self.locations.is_empty() && self.users.is_empty()
    }
}

/// The order of a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PeopleSort {
    /// Oldest first (ids are UUIDv7, so id order is creation order).
    #[default]
    Created,
    /// By family name, then given name (case-insensitive).
    Name,
}

/// Where the previous page ended: the sort key of its last person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeopleCursor {
    /// Lower-cased family name (empty for [`PeopleSort::Created`]).
    pub family: String,
    /// Lower-cased given name (empty for [`PeopleSort::Created`]).
    pub given: String,
    /// The id.
    pub id: UserId,
}

/// A listing: whom, which, in what order, from where.
#[derive(Debug, Clone, Default)]
pub struct PeopleQuery {
    /// Whom the caller may see.
    pub reach: Reach,
    /// Only people of this tenant.
    pub tenant: Option<TenantId>,
    /// Only this status.
    pub status: Option<Status>,
    /// Only holders of this role.
    pub role: Option<RoleId>,
    /// Only people at these locations (a subtree, resolved by the caller).
    pub locations: Option<Vec<LocationId>>,
    /// Only people with a current employment at this account (on `today`).
    pub account: Option<AccountId>,
    /// Only members of this group.
    pub group: Option<String>,
    /// Name, username or email contains this (case-insensitive).
    pub search: Option<String>,
    /// Order.
    pub sort: PeopleSort,
    /// Continue after this person.
    pub after: Option<PeopleCursor>,
    /// Page size (1 to 500).
    pub limit: i64,
    /// Today, `YYYY-MM-DD`, for "current" employments.
    pub today: String,
}

/// Builds a query with numbered placeholders, binding as it goes.
pub(crate) struct Sql {
    pub(crate) text: String,
    args: Vec<String>,
}

impl Sql {
    pub(crate) fn new(start: &str) -> Self {
        Self {
            text: start.to_string(),
            args: Vec::new(),
        }
    }

    /// The query with every argument bound.
    pub(crate) fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = q.bind(a.clone());
        }
        q
    }

    pub(crate) fn arg(&mut self, v: impl Into<String>) -> String {
        self.args.push(v.into());
        format!("${}", self.args.len())
    }

    /// `(tenant IN … OR EXISTS person in reach)` for a record whose tenant is `tenant_col` and
    /// whose person `u` is found by `person_on` (e.g. `u.id = s.user_id`).
    pub(crate) fn reach(&mut self, r: &Reach, tenant_col: &str, person_on: &str) {
        let mut whom = Vec::new();
        if !r.tenants.is_empty() {
            let l = self.list(&r.tenants);
            whom.push(format!("{tenant_col} IN ({l})"));
        }
        let mut person = Vec::new();
        if !r.locations.is_empty() {
            let l = self.list(&r.locations);
            person.push(format!("u.location_id IN ({l})"));
        }
        if !r.users.is_empty() {
            let l = self.list(&r.users);
            person.push(format!("u.id IN ({l})"));
        }
        if !person.is_empty() {
            whom.push(format!(
                "EXISTS (SELECT 1 FROM users u WHERE {person_on} AND ({}))",
                person.join(" OR ")
            ));
        }
        self.text.push('(');
        self.text.push_str(&whom.join(" OR "));
        self.text.push(')');
    }

    /// A log's time window, cursor (older than `before`), newest-first order and page size
    /// (one more row than the page, to tell whether more follow); returns the page size.
    pub(crate) fn newest_first(
        &mut self,
        alias: &str,
        since: Option<i64>,
        until: Option<i64>,
        before: Option<String>,
        limit: i64,
    ) -> i64 {
        for (op, t) in [(">=", since), ("<", until)] {
            if let Some(t) = t {
                // Bound as text like every other argument here, compared as a number.
                let a = self.arg(t.to_string());
                self.text
                    .push_str(&format!(" AND {alias}.at {op} CAST({a} AS BIGINT)"));
            }
        }
        if let Some(id) = before {
            let a = self.arg(id);
            self.text.push_str(&format!(" AND {alias}.id < {a}"));
        }
        let limit = limit.clamp(1, 500);
        self.text
            .push_str(&format!(" ORDER BY {alias}.id DESC LIMIT {}", limit + 1));
        limit
    }

    pub(crate) fn list<T: ToString>(&mut self, items: &[T]) -> String {
        let marks: Vec<String> = items.iter().map(|i| self.arg(i.to_string())).collect();
        marks.join(", ")
    }
}

impl Store {
    /// One page of the people `q` describes, and whether more follow.
    pub async fn people(&self, q: &PeopleQuery) -> Result<(Vec<User>, bool), StoreError> {
        if q.reach.is_empty() || q.locations.as_ref().is_some_and(Vec::is_empty) {
            return Ok((Vec::new(), false));
        }
        let mut s = Sql::new("SELECT * FROM users WHERE (");
        let mut reach = Vec::new();
        if !q.reach.tenants.is_empty() {
            let l = s.list(&q.reach.tenants);
            reach.push(format!("tenant_id IN ({l})"));
        }
        if !q.reach.locations.is_empty() {
            let l = s.list(&q.reach.locations);
            reach.push(format!("location_id IN ({l})"));
        }
        if !q.reach.users.is_empty() {
            let l = s.list(&q.reach.users);
            reach.push(format!("id IN ({l})"));
        }
        s.text.push_str(&reach.join(" OR "));
        s.text.push(')');
        if let Some(t) = q.tenant {
            let a = s.arg(t.to_string());
            s.text.push_str(&format!(" AND tenant_id = {a}"));
        }
        if let Some(st) = q.status {
            let a = s.arg(st.as_str());
            s.text.push_str(&format!(" AND status = {a}"));
        }
        if let Some(r) = q.role {
            let a = s.arg(r.to_string());
            s.text.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = users.id AND ur.role_id = {a})"
            ));
        }
        if let Some(locs) = &q.locations {
            let l = s.list(locs);
            s.text.push_str(&format!(" AND location_id IN ({l})"));
        }
        if let Some(acc) = q.account {
            let a = s.arg(acc.to_string());
            let t = s.arg(q.today.clone());
            s.text.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM employments e WHERE e.user_id = users.id AND e.account_id = {a}
                   AND e.starts_on <= {t} AND (e.ends_on IS NULL OR e.ends_on >= {t}))"
            ));
        }
        if let Some(g) = &q.group {
            let a = s.arg(g.clone());
            s.text.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM user_groups g WHERE g.user_id = users.id AND g.name = {a})"
            ));
        }
        if let Some(text) = q.search.as_deref().filter(|t| !t.trim().is_empty()) {
            let like = format!(
                "%{}%",
                text.trim().to_lowercase().replace(['%', '_', '\\'], "")
            );
            let a = s.arg(like);
            s.text.push_str(&format!(
                " AND (LOWER(given_name || ' ' || family_name) LIKE {a} OR email_lower LIKE {a} OR username_lower LIKE {a})"
            ));
        }
        match (q.sort, &q.after) {
            (PeopleSort::Created, Some(c)) => {
                let a = s.arg(c.id.to_string());
                s.text.push_str(&format!(" AND id > {a}"));
            }
            (PeopleSort::Name, Some(c)) => {
                let f = s.arg(c.family.clone());
                let g = s.arg(c.given.clone());
                let i = s.arg(c.id.to_string());
                s.text.push_str(&format!(
                    " AND (LOWER(family_name) > {f} OR (LOWER(family_name) = {f} AND
                       (LOWER(given_name) > {g} OR (LOWER(given_name) = {g} AND id > {i}))))"
                ));
            }
            (_, None) => {}
        }
        s.text.push_str(match q.sort {
            PeopleSort::Created => " ORDER BY id",
            PeopleSort::Name => " ORDER BY LOWER(family_name), LOWER(given_name), id",
        });
        let limit = q.limit.clamp(1, 500);
        s.text.push_str(&format!(" LIMIT {}", limit + 1));
        let found = s.query().fetch_all(self.pool()?).await?;
        let more = found.len() as i64 > limit;
        let mut people = found
            .iter()
            .take(limit as usize)
            .map(user_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.fill_many(&mut people).await?;
        Ok((people, more))
    }

    /// Roles, groups and attributes of many people in one round trip.
    async fn fill_many(&self, people: &mut [User]) -> Result<(), StoreError> {
        if people.is_empty() {
            return Ok(());
        }
        let mut s = Sql::new("");
        let ids: Vec<UserId> = people.iter().map(|u| u.id).collect();
        let l = s.list(&ids);
        s.text = format!(
            "SELECT 'r' AS kind, user_id AS u, role_id AS k, CAST(NULL AS TEXT) AS v FROM user_roles WHERE user_id IN ({l})
             UNION ALL SELECT 'g', user_id, name, CAST(NULL AS TEXT) FROM user_groups WHERE user_id IN ({l})
             UNION ALL SELECT 'a', user_id, key, value FROM user_attributes WHERE user_id IN ({l})"
        );
        let found = s.query().fetch_all(self.pool()?).await?;
        let at: HashMap<UserId, usize> = ids.iter().enumerate().map(|(i, u)| (*u, i)).collect();
        for r in found {
            let uid: UserId = rows::id(&r, "u")?;
            let Some(u) = at.get(&uid).and_then(|i| people.get_mut(*i)) else {
                continue;
            };
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
}

/// Which audit records to read: those about people in `reach` (and every record of the
/// tenants it names whole), newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Whose records the caller may read.
    pub reach: Reach,
    /// Only records about this person.
    pub user: Option<UserId>,
    /// Only records by this actor (`user:ID`, `cli:NAME`, `realm:FILE`, `client:ID`, …).
    pub actor: Option<String>,
    /// Only actions starting with this (`user.` or `user.status`).
    pub action: Option<String>,
    /// At or after (Unix milliseconds).
    pub since: Option<i64>,
    /// Before (Unix milliseconds).
    pub until: Option<i64>,
    /// Continue after (older than) this record.
    pub before_id: Option<lanyard_core::AuditId>,
    /// Page size (1 to 500).
    pub limit: i64,
}

impl Store {
    /// One page of audit records, newest first, and whether more follow.
    pub async fn audit_page(
        &self,
        q: &AuditQuery,
    ) -> Result<(Vec<crate::AuditEntry>, bool), StoreError> {
        if q.reach.is_empty() {
            return Ok((Vec::new(), false));
        }
        let mut s = Sql::new("SELECT a.* FROM audit_log a WHERE ");
        s.reach(
            &q.reach,
            "a.tenant_id",
            "a.target_kind = 'user' AND u.id = a.target_id",
        );
        if let Some(u) = q.user {
            let a = s.arg(u.to_string());
            s.text.push_str(&format!(
                " AND a.target_kind = 'user' AND a.target_id = {a}"
            ));
        }
        if let Some(actor) = &q.actor {
            let a = s.arg(actor.clone());
            s.text.push_str(&format!(" AND a.actor = {a}"));
        }
        if let Some(action) = &q.action {
            let a = s.arg(format!("{}%", action.replace(['%', '_', '\\'], "")));
            s.text.push_str(&format!(" AND a.action LIKE {a}"));
        }
        let before = q.before_id.map(|i| i.to_string());
        let limit = s.newest_first("a", q.since, q.until, before, q.limit);
        let found = s.query().fetch_all(self.pool()?).await?;
        let more = found.len() as i64 > limit;
        let items = found
            .iter()
            .take(limit as usize)
            .map(crate::audit::entry)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, more))
    }
}
