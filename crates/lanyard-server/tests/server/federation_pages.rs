//! The sign-in page of a tenant with upstreams (identifier first, hints), apps that name a
//! connection, and the upstream failures a person must see clearly: a slow upstream, a
//! connection that makes nobody just in time, a connection that no longer fits the tenant.

use super::common::*;
use super::federation::{connection, follow, set_up, upstream, Upstream};
use std::time::{Duration, Instant};

/// POSTs the identifier step: a login and no password.
async fn identify(b: &Browser, tx: &str, csrf: &str, login: &str) -> reqwest::Response {
    b.http
        .post(format!("{}/login", b.base))
        .form(&[("tx", tx), ("csrf", csrf), ("login", login)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sign_in_page_asks_who_first_then_the_password_or_the_employer() {
    let Some((l, _u)) = set_up("").await else {
        return;
    };
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let (tx, csrf, html) = b
        .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    // Step one: who, with the employer's button; no password field yet.
    assert!(!html.contains(r#"name="password""#), "{html}");
    assert!(html.contains(">Continue</button>"), "{html}");
    assert!(html.contains("Sign in with Acme staff (Microsoft)"));
    // Nothing typed: asked again, clearly.
    let r = identify(&b, &tx, &csrf, "  ").await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Enter your email or username"));
    // A local person: the password step, his login kept (and not editable there).
    let r = identify(&b, &tx, &csrf, "learner@demo.test").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"name="password""#), "{html}");
    assert!(html.contains("readonly"), "{html}");
    assert!(html.contains("Use another account"), "{html}");
    assert_eq!(
        input_value(&html, "login").as_deref(),
        Some("learner@demo.test")
    );
    // Someone nobody knows gets the very same step (nothing says who exists).
    let r = identify(&b, &tx, &csrf, "nobody@demo.test").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(r#"name="password""#));
    // The password step signs the learner in.
    let csrf = input_value(&html, "csrf").unwrap();
    let r = b
        .submit_login(&tx, &csrf, "learner@demo.test", PASSWORD)
        .await;
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap();
    let code = query_param(loc, "code").expect("a code");
    assert_eq!(exchange(&l.base, &code, &verifier).await.status(), 200);

    // An app's login_hint of a listed domain goes to the employer without a page ...
    let b = Browser::new(&l.base);
    let mut hinted = app_request(&challenge, "s", "n");
    hinted.push(("login_hint", "bob@acme.test"));
    let loc = b.authorize(&hinted).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let r = b.get(&loc).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/federation/acme-entra/start?"));
    // ... and a local one opens at the password step, which can go back to step one.
    let b = Browser::new(&l.base);
    let mut hinted = app_request(&challenge, "s", "n");
    hinted.push(("login_hint", "learner@demo.test"));
    let r = b.authorize(&hinted).await;
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let html = b.get(&loc).await.text().await.unwrap();
    assert!(html.contains(r#"name="password""#), "{html}");
    let other = html
        .split("href=\"")
        .find(|s| s.starts_with("/login?"))
        .and_then(|s| s.split('"').next())
        .expect("a link to use another account")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let html = b.get(&other).await.text().await.unwrap();
    assert!(!html.contains(r#"name="password""#), "{html}");
    assert!(
        html.contains(r#"id="login" name="login" type="text""#),
        "{html}"
    );
}

#[tokio::test]
async fn a_tenant_without_domains_to_discover_keeps_one_form() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (_, _, html) = b
        .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    assert!(html.contains(r#"name="password""#), "{html}");
    assert!(!html.contains(">Continue</button>"), "{html}");
}

#[tokio::test]
async fn a_saml_sp_can_send_its_people_straight_to_their_employer() {
    let sp = r#"
[[tenant.saml_sp]]
entity_id = "http://127.0.0.1:8090/saml/metadata"
name = "Acme LMS (SAML)"
acs_urls = ["http://127.0.0.1:8090/saml/acs"]
name_id_formats = ["emailAddress"]
attributes = ["roles", "email"]
connection = "acme-entra"
"#;
    let Some((l, _u)) = set_up(sp).await else {
        return;
    };
    let b = Browser::new(&l.base);
    let r = b
        .get(&super::saml::sp_sso(
            &l.base,
            "http://127.0.0.1:8090/saml/metadata",
            "http://127.0.0.1:8090/saml/acs",
        ))
        .await;
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("/federation/acme-entra/start?"), "{loc}");
    let mut r = follow(&b, &format!("{}{loc}", l.base), "bob@acme.test", "pw").await;
    for _ in 0..5 {
        if !r.status().is_redirection() {
            break;
        }
        let next = r.headers()["location"].to_str().unwrap().to_string();
        r = b.get(&next).await;
    }
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("http://127.0.0.1:8090/saml/acs"), "{html}");
    let xml = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            input_value(&html, "SAMLResponse").expect("a SAML response"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(xml.contains("bob@acme.test"), "{xml}");
}

#[test]
fn a_sp_or_client_naming_a_missing_connection_is_refused_at_apply() {
    let l = Lanyard::prepare(&[]);
    let realm = std::fs::read_to_string(demo_file()).unwrap()
        + r#"
[[tenant.saml_sp]]
entity_id = "http://127.0.0.1:8090/saml/metadata"
acs_urls = ["http://127.0.0.1:8090/saml/acs"]
connection = "nowhere"
"#;
    let f = l.dir.path().join("realm.toml");
    std::fs::write(&f, realm).unwrap();
    let out = l.cli(&["apply", f.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no connection \"nowhere\""), "{err}");
}

/// A stand-in upstream that takes connections and never answers them.
fn black_hole() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

#[tokio::test]
async fn a_slow_upstream_times_out_to_a_clear_page_while_local_sign_in_goes_on() {
    let port = black_hole();
    let slow = format!(
        r#"
[[tenant.connection]]
name = "slow-idp"
kind = "oidc"
display_name = "Slow Ltd"
issuer = "http://127.0.0.1:{port}/slow"
client_id = "lanyard"
default_roles = ["Student"]
timeout_secs = 2
"#
    );
    let l = Lanyard::demo(&[], &slow).await;
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (_, _, html) = b
        .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    let href = html
        .split("href=\"")
        .find(|s| s.starts_with("/federation/slow-idp/start"))
        .and_then(|s| s.split('"').next())
        .expect("the Slow Ltd button")
        .replace("&amp;", "&");
    let started = Instant::now();
    let slow_trip = {
        let b = &b;
        async move { b.get(&href).await }
    };
    // While the trip waits on the upstream, another person signs in with his password.
    let local = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let other = Browser::new(&l.base);
        let t = Instant::now();
        let loc = other
            .sign_in(
                &app_request(&challenge, "l", "n"),
                "learner@demo.test",
                PASSWORD,
            )
            .await;
        (loc, t.elapsed())
    };
    let (r, (loc, local_took)) = tokio::join!(slow_trip, local);
    let took = started.elapsed();
    assert!(query_param(&loc, "code").is_some());
    assert!(
        local_took < Duration::from_secs(2),
        "the local sign-in waited for the upstream: {local_took:?}"
    );
    assert_eq!(r.status(), 502);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "the connection's timeout_secs = 2 was not what ended the wait: {took:?}"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("Slow Ltd cannot be reached"), "{page}");
    assert!(page.contains("Reference"), "{page}");
}

/// Lanyard with the demo realm and the stand-in, the connection given `extra` keys;
/// `tamper` runs on the database before Lanyard starts.
async fn with_connection(extra: &str, tamper: Option<&str>) -> Option<(Lanyard, Upstream)> {
    let mut l = Lanyard::prepare(&[]);
    let u = upstream(&l.base)?;
    let realm = std::fs::read_to_string(demo_file()).unwrap() + &connection(&u, extra);
    l.apply(&realm);
    if let Some(sql) = tamper {
        use sqlx::Connection;
        let url = format!("sqlite://{}", l.dir.path().join("lanyard.db").display());
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let done = sqlx::query(sql).execute(&mut db).await.unwrap();
        assert_eq!(done.rows_affected(), 1);
    }
    l.start().await;
    Some((l, u))
}

async fn through_button(l: &Lanyard, login: &str) -> reqwest::Response {
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let start = super::federation::button(&b, &app_request(&challenge, "s", "n")).await;
    follow(&b, &start, login, "pw").await
}

#[tokio::test]
async fn with_just_in_time_people_off_only_known_people_get_in() {
    let Some((l, _u)) = with_connection("create_people = false", None).await else {
        return;
    };
    let r = through_button(&l, "bob@acme.test").await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(page.contains("do not have an account here yet"), "{page}");
    let listed = l.cli(&["user", "list", "--tenant", "demo"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("bob@acme.test"));
    // The preview says so too.
    let claims = l.dir.path().join("claims.json");
    std::fs::write(
        &claims,
        r#"{"sub":"s-bob","oid":"o-bob","email":"bob@acme.test","tid":"72f988bf-86f1-41af-91ab-2d7cd011db47"}"#,
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
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("REFUSED") && text.contains("create_people"),
        "{text}"
    );
}

#[tokio::test]
async fn a_connection_that_no_longer_fits_the_tenant_gets_a_clear_page_not_a_person() {
    // The connection's location, changed under Lanyard to one the tenant does not have.
    let tamper = r#"UPDATE connections SET spec = json_set(spec, '$.location', 'Nowhere > At all') WHERE name = 'acme-entra'"#;
    let Some((l, _u)) = with_connection("", Some(tamper)).await else {
        return;
    };
    let r = through_button(&l, "bob@acme.test").await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(page.contains("not set up correctly"), "{page}");
    assert!(page.contains("Reference"), "{page}");
    let listed = l.cli(&["user", "list", "--tenant", "demo"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("bob@acme.test"));
}
