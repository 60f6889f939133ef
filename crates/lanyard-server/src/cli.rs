//! The `lanyard` command line.

use crate::app::App;
use crate::config::Config;
pub use crate::user_cli::{TenantArg, UserCommand};
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use lanyard_core::{AuditActor, Tenant};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Lanyard: single sign-on for training platforms (OpenID Connect identity provider).
#[derive(Debug, Parser)]
#[command(name = "lanyard", version, propagate_version = true)]
#[command(
    about = "Lanyard: single sign-on for training platforms (OpenID Connect identity provider)"
)]
pub struct Cli {
    /// Configuration file (TOML). Values may be overridden by LANYARD_SECTION__KEY
    /// environment variables, e.g. LANYARD_SERVER__LISTEN=0.0.0.0:8080.
    #[arg(
        long,
        short,
        global = true,
        env = "LANYARD_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first). Never creates demo data by itself.
    Serve {
        /// Apply this realm file before serving (e.g. config/demo.toml).
        #[arg(long, value_name = "REALM_FILE")]
        apply: Option<PathBuf>,
    },
    /// Run pending database migrations and exit.
    Migrate,
    /// Make the database match a realm file (tenants, locations, accounts, roles, users).
    /// Idempotent; a file with any error is refused whole and nothing is written.
    Apply {
        /// The realm file.
        file: PathBuf,
        /// Check the file and report, without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate the configuration and print every problem with its key.
    CheckConfig,
    /// Everyday user administration (as the operator, or `--as` a person).
    User(crate::user_cli::UserArgs),
    /// Print the admin API's OpenAPI 3.1 document (what `/admin/api/v1/openapi.json` serves).
    Openapi,
    /// Token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Register and list SAML service providers.
    #[command(subcommand)]
    Saml(SamlCommand),
    /// Upstream identity providers (`[[tenant.connection]]`).
    #[command(subcommand)]
    Federation(FederationCommand),
}

/// `lanyard federation …`
#[derive(Debug, Subcommand)]
pub enum FederationCommand {
    /// Print the person and roles a set of upstream claims (a JSON object, e.g. a decoded ID
    /// token) would produce through a connection. Writes nothing.
    TestMapping {
        #[command(flatten)]
        tenant: TenantArg,
        /// The connection's name.
        #[arg(long)]
        connection: String,
        /// A JSON file with the claims.
        #[arg(long, value_name = "FILE")]
        claims: PathBuf,
    },
    /// List a tenant's connections.
    List {
        #[command(flatten)]
        tenant: TenantArg,
    },
}

/// `lanyard saml …`
#[derive(Debug, Subcommand)]
pub enum SamlCommand {
    /// Register (or update) a service provider from its metadata XML, a file or a URL.
    Import {
        /// The tenant whose people sign in to it.
        #[arg(long)]
        tenant: String,
        /// Metadata file.
        #[arg(
            long,
            conflicts_with = "metadata_url",
            required_unless_present = "metadata_url"
        )]
        metadata_file: Option<PathBuf>,
        /// Metadata URL (fetched once, now).
        #[arg(long)]
        metadata_url: Option<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Allowed NameID format (repeatable; the first is the default): persistent, email,
        /// transient, unspecified. Default: what the metadata lists, else persistent.
        #[arg(long = "name-id-format")]
        name_id_formats: Vec<String>,
        /// Released attribute as SOURCE or SOURCE=NAME (repeatable). Default: all.
        #[arg(long = "attribute")]
        attributes: Vec<String>,
        /// Refuse unsigned requests (default: the metadata's AuthnRequestsSigned).
        #[arg(long)]
        require_signed_requests: bool,
        /// Sign the whole response as well as the assertion.
        #[arg(long)]
        sign_response: bool,
        /// Always ask for a second factor.
        #[arg(long)]
        require_mfa: bool,
        /// Accept IdP-initiated sign-in (`/saml/init?sp=…`) for this SP.
        #[arg(long)]
        idp_initiated: bool,
        /// Send this SP's people straight to this upstream connection of the tenant.
        #[arg(long)]
        connection: Option<String>,
    },
    /// List a tenant's service providers.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
}

/// `lanyard keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their schedule.
    List,
    /// Add a new signing key: published at once, signing after oidc.key_publish_secs; the key
    /// it replaces stays in the JWKS until every token it signed has expired.
    Rotate {
        /// Algorithm: RS256, ES256 or EdDSA (default: all three).
        #[arg(long)]
        alg: Option<String>,
        /// Start signing after this many seconds instead of oidc.key_publish_secs.
        #[arg(long)]
        publish_secs: Option<i64>,
    },
}

fn operator() -> AuditActor {
    AuditActor::Cli(std::env::var("USER").unwrap_or_else(|_| "operator".into()))
}

/// Parses and applies a realm file, printing problems as `FILE:LINE: message`.
pub async fn apply_file(app: &App, file: &Path, dry_run: bool) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let parsed = match crate::realm::parse_at(&text, file.parent()) {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}:{}: {}", file.display(), e.line, e.message);
            }
            bail!(
                "{} has {} problem(s); nothing was applied",
                file.display(),
                errors.len()
            );
        }
    };
    if dry_run {
        println!(
            "{} is valid ({} tenant(s)); nothing was applied",
            file.display(),
            parsed.plan.tenants.len()
        );
        return Ok(());
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let report = app.apply_realm(parsed, &AuditActor::Realm(name)).await?;
    println!(
        "applied {}: {} created, {} updated, {} unchanged",
        file.display(),
        report.created,
        report.updated,
        report.unchanged
    );
    for note in &report.left_alone {
        println!("left alone: {note}");
    }
    Ok(())
}

/// What `serve --apply FILE` (`make run`) ends its start-up output with: where to go, and
/// the people of the file who have a password written in it.
fn welcome(app: &App, file: &Path) {
    let issuer = app.config.server.issuer.trim_end_matches('/');
    let people: Vec<String> = std::fs::read_to_string(file)
        .ok()
        .and_then(|text| crate::realm::parse_at(&text, file.parent()).ok())
        .map(|parsed| {
            let mut with_password: Vec<(usize, usize)> = parsed
                .passwords
                .iter()
                .filter(|(_, p)| matches!(p, crate::realm::FilePassword::Plain(_)))
                .map(|(k, _)| *k)
                .collect();
            with_password.sort();
            with_password
                .into_iter()
                .filter_map(|(t, u)| parsed.plan.tenants.get(t)?.users.get(u))
                .filter_map(|u| {
                    u.profile
                        .email
                        .clone()
                        .or_else(|| u.profile.username.clone())
                })
                .collect()
        })
        .unwrap_or_default();
    println!("Lanyard is ready at {issuer}");
    println!("  OpenID Connect discovery  {issuer}/.well-known/openid-configuration");
    println!("  SAML IdP metadata         {issuer}/saml/metadata");
    println!("  your account              {issuer}/account (after signing in through an app)");
    println!("  admin API                 {issuer}/admin/api/v1/openapi.json (docs/admin-api.md)");
    if !people.is_empty() {
        println!(
            "  sign in as (passwords as written in {}): {}",
            file.display(),
            people.join(", ")
        );
    }
}

async fn tenant(app: &App, slug: &str) -> anyhow::Result<Tenant> {
    app.store
        .tenant_by_slug(slug)
        .await?
        .with_context(|| format!("no tenant {slug:?}"))
}

async fn keys_command(app: &App, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::List => {
            let now = app.provider.now();
            let keys = app.store.signing_keys().await?;
            for k in &keys {
                let state = match (k.activates_at > now, k.retires_at, k.expires_at) {
                    (true, _, _) => "published, not yet signing",
                    (_, _, Some(e)) if e <= now => "expired",
                    (_, Some(r), _) if r <= now => "retired (verifies only)",
                    _ => "active",
                };
                println!("{:<28} {:<6} seq {:<3} {}", k.kid, k.alg, k.seq, state);
            }
        }
        KeysCommand::Rotate { alg, publish_secs } => {
            let algs = match alg {
                Some(a) => vec![lanyard_core::SigningAlg::parse(&a)
                    .with_context(|| format!("unknown algorithm {a:?} (RS256, ES256, EdDSA)"))?],
                None => lanyard_core::SigningAlg::ALL.to_vec(),
            };
            let publish = publish_secs
                .unwrap_or(app.config.oidc.key_publish_secs)
                .max(0);
            for alg in algs {
                let kid = crate::keys::rotate(
                    &app.store,
                    alg,
                    publish,
                    app.provider.settings().max_token_ttl_secs,
                )
                .await?;
                println!("{}: new key {kid} signs in {publish} s; the previous key stays published until its tokens expire", alg.as_str());
            }
            // The SAML certificate of a new RS256 key is made now, so metadata lists it at once.
            crate::keys::load_saml(&app.store, &app.config.server.issuer).await?;
        }
    }
    Ok(())
}

async fn saml_command(app: &App, cmd: SamlCommand) -> anyhow::Result<()> {
    match cmd {
        SamlCommand::List { tenant } => {
            let t = app
                .store
                .tenant_by_slug(&tenant)
                .await?
                .with_context(|| format!("no tenant {tenant:?}"))?;
            for sp in app.store.saml_sps(t.id).await? {
                let acs: Vec<&str> = sp.acs.iter().map(|a| a.url.as_str()).collect();
                println!("{}\t{}\tACS {}", sp.entity_id, sp.name, acs.join(", "));
            }
        }
        SamlCommand::Import {
            tenant,
            metadata_file,
            metadata_url,
            name,
            name_id_formats,
            attributes,
            require_signed_requests,
            sign_response,
            require_mfa,
            idp_initiated,
            connection,
        } => {
            let t = app
                .store
                .tenant_by_slug(&tenant)
                .await?
                .with_context(|| format!("no tenant {tenant:?}"))?;
            let xml = match (metadata_file, metadata_url) {
                (Some(f), _) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
                (None, Some(u)) => {
                    // The certificates in the metadata are trusted from then on: only over
                    // TLS, or from this machine.
                    // The parsed host decides (a prefix test would let
                    // `http://127.0.0.1:80@elsewhere/` through).
                    let parsed = url::Url::parse(&u)
                        .with_context(|| format!("--metadata-url {u:?} is not a URL"))?;
                    let loopback = match parsed.host() {
                        Some(url::Host::Domain(d)) => d == "localhost",
                        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                        None => false,
                    };
                    if !(parsed.scheme() == "https" || parsed.scheme() == "http" && loopback) {
                        bail!("--metadata-url must be https:// (its certificates will be trusted); for anything else, check a copy and give --metadata-file");
                    }
                    let mut resp = reqwest::Client::builder()
                        .timeout(std::time::Duration::from_secs(15))
                        .build()?
                        .get(&u)
                        .send()
                        .await
                        .with_context(|| format!("fetching {u}"))?
                        .error_for_status()
                        .with_context(|| format!("fetching {u}"))?;
                    // Read at most a little over the limit the parser enforces, whatever the
                    // server sends.
                    let mut body = Vec::new();
                    while let Some(chunk) = resp.chunk().await? {
                        body.extend_from_slice(&chunk);
                        if body.len() > lanyard_idp::saml::metadata::MAX_METADATA_BYTES {
                            bail!("the metadata at {u} is larger than 1 MiB");
                        }
                    }
                    String::from_utf8(body)
                        .with_context(|| format!("the metadata at {u} is not UTF-8"))?
                }
                (None, None) => bail!("give --metadata-file or --metadata-url"),
            };
            if let Some(n) = &connection {
                if app.store.connection(t.id, n).await?.is_none() {
                    bail!("tenant {tenant} has no connection {n:?}");
                }
            }
            let attributes = (!attributes.is_empty()).then(|| {
                attributes
                    .iter()
                    .map(|a| match a.split_once('=') {
                        Some((src, n)) => lanyard_core::saml::AttributeRelease {
                            name: n.to_string(),
                            ..lanyard_core::saml::AttributeRelease::plain(src)
                        },
                        None => lanyard_core::saml::AttributeRelease::plain(a),
                    })
                    .collect()
            });
            let o = crate::realm::SpOverrides {
                entity_id: None,
                name,
                acs_urls: vec![],
                slo: None,
                certificates: vec![],
                require_signed_requests: require_signed_requests.then_some(true),
                sign_response,
                name_id_formats: (!name_id_formats.is_empty()).then_some(name_id_formats),
                attributes,
                role_map: Default::default(),
                require_mfa,
                idp_initiated,
                connection,
                assertion_ttl_secs: None,
            };
            let spec = match crate::realm::sp_spec(Some(&xml), o) {
                Ok(s) => lanyard_core::SamlSpSpec {
                    tenant_id: t.id,
                    ..s
                },
                Err(problems) => bail!(
                    "the service provider cannot be registered: {}",
                    problems.join("; ")
                ),
            };
            let outcome = app.store.put_saml_sp(&spec, &operator()).await?;
            let what = match outcome {
                None => "unchanged",
                Some(true) => "registered",
                Some(false) => "updated",
            };
            println!("{}: {what}", spec.entity_id);
        }
    }
    Ok(())
}

/// Runs a parsed command line with a loaded configuration.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Openapi => {
            println!("{}", crate::admin::openapi::document_text());
            Ok(())
        }
        Command::CheckConfig => {
            println!("configuration is valid");
            Ok(())
        }
        Command::Migrate => {
            App::open(config).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Apply { file, dry_run } => {
            apply_file(&App::open(config).await?, &file, dry_run).await
        }
        Command::User(cmd) => crate::user_cli::user_command(&App::open(config).await?, cmd).await,
        Command::Keys(cmd) => keys_command(&App::open(config).await?, cmd).await,
        Command::Saml(cmd) => saml_command(&App::open(config).await?, cmd).await,
        Command::Federation(cmd) => federation_command(&App::open(config).await?, cmd).await,
        Command::Serve { apply } => {
            let app = Arc::new(App::open(config).await?);
            if let Some(file) = apply {
                apply_file(&app, &file, false).await?;
                welcome(&app, &file);
            }
            crate::http::serve(app).await
        }
    }
}

async fn federation_command(app: &App, cmd: FederationCommand) -> anyhow::Result<()> {
    match cmd {
        FederationCommand::TestMapping {
            tenant,
            connection,
            claims,
        } => {
            let t = self::tenant(app, &tenant.tenant).await?;
            let c = crate::federation::connection(app, t.id, &connection)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_context(|| format!("no connection {connection:?} in tenant {}", t.slug))?;
            let text = std::fs::read_to_string(&claims)
                .with_context(|| format!("reading {}", claims.display()))?;
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON object of claims", claims.display()))?;
            for line in crate::federation::preview::test_mapping(app, t.id, &c, map).await? {
                println!("{line}");
            }
            Ok(())
        }
        FederationCommand::List { tenant } => {
            let t = self::tenant(app, &tenant.tenant).await?;
            for c in app.store.connections(t.id).await? {
                let issuer = c.spec.get("issuer").and_then(|v| v.as_str()).unwrap_or("");
                println!("{}\t{}\t{}", c.name, c.kind, issuer);
            }
            Ok(())
        }
    }
}
