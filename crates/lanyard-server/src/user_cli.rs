//! `lanyard user …`: everyday user administration from the command line, through the same
//! administration service as the admin API — as the operator, or `--as` a person to see what
//! he would be allowed to do.

use crate::app::App;
use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use lanyard_admin::view::{NewPerson, PersonPatch, PersonView, RolesChange};
use lanyard_admin::{Actor, AdminError, Lifecycle, ListParams};
use lanyard_core::user::UserProfile;
use lanyard_core::{Secret, Status, Tenant, UserId};
use std::io::BufRead;

/// `lanyard user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users of a tenant.
    List {
        #[command(flatten)]
        tenant: TenantArg,
        /// Only users with this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only users whose name, username or email contains this.
        #[arg(long)]
        search: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one user.
    Show(Target),
    /// Create a user.
    Create(CreateArgs),
    /// Set a user's password, read from standard input (one line).
    SetPassword(Target),
    /// Suspend a user: no sign-in, no mail. Reversible.
    Suspend(Target),
    /// Reactivate a suspended user.
    Reactivate(Target),
    /// Archive a user. Final: the record stays for audit.
    Archive(Target),
    /// Replace a user's personal data, keeping the id and the history.
    Anonymise(Target),
    /// Activate an invited user (vouching for him without the invitation mail).
    Activate(Target),
    /// Change a user's details: only the fields given change.
    Update(UpdateArgs),
    /// Replace a user's roles.
    Roles(RolesArgs),
}

/// `lanyard user [--as LOGIN] …`
#[derive(Debug, Args)]
pub struct UserArgs {
    /// Act as this person of the tenant (email or username) instead of as the all-powerful
    /// operator: see what a delegated administrator would be allowed to do. The audit log
    /// names the operator "as" him.
    #[arg(long = "as", global = true, value_name = "LOGIN")]
    pub act_as: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: UserCommand,
}

/// `lanyard user update`
#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    target: Target,
    /// Given name.
    #[arg(long)]
    given_name: Option<String>,
    /// Family name.
    #[arg(long)]
    family_name: Option<String>,
    /// Email address.
    #[arg(long)]
    email: Option<String>,
    /// Username.
    #[arg(long)]
    username: Option<String>,
    /// Phone number.
    #[arg(long)]
    phone: Option<String>,
    /// Location path, e.g. "Demo Training Co > North > Leeds".
    #[arg(long)]
    location: Option<String>,
    /// Date of birth, YYYY-MM-DD (sensitive).
    #[arg(long)]
    date_of_birth: Option<String>,
    /// National Insurance number (sensitive).
    #[arg(long)]
    national_insurance_number: Option<String>,
}

/// `lanyard user roles`
#[derive(Debug, Args)]
pub struct RolesArgs {
    #[command(flatten)]
    target: Target,
    /// A role, by name; repeat for several (the whole new set).
    #[arg(long = "role")]
    roles: Vec<String>,
    /// The main role (default: the highest-ranked).
    #[arg(long)]
    main_role: Option<String>,
}

/// Which tenant.
#[derive(Debug, Args)]
pub struct TenantArg {
    /// Tenant slug.
    #[arg(long, short, default_value = "demo")]
    pub tenant: String,
}

/// Which user.
#[derive(Debug, Args)]
pub struct Target {
    #[command(flatten)]
    pub tenant: TenantArg,
    /// Email address or username.
    login: String,
}

/// `lanyard user create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    tenant: TenantArg,
    /// Given name.
    #[arg(long)]
    given_name: String,
    /// Family name.
    #[arg(long)]
    family_name: String,
    /// Email address (this or --username is required).
    #[arg(long)]
    email: Option<String>,
    /// Username.
    #[arg(long)]
    username: Option<String>,
    /// A role, by name; repeat for several.
    #[arg(long = "role")]
    roles: Vec<String>,
    /// The main role (default: the highest-ranked).
    #[arg(long)]
    main_role: Option<String>,
    /// Location path, e.g. "Demo Training Co > North > Leeds".
    #[arg(long)]
    location: Option<String>,
    /// Create as invited rather than active.
    #[arg(long)]
    invited: bool,
    /// Read an initial password from standard input.
    #[arg(long)]
    password_stdin: bool,
}

/// Status names for --status.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    /// Invited.
    Invited,
    /// Active.
    Active,
    /// Suspended.
    Suspended,
    /// Archived.
    Archived,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Invited => Status::Invited,
            StatusArg::Active => Status::Active,
            StatusArg::Suspended => Status::Suspended,
            StatusArg::Archived => Status::Archived,
        }
    }
}

fn operator_name() -> String {
    std::env::var("USER").unwrap_or_else(|_| "operator".into())
}

pub(crate) fn read_password() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        bail!("no password on standard input");
    }
    Ok(Secret::new(pw))
}

/// An administration refusal as a CLI error (field problems one per line).
fn said(e: AdminError) -> anyhow::Error {
    match e {
        AdminError::Invalid(list) => {
            let lines: Vec<String> = list.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{}", lines.join("\n"))
        }
        other => anyhow::anyhow!("{other}"),
    }
}

fn line(v: &PersonView) -> String {
    let names: Vec<String> = v
        .roles
        .iter()
        .map(|r| {
            if Some(r) == v.main_role.as_ref() {
                format!("{r}*")
            } else {
                r.clone()
            }
        })
        .collect();
    format!(
        "{:<28} {:<24} {:<10} {}",
        v.email.as_deref().or(v.username.as_deref()).unwrap_or("-"),
        format!("{} {}", v.given_name, v.family_name).trim(),
        v.status,
        names.join(", ")
    )
}

fn login_of(v: &PersonView) -> String {
    v.email
        .clone()
        .or_else(|| v.username.clone())
        .unwrap_or_else(|| v.id.clone())
}

async fn target(app: &App, actor: &Actor, t: &Target) -> anyhow::Result<(UserId, PersonView)> {
    let v = app
        .admin
        .find(actor, &t.tenant.tenant, &t.login)
        .await
        .map_err(|e| match e {
            AdminError::NotFound(_) => anyhow::anyhow!(
                "no user {:?} in tenant {:?} (that you may see)",
                t.login,
                t.tenant.tenant
            ),
            other => said(other),
        })?;
    let id = v.id.parse().context("a stored id that does not parse")?;
    Ok((id, v))
}

fn check_policy(tenant: &Tenant, p: &UserProfile, pw: &Secret) -> anyhow::Result<()> {
    let problems =
        tenant
            .password_policy
            .check(pw.expose(), p.username.as_deref(), p.email.as_deref());
    if problems.is_empty() {
        return Ok(());
    }
    let list: Vec<_> = problems.iter().map(ToString::to_string).collect();
    bail!("the password {}", list.join("; it "))
}

/// The tenant named by a slug.
async fn tenant(app: &App, slug: &str) -> anyhow::Result<Tenant> {
    app.store
        .tenant_by_slug(slug)
        .await?
        .with_context(|| format!("no tenant {slug:?}"))
}

/// The tenant a command names (every command has one).
fn tenant_of(cmd: &UserCommand) -> &str {
    match cmd {
        UserCommand::List { tenant, .. } => &tenant.tenant,
        UserCommand::Create(a) => &a.tenant.tenant,
        UserCommand::Update(a) => &a.target.tenant.tenant,
        UserCommand::Roles(a) => &a.target.tenant.tenant,
        UserCommand::Show(t)
        | UserCommand::SetPassword(t)
        | UserCommand::Suspend(t)
        | UserCommand::Reactivate(t)
        | UserCommand::Archive(t)
        | UserCommand::Anonymise(t)
        | UserCommand::Activate(t) => &t.tenant.tenant,
    }
}

/// Runs a `lanyard user` command.
pub async fn user_command(app: &App, args: UserArgs) -> anyhow::Result<()> {
    let actor = match &args.act_as {
        None => Actor::Operator(operator_name()),
        Some(login) => app
            .admin
            .operator_as(&operator_name(), tenant_of(&args.command), login)
            .await
            .map_err(|e| match e {
                AdminError::NotFound(what) => anyhow::anyhow!("--as {login:?}: {what} not found"),
                other => said(other),
            })?,
    };
    match args.command {
        UserCommand::List {
            tenant: t,
            status,
            search,
            json,
        } => {
            let mut params = ListParams {
                tenant: Some(t.tenant.clone()),
                status: status.map(|s| Status::from(s).as_str().to_string()),
                q: search,
                sort: Some("name".into()),
                limit: Some(500),
                ..ListParams::default()
            };
            let mut count = 0usize;
            loop {
                let page = app.admin.list(&actor, &params).await.map_err(said)?;
                for mut v in page.items {
                    count += 1;
                    if json {
                        // Sensitive values stay off terminals and scripts' logs.
                        v.sensitive = None;
                        println!("{}", serde_json::to_string(&v)?);
                    } else {
                        println!("{}", line(&v));
                    }
                }
                match page.next_cursor {
                    Some(c) => params.cursor = Some(c),
                    None => break,
                }
            }
            if !json {
                println!("{count} user(s); * marks the main role");
            }
        }
        UserCommand::Show(t) => {
            let (_, v) = target(app, &actor, &t).await?;
            println!("{}", line(&v));
            let initials: String = [&v.given_name, &v.family_name]
                .iter()
                .filter_map(|n| n.trim().chars().next())
                .flat_map(char::to_uppercase)
                .collect();
            println!(
                "id: {}\ninitials: {}\ncreated: {}\nlocation: {}",
                v.id,
                initials,
                v.created_at,
                v.location.as_deref().unwrap_or("-")
            );
        }
        UserCommand::Create(a) => {
            let tenant = tenant(app, &a.tenant.tenant).await?;
            let profile = UserProfile {
                given_name: a.given_name.clone(),
                family_name: a.family_name.clone(),
                email: a.email.clone(),
                username: a.username.clone(),
                ..Default::default()
            };
            let password = if a.password_stdin {
                let pw = read_password()?;
                check_policy(&tenant, &profile, &pw)?;
                Some(app.hasher.hash(pw).await?)
            } else {
                None
            };
            let new = NewPerson {
                tenant: Some(tenant.slug.clone()),
                given_name: a.given_name,
                family_name: a.family_name,
                email: a.email,
                username: a.username,
                roles: a.roles,
                main_role: a.main_role,
                location: a.location,
                status: Some(if a.invited { "invited" } else { "active" }.into()),
                ..NewPerson::default()
            };
            let v = app
                .admin
                .create(&actor, new, password)
                .await
                .map_err(said)?;
            println!("created {} ({})", login_of(&v), v.id);
        }
        UserCommand::Update(a) => {
            let (id, v) = target(app, &actor, &a.target).await?;
            let patch = PersonPatch {
                given_name: a.given_name,
                family_name: a.family_name,
                email: a.email.map(Some),
                username: a.username.map(Some),
                phone: a.phone.map(Some),
                location: a.location.map(Some),
                date_of_birth: a.date_of_birth.map(Some),
                national_insurance_number: a.national_insurance_number.map(Some),
                ..PersonPatch::default()
            };
            let v = app
                .admin
                .update(&actor, id, Some(v.version), patch)
                .await
                .map_err(said)?;
            println!("updated {}", login_of(&v));
        }
        UserCommand::Roles(a) => {
            let (id, v) = target(app, &actor, &a.target).await?;
            let change = RolesChange {
                roles: a.roles,
                main_role: a.main_role,
            };
            let v = app
                .admin
                .set_roles(&actor, id, Some(v.version), change)
                .await
                .map_err(said)?;
            println!("{}", line(&v));
        }
        UserCommand::SetPassword(t) => {
            let (id, _) = target(app, &actor, &t).await?;
            let (tenant, profile) = app.admin.password_context(&actor, id).await.map_err(said)?;
            let pw = read_password()?;
            check_policy(&tenant, &profile, &pw)?;
            let hash = app.hasher.hash(pw).await?;
            app.admin
                .set_password(&actor, id, &hash)
                .await
                .map_err(said)?;
            println!("password set for {}", t.login);
        }
        UserCommand::Suspend(t) => {
            lifecycle(app, &actor, &t, Lifecycle::Suspend, "suspended").await?
        }
        UserCommand::Reactivate(t) => {
            lifecycle(app, &actor, &t, Lifecycle::Reactivate, "reactivated").await?
        }
        UserCommand::Activate(t) => {
            lifecycle(app, &actor, &t, Lifecycle::Activate, "activated").await?
        }
        UserCommand::Archive(t) => {
            lifecycle(app, &actor, &t, Lifecycle::Archive, "archived").await?
        }
        UserCommand::Anonymise(t) => {
            let (id, _) = target(app, &actor, &t).await?;
            app.admin
                .lifecycle(&actor, id, None, Lifecycle::Anonymise)
                .await
                .map_err(said)?;
            println!("anonymised {} (id {id} and its history kept)", t.login);
        }
    }
    Ok(())
}

async fn lifecycle(
    app: &App,
    actor: &Actor,
    t: &Target,
    op: Lifecycle,
    verb: &str,
) -> anyhow::Result<()> {
    let (id, _) = target(app, actor, t).await?;
    // Every use of a session re-checks the person's status, so a suspension takes effect at
    // once everywhere; the service also deletes the sessions and refresh families themselves.
    app.admin
        .lifecycle(actor, id, None, op)
        .await
        .map_err(said)?;
    println!("{verb} {}", t.login);
    Ok(())
}
