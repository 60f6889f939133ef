//! Helpers: a running `lanyard`, a cookie-keeping browser, PKCE, and HTML scraping.

use base64::Engine;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_lanyard");
pub const PASSWORD: &str = "Lanyard-demo-pass-2026";
pub const APP_REDIRECT: &str = "http://127.0.0.1:8088/callback";

pub fn demo_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/demo.toml")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PostgreSQL database of its own, if `make test` started a server.
pub async fn postgres_db() -> Option<String> {
    let Ok(admin) = std::env::var("LANYARD_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("LANYARD_REQUIRE_POSTGRES").is_err(),
            "PostgreSQL required but not configured"
        );
        return None;
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let name = format!("lanyard_srv_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

/// The Redis `make test` started, if any.
pub fn redis_url() -> Option<String> {
    match std::env::var("LANYARD_TEST_REDIS_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var("LANYARD_REQUIRE_REDIS").is_err(),
                "Redis required but not configured"
            );
            None
        }
    }
}

/// A `lanyard serve` process with its own directory, stopped on drop.
pub struct Lanyard {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Lanyard {
    /// Environment for a fresh instance: SQLite in its own directory unless `env` overrides.
    pub fn prepare(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut all: Vec<(String, String)> = vec![
            ("LANYARD_SERVER__LISTEN".into(), format!("127.0.0.1:{port}")),
            ("LANYARD_SERVER__ISSUER".into(), base.clone()),
            (
                "LANYARD_DATABASE__URL".into(),
                format!("sqlite://{}", dir.path().join("lanyard.db").display()),
            ),
            (
                "LANYARD_SECRETS__KEY_FILE".into(),
                dir.path().join("lanyard.key").display().to_string(),
            ),
            ("LANYARD_LOG__LEVEL".into(), "warn".into()),
        ];
        for (k, v) in env {
            all.retain(|(x, _)| x != k);
            all.push((k.to_string(), v.to_string()));
        }
        Self {
            base,
            dir,
            env: all,
            child: None,
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("LANYARD_CONFIG");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Writes `realm` (TOML) and applies it.
    pub fn apply(&self, realm: &str) {
        let f = self.dir.path().join("realm.toml");
        std::fs::write(&f, realm).unwrap();
        let out = self.cli(&["apply", f.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub async fn serve(mut self) -> Self {
        self.start().await;
        self
    }

    pub async fn start(&mut self) {
        self.child = Some(self.cmd(&["serve"]).spawn().unwrap());
        for _ in 0..300 {
            if let Ok(r) = reqwest::get(format!("{}/healthz", self.base)).await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("lanyard did not start");
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Started with the demo realm plus `extra` TOML appended.
    pub async fn demo(env: &[(&str, &str)], extra: &str) -> Self {
        let l = Self::prepare(env);
        let realm = std::fs::read_to_string(demo_file()).unwrap() + extra;
        l.apply(&realm);
        l.serve().await
    }
}

impl Drop for Lanyard {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn pkce() -> (String, String) {
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(uuid::Uuid::new_v4().as_bytes().repeat(2));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Reads `name` from a URL's query.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value of `<input name="NAME" value="…">` in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))? + name.len() + 15;
    Some(html[at..].split('"').next()?.to_string())
}

/// A browser: keeps cookies, never follows redirects.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            http,
            base: base.to_string(),
        }
    }

    pub async fn get(&self, path_or_url: &str) -> reqwest::Response {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        self.http.get(url).send().await.unwrap()
    }

    pub async fn authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        self.get(&format!("/authorize?{q}")).await
    }

    /// Follows the authorization request to the login form and returns (tx, csrf, html).
    pub async fn login_form(&self, authorize: reqwest::Response) -> (String, String, String) {
        assert_eq!(
            authorize.status(),
            303,
            "expected a redirect to the login page"
        );
        let loc = authorize.headers()["location"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(loc.starts_with("/login?tx="), "{loc}");
        let page = self.get(&loc).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        (
            input_value(&html, "tx").unwrap(),
            input_value(&html, "csrf").unwrap(),
            html,
        )
    }

    pub async fn submit_login(
        &self,
        tx: &str,
        csrf: &str,
        login: &str,
        password: &str,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}/login", self.base))
            .form(&[
                ("tx", tx),
                ("csrf", csrf),
                ("login", login),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Signs in through the form and returns the redirect back to the client.
    pub async fn sign_in(&self, params: &[(&str, &str)], login: &str, password: &str) -> String {
        let (tx, csrf, _) = self.login_form(self.authorize(params).await).await;
        let r = self.submit_login(&tx, &csrf, login, password).await;
        assert_eq!(
            r.status(),
            303,
            "sign-in failed: {}",
            r.text().await.unwrap_or_default()
        );
        r.headers()["location"].to_str().unwrap().to_string()
    }
}

/// The standard demo-app authorization request.
pub fn app_request<'a>(
    challenge: &'a str,
    state: &'a str,
    nonce: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", "demo-app"),
        ("redirect_uri", APP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email roles offline_access"),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// Exchanges a code for demo-app.
pub async fn exchange(base: &str, code: &str, verifier: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", APP_REDIRECT),
            ("client_id", "demo-app"),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
}

pub async fn refresh(base: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", "demo-app"),
        ])
        .send()
        .await
        .unwrap()
}

pub async fn introspect(base: &str, token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{base}/introspect"))
        .basic_auth("demo-service", Some("demo-service-secret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Decodes a JWT's payload without checking it (tests check signatures separately).
pub fn claims(jwt: &str) -> serde_json::Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

/// A full sign-in for demo-app: returns the token response.
pub async fn full_sign_in(l: &Lanyard, login: &str) -> serde_json::Value {
    let b = Browser::new(&l.base);
    let (verifier, challenge) = pkce();
    let loc = b
        .sign_in(&app_request(&challenge, "st", "nn"), login, PASSWORD)
        .await;
    let code = query_param(&loc, "code").unwrap();
    let r = exchange(&l.base, &code, &verifier).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The demo TOTP person's (mfa@demo.test) current code.
pub fn demo_totp_code() -> String {
    let now = u64::try_from(lanyard_core::Clock::now(&lanyard_core::SystemClock).unix_timestamp())
        .unwrap();
    let policy = lanyard_core::tenant::MfaPolicy::default();
    lanyard_mfa::totp::code_at(&policy, "JBSWY3DPEHPK3PXP", now).unwrap()
}
