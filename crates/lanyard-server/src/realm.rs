//! Realm files: the declarative description of tenants, locations, accounts, roles and users
//! that `lanyard apply` makes true. Parsing checks the whole file and reports every problem
//! with its line before anything is written.

use lanyard_core::account::AccountKind;
use lanyard_core::role::{Privilege, ScopeKind};
use lanyard_core::tenant::Branding;
use lanyard_core::user::UserProfile;
use lanyard_core::{PasswordPolicy, RolePreset, Secret, Status, UserKind};
use lanyard_store::realm::{
    AccountPlan, EmploymentPlan, LocationPlan, PasswordPlan, RolePlan, TenantPlan, UserPlan,
};
use lanyard_store::RealmPlan;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

/// A realm file's problem, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmError {
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RealmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RealmDoc {
    #[serde(default)]
    tenant: Vec<Spanned<TenantDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantDoc {
    slug: Spanned<String>,
    name: String,
    client_of: Option<Spanned<String>>,
    #[serde(default = "default_preset")]
    preset: Spanned<String>,
    #[serde(default)]
    password_policy: PasswordPolicy,
    #[serde(default)]
    branding: Branding,
    #[serde(default)]
    mfa: lanyard_core::tenant::MfaPolicy,
    #[serde(default)]
    location: Vec<Spanned<LocationDoc>>,
    #[serde(default)]
    account: Vec<Spanned<AccountDoc>>,
    #[serde(default)]
    role: Vec<Spanned<RoleDoc>>,
    #[serde(default)]
    user: Vec<Spanned<UserDoc>>,
    #[serde(default)]
    client: Vec<Spanned<ClientDoc>>,
    #[serde(default)]
    saml_sp: Vec<Spanned<SamlSpDoc>>,
    #[serde(default)]
    connection: Vec<Spanned<ConnectionDoc>>,
}

/// An upstream identity provider people of the tenant sign in through.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionDoc {
    name: String,
    kind: Spanned<String>,
    display_name: Option<String>,
    issuer: String,
    discovery_url: Option<String>,
    #[serde(default)]
    allowed_tenant_ids: Vec<String>,
    client_id: String,
    client_secret: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    domains: Vec<String>,
    account: Option<String>,
    location: Option<String>,
    #[serde(default)]
    default_roles: Vec<String>,
    #[serde(default)]
    role_map: Vec<lanyard_federation::RoleRule>,
    #[serde(default)]
    link_existing_by_email: bool,
    #[serde(default)]
    trust_upstream_mfa: bool,
    create_people: Option<bool>,
    timeout_secs: Option<u64>,
}

/// A SAML service provider: from its metadata (a file next to the realm file, or inline),
/// with anything given here taking precedence.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SamlSpDoc {
    entity_id: Option<String>,
    name: Option<String>,
    metadata_file: Option<String>,
    metadata: Option<String>,
    #[serde(default)]
    acs_urls: Vec<String>,
    slo_url: Option<String>,
    slo_binding: Option<String>,
    #[serde(default)]
    certificates: Vec<String>,
    require_signed_requests: Option<bool>,
    #[serde(default)]
    sign_response: bool,
    name_id_formats: Option<Vec<String>>,
    attributes: Option<Vec<AttributeDoc>>,
    #[serde(default)]
    role_map: BTreeMap<String, String>,
    #[serde(default)]
    require_mfa: bool,
    #[serde(default)]
    idp_initiated: bool,
    assertion_ttl_secs: Option<i64>,
    /// The connection this SP's people sign in through.
    connection: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AttributeDoc {
    Plain(String),
    Mapped {
        source: String,
        name: Option<String>,
        name_format: Option<String>,
        friendly_name: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientDoc {
    client_id: String,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    secret: Option<Spanned<String>>,
    secret_sha256: Option<String>,
    token_endpoint_auth_method: Option<Spanned<String>>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    grant_types: Option<Vec<Spanned<String>>>,
    scopes: Option<Vec<String>>,
    jwks: Option<serde_json::Value>,
    signing_alg: Option<Spanned<String>>,
    #[serde(default)]
    role_map: BTreeMap<String, String>,
    #[serde(default)]
    may_introspect: bool,
    access_token_ttl_secs: Option<i64>,
    refresh_token_ttl_secs: Option<i64>,
    #[serde(default)]
    require_mfa: bool,
    /// The connection this client's people sign in through.
    connection: Option<String>,
    /// Roles it acts with on the admin API (client credentials).
    #[serde(default)]
    admin_roles: Vec<String>,
}

fn default_preset() -> Spanned<String> {
    Spanned::new(0..0, "lms".into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationDoc {
    /// "Company > Region > Location".
    path: String,
    #[serde(default = "default_kind")]
    kind: String,
}

fn default_kind() -> String {
    "location".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountDoc {
    name: String,
    kind: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleDoc {
    name: String,
    rank: i32,
    scope: Spanned<String>,
    #[serde(default)]
    privileges: Vec<Spanned<String>>,
    #[serde(default)]
    reports_only: bool,
    #[serde(default = "yes")]
    can_sign_in: bool,
    #[serde(default)]
    sees_sensitive: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserDoc {
    given_name: String,
    family_name: String,
    username: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    kind: Option<Spanned<String>>,
    status: Option<Spanned<String>>,
    location: Option<Spanned<String>>,
    roles: Option<Vec<Spanned<String>>>,
    main_role: Option<Spanned<String>>,
    groups: Option<BTreeSet<String>>,
    attributes: Option<BTreeMap<String, String>>,
    date_of_birth: Option<toml::value::Datetime>,
    national_insurance_number: Option<String>,
    employments: Option<Vec<EmploymentDoc>>,
    password: Option<Spanned<String>>,
    password_hash: Option<Spanned<String>>,
    totp_secret: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmploymentDoc {
    account: String,
    starts_on: toml::value::Datetime,
    ends_on: Option<toml::value::Datetime>,
    #[serde(default)]
    main: bool,
}

/// A user's password as the file gives it, to be resolved against what is stored.
#[derive(Debug, Clone)]
pub enum FilePassword {
    /// None given.
    None,
    /// Plain text (hashed at apply time unless the stored hash already matches).
    Plain(Secret),
    /// A ready Argon2id hash.
    Hash(lanyard_core::PasswordHash),
}

/// A parsed, cross-checked realm file: the plan plus each user's password as given.
#[derive(Debug, Clone)]
pub struct ParsedRealm {
    /// The plan (with every password `Keep` until resolved).
    pub plan: RealmPlan,
    /// Passwords by (tenant index, user index).
    pub passwords: BTreeMap<(usize, usize), FilePassword>,
}

struct Lines<'a> {
    text: &'a str,
    errors: Vec<RealmError>,
}

impl Lines<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }
    fn at<T>(&mut self, span: &Spanned<T>, message: impl Into<String>) {
        let line = if span.span().is_empty() && span.span().start == 0 {
            0
        } else {
            self.line_of(span.span().start)
        };
        self.errors.push(RealmError {
            line,
            message: message.into(),
        });
    }
}

fn date(d: &toml::value::Datetime) -> Option<time::Date> {
    match (d.date, d.time, d.offset) {
        (Some(x), None, None) => time::Date::from_calendar_date(
            i32::from(x.year),
            time::Month::try_from(x.month).ok()?,
            x.day,
        )
        .ok(),
        _ => None,
    }
}

fn split_path(p: &str) -> Vec<String> {
    p.split('>').map(|s| s.trim().to_string()).collect()
}

/// Parses and checks a realm file; all problems are returned together.
pub fn parse(text: &str) -> Result<ParsedRealm, Vec<RealmError>> {
    parse_at(text, None)
}

/// Reads a certificate given as PEM or as bare base64 DER; returns base64 DER.
pub fn certificate_base64(text: &str) -> Option<String> {
    use base64::Engine;
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .ok()?;
    openssl::x509::X509::from_der(&der).ok()?;
    Some(body)
}

/// Builds an SP registration from its metadata and the overrides of a realm entry or the
/// command line.
pub struct SpOverrides {
    /// Entity id (required without metadata).
    pub entity_id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// ACS URLs (HTTP-POST; the first is the default).
    pub acs_urls: Vec<String>,
    /// Single logout URL and binding (`redirect` or `post`).
    pub slo: Option<(String, Option<String>)>,
    /// Certificates (PEM or base64 DER).
    pub certificates: Vec<String>,
    /// Refuse unsigned requests.
    pub require_signed_requests: Option<bool>,
    /// Sign the whole response.
    pub sign_response: bool,
    /// Allowed NameID formats, the first being the default.
    pub name_id_formats: Option<Vec<String>>,
    /// Attributes released.
    pub attributes: Option<Vec<lanyard_core::saml::AttributeRelease>>,
    /// Role renaming.
    pub role_map: BTreeMap<String, String>,
    /// Always ask for MFA.
    pub require_mfa: bool,
    /// Accept IdP-initiated sign-in.
    pub idp_initiated: bool,
    /// The upstream connection its people sign in through.
    pub connection: Option<String>,
    /// Assertion lifetime.
    pub assertion_ttl_secs: Option<i64>,
}

/// Makes a registration; every problem comes back as a sentence.
pub fn sp_spec(
    metadata: Option<&str>,
    o: SpOverrides,
) -> Result<lanyard_core::SamlSpSpec, Vec<String>> {
    use lanyard_core::saml::{AcsEndpoint, AttributeRelease, SloEndpoint, ATTRIBUTE_SOURCES};
    use lanyard_core::saml::{BINDING_POST, BINDING_REDIRECT};
    let mut problems = Vec::new();
    let md = match metadata.map(lanyard_idp::saml::metadata::parse_sp_metadata) {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            problems.push(e);
            None
        }
        None => None,
    };
    let entity_id = match (o.entity_id, &md) {
        (Some(e), Some(m)) if e != m.entity_id => {
            problems.push(format!(
                "entity_id {e:?} differs from the metadata's {:?}",
                m.entity_id
            ));
            e
        }
        (Some(e), _) => e,
        (None, Some(m)) => m.entity_id.clone(),
        (None, None) => {
            problems.push("a SAML SP needs entity_id or its metadata".into());
            String::new()
        }
    };
    let acs = if !o.acs_urls.is_empty() {
        o.acs_urls
            .iter()
            .enumerate()
            .map(|(i, u)| AcsEndpoint {
                url: u.clone(),
                index: u16::try_from(i).unwrap_or(u16::MAX),
                default: i == 0,
            })
            .collect()
    } else {
        md.as_ref().map(|m| m.acs.clone()).unwrap_or_default()
    };
    let slo = match o.slo {
        Some((url, binding)) => {
            let binding = match binding.as_deref() {
                None | Some("redirect") => BINDING_REDIRECT.to_string(),
                Some("post") => BINDING_POST.to_string(),
                Some(other) => {
                    problems.push(format!("slo_binding {other:?} must be redirect or post"));
                    BINDING_REDIRECT.to_string()
                }
            };
            Some(SloEndpoint {
                url,
                response_url: None,
                binding,
            })
        }
        None => md.as_ref().and_then(|m| m.slo.clone()),
    };
    let mut certificates = Vec::new();
    for c in &o.certificates {
        match certificate_base64(c) {
            Some(b) => certificates.push(b),
            None => problems.push("a certificate is not a PEM or base64 X.509 certificate".into()),
        }
    }
    if certificates.is_empty() {
        certificates = md
            .as_ref()
            .map(|m| m.certificates.clone())
            .unwrap_or_default();
    }
    let require_signed_requests = o
        .require_signed_requests
        .unwrap_or_else(|| md.as_ref().is_some_and(|m| m.authn_requests_signed));
    let name_id_formats = match o.name_id_formats {
        Some(list) => list
            .iter()
            .filter_map(|f| {
                let parsed = lanyard_core::NameIdFormat::parse(f);
                if parsed.is_none() {
                    problems.push(format!(
                        "unknown NameID format {f:?} (persistent, email, transient or unspecified)"
                    ));
                }
                parsed
            })
            .collect(),
        None => md
            .as_ref()
            .map(|m| m.name_id_formats.clone())
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| vec![lanyard_core::NameIdFormat::Persistent]),
    };
    let attributes = o.attributes.unwrap_or_else(|| {
        ATTRIBUTE_SOURCES
            .iter()
            .map(|s| AttributeRelease::plain(s))
            .collect()
    });
    let spec = lanyard_core::SamlSpSpec {
        name: o.name.unwrap_or_else(|| entity_id.clone()),
        entity_id,
        tenant_id: lanyard_core::TenantId::from_uuid(uuid::Uuid::nil()),
        acs,
        slo,
        certificates,
        require_signed_requests,
        sign_response: o.sign_response,
        name_id_formats,
        attributes,
        role_map: o.role_map,
        require_mfa: o.require_mfa,
        idp_initiated: o.idp_initiated,
        connection: o.connection,
        assertion_ttl_secs: o.assertion_ttl_secs.unwrap_or(300),
    };
    problems.extend(spec.validate());
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(problems)
    }
}

fn attribute_release(a: &AttributeDoc) -> Result<lanyard_core::saml::AttributeRelease, String> {
    use lanyard_core::saml::{AttributeNameFormat, AttributeRelease};
    Ok(match a {
        AttributeDoc::Plain(s) => AttributeRelease::plain(s),
        AttributeDoc::Mapped {
            source,
            name,
            name_format,
            friendly_name,
        } => AttributeRelease {
            source: source.clone(),
            name: name.clone().unwrap_or_else(|| source.clone()),
            name_format: match name_format.as_deref() {
                None | Some("basic") => AttributeNameFormat::Basic,
                Some("uri") => AttributeNameFormat::Uri,
                Some("unspecified") => AttributeNameFormat::Unspecified,
                Some(other) => {
                    return Err(format!(
                        "attribute name_format {other:?} must be basic, uri or unspecified"
                    ))
                }
            },
            friendly_name: friendly_name.clone(),
        },
    })
}

fn saml_sp(
    cx: &mut Lines<'_>,
    sp: &Spanned<SamlSpDoc>,
    base: Option<&std::path::Path>,
) -> Option<lanyard_core::SamlSpSpec> {
    let d = sp.get_ref();
    let metadata = match (&d.metadata_file, &d.metadata) {
        (Some(_), Some(_)) => {
            cx.at(sp, "give metadata_file or metadata, not both");
            return None;
        }
        (Some(f), None) => {
            let path = match base {
                Some(b) => b.join(f),
                None => std::path::PathBuf::from(f),
            };
            match std::fs::read_to_string(&path) {
                Ok(t) => Some(t),
                Err(e) => {
                    cx.at(
                        sp,
                        format!("cannot read metadata_file {}: {e}", path.display()),
                    );
                    return None;
                }
            }
        }
        (None, m) => m.clone(),
    };
    let mut attributes = None;
    if let Some(list) = &d.attributes {
        let mut out = Vec::new();
        for a in list {
            match attribute_release(a) {
                Ok(r) => out.push(r),
                Err(e) => cx.at(sp, e),
            }
        }
        attributes = Some(out);
    }
    let o = SpOverrides {
        entity_id: d.entity_id.clone(),
        name: d.name.clone(),
        acs_urls: d.acs_urls.clone(),
        slo: d.slo_url.clone().map(|u| (u, d.slo_binding.clone())),
        certificates: d.certificates.clone(),
        require_signed_requests: d.require_signed_requests,
        sign_response: d.sign_response,
        name_id_formats: d.name_id_formats.clone(),
        attributes,
        role_map: d.role_map.clone(),
        require_mfa: d.require_mfa,
        idp_initiated: d.idp_initiated,
        assertion_ttl_secs: d.assertion_ttl_secs,
        connection: d.connection.clone(),
    };
    match sp_spec(metadata.as_deref(), o) {
        Ok(s) => Some(s),
        Err(problems) => {
            for p in problems {
                cx.at(sp, p);
            }
            None
        }
    }
}

/// Parses a realm file whose relative paths (`metadata_file`) start at `base`.
pub fn parse_at(
    text: &str,
    base: Option<&std::path::Path>,
) -> Result<ParsedRealm, Vec<RealmError>> {
    let doc: RealmDoc = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(0);
        vec![RealmError {
            line,
            message: e.message().to_string(),
        }]
    })?;
    let mut cx = Lines {
        text,
        errors: Vec::new(),
    };
    let mut plan = RealmPlan::default();
    let mut passwords = BTreeMap::new();
    let mut slugs: BTreeMap<String, (bool, Vec<RolePlan>, RolePreset)> = BTreeMap::new();
    for (ti, t) in doc.tenant.iter().enumerate() {
        let td = t.get_ref();
        if !lanyard_core::tenant::valid_slug(td.slug.get_ref()) {
            cx.at(
                &td.slug,
                format!(
                    "tenant slug {:?} must be lower-case letters, digits and '-'",
                    td.slug.get_ref()
                ),
            );
        }
        if slugs.contains_key(td.slug.get_ref()) {
            cx.at(
                &td.slug,
                format!("tenant {:?} is defined twice", td.slug.get_ref()),
            );
        }
        let preset = RolePreset::parse(td.preset.get_ref()).unwrap_or_else(|| {
            cx.at(
                &td.preset,
                format!(
                    "unknown preset {:?} (use lms, functional, operations or custom)",
                    td.preset.get_ref()
                ),
            );
            RolePreset::Custom
        });
        if let Err(m) = td.password_policy.validate() {
            cx.at(t, format!("password_policy: {m}"));
        }
        if let Err(m) = td.mfa.validate() {
            cx.at(t, format!("mfa: {m}"));
        }
        // Roles available to users: the provider's for a client organisation.
        let (own_roles, role_source) = match &td.client_of {
            Some(c) => match slugs.get(c.get_ref()) {
                Some((false, roles, p)) => (Vec::new(), Some((roles.clone(), *p))),
                Some((true, _, _)) => {
                    cx.at(c, "a client organisation cannot have clients of its own");
                    (Vec::new(), None)
                }
                None => {
                    cx.at(
                        c,
                        format!(
                            "client_of names {:?}, which is not defined above",
                            c.get_ref()
                        ),
                    );
                    (Vec::new(), None)
                }
            },
            None => (roles(&mut cx, td), None),
        };
        if td.client_of.is_some() && !td.role.is_empty() {
            cx.at(
                &td.role[0],
                "a client organisation uses its provider's roles and cannot define its own",
            );
        }
        let (usable_roles, usable_preset) =
            role_source.clone().unwrap_or((own_roles.clone(), preset));
        let mut role_names: BTreeMap<String, i32> = usable_preset
            .roles()
            .iter()
            .map(|r| (r.name.to_lowercase(), r.rank))
            .collect();
        for r in &usable_roles {
            role_names.insert(r.name.to_lowercase(), r.rank);
        }
        slugs.insert(
            td.slug.get_ref().clone(),
            (td.client_of.is_some(), own_roles.clone(), preset),
        );

        let mut paths = BTreeSet::new();
        let mut locations = Vec::new();
        for l in &td.location {
            let path = split_path(&l.get_ref().path);
            if path.iter().any(|p| p.chars().count() > 200) {
                cx.at(
                    l,
                    format!(
                        "location {:?}: each name must be at most 200 characters",
                        l.get_ref().path
                    ),
                );
                continue;
            }
            if path.iter().any(String::is_empty) {
                cx.at(
                    l,
                    format!("location path {:?} has an empty part", l.get_ref().path),
                );
                continue;
            }
            let key: Vec<String> = path.iter().map(|p| p.to_lowercase()).collect();
            if key.len() > 1 && !paths.contains(&key[..key.len() - 1]) {
                cx.at(
                    l,
                    format!(
                        "location {:?}: its parent must be listed before it",
                        l.get_ref().path
                    ),
                );
            }
            if !paths.insert(key) {
                cx.at(
                    l,
                    format!("location {:?} is listed twice", l.get_ref().path),
                );
            }
            locations.push(LocationPlan {
                path,
                kind: l.get_ref().kind.clone(),
            });
        }
        let mut accounts = Vec::new();
        let mut account_names = BTreeSet::from(["guest".to_string()]);
        for a in &td.account {
            let kind = AccountKind::parse(a.get_ref().kind.get_ref()).unwrap_or_else(|| {
                cx.at(
                    &a.get_ref().kind,
                    "account kind must be provider, customer or guest",
                );
                AccountKind::Customer
            });
            if !account_names.insert(a.get_ref().name.to_lowercase()) && kind != AccountKind::Guest
            {
                cx.at(a, format!("account {:?} is listed twice", a.get_ref().name));
            }
            accounts.push(AccountPlan {
                name: a.get_ref().name.clone(),
                kind,
            });
        }
        let mut users = Vec::new();
        let mut logins = BTreeSet::new();
        for (ui, u) in td.user.iter().enumerate() {
            let (plan_user, pw) = user(
                &mut cx,
                u,
                &td.password_policy,
                &role_names,
                &paths,
                &account_names,
            );
            for login in [&plan_user.profile.email, &plan_user.profile.username]
                .into_iter()
                .flatten()
            {
                if !logins.insert(login.to_lowercase()) {
                    cx.at(u, format!("{login:?} is used by two users"));
                }
            }
            passwords.insert((ti, ui), pw);
            users.push(plan_user);
        }
        let mut clients = Vec::new();
        for c in &td.client {
            if let Some(spec) = client(&mut cx, c) {
                clients.push(spec);
            }
        }
        let mut saml_sps = Vec::new();
        for sp in &td.saml_sp {
            if let Some(spec) = saml_sp(&mut cx, sp, base) {
                saml_sps.push(spec);
            }
        }
        let mut connections = Vec::new();
        let mut connection_names = BTreeSet::new();
        for c in &td.connection {
            if !connection_names.insert(c.get_ref().name.clone()) {
                cx.at(
                    c,
                    format!("connection {:?} is listed twice", c.get_ref().name),
                );
            }
            if let Some(rec) = connection(&mut cx, c, &role_names, &paths, &account_names) {
                connections.push(rec);
            }
        }
        for c in &td.client {
            for r in &c.get_ref().admin_roles {
                if !role_names.contains_key(&r.to_lowercase()) {
                    cx.at(
                        c,
                        format!(
                            "client {}: admin_roles names {r:?}, not a role of this tenant",
                            c.get_ref().client_id
                        ),
                    );
                }
            }
            if let Some(n) = &c.get_ref().connection {
                if !connection_names.contains(n) {
                    cx.at(
                        c,
                        format!(
                            "client {}: no connection {n:?} in this tenant",
                            c.get_ref().client_id
                        ),
                    );
                }
            }
        }
        for sp in &td.saml_sp {
            if let Some(n) = &sp.get_ref().connection {
                if !connection_names.contains(n) {
                    let who = sp
                        .get_ref()
                        .entity_id
                        .as_deref()
                        .or(sp.get_ref().name.as_deref());
                    cx.at(
                        sp,
                        format!(
                            "sp {}: no connection {n:?} in this tenant",
                            who.unwrap_or("(from its metadata)")
                        ),
                    );
                }
            }
        }
        plan.tenants.push(TenantPlan {
            slug: td.slug.get_ref().clone(),
            name: td.name.clone(),
            client_of: td.client_of.as_ref().map(|c| c.get_ref().clone()),
            preset,
            password_policy: td.password_policy.clone(),
            branding: td.branding.clone(),
            mfa: td.mfa.clone(),
            locations,
            accounts,
            roles: own_roles,
            users,
            clients,
            saml_sps,
            connections,
        });
    }
    if cx.errors.is_empty() {
        Ok(ParsedRealm { plan, passwords })
    } else {
        cx.errors.sort_by_key(|e| e.line);
        Err(cx.errors)
    }
}

/// A `[[tenant.connection]]`, checked against the tenant's roles, locations and accounts.
fn connection(
    cx: &mut Lines<'_>,
    c: &Spanned<ConnectionDoc>,
    role_names: &BTreeMap<String, i32>,
    paths: &BTreeSet<Vec<String>>,
    account_names: &BTreeSet<String>,
) -> Option<lanyard_store::ConnectionRecord> {
    let d = c.get_ref();
    if d.kind.get_ref() != "oidc" {
        cx.at(
            &d.kind,
            format!(
                "connection {}: kind {:?} is not known (oidc)",
                d.name,
                d.kind.get_ref()
            ),
        );
        return None;
    }
    let spec = lanyard_federation::OidcConnection {
        name: d.name.clone(),
        display_name: d.display_name.clone().unwrap_or_else(|| d.name.clone()),
        issuer: d.issuer.trim_end_matches('/').to_string(),
        discovery_url: d.discovery_url.clone(),
        allowed_tenant_ids: d.allowed_tenant_ids.clone(),
        client_id: d.client_id.clone(),
        client_secret: None,
        scopes: d
            .scopes
            .clone()
            .unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]),
        domains: d.domains.iter().map(|x| x.trim().to_lowercase()).collect(),
        account: d.account.clone(),
        location: d.location.clone(),
        default_roles: d.default_roles.clone(),
        role_map: d.role_map.clone(),
        link_existing_by_email: d.link_existing_by_email,
        trust_upstream_mfa: d.trust_upstream_mfa,
        create_people: d.create_people.unwrap_or(true),
        timeout_secs: d
            .timeout_secs
            .unwrap_or(lanyard_federation::connection::DEFAULT_TIMEOUT_SECS),
    };
    let mut ok = true;
    for (key, problem) in spec.problems() {
        cx.at(c, format!("connection {}: {key}: {problem}", d.name));
        ok = false;
    }
    for role in spec
        .default_roles
        .iter()
        .chain(spec.role_map.iter().map(|r| &r.role))
    {
        if !role_names.contains_key(&role.to_lowercase()) {
            cx.at(c, format!("connection {}: no role {role:?}", d.name));
            ok = false;
        }
    }
    if let Some(l) = &spec.location {
        let key: Vec<String> = split_path(l).iter().map(|p| p.to_lowercase()).collect();
        if !paths.contains(&key) {
            cx.at(c, format!("connection {}: no location {l:?}", d.name));
            ok = false;
        }
    }
    if let Some(a) = &spec.account {
        if !account_names.contains(&a.to_lowercase()) {
            cx.at(c, format!("connection {}: no account {a:?}", d.name));
            ok = false;
        }
    }
    let json = serde_json::to_value(&spec).ok()?;
    ok.then(|| lanyard_store::ConnectionRecord {
        tenant_id: lanyard_core::TenantId::from_uuid(uuid::Uuid::nil()),
        name: d.name.clone(),
        kind: "oidc".into(),
        spec: json,
        secret: d.client_secret.clone(),
    })
}

fn client(cx: &mut Lines<'_>, c: &Spanned<ClientDoc>) -> Option<lanyard_core::ClientSpec> {
    use lanyard_core::{AuthMethod, ClientKind, GrantType, SigningAlg};
    let d = c.get_ref();
    let who = &d.client_id;
    let kind = match d.kind.get_ref().as_str() {
        "public" => ClientKind::Public,
        "confidential" => ClientKind::Confidential,
        other => {
            cx.at(
                &d.kind,
                format!("client {who}: type {other:?} must be public or confidential"),
            );
            return None;
        }
    };
    let auth_method = match d
        .token_endpoint_auth_method
        .as_ref()
        .map(|m| m.get_ref().as_str())
    {
        None if kind == ClientKind::Public => AuthMethod::None,
        None if d.jwks.is_some() && d.secret.is_none() => AuthMethod::PrivateKeyJwt,
        None | Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
        Some("client_secret_post") => AuthMethod::ClientSecretPost,
        Some("private_key_jwt") => AuthMethod::PrivateKeyJwt,
        Some("none") => AuthMethod::None,
        Some(other) => {
            cx.at(
                c,
                format!("client {who}: unknown token_endpoint_auth_method {other:?}"),
            );
            return None;
        }
    };
    let secret_sha256 = match (&d.secret, &d.secret_sha256) {
        (Some(s), None) => {
            if s.get_ref().chars().count() < 16 {
                cx.at(
                    s,
                    format!("client {who}: secret must be at least 16 characters"),
                );
            }
            Some(lanyard_idp::client_auth::hash_secret(s.get_ref()))
        }
        (None, Some(h)) if h.len() == 64 && h.chars().all(|x| x.is_ascii_hexdigit()) => {
            Some(h.to_lowercase())
        }
        (None, Some(_)) => {
            cx.at(
                c,
                format!("client {who}: secret_sha256 must be 64 hex digits"),
            );
            None
        }
        (Some(s), Some(_)) => {
            cx.at(
                s,
                format!("client {who}: give secret or secret_sha256, not both"),
            );
            None
        }
        (None, None) => None,
    };
    let default_grants = match kind {
        ClientKind::Public => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        ClientKind::Confidential => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
    };
    let grant_types = match &d.grant_types {
        Some(list) => list
            .iter()
            .filter_map(|g| {
                let r = GrantType::parse(g.get_ref());
                if r.is_none() {
                    cx.at(
                        g,
                        format!("client {who}: unknown grant type {:?}", g.get_ref()),
                    );
                }
                r
            })
            .collect(),
        None => default_grants.into_iter().collect(),
    };
    let signing_alg = match &d.signing_alg {
        Some(a) => SigningAlg::parse(a.get_ref()).unwrap_or_else(|| {
            cx.at(
                a,
                format!("client {who}: signing_alg must be RS256, ES256 or EdDSA"),
            );
            SigningAlg::RS256
        }),
        None => SigningAlg::RS256,
    };
    let spec = lanyard_core::ClientSpec {
        client_id: d.client_id.clone(),
        tenant_id: lanyard_core::TenantId::from_uuid(uuid::Uuid::nil()),
        name: d.name.clone().unwrap_or_else(|| d.client_id.clone()),
        kind,
        secret_sha256,
        auth_method,
        redirect_uris: d.redirect_uris.clone(),
        post_logout_redirect_uris: d.post_logout_redirect_uris.clone(),
        grant_types,
        scopes: d
            .scopes
            .clone()
            .unwrap_or_else(|| {
                vec![
                    "openid".into(),
                    "profile".into(),
                    "email".into(),
                    "roles".into(),
                ]
            })
            .into_iter()
            .collect(),
        jwks: d.jwks.clone(),
        signing_alg,
        role_map: d.role_map.clone(),
        may_introspect: d.may_introspect,
        access_token_ttl_secs: d.access_token_ttl_secs.unwrap_or(600),
        refresh_token_ttl_secs: d.refresh_token_ttl_secs.unwrap_or(30 * 86_400),
        require_mfa: d.require_mfa,
        connection: d.connection.clone(),
        admin_roles: d.admin_roles.iter().cloned().collect(),
    };
    for p in spec.validate() {
        cx.at(c, format!("client {who}: {p}"));
    }
    Some(spec)
}

fn roles(cx: &mut Lines<'_>, td: &TenantDoc) -> Vec<RolePlan> {
    let mut out = Vec::new();
    for r in &td.role {
        let d = r.get_ref();
        let scope = ScopeKind::parse(d.scope.get_ref()).unwrap_or_else(|| {
            cx.at(&d.scope, format!("unknown scope {:?} (self, location, location_subtree, organisation, organisation_and_clients)", d.scope.get_ref()));
            ScopeKind::SelfOnly
        });
        let mut privileges = BTreeSet::new();
        for p in &d.privileges {
            match Privilege::parse(p.get_ref()) {
                Some(x) => {
                    privileges.insert(x);
                }
                None => cx.at(p, format!("unknown privilege {:?}", p.get_ref())),
            }
        }
        let plan = RolePlan {
            name: d.name.clone(),
            rank: d.rank,
            scope,
            privileges,
            reports_only: d.reports_only,
            can_sign_in: d.can_sign_in,
            sees_sensitive: d.sees_sensitive,
        };
        let check = lanyard_core::Role {
            id: lanyard_core::RoleId::from_uuid(uuid::Uuid::nil()),
            tenant_id: lanyard_core::TenantId::from_uuid(uuid::Uuid::nil()),
            name: plan.name.clone(),
            rank: plan.rank,
            scope,
            privileges: plan.privileges.clone(),
            reports_only: plan.reports_only,
            can_sign_in: plan.can_sign_in,
            sees_sensitive: plan.sees_sensitive,
        };
        if let Err(e) = check.validate() {
            cx.at(r, e.to_string());
        }
        out.push(plan);
    }
    out
}

fn user(
    cx: &mut Lines<'_>,
    u: &Spanned<UserDoc>,
    policy: &PasswordPolicy,
    role_names: &BTreeMap<String, i32>,
    paths: &BTreeSet<Vec<String>>,
    accounts: &BTreeSet<String>,
) -> (UserPlan, FilePassword) {
    let d = u.get_ref();
    let who = d
        .email
        .clone()
        .or_else(|| d.username.clone())
        .unwrap_or_else(|| "user".into());
    let dob = d.date_of_birth.as_ref().and_then(|x| {
        let r = date(x);
        if r.is_none() {
            cx.at(
                u,
                format!("{who}: date_of_birth must be a date like 1990-01-31"),
            );
        }
        r
    });
    let kind = d.kind.as_ref().and_then(|k| {
        let r = UserKind::parse(k.get_ref());
        if r.is_none() {
            cx.at(k, "kind must be internal or external");
        }
        r
    });
    let profile = UserProfile {
        given_name: d.given_name.clone(),
        family_name: d.family_name.clone(),
        username: d.username.clone(),
        email: d.email.clone(),
        phone: d.phone.clone(),
        kind,
        groups: d.groups.clone().unwrap_or_default(),
        attributes: d.attributes.clone().unwrap_or_default(),
        sensitive: lanyard_core::SensitiveFields {
            date_of_birth: dob,
            national_insurance_number: d.national_insurance_number.clone(),
        },
    };
    for e in profile.validate() {
        cx.at(u, format!("{who}: {e}"));
    }
    let status = d.status.as_ref().map_or(Status::Active, |st| {
        Status::parse(st.get_ref()).unwrap_or_else(|| {
            cx.at(st, "status must be invited, active, suspended or archived");
            Status::Active
        })
    });
    let no_roles = Vec::new();
    let roles = d.roles.as_ref().unwrap_or(&no_roles);
    for r in roles {
        if !role_names.contains_key(&r.get_ref().to_lowercase()) {
            cx.at(
                r,
                format!(
                    "{who}: role {:?} does not exist in this tenant",
                    r.get_ref()
                ),
            );
        }
    }
    if let Some(m) = &d.main_role {
        if !roles
            .iter()
            .any(|r| r.get_ref().eq_ignore_ascii_case(m.get_ref()))
        {
            cx.at(
                m,
                format!(
                    "{who}: main_role {:?} must be one of the user's roles",
                    m.get_ref()
                ),
            );
        }
    }
    let location = d.location.as_ref().map(|l| {
        let path = split_path(l.get_ref());
        if !paths.contains(&path.iter().map(|p| p.to_lowercase()).collect::<Vec<_>>()) {
            cx.at(
                l,
                format!(
                    "{who}: location {:?} is not defined in this tenant",
                    l.get_ref()
                ),
            );
        }
        path
    });
    let mut employments = Vec::new();
    for e in d.employments.iter().flatten() {
        if !accounts.contains(&e.account.to_lowercase()) {
            cx.at(
                u,
                format!("{who}: employment at unknown account {:?}", e.account),
            );
        }
        let starts = date(&e.starts_on);
        let ends = e.ends_on.as_ref().map(date);
        match (starts, ends) {
            (Some(s), None) => employments.push(EmploymentPlan {
                account: e.account.clone(),
                starts_on: s,
                ends_on: None,
                main: e.main,
            }),
            (Some(s), Some(Some(x))) => employments.push(EmploymentPlan {
                account: e.account.clone(),
                starts_on: s,
                ends_on: Some(x),
                main: e.main,
            }),
            _ => cx.at(
                u,
                format!("{who}: employment dates must be plain dates like 2024-01-31"),
            ),
        }
    }
    let password = match (&d.password, &d.password_hash) {
        (Some(p), None) => {
            let problems = policy.check(p.get_ref(), d.username.as_deref(), d.email.as_deref());
            for v in problems {
                cx.at(p, format!("{who}: password {v}"));
            }
            FilePassword::Plain(Secret::new(p.get_ref().clone()))
        }
        (None, Some(h)) => match lanyard_core::PasswordHash::parse(h.get_ref()) {
            Ok(x) => FilePassword::Hash(x),
            Err(e) => {
                cx.at(h, format!("{who}: {e}"));
                FilePassword::None
            }
        },
        (Some(p), Some(_)) => {
            cx.at(
                p,
                format!("{who}: give password or password_hash, not both"),
            );
            FilePassword::None
        }
        (None, None) => FilePassword::None,
    };
    let totp_secret = d.totp_secret.as_ref().map(|s| {
        let clean = s.get_ref().replace(' ', "").to_uppercase();
        let base32 = clean.len() >= 16
            && clean
                .trim_end_matches('=')
                .chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c));
        if !base32 {
            cx.at(
                s,
                format!("{who}: totp_secret must be base32 of at least 80 bits"),
            );
        }
        Secret::new(clean)
    });
    // What the file names; everything else on an existing person is left as it is.
    let named: BTreeSet<String> = [
        ("username", d.username.is_some()),
        ("email", d.email.is_some()),
        ("phone", d.phone.is_some()),
        ("kind", d.kind.is_some()),
        ("status", d.status.is_some()),
        ("location", d.location.is_some()),
        ("roles", d.roles.is_some()),
        ("main_role", d.main_role.is_some()),
        ("groups", d.groups.is_some()),
        ("attributes", d.attributes.is_some()),
        ("date_of_birth", d.date_of_birth.is_some()),
        (
            "national_insurance_number",
            d.national_insurance_number.is_some(),
        ),
        ("employments", d.employments.is_some()),
    ]
    .into_iter()
    .filter(|(_, given)| *given)
    .map(|(k, _)| k.to_string())
    .collect();
    let plan = UserPlan {
        profile,
        status,
        location,
        named,
        roles: roles.iter().map(|r| r.get_ref().clone()).collect(),
        main_role: d.main_role.as_ref().map(|m| m.get_ref().clone()),
        employments,
        password: PasswordPlan::Keep,
        totp_secret,
    };
    (plan, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../../config/demo.toml");

    #[test]
    fn the_demo_realm_parses() {
        let r = parse(DEMO).unwrap();
        let t = &r.plan.tenants[0];
        assert_eq!(t.slug, "demo");
        assert_eq!(t.preset, RolePreset::Lms);
        let emails: Vec<_> = t
            .users
            .iter()
            .filter_map(|u| u.profile.email.as_deref())
            .collect();
        for e in [
            "learner@demo.test",
            "trainer@demo.test",
            "admin@demo.test",
            "mfa@demo.test",
            "suspended@demo.test",
        ] {
            assert!(emails.contains(&e), "{e} missing");
        }
        let trainer = t
            .users
            .iter()
            .find(|u| u.profile.email.as_deref() == Some("trainer@demo.test"))
            .unwrap();
        assert_eq!(trainer.main_role.as_deref(), Some("Trainer"));
        assert_eq!(r.passwords.values().filter(|p| matches!(p, FilePassword::Plain(s) if s.expose() == "Lanyard-demo-pass-2026")).count(), 5);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = r#"
[[tenant]]
slug = "demo"
name = "Demo"
preset = "lms"

[[tenant.location]]
path = "Root > Missing Parent > Leaf"

[[tenant.user]]
given_name = "A"
family_name = "B"
email = "a@demo.test"
roles = ["Student", "Wizard"]
main_role = "Trainer"
password = "short"
location = "Nowhere"
"#;
        let errs = parse(text).unwrap_err();
        let lines: Vec<_> = errs.iter().map(|e| e.line).collect();
        let text_of = errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(lines, [7, 14, 15, 16, 17], "{text_of}");
        assert!(
            text_of.contains("Wizard") && text_of.contains("at least 12"),
            "{text_of}"
        );
    }

    #[test]
    fn syntax_and_unknown_keys_are_refused_with_a_line() {
        let errs =
            parse("[[tenant]]\nslug = \"demo\"\nname = \"D\"\ncolour = \"red\"\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("colour"), "{:?}", errs[0]);
        assert!(errs[0].line > 0);
        let errs = parse("[[tenant]\n").unwrap_err();
        assert_eq!(errs[0].line, 1);
    }
}
