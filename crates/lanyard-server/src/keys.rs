//! Signing keys at the server: created at first start, rotated by `lanyard keys rotate`,
//! reloaded periodically so every process sees rotations.

use anyhow::Context;
use lanyard_core::SigningAlg;
use lanyard_idp::keys::{generate, KeyMaterial};
use lanyard_idp::KeySet;
use lanyard_store::{Store, StoredKey};

fn to_material(k: StoredKey) -> anyhow::Result<KeyMaterial> {
    Ok(KeyMaterial {
        alg: SigningAlg::parse(&k.alg)
            .with_context(|| format!("key {} has unknown algorithm {}", k.kid, k.alg))?,
        kid: k.kid,
        seq: k.seq,
        pkcs8: k.pkcs8,
        activates_at: k.activates_at,
        retires_at: k.retires_at,
        expires_at: k.expires_at,
    })
}

fn to_stored(m: &KeyMaterial, now: i64) -> StoredKey {
    StoredKey {
        kid: m.kid.clone(),
        alg: m.alg.as_str().to_string(),
        seq: m.seq,
        pkcs8: m.pkcs8.clone(),
        created_at: now,
        activates_at: m.activates_at,
        retires_at: m.retires_at,
        expires_at: m.expires_at,
    }
}

/// Reads every key from the store.
pub async fn load(store: &Store) -> anyhow::Result<KeySet> {
    let mats = store
        .signing_keys()
        .await?
        .into_iter()
        .map(to_material)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(KeySet::load(&mats)?)
}

/// Loads the keys, first creating one for every algorithm that has none (active at once: no
/// token can exist yet). Safe when several processes start together: one insert wins.
pub async fn load_or_bootstrap(store: &Store) -> anyhow::Result<KeySet> {
    let set = load(store).await?;
    let missing = set.missing();
    if missing.is_empty() {
        return Ok(set);
    }
    let now = store.clock().now().unix_timestamp();
    for alg in missing {
        let m = tokio::task::spawn_blocking(move || generate(alg, 1, now)).await??;
        if store.insert_signing_key(&to_stored(&m, now)).await? {
            tracing::info!(kid = %m.kid, alg = alg.as_str(), "created signing key");
        }
    }
    load(store).await
}

/// Adds a new key for `alg`, published now and signing after `publish_secs`; the keys it
/// replaces keep verifying until `max_token_secs` after that. Returns the new kid.
pub async fn rotate(
    store: &Store,
    alg: SigningAlg,
    publish_secs: i64,
    max_token_secs: i64,
) -> anyhow::Result<String> {
    let set = load(store).await?;
    let now = store.clock().now().unix_timestamp();
    let activates = now + publish_secs;
    let m = tokio::task::spawn_blocking({
        let seq = set.last_seq(alg) + 1;
        move || generate(alg, seq, activates)
    })
    .await??;
    if !store.insert_signing_key(&to_stored(&m, now)).await? {
        anyhow::bail!(
            "another rotation of {} happened at the same time; try again",
            alg.as_str()
        );
    }
    for (kid, retires, expires) in set.retirements(alg, activates, max_token_secs) {
        store.retire_signing_key(&kid, retires, expires).await?;
    }
    Ok(m.kid)
}

/// The SAML signing keys: every RS256 key with its certificate, making (and storing) the
/// certificate of a key that has none yet. Several processes may race; one insert wins and
/// everyone reads the winner.
pub async fn load_saml(store: &Store, issuer: &str) -> anyhow::Result<lanyard_idp::saml::SamlKeys> {
    use base64::Engine;
    use lanyard_idp::saml::keys::{self_signed_certificate, SamlKeyInput};
    let b64 = base64::engine::general_purpose::STANDARD;
    let rsa: Vec<StoredKey> = store
        .signing_keys()
        .await?
        .into_iter()
        .filter(|k| k.alg == SigningAlg::RS256.as_str())
        .collect();
    let mut certs: std::collections::HashMap<String, String> =
        store.saml_certificates().await?.into_iter().collect();
    let cn = url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "lanyard".into());
    let mut made = false;
    for k in rsa.iter().filter(|k| !certs.contains_key(&k.kid)) {
        let der = self_signed_certificate(&k.pkcs8, &format!("Lanyard SAML {cn}"))?;
        if store
            .insert_saml_certificate(&k.kid, &b64.encode(der))
            .await?
        {
            tracing::info!(kid = %k.kid, "created SAML signing certificate");
        }
        made = true;
    }
    if made {
        certs = store.saml_certificates().await?.into_iter().collect();
    }
    let mut inputs = Vec::new();
    for k in rsa {
        let Some(c) = certs.get(&k.kid) else { continue };
        inputs.push(SamlKeyInput {
            cert_der: b64
                .decode(c)
                .with_context(|| format!("certificate of key {}", k.kid))?,
            kid: k.kid,
            pkcs8: k.pkcs8,
            activates_at: k.activates_at,
            retires_at: k.retires_at,
            expires_at: k.expires_at,
        });
    }
    Ok(lanyard_idp::saml::SamlKeys::load(inputs)?)
}
