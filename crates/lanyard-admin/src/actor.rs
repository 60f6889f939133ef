//! Who is acting, and what the rules of `lanyard_core::scope` say he may do.

use lanyard_core::scope::{self, World};
use lanyard_core::{
    AuditActor, Holder, LocationTree, Orgs, Privilege, Role, ScopeKind, TenantId, UserId,
};
use lanyard_store::Reach;

/// The acting party of an administration call.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The local operator at the command line: no scope, no ceiling.
    Operator(String),
    /// A person, with his roles, location and tenant (a delegated administrator, or anyone
    /// reading his own record). `audit` is who the log names: the person himself, or the
    /// operator who acts as him (`lanyard user … --as`).
    Person {
        /// His place in the rules.
        holder: Holder,
        /// His login, for messages.
        login: String,
        /// Who the audit log names.
        audit: AuditActor,
    },
    /// A provisioning client (client credentials) granted admin roles in its tenant; it has
    /// no location, so location-scoped roles reach nobody for it.
    Client {
        /// Its roles in its tenant.
        holder: Holder,
        /// Its client id.
        client_id: String,
    },
}

/// The id a client's holder carries: never a person's (ids are UUIDv7, never nil).
pub(crate) fn client_holder_id() -> UserId {
    UserId::from_uuid(uuid::Uuid::nil())
}

impl Actor {
    /// The holder the rules measure from (`None` for the operator, who is not bound by them).
    pub fn holder(&self) -> Option<&Holder> {
        match self {
            Actor::Operator(_) => None,
            Actor::Person { holder, .. } | Actor::Client { holder, .. } => Some(holder),
        }
    }

    /// Who the audit log names.
    pub fn audit(&self) -> AuditActor {
        match self {
            Actor::Operator(who) => AuditActor::Cli(who.clone()),
            Actor::Person { audit, .. } => audit.clone(),
            Actor::Client { client_id, .. } => AuditActor::Client(client_id.clone()),
        }
    }

    /// The actor's own tenant (`None` for the operator).
    pub fn tenant(&self) -> Option<TenantId> {
        self.holder().map(|h| h.tenant_id)
    }

    /// Whether any of his roles carries `p` (the operator: always).
    pub fn allows(&self, p: Privilege) -> bool {
        self.holder()
            .is_none_or(|h| h.roles.iter().any(|r| r.allows(p)))
    }

    /// The highest rank he holds (`i32::MAX` for the operator).
    pub fn top_rank(&self) -> i32 {
        self.holder().map_or(i32::MAX, Holder::top_rank)
    }
}

/// The world the rules are measured in: locations and organisation relations.
pub struct Rules {
    /// All locations.
    pub tree: LocationTree,
    /// Which tenant is a client of which.
    pub orgs: Orgs,
    /// (client, provider) pairs, for widening a reach to clients.
    pub client_of: Vec<(TenantId, TenantId)>,
}

impl Rules {
    fn world(&self) -> World<'_> {
        World {
            locations: &self.tree,
            orgs: &self.orgs,
        }
    }

    /// Whether `actor` may see `target` at all.
    pub fn sees(&self, actor: &Actor, target: &Holder) -> bool {
        actor
            .holder()
            .is_none_or(|h| scope::can_see(h, target, self.world()))
    }

    /// Whether `actor` may see `target`'s sensitive fields.
    pub fn sees_sensitive(&self, actor: &Actor, target: &Holder) -> bool {
        actor
            .holder()
            .is_none_or(|h| scope::can_see_sensitive(h, target, self.world()))
    }

    /// Whether `actor` may manage `target` as he is (scope and rank).
    pub fn manages(&self, actor: &Actor, target: &Holder) -> bool {
        actor
            .holder()
            .is_none_or(|h| scope::can_manage(h, target, self.world()))
    }

    /// Whether `actor` may grant `role` to `target`.
    pub fn grants(&self, actor: &Actor, role: &Role, target: &Holder) -> bool {
        actor
            .holder()
            .is_none_or(|h| scope::can_grant(h, role, target, self.world()))
    }

    /// Checks a change from `before` to `after` (roles, location, tenant): the actor must
    /// manage the person as he was and as he will be, and grant every role added or removed.
    pub fn check_change(
        &self,
        actor: &Actor,
        before: &Holder,
        after: &Holder,
    ) -> Result<(), scope::DelegationError> {
        match actor.holder() {
            None => Ok(()),
            Some(h) => scope::check_role_change(h, before, after, self.world()),
        }
    }

    /// Everyone `actor` may see, as a reach for the store's listing (the operator: every
    /// tenant in `all`). Built from the same scope kinds [`Rules::sees`] applies.
    pub fn reach(&self, actor: &Actor, all: &[TenantId]) -> Reach {
        let Some(h) = actor.holder() else {
            return Reach {
                tenants: all.to_vec(),
                ..Reach::default()
            };
        };
        let mut r = Reach::default();
        if h.user_id != client_holder_id() {
            r.users.push(h.user_id);
        }
        for role in &h.roles {
            if !(role.allows(Privilege::ViewUsers) || role.allows(Privilege::ViewReports)) {
                continue;
            }
            match role.scope {
                ScopeKind::SelfOnly => {}
                ScopeKind::Location => r.locations.extend(h.location_id),
                ScopeKind::LocationSubtree => {
                    if let Some(l) = h.location_id {
                        r.locations.extend(self.tree.subtree(l));
                    }
                }
                ScopeKind::Organisation => r.tenants.push(h.tenant_id),
                ScopeKind::OrganisationAndClients => {
                    r.tenants.push(h.tenant_id);
                    r.tenants.extend(
                        self.client_of
                            .iter()
                            .filter(|(_, p)| *p == h.tenant_id)
                            .map(|(c, _)| *c),
                    );
                }
            }
        }
        r.tenants.sort();
        r.tenants.dedup();
        r.locations.sort();
        r.locations.dedup();
        r
    }
}
