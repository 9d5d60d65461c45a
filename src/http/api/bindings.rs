//! `/api/v1/bindings`: who may do what where, from the policy files and the database side
//! by side, each with its origin; bindings in the database are made, changed and deleted
//! here and are in force on this replica when the call returns (others within a second).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{parse_time, time, Admin, Problem};
use crate::authz::{BindingSpec, Origin};
use crate::http::AppState;
use crate::store::{now, BindingFields, BindingRecord};

#[derive(Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Grant,
    Deny,
}

/// A binding as an admin writes it: the semantics of a policy file's `[[grant]]`/`[[deny]]`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingInput {
    pub effect: Effect,
    /// `user:NAME`, `robot:NAME`, `group:NAME`, `authenticated`, `anonymous`, `everyone`.
    #[schema(min_items = 1, max_items = 100)]
    pub subjects: Vec<String>,
    /// A role (`reader`, `writer`, `maintainer`, `admin`, or a custom one); or `actions`.
    pub role: Option<String>,
    #[serde(default)]
    #[schema(max_items = 100)]
    pub actions: Vec<String>,
    /// Patterns: `team/**`, `team/*`, `${user}/**`.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub repositories: Vec<String>,
    /// The catalog (`GET /v2/_catalog`).
    #[serde(default)]
    pub catalog: bool,
    /// This admin API.
    #[serde(default)]
    pub admin_api: bool,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// RFC 3339; from then on the binding is no longer in force (temporary access).
    pub expires_at: Option<String>,
    /// Or how long from now, e.g. `2h`.
    pub expires_in: Option<String>,
}

impl BindingInput {
    fn spec(self) -> Result<BindingSpec, Problem> {
        let t = now();
        let expires_at = match (&self.expires_at, &self.expires_in) {
            (Some(_), Some(_)) => {
                return Err(Problem::field(
                    "expires_in",
                    "give expires_at or expires_in, not both",
                ))
            }
            (Some(at), None) => Some(parse_time("expires_at", at)?),
            (None, Some(d)) => super::lifetime("expires_in", Some(d))?.map(|l| l.expires_at(t)),
            (None, None) => None,
        };
        let fields = BindingFields {
            effect: match self.effect {
                Effect::Grant => "grant",
                Effect::Deny => "deny",
            }
            .to_owned(),
            subjects: self.subjects,
            role: self.role,
            actions: self.actions,
            repositories: self.repositories,
            catalog: self.catalog,
            admin_api: self.admin_api,
            description: self.description,
            expires_at,
        };
        Ok(BindingSpec::parse(&fields, Some(t))?)
    }
}

/// A binding kept in the database.
#[derive(Serialize, ToSchema)]
pub struct BindingView {
    pub id: i64,
    pub effect: Effect,
    pub subjects: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub actions: Vec<String>,
    pub repositories: Vec<String>,
    pub catalog: bool,
    pub admin_api: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `binding 42, made by alice on 2026-12-04`: what `explain` and the audit name.
    pub origin: String,
    pub made_by: String,
    pub made_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The rule in one line.
    pub text: String,
}

impl From<BindingRecord> for BindingView {
    fn from(b: BindingRecord) -> BindingView {
        let origin = Origin::Binding {
            id: b.id,
            made_by: b.made_by.as_str().into(),
            made_at: b.made_at,
        }
        .to_string();
        let text = BindingSpec::parse(&b.fields, None)
            .map(|s| s.text())
            .unwrap_or_default();
        let f = b.fields;
        BindingView {
            id: b.id,
            effect: if f.effect == "deny" {
                Effect::Deny
            } else {
                Effect::Grant
            },
            subjects: f.subjects,
            role: f.role,
            actions: f.actions,
            repositories: f.repositories,
            catalog: f.catalog,
            admin_api: f.admin_api,
            description: f.description,
            expires_at: f.expires_at.map(time),
            origin,
            made_by: b.made_by,
            made_at: time(b.made_at),
            updated_by: b.updated_by,
            updated_at: b.updated_at.map(time),
            text,
        }
    }
}

/// A rule in force, wherever it comes from.
#[derive(Serialize, ToSchema)]
pub struct RuleView {
    /// `file` or `database`.
    pub source: String,
    /// `policies/10-team.toml:12`, or `binding 42, made by alice on 2026-12-04`.
    pub origin: String,
    pub effect: Effect,
    /// The rule in one line: `grant writer to group:qa on team/**`.
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The binding's id, for rules from the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct BindingList {
    /// Every rule in force: the files' in load order, then the database's.
    pub in_force: Vec<RuleView>,
    /// Every binding in the database, in force or not (expired, or its role gone).
    pub database: Vec<BindingView>,
}

#[utoipa::path(get, path = "/api/v1/bindings", tag = "bindings",
    responses((status = 200, body = BindingList)))]
pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let set = state.reloader.policies().current();
    let in_force = set
        .rules()
        .map(|(effect, r)| {
            let (source, id) = match &r.origin {
                Origin::Binding { id, .. } => ("database", Some(*id)),
                _ => ("file", None),
            };
            RuleView {
                source: source.into(),
                origin: r.origin.to_string(),
                effect: if effect == "deny" {
                    Effect::Deny
                } else {
                    Effect::Grant
                },
                text: r.text.to_string(),
                description: r.description.as_deref().map(str::to_owned),
                id,
            }
        })
        .collect();
    let database = state
        .bindings
        .list()
        .await?
        .into_iter()
        .map(BindingView::from)
        .collect();
    Ok(HttpResponse::Ok().json(BindingList { in_force, database }))
}

#[utoipa::path(get, path = "/api/v1/bindings/{id}", tag = "bindings",
    params(("id" = i64, Path, description = "The binding's id")),
    responses((status = 200, body = BindingView)))]
pub async fn show(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let b = state.bindings.get(*id).await?;
    Ok(HttpResponse::Ok().json(BindingView::from(b)))
}

#[utoipa::path(post, path = "/api/v1/bindings", tag = "bindings", request_body = BindingInput,
    responses((status = 201, body = BindingView, description = "Made, and in force")))]
pub async fn create(
    admin: Admin,
    state: web::Data<AppState>,
    body: web::Json<BindingInput>,
) -> Result<HttpResponse, Problem> {
    let spec = body.into_inner().spec()?;
    let b = state.bindings.create(&admin.actor, &spec).await?;
    Ok(HttpResponse::Created().json(BindingView::from(b)))
}

/// A binding to try, and whom and what to try it on.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    pub binding: BindingInput,
    /// The user to decide for (their groups from the database are used).
    #[schema(max_length = 64)]
    pub user: String,
    /// Groups to assume membership of too (e.g. the group the binding names).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub groups: Vec<String>,
    /// Scopes as registries ask for them: `repository:team/app:pull,push,delete`.
    #[schema(min_items = 1, max_items = 10)]
    pub scopes: Vec<String>,
}

/// The same questions asked of the policy in force and of the policy with the binding.
#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    pub before: super::explain::ExplainView,
    pub after: super::explain::ExplainView,
    /// Whether any granted action differs.
    pub changes: bool,
}

/// What a binding would change for a user, before it is made: nothing is saved.
#[utoipa::path(post, path = "/api/v1/bindings/preview", tag = "bindings",
    request_body = PreviewInput,
    responses((status = 200, body = PreviewView, description = "Nothing was saved")))]
pub async fn preview(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Json<PreviewInput>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    crate::domain::Username::parse(&body.user)
        .map_err(|e| Problem::field("user", e.to_string()))?;
    if body.groups.len() > 100 {
        return Err(Problem::field("groups", "at most 100 groups"));
    }
    let scopes = super::explain::parse_scopes(&body.scopes)?;
    let spec = body.binding.spec()?;
    let p = state
        .bindings
        .preview(&spec, &body.user, &body.groups, &scopes)
        .await?;
    let changes = p.changes_anything();
    Ok(HttpResponse::Ok().json(PreviewView {
        before: super::explain::view(p.before),
        after: super::explain::view(p.after),
        changes,
    }))
}

#[utoipa::path(put, path = "/api/v1/bindings/{id}", tag = "bindings",
    params(("id" = i64, Path, description = "The binding's id")),
    request_body = BindingInput,
    responses((status = 200, body = BindingView, description = "Changed, and in force")))]
pub async fn update(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<BindingInput>,
) -> Result<HttpResponse, Problem> {
    let spec = body.into_inner().spec()?;
    let b = state.bindings.update(&admin.actor, *id, &spec).await?;
    Ok(HttpResponse::Ok().json(BindingView::from(b)))
}

#[utoipa::path(delete, path = "/api/v1/bindings/{id}", tag = "bindings",
    params(("id" = i64, Path, description = "The binding's id")),
    responses((status = 204, description = "Deleted, and no longer in force")))]
pub async fn delete(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    state.bindings.delete(&admin.actor, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
