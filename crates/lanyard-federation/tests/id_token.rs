//! ID-token validation against the attacks an upstream sign-in must survive: each token below
//! differs from a good one in one way and must be refused for exactly that reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use lanyard_core::client::SigningAlg;
use lanyard_federation::id_token::{validate, Expect, Rejection};
use lanyard_federation::mapping::{map, RoleRule, Rules};
use lanyard_idp::keys::{generate, LoadedKey};
use serde_json::{json, Value};

const NOW: i64 = 1_800_000_000;
const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const ISSUER: &str = "http://127.0.0.1:9/{tenantid}/v2.0";
const CLIENT: &str = "lanyard-client";

fn key(seq: i64) -> LoadedKey {
    LoadedKey::load(&generate(SigningAlg::RS256, seq, 0).unwrap()).unwrap()
}

fn jwks(keys: &[&LoadedKey]) -> JwkSet {
    serde_json::from_value(
        json!({ "keys": keys.iter().map(|k| k.jwk().clone()).collect::<Vec<_>>() }),
    )
    .unwrap()
}

fn good_claims() -> Value {
    json!({
        "iss": format!("http://127.0.0.1:9/{TID}/v2.0"),
        "sub": "pairwise-sub",
        "oid": "00000000-0000-0000-0000-00000000a11c",
        "tid": TID,
        "aud": CLIENT,
        "exp": NOW + 3600,
        "iat": NOW - 10,
        "nonce": "the-nonce",
        "email": "Alice@Acme.example",
        "name": "Alice Smith",
        "groups": ["b7a3e2c1-0000-4000-8000-00000000a001"],
        "roles": ["Training.Admin"],
        "amr": ["pwd", "mfa"],
    })
}

fn sign(k: &LoadedKey, claims: &Value) -> String {
    lanyard_idp::jws::sign(k, "JWT", claims).unwrap()
}

fn expect<'a>(allowed: &'a [String]) -> Expect<'a> {
    Expect {
        issuer: ISSUER,
        allowed_tenant_ids: allowed,
        client_id: CLIENT,
        nonce: "the-nonce",
        now: NOW,
        skew: 120,
    }
}

fn with(change: impl FnOnce(&mut Value)) -> Value {
    let mut c = good_claims();
    change(&mut c);
    c
}

fn unsigned(header: Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string()),
        B64.encode(sig)
    )
}

#[test]
fn a_good_token_passes_and_maps() {
    let k = key(1);
    let allowed = vec![TID.to_string()];
    let c = validate(&sign(&k, &good_claims()), &jwks(&[&k]), &expect(&allowed)).unwrap();
    assert_eq!(
        c.subject(),
        "00000000-0000-0000-0000-00000000a11c",
        "oid is Entra's subject"
    );
    let rules = vec![
        RoleRule {
            claim: "groups".into(),
            value: "b7a3e2c1-0000-4000-8000-00000000a001".into(),
            role: "Trainer".into(),
        },
        RoleRule {
            claim: "roles".into(),
            value: "Training.Admin".into(),
            role: "Local Administrator".into(),
        },
        RoleRule {
            claim: "roles".into(),
            value: "Other".into(),
            role: "Master Administrator".into(),
        },
    ];
    let defaults = vec!["Student".to_string()];
    let m = map(
        &c,
        &Rules {
            default_roles: &defaults,
            role_map: &rules,
            trust_upstream_mfa: true,
        },
    );
    assert_eq!(m.roles, ["Student", "Trainer", "Local Administrator"]);
    assert_eq!(m.email.as_deref(), Some("alice@acme.example"));
    assert!(
        !m.email_verified,
        "Entra sends no email_verified: not vouched for"
    );
    assert_eq!(
        (m.given_name.as_str(), m.family_name.as_str()),
        ("Alice", "Smith")
    );
    assert!(m.upstream_mfa);
    let untrusted = map(
        &c,
        &Rules {
            default_roles: &defaults,
            role_map: &rules,
            trust_upstream_mfa: false,
        },
    );
    assert!(
        !untrusted.upstream_mfa,
        "MFA is believed only when the connection trusts it"
    );
}

#[test]
fn each_forgery_is_refused_for_its_reason() {
    let k = key(1);
    let other = key(2);
    let keys = jwks(&[&k]);
    let allowed = vec![TID.to_string()];
    let e = expect(&allowed);
    let case = |token: String| validate(&token, &keys, &e).unwrap_err();
    // Another directory tenant (a stranger's Entra), though properly signed and issued.
    let stranger = "11111111-2222-3333-4444-555555555555";
    assert_eq!(
        case(sign(
            &k,
            &with(|c| {
                c["tid"] = json!(stranger);
                c["iss"] = json!(format!("http://127.0.0.1:9/{stranger}/v2.0"));
            })
        )),
        Rejection::WrongTenant(Some(stranger.into()))
    );
    assert_eq!(
        case(sign(
            &k,
            &with(|c| {
                c.as_object_mut().unwrap().remove("tid");
            })
        )),
        Rejection::WrongTenant(None)
    );
    // An allowed tid but another issuer.
    assert!(matches!(
        case(sign(
            &k,
            &with(|c| c["iss"] = json!("https://evil.example/v2.0"))
        )),
        Rejection::IssuerMismatch { .. }
    ));
    // A token for another app.
    assert!(matches!(
        case(sign(&k, &with(|c| c["aud"] = json!("another-app")))),
        Rejection::Audience(_)
    ));
    assert_eq!(
        case(sign(
            &k,
            &with(|c| c["aud"] = json!([CLIENT, "another-app"]))
        )),
        Rejection::AuthorizedParty
    );
    assert_eq!(
        case(sign(
            &k,
            &with(|c| {
                c["aud"] = json!([CLIENT, "x"]);
                c["azp"] = json!("x");
            })
        )),
        Rejection::AuthorizedParty
    );
    // Expired (beyond the skew), and from the future.
    assert!(matches!(
        case(sign(&k, &with(|c| c["exp"] = json!(NOW - 121)))),
        Rejection::Expired { .. }
    ));
    assert!(matches!(
        case(sign(&k, &with(|c| c["iat"] = json!(NOW + 600)))),
        Rejection::NotYetValid { .. }
    ));
    // Another sign-in's nonce, or none.
    assert_eq!(
        case(sign(&k, &with(|c| c["nonce"] = json!("other-nonce")))),
        Rejection::Nonce
    );
    assert_eq!(
        case(sign(
            &k,
            &with(|c| {
                c.as_object_mut().unwrap().remove("nonce");
            })
        )),
        Rejection::Nonce
    );
    // alg none, and HS256 "signed" with the public key material.
    assert_eq!(
        case(unsigned(
            json!({"alg": "none", "typ": "JWT"}),
            &good_claims(),
            b""
        )),
        Rejection::Algorithm("none".into())
    );
    assert_eq!(
        case(unsigned(
            json!({"alg": "HS256", "kid": k.kid}),
            &good_claims(),
            b"mac"
        )),
        Rejection::Algorithm("HS256".into())
    );
    // Signed by a key the upstream never published.
    assert_eq!(
        case(sign(&other, &good_claims())),
        Rejection::UnknownKey(Some(other.kid.clone()))
    );
    // The right kid on a signature made by another key.
    let forged = sign(&other, &good_claims());
    let parts: Vec<&str> = forged.split('.').collect();
    let header = json!({"alg": "RS256", "kid": k.kid, "typ": "JWT"});
    let spliced = format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        parts[1],
        parts[2]
    );
    assert_eq!(case(spliced), Rejection::Signature);
    // A tampered payload under a good signature.
    let good = sign(&k, &good_claims());
    let p: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        p[0],
        B64.encode(with(|c| c["oid"] = json!("victim")).to_string()),
        p[2]
    );
    assert_eq!(case(tampered), Rejection::Signature);
    assert!(matches!(
        case("not.a.jwt.at-all".into()),
        Rejection::Malformed(_)
    ));
}

#[test]
fn a_multi_tenant_issuer_without_an_allow_list_accepts_nobody() {
    let k = key(1);
    let none: Vec<String> = Vec::new();
    assert_eq!(
        validate(&sign(&k, &good_claims()), &jwks(&[&k]), &expect(&none)).unwrap_err(),
        Rejection::WrongTenant(Some(TID.into()))
    );
}

#[test]
fn entra_groups_overage_is_reported() {
    let k = key(1);
    let allowed = vec![TID.to_string()];
    let claims = with(|c| {
        c.as_object_mut().unwrap().remove("groups");
        c["_claim_names"] = json!({"groups": "src1"});
        c["_claim_sources"] = json!({"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}});
    });
    let c = validate(&sign(&k, &claims), &jwks(&[&k]), &expect(&allowed)).unwrap();
    let rules = vec![RoleRule {
        claim: "groups".into(),
        value: "g".into(),
        role: "Trainer".into(),
    }];
    let m = map(
        &c,
        &Rules {
            default_roles: &[],
            role_map: &rules,
            trust_upstream_mfa: false,
        },
    );
    assert_eq!(m.overage, ["groups"]);
    assert!(m.roles.is_empty());
}
