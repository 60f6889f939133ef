//! Server-rendered pages (askama, checked at compile time), with the tenant's branding and a
//! per-response CSP nonce for the one inline style block.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lanyard_core::tenant::Branding;

/// What every page shows.
pub struct Page {
    /// `<title>`.
    pub title: String,
    /// Tenant (or product) name.
    pub brand: String,
    /// `#rrggbb`.
    pub primary: String,
    /// `#rrggbb`.
    pub accent: String,
    /// CSP nonce for the style block.
    pub nonce: String,
    /// Request id, shown so support can find the log lines.
    pub request_id: String,
    /// Trace id of the request ("" outside one), shown beside it.
    pub trace_id: String,
}

impl Page {
    /// A page titled `title` for `brand` with `branding` (validated `#rrggbb` colours).
    pub fn new(title: &str, brand: &str, branding: Option<&Branding>, request_id: &str) -> Self {
        let b = branding.cloned().unwrap_or_default();
        Self {
            title: title.into(),
            brand: brand.into(),
            primary: b.primary_colour.unwrap_or_else(|| "#1d4ed8".into()),
            accent: b.accent_colour.unwrap_or_else(|| "#f59e0b".into()),
            nonce: lanyard_core::random::hex_token(16),
            request_id: request_id.into(),
            trace_id: crate::telemetry::current_trace_id(),
        }
    }
}

/// The sign-in form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Frame.
    pub page: Page,
    /// Application name.
    pub client_name: String,
    /// Login transaction id.
    pub tx: String,
    /// CSRF token.
    pub csrf: String,
    /// Login to pre-fill.
    pub login: String,
    /// Error to show.
    pub error: Option<String>,
    /// Upstream identity providers offered: (label, start URL).
    pub upstreams: Vec<(String, String)>,
    /// The login can be typed (not yet given on an earlier step).
    pub ask_login: bool,
    /// The password is asked on this page.
    pub ask_password: bool,
    /// On the password step: where "Use another account" leads.
    pub other_account: Option<String>,
}

/// A message (error, refusal, confirmation).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// Frame.
    pub page: Page,
    /// Heading.
    pub heading: String,
    /// Text.
    pub message: String,
    /// Whether it reports a problem (announced to screen readers).
    pub is_error: bool,
    /// Optional link onwards.
    pub link: Option<String>,
}

/// The logout confirmation.
#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage {
    /// Frame.
    pub page: Page,
    /// CSRF token.
    pub csrf: String,
    /// Parameters to carry over.
    pub params: Vec<(String, String)>,
}

/// A form that carries a SAML message to another site by HTTP-POST (sent by script, or by
/// the person pressing Continue when scripts are off).
#[derive(Template)]
#[template(path = "saml_post.html")]
pub struct SamlPostPage {
    /// Frame.
    pub page: Page,
    /// Heading.
    pub heading: String,
    /// Text.
    pub message: String,
    /// Where the form goes.
    pub action: String,
    /// Hidden fields.
    pub fields: Vec<(String, String)>,
}

/// Renders a [`SamlPostPage`], allowing its target as a form action.
pub fn saml_post(
    page: Page,
    heading: &str,
    action: &str,
    fields: Vec<(String, String)>,
) -> Response {
    let nonce = page.nonce.clone();
    let targets: Vec<String> = origin(action).into_iter().collect();
    render(
        StatusCode::OK,
        &SamlPostPage {
            page,
            heading: heading.into(),
            message: "Taking you back to the application…".into(),
            action: action.into(),
            fields,
        },
        &nonce,
        &targets,
    )
}

/// Renders a template with `status` and a CSP allowing its nonce (and `form_targets` as form
/// actions, since browsers apply `form-action` to the redirect that follows a submission).
pub fn render(
    status: StatusCode,
    page: &impl Template,
    nonce: &str,
    form_targets: &[String],
) -> Response {
    let html = match page.render() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut form_action = String::from("'self'");
    for t in form_targets {
        form_action.push(' ');
        form_action.push_str(t);
    }
    let csp = format!(
        "default-src 'none'; style-src 'self' 'nonce-{nonce}'; script-src 'self'; connect-src 'self'; img-src 'self' data:; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// A plain message page.
pub fn message(
    status: StatusCode,
    page: Page,
    heading: &str,
    message: &str,
    link: Option<String>,
) -> Response {
    let nonce = page.nonce.clone();
    let is_error = status.is_client_error() || status.is_server_error();
    render(
        status,
        &MessagePage {
            page,
            heading: heading.into(),
            message: message.into(),
            is_error,
            link,
        },
        &nonce,
        &[],
    )
}

/// The second-factor page.
#[derive(Template)]
#[template(path = "mfa.html")]
pub struct MfaPage {
    /// Frame.
    pub page: Page,
    /// Application name.
    pub client_name: String,
    /// Login transaction.
    pub tx: String,
    /// CSRF token.
    pub csrf: String,
    /// Offer TOTP.
    pub has_totp: bool,
    /// Offer passkeys.
    pub has_passkey: bool,
    /// Offer recovery codes.
    pub has_recovery: bool,
    /// Error.
    pub error: Option<String>,
}

/// TOTP enrolment.
#[derive(Template)]
#[template(path = "enrol.html")]
pub struct EnrolPage {
    /// Frame.
    pub page: Page,
    /// Why this is asked.
    pub reason: String,
    /// Where the form goes.
    pub action: String,
    /// Login transaction (empty on the account page).
    pub tx: String,
    /// CSRF token.
    pub csrf: String,
    /// The QR code (SVG generated by Lanyard, never user input).
    pub qr_svg: String,
    /// The secret in groups of four.
    pub secret_grouped: String,
    /// otpauth URI.
    pub otpauth_uri: String,
    /// Code length.
    pub digits: u8,
    /// Error.
    pub error: Option<String>,
}

/// Recovery codes, shown once.
#[derive(Template)]
#[template(path = "recovery.html")]
pub struct RecoveryPage {
    /// Frame.
    pub page: Page,
    /// The codes.
    pub codes: Vec<String>,
    /// Where "continue" goes.
    pub next: String,
}

/// The account page.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    /// Frame.
    pub page: Page,
    /// Person's name.
    pub name: String,
    /// Email or username.
    pub login: String,
    /// Form token of "turn off the authenticator app".
    pub csrf_totp_remove: String,
    /// Form token of "add a passkey".
    pub csrf_passkey_add: String,
    /// Form token of "remove a passkey".
    pub csrf_passkey_remove: String,
    /// Form token of "make new recovery codes".
    pub csrf_recovery: String,
    /// TOTP on.
    pub has_totp: bool,
    /// (name, credential id, added, last used).
    pub passkeys: Vec<(String, String, String, Option<String>)>,
    /// Unused recovery codes.
    pub recovery_left: i64,
    /// A status message.
    pub notice: Option<String>,
}

/// The passkey script.
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/webauthn.js"),
    )
}

/// The script that submits a SAML POST form.
pub async fn autopost_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/autopost.js"),
    )
}

/// The stylesheet.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/lanyard.css"),
    )
}

/// The origin (`scheme://host[:port]`) of a URL, for CSP source lists.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains([' ', ';', '\''])).then(|| format!("{scheme}://{host}"))
}
