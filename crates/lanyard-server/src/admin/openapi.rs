//! The OpenAPI 3.1 document of the admin API, generated from the handlers and types
//! themselves, served at `/admin/api/v1/openapi.json` and checked into `docs/` (a test
//! compares the two, so a change to the API shows in review).

use super::{reports, users};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lanyard_admin::view::{
    EmploymentView, LocationView, NewPerson, PeoplePage, PersonPatch, PersonView, RoleView,
    RolesChange, SensitiveView,
};
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The admin API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Lanyard admin API",
        description = "Delegated administration: every call acts with the caller's own roles, \
                       and sees and changes only the people inside his scope.",
        version = "1"
    ),
    paths(
        users::list,
        users::create,
        users::read,
        users::update,
        users::set_roles,
        users::password,
        users::lifecycle,
        users::roles,
        users::locations,
        users::me,
        reports::audit,
        reports::sign_ins,
    ),
    components(schemas(
        PersonView,
        SensitiveView,
        EmploymentView,
        NewPerson,
        PersonPatch,
        RolesChange,
        PeoplePage,
        RoleView,
        LocationView,
        users::PasswordBody,
        users::Caller,
        users::ClientCaller,
        lanyard_admin::AuditPage,
        lanyard_admin::AuditView,
        lanyard_admin::SignInPage,
        lanyard_admin::SignInView,
        Problem,
    )),
    modifiers(&Bearer),
    tags(
        (name = "people", description = "People in the caller's scope"),
        (name = "organisation", description = "What an administrator picks from"),
        (name = "reports", description = "For roles that read reports (reports-only roles too)"),
    )
)]
pub struct ApiDoc;

/// RFC 9457 problem details: every refusal.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// `about:blank`.
    r#type: String,
    /// The status's reason phrase.
    title: String,
    /// The HTTP status.
    status: u16,
    /// What is wrong, for people.
    detail: String,
    /// Field problems (`{field, message}`), on 422 and 409.
    errors: Option<Vec<serde_json::Value>>,
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A Lanyard access token with scope `admin` (authorization code for a \
                         person, client_credentials for a client with admin_roles)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, as JSON text (pretty, for `docs/`).
pub fn document_text() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
}

/// `GET /admin/api/v1/openapi.json`: public, like any API description.
pub async fn document(State(_app): State<Arc<crate::app::App>>) -> Response {
    Json(ApiDoc::openapi()).into_response()
}
