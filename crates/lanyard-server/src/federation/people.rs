//! Who an upstream person is here: the person linked to his upstream subject; else, if the
//! connection allows it and the upstream vouches for the email, the local person with that
//! email (linked now); else a new person made just in time. Later sign-ins update the mapped
//! names, email and the roles this connection hands out (roles given by other means stay).
//! Suspended and archived people stay refused whatever the upstream says.

use crate::app::App;
use crate::signin::flow::Trouble;
use lanyard_core::status::{may_sign_in, SignInRefusal, Status};
use lanyard_core::{AuditActor, RoleId, TenantId, User, UserProfile};
use lanyard_federation::{Mapped, OidcConnection};
use lanyard_store::NewUser;
use std::collections::BTreeSet;

/// Why an upstream person may not sign in.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// A local person has the email, and the connection may not (or cannot safely) link.
    EmailTaken { email: String, verified: bool },
    /// Known, but may not sign in (status or roles).
    Status(SignInRefusal),
    /// The mapping names roles or places the tenant does not have.
    Misconfigured(String),
    /// Nobody here is linked to this upstream person, and the connection makes nobody.
    NotProvisioned,
}

impl Refusal {
    /// For the person.
    pub(crate) fn text(&self) -> &'static str {
        match self {
            Refusal::EmailTaken { .. } => "An account with your email address already exists here, and it is not linked to this sign-in. Please sign in with your password, or ask your administrator to link it.",
            Refusal::Status(SignInRefusal::Suspended) => "Your account is suspended. Please contact your administrator.",
            Refusal::Status(SignInRefusal::Archived) => "Your account has been closed. Please contact your administrator.",
            Refusal::Status(SignInRefusal::Invited) => "Your account has not been activated yet. Please accept your invitation first.",
            Refusal::Status(SignInRefusal::NoSignInRole) => "Your account does not allow signing in. Please contact your administrator.",
            Refusal::Misconfigured(_) => "This sign-in option is not set up correctly. Please contact your administrator and quote the reference below.",
            Refusal::NotProvisioned => "You do not have an account here yet. Please ask your administrator to add you, and quote the reference below.",
        }
    }

    /// For the administrator's log.
    pub(crate) fn log(&self) -> String {
        match self {
            Refusal::EmailTaken { email, verified } => format!(
                "a local person has email {email}; not linked (link_existing_by_email is off, or the upstream does not vouch for the email: verified={verified})"
            ),
            Refusal::Status(r) => format!("{r:?}"),
            Refusal::Misconfigured(m) => m.clone(),
            Refusal::NotProvisioned => "no person is linked to this upstream subject and the connection's create_people is off (just-in-time people disabled): add the person, or link him by a verified email with link_existing_by_email".into(),
        }
    }
}

/// The roles `mapped` names, as ids (every name must exist), and the ids of every role the
/// connection can hand out.
fn role_ids(
    view: &crate::directory::TenantView,
    c: &OidcConnection,
    mapped: &Mapped,
) -> Result<(BTreeSet<RoleId>, BTreeSet<RoleId>), Refusal> {
    let id = |name: &str| {
        view.role_by_name(name).map(|r| r.id).ok_or_else(|| {
            Refusal::Misconfigured(format!("connection {}: no role {name:?}", c.name))
        })
    };
    let given = mapped
        .roles
        .iter()
        .map(|r| id(r))
        .collect::<Result<_, _>>()?;
    let grantable = c
        .default_roles
        .iter()
        .chain(c.role_map.iter().map(|r| &r.role))
        .map(|r| id(r))
        .collect::<Result<_, _>>()?;
    Ok((given, grantable))
}

fn main_role(view: &crate::directory::TenantView, roles: &BTreeSet<RoleId>) -> Option<RoleId> {
    view.held(roles).max_by_key(|r| r.rank).map(|r| r.id)
}

/// The person `mapped` is, made or updated as needed; or why he may not sign in.
pub(crate) async fn resolve(
    app: &App,
    tenant: TenantId,
    c: &OidcConnection,
    mapped: &Mapped,
) -> Result<Result<User, Refusal>, Trouble> {
    let actor = AuditActor::Connection(c.name.clone());
    let view = app.directory.tenant(tenant).await?;
    let (given, grantable) = match role_ids(&view, c, mapped) {
        Ok(x) => x,
        Err(r) => return Ok(Err(r)),
    };
    let linked = match app
        .store
        .federated_user(tenant, &c.name, &mapped.subject)
        .await?
    {
        Some(id) => app.store.user(id).await?,
        None => None,
    };
    let user = match linked {
        Some(u) => update(app, &actor, &view, u, mapped, &given, &grantable).await?,
        None => {
            let existing = match &mapped.email {
                Some(e) => app.store.user_by_login(tenant, e).await?,
                None => None,
            };
            match existing {
                Some(u) if c.link_existing_by_email && mapped.email_verified => {
                    app.store
                        .link_federated(&actor, &u, &c.name, &mapped.subject)
                        .await?;
                    update(app, &actor, &view, u, mapped, &given, &grantable).await?
                }
                Some(u) => {
                    // The person with this email may be this very upstream person, made a
                    // moment ago by his own first sign-in in another tab or process.
                    let linked_now = app
                        .store
                        .federated_user(tenant, &c.name, &mapped.subject)
                        .await?;
                    if linked_now != Some(u.id) {
                        return Ok(Err(Refusal::EmailTaken {
                            email: mapped.email.clone().unwrap_or_default(),
                            verified: mapped.email_verified,
                        }));
                    }
                    update(app, &actor, &view, u, mapped, &given, &grantable).await?
                }
                None if !c.create_people => return Ok(Err(Refusal::NotProvisioned)),
                None => {
                    let location_id = match &c.location {
                        Some(p) => match view.location_by_path(p) {
                            Some(l) => Some(l.id),
                            None => {
                                return Ok(Err(Refusal::Misconfigured(format!(
                                    "connection {}: no location {p:?}",
                                    c.name
                                ))))
                            }
                        },
                        None => None,
                    };
                    let account = match &c.account {
                        Some(a) => match view.account_by_name(a) {
                            Some(a) => Some(a.id),
                            None => {
                                return Ok(Err(Refusal::Misconfigured(format!(
                                    "connection {}: no account {a:?}",
                                    c.name
                                ))))
                            }
                        },
                        None => None,
                    };
                    let new = NewUser {
                        tenant_id: tenant,
                        profile: UserProfile {
                            given_name: mapped.given_name.clone(),
                            family_name: mapped.family_name.clone(),
                            email: mapped.email.clone(),
                            ..Default::default()
                        },
                        status: Status::Active,
                        location_id,
                        main_role: main_role(&view, &given),
                        roles: given.clone(),
                        password: None,
                    };
                    match app
                        .store
                        .provision_federated(&actor, new, account, &c.name, &mapped.subject)
                        .await
                    {
                        Ok(u) => u,
                        // The same person's first sign-in in another tab or process made him
                        // a moment ago (the email or the link is taken): that is who he is.
                        Err(e) => {
                            let made = match app
                                .store
                                .federated_user(tenant, &c.name, &mapped.subject)
                                .await?
                            {
                                Some(id) => app.store.user(id).await?,
                                None => None,
                            };
                            match made {
                                Some(u) => u,
                                None => return Err(e.into()),
                            }
                        }
                    }
                }
            }
        }
    };
    let held: Vec<_> = view.held(&user.roles).cloned().collect();
    Ok(match may_sign_in(user.status, &held) {
        Ok(()) => Ok(user),
        Err(r) => Err(Refusal::Status(r)),
    })
}

/// Brings a linked person's mapped fields up to date: names and email as the upstream says,
/// and of the roles this connection hands out exactly those the claims give now.
async fn update(
    app: &App,
    actor: &AuditActor,
    view: &crate::directory::TenantView,
    u: User,
    mapped: &Mapped,
    given: &BTreeSet<RoleId>,
    grantable: &BTreeSet<RoleId>,
) -> Result<User, Trouble> {
    if u.status == Status::Archived || u.anonymised {
        return Ok(u);
    }
    let mut user = u;
    let mut profile = user.profile.clone();
    profile.given_name = mapped.given_name.clone();
    profile.family_name = mapped.family_name.clone();
    if mapped.email.is_some() {
        profile.email = mapped.email.clone();
    }
    if profile != user.profile {
        match app.store.update_profile(actor, user.id, profile).await {
            Ok(u) => user = u,
            // Another person has the new email: keep the old one, say so to the administrator.
            Err(e) => tracing::warn!(user = %user.id, error = %e, "upstream profile not applied"),
        }
    }
    let roles: BTreeSet<RoleId> = user
        .roles
        .iter()
        .filter(|r| !grantable.contains(r))
        .chain(given.iter())
        .copied()
        .collect();
    if roles != user.roles {
        let main = user
            .main_role
            .filter(|m| roles.contains(m))
            .or_else(|| main_role(view, &roles));
        user = app.store.set_roles(actor, user.id, roles, main).await?;
    }
    Ok(user)
}
