//! "What may I do?": for a repository a signed-in person types, what they may pull, push
//! or delete, and which rule decides each (the `explain` engine, as `portcullis explain`
//! and `POST /api/v1/explain` answer it). For what they may not do, the rules that give it
//! to others: whom to ask.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::pages::{render, AccessPage, AccessRow};
use super::{database_down, malformed, signed_in};
use crate::authz::Verdict;
use crate::domain::Scope;
use crate::http::AppState;
use crate::manage::{explain, ManageError};

#[derive(serde::Deserialize)]
pub struct AccessQuery {
    repository: Option<String>,
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AccessQuery>,
) -> HttpResponse {
    let (_, _, s) = match signed_in(&state, &req).await {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    let repository = q.repository.as_deref().unwrap_or("").trim();
    let mut error = None;
    let mut rows = Vec::new();
    if !repository.is_empty() {
        match Scope::parse(&format!("repository:{repository}:pull,push,delete")) {
            Err(e) => {
                error = Some(format!(
                    "{e}. Fix: write a repository name such as team/app"
                ))
            }
            Ok(scope) => {
                let policies = state.tokens.policies();
                let e = match explain(
                    &state.store,
                    &**policies,
                    Some(&s.user),
                    &s.groups,
                    &[scope],
                )
                .await
                {
                    Ok(e) => e,
                    Err(ManageError::Store(e)) => return database_down(e),
                    Err(e) => return malformed(StatusCode::BAD_REQUEST, &e.to_string()),
                };
                for scope in &e.scopes {
                    for v in &scope.decision.verdicts {
                        let (verdict, rule, origin) = match &v.verdict {
                            Verdict::Allowed(r) => ("allowed", r.text.to_string(), r.location()),
                            Verdict::Denied(r) => ("denied", r.text.to_string(), r.location()),
                            Verdict::OutsideTokenScope(r) => {
                                ("limited", r.text.to_string(), r.location())
                            }
                            Verdict::NotGranted => {
                                let others: Vec<String> = scope
                                    .granted_to_others
                                    .iter()
                                    .filter(|(a, _)| *a == v.action)
                                    .flat_map(|(_, rules)| rules.iter().map(|r| r.location()))
                                    .collect();
                                let rule = if others.is_empty() {
                                    "no rule gives it to anyone".to_owned()
                                } else {
                                    format!(
                                        "granted to others by {}: ask an admin",
                                        others.join(", ")
                                    )
                                };
                                ("not granted", rule, String::new())
                            }
                        };
                        rows.push(AccessRow {
                            action: v.action.as_str().to_owned(),
                            verdict: verdict.to_owned(),
                            rule,
                            origin,
                        });
                    }
                }
            }
        }
    }
    render(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &AccessPage {
            title: "What may I do?",
            user: &s.user,
            groups: s.groups.join(", "),
            repository,
            error,
            rows,
        },
    )
}
