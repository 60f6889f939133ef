//! The same behaviour from both stores: the in-process one always, Redis when `make test`
//! started one (`LANYARD_TEST_REDIS_URL`; required with `LANYARD_REQUIRE_REDIS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lanyard_core::{FixedClock, IdGen, SystemClock};
use lanyard_session::{
    new_sso_secret, sso_handle, MemoryStore, RedisStore, RefreshFamily, Rotation, SessionError,
    SessionStore, Sessions, SsoSession, Swap,
};
use std::sync::Arc;
use std::time::Duration;

async fn redis() -> Option<Arc<dyn SessionStore>> {
    let Ok(url) = std::env::var("LANYARD_TEST_REDIS_URL") else {
        assert!(
            std::env::var("LANYARD_REQUIRE_REDIS").is_err(),
            "Redis required but LANYARD_TEST_REDIS_URL unset"
        );
        return None;
    };
    let prefix = format!("t{}:", rand_suffix());
    Some(Arc::new(RedisStore::connect(&url, &prefix).await.unwrap()))
}

fn rand_suffix() -> i128 {
    lanyard_core::Clock::now(&SystemClock).unix_timestamp_nanos()
}

fn memory() -> Arc<dyn SessionStore> {
    Arc::new(MemoryStore::new(Arc::new(SystemClock)))
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                super::$name(super::memory()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis() {
                if let Some(s) = super::redis().await {
                    super::$name(s).await;
                }
            }
        }
    };
}

const MIN: Duration = Duration::from_secs(60);

both!(primitives_are_atomic_and_expire);
async fn primitives_are_atomic_and_expire(s: Arc<dyn SessionStore>) {
    s.put("a", b"1", MIN).await.unwrap();
    assert_eq!(s.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert!(!s.put_new("a", b"2", MIN).await.unwrap());
    assert!(s.put_new("b", b"2", MIN).await.unwrap());
    assert_eq!(s.take("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(s.take("a").await.unwrap(), None, "take must be single-use");
    assert_eq!(
        s.swap("b", b"x", b"y", MIN).await.unwrap(),
        Swap::Mismatch(b"2".to_vec())
    );
    assert_eq!(s.swap("b", b"2", b"3", MIN).await.unwrap(), Swap::Swapped);
    assert_eq!(s.swap("zz", b"2", b"3", MIN).await.unwrap(), Swap::Missing);
    assert_eq!(s.incr("n", MIN).await.unwrap(), 1);
    assert_eq!(s.incr("n", MIN).await.unwrap(), 2);
    s.decr("n").await.unwrap();
    assert_eq!(s.incr("n", MIN).await.unwrap(), 2);
    for _ in 0..3 {
        s.decr("n").await.unwrap();
    }
    assert_eq!(
        s.incr("n", MIN).await.unwrap(),
        1,
        "a counter never goes below zero"
    );
    s.decr("absent").await.unwrap();
    assert_eq!(s.get("absent").await.unwrap(), None, "decr creates nothing");
    s.add_member("set", "m1", MIN).await.unwrap();
    s.add_member("set", "m2", MIN).await.unwrap();
    assert!(s.is_member("set", "m1").await.unwrap());
    s.remove_member("set", "m1").await.unwrap();
    assert_eq!(s.members("set").await.unwrap(), ["m2"]);
    s.put("short", b"x", Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(s.get("short").await.unwrap(), None, "entries must expire");
    // Concurrent takes: exactly one wins.
    s.put("code", b"c", MIN).await.unwrap();
    let takes: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.take("code").await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for t in takes {
        winners += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(winners, 1);
}

fn ids() -> (lanyard_core::UserId, lanyard_core::TenantId) {
    let c = FixedClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
    let g = IdGen::new(&c);
    (g.next(), g.next())
}

both!(refresh_reuse_revokes_the_family);
async fn refresh_reuse_revokes_the_family(s: Arc<dyn SessionStore>) {
    let sessions = Sessions::new(s);
    let (user, _) = ids();
    let f = RefreshFamily {
        id: "fam1".into(),
        user_id: user,
        client_id: "app".into(),
        scope: "openid".into(),
        sid: None,
        auth_time: 0,
        amr: vec!["pwd".into()],
        acr: "1".into(),
        expires_at: 4_000_000_000,
    };
    sessions
        .create_family(&f, "h1", 1_700_000_000)
        .await
        .unwrap();
    assert!(matches!(
        sessions
            .rotate("fam1", "h1", "h2", 1_700_000_000)
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));
    assert!(matches!(
        sessions
            .rotate("fam1", "h2", "h3", 1_700_000_000)
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));
    // Garbage does not revoke (no denial of service by guessing a family id) ...
    assert_eq!(
        sessions
            .rotate("fam1", "nonsense", "h9", 1_700_000_000)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert!(sessions.is_current("fam1", "h3").await.unwrap());
    // ... but an earlier token does, and then nothing works.
    assert!(matches!(
        sessions
            .rotate("fam1", "h1", "h4", 1_700_000_000)
            .await
            .unwrap(),
        Rotation::Reused(_)
    ));
    assert_eq!(
        sessions
            .rotate("fam1", "h3", "h5", 1_700_000_000)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert!(sessions.family("fam1").await.unwrap().is_none());
}

/// A password-only SSO session of an hour, made at `now`.
fn sso_session(
    sid: &str,
    user: lanyard_core::UserId,
    tenant: lanyard_core::TenantId,
    now: i64,
) -> SsoSession {
    SsoSession {
        sid: format!("public-{sid}"),
        handle: sid.into(),
        user_id: user,
        tenant_id: tenant,
        auth_time: now,
        amr: vec![],
        acr: "1".into(),
        clients: Default::default(),
        saml: vec![],
        expires_at: now + 3600,
    }
}

both!(ending_a_user_ends_everything);
async fn ending_a_user_ends_everything(s: Arc<dyn SessionStore>) {
    let sessions = Sessions::new(s);
    let (user, tenant) = ids();
    let now = 1_700_000_000;
    for sid in ["s1", "s2"] {
        let sso = sso_session(sid, user, tenant, now);
        sessions.save_sso(&sso, now).await.unwrap();
    }
    let f = RefreshFamily {
        id: "fam2".into(),
        user_id: user,
        client_id: "app".into(),
        scope: String::new(),
        sid: Some("s1".into()),
        auth_time: now,
        amr: vec![],
        acr: "1".into(),
        expires_at: now + 3600,
    };
    sessions.create_family(&f, "h", now).await.unwrap();
    assert_eq!(sessions.end_user(user).await.unwrap(), (2, 1));
    assert!(sessions.sso("s1").await.unwrap().is_none());
    assert_eq!(
        sessions.rotate("fam2", "h", "h2", now).await.unwrap(),
        Rotation::Invalid
    );
}

both!(updates_keep_concurrent_changes_and_never_revive_an_ended_session);
async fn updates_keep_concurrent_changes_and_never_revive_an_ended_session(
    s: Arc<dyn SessionStore>,
) {
    let sessions = Arc::new(Sessions::new(s));
    let (user, tenant) = ids();
    let now = 1_700_000_000;
    let sid = format!("upd{}", rand_suffix());
    let sso = sso_session(&sid, user, tenant, now);
    sessions.save_sso(&sso, now).await.unwrap();
    // Twenty apps join the session at once (as codes are issued in parallel tabs): none is lost.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (sessions, sid) = (sessions.clone(), sid.clone());
        tasks.push(tokio::spawn(async move {
            sessions
                .update_sso(&sid, now, |s| {
                    s.clients.insert(format!("app{i}"));
                })
                .await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_some());
    }
    let kept = sessions.sso(&sid).await.unwrap().unwrap();
    assert_eq!(kept.clients.len(), 20, "{:?}", kept.clients);

    // Once the session has ended, an update does not bring it back.
    sessions.end_sso(&sid).await.unwrap();
    let late = sessions
        .update_sso(&sid, now, |s| {
            s.clients.insert("late".into());
        })
        .await
        .unwrap();
    assert!(late.is_none());
    assert!(sessions.sso(&sid).await.unwrap().is_none());
}

both!(a_session_is_found_by_its_cookie_secret_never_by_its_public_id);
async fn a_session_is_found_by_its_cookie_secret_never_by_its_public_id(s: Arc<dyn SessionStore>) {
    let sessions = Sessions::new(s.clone());
    let (user, tenant) = ids();
    let now = 1_700_000_000;
    let (secret, handle) = new_sso_secret();
    assert_eq!(handle, sso_handle(&secret));
    assert_ne!(handle, secret);
    let sso = sso_session(&handle, user, tenant, now);
    sessions.save_sso(&sso, now).await.unwrap();
    let found = sessions.sso_by_secret(&secret).await.unwrap().unwrap();
    assert_eq!(found.sid, sso.sid);
    // The public id, the handle itself or nothing prove nothing.
    for wrong in [sso.sid.as_str(), handle.as_str(), ""] {
        assert!(
            sessions.sso_by_secret(wrong).await.unwrap().is_none(),
            "{wrong}"
        );
    }
    // A record of the earlier scheme, keyed by the cookie value, is never read.
    let old = serde_json::json!({
        "sid": "old-cookie", "user_id": user, "tenant_id": tenant, "auth_time": now,
        "amr": ["pwd"], "acr": "1", "clients": [], "expires_at": now + 3600
    });
    s.put("sso:old-cookie", old.to_string().as_bytes(), MIN)
        .await
        .unwrap();
    assert!(sessions
        .sso_by_secret("old-cookie")
        .await
        .unwrap()
        .is_none());

    // A new sign-in inside the session moves it to a new secret: the old one stops working.
    let (new_secret, moved) = sessions
        .rekey_sso(&handle, now, |s| s.amr = vec!["pwd".into()])
        .await
        .unwrap()
        .unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(moved.sid, sso.sid, "the public id stays");
    assert!(sessions.sso_by_secret(&secret).await.unwrap().is_none());
    let again = sessions.sso_by_secret(&new_secret).await.unwrap().unwrap();
    assert_eq!(again.amr, ["pwd"]);
    // Ending the person ends the moved session too (the index follows it).
    assert_eq!(sessions.end_user(user).await.unwrap().0, 1);
    assert!(sessions.sso_by_secret(&new_secret).await.unwrap().is_none());
    // A session that has ended is not brought back by moving it.
    assert!(sessions
        .rekey_sso(&moved.handle, now, |_| {})
        .await
        .unwrap()
        .is_none());
}

both!(the_same_refresh_token_presented_at_once_revokes_the_family);
async fn the_same_refresh_token_presented_at_once_revokes_the_family(s: Arc<dyn SessionStore>) {
    // Two presenters of one token race: one rotates, the other must be seen as reuse (not as
    // an unknown token), whatever the interleaving of the swap and the history.
    for round in 0..20 {
        let sessions = Arc::new(Sessions::new(s.clone()));
        let (user, _) = ids();
        let id = format!("race{round}-{}", rand_suffix());
        let f = RefreshFamily {
            id: id.clone(),
            user_id: user,
            client_id: "app".into(),
            scope: String::new(),
            sid: None,
            auth_time: 0,
            amr: vec![],
            acr: "1".into(),
            expires_at: 4_000_000_000,
        };
        sessions
            .create_family(&f, "h0", 1_700_000_000)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (sessions, id) = (sessions.clone(), id.clone());
                tokio::spawn(async move {
                    sessions
                        .rotate(&id, "h0", &format!("h1-{i}"), 1_700_000_000)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut rotated = 0;
        let mut reused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Rotation::Rotated(_) | Rotation::Retried(_) => rotated += 1,
                Rotation::Reused(_) => reused += 1,
                Rotation::Invalid => {}
            }
        }
        assert_eq!(rotated, 1, "round {round}");
        assert!(
            reused >= 1,
            "round {round}: a concurrent presenter was not seen as reuse"
        );
        assert!(
            sessions.family(&id).await.unwrap().is_none(),
            "round {round}"
        );
    }
}

/// A store that performs every operation but, when armed with n, loses the answer of the
/// n-th swap from then on: what a session store that hangs past the caller's timeout and then
/// performs the swap looks like from Lanyard.
struct LosesAnAnswer {
    inner: Arc<dyn SessionStore>,
    armed: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl SessionStore for LosesAnAnswer {
    async fn put(&self, k: &str, v: &[u8], t: Duration) -> Result<(), SessionError> {
        self.inner.put(k, v, t).await
    }
    async fn put_new(&self, k: &str, v: &[u8], t: Duration) -> Result<bool, SessionError> {
        self.inner.put_new(k, v, t).await
    }
    async fn get(&self, k: &str) -> Result<Option<Vec<u8>>, SessionError> {
        self.inner.get(k).await
    }
    async fn take(&self, k: &str) -> Result<Option<Vec<u8>>, SessionError> {
        self.inner.take(k).await
    }
    async fn delete(&self, k: &str) -> Result<(), SessionError> {
        self.inner.delete(k).await
    }
    async fn swap(&self, k: &str, e: &[u8], n: &[u8], t: Duration) -> Result<Swap, SessionError> {
        self.inner.swap(k, e, n, t).await
    }
    async fn swap_remembering(
        &self,
        key: &str,
        expected: &str,
        new: &str,
        history: &str,
        last: Option<(&str, &str, Duration)>,
        ttl: Duration,
    ) -> Result<Swap, SessionError> {
        let done = self
            .inner
            .swap_remembering(key, expected, new, history, last, ttl)
            .await?;
        let n = self.armed.load(std::sync::atomic::Ordering::SeqCst);
        self.armed
            .store(n.saturating_sub(1), std::sync::atomic::Ordering::SeqCst);
        if n == 1 {
            return Err(SessionError::Unavailable(
                "timed out (the swap went through)".into(),
            ));
        }
        Ok(done)
    }
    async fn incr(&self, k: &str, t: Duration) -> Result<u64, SessionError> {
        self.inner.incr(k, t).await
    }
    async fn decr(&self, k: &str) -> Result<(), SessionError> {
        self.inner.decr(k).await
    }
    async fn add_member(&self, k: &str, m: &str, t: Duration) -> Result<(), SessionError> {
        self.inner.add_member(k, m, t).await
    }
    async fn is_member(&self, k: &str, m: &str) -> Result<bool, SessionError> {
        self.inner.is_member(k, m).await
    }
    async fn members(&self, k: &str) -> Result<Vec<String>, SessionError> {
        self.inner.members(k).await
    }
    async fn remove_member(&self, k: &str, m: &str) -> Result<(), SessionError> {
        self.inner.remove_member(k, m).await
    }
    async fn ping(&self) -> Result<(), SessionError> {
        self.inner.ping().await
    }
}

fn family(id: &str) -> RefreshFamily {
    RefreshFamily {
        id: id.into(),
        user_id: ids().0,
        client_id: "app".into(),
        scope: String::new(),
        sid: None,
        auth_time: 0,
        amr: vec![],
        acr: "1".into(),
        expires_at: 4_000_000_000,
    }
}

both!(a_retry_after_a_lost_rotation_answer_keeps_the_family);
async fn a_retry_after_a_lost_rotation_answer_keeps_the_family(s: Arc<dyn SessionStore>) {
    const NOW: i64 = 1_700_000_000;
    let lossy = Arc::new(LosesAnAnswer {
        inner: s,
        armed: 0.into(),
    });
    let arm_nth = |n| lossy.armed.store(n, std::sync::atomic::Ordering::SeqCst);
    let arm = || arm_nth(1);
    let strict = Sessions::new(lossy.clone());
    let sessions = Sessions::new(lossy.clone()).with_refresh_grace(Duration::from_secs(30));
    let id = format!("lost-{}", rand_suffix());
    sessions
        .create_family(&family(&id), "h1", NOW)
        .await
        .unwrap();
    assert!(matches!(
        sessions.rotate(&id, "h1", "h2", NOW).await.unwrap(),
        Rotation::Rotated(_)
    ));
    // The store swaps h2 for h3 but its answer is lost: h3 is never delivered.
    arm();
    assert!(sessions.rotate(&id, "h2", "h3", NOW).await.is_err());
    assert!(sessions.is_current(&id, "h3").await.unwrap());
    // The client's retry with h2 is not reuse; when its answer is lost as well (the second
    // swap's), the next retry still is not.
    arm_nth(2);
    assert!(sessions.rotate(&id, "h2", "h4", NOW).await.is_err());
    assert!(sessions.is_current(&id, "h4").await.unwrap());
    assert!(matches!(
        sessions.rotate(&id, "h2", "h5", NOW).await.unwrap(),
        Rotation::Retried(_)
    ));
    assert!(matches!(
        sessions.rotate(&id, "h5", "h6", NOW).await.unwrap(),
        Rotation::Rotated(_)
    ));
    // Until its successor is used, the token just replaced may come again (the answer may
    // have been lost after the swap, by a process killed before it answered)...
    assert!(matches!(
        sessions.rotate(&id, "h5", "h7", NOW).await.unwrap(),
        Rotation::Retried(_)
    ));
    assert!(sessions.is_current(&id, "h7").await.unwrap());
    // ...but once the successor is used, it was delivered: the predecessor is reuse again,
    // and the family ends.
    assert!(matches!(
        sessions.rotate(&id, "h7", "h8", NOW).await.unwrap(),
        Rotation::Rotated(_)
    ));
    assert!(matches!(
        sessions.rotate(&id, "h5", "h9", NOW).await.unwrap(),
        Rotation::Reused(_)
    ));
    assert!(sessions.family(&id).await.unwrap().is_none());

    // A used successor leaves no grace: replaying the token before it is reuse.
    let id = format!("delivered-{}", rand_suffix());
    sessions
        .create_family(&family(&id), "h1", NOW)
        .await
        .unwrap();
    sessions.rotate(&id, "h1", "h2", NOW).await.unwrap();
    sessions.rotate(&id, "h2", "h3", NOW).await.unwrap();
    assert!(matches!(
        sessions.rotate(&id, "h1", "h9", NOW).await.unwrap(),
        Rotation::Reused(_)
    ));

    // The successor that was never delivered, if it turns up, is reuse too.
    let id = format!("undelivered-{}", rand_suffix());
    sessions
        .create_family(&family(&id), "h1", NOW)
        .await
        .unwrap();
    arm();
    assert!(sessions.rotate(&id, "h1", "h2", NOW).await.is_err());
    sessions.rotate(&id, "h1", "h3", NOW).await.unwrap();
    assert!(matches!(
        sessions.rotate(&id, "h2", "h9", NOW).await.unwrap(),
        Rotation::Reused(_)
    ));

    // Without a grace (or after it), the retry is reuse, as before.
    let id = format!("strict-{}", rand_suffix());
    strict.create_family(&family(&id), "h1", NOW).await.unwrap();
    arm();
    assert!(strict.rotate(&id, "h1", "h2", NOW).await.is_err());
    assert!(matches!(
        strict.rotate(&id, "h1", "h3", NOW).await.unwrap(),
        Rotation::Reused(_)
    ));
    let short = Sessions::new(lossy.clone()).with_refresh_grace(Duration::from_millis(300));
    let id = format!("expired-{}", rand_suffix());
    short.create_family(&family(&id), "h1", NOW).await.unwrap();
    arm();
    assert!(short.rotate(&id, "h1", "h2", NOW).await.is_err());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(matches!(
        short.rotate(&id, "h1", "h3", NOW).await.unwrap(),
        Rotation::Reused(_)
    ));
}
