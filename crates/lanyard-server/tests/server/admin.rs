//! The admin API: who may see and change whom, over HTTP with real tokens, every preset
//! administrator role against every kind of target; a refusal changes nothing.

use crate::common::*;
use serde_json::{json, Value};

/// People beyond the demo realm: an administrator of each LMS preset role, targets at
/// every distance, a client organisation and another tenant.
const EXTRA: &str = r#"
[[tenant.location]]
path = "Demo Training Co > North > York"
kind = "location"

[[tenant.user]]
given_name = "Reports"
family_name = "Leeds"
email = "reports@demo.test"
password = "Lanyard-demo-pass-2026"
roles = ["Local Administrator (Reports Only)"]
location = "Demo Training Co > North > Leeds"

[[tenant.user]]
given_name = "Multi"
family_name = "North"
email = "mla@demo.test"
password = "Lanyard-demo-pass-2026"
roles = ["Multiple Location Administrator"]
location = "Demo Training Co > North"

[[tenant.user]]
given_name = "Licensee"
family_name = "Root"
email = "licensee@demo.test"
password = "Lanyard-demo-pass-2026"
roles = ["Licensee Administrator"]
location = "Demo Training Co"

[[tenant.user]]
given_name = "Master"
family_name = "Root"
email = "master@demo.test"
password = "Lanyard-demo-pass-2026"
roles = ["Master Administrator"]
location = "Demo Training Co"

[[tenant.user]]
given_name = "Boss"
family_name = "Leeds"
email = "boss@demo.test"
roles = ["Licensee Administrator"]
location = "Demo Training Co > North > Leeds"

[[tenant.user]]
given_name = "York"
family_name = "Learner"
email = "york@demo.test"
roles = ["Student"]
location = "Demo Training Co > North > York"

[[tenant.user]]
given_name = "London"
family_name = "Learner"
email = "london@demo.test"
roles = ["Student"]
location = "Demo Training Co > South > London"

[[tenant.client]]
client_id = "hr-sync"
type = "confidential"
secret = "hr-sync-secret-0123456789"
grant_types = ["client_credentials"]
scopes = ["admin"]
admin_roles = ["Licensee Administrator"]

[[tenant.client]]
client_id = "no-admin"
type = "confidential"
secret = "no-admin-secret-0123456789"
grant_types = ["client_credentials"]
scopes = ["admin"]

[[tenant]]
slug = "acme"
name = "Acme Client Org"
client_of = "demo"

[[tenant.location]]
path = "Acme"
kind = "company"

[[tenant.user]]
given_name = "Client"
family_name = "Person"
email = "client@acme.test"
roles = ["Student"]
location = "Acme"

[[tenant]]
slug = "other"
name = "Other Provider"

[[tenant.user]]
given_name = "Other"
family_name = "Person"
email = "other@other.test"
roles = ["Student"]
"#;

/// An access token for the admin API, from a sign-in to demo-app with scope `admin`.
async fn admin_token(l: &Lanyard, login: &str) -> String {
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let mut req = app_request(&challenge, "st", "nn");
    for p in req.iter_mut() {
        if p.0 == "scope" {
            p.1 = "openid admin";
        }
    }
    let loc = b.sign_in(&req, login, PASSWORD).await;
    let code = query_param(&loc, "code").unwrap();
    let r = exchange(&l.base, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    t["access_token"].as_str().unwrap().to_string()
}

async fn client_token(l: &Lanyard, id: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/token", l.base))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .await
        .unwrap()
}

struct Api<'a> {
    l: &'a Lanyard,
    http: reqwest::Client,
}

impl<'a> Api<'a> {
    fn new(l: &'a Lanyard) -> Self {
        Self {
            l,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/admin/api/v1{path}", self.l.base)
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value, Option<String>) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        done(r).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        if_match: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, Option<String>) {
        let mut r = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(m) = if_match {
            r = r.header("if-match", m);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        done(r.send().await.unwrap()).await
    }
}

async fn done(r: reqwest::Response) -> (u16, Value, Option<String>) {
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "{status}: {text}");
    }
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(v["status"], status, "{text}");
        assert!(v["detail"].is_string(), "{text}");
    }
    (status, v, etag)
}

/// Every person of a tenant as the operator sees them (`lanyard user list --json`).
fn everyone(l: &Lanyard, tenant: &str) -> Vec<Value> {
    let out = l.cli(&["user", "list", "--tenant", tenant, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|x| serde_json::from_str(x).unwrap())
        .collect()
}

fn find<'v>(all: &'v [Value], email: &str) -> &'v Value {
    all.iter()
        .find(|p| p["email"] == email)
        .unwrap_or_else(|| panic!("{email} not listed"))
}

/// (email, tenant) of each kind of target.
const TARGETS: [(&str, &str, &str); 7] = [
    ("self", "", ""),
    ("same location", "trainer@demo.test", "demo"),
    ("subtree", "york@demo.test", "demo"),
    ("elsewhere in the organisation", "london@demo.test", "demo"),
    ("client organisation", "client@acme.test", "acme"),
    ("another tenant", "other@other.test", "other"),
    ("higher rank, same location", "boss@demo.test", "demo"),
];

/// What each actor may do to each target, in the order of [`TARGETS`]: `-` not found, `r`
/// read only, `m` read and manage.
const EXPECTED: [(&str, &str); 6] = [
    ("learner@demo.test", "r------"),
    ("admin@demo.test", "mm----r"),
    ("reports@demo.test", "rr----r"),
    ("mla@demo.test", "mmm---r"),
    ("licensee@demo.test", "mmmm--m"),
    ("master@demo.test", "mmmmm-m"),
];

#[tokio::test]
async fn every_role_sees_and_changes_exactly_its_scope() {
    let l = Lanyard::demo(&[], EXTRA).await;
    let api = Api::new(&l);
    let ids: std::collections::HashMap<String, String> = ["demo", "acme", "other"]
        .iter()
        .flat_map(|t| everyone(&l, t))
        .map(|p| {
            (
                p["email"].as_str().unwrap().to_string(),
                p["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (actor, row) in EXPECTED {
        let token = admin_token(&l, actor).await;
        for ((what, email, tenant), expect) in TARGETS.iter().zip(row.chars()) {
            let (email, tenant) = if *what == "self" {
                (actor, "demo")
            } else {
                (*email, *tenant)
            };
            let id = &ids[email];
            let case = format!("{actor} → {what} ({email})");
            let before = find(&everyone(&l, tenant), email).clone();
            // Read.
            let (st, body, etag) = api.get(&token, &format!("/users/{id}")).await;
            if expect == '-' {
                assert_eq!(st, 404, "{case}: read {body}");
            } else {
                assert_eq!(st, 200, "{case}: read {body}");
                assert_eq!(body["email"], email, "{case}");
                assert_eq!(etag, Some(format!("\"{}\"", body["version"])), "{case}");
            }
            // Update (a phone number).
            let tag = etag.unwrap_or_else(|| format!("\"{}\"", before["version"]));
            let (st, body, _) = api
                .send(
                    reqwest::Method::PATCH,
                    &token,
                    &format!("/users/{id}"),
                    Some(&tag),
                    Some(json!({"phone": "+44 113 496 0000"})),
                )
                .await;
            let want = match expect {
                '-' => 404,
                'r' => 403,
                _ => 200,
            };
            assert_eq!(st, want, "{case}: update {body}");
            // Suspend (never oneself), then reactivate.
            let (st, body, _) = api
                .send(
                    reqwest::Method::POST,
                    &token,
                    &format!("/users/{id}/suspend"),
                    None,
                    None,
                )
                .await;
            let want_suspend = if *what == "self" && want == 200 {
                403
            } else {
                want
            };
            assert_eq!(st, want_suspend, "{case}: suspend {body}");
            if st == 200 {
                assert_eq!(body["status"], "suspended", "{case}");
                let (st, body, _) = api
                    .send(
                        reqwest::Method::POST,
                        &token,
                        &format!("/users/{id}/reactivate"),
                        None,
                        None,
                    )
                    .await;
                assert_eq!(st, 200, "{case}: reactivate {body}");
            }
            let after = find(&everyone(&l, tenant), email).clone();
            if want != 200 {
                assert_eq!(after, before, "{case}: a refusal changed the person");
            } else {
                assert_eq!(after["phone"], "+44 113 496 0000", "{case}");
                assert_eq!(after["status"], before["status"], "{case}");
            }
        }
    }
}

#[tokio::test]
async fn grants_stop_at_the_granters_rank_and_sensitive_fields_show_only_to_those_allowed() {
    let l = Lanyard::demo(&[], EXTRA).await;
    let api = Api::new(&l);
    let master = admin_token(&l, "master@demo.test").await;
    let local = admin_token(&l, "admin@demo.test").await;
    let reports = admin_token(&l, "reports@demo.test").await;
    let learner_token = admin_token(&l, "learner@demo.test").await;
    let (_, page, _) = api.get(&local, "/users?q=learner%40demo").await;
    let id = page["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/users/{id}");
    // The master administrator records a date of birth.
    let (_, _, tag) = api.get(&master, &path).await;
    let (st, body, _) = api
        .send(
            reqwest::Method::PATCH,
            &master,
            &path,
            tag.as_deref(),
            Some(json!({"date_of_birth": "1990-04-01", "national_insurance_number": "ab 12 34 56 c"})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["national_insurance_number"], "AB123456C");
    // Shown to the local administrator (a sensitive role) and to the person himself…
    let (_, body, _) = api.get(&local, &path).await;
    assert_eq!(body["date_of_birth"], "1990-04-01", "{body}");
    let (_, body, _) = api.get(&learner_token, &path).await;
    assert_eq!(body["date_of_birth"], "1990-04-01", "{body}");
    // …never to the reports-only role, not even as a key.
    let (st, body, tag) = api.get(&reports, &path).await;
    assert_eq!(st, 200);
    assert!(body.get("date_of_birth").is_none(), "{body}");
    assert!(body.get("national_insurance_number").is_none(), "{body}");
    let (_, list, _) = api.get(&reports, "/users").await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["email"] != "reports@demo.test")
        .all(|p| p.get("date_of_birth").is_none()));
    // The local administrator grants his own rank, not above it.
    let roles_path = format!("{path}/roles");
    let (_, _, tag2) = api.get(&local, &path).await;
    let (st, body, _) = api
        .send(
            reqwest::Method::PUT,
            &local,
            &roles_path,
            tag2.as_deref(),
            Some(json!({"roles": ["Student", "Multiple Location Administrator"]})),
        )
        .await;
    assert_eq!(st, 403, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Multiple Location Administrator"),
        "{body}"
    );
    let (st, body, _) = api
        .send(
            reqwest::Method::PUT,
            &local,
            &roles_path,
            tag2.as_deref(),
            Some(json!({"roles": ["Student", "Local Administrator"], "main_role": "Student"})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["roles"], json!(["Local Administrator", "Student"]));
    assert_eq!(body["main_role"], "Student");
    // A reports-only role changes nothing; a sensitive field from one is refused too.
    let (st, _, _) = api
        .send(
            reqwest::Method::PATCH,
            &reports,
            &path,
            tag.as_deref(),
            Some(json!({"given_name": "X"})),
        )
        .await;
    assert_eq!(st, 403);
    // The roles list says what each caller may grant.
    let (_, roles, _) = api.get(&local, "/roles").await;
    let assignable: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["assignable"] == true)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(assignable.contains(&"Local Administrator"), "{roles}");
    assert!(!assignable.contains(&"Licensee Administrator"), "{roles}");
}

#[tokio::test]
async fn the_api_needs_an_admin_token_and_answers_problems() {
    let l = Lanyard::demo(&[], EXTRA).await;
    let api = Api::new(&l);
    let http = reqwest::Client::new();
    // No token, a forged token, a token without the admin scope.
    let r = http.get(api.url("/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let (st, _, _) = api.get("not.a.token", "/users").await;
    assert_eq!(st, 401);
    let plain = full_sign_in(&l, "admin@demo.test").await;
    let (st, body, _) = api
        .get(plain["access_token"].as_str().unwrap(), "/users")
        .await;
    assert_eq!(st, 403, "{body}");
    // A client with admin roles acts with them; one without any is refused.
    let t: Value = client_token(&l, "hr-sync", "hr-sync-secret-0123456789")
        .await
        .json()
        .await
        .unwrap();
    let hr = t["access_token"].as_str().unwrap();
    let (st, page, _) = api.get(hr, "/users?limit=500").await;
    assert_eq!(st, 200, "{page}");
    let emails: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["email"].as_str().unwrap_or_default())
        .collect();
    assert!(emails.contains(&"london@demo.test"), "{emails:?}");
    assert!(!emails.contains(&"client@acme.test"), "{emails:?}");
    let t: Value = client_token(&l, "no-admin", "no-admin-secret-0123456789")
        .await
        .json()
        .await
        .unwrap();
    let (st, _, _) = api.get(t["access_token"].as_str().unwrap(), "/users").await;
    assert_eq!(st, 403);
    // Creation: fields checked together, unknown roles named, a taken email is 409.
    let (st, body, _) = api
        .send(
            reqwest::Method::POST,
            hr,
            "/users",
            None,
            Some(json!({"given_name": "", "family_name": "Starter", "email": "nope", "roles": ["Wizard"]})),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"roles"), "{body}");
    let new = json!({"given_name": "New", "family_name": "Starter", "email": "new@demo.test",
                     "roles": ["Student"], "location": "Demo Training Co > South > London"});
    let (st, body, etag) = api
        .send(reqwest::Method::POST, hr, "/users", None, Some(new.clone()))
        .await;
    assert_eq!(st, 201, "{body}");
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(body["location"], "Demo Training Co > South > London");
    let (st, _, _) = api
        .send(reqwest::Method::POST, hr, "/users", None, Some(new))
        .await;
    assert_eq!(st, 409);
    // A body that is not JSON, an unknown field, a status change by PATCH, no If-Match.
    let path = format!("/users/{}", body["id"].as_str().unwrap());
    let r = http
        .patch(api.url(&path))
        .bearer_auth(hr)
        .header("if-match", "\"1\"")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for (b, want) in [
        (json!({"colour": "blue"}), 400),
        (json!({"status": "active"}), 422),
    ] {
        let (st, body, _) = api
            .send(reqwest::Method::PATCH, hr, &path, Some("\"1\""), Some(b))
            .await;
        assert_eq!(st, want, "{body}");
    }
    let (st, _, _) = api
        .send(
            reqwest::Method::PATCH,
            hr,
            &path,
            None,
            Some(json!({"phone": "01134960000"})),
        )
        .await;
    assert_eq!(st, 428);
    // `*` overwrites whatever is there, deliberately.
    let (st, body, _) = api
        .send(
            reqwest::Method::PATCH,
            hr,
            &path,
            Some("*"),
            Some(json!({"phone": "01134960000"})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, _, _) = api
        .send(
            reqwest::Method::PATCH,
            hr,
            &path,
            Some("\"nope\""),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 412);
    // Activation is for invited people only.
    let (st, body, _) = api
        .send(
            reqwest::Method::POST,
            hr,
            &format!("{path}/activate"),
            None,
            None,
        )
        .await;
    assert_eq!(st, 409, "{body}");
    let invited = json!({"given_name": "Ina", "family_name": "Vited", "email": "ina@demo.test",
                         "roles": ["Student"], "status": "invited"});
    let (st, body, _) = api
        .send(reqwest::Method::POST, hr, "/users", None, Some(invited))
        .await;
    assert_eq!(
        (st, body["status"].as_str()),
        (201, Some("invited")),
        "{body}"
    );
    let (st, body, _) = api
        .send(
            reqwest::Method::POST,
            hr,
            &format!("/users/{}/activate", body["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(
        (st, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    let (st, _, _) = api
        .send(
            reqwest::Method::POST,
            hr,
            &format!("{path}/promote"),
            None,
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, _, _) = api.get(hr, "/users/not-an-id").await;
    assert_eq!(st, 404);
    let (st, _, _) = api.get(hr, "/nothing-here").await;
    assert_eq!(st, 404);
    // The OpenAPI document is served and is the one checked into docs/.
    let doc: Value = http
        .get(api.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let checked_in: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/admin-openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        doc, checked_in,
        "docs/admin-openapi.json is out of date: run `lanyard openapi > docs/admin-openapi.json`"
    );
}

#[tokio::test]
async fn two_updates_from_one_read_one_wins_the_other_gets_412() {
    two_updates(Lanyard::demo(&[], EXTRA).await).await;
}

#[tokio::test]
async fn two_updates_from_one_read_one_wins_on_postgres() {
    let Some(db) = postgres_db().await else {
        return;
    };
    two_updates(Lanyard::demo(&[("LANYARD_DATABASE__URL", &db)], EXTRA).await).await;
}

async fn two_updates(l: Lanyard) {
    let api = Api::new(&l);
    let a = admin_token(&l, "admin@demo.test").await;
    let b = admin_token(&l, "licensee@demo.test").await;
    let (_, page, _) = api.get(&a, "/users?q=learner%40demo").await;
    let path = format!("/users/{}", page["items"][0]["id"].as_str().unwrap());
    let (_, _, tag) = api.get(&a, &path).await;
    let tag = tag.unwrap();
    // Both at once, from the same read.
    let (ra, rb) = tokio::join!(
        api.send(
            reqwest::Method::PATCH,
            &a,
            &path,
            Some(&tag),
            Some(json!({"given_name": "Alice-edit"}))
        ),
        api.send(
            reqwest::Method::PATCH,
            &b,
            &path,
            Some(&tag),
            Some(json!({"family_name": "Bob-edit"}))
        ),
    );
    let mut codes = [ra.0, rb.0];
    codes.sort();
    assert_eq!(codes, [200, 412], "{ra:?} {rb:?}");
    let (_, now, _) = api.get(&a, &path).await;
    let edits = [
        now["given_name"] == "Alice-edit",
        now["family_name"] == "Bob-edit",
    ];
    assert_eq!(edits.iter().filter(|x| **x).count(), 1, "{now}");
    // The loser reads again and succeeds.
    let (_, _, fresh) = api.get(&b, &path).await;
    let (st, _, _) = api
        .send(
            reqwest::Method::PATCH,
            &b,
            &path,
            fresh.as_deref(),
            Some(json!({"phone": "01134960000"})),
        )
        .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn suspension_through_the_api_ends_the_persons_tokens_at_once() {
    let l = Lanyard::demo(&[], EXTRA).await;
    let api = Api::new(&l);
    let admin = admin_token(&l, "admin@demo.test").await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    let rt = t["refresh_token"].as_str().unwrap();
    let (_, page, _) = api.get(&admin, "/users?q=learner%40demo").await;
    let id = page["items"][0]["id"].as_str().unwrap();
    let (st, _, _) = api
        .send(
            reqwest::Method::POST,
            &admin,
            &format!("/users/{id}/suspend"),
            None,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(refresh(&l.base, rt).await.status(), 400);
    assert_eq!(
        introspect(&l.base, t["access_token"].as_str().unwrap()).await["active"],
        false
    );
}

#[tokio::test]
async fn listing_filters_and_pages_by_cursor_within_scope() {
    let l = Lanyard::demo(&[], EXTRA).await;
    let api = Api::new(&l);
    let mla = admin_token(&l, "mla@demo.test").await;
    let mut seen = Vec::new();
    let mut path = "/users?limit=2&sort=name".to_string();
    loop {
        let (st, page, _) = api.get(&mla, &path).await;
        assert_eq!(st, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|p| p["email"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/users?limit=2&sort=name&cursor={c}"),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "a person listed twice: {seen:?}");
    // North and beneath: Leeds and York, never London, the client or the other tenant.
    for e in [
        "learner@demo.test",
        "york@demo.test",
        "boss@demo.test",
        "mla@demo.test",
    ] {
        assert!(seen.iter().any(|s| s == e), "{e} missing from {seen:?}");
    }
    for e in ["london@demo.test", "client@acme.test", "other@other.test"] {
        assert!(!seen.iter().any(|s| s == e), "{e} listed: {seen:?}");
    }
    let (_, york, _) = api
        .get(
            &mla,
            "/users?location=Demo%20Training%20Co%20%3E%20North%20%3E%20York",
        )
        .await;
    assert_eq!(york["items"].as_array().unwrap().len(), 1, "{york}");
    let (_, students, _) = api.get(&mla, "/users?role=Student&status=active").await;
    assert!(students["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["roles"].as_array().unwrap().contains(&json!("Student"))));
    let (_, acme, _) = api.get(&mla, "/users?account=Acme%20Ltd").await;
    let acme: Vec<&str> = acme["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["email"].as_str().unwrap())
        .collect();
    assert!(
        acme.contains(&"learner@demo.test") && !acme.contains(&"trainer@demo.test"),
        "{acme:?}"
    );
    for bad in [
        "/users?role=Wizard",
        "/users?cursor=xyz",
        "/users?limit=0",
        "/users?sort=age",
    ] {
        let (st, body, _) = api.get(&mla, bad).await;
        assert_eq!(st, 422, "{bad}: {body}");
    }
}

#[test]
fn the_cli_acts_as_a_person_with_his_rights_only() {
    let l = Lanyard::prepare(&[]);
    l.apply(&(std::fs::read_to_string(demo_file()).unwrap() + EXTRA));
    let out = l.cli(&["user", "--as", "admin@demo.test", "list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("learner@demo.test"), "{text}");
    assert!(!text.contains("london@demo.test"), "{text}");
    let out = l.cli(&[
        "user",
        "suspend",
        "london@demo.test",
        "--as",
        "admin@demo.test",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no user"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = l.cli(&[
        "user",
        "roles",
        "learner@demo.test",
        "--role",
        "Licensee Administrator",
        "--as",
        "admin@demo.test",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("may not"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The operator himself is bound by nothing.
    let out = l.cli(&["user", "suspend", "london@demo.test"]);
    assert!(out.status.success());
}

#[tokio::test]
async fn the_audit_is_read_by_reporting_roles_within_their_scope() {
    let l = Lanyard::demo(&[], EXTRA).await;
    let api = Api::new(&l);
    let master = admin_token(&l, "master@demo.test").await;
    let reports = admin_token(&l, "reports@demo.test").await;
    let learner = admin_token(&l, "learner@demo.test").await;
    // Two changes: one at Leeds, one in London.
    let mut ids = std::collections::HashMap::new();
    for email in ["trainer@demo.test", "london@demo.test"] {
        let (_, page, _) = api
            .get(&master, &format!("/users?q={}", email.replace('@', "%40")))
            .await;
        let id = page["items"][0]["id"].as_str().unwrap().to_string();
        let (_, _, tag) = api.get(&master, &format!("/users/{id}")).await;
        let (st, _, _) = api
            .send(
                reqwest::Method::PATCH,
                &master,
                &format!("/users/{id}"),
                tag.as_deref(),
                Some(json!({"phone": "01134960000"})),
            )
            .await;
        assert_eq!(st, 200);
        ids.insert(email, id);
    }
    // The reports-only role at Leeds reads Leeds' history, never London's.
    let (st, page, _) = api.get(&reports, "/audit?action=user.update").await;
    assert_eq!(st, 200, "{page}");
    let targets: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target_id"].as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&ids["trainer@demo.test"].as_str()),
        "{page}"
    );
    assert!(
        !targets.contains(&ids["london@demo.test"].as_str()),
        "{page}"
    );
    let by_master = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target_id"] == ids["trainer@demo.test"].as_str())
        .unwrap();
    assert!(by_master["actor"].as_str().unwrap().starts_with("user:"));
    assert_eq!(by_master["after"]["profile"]["phone"], "01134960000");
    // Asking for London's record by id from Leeds finds nothing.
    let (_, none, _) = api
        .get(
            &reports,
            &format!("/audit?user={}", ids["london@demo.test"]),
        )
        .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0, "{none}");
    // A Student reads no reports.
    let (st, _, _) = api.get(&learner, "/audit").await;
    assert_eq!(st, 403);
    // Pages and CSV.
    let (_, first, _) = api.get(&master, "/audit?limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second, _) = api
        .get(&master, &format!("/audit?limit=2&cursor={cursor}"))
        .await;
    assert!(second["items"][0]["id"].as_str() < first["items"][1]["id"].as_str());
    let r = reqwest::Client::new()
        .get(api.url("/audit?format=csv&action=user.update"))
        .bearer_auth(&master)
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert!(
        csv.starts_with("id,at,tenant,actor,action,target_kind,target_id\r\n"),
        "{csv}"
    );
    assert!(csv.contains(&ids["london@demo.test"]), "{csv}");
    for bad in [
        "/audit?since=yesterday",
        "/audit?cursor=zz",
        "/audit?format=xml",
    ] {
        let (st, body, _) = api.get(&master, bad).await;
        assert_eq!(st, 422, "{bad}: {body}");
    }
}

#[tokio::test]
async fn sign_ins_are_recorded_and_read_within_scope() {
    let l = Lanyard::demo(&[], EXTRA).await;
    let api = Api::new(&l);
    let master = admin_token(&l, "master@demo.test").await;
    let reports = admin_token(&l, "reports@demo.test").await;
    // Two refusals: a known person's wrong password, and a login that names nobody.
    for login in ["learner@demo.test", "nobody@demo.test"] {
        let b = Browser::new(&l.base);
        let (verifier, challenge) = pkce();
        let _ = verifier;
        let (tx, csrf, _) = b
            .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
            .await;
        let r = b.submit_login(&tx, &csrf, login, "not the password").await;
        assert_eq!(r.status(), 401);
    }
    let learner_id = {
        let (_, page, _) = api.get(&master, "/users?q=learner%40demo").await;
        page["items"][0]["id"].as_str().unwrap().to_string()
    };
    // Refusals are recorded off the request path: wait for them.
    let mut refused = Value::Null;
    for _ in 0..50 {
        let (_, page, _) = api.get(&master, "/sign-ins?outcome=refused").await;
        if page["items"].as_array().unwrap().len() >= 2 {
            refused = page;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let items = refused["items"].as_array().expect("refusals recorded");
    let known = items
        .iter()
        .find(|e| e["user"] == learner_id.as_str())
        .unwrap();
    assert_eq!(known["reason"], "wrong_password");
    assert_eq!(known["method"], "password");
    assert_eq!(known["app"], "demo-app");
    assert!(known["login"].is_null(), "{known}");
    assert_eq!(known["ip"], "127.0.0.1");
    let unknown = items.iter().find(|e| e["user"].is_null()).unwrap();
    assert_eq!(unknown["login"], "nobody@demo.test");
    // The accepted sign-ins of the two administrators are there too, with their method.
    let (_, ok, _) = api.get(&master, "/sign-ins?outcome=accepted").await;
    assert!(
        ok["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["method"] == "password" && e["app"] == "demo-app"),
        "{ok}"
    );
    // Leeds' reporting role sees Leeds' people only: not refusals naming nobody, not London.
    let (st, page, _) = api.get(&reports, "/sign-ins").await;
    assert_eq!(st, 200);
    let seen: Vec<&Value> = page["items"].as_array().unwrap().iter().collect();
    assert!(
        seen.iter().any(|e| e["user"] == learner_id.as_str()),
        "{page}"
    );
    assert!(seen.iter().all(|e| !e["user"].is_null()), "{page}");
    let r = reqwest::Client::new()
        .get(api.url("/sign-ins?format=csv&outcome=refused"))
        .bearer_auth(&master)
        .send()
        .await
        .unwrap();
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with(
        "id,at,tenant,user,login,outcome,method,reason,app,upstream,ip,user_agent\r\n"
    ));
    assert!(csv.contains("wrong_password"), "{csv}");
    let (st, _, _) = api.get(&master, "/sign-ins?outcome=maybe").await;
    assert_eq!(st, 422);
}

#[tokio::test]
async fn the_root_url_leads_a_signed_in_person_to_his_account() {
    let l = Lanyard::demo(&[], "").await;
    let b = Browser::new(&l.base);
    let signed_out = b.get("/").await;
    assert_eq!(signed_out.status(), 200);
    let (_, challenge) = pkce();
    b.sign_in(
        &app_request(&challenge, "s", "n"),
        "learner@demo.test",
        PASSWORD,
    )
    .await;
    let r = b.get("/").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/account");
}
