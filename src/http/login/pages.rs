//! The sign-in pages' HTML: askama templates (`templates/`), which escape every value by
//! default, served with headers that forbid framing, caching and any script.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;

/// A piece of a paragraph: text, a `<code>` span, or a link.
pub enum Part {
    Text(String),
    Code(String),
    Link(&'static str, &'static str),
}

pub fn text(t: impl Into<String>) -> Part {
    Part::Text(t.into())
}

pub fn code(t: impl Into<String>) -> Part {
    Part::Code(t.into())
}

pub fn link(href: &'static str, text: &'static str) -> Part {
    Part::Link(href, text)
}

/// A page that says something: a title and paragraphs (the first one a `role`, e.g.
/// `alert`, when given).
#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    title: &'a str,
    role: Option<&'a str>,
    paragraphs: Vec<Vec<Part>>,
}

/// One row of the token table.
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub created: String,
    pub last_used: String,
    pub state: String,
    pub live: bool,
}

/// One identity token (what `docker login` keeps, one per machine).
pub struct IdentityRow {
    pub id: String,
    pub client: String,
    pub created: String,
    pub last_used: String,
    pub state: String,
    pub live: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
pub struct TokensPage<'a> {
    pub title: &'a str,
    pub notice: Option<&'a str>,
    pub user: &'a str,
    /// Comma-separated.
    pub groups: String,
    pub csrf: &'a str,
    pub rows: Vec<TokenRow>,
    pub identity: Vec<IdentityRow>,
}

/// One action's verdict on the "what may I do?" page.
pub struct AccessRow {
    pub action: String,
    pub verdict: String,
    /// The rule in one line, or who else has it.
    pub rule: String,
    pub origin: String,
}

/// "What may I do?": a repository typed in, and each action's verdict with its rule.
#[derive(Template)]
#[template(path = "access.html")]
pub struct AccessPage<'a> {
    pub title: &'a str,
    pub user: &'a str,
    pub groups: String,
    pub repository: &'a str,
    pub error: Option<String>,
    pub rows: Vec<AccessRow>,
}

/// One rule on the admin bindings page.
pub struct RuleRow {
    pub effect: String,
    pub text: String,
    pub origin: String,
    /// A database binding's id (it can be deleted here).
    pub id: Option<i64>,
}

/// What the binding form was filled with, to show it again next to its errors.
#[derive(Default)]
pub struct BindingFormValues {
    pub effect: String,
    pub subjects: String,
    pub role: String,
    pub repositories: String,
    pub expires: String,
    pub description: String,
    pub preview_user: String,
    pub preview_repository: String,
}

/// One action in a binding's preview: what the person may do now, and with the binding.
pub struct PreviewRow {
    pub action: String,
    pub before: String,
    pub after: String,
    /// The rule that decides it with the binding.
    pub rule: String,
    pub changed: bool,
}

/// A binding's preview: for whom, where, and what changes.
pub struct PreviewView {
    pub user: String,
    pub groups: String,
    pub repository: String,
    pub rows: Vec<PreviewRow>,
    pub changes: bool,
}

#[derive(Template)]
#[template(path = "admin_bindings.html")]
pub struct AdminBindingsPage<'a> {
    pub title: &'a str,
    pub user: &'a str,
    pub csrf: &'a str,
    pub notice: Option<&'a str>,
    pub rows: Vec<RuleRow>,
    pub form: BindingFormValues,
    /// The field at fault and what to fix.
    pub error: Option<(String, String)>,
    pub preview: Option<PreviewView>,
}

impl AdminBindingsPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.error, field)
    }
}

/// One user on the admin users page.
pub struct UserRowView {
    pub name: String,
    pub groups: String,
    pub state: String,
    pub disabled: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct AdminUsersPage<'a> {
    pub title: &'a str,
    pub user: &'a str,
    pub csrf: &'a str,
    pub notice: Option<&'a str>,
    pub rows: Vec<UserRowView>,
    /// The field at fault and what to fix.
    pub error: Option<(String, String)>,
}

impl AdminUsersPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.error, field)
    }
}

/// One robot on the admin robots page.
pub struct RobotRowView {
    pub name: String,
    pub description: String,
    pub state: String,
    pub secrets: usize,
    pub disabled: bool,
}

#[derive(Template)]
#[template(path = "admin_robots.html")]
pub struct AdminRobotsPage<'a> {
    pub title: &'a str,
    pub user: &'a str,
    pub csrf: &'a str,
    pub notice: Option<&'a str>,
    /// A secret just made, shown this once, and whose it is.
    pub secret: Option<&'a str>,
    pub secret_for: &'a str,
    pub rows: Vec<RobotRowView>,
    pub error: Option<String>,
}

/// The signing key and the reload state of the policy.
#[derive(Template)]
#[template(path = "admin_system.html")]
pub struct AdminSystemPage<'a> {
    pub title: &'a str,
    pub user: &'a str,
    pub keys: Vec<KeyRowView>,
    pub summary: &'a str,
    pub files_loaded_at: String,
    pub last_trigger: &'a str,
    pub files_error: Option<String>,
    pub warnings: &'a [String],
}

/// One signing key on the keys and policy page.
pub struct KeyRowView {
    pub state: String,
    pub algorithm: String,
    pub libtrust_kid: String,
    pub thumbprint: String,
    /// How old it is, and since when it signs (or signed).
    pub age: String,
    pub not_after: String,
    pub days_left: i64,
    pub note: String,
}

/// One record on the admin audit page.
pub struct AuditRowView {
    pub at: String,
    pub kind: String,
    pub target: String,
    pub outcome: String,
    pub subject: String,
    pub requested: String,
    pub granted: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AdminAuditPage<'a> {
    pub title: &'a str,
    pub user: &'a str,
    pub subject: &'a str,
    pub outcome: &'a str,
    pub repository: &'a str,
    pub since: &'a str,
    pub until: &'a str,
    /// The time field at fault and what to fix.
    pub error: Option<(String, String)>,
    pub rows: Vec<AuditRowView>,
}

impl AdminAuditPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.error, field)
    }
}

/// The message of `error` if it concerns `field` (`scopes[2]` concerns `scopes`): what a
/// page shows next to that field.
fn field_error<'e>(error: &'e Option<(String, String)>, field: &str) -> Option<&'e str> {
    error
        .as_ref()
        .filter(|(f, _)| f.split('[').next() == Some(field))
        .map(|(_, m)| m.as_str())
}

/// Sign-in with a local user's password.
#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage<'a> {
    pub title: &'a str,
    pub notice: Option<&'a str>,
    pub csrf: &'a str,
    pub username: &'a str,
    /// Offer the identity provider too.
    pub sso: bool,
}

#[derive(Template)]
#[template(path = "token_made.html")]
pub struct TokenMade<'a> {
    pub title: &'a str,
    pub name: &'a str,
    pub secret: &'a str,
    pub user: &'a str,
}

/// A page saying `paragraphs`.
pub fn message(status: StatusCode, title: &str, paragraphs: Vec<Vec<Part>>) -> HttpResponse {
    render(
        status,
        &Message {
            title,
            role: None,
            paragraphs,
        },
    )
}

/// The same, its first paragraph announced to screen readers with `role`.
pub fn message_with_role(
    status: StatusCode,
    title: &str,
    role: &str,
    paragraphs: Vec<Vec<Part>>,
) -> HttpResponse {
    render(
        status,
        &Message {
            title,
            role: Some(role),
            paragraphs,
        },
    )
}

/// What a page may load: its stylesheet from here, nothing else; no script at all (not
/// even inline), forms posting only here, no framing.
pub const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages' stylesheet, served as a file so that the policy can forbid inline styles.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .content_type("text/css; charset=utf-8")
        .body(include_str!("../../../static/console.css"))
}

/// Any page, with the headers every one of these pages gets.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    let html = page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "a sign-in page could not be rendered");
        "<!doctype html><title>Error</title><h1>Error</h1><p>This page could not be shown.</p>"
            .to_string()
    });
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_text_is_escaped() {
        let html = Message {
            title: "<t>",
            role: None,
            paragraphs: vec![vec![
                text(r#"<a href="x">'&'</a>"#),
                code("<script>"),
                link("/login", "Sign in"),
            ]],
        }
        .render()
        .unwrap();
        assert!(
            !html.contains("<script>") && !html.contains(r#"<a href="x">"#),
            "{html}"
        );
        assert!(html.contains(r#"<a href="/login">Sign in</a>"#), "{html}");
        assert!(html.contains("<h1>&#60;t&#62;</h1>"), "{html}");
    }
}
