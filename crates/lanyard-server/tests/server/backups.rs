//! Backups, as docs/operations.md prescribes them: the database and the key file are all a fresh
//! node needs; nothing in the session store has to be kept.

use crate::common::*;

/// mfa@demo.test signs in with his password and his TOTP code (whose secret is sealed with the
/// key file); returns the status of the code's answer.
async fn totp_sign_in(l: &Lanyard) -> u16 {
    let b = Browser::new(&l.base);
    let (_, challenge) = pkce();
    let (tx, csrf, _) = b
        .login_form(b.authorize(&app_request(&challenge, "s", "n")).await)
        .await;
    let r = b.submit_login(&tx, &csrf, "mfa@demo.test", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let page = b
        .get(r.headers()["location"].to_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    let code = demo_totp_code();
    b.http
        .post(format!("{}/login/mfa", l.base))
        .form(&[
            ("tx", input_value(&page, "tx").unwrap().as_str()),
            ("csrf", input_value(&page, "csrf").unwrap().as_str()),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A node on `database` with the key file `key`, as restored on a new host.
async fn restored(database: &str, key: &std::path::Path) -> Lanyard {
    Lanyard::prepare(&[
        ("LANYARD_DATABASE__URL", database),
        ("LANYARD_SECRETS__KEY_FILE", key.to_str().unwrap()),
    ])
    .serve()
    .await
}

#[tokio::test]
async fn an_sqlite_backup_and_the_key_file_bring_up_a_fresh_node() {
    let old = Lanyard::demo(&[], "").await;
    full_sign_in(&old, "learner@demo.test").await;
    // Taken while the old node serves (VACUUM INTO is SQLite's online copy; `sqlite3 .backup`
    // does the same), with the key file beside it.
    let backup = tempfile::tempdir().unwrap();
    let file = backup.path().join("lanyard.db");
    {
        use sqlx::Connection;
        let source = format!("sqlite://{}", old.dir.path().join("lanyard.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&source).await.unwrap();
        sqlx::query(&format!("VACUUM INTO '{}'", file.display()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let key = backup.path().join("lanyard.key");
    std::fs::copy(old.dir.path().join("lanyard.key"), &key).unwrap();
    drop(old);
    let fresh = restored(&format!("sqlite://{}", file.display()), &key).await;
    full_sign_in(&fresh, "learner@demo.test").await;
    assert_eq!(
        totp_sign_in(&fresh).await,
        303,
        "the sealed TOTP secret did not survive"
    );
}

#[tokio::test]
async fn a_pg_dump_and_the_key_file_bring_up_a_fresh_node() {
    let (Some(old_db), Some(new_db)) = (postgres_db().await, postgres_db().await) else {
        return;
    };
    let old = Lanyard::demo(&[("LANYARD_DATABASE__URL", old_db.as_str())], "").await;
    full_sign_in(&old, "learner@demo.test").await;
    let backup = tempfile::tempdir().unwrap();
    let dump = backup.path().join("lanyard.sql");
    let out = std::process::Command::new("pg_dump")
        .args([
            "--no-owner",
            "--dbname",
            &old_db,
            "--file",
            dump.to_str().unwrap(),
        ])
        .output()
        .expect("pg_dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = backup.path().join("lanyard.key");
    std::fs::copy(old.dir.path().join("lanyard.key"), &key).unwrap();
    drop(old);
    let out = std::process::Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "--dbname", &new_db, "--file"])
        .arg(&dump)
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = restored(&new_db, &key).await;
    full_sign_in(&fresh, "learner@demo.test").await;
    assert_eq!(
        totp_sign_in(&fresh).await,
        303,
        "the sealed TOTP secret did not survive"
    );
}
