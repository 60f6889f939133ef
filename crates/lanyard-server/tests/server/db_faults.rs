//! Faults of the databases, made with real servers: a PostgreSQL of the test's own shut down
//! and started again, and SQLite killed in the middle of an apply and of a sign-in burst.

use crate::common::*;
use std::time::{Duration, Instant};

/// A PostgreSQL server of this test's own (the shared one must not be stopped), from the
/// binaries `make test` installed; run as the `postgres` user when the tests run as root.
struct PrivatePostgres {
    bin: std::path::PathBuf,
    data: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL binaries")
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .find(|b| b.join("pg_ctl").exists())
            .expect("pg_ctl");
        let uid = std::process::Command::new("id").arg("-u").output().unwrap();
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let data = tempfile::tempdir().unwrap();
        if as_postgres {
            let ok = std::process::Command::new("chown")
                .args(["-R", "postgres", data.path().to_str().unwrap()])
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let pg = Self {
            bin,
            data,
            port: free_port(),
            as_postgres,
        };
        let out = pg
            .cmd(
                "initdb",
                &["-U", "lanyard", "--auth=trust", "--no-sync", "-E", "UTF8"],
            )
            .arg("-D")
            .arg(pg.dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.ctl(&["start"]);
        pg
    }

    fn dir(&self) -> std::path::PathBuf {
        self.data.path().join("pg")
    }

    fn cmd(&self, program: &str, args: &[&str]) -> std::process::Command {
        let program = self.bin.join(program);
        let mut c = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        c.args(args);
        c
    }

    fn ctl(&self, what: &[&str]) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.data.path().display()
        );
        let out = self
            .cmd("pg_ctl", &["-w", "-t", "60", "-o", &options, "-l"])
            .arg(self.data.path().join("pg.log"))
            .arg("-D")
            .arg(self.dir())
            .args(what)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {what:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self) -> String {
        format!("postgres://lanyard@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl", &["-m", "immediate", "-w", "stop", "-D"])
            .arg(self.dir())
            .output();
    }
}

#[tokio::test]
async fn postgresql_shutting_down_is_a_fast_503_and_its_return_is_seen_at_once() {
    if std::env::var("LANYARD_TEST_POSTGRES_URL").is_err() {
        return;
    }
    let pg = PrivatePostgres::start();
    let url = pg.url();
    let l = Lanyard::demo(&[("LANYARD_DATABASE__URL", url.as_str())], "").await;
    let t = full_sign_in(&l, "learner@demo.test").await;
    let mut token = t["refresh_token"].as_str().unwrap().to_string();
    let r = refresh(&l.base, &token).await;
    assert_eq!(r.status(), 200);
    token = r.json::<serde_json::Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    // An administrator shuts PostgreSQL down (fast: sessions are terminated, 57P01).
    pg.ctl(&["-m", "fast", "stop"]);
    let started = Instant::now();
    let r = refresh(&l.base, &token).await;
    assert_eq!(r.status(), 503, "{:?}", r.text().await);
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(started.elapsed() < Duration::from_secs(6));
    // Once the outage is seen, every request fails at once rather than after the pool's 5 s.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for path in ["token", "readyz"] {
        let started = Instant::now();
        let status = if path == "token" {
            refresh(&l.base, &token).await.status()
        } else {
            reqwest::get(format!("{}/readyz", l.base))
                .await
                .unwrap()
                .status()
        };
        assert_eq!(status, 503, "{path}");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{path} waited {:?} for a database that is down",
            started.elapsed()
        );
    }
    // Each failure is counted, by kind.
    let failed = crate::metrics::scraped(
        &l.base,
        "lanyard_database_errors_total",
        r#"kind="unavailable""#,
    )
    .await;
    assert!(failed >= 3.0, "database failures counted: {failed}");
    // PostgreSQL returns: within a second the same token works (it was never rotated).
    pg.ctl(&["start"]);
    let back = Instant::now();
    loop {
        let r = refresh(&l.base, &token).await;
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "not back after {:?}",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Many people without a sign-in, appended to the demo realm: an apply that takes a while.
fn bulk_realm(n: usize) -> String {
    let mut realm = std::fs::read_to_string(demo_file()).unwrap();
    for i in 0..n {
        realm.push_str(&format!(
            "\n[[tenant.user]]\ngiven_name = \"Bulk\"\nfamily_name = \"Person {i}\"\nemail = \"bulk{i}@demo.test\"\nroles = [\"Student\"]\nlocation = \"Demo Training Co > North > Leeds\"\n"
        ));
    }
    realm
}

async fn sqlite_check(db: &std::path::Path) -> (String, i64) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let integrity: (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let bulk: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE email LIKE 'bulk%'")
        .fetch_one(&mut conn)
        .await
        .unwrap_or((0,));
    (integrity.0, bulk.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill_during_an_apply_and_a_sign_in_burst() {
    const PEOPLE: usize = 1500;
    let l = Lanyard::prepare(&[]);
    l.apply(&std::fs::read_to_string(demo_file()).unwrap());
    let db = l.dir.path().join("lanyard.db");
    let realm = l.dir.path().join("bulk.toml");
    std::fs::write(&realm, bulk_realm(PEOPLE)).unwrap();
    // Killed at different moments of the apply: all of it or none of it, and an intact file.
    let mut seen = std::collections::BTreeSet::new();
    // (The last one lets it finish: about 2 s in a debug build here.)
    for delay_ms in [30u64, 150, 400, 800, 1200, 20_000] {
        let mut apply = l.cmd(&["apply", realm.to_str().unwrap()]).spawn().unwrap();
        for _ in 0..delay_ms / 50 {
            if apply.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = apply.kill();
        let _ = apply.wait();
        let (integrity, bulk) = sqlite_check(&db).await;
        assert_eq!(integrity, "ok", "after a kill at {delay_ms} ms");
        assert!(
            bulk == 0 || bulk == PEOPLE as i64,
            "a killed apply left {bulk} of {PEOPLE} people (at {delay_ms} ms)"
        );
        seen.insert(bulk);
        if bulk > 0 {
            break;
        }
    }
    assert!(
        seen.contains(&(PEOPLE as i64)),
        "the apply never completed: {seen:?}"
    );
    // A burst of sign-ins, and the server killed in the middle of it.
    let mut l = l.serve().await;
    let base = l.base.clone();
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let base = base.clone();
            tokio::spawn(async move {
                let b = Browser::new(&base);
                let (_, challenge) = pkce();
                let Ok(r) = b
                    .http
                    .get(format!("{base}/authorize"))
                    .query(&app_request(&challenge, "s", "n"))
                    .send()
                    .await
                else {
                    return;
                };
                if r.status() == 303 {
                    let (tx, csrf, _) = b.login_form(r).await;
                    let _ = b
                        .http
                        .post(format!("{base}/login"))
                        .form(&[
                            ("tx", tx.as_str()),
                            ("csrf", csrf.as_str()),
                            ("login", "learner@demo.test"),
                            ("password", PASSWORD),
                        ])
                        .send()
                        .await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    l.stop();
    for t in burst {
        let _ = t.await;
    }
    let (integrity, _) = sqlite_check(&db).await;
    assert_eq!(integrity, "ok", "after a kill during sign-ins");
    // It starts again cleanly and signs people in.
    l.start().await;
    full_sign_in(&l, "learner@demo.test").await;
    eprintln!(
        "killed applies left {seen:?} bulk people; then a server killed mid-burst restarted clean"
    );
}
