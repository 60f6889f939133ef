//! Signing in through an upstream OpenID Connect provider: a local stand-in for multi-tenant
//! Entra ID built on node oidc-provider (tests/interop/upstream/entra.mjs), reached the way a
//! browser reaches it, and the attacks on that trip.

use super::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub(super) const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TRAINERS: &str = "b7a3e2c1-0000-4000-8000-00000000a001";

/// The stand-in, stopped on drop.
pub(super) struct Upstream {
    pub(super) child: Child,
    issuer_template: String,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Starts the stand-in for a Lanyard at `base`, or `None` when its node modules are absent
/// (outside `make test`, which installs them and requires them).
pub(super) fn upstream(base: &str) -> Option<Upstream> {
    if !repo()
        .join("tests/interop/node_modules/oidc-provider")
        .exists()
    {
        assert!(
            std::env::var("LANYARD_REQUIRE_REDIS").is_err(),
            "tests/interop/node_modules is missing under make test"
        );
        return None;
    }
    let port = free_port();
    let mut child = Command::new("node")
        .arg("tests/interop/upstream/entra.mjs")
        .current_dir(repo())
        .env("PORT", port.to_string())
        .env("TID", TID)
        .env(
            "REDIRECT_URI",
            format!("{base}/federation/acme-entra/callback"),
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    // Keep reading, so that the stand-in never writes into a closed pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    Some(Upstream {
        child,
        issuer_template: format!("http://127.0.0.1:{port}/{{tenantid}}/v2.0"),
    })
}

pub(super) fn connection(u: &Upstream, extra: &str) -> String {
    format!(
        r#"
[[tenant.connection]]
name = "acme-entra"
kind = "oidc"
display_name = "Acme staff (Microsoft)"
issuer = "{issuer}"
allowed_tenant_ids = ["{TID}"]
client_id = "lanyard"
client_secret = "lanyard-upstream-secret"
domains = ["acme.test"]
account = "Acme Ltd"
location = "Demo Training Co > North"
default_roles = ["Student"]
role_map = [{{ claim = "groups", value = "{TRAINERS}", role = "Trainer" }},
            {{ claim = "roles", value = "Training.Admin", role = "Local Administrator" }}]
trust_upstream_mfa = true
{extra}
"#,
        issuer = u.issuer_template
    )
}

/// Lanyard with the demo realm and the connection; the stand-in started for it.
pub(super) async fn set_up(extra_realm: &str) -> Option<(Lanyard, Upstream)> {
    set_up_with(&[], extra_realm).await
}

pub(super) async fn set_up_with(
    env: &[(&str, &str)],
    extra_realm: &str,
) -> Option<(Lanyard, Upstream)> {
    let mut l = Lanyard::prepare(env);
    let u = upstream(&l.base)?;
    let realm = std::fs::read_to_string(demo_file()).unwrap() + &connection(&u, "") + extra_realm;
    l.apply(&realm);
    l.start().await;
    Some((l, u))
}

fn absolute(base: &str, current: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_string()
    } else if location.starts_with('/') && current.starts_with(base) {
        format!("{base}{location}")
    } else {
        let u = url::Url::parse(current).unwrap();
        u.join(location).unwrap().to_string()
    }
}

/// From Lanyard's start URL through the stand-in (signing in there as `login`) up to the
/// callback back to Lanyard, which is returned unvisited.
pub(super) async fn to_callback(b: &Browser, start: &str, login: &str, password: &str) -> String {
    let mut url = start.to_string();
    for _ in 0..20 {
        let r = b.http.get(&url).send().await.unwrap();
        if r.status().is_redirection() {
            let next = absolute(&b.base, &url, r.headers()["location"].to_str().unwrap());
            if next.contains("/federation/acme-entra/callback") {
                return next;
            }
            url = next;
            continue;
        }
        assert!(
            !url.starts_with(&b.base),
            "Lanyard answered {} at {url}",
            r.status()
        );
        // The stand-in's sign-in form.
        let html = r.text().await.unwrap();
        let action = html
            .split("action=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let post = absolute(&b.base, &url, action);
        let r = b
            .http
            .post(&post)
            .form(&[("login", login), ("password", password)])
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_redirection(),
            "upstream sign-in: {}",
            r.status()
        );
        url = absolute(&b.base, &post, r.headers()["location"].to_str().unwrap());
    }
    panic!("too many redirects");
}

/// The whole trip from the start URL: Lanyard's answer to the callback.
pub(super) async fn follow(
    b: &Browser,
    start: &str,
    login: &str,
    password: &str,
) -> reqwest::Response {
    let callback = to_callback(b, start, login, password).await;
    b.http.get(&callback).send().await.unwrap()
}

/// The sign-in page's button for the connection.
pub(super) async fn button(b: &Browser, params: &[(&str, &str)]) -> String {
    let (_, _, html) = b.login_form(b.authorize(params).await).await;
    assert!(
        html.contains("Sign in with Acme staff (Microsoft)"),
        "{html}"
    );
    let href = html
        .split("href=\"/federation/acme-entra/start")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    format!(
        "{}/federation/acme-entra/start{}",
        b.base,
        href.replace("&amp;", "&")
    )
}

#[tokio::test]
async fn a_person_signs_in_through_entra_with_mapped_roles_and_is_known_next_time() {
    let Some((l, _u)) = set_up("").await else {
        return;
    };
    signs_in_through_entra(&l).await;
}

#[tokio::test]
async fn a_person_signs_in_through_entra_on_redis_and_postgres() {
    let (Some(db), Some(redis)) = (postgres_db().await, redis_url()) else {
        return;
    };
    let prefix = format!("fed{}:", uuid::Uuid::new_v4().simple());
    let env = [
        ("LANYARD_DATABASE__URL", db.as_str()),
        ("LANYARD_SESSIONS__STORE", "redis"),
        ("LANYARD_SESSIONS__REDIS_URL", redis.as_str()),
        ("LANYARD_SESSIONS__KEY_PREFIX", prefix.as_str()),
    ];
    let Some((l, _u)) = set_up_with(&env, "").await else {
        return;
    };
    signs_in_through_entra(&l).await;
}

async fn signs_in_through_entra(l: &Lanyard) {
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let start = button(&b, &app_request(&challenge, "s1", "n1")).await;
    // Alice did MFA at Entra (the connection trusts it): no second factor asked here, though
    // Local Administrator is a role the demo's policy would ask one of.
    let r = follow(&b, &start, "alice@acme.test", "pw-mfa").await;
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap();
    assert_eq!(query_param(loc, "state").as_deref(), Some("s1"));
    let t: Value = exchange(&l.base, &query_param(loc, "code").unwrap(), &verifier)
        .await
        .json()
        .await
        .unwrap();
    let id = claims(t["id_token"].as_str().unwrap());
    let roles: Vec<&str> = id["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in ["Student", "Trainer", "Local Administrator"] {
        assert!(roles.contains(&want), "{want} missing from {roles:?}");
    }
    assert_eq!(id["email"], "alice@acme.test");
    assert!(
        id["amr"].as_array().unwrap().iter().any(|a| a == "mfa"),
        "{id}"
    );
    // The same browser: another app is answered from the SSO session, nothing asked.
    let (_, challenge2) = pkce();
    let mut silent = app_request(&challenge2, "s2", "n2");
    silent.push(("prompt", "none"));
    let r = b.authorize(&silent).await;
    assert!(
        query_param(r.headers()["location"].to_str().unwrap(), "code").is_some(),
        "{:?}",
        r.headers()["location"]
    );
    // A SAML application too, from the same session: an assertion for Alice, nothing asked.
    let r = b.get(&super::saml::demo_sso(&l.base, "")).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let xml = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            input_value(&html, "SAMLResponse").expect("a SAML response"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(xml.contains("alice@acme.test"), "{xml}");
    // A new browser, a second sign-in: the same person (linked by oid), not a new one.
    let b2 = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let start = button(&b2, &app_request(&challenge, "s3", "n3")).await;
    let r = follow(&b2, &start, "alice@acme.test", "pw-mfa").await;
    let loc = r.headers()["location"].to_str().unwrap();
    let t2: Value = exchange(&l.base, &query_param(loc, "code").unwrap(), &verifier)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims(t2["id_token"].as_str().unwrap())["sub"], id["sub"]);
    let listed = l.cli(&["user", "list", "--tenant", "demo"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(text.matches("alice@acme.test").count(), 1, "{text}");
    // Suspended here, refused here, whatever the upstream says.
    assert!(l
        .cli(&["user", "suspend", "alice@acme.test"])
        .status
        .success());
    let b3 = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let start = button(&b3, &app_request(&challenge, "s4", "n4")).await;
    let r = follow(&b3, &start, "alice@acme.test", "pw-mfa").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("suspended"));
}

#[tokio::test]
async fn home_realm_discovery_sends_an_email_domain_to_its_employer_and_untrusted_mfa_is_asked_here(
) {
    let Some((l, _u)) = set_up("").await else {
        return;
    };
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let (tx, csrf, _) = b
        .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    // Bob types his work email: he is sent to Entra, his password is never checked here.
    let r = b.submit_login(&tx, &csrf, "bob@acme.test", "").await;
    assert_eq!(r.status(), 303);
    let start = format!("{}{}", l.base, r.headers()["location"].to_str().unwrap());
    assert!(start.contains("/federation/acme-entra/start"), "{start}");
    let r = follow(&b, &start, "bob@acme.test", "pw").await;
    let loc = r.headers()["location"].to_str().unwrap();
    let t: Value = exchange(&l.base, &query_param(loc, "code").unwrap(), &verifier)
        .await
        .json()
        .await
        .unwrap();
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["roles"], serde_json::json!(["Student"]));
    assert_eq!(id["amr"], serde_json::json!(["fed"]));
}

#[tokio::test]
async fn the_trip_cannot_be_finished_elsewhere_replayed_or_used_to_take_over_an_account() {
    let carol = r#"
[[tenant.user]]
given_name = "Carol"
family_name = "Local"
email = "carol@acme.test"
password = "Lanyard-demo-pass-2026"
roles = ["Student"]
location = "Demo Training Co > North > Leeds"
"#;
    let Some((l, _u)) = set_up(carol).await else {
        return;
    };
    // The attacker signs in at the upstream as himself and stops at the callback.
    let attacker = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let start = button(&attacker, &app_request(&challenge, "a", "n")).await;
    let callback = to_callback(&attacker, &start, "bob@acme.test", "pw").await;
    // Planted in a victim's browser (login CSRF), the callback signs nobody in.
    let victim = Browser::new(&l.base);
    let (_, challenge) = pkce();
    victim
        .login_form(victim.authorize(&app_request(&challenge, "v", "n")).await)
        .await;
    let r = victim.http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 400, "another browser's callback was taken");
    assert!(r
        .headers()
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("lanyard_sso=")));
    // In his own browser it works once, and only once.
    let r = attacker.http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let r = attacker.http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 400, "a replayed callback was taken");
    // Carol exists locally; the upstream says carol@acme.test: not linked (the connection
    // does not allow it), not a second Carol, not a way into the local account.
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let start = button(&b, &app_request(&challenge, "c", "n")).await;
    let r = follow(&b, &start, "carol@acme.test", "pw").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("already exists"));
}

#[tokio::test]
async fn an_upstream_that_is_down_gets_a_clear_page_and_local_sign_in_goes_on() {
    let Some((l, mut u)) = set_up("").await else {
        return;
    };
    let _ = u.child.kill();
    let _ = u.child.wait();
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let start = button(&b, &app_request(&challenge, "d", "n")).await;
    let r = b.http.get(&start).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.text().await.unwrap().contains("cannot be reached"));
    let loc = b
        .sign_in(
            &app_request(&challenge, "d", "n"),
            "learner@demo.test",
            PASSWORD,
        )
        .await;
    assert!(query_param(&loc, "code").is_some());
}

const ENTRA: &str = r#"
[[tenant.connection]]
name = "acme-entra"
kind = "oidc"
issuer = "https://login.microsoftonline.com/{tenantid}/v2.0"
allowed_tenant_ids = ["72f988bf-86f1-41af-91ab-2d7cd011db47"]
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "not-shown-anywhere"
domains = ["acme.test"]
account = "Acme Ltd"
location = "Demo Training Co > North"
default_roles = ["Student"]
role_map = [{ claim = "roles", value = "Training.Admin", role = "Local Administrator" }]
"#;

#[test]
fn test_mapping_previews_a_person_and_the_realm_refuses_unsafe_connections() {
    let l = Lanyard::prepare(&[]);
    let demo = std::fs::read_to_string(demo_file()).unwrap();
    l.apply(&(demo.clone() + ENTRA));
    let claims = l.dir.path().join("claims.json");
    std::fs::write(
        &claims,
        r#"{"oid": "o-1", "sub": "s-1", "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "email": "learner@demo.test", "name": "Lee Learner", "roles": ["Training.Admin"],
            "_claim_names": {"groups": "src1"}}"#,
    )
    .unwrap();
    let out = l.cli(&[
        "federation",
        "test-mapping",
        "--tenant",
        "demo",
        "--connection",
        "acme-entra",
        "--claims",
        claims.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("subject:        o-1"), "{text}");
    assert!(
        text.contains("role:           Student")
            && text.contains("role:           Local Administrator"),
        "{text}"
    );
    // The email is a local person's, and linking is off: the preview says it will be refused.
    assert!(text.contains("REFUSED"), "{text}");
    assert!(!text.contains("not-shown-anywhere"));
    let listed =
        String::from_utf8_lossy(&l.cli(&["federation", "list", "--tenant", "demo"]).stdout)
            .to_string();
    assert!(
        listed.contains("acme-entra\toidc\thttps://login.microsoftonline.com/{tenantid}/v2.0"),
        "{listed}"
    );
    // A multi-tenant issuer without an allow-list, an unknown role, plain http elsewhere than
    // loopback: refused whole, each by its line.
    let bad = ENTRA
        .replace(
            "allowed_tenant_ids = [\"72f988bf-86f1-41af-91ab-2d7cd011db47\"]\n",
            "",
        )
        .replace("\"Student\"", "\"Emperor\"")
        .replace("https://login", "http://login");
    let f = l.dir.path().join("bad.toml");
    std::fs::write(&f, demo + &bad).unwrap();
    let out = l.cli(&["apply", f.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    for want in ["allowed_tenant_ids", "no role \"Emperor\"", "must be https"] {
        assert!(err.contains(want), "{want} not in {err}");
    }
}

#[tokio::test]
async fn an_app_can_send_its_people_straight_to_their_employer() {
    let acme_lms = r#"
[[tenant.client]]
client_id = "acme-lms"
name = "Acme LMS"
type = "public"
redirect_uris = ["http://127.0.0.1:8088/callback"]
grant_types = ["authorization_code"]
scopes = ["openid", "profile", "email", "roles"]
connection = "acme-entra"
"#;
    let Some((l, _u)) = set_up(acme_lms).await else {
        return;
    };
    let (verifier, challenge) = pkce();
    // A client that names a connection: no sign-in page, straight to it.
    let b = Browser::new(&l.base);
    let mut req = app_request(&challenge, "s", "n");
    req[0] = ("client_id", "acme-lms");
    req[3] = ("scope", "openid profile email roles");
    let r = b.authorize(&req).await;
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("/federation/acme-entra/start?"), "{loc}");
    let r = follow(&b, &format!("{}{loc}", l.base), "bob@acme.test", "pw").await;
    let code = query_param(r.headers()["location"].to_str().unwrap(), "code").unwrap();
    let t: Value = reqwest::Client::new()
        .post(format!("{}/token", l.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", APP_REDIRECT),
            ("client_id", "acme-lms"),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims(t["id_token"].as_str().unwrap())["email"],
        "bob@acme.test"
    );
    // domain_hint from any app goes to the connection listing that domain; others see the page.
    let b = Browser::new(&l.base);
    let mut hinted = app_request(&challenge, "s", "n");
    hinted.push(("domain_hint", "acme.test"));
    let loc = b.authorize(&hinted).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(loc.starts_with("/federation/acme-entra/start?"), "{loc}");
    let mut other = app_request(&challenge, "s", "n");
    other.push(("domain_hint", "elsewhere.test"));
    let loc = b.authorize(&other).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(loc.starts_with("/login?"), "{loc}");
}

#[tokio::test]
async fn a_verified_email_links_the_local_person_when_the_connection_allows_it() {
    let mut l = Lanyard::prepare(&[]);
    let Some(u) = upstream(&l.base) else {
        return;
    };
    let carol = r#"
[[tenant.user]]
given_name = "Carol"
family_name = "Local"
email = "carol@acme.test"
password = "Lanyard-demo-pass-2026"
roles = ["Student"]
location = "Demo Training Co > North > Leeds"
"#;
    let realm = std::fs::read_to_string(demo_file()).unwrap()
        + &connection(&u, "link_existing_by_email = true")
        + carol;
    l.apply(&realm);
    l.start().await;
    // Who she is here (her password no longer signs her in: acme.test goes to Entra).
    let shown =
        String::from_utf8_lossy(&l.cli(&["user", "show", "carol@acme.test"]).stdout).to_string();
    let local_id = shown
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .expect("user show prints the id")
        .to_string();
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let start = button(&b, &app_request(&challenge, "s", "n")).await;
    let r = follow(&b, &start, "carol@acme.test", "pw").await;
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap();
    let t: Value = exchange(&l.base, &query_param(loc, "code").unwrap(), &verifier)
        .await
        .json()
        .await
        .unwrap();
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(
        id["sub"],
        local_id.as_str(),
        "the upstream sign-in made another Carol"
    );
    // Her family name now comes from the upstream; her local location stays.
    assert_eq!(id["family_name"], "Acme");
    assert_eq!(id["location"]["path"], "Demo Training Co > North > Leeds");
}
