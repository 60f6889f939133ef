//! The upstream identity providers a tenant offers on its sign-in page: the buttons, and
//! home-realm discovery by email domain. (The trip to the upstream is `crate::federation`.)

use super::flow::Trouble;
use super::journey::Journey;
use crate::app::App;
use lanyard_core::TenantId;
use lanyard_federation::OidcConnection;

/// A tenant's OIDC connections (for the sign-in page's buttons and home-realm discovery).
pub(crate) async fn connections(
    app: &App,
    tenant: TenantId,
) -> Result<Vec<OidcConnection>, Trouble> {
    // From the tenant's shared view (cached briefly): the sign-in page reads them every time.
    Ok(app.directory.tenant(tenant).await?.connections().to_vec())
}

/// The connection whose domains include `login`'s email domain.
pub(crate) fn by_domain<'c>(all: &'c [OidcConnection], login: &str) -> Option<&'c OidcConnection> {
    let domain = login.rsplit_once('@')?.1.trim().to_lowercase();
    all.iter().find(|c| c.domains.iter().any(|d| d == &domain))
}

/// Where the start of a sign-in through `name` is, for journey `reference`.
pub(crate) fn start_url(name: &str, reference: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("tx", reference)
        .finish();
    format!("/federation/{name}/start?{q}")
}

/// For the sign-in page: the buttons of the journey's tenant.
pub(crate) async fn buttons(app: &App, j: &Journey, reference: &str) -> Vec<(String, String)> {
    match connections(app, j.tenant_id).await {
        Ok(cs) => cs
            .iter()
            .map(|c| (c.display_name.clone(), start_url(&c.name, reference)))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "connections unavailable for the sign-in page");
            Vec::new()
        }
    }
}

/// Whether the tenant's sign-in page asks for the login first: some connection of the
/// journey's tenant lists email domains to discover.
pub(crate) async fn discovers(app: &App, j: &Journey) -> bool {
    connections(app, j.tenant_id)
        .await
        .is_ok_and(|cs| cs.iter().any(|c| !c.domains.is_empty()))
}

/// Where home-realm discovery sends `login` for journey `reference`, if anywhere.
pub(crate) async fn discovered(
    app: &App,
    j: &Journey,
    reference: &str,
    login: &str,
) -> Result<Option<String>, Trouble> {
    let all = connections(app, j.tenant_id).await?;
    Ok(by_domain(&all, login).map(|c| start_url(&c.name, reference)))
}

/// The origins a sign-in form of `j` may lead to through home-realm discovery (the page's
/// CSP `form-action` must allow the redirect chain to end there).
pub(crate) async fn form_targets(app: &App, j: &Journey) -> Vec<String> {
    connections(app, j.tenant_id)
        .await
        .unwrap_or_default()
        .iter()
        .filter(|c| !c.domains.is_empty())
        .filter_map(|c| {
            crate::pages::origin(&c.issuer.replace(
                lanyard_federation::id_token::TENANT_PLACEHOLDER,
                "organizations",
            ))
        })
        .collect()
}
