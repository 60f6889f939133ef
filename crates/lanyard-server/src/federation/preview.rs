//! `lanyard federation test-mapping`: what a set of upstream claims would make of a person,
//! read from the store and written nowhere.

use crate::app::App;
use lanyard_core::TenantId;
use lanyard_federation::id_token::IdClaims;
use lanyard_federation::OidcConnection;
use serde_json::{Map, Value};

/// The preview, as lines of text.
pub async fn test_mapping(
    app: &App,
    tenant: TenantId,
    c: &OidcConnection,
    claims: Map<String, Value>,
) -> anyhow::Result<Vec<String>> {
    let claims = IdClaims::from_map(claims);
    let m = lanyard_federation::map(&claims, &c.rules());
    let view = app.directory.tenant(tenant).await?;
    let mut out = vec![
        format!("subject:        {}", m.subject),
        format!(
            "email:          {} ({})",
            m.email.as_deref().unwrap_or("-"),
            if m.email_verified {
                "verified by the upstream"
            } else {
                "not verified"
            }
        ),
        format!("name:           {} {}", m.given_name, m.family_name),
    ];
    for r in &m.roles {
        let known = view.role_by_name(r).is_some();
        out.push(format!(
            "role:           {r}{}",
            if known {
                ""
            } else {
                "  (no such role in the tenant!)"
            }
        ));
    }
    if m.roles.is_empty() {
        out.push("role:           (none: the person could not sign in)".into());
    }
    out.push(format!(
        "account:        {}",
        c.account.as_deref().unwrap_or("-")
    ));
    out.push(format!(
        "location:       {}",
        c.location.as_deref().unwrap_or("-")
    ));
    out.push(format!(
        "mfa:            {}",
        if m.upstream_mfa {
            "done upstream and trusted"
        } else if c.trust_upstream_mfa {
            "trusted, but the claims do not say amr mfa: Lanyard's own second factor applies"
        } else {
            "not trusted: Lanyard's own second factor applies"
        }
    ));
    for claim in &m.overage {
        out.push(format!("warning:        claim {claim:?} is left out for having too many values (Entra groups overage): emit only groups assigned to the application, or use app roles"));
    }
    let linked = app
        .store
        .federated_user(tenant, &c.name, &m.subject)
        .await?;
    let existing = match &m.email {
        Some(e) => app.store.user_by_login(tenant, e).await?,
        None => None,
    };
    out.push(match (linked, existing) {
        (Some(id), _) => format!("outcome:        the linked person {id}, updated"),
        (None, Some(u)) if c.link_existing_by_email && m.email_verified => {
            format!("outcome:        links the local person {} by email", u.id)
        }
        (None, Some(u)) => format!(
            "outcome:        REFUSED: the local person {} has this email and linking by email is {}",
            u.id,
            if c.link_existing_by_email { "allowed only for verified emails" } else { "off" }
        ),
        (None, None) if c.create_people => {
            "outcome:        a new person, made at the first sign-in".into()
        }
        (None, None) => "outcome:        REFUSED: nobody here is linked to this subject and create_people is off".into(),
    });
    Ok(out)
}
