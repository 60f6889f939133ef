//! The store's tests, each run against SQLite and against PostgreSQL. PostgreSQL comes from
//! `LANYARD_TEST_POSTGRES_URL` (set by `make test`, which starts a server); each test gets a
//! database of its own. With `LANYARD_REQUIRE_POSTGRES=1` a missing server is a failure, not a skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lanyard_core::account::AccountKind;
use lanyard_core::user::UserProfile;
use lanyard_core::{
    Argon2Params, AuditActor, PasswordHash, PasswordPolicy, RolePreset, Secret, Status, SystemClock,
};
use lanyard_store::realm::{
    AccountPlan, EmploymentPlan, LocationPlan, PasswordPlan, TenantPlan, UserPlan,
};
use lanyard_store::{Keyring, NewUser, RealmPlan, Store, StoreError, StoreOptions, UserFilter};
use std::sync::Arc;
use time::macros::date;

struct Db {
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = open(&url).await;
    Db {
        store,
        _dir: Some(dir),
    }
}

async fn postgres() -> Option<Db> {
    let Ok(admin) = std::env::var("LANYARD_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("LANYARD_REQUIRE_POSTGRES").is_err(),
            "LANYARD_REQUIRE_POSTGRES is set but LANYARD_TEST_POSTGRES_URL is not"
        );
        eprintln!("skipping PostgreSQL: LANYARD_TEST_POSTGRES_URL is not set");
        return None;
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let name = format!("lanyard_t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    Some(Db {
        store: open(&format!("{base}/{name}")).await,
        _dir: None,
    })
}

async fn open(url: &str) -> Store {
    let ring = Keyring::parse(&Keyring::generate_file_text()).unwrap();
    let store = Store::open(&StoreOptions::new(url), Arc::new(SystemClock), ring)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

/// Runs the async test body against both backends.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = super::sqlite().await;
                super::$name(&db.store).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(db) = super::postgres().await {
                    super::$name(&db.store).await;
                }
            }
        }
    };
}

fn hash(pw: &str) -> PasswordHash {
    PasswordHash::create(&Secret::new(pw), &Argon2Params::default()).unwrap()
}

fn user(email: &str, roles: &[&str], location: Option<&[&str]>) -> UserPlan {
    let (given, _) = email.split_once('@').unwrap();
    UserPlan {
        profile: UserProfile {
            given_name: given.into(),
            family_name: "Demo".into(),
            email: Some(email.into()),
            ..Default::default()
        },
        status: Status::Active,
        location: location.map(|l| l.iter().map(|s| s.to_string()).collect()),
        roles: roles.iter().map(|s| s.to_string()).collect(),
        main_role: None,
        employments: vec![EmploymentPlan {
            account: "Acme Ltd".into(),
            starts_on: date!(2024 - 01 - 01),
            ends_on: None,
            main: true,
        }],
        password: PasswordPlan::Keep,
        totp_secret: None,
        // A file that names everything a test person has.
        named: ["email", "status", "location", "roles", "employments"]
            .into_iter()
            .map(String::from)
            .collect(),
    }
}

fn plan() -> RealmPlan {
    let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut mfa = user(
        "mfa@demo.test",
        &["Student"],
        Some(&["Demo Training Co", "North", "Leeds"]),
    );
    mfa.totp_secret = Some(Secret::new("JBSWY3DPEHPK3PXP"));
    let mut suspended = user("suspended@demo.test", &["Student"], None);
    suspended.status = Status::Suspended;
    RealmPlan {
        tenants: vec![TenantPlan {
            slug: "demo".into(),
            name: "Demo Training Co".into(),
            client_of: None,
            preset: RolePreset::Lms,
            password_policy: PasswordPolicy::default(),
            branding: Default::default(),
            mfa: Default::default(),
            locations: vec![
                LocationPlan {
                    path: path(&["Demo Training Co"]),
                    kind: "company".into(),
                },
                LocationPlan {
                    path: path(&["Demo Training Co", "North"]),
                    kind: "region".into(),
                },
                LocationPlan {
                    path: path(&["Demo Training Co", "North", "Leeds"]),
                    kind: "location".into(),
                },
                LocationPlan {
                    path: path(&["Demo Training Co", "South"]),
                    kind: "region".into(),
                },
                LocationPlan {
                    path: path(&["Demo Training Co", "South", "London"]),
                    kind: "location".into(),
                },
            ],
            accounts: vec![
                AccountPlan {
                    name: "Demo Training Co".into(),
                    kind: AccountKind::Provider,
                },
                AccountPlan {
                    name: "Acme Ltd".into(),
                    kind: AccountKind::Customer,
                },
            ],
            roles: vec![],
            users: vec![
                {
                    // Groups and attributes too, so a person's children are read back from all
                    // three tables (on both databases).
                    let mut u = user(
                        "learner@demo.test",
                        &["Student"],
                        Some(&["Demo Training Co", "North", "Leeds"]),
                    );
                    u.profile.groups = ["Cohort 7".to_string()].into();
                    u.profile.attributes = [("employee_no".to_string(), "E-7".to_string())].into();
                    u
                },
                user(
                    "admin@demo.test",
                    &["Local Administrator"],
                    Some(&["Demo Training Co", "North", "Leeds"]),
                ),
                mfa,
                suspended,
            ],
            clients: vec![],
            saml_sps: vec![],
            connections: vec![],
        }],
    }
}

async fn applied(store: &Store) -> lanyard_core::Tenant {
    let mut p = plan();
    p.tenants[0].users[0].password = PasswordPlan::Set(hash("Lanyard-demo-pass-2026"));
    store
        .apply_realm(&p, &AuditActor::Realm("test".into()))
        .await
        .unwrap();
    store.tenant_by_slug("demo").await.unwrap().unwrap()
}

both!(realm_apply_is_idempotent);
async fn realm_apply_is_idempotent(store: &Store) {
    let actor = AuditActor::Realm("demo.toml".into());
    let first = store.apply_realm(&plan(), &actor).await.unwrap();
    assert!(first.created > 10, "{first:?}");
    let before = store.snapshot().await.unwrap();
    let second = store.apply_realm(&plan(), &actor).await.unwrap();
    assert_eq!((second.created, second.updated), (0, 0), "{second:?}");
    assert_eq!(
        store.snapshot().await.unwrap(),
        before,
        "a second apply changed the database"
    );
    // A real change is written, once, and audited.
    let mut changed = plan();
    changed.tenants[0].users[0].profile.family_name = "Changed".into();
    let third = store.apply_realm(&changed, &actor).await.unwrap();
    assert_eq!(third.updated, 1, "{third:?}");
    let t = store.tenant_by_slug("demo").await.unwrap().unwrap();
    let u = store
        .user_by_login(t.id, "LEARNER@demo.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.profile.family_name, "Changed");
    let history = store.audit_for("user", &u.id.to_string()).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| h.action.as_str())
            .collect::<Vec<_>>(),
        ["user.create", "user.employments", "user.update"]
    );
    assert_eq!(history[2].actor, "realm:demo.toml");
}

both!(realm_apply_is_all_or_nothing);
async fn realm_apply_is_all_or_nothing(store: &Store) {
    let empty = store.snapshot().await.unwrap();
    let mut bad = plan();
    bad.tenants[0]
        .users
        .push(user("late@demo.test", &["No Such Role"], None));
    let err = store
        .apply_realm(&bad, &AuditActor::System)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(
        store.snapshot().await.unwrap(),
        empty,
        "a failed apply left rows behind"
    );
}

both!(the_demo_shape_reads_back);
async fn the_demo_shape_reads_back(store: &Store) {
    let t = applied(store).await;
    let roles = store.roles(t.id).await.unwrap();
    assert_eq!(roles.len(), RolePreset::Lms.roles().len());
    let tree = store.location_tree().await.unwrap();
    let admin = store
        .user_by_login(t.id, "admin@demo.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        tree.path_string(admin.location_id.unwrap()),
        "Demo Training Co > North > Leeds"
    );
    let main = roles
        .iter()
        .find(|r| Some(r.id) == admin.main_role)
        .unwrap();
    assert_eq!(main.name, "Local Administrator");
    let accounts = store.accounts(t.id).await.unwrap();
    let names: Vec<_> = accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Acme Ltd", "Demo Training Co", "Guest"]);
    let emp = store.employments(admin.id).await.unwrap();
    assert_eq!(emp.len(), 1);
    assert!(emp[0].main);
    let learner = store
        .user_by_login(t.id, "learner@demo.test")
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .password_hash(learner.id)
        .await
        .unwrap()
        .unwrap()
        .verify(&Secret::new("Lanyard-demo-pass-2026")));
    assert!(store.password_hash(admin.id).await.unwrap().is_none());
    assert_eq!(learner.roles.len(), 1);
    assert_eq!(
        learner.profile.groups.iter().collect::<Vec<_>>(),
        ["Cohort 7"]
    );
    assert_eq!(
        learner
            .profile
            .attributes
            .get("employee_no")
            .map(String::as_str),
        Some("E-7")
    );
    assert!(admin.profile.groups.is_empty() && admin.profile.attributes.is_empty());
    // The TOTP seed is sealed, never stored in the clear.
    let dump = format!("{:?}", store.snapshot().await.unwrap());
    assert!(dump.contains("totp_enrolments"));
    assert!(!dump.contains("JBSWY3DPEHPK3PXP"));
    // Scope rules over stored data.
    let holder = store.holder(&admin).await.unwrap();
    let target = store.holder(&learner).await.unwrap();
    let orgs = store.orgs().await.unwrap();
    let w = lanyard_core::scope::World {
        locations: &tree,
        orgs: &orgs,
    };
    assert!(lanyard_core::scope::can_manage(&holder, &target, w));
    assert!(!lanyard_core::scope::can_manage(&target, &holder, w));
}

both!(logins_are_unique_per_tenant_case_insensitively);
async fn logins_are_unique_per_tenant_case_insensitively(store: &Store) {
    let t = applied(store).await;
    let new = |email: &str| NewUser {
        tenant_id: t.id,
        profile: UserProfile {
            given_name: "A".into(),
            family_name: "B".into(),
            email: Some(email.into()),
            ..Default::default()
        },
        status: Status::Active,
        location_id: None,
        roles: Default::default(),
        main_role: None,
        password: None,
    };
    let err = store
        .create_user(&AuditActor::System, new("Learner@Demo.Test"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Taken { field: "email", .. }),
        "{err:?}"
    );
    let err = store
        .create_user(&AuditActor::System, new("not an email"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(e) if e[0].field == "email"),
        "{err:?}"
    );
    let ok = store
        .create_user(&AuditActor::System, new("new@demo.test"))
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_login(t.id, "NEW@demo.test")
            .await
            .unwrap()
            .unwrap()
            .id,
        ok.id
    );
    let found = store
        .list_users(
            t.id,
            &UserFilter {
                search: Some("LEARNER".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let suspended = store
        .list_users(
            t.id,
            &UserFilter {
                status: Some(Status::Suspended),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(suspended.len(), 1);
}

both!(status_changes_follow_the_rules_and_are_audited);
async fn status_changes_follow_the_rules_and_are_audited(store: &Store) {
    let t = applied(store).await;
    let u = store
        .user_by_login(t.id, "learner@demo.test")
        .await
        .unwrap()
        .unwrap();
    let actor = AuditActor::Cli("ops".into());
    assert_eq!(
        store
            .set_status(&actor, u.id, Status::Suspended)
            .await
            .unwrap()
            .status,
        Status::Suspended
    );
    assert_eq!(
        store
            .set_status(&actor, u.id, Status::Active)
            .await
            .unwrap()
            .status,
        Status::Active
    );
    store
        .set_status(&actor, u.id, Status::Archived)
        .await
        .unwrap();
    let before = store
        .audit_for("user", &u.id.to_string())
        .await
        .unwrap()
        .len();
    let err = store
        .set_status(&actor, u.id, Status::Active)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Refused(_)), "{err:?}");
    // The refused change left no audit record and no change.
    assert_eq!(
        store
            .audit_for("user", &u.id.to_string())
            .await
            .unwrap()
            .len(),
        before
    );
    assert_eq!(
        store.user(u.id).await.unwrap().unwrap().status,
        Status::Archived
    );
    let history = store.audit_for("user", &u.id.to_string()).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("user.status", "cli:ops")
    );
    assert_eq!(last.after.as_ref().unwrap()["status"], "archived");
}

both!(anonymising_keeps_id_and_history_but_no_personal_data);
async fn anonymising_keeps_id_and_history_but_no_personal_data(store: &Store) {
    let t = applied(store).await;
    let u = store
        .user_by_login(t.id, "learner@demo.test")
        .await
        .unwrap()
        .unwrap();
    let mut profile = u.profile.clone();
    profile.phone = Some("+44 113 496 0000".into());
    profile.sensitive.national_insurance_number = Some("AB123456C".into());
    store
        .update_profile(&AuditActor::System, u.id, profile)
        .await
        .unwrap();
    store
        .add_passkey(&AuditActor::System, u.id, "cred-ada", "Ada's phone", "{}")
        .await
        .unwrap();
    store
        .set_recovery_codes(&AuditActor::System, u.id, &["k3f9q2m7xd".to_string()])
        .await
        .unwrap();
    let history_before = store
        .audit_for("user", &u.id.to_string())
        .await
        .unwrap()
        .len();
    let a = store
        .anonymise(&AuditActor::Cli("dpo".into()), u.id)
        .await
        .unwrap();
    assert_eq!(a.id, u.id);
    assert!(a.anonymised);
    assert_eq!(a.status, Status::Archived);
    assert!(store
        .user_by_login(t.id, "learner@demo.test")
        .await
        .unwrap()
        .is_none());
    assert!(store.password_hash(u.id).await.unwrap().is_none());
    let history = store.audit_for("user", &u.id.to_string()).await.unwrap();
    assert_eq!(history.len(), history_before + 1);
    let dump = format!("{:?}", store.snapshot().await.unwrap());
    assert!(
        store.passkeys(u.id).await.unwrap().is_empty(),
        "passkeys survived anonymisation"
    );
    assert_eq!(store.recovery_codes_left(u.id).await.unwrap(), 0);
    for personal in [
        "learner@demo.test",
        "496 0000",
        "AB123456C",
        "Ada's phone",
        "hash-of-a-code",
    ] {
        assert!(
            !dump.contains(personal),
            "{personal} survived anonymisation"
        );
    }
    assert!(matches!(
        store.anonymise(&AuditActor::System, u.id).await,
        Err(StoreError::Refused(_))
    ));
}

both!(audit_snapshots_mask_sensitive_fields);
async fn audit_snapshots_mask_sensitive_fields(store: &Store) {
    let t = applied(store).await;
    let u = store
        .user_by_login(t.id, "admin@demo.test")
        .await
        .unwrap()
        .unwrap();
    let mut p = u.profile.clone();
    p.sensitive.date_of_birth = Some(date!(1990 - 02 - 03));
    store
        .update_profile(&AuditActor::System, u.id, p)
        .await
        .unwrap();
    let last = store
        .audit_for("user", &u.id.to_string())
        .await
        .unwrap()
        .pop()
        .unwrap();
    let after = last.after.unwrap().to_string();
    assert!(after.contains("***") && !after.contains("1990"), "{after}");
    assert_eq!(
        store
            .user(u.id)
            .await
            .unwrap()
            .unwrap()
            .profile
            .sensitive
            .date_of_birth,
        Some(date!(1990 - 02 - 03))
    );
}

both!(an_entity_id_never_moves_to_another_tenant);
async fn an_entity_id_never_moves_to_another_tenant(store: &Store) {
    let t = applied(store).await;
    let actor = AuditActor::Realm("test".into());
    let mut sp = lanyard_core::SamlSpSpec {
        name: "LMS".into(),
        ..lanyard_core::SamlSpSpec::new("https://lms.example/sp", t.id, "https://lms.example/acs")
    };
    assert_eq!(store.put_saml_sp(&sp, &actor).await.unwrap(), Some(true));
    // Another tenant registering the same entity id is refused, and the first keeps it.
    sp.tenant_id = lanyard_core::TenantId::from(uuid::Uuid::new_v4());
    sp.name = "Taken over".into();
    let err = store.put_saml_sp(&sp, &actor).await.unwrap_err();
    assert!(matches!(err, StoreError::Taken { .. }), "{err}");
    let kept = store.saml_sp(&sp.entity_id).await.unwrap().unwrap();
    assert_eq!((kept.tenant_id, kept.name.as_str()), (t.id, "LMS"));
    // A URL with a control character is refused as input, not stored to fail later.
    sp.tenant_id = t.id;
    sp.acs[0].url = "https://lms.example/a\u{7}cs".into();
    assert!(matches!(
        store.put_saml_sp(&sp, &actor).await,
        Err(StoreError::Invalid(_))
    ));
}

both!(recovery_codes_are_kept_as_keyed_hashes_and_spent_once);
async fn recovery_codes_are_kept_as_keyed_hashes_and_spent_once(store: &Store) {
    let t = applied(store).await;
    let u = store
        .user_by_login(t.id, "learner@demo.test")
        .await
        .unwrap()
        .unwrap();
    let codes = ["k3f9q2m7xd".to_string(), "aaaaabbbbb".to_string()];
    store
        .set_recovery_codes(&AuditActor::System, u.id, &codes)
        .await
        .unwrap();
    // The database holds neither the codes nor their plain SHA-256 (which anyone with a copy
    // could test all 2^50 codes against): only hashes keyed by the sealing key.
    let dump = format!("{:?}", store.snapshot().await.unwrap());
    use sha2::Digest;
    let plain = lanyard_core::random::hex(&sha2::Sha256::digest(b"k3f9q2m7xd"));
    assert!(
        !dump.contains("k3f9q2m7xd") && !dump.contains(&plain),
        "{dump}"
    );
    assert!(dump.contains("r1:"), "{dump}");
    assert!(store
        .use_recovery_code(&AuditActor::System, u.id, "k3f9q2m7xd")
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code(&AuditActor::System, u.id, "k3f9q2m7xd")
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code(&AuditActor::System, u.id, "zzzzzzzzzz")
        .await
        .unwrap());
    assert_eq!(store.recovery_codes_left(u.id).await.unwrap(), 1);
}

#[tokio::test]
async fn recovery_codes_stored_before_keyed_hashes_still_verify() {
    let db = sqlite().await;
    let store = &db.store;
    let t = applied(store).await;
    let u = store
        .user_by_login(t.id, "learner@demo.test")
        .await
        .unwrap()
        .unwrap();
    store
        .set_recovery_codes(&AuditActor::System, u.id, &["k3f9q2m7xd".to_string()])
        .await
        .unwrap();
    // Rewrite the row as the previous release stored it: the plain SHA-256 of the code.
    use sha2::Digest;
    use sqlx::Connection;
    let plain = lanyard_core::random::hex(&sha2::Sha256::digest(b"oldcode123"));
    let url = format!(
        "sqlite://{}",
        db._dir.as_ref().unwrap().path().join("t.db").display()
    );
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE recovery_codes SET code_hash = $1")
        .bind(&plain)
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(store
        .use_recovery_code(&AuditActor::System, u.id, "oldcode123")
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code(&AuditActor::System, u.id, "oldcode123")
        .await
        .unwrap());
}

both!(sign_in_records_are_pruned_and_scrubbed_on_anonymisation);
async fn sign_in_records_are_pruned_and_scrubbed_on_anonymisation(store: &Store) {
    let tenant = applied(store).await;
    let u = store
        .user_by_login(tenant.id, "learner@demo.test")
        .await
        .unwrap()
        .unwrap();
    for outcome in ["accepted", "refused"] {
        store
            .record_sign_in(lanyard_store::NewSignIn {
                tenant_id: Some(tenant.id),
                user_id: Some(u.id),
                login: Some("learner@demo.test".into()),
                outcome,
                method: "password".into(),
                ip: Some("192.0.2.7".into()),
                user_agent: Some("Mozilla/5.0".into()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let everyone = lanyard_store::Reach {
        tenants: vec![tenant.id],
        ..Default::default()
    };
    let q = lanyard_store::SignInQuery {
        reach: everyone.clone(),
        limit: 10,
        ..Default::default()
    };
    let (found, more) = store.sign_in_page(&q).await.unwrap();
    assert_eq!((found.len(), more), (2, false));
    assert_eq!(found[0].outcome, "refused", "newest first");
    // Anonymised: still counted, no longer saying what, from where, with what.
    store
        .anonymise(&lanyard_core::AuditActor::System, u.id)
        .await
        .unwrap();
    let (found, _) = store.sign_in_page(&q).await.unwrap();
    assert_eq!(found.len(), 2);
    assert!(found
        .iter()
        .all(|s| s.login.is_none() && s.ip.is_none() && s.user_agent.is_none()));
    // Nothing is older than a minute ago; everything is older than a minute from now.
    let now = lanyard_core::clock::to_millis(lanyard_core::Clock::now(&SystemClock));
    assert_eq!(store.prune_sign_ins(now - 60_000).await.unwrap(), 0);
    assert_eq!(store.prune_sign_ins(now + 60_000).await.unwrap(), 2);
    assert!(store.sign_in_page(&q).await.unwrap().0.is_empty());
}
