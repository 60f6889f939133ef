//! The SAML endpoints refusing what they must refuse, each with a clear page (or a SAML
//! status for the SP) and never a panic. Full interoperability with real SPs is in
//! tests/interop (pysaml2, samlify).

use crate::common::*;
use base64::Engine;
use std::io::Write;

const DEMO_SP: &str = "http://127.0.0.1:8089/saml/metadata";

fn now() -> String {
    #[allow(clippy::disallowed_methods)] // the test plays the SP, with the SP's own clock
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn request(issuer: &str, sp: &str, dest: &str, extra: &str) -> String {
    request_to(issuer, sp, "http://127.0.0.1:8089/saml/acs", dest, extra)
}

fn request_to(issuer: &str, sp: &str, acs: &str, dest: &str, extra: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{}" Version="2.0" IssueInstant="{}" Destination="{dest}" AssertionConsumerServiceURL="{acs}"{extra}><saml:Issuer>{sp}</saml:Issuer></samlp:AuthnRequest>"#,
        uuid::Uuid::new_v4().simple(),
        now()
    )
    .replace("{issuer}", issuer)
}

fn redirect_query(xml: &str) -> String {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(xml.as_bytes()).unwrap();
    let b = base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap());
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &b)
        .append_pair("RelayState", "rs-1")
        .finish()
}

/// A Redirect-binding sign-in request from the demo SP, with `extra` attributes.
pub(super) fn demo_sso(base: &str, extra: &str) -> String {
    let sso = format!("{base}/saml/sso");
    format!(
        "/saml/sso?{}",
        redirect_query(&request(base, DEMO_SP, &sso, extra))
    )
}

/// A Redirect-binding sign-in request from SP `sp` with ACS `acs`.
pub(super) fn sp_sso(base: &str, sp: &str, acs: &str) -> String {
    let sso = format!("{base}/saml/sso");
    format!(
        "/saml/sso?{}",
        redirect_query(&request_to(base, sp, acs, &sso, ""))
    )
}

/// Follows a sign-in request at `path` to the form and signs the demo learner in with the
/// password; returns the transaction and where the form sent the browser next.
/// Signs the learner in with his password; returns the stored transaction's id (from where
/// the browser goes next) and that address.
async fn learner_signs_in(b: &Browser, path: &str) -> (String, String) {
    let (tx, csrf, _) = b.login_form(b.get(path).await).await;
    let r = b
        .submit_login(&tx, &csrf, "learner@demo.test", "Lanyard-demo-pass-2026")
        .await;
    assert_eq!(r.status(), 303);
    let next = r.headers()["location"].to_str().unwrap().to_string();
    (query_param(&next, "tx").unwrap_or_default(), next)
}

async fn page(b: &Browser, path: &str) -> (u16, String) {
    let r = b.get(path).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn bad_requests_get_clear_pages_and_never_a_response() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let sso = format!("{}/saml/sso", l.base);

    let md = b.get("/saml/metadata").await;
    assert_eq!(md.status(), 200);
    assert!(md.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("samlmetadata+xml"));
    let md = md.text().await.unwrap();
    assert!(md.contains(&format!("entityID=\"{}/saml/metadata\"", l.base)));
    assert!(md.contains("<ds:SignatureValue>") && !md.contains("<ds:SignatureValue></"));

    let cases: Vec<(String, &str)> = vec![
        ("/saml/sso".into(), "SAMLRequest is missing"),
        ("/saml/sso?SAMLRequest=%%%".into(), "base64"),
        ("/saml/sso?SAMLRequest=aGVsbG8%3D".into(), "DEFLATE"),
        (
            format!("/saml/sso?{}", redirect_query(&request(&l.base, "http://unknown.example/sp", &sso, ""))),
            "not registered",
        ),
        (
            format!("/saml/sso?{}", redirect_query(&request(&l.base, DEMO_SP, "https://other-idp.example/sso", ""))),
            "addressed to",
        ),
        (
            format!(
                "/saml/sso?{}",
                redirect_query(&format!(
                    "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
                    request(&l.base, DEMO_SP, &sso, "")
                ))
            ),
            "document type",
        ),
        (
            format!("/saml/sso?{}", redirect_query("<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"><unclosed>")),
            "not well-formed",
        ),
        ("/saml/init?sp=http%3A%2F%2Funknown.example%2Fsp".into(), "not registered"),
    ];
    for (path, words) in cases {
        let (status, text) = page(&b, &path).await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains(words), "{path}: expected {words:?} in {text}");
        assert!(!text.contains("SAMLResponse"), "{path}");
    }

    // An oversize message is refused as such: inflated past the limit (a deflate bomb)...
    let bomb = format!("<a>{}</a>", "x".repeat(2 * 1024 * 1024));
    let (status, text) = page(&b, &format!("/saml/sso?{}", redirect_query(&bomb))).await;
    assert_eq!(status, 400);
    assert!(text.contains("too large"), "{text}");
    // ...or a body past the server's limit.
    let big = base64::engine::general_purpose::STANDARD.encode("x".repeat(70 * 1024));
    let r = Browser::new(&l.base)
        .http
        .post(&sso)
        .form(&[("SAMLRequest", big.as_str())])
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status().as_u16(), 400 | 413), "{}", r.status());
    let b = Browser::new(&l.base);
    let r = b
        .http
        .post(&sso)
        .form(&[("SAMLRequest", "not base64 at all")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(b.get("/readyz").await.status(), 200, "still serving");
}

#[tokio::test]
async fn passive_and_forced_requests_are_honoured() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);

    // IsPassive with nobody signed in: a signed NoPassive status goes back to the SP.
    let (status, text) = page(&b, &demo_sso(&l.base, r#" IsPassive="true""#)).await;
    assert_eq!(status, 200, "{text}");
    let resp = input_value(&text, "SAMLResponse").expect("a SAML response");
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(resp)
            .unwrap(),
    )
    .unwrap();
    assert!(xml.contains("status:NoPassive"), "{xml}");
    assert!(xml.contains("<ds:Signature"), "error responses are signed");
    assert_eq!(input_value(&text, "RelayState").as_deref(), Some("rs-1"));

    // Sign in once through the SAML request.
    let (_, next) = learner_signs_in(&b, &demo_sso(&l.base, "")).await;
    assert!(next.starts_with("/saml/continue?tx="), "{next}");
    let (status, text) = page(&b, &next).await;
    assert_eq!(status, 200);
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(input_value(&text, "SAMLResponse").unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(xml.contains(">learner@demo.test</saml:NameID>"), "{xml}");
    assert!(xml.contains("<saml:Audience>http://127.0.0.1:8089/saml/metadata</saml:Audience>"));
    // The continue link is single use.
    assert_eq!(page(&b, &next).await.0, 400);

    // Inside the session a plain request is answered at once; ForceAuthn asks again.
    let (status, _) = page(&b, &demo_sso(&l.base, "")).await;
    assert_eq!(status, 200);
    let r = b.get(&demo_sso(&l.base, r#" ForceAuthn="true""#)).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?"));
}

#[tokio::test]
async fn a_second_factor_left_waiting_is_not_skipped_by_a_password_session_made_elsewhere() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let sso = format!("{}/saml/sso", l.base);
    // The SP asks for MFA; the learner has no factor yet, so the password leads to enrolment.
    let wants_mfa = request(&l.base, DEMO_SP, &sso, "").replace(
        "</samlp:AuthnRequest>",
        r#"<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"#,
    );
    let (tx, next) =
        learner_signs_in(&b, &format!("/saml/sso?{}", redirect_query(&wants_mfa))).await;
    assert!(next.starts_with("/login/enrol?"), "{next}");

    // The same browser signs in with the password alone through an app that needs no MFA ...
    let (_, challenge) = pkce();
    let back = b
        .sign_in(
            &app_request(&challenge, "st", "nc"),
            "learner@demo.test",
            "Lanyard-demo-pass-2026",
        )
        .await;
    assert!(back.contains("code="), "{back}");

    // ... and then jumps to the end of the waiting SAML sign-in: no assertion, but the
    // second-factor step again.
    let r = b.get(&format!("/saml/continue?tx={tx}")).await;
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    assert!(
        input_value(&text, "SAMLResponse").is_none(),
        "an assertion was issued without the second factor"
    );
    assert_eq!(status, 303, "{text}");
    assert!(
        location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login/enrol?")),
        "{location:?}"
    );
}

#[tokio::test]
async fn an_unsigned_logout_request_cannot_end_the_session() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let (_, next) = learner_signs_in(&b, &demo_sso(&l.base, "")).await;
    assert_eq!(page(&b, &next).await.0, 200);

    // A page elsewhere sends the browser to the logout endpoint with a forged, unsigned
    // request naming the person (the demo SP signs nothing, so nothing else stops it).
    let forged = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_forged1" Version="2.0" IssueInstant="{}" Destination="{}/saml/slo"><saml:Issuer>{DEMO_SP}</saml:Issuer><saml:NameID>learner@demo.test</saml:NameID></samlp:LogoutRequest>"#,
        now(),
        l.base
    );
    let (status, text) = page(&b, &format!("/saml/slo?{}", redirect_query(&forged))).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("must be signed"), "{text}");

    // The session lives on: the next request is answered at once.
    let (status, text) = page(&b, &demo_sso(&l.base, "")).await;
    assert_eq!(status, 200);
    assert!(input_value(&text, "SAMLResponse").is_some());
}

#[tokio::test]
async fn metadata_is_signed_once_and_reused_not_signed_per_request() {
    let l = Lanyard::demo(&[], "").await;
    let get = || async {
        reqwest::get(format!("{}/saml/metadata", l.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let (a, b) = (get().await, get().await);
    assert!(a.contains("<ds:Signature"), "{a}");
    // Each signing gives the document a fresh ID; the same bytes mean one signature served twice.
    assert_eq!(a, b);
}

/// The `Set-Cookie` header for `name` in `r`, if any.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

#[tokio::test]
async fn over_https_the_sso_cookie_reaches_cross_site_posts_and_over_http_it_stays_lax() {
    for (issuer, name, want) in [
        (
            Some("https://id.lanyard.example"),
            // __Host-: the browser takes it only from this host, over HTTPS, for the whole site
            // (a sibling subdomain cannot plant a session of its own).
            "__Host-lanyard_sso",
            ["SameSite=None", "Secure", "Path=/"],
        ),
        (None, "lanyard_sso", ["SameSite=Lax", "HttpOnly", "Path=/"]),
    ] {
        let env: Vec<(&str, &str)> = issuer
            .map(|i| vec![("LANYARD_SERVER__ISSUER", i)])
            .unwrap_or_default();
        let l = Lanyard::demo(&env, "").await;
        // A plain client: it sends back whatever cookies it is given, Secure or not, so the
        // flow runs over the test's plain-HTTP port.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (_, challenge) = pkce();
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(app_request(&challenge, "st", "nc"))
            .finish();
        let mut jar: Vec<String> = Vec::new();
        let keep = |r: &reqwest::Response, jar: &mut Vec<String>| {
            for c in r.headers().get_all("set-cookie") {
                let pair = c.to_str().unwrap().split(';').next().unwrap().to_string();
                jar.push(pair);
            }
        };
        let r = http
            .get(format!("{}/authorize?{q}", l.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        keep(&r, &mut jar);
        let login = r.headers()["location"].to_str().unwrap().to_string();
        let r = http
            .get(format!("{}{login}", l.base))
            .header("cookie", jar.join("; "))
            .send()
            .await
            .unwrap();
        keep(&r, &mut jar);
        let html = r.text().await.unwrap();
        let r = http
            .post(format!("{}/login", l.base))
            .header("cookie", jar.join("; "))
            .form(&[
                ("tx", input_value(&html, "tx").unwrap().as_str()),
                ("csrf", input_value(&html, "csrf").unwrap().as_str()),
                ("login", "learner@demo.test"),
                ("password", "Lanyard-demo-pass-2026"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{issuer:?}");
        let sso = set_cookie(&r, name).expect("the SSO cookie");
        for w in want {
            assert!(sso.contains(w), "{issuer:?}: {sso}");
        }
        assert!(!sso.to_lowercase().contains("domain="), "{sso}");
    }
}

const SP_METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://lms.example/sp">
  <md:SPSSODescriptor AuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://lms.example/slo"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://lms.example/artifact" index="0"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://lms.example/acs" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;

#[tokio::test]
async fn realm_file_and_cli_register_sps_and_rotation_publishes_the_next_certificate() {
    let l = Lanyard::prepare(&[]);
    std::fs::write(l.dir.path().join("lms.xml"), SP_METADATA).unwrap();
    // The guide's shapes: metadata next to the realm file, mapped attributes, role renaming.
    let extra = r#"
[[tenant.saml_sp]]
metadata_file = "lms.xml"
name = "Acme LMS"
role_map = { "Local Administrator" = "admin" }
attributes = [
  { source = "roles", name = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", name_format = "uri" },
  { source = "main_role", name = "PrimaryRole", friendly_name = "Primary role" },
  "email",
]
"#;
    let realm = std::fs::read_to_string(demo_file()).unwrap() + extra;
    l.apply(&realm);
    let out = l.cli(&["saml", "list", "--tenant", "demo"]);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains("https://lms.example/sp\tAcme LMS\tACS https://lms.example/acs"),
        "{listed}"
    );
    assert!(
        !listed.contains("artifact"),
        "only HTTP-POST consumers are taken: {listed}"
    );
    assert!(listed.contains(DEMO_SP), "{listed}");

    // A bad entry is refused with its line, and nothing is written.
    let bad = std::fs::read_to_string(demo_file()).unwrap()
        + "\n[[tenant.saml_sp]]\nentity_id = \"https://x.example\"\nacs_urls = [\"https://x.example/acs\"]\nattributes = [\"password\"]\n";
    let f = l.dir.path().join("bad.toml");
    std::fs::write(&f, bad).unwrap();
    let out = l.cli(&["apply", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(
        err.contains("unknown attribute source \"password\""),
        "{err}"
    );

    // The CLI refuses metadata without a POST consumer.
    let f = l.dir.path().join("artifact-only.xml");
    std::fs::write(&f, SP_METADATA.replace(r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://lms.example/acs" index="1"/>"#, "")).unwrap();
    let out = l.cli(&[
        "saml",
        "import",
        "--tenant",
        "demo",
        "--metadata-file",
        f.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP-POST"));

    // Metadata (and so the certificates to trust) only over TLS from elsewhere, whatever the
    // URL's first characters say.
    for url in [
        "http://lms.example/saml/metadata",
        "http://127.0.0.1:80@lms.example/saml/metadata",
    ] {
        let out = l.cli(&["saml", "import", "--tenant", "demo", "--metadata-url", url]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("must be https://"),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // From this machine plain HTTP is fine, but an endless document is cut off at 1 MiB.
    let huge = format!("<!-- {} -->", "x".repeat(2 << 20));
    for (body, ok) in [(SP_METADATA.to_string(), true), (huge, false)] {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/md.xml", server.local_addr().unwrap());
        let serving = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut c, _) = server.accept().unwrap();
            let mut req = [0u8; 4096];
            let _ = c.read(&mut req);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(head.as_bytes());
            let _ = c.write_all(body.as_bytes());
        });
        let out = l.cli(&["saml", "import", "--tenant", "demo", "--metadata-url", &url]);
        serving.join().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.success(), ok, "{err}");
        if !ok {
            assert!(err.contains("larger than 1 MiB"), "{err}");
        }
    }

    // Rotating the RS256 key publishes its certificate at once, before it signs.
    let md_keys = |md: &str| md.matches("<md:KeyDescriptor use=\"signing\">").count();
    let mut l = l;
    l.start().await;

    // IdP-initiated sign-in only for an SP registered for it (the demo SP is; Acme LMS is not).
    let b = Browser::new(&l.base);
    let (status, text) = page(
        &b,
        "/saml/init?sp=https%3A%2F%2Flms.example%2Fsp&RelayState=x",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("only when it asks for it"), "{text}");
    let r = b
        .get(&format!(
            "/saml/init?sp={}",
            url::form_urlencoded::byte_serialize(DEMO_SP.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(r.status(), 303);

    let before = reqwest::get(format!("{}/saml/metadata", l.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(md_keys(&before), 1);
    let out = l.cli(&["keys", "rotate", "--alg", "RS256", "--publish-secs", "3600"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    l.stop();
    l.start().await;
    let after = reqwest::get(format!("{}/saml/metadata", l.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(md_keys(&after), 2, "{after}");
}
