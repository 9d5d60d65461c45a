//! `POST /api/v1/explain`: the answer of `portcullis explain`, as JSON.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, Problem};
use crate::authz::RuleRef;
use crate::domain::{Scope, Username};
use crate::http::AppState;
use crate::manage::{explain, Explanation};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainInput {
    /// The user to decide for; absent for an anonymous client.
    #[schema(max_length = 64)]
    pub user: Option<String>,
    /// Groups to assume membership of, besides the user's own (e.g. from a directory).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub groups: Vec<String>,
    /// Scopes as registries ask for them: `repository:team/app:pull,push`.
    #[schema(min_items = 1, max_items = 10)]
    pub scopes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RuleInfo {
    /// `policies/10-team.toml:12` or `binding 42, made by alice on 2026-12-04`.
    pub origin: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl From<&RuleRef> for RuleInfo {
    fn from(r: &RuleRef) -> RuleInfo {
        RuleInfo {
            origin: r.origin.to_string(),
            text: r.text.to_string(),
            description: r.description.as_deref().map(str::to_owned),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ActionExplanation {
    pub action: String,
    /// `allowed`, `denied`, `no grant` or `limited` (allowed, but not by the credential's
    /// own scopes).
    pub verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleInfo>,
    /// For an action no rule grants: the rules that grant it to others.
    pub granted_to_others: Vec<RuleInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct ScopeView {
    pub scope: String,
    /// What a token would carry for it (empty when nothing).
    pub granted: String,
    pub actions: Vec<ActionExplanation>,
}

#[derive(Serialize, ToSchema)]
pub struct ExplainView {
    /// `user:alice`, or `anonymous`.
    pub subject: String,
    pub groups: Vec<String>,
    pub notes: Vec<String>,
    pub scopes: Vec<ScopeView>,
}

#[utoipa::path(post, path = "/api/v1/explain", tag = "explain", request_body = ExplainInput,
    responses((status = 200, body = ExplainView)))]
pub async fn explain_scopes(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Json<ExplainInput>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    if let Some(u) = &body.user {
        Username::parse(u).map_err(|e| Problem::field("user", e.to_string()))?;
    }
    if body.groups.len() > 100 {
        return Err(Problem::field("groups", "at most 100 groups"));
    }
    let scopes = parse_scopes(&body.scopes)?;
    let policies = state.tokens.policies();
    let e = explain(
        &state.store,
        &**policies,
        body.user.as_deref(),
        &body.groups,
        &scopes,
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(e)))
}

/// 1 to 10 scopes as registries write them; the error names the one that is wrong.
pub(super) fn parse_scopes(scopes: &[String]) -> Result<Vec<Scope>, Problem> {
    if scopes.is_empty() || scopes.len() > 10 {
        return Err(Problem::field(
            "scopes",
            "give 1 to 10 scopes, e.g. repository:team/app:pull,push",
        ));
    }
    scopes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Scope::parse(s).map_err(|e| Problem::field(format!("scopes[{i}]"), e.to_string()))
        })
        .collect()
}

/// An explanation as the API shows it (`explain`, and the two sides of a binding preview).
pub(super) fn view(e: Explanation) -> ExplainView {
    let (subject, groups) = match e.requester.identity() {
        Some(id) => (
            format!("user:{}", id.name),
            id.groups.iter().map(|g| g.to_string()).collect(),
        ),
        None => ("anonymous".to_owned(), Vec::new()),
    };
    let scopes = e
        .scopes
        .iter()
        .map(|s| ScopeView {
            scope: s.decision.requested.to_string(),
            granted: s
                .decision
                .granted_scope()
                .map(|g| g.to_string())
                .unwrap_or_default(),
            actions: s
                .decision
                .verdicts
                .iter()
                .map(|v| ActionExplanation {
                    action: v.action.as_str().to_owned(),
                    verdict: v.verdict.label().to_owned(),
                    rule: v.verdict.rule().map(RuleInfo::from),
                    granted_to_others: s
                        .granted_to_others
                        .iter()
                        .filter(|(a, _)| *a == v.action)
                        .flat_map(|(_, rules)| rules.iter().map(RuleInfo::from))
                        .collect(),
                })
                .collect(),
        })
        .collect();
    ExplainView {
        subject,
        groups,
        notes: e.notes,
        scopes,
    }
}
