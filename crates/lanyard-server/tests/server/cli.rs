//! The `lanyard` binary driven as an operator would: apply, serve, check-config, user.
//! Database tests run on SQLite and, when `make test` started one, PostgreSQL.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use super::common::{demo_file, free_port, BIN};

/// A scratch directory with a database URL of either kind.
struct Env {
    dir: tempfile::TempDir,
    db_url: String,
}

impl Env {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}", dir.path().join("lanyard.db").display());
        Self { dir, db_url }
    }

    async fn postgres() -> Option<Self> {
        let Ok(admin) = std::env::var("LANYARD_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("LANYARD_REQUIRE_POSTGRES").is_err(),
                "PostgreSQL required but not configured"
            );
            return None;
        };
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        let name = format!("lanyard_cli_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            db_url: format!("{base}/{name}"),
        })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("LANYARD_CONFIG")
            .env("LANYARD_DATABASE__URL", &self.db_url)
            .env(
                "LANYARD_SECRETS__KEY_FILE",
                self.dir.path().join("lanyard.key"),
            )
            .env("LANYARD_LOG__LEVEL", "warn");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    async fn store(&self) -> lanyard_store::Store {
        let ring = lanyard_server::app::load_keyring(&self.dir.path().join("lanyard.key")).unwrap();
        let opts = lanyard_store::StoreOptions::new(&self.db_url);
        let s = lanyard_store::Store::open(&opts, Arc::new(lanyard_core::SystemClock), ring)
            .await
            .unwrap();
        s.migrate().await.unwrap();
        s
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn apply_twice_changes_nothing(env: Env) {
    let demo = demo_file();
    let first = env.run(&["apply", demo.to_str().unwrap()]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("0 updated"), "{}", text(&first));
    let before = env.store().await.snapshot().await.unwrap();
    let second = env.run(&["apply", demo.to_str().unwrap()]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("0 created, 0 updated"),
        "{}",
        text(&second)
    );
    assert_eq!(
        env.store().await.snapshot().await.unwrap(),
        before,
        "the second apply changed the database"
    );
    let list = env.run(&["user", "list", "--tenant", "demo"]);
    for email in [
        "learner@demo.test",
        "trainer@demo.test",
        "admin@demo.test",
        "mfa@demo.test",
        "suspended@demo.test",
    ] {
        assert!(
            text(&list).contains(email),
            "{email} missing from:\n{}",
            text(&list)
        );
    }
    assert!(text(&list).contains("Student, Trainer*"), "{}", text(&list));
}

#[tokio::test]
async fn demo_realm_applies_idempotently_on_sqlite() {
    apply_twice_changes_nothing(Env::sqlite()).await;
}

#[tokio::test]
async fn demo_realm_applies_idempotently_on_postgres() {
    if let Some(env) = Env::postgres().await {
        apply_twice_changes_nothing(env).await;
    }
}

async fn malformed_realm_is_refused_whole(env: Env) {
    let bad = env.dir.path().join("bad.toml");
    let mut text_file = std::fs::read_to_string(demo_file()).unwrap();
    // Valid tenants and users first, then a user with two problems at the end.
    text_file.push_str("\n[[tenant.user]]\ngiven_name = \"Bad\"\nfamily_name = \"User\"\nemail = \"bad@demo.test\"\nroles = [\"Wizard\"]\npassword = \"password1234\"\n");
    std::fs::write(&bad, &text_file).unwrap();
    let out = env.run(&["apply", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let msg = text(&out);
    let lines = text_file.lines().count();
    assert!(
        msg.contains(&format!(
            "bad.toml:{}: bad@demo.test: role \"Wizard\"",
            lines - 1
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "bad.toml:{lines}: bad@demo.test: password is a well-known password"
        )),
        "{msg}"
    );
    assert!(msg.contains("nothing was applied"), "{msg}");
    let store = env.store().await;
    assert!(
        store.tenants().await.unwrap().is_empty(),
        "a refused file wrote data"
    );
}

#[tokio::test]
async fn malformed_realm_is_refused_whole_on_sqlite() {
    malformed_realm_is_refused_whole(Env::sqlite()).await;
}

#[tokio::test]
async fn malformed_realm_is_refused_whole_on_postgres() {
    if let Some(env) = Env::postgres().await {
        malformed_realm_is_refused_whole(env).await;
    }
}

#[test]
fn check_config_names_every_bad_key() {
    let env = Env::sqlite();
    let cfg = env.dir.path().join("lanyard.toml");
    std::fs::write(&cfg, "[server]\nlisten = \"here\"\n[database]\nurl = \"mysql://root@x/db\"\n[sessions]\nstore = \"redis\"\n").unwrap();
    let out = env
        .cmd(&["check-config", "--config", cfg.to_str().unwrap()])
        .env_remove("LANYARD_DATABASE__URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let msg = text(&out);
    for key in ["server.listen:", "database.url:", "sessions.redis_url:"] {
        assert!(msg.contains(key), "{key} not reported in:\n{msg}");
    }
    let out = env
        .cmd(&["check-config"])
        .env("LANYARD_SERVER__LISTEN", "127.0.0.1:9999")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = env
        .cmd(&["check-config"])
        .env("LANYARD_SERVER__LISTN", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("server.listn"), "{}", text(&out));
}

#[test]
fn user_commands_follow_the_rules() {
    let env = Env::sqlite();
    assert!(env
        .run(&["apply", demo_file().to_str().unwrap()])
        .status
        .success());
    let weak = env.run_stdin(
        &["user", "set-password", "learner@demo.test"],
        "learner-pass\n",
    );
    assert!(!weak.status.success());
    assert!(
        text(&weak).contains("must not contain your username or email"),
        "{}",
        text(&weak)
    );
    let ok = env.run_stdin(
        &["user", "set-password", "learner@demo.test"],
        "A-much-better-passphrase-9\n",
    );
    assert!(ok.status.success(), "{}", text(&ok));
    let created = env.run_stdin(
        &[
            "user",
            "create",
            "--given-name",
            "New",
            "--family-name",
            "Starter",
            "--email",
            "new@demo.test",
            "--role",
            "Student",
            "--location",
            "Demo Training Co > South > London",
            "--password-stdin",
        ],
        "Another-good-passphrase-7\n",
    );
    assert!(created.status.success(), "{}", text(&created));
    let dup = env.run(&[
        "user",
        "create",
        "--given-name",
        "X",
        "--family-name",
        "Y",
        "--email",
        "NEW@demo.test",
    ]);
    assert!(!dup.status.success());
    assert!(text(&dup).contains("already in use"), "{}", text(&dup));
    assert!(env
        .run(&["user", "suspend", "new@demo.test"])
        .status
        .success());
    assert!(env
        .run(&["user", "reactivate", "new@demo.test"])
        .status
        .success());
    let again = env.run(&["user", "reactivate", "new@demo.test"]);
    assert!(
        !again.status.success() && text(&again).contains("not suspended"),
        "{}",
        text(&again)
    );
    assert!(env
        .run(&["user", "archive", "new@demo.test"])
        .status
        .success());
    let back = env.run(&["user", "suspend", "new@demo.test"]);
    assert!(
        !back.status.success() && text(&back).contains("archived person cannot change status"),
        "{}",
        text(&back)
    );
    assert!(env
        .run(&["user", "anonymise", "new@demo.test"])
        .status
        .success());
    let list = env.run(&["user", "list", "--status", "archived"]);
    assert!(
        text(&list).contains("Anonymised User") && !text(&list).contains("new@demo.test"),
        "{}",
        text(&list)
    );
    let help = env.run(&["user", "--help"]);
    assert!(text(&help).contains("anonymise"), "{}", text(&help));
}

struct Server(std::process::Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(base: &str) -> reqwest::Response {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("server did not answer");
}

#[tokio::test]
async fn serve_answers_health_and_never_creates_demo_users() {
    let env = Env::sqlite();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Server(
        env.cmd(&["serve"])
            .env("LANYARD_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .spawn()
            .unwrap(),
    );
    let ready = wait_ready(&base).await;
    assert_eq!(ready.status(), 200);
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["x-frame-options"], "DENY");
    assert!(health.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    assert_eq!(
        reqwest::get(format!("{base}/nope")).await.unwrap().status(),
        404
    );
    let store = env.store().await;
    assert!(
        store.tenants().await.unwrap().is_empty(),
        "plain `serve` created data"
    );
}

#[tokio::test]
async fn serve_with_apply_loads_the_demo() {
    let env = Env::sqlite();
    let port = free_port();
    let demo = demo_file();
    let mut child = env
        .cmd(&["serve", "--apply", demo.to_str().unwrap()])
        .env("LANYARD_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("LANYARD_SERVER__ISSUER", format!("http://127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    // The start-up output ends with where to go and whom to sign in as.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(wait_ready(&base).await.status(), 200);
    let mut said = String::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
        said.push_str(&line);
        said.push('\n');
        if line.contains("sign in as") {
            break;
        }
    }
    assert!(
        said.contains(&format!("Lanyard is ready at {base}")),
        "{said}"
    );
    assert!(said.contains("/admin/api/v1/openapi.json"), "{said}");
    assert!(
        said.contains("learner@demo.test") && said.contains("admin@demo.test"),
        "{said}"
    );
    // The root URL is a page for people, not a JSON 404.
    let home = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(home
        .text()
        .await
        .unwrap()
        .contains("Single sign-on for your training"));
    let store = env.store().await;
    let t = store
        .tenant_by_slug("demo")
        .await
        .unwrap()
        .expect("demo tenant");
    assert!(store
        .user_by_login(t.id, "learner@demo.test")
        .await
        .unwrap()
        .is_some());
}

/// The people of the demo tenant as `user list --json` prints them.
fn people(env: &Env) -> Vec<serde_json::Value> {
    let out = env.run(&["user", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn person(env: &Env, email: &str) -> Option<serde_json::Value> {
    people(env).into_iter().find(|p| p["email"] == email)
}

async fn a_realm_file_never_undoes_an_administrator(env: Env) {
    // The demo realm plus a person who will be anonymised.
    let file = env.dir.path().join("realm.toml");
    std::fs::write(
        &file,
        std::fs::read_to_string(demo_file()).unwrap()
            + "\n[[tenant.user]]\ngiven_name = \"Gone\"\nfamily_name = \"Soon\"\nemail = \"gone@demo.test\"\nroles = [\"Student\"]\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    assert!(env.run(&["apply", file]).status.success());
    // What administrators did with the CLI (the same service as the admin API)…
    for args in [
        &["user", "anonymise", "gone@demo.test"][..],
        &["user", "suspend", "learner@demo.test"],
        &[
            "user",
            "update",
            "admin@demo.test",
            "--phone",
            "0113 496 0000",
        ],
        &["user", "roles", "trainer@demo.test", "--role", "Trainer"],
        &["user", "archive", "mfa@demo.test"],
        &["user", "reactivate", "suspended@demo.test"],
    ] {
        let out = env.run(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    // …the file applied again leaves alone what it does not name.
    let out = env.run(&["apply", file]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("left alone: mfa@demo.test: archived"),
        "{said}"
    );
    assert!(
        said.contains("left alone: gone@demo.test: this person was anonymised"),
        "{said}"
    );
    assert!(person(&env, "gone@demo.test").is_none(), "re-created");
    assert_eq!(
        person(&env, "learner@demo.test").unwrap()["status"],
        "suspended"
    );
    assert_eq!(
        person(&env, "admin@demo.test").unwrap()["phone"],
        "0113 496 0000"
    );
    assert_eq!(person(&env, "mfa@demo.test").unwrap()["status"], "archived");
    // What the file names it owns: the demo's suspended person says status = "suspended",
    // and the trainer's roles are listed.
    assert_eq!(
        person(&env, "suspended@demo.test").unwrap()["status"],
        "suspended"
    );
    assert_eq!(
        person(&env, "trainer@demo.test").unwrap()["roles"],
        serde_json::json!(["Student", "Trainer"])
    );
    // And a third apply changes nothing at all.
    let before = env.store().await.snapshot().await.unwrap();
    let out = env.run(&["apply", file]);
    assert!(
        text(&out).contains("0 created, 0 updated"),
        "{}",
        text(&out)
    );
    assert_eq!(env.store().await.snapshot().await.unwrap(), before);
}

#[tokio::test]
async fn a_realm_file_never_undoes_an_administrator_on_sqlite() {
    a_realm_file_never_undoes_an_administrator(Env::sqlite()).await;
}

#[tokio::test]
async fn a_realm_file_never_undoes_an_administrator_on_postgres() {
    if let Some(env) = Env::postgres().await {
        a_realm_file_never_undoes_an_administrator(env).await;
    }
}
