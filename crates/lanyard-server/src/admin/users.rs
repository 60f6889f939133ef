//! `/admin/api/v1/users` and the lists an administrator picks from (roles, locations).

use super::{body, caller, etag, if_match, problem, IfMatch, Refusal};
use crate::app::App;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lanyard_admin::view::{
    LocationView, NewPerson, PeoplePage, PersonPatch, PersonView, RoleView, RolesChange,
};
use lanyard_admin::{Lifecycle, ListParams};
use lanyard_core::{Secret, UserId};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Filters and paging of `GET /users`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Tenant slug (default: the caller's own; a client organisation's for those who reach it).
    tenant: Option<String>,
    /// `invited`, `active`, `suspended` or `archived`.
    status: Option<String>,
    /// Holders of this role (by name).
    role: Option<String>,
    /// People at this location path or beneath it.
    location: Option<String>,
    /// People currently employed by this account (by name).
    account: Option<String>,
    /// Members of this group.
    group: Option<String>,
    /// Text in the name, username or email.
    q: Option<String>,
    /// `created` (default) or `name`.
    sort: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<i64>,
}

/// `?tenant=` on the lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Tenant slug (default: the caller's own).
    tenant: Option<String>,
}

/// A new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The password (checked against the tenant's policy).
    password: String,
}

type Answer = Result<Response, Refusal>;

fn person_id(id: &str) -> Result<UserId, Refusal> {
    id.parse()
        .map_err(|_| lanyard_admin::AdminError::NotFound("user").into())
}

fn query<T: Default>(q: Result<Query<T>, QueryRejection>) -> Result<T, Refusal> {
    q.map(|Query(v)| v).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            &format!("the query is not one this call takes: {}", e.body_text()),
        )
        .into()
    })
}

/// A person with his `ETag`.
fn with_etag(status: StatusCode, v: PersonView) -> Response {
    let tag = etag(v.version);
    let mut r = (status, Json(v)).into_response();
    r.headers_mut().insert(header::ETAG, tag);
    r
}

/// Lists the people the caller may see.
#[utoipa::path(get, path = "/admin/api/v1/users", tag = "people",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of people", body = PeoplePage),
        (status = 401, description = "No valid admin token", content_type = "application/problem+json"),
        (status = 422, description = "A filter that does not resolve", content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Answer {
    let actor = caller(&app, &headers).await?;
    let q = query(q)?;
    let params = ListParams {
        tenant: q.tenant,
        status: q.status,
        role: q.role,
        location: q.location,
        account: q.account,
        group: q.group,
        q: q.q,
        sort: q.sort,
        cursor: q.cursor,
        limit: q.limit,
    };
    match app.admin.list(&actor, &params).await {
        Ok(page) => Ok(Json(page).into_response()),
        Err(e) => Err(e.into()),
    }
}

/// Creates a person.
#[utoipa::path(post, path = "/admin/api/v1/users", tag = "people",
    request_body = NewPerson,
    responses(
        (status = 201, description = "Created", body = PersonView),
        (status = 403, description = "Outside the caller's scope or rank", content_type = "application/problem+json"),
        (status = 409, description = "Email or username taken", content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> Answer {
    let actor = caller(&app, &headers).await?;
    let new: NewPerson = body(&bytes)?;
    match app.admin.create(&actor, new, None).await {
        Ok(v) => {
            let location = format!("/admin/api/v1/users/{}", v.id);
            let mut r = with_etag(StatusCode::CREATED, v);
            if let Ok(h) = location.parse() {
                r.headers_mut().insert(header::LOCATION, h);
            }
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads one person (sensitive fields only for roles allowed to see them).
#[utoipa::path(get, path = "/admin/api/v1/users/{id}", tag = "people",
    params(("id" = String, Path, description = "The person's id")),
    responses(
        (status = 200, description = "The person; ETag is his version", body = PersonView),
        (status = 404, description = "No such person, or one outside the caller's scope", content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub async fn read(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let actor = caller(&app, &headers).await?;
    let id = person_id(&id)?;
    match app.admin.get(&actor, id).await {
        Ok(v) => Ok(with_etag(StatusCode::OK, v)),
        Err(e) => Err(e.into()),
    }
}

/// Changes the fields the body names (`null` clears one). `If-Match` is required.
#[utoipa::path(patch, path = "/admin/api/v1/users/{id}", tag = "people",
    params(("id" = String, Path, description = "The person's id"),
           ("If-Match" = String, Header, description = "The ETag read, or * to overwrite")),
    request_body = PersonPatch,
    responses(
        (status = 200, description = "Changed", body = PersonView),
        (status = 403, description = "Not allowed to make this change", content_type = "application/problem+json"),
        (status = 412, description = "Changed by someone else since read", content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub async fn update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Answer {
    let (actor, id, expected) = guarded(&app, &headers, &id).await?;
    let patch: PersonPatch = body(&bytes)?;
    match app.admin.update(&actor, id, expected, patch).await {
        Ok(v) => Ok(with_etag(StatusCode::OK, v)),
        Err(e) => Err(e.into()),
    }
}

/// Caller, person id and the required `If-Match` of a change.
async fn guarded(
    app: &App,
    headers: &HeaderMap,
    id: &str,
) -> Result<(lanyard_admin::Actor, UserId, Option<i64>), Refusal> {
    let actor = caller(app, headers).await?;
    let id = person_id(id)?;
    let expected = match if_match(headers)? {
        IfMatch::Version(v) => Some(v),
        IfMatch::Any => None,
        IfMatch::Absent => {
            return Err(problem(
                StatusCode::PRECONDITION_REQUIRED,
                "send If-Match with the ETag you read (or * to overwrite whatever is there), \
                 so no one else's change is overwritten unseen",
            )
            .into())
        }
    };
    Ok((actor, id, expected))
}

/// Replaces a person's roles and main role. `If-Match` is required.
#[utoipa::path(put, path = "/admin/api/v1/users/{id}/roles", tag = "people",
    params(("id" = String, Path, description = "The person's id"),
           ("If-Match" = String, Header, description = "The ETag read, or * to overwrite")),
    request_body = RolesChange,
    responses(
        (status = 200, description = "Changed", body = PersonView),
        (status = 403, description = "A role above the caller's rank, or a person outside his scope", content_type = "application/problem+json"),
        (status = 412, description = "Changed by someone else since read", content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub async fn set_roles(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Answer {
    let (actor, id, expected) = guarded(&app, &headers, &id).await?;
    let change: RolesChange = body(&bytes)?;
    match app.admin.set_roles(&actor, id, expected, change).await {
        Ok(v) => Ok(with_etag(StatusCode::OK, v)),
        Err(e) => Err(e.into()),
    }
}

/// Sets a person's password (the tenant's policy applies) and ends his sessions.
#[utoipa::path(post, path = "/admin/api/v1/users/{id}/password", tag = "people",
    params(("id" = String, Path, description = "The person's id")),
    request_body = PasswordBody,
    responses(
        (status = 204, description = "Set; his sessions are ended"),
        (status = 422, description = "The password breaks the policy", content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub async fn password(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Answer {
    let actor = caller(&app, &headers).await?;
    let id = person_id(&id)?;
    let b: PasswordBody = body(&bytes)?;
    let (tenant, profile) = app.admin.password_context(&actor, id).await?;
    let problems = tenant.password_policy.check(
        &b.password,
        profile.username.as_deref(),
        profile.email.as_deref(),
    );
    if !problems.is_empty() {
        let list: Vec<_> = problems.iter().map(ToString::to_string).collect();
        return Err(
            lanyard_admin::AdminError::Invalid(vec![lanyard_core::FieldError {
                field: "password",
                message: list.join("; "),
            }])
            .into(),
        );
    }
    let hash = match app.hasher.hash(Secret::new(b.password)).await {
        Ok(h) => h,
        Err(_) => {
            return Err(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the password could not be hashed now; try again",
            )
            .into())
        }
    };
    match app.admin.set_password(&actor, id, &hash).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Err(e.into()),
    }
}

/// Moves a person through his lifecycle: `suspend` (sessions and refresh tokens end at
/// once), `reactivate`, `activate` (invited → active), `archive` (final), `anonymise`.
#[utoipa::path(post, path = "/admin/api/v1/users/{id}/{action}", tag = "people",
    params(("id" = String, Path, description = "The person's id"),
           ("action" = String, Path, description = "suspend, reactivate, activate, archive or anonymise"),
           ("If-Match" = Option<String>, Header, description = "The ETag read (optional)")),
    responses(
        (status = 200, description = "Done", body = PersonView),
        (status = 403, description = "Not allowed", content_type = "application/problem+json"),
        (status = 409, description = "Not from his present status", content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub async fn lifecycle(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Answer {
    let op = match action.as_str() {
        "suspend" => Lifecycle::Suspend,
        "reactivate" => Lifecycle::Reactivate,
        "activate" => Lifecycle::Activate,
        "archive" => Lifecycle::Archive,
        "anonymise" | "anonymize" => Lifecycle::Anonymise,
        _ => {
            return Ok(problem(
                StatusCode::NOT_FOUND,
                "no such resource in the admin API",
            ))
        }
    };
    let actor = caller(&app, &headers).await?;
    let id = person_id(&id)?;
    let expected = match if_match(&headers)? {
        IfMatch::Version(v) => Some(v),
        IfMatch::Any | IfMatch::Absent => None,
    };
    match app.admin.lifecycle(&actor, id, expected, op).await {
        Ok(v) => Ok(with_etag(StatusCode::OK, v)),
        Err(e) => Err(e.into()),
    }
}

/// The roles of the caller's tenant, each marked whether he may grant it.
#[utoipa::path(get, path = "/admin/api/v1/roles", tag = "organisation",
    params(TenantQuery),
    responses((status = 200, description = "Roles, lowest rank first", body = Vec<RoleView>)),
    security(("bearer" = ["admin"])))]
pub async fn roles(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<TenantQuery>, QueryRejection>,
) -> Answer {
    let actor = caller(&app, &headers).await?;
    let q = query(q)?;
    match app.admin.roles(&actor, q.tenant.as_deref()).await {
        Ok(v) => Ok(Json(v).into_response()),
        Err(e) => Err(e.into()),
    }
}

/// The locations of the caller's tenant, by path.
#[utoipa::path(get, path = "/admin/api/v1/locations", tag = "organisation",
    params(TenantQuery),
    responses((status = 200, description = "Locations", body = Vec<LocationView>)),
    security(("bearer" = ["admin"])))]
pub async fn locations(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Result<Query<TenantQuery>, QueryRejection>,
) -> Answer {
    let actor = caller(&app, &headers).await?;
    let q = query(q)?;
    match app.admin.locations(&actor, q.tenant.as_deref()).await {
        Ok(v) => Ok(Json(v).into_response()),
        Err(e) => Err(e.into()),
    }
}

/// A provisioning client, as `/me` shows it.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ClientCaller {
    /// Its client id.
    client_id: String,
    /// The admin roles it acts with.
    roles: Vec<String>,
}

/// Who is calling: a person, or a provisioning client.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(untagged)]
pub enum Caller {
    /// A person.
    Person(Box<PersonView>),
    /// A provisioning client.
    Client(ClientCaller),
}

/// The caller himself, as the admin API sees him (a client: its id and roles).
#[utoipa::path(get, path = "/admin/api/v1/me", tag = "people",
    responses((status = 200, description = "The caller", body = Caller)),
    security(("bearer" = ["admin"])))]
pub async fn me(State(app): State<Arc<App>>, headers: HeaderMap) -> Answer {
    let actor = caller(&app, &headers).await?;
    match &actor {
        lanyard_admin::Actor::Person { holder, .. } => {
            let v = app.admin.get(&actor, holder.user_id).await?;
            let tag = etag(v.version);
            let mut r = Json(Caller::Person(Box::new(v))).into_response();
            r.headers_mut().insert(header::ETAG, tag);
            Ok(r)
        }
        lanyard_admin::Actor::Client { client_id, holder } => {
            let roles = holder.roles.iter().map(|r| r.name.clone()).collect();
            Ok(Json(Caller::Client(ClientCaller {
                client_id: client_id.clone(),
                roles,
            }))
            .into_response())
        }
        lanyard_admin::Actor::Operator(_) => Ok(problem(
            StatusCode::NOT_FOUND,
            "no such resource in the admin API",
        )),
    }
}
