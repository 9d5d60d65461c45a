//! The pages people use, in a real browser (Debian's headless Chromium driven by
//! Playwright, see `tests/support/browser.rs`), clicked through as a person would.
//! Screenshots of the pages visited are saved in `target/screenshots/`.

mod support;

use serde_json::json;
use support::browser::screenshot_dir;
use support::{Browser, MockOidc, Portcullis, Skopeo, Stack};

/// portcullis with browser sign-in at `oidc` (a client with a secret, and `more` of the
/// `[oidc]` section), and a registry trusting it.
fn stack_with_sign_in(oidc: &MockOidc, more: &str) -> (Stack, tempfile::NamedTempFile) {
    let config = oidc.config_file(more);
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[("PORTCULLIS_CONFIG", config.path().to_str().unwrap())],
    );
    (Stack::around(p), config)
}

#[test]
fn a_person_signs_in_at_the_identity_provider_in_a_browser_makes_a_token_and_pushes_with_it() {
    let mut oidc = MockOidc::start();
    oidc.set_login(
        "alice",
        &json!({"preferred_username": "alice", "groups": ["developers"]}),
    );
    let (s, _config) = stack_with_sign_in(&oidc, "");
    let shots = screenshot_dir();
    let browser = Browser::new();
    let got = browser.journey(vec![
        json!({ "goto": format!("{}/login", s.portcullis.url()) }),
        json!({ "expect_text": "Signed in as alice" }),
        // The stylesheet applies under the page's Content-Security-Policy (no inline style
        // or script is allowed, a file from here is).
        json!({ "js": "getComputedStyle(document.querySelector('main')).maxWidth", "as": "main_width" }),
        json!({ "screenshot": shots.join("tokens.png") }),
        json!({ "fill": "#name", "value": "laptop" }),
        json!({ "fill": "#scopes", "value": "repository:team/app:pull,push" }),
        json!({ "fill": "#expires", "value": "1d" }),
        json!({ "click": "button:has-text('Make the token')" }),
        json!({ "expect_text": "Copy it now" }),
        json!({ "value": "#secret", "as": "secret" }),
        json!({ "screenshot": shots.join("token-made.png") }),
    ]);
    assert_eq!(
        got["main_width"], "960px",
        "the stylesheet was not applied: {got}"
    );
    let page = support::http_get(&format!("{}/login/nowhere", s.portcullis.url()), &[]).unwrap();
    let csp = page.header("content-security-policy").unwrap_or("");
    assert!(
        csp.contains("default-src 'none'")
            && !csp.contains("script-src")
            && !csp.contains("unsafe"),
        "{csp}"
    );
    let secret = got["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pcp_"), "{got}");

    Skopeo::new()
        .copy(&s.src(), &s.dst("team/app:v1"), Some(("alice", &secret)))
        .assert_success("skopeo push with the token made in the browser");

    // Back on the page, the token is listed with its scopes (never its secret).
    let back = browser.journey(vec![
        json!({ "goto": format!("{}/login/tokens", s.portcullis.url()) }),
        json!({ "expect_text": "laptop" }),
        json!({ "expect_text": "repository:team/app:pull,push" }),
        json!({ "text": "body", "as": "page" }),
    ]);
    assert!(!back["page"].as_str().unwrap().contains(&secret));
}

#[test]
fn a_person_the_identity_provider_puts_in_the_admins_group_administers_in_the_console() {
    let mut oidc = MockOidc::start();
    oidc.set_login(
        "olga",
        &json!({"preferred_username": "olga", "groups": ["registry-admins"]}),
    );
    // The provider's group mapped to the local one the policy lets administer.
    let (s, _config) =
        stack_with_sign_in(&oidc, "group_map = { \"registry-admins\" = \"admins\" }\n");
    let url = s.portcullis.public_url();
    // olga is no local user: the group the identity provider gave her is what lets her in.
    Browser::new().journey(vec![
        json!({ "goto": format!("{url}/login") }),
        json!({ "expect_text": "Signed in as olga" }),
        json!({ "goto": format!("{url}/login/admin/bindings") }),
        json!({ "expect_text": "Rules in force" }),
        json!({ "goto": format!("{url}/login/admin/users") }),
        json!({ "expect_text": "Make a user" }),
    ]);
    oidc.set_login(
        "pete",
        &json!({"preferred_username": "pete", "groups": ["admins"]}),
    );
    Browser::new().journey(vec![
        json!({ "goto": format!("{url}/login") }),
        json!({ "expect_text": "Signed in as pete" }),
        json!({ "goto": format!("{url}/login/admin/bindings") }),
        // A provider group named like a local one stays apart from it (oidc:admins).
        json!({ "expect_text": "pete may not administer" }),
    ]);
}

#[test]
fn a_signed_out_browser_is_sent_back_to_sign_in_and_its_old_session_is_dead() {
    let mut oidc = MockOidc::start();
    oidc.set_login("bob", &json!({"preferred_username": "bob"}));
    let (s, _config) = stack_with_sign_in(&oidc, "");
    let browser = Browser::new();
    let got = browser.journey(vec![
        json!({ "goto": format!("{}/login", s.portcullis.url()) }),
        json!({ "expect_text": "Signed in as bob" }),
        json!({ "cookie": "portcullis_session", "as": "session" }),
        json!({ "click": "button:has-text('Sign out')" }),
        json!({ "expect_text": "You are signed out" }),
        json!({ "cookie": "portcullis_session", "as": "after" }),
    ]);
    let session = got["session"].as_str().unwrap();
    assert!(!session.is_empty(), "{got}");
    assert_eq!(got["after"], "", "the browser forgot the session: {got}");
    // The session is over on the server too: its cookie, replayed, opens nothing.
    let replay = support::http_get(
        &format!("{}/login/tokens", s.portcullis.url()),
        &[("Cookie", &format!("portcullis_session={session}"))],
    )
    .unwrap();
    assert_eq!(
        (replay.status, replay.header("location")),
        (303, Some("/login")),
        "{}",
        replay.text()
    );
    let log = s.portcullis.wait_for_log("event=\"sign_out\"");
    assert!(log.contains("actor=\"bob\""), "{log}");
}

#[test]
fn a_name_is_shown_as_text_never_run_and_a_form_without_its_csrf_field_is_refused() {
    let mut oidc = MockOidc::start();
    oidc.set_login("dave", &json!({"preferred_username": "dave"}));
    let (s, _config) = stack_with_sign_in(&oidc, "");
    let browser = Browser::new();
    let evil = "<img/src=x/onerror=alert(1)>";
    // A token name is stored as given and shown on the page: as text, never as markup
    // (`journey` fails if a page opens a dialog).
    browser.journey(vec![
        json!({ "goto": format!("{}/login", s.portcullis.url()) }),
        json!({ "fill": "#name", "value": evil }),
        json!({ "fill": "#scopes", "value": "repository:dave/**:pull" }),
        json!({ "click": "button:has-text('Make the token')" }),
        json!({ "expect_text": "Copy it now" }),
        json!({ "goto": format!("{}/login/tokens", s.portcullis.url()) }),
        json!({ "expect_text": evil }),
    ]);
    // The same form without its CSRF field: refused, and nothing made.
    let r = browser.journey(vec![
        json!({ "goto": format!("{}/login/tokens", s.portcullis.url()) }),
        json!({ "eval": "document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())" }),
        json!({ "fill": "#name", "value": "forged" }),
        json!({ "fill": "#scopes", "value": "repository:dave/**:pull" }),
        json!({ "click": "button:has-text('Make the token')" }),
        json!({ "text": "body", "as": "refusal" }),
        json!({ "goto": format!("{}/login/tokens", s.portcullis.url()) }),
        json!({ "text": "table", "as": "tokens" }),
    ]);
    let refusal = r["refusal"].as_str().unwrap().to_lowercase();
    assert!(
        refusal.contains("csrf") && !refusal.contains("copy it now"),
        "{r}"
    );
    assert!(!r["tokens"].as_str().unwrap().contains("forged"), "{r}");
}

#[test]
fn on_embedded_defaults_a_local_user_signs_in_with_a_password_makes_a_token_and_pushes() {
    // No identity provider: the pages still work, with a local user's password.
    let s = Stack::start(&[], &[("erin", "erin-pass-123", &["developers"])]);
    let browser = Browser::new();
    let url = s.portcullis.url();
    let got = browser.journey(vec![
        json!({ "goto": format!("{url}/login") }),
        json!({ "fill": "#username", "value": "erin" }),
        json!({ "fill": "#password", "value": "wrong-password" }),
        json!({ "click": "button:has-text('Sign in')" }),
        json!({ "expect_text": "Wrong user name or password" }),
        json!({ "screenshot": screenshot_dir().join("sign-in.png") }),
        json!({ "fill": "#password", "value": "erin-pass-123" }),
        json!({ "click": "button:has-text('Sign in')" }),
        json!({ "expect_text": "Signed in as erin" }),
        json!({ "fill": "#name", "value": "ci" }),
        json!({ "fill": "#scopes", "value": "repository:team/app:pull,push" }),
        json!({ "click": "button:has-text('Make the token')" }),
        json!({ "value": "#secret", "as": "secret" }),
    ]);
    let secret = got["secret"].as_str().unwrap();
    Skopeo::new()
        .copy(&s.src(), &s.dst("team/app:v1"), Some(("erin", secret)))
        .assert_success("push with a token made after a password sign-in");

    // A token is not a password here: the pages are for people.
    let r = browser.journey(vec![
        json!({ "goto": format!("{url}/login/tokens") }),
        json!({ "click": "button:has-text('Sign out')" }),
        json!({ "goto": format!("{url}/login/password") }),
        json!({ "fill": "#username", "value": "erin" }),
        json!({ "fill": "#password", "value": secret }),
        json!({ "click": "button:has-text('Sign in')" }),
        json!({ "text": "body", "as": "page" }),
    ]);
    assert!(
        r["page"]
            .as_str()
            .unwrap()
            .contains("tokens and robot secrets are for machines"),
        "{r}"
    );

    // A sign-in form posted from another site carries no form cookie: refused (no login CSRF).
    let forged = support::http_request(
        "POST",
        &format!("{url}/login/password"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"csrf=x&username=erin&password=erin-pass-123"),
    )
    .unwrap();
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert!(forged
        .header("set-cookie")
        .is_none_or(|c| !c.contains("portcullis_session=")));
    let log = s.portcullis.log();
    assert!(
        !log.contains("erin-pass-123") && !log.contains(secret),
        "a secret reached the log"
    );
    assert!(
        log.contains("event=\"sign_in\" outcome=\"refused\" actor=\"erin\""),
        "{log}"
    );
}

#[test]
fn a_person_asks_what_they_may_do_on_a_repository_and_sees_the_rule_behind_each_action() {
    let s = Stack::start(&[], &[("erin", "erin-pass-123", &["developers"])]);
    let browser = Browser::new();
    let url = s.portcullis.url();
    let got = browser.journey(vec![
        json!({ "goto": format!("{url}/login/password") }),
        json!({ "fill": "#username", "value": "erin" }),
        json!({ "fill": "#password", "value": "erin-pass-123" }),
        json!({ "click": "button:has-text('Sign in')" }),
        json!({ "click": "text=What may I do?" }),
        json!({ "fill": "#repository", "value": "Team/App" }),
        json!({ "click": "button:has-text('Check')" }),
        json!({ "text": "#repository-error", "as": "error" }),
        json!({ "fill": "#repository", "value": "team/app" }),
        json!({ "click": "button:has-text('Check')" }),
        json!({ "text": "table", "as": "table" }),
        json!({ "screenshot": screenshot_dir().join("access.png") }),
    ]);
    assert!(got["error"].as_str().unwrap().contains("Fix:"), "{got}");
    let table = got["table"].as_str().unwrap();
    let row = |action: &str| {
        table
            .lines()
            .find(|l| l.starts_with(action))
            .unwrap_or_else(|| panic!("no {action} row in {table}"))
            .to_owned()
    };
    assert!(
        row("push").contains("allowed") && row("push").contains("10-test.toml:"),
        "{table}"
    );
    assert!(
        row("push").contains("grant writer to group:developers"),
        "{table}"
    );
    assert!(
        row("delete").contains("not granted") && row("delete").contains("granted to others by"),
        "{table}"
    );
}

/// Signs `user` in with `password` on the password page.
fn sign_in(url: &str, user: &str, password: &str) -> Vec<serde_json::Value> {
    vec![
        json!({ "goto": format!("{url}/login/password") }),
        json!({ "fill": "#username", "value": user }),
        json!({ "fill": "#password", "value": password }),
        json!({ "click": "button:has-text('Sign in')" }),
        json!({ "expect_text": format!("Signed in as {user}") }),
    ]
}

#[test]
fn an_admin_binds_a_group_in_the_console_then_deletes_it_and_the_audit_page_shows_the_refusal() {
    let s = Stack::start(
        &[],
        &[
            ("alice", "alice-pass-1", &["admins"]),
            ("dave", "dave-pass-1", &["qa"]),
        ],
    );
    let url = s.portcullis.url();
    let shots = screenshot_dir();
    let admin = Browser::new();
    let mut steps = sign_in(&url, "alice", "alice-pass-1");
    steps.extend([
        json!({ "goto": format!("{url}/login/admin/bindings") }),
        // A mistake first: shown next to its field, nothing made.
        json!({ "fill": "#subjects", "value": "team:qa" }),
        json!({ "fill": "#role", "value": "writer" }),
        json!({ "fill": "#repositories", "value": "qa/**" }),
        json!({ "click": "button:has-text('Make the binding')" }),
        json!({ "expect_text": "bad subject" }),
        json!({ "fill": "#subjects", "value": "group:qa" }),
        json!({ "click": "button:has-text('Make the binding')" }),
        json!({ "expect_text": "Binding 1 made" }),
        json!({ "expect_text": "grant writer to group:qa on qa/**" }),
        json!({ "screenshot": shots.join("admin-bindings.png") }),
    ]);
    admin.journey(steps);
    let sk = Skopeo::new();
    sk.copy(&s.src(), &s.dst("qa/app:v1"), Some(("dave", "dave-pass-1")))
        .assert_success("dave pushes once the console bound his group");

    // dave is no admin: every admin page is a 403 for him.
    let dave = Browser::new();
    let mut steps = sign_in(&url, "dave", "dave-pass-1");
    steps.extend([
        json!({ "goto": format!("{url}/login/admin/bindings") }),
        json!({ "expect_text": "may not administer" }),
        json!({ "goto": format!("{url}/login/admin/audit") }),
        json!({ "expect_text": "may not administer" }),
        json!({ "goto": format!("{url}/login/admin/users") }),
        json!({ "expect_text": "may not administer" }),
        json!({ "goto": format!("{url}/login/admin/system") }),
        json!({ "expect_text": "may not administer" }),
    ]);
    dave.journey(steps);
    let page = support::http_get(&format!("{url}/login/admin/audit"), &[]).unwrap();
    assert_ne!(page.status, 200);

    admin.journey(vec![
        json!({ "goto": format!("{url}/login/admin/bindings") }),
        json!({ "click": "button:has-text('Delete binding 1')" }),
        json!({ "expect_text": "Binding 1 deleted" }),
    ]);
    sk.copy(&s.src(), &s.dst("qa/app:v2"), Some(("dave", "dave-pass-1")))
        .assert_failure("dave pushing after the binding was deleted");
    // The audit page shows the refusal and why (the writer of the window runs every second).
    let mut table = String::new();
    for _ in 0..20 {
        let got = admin.journey(vec![
            json!({ "goto": format!("{url}/login/admin/audit?subject=dave&repository=qa/app") }),
            json!({ "text": "table", "as": "table" }),
        ]);
        table = got["table"].as_str().unwrap().to_owned();
        if table.contains("push: not granted") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert!(table.contains("push: not granted"), "{table}");
    // Filtered by time: the last hour has it, a window that ended in 2020 has nothing, and a
    // time the filter cannot read is said next to its field.
    let got = admin.journey(vec![
        json!({ "goto": format!("{url}/login/admin/audit") }),
        json!({ "fill": "#subject", "value": "dave" }),
        json!({ "fill": "#since", "value": "1h" }),
        json!({ "click": "button:has-text('Filter')" }),
        json!({ "text": "table", "as": "hour" }),
        json!({ "fill": "#since", "value": "" }),
        json!({ "fill": "#until", "value": "2020-01-01T00:00:00Z" }),
        json!({ "click": "button:has-text('Filter')" }),
        json!({ "text": "table", "as": "old" }),
        json!({ "fill": "#until", "value": "last week" }),
        json!({ "click": "button:has-text('Filter')" }),
        json!({ "expect_text": "is neither a time ago" }),
    ]);
    assert!(
        got["hour"].as_str().unwrap().contains("push: not granted"),
        "{got}"
    );
    assert!(!got["old"].as_str().unwrap().contains("dave"), "{got}");
    admin.journey(vec![
        json!({ "goto": format!("{url}/login/admin/audit?subject=dave&repository=qa/app") }),
        json!({ "screenshot": shots.join("admin-audit.png") }),
        // The key the registry must trust, and the policy's reload state.
        json!({ "goto": format!("{url}/login/admin/system") }),
        json!({ "expect_text": "ES256" }),
        json!({ "expect_text": "days left" }),
        json!({ "expect_text": "1 file, 4 roles" }),
        json!({ "screenshot": shots.join("admin-system.png") }),
    ]);
    let log = s.portcullis.log();
    assert!(
        log.contains("event=\"binding_created\" outcome=\"done\" actor=\"alice\"")
            && log.contains("event=\"binding_deleted\" outcome=\"done\" actor=\"alice\""),
        "console changes are audited with the actor"
    );
}

#[test]
fn an_admin_makes_a_user_and_a_group_in_the_console_and_binds_it_then_the_user_pushes_with_a_token()
{
    let s = Stack::start(&[], &[("alice", "alice-pass-1", &["admins"])]);
    let url = s.portcullis.url();
    let shots = screenshot_dir();
    let admin = Browser::new();
    let mut steps = sign_in(&url, "alice", "alice-pass-1");
    steps.extend([
        json!({ "goto": format!("{url}/login/admin/users") }),
        json!({ "fill": "#group", "value": "web" }),
        json!({ "click": "button:has-text('Make the group')" }),
        json!({ "expect_text": "Group web made" }),
        // A password too short: said next to its field, nobody made.
        json!({ "fill": "#name", "value": "frank" }),
        json!({ "fill": "#password", "value": "short" }),
        json!({ "fill": "#groups", "value": "web" }),
        json!({ "click": "button:has-text('Make the user')" }),
        json!({ "expect_text": "at least 8 characters" }),
        json!({ "fill": "#name", "value": "frank" }),
        json!({ "fill": "#password", "value": "frank-pass-1" }),
        json!({ "fill": "#groups", "value": "web" }),
        json!({ "click": "button:has-text('Make the user')" }),
        json!({ "expect_text": "User frank made" }),
        json!({ "screenshot": shots.join("admin-users.png") }),
        json!({ "goto": format!("{url}/login/admin/bindings") }),
        json!({ "fill": "#subjects", "value": "group:web" }),
        json!({ "fill": "#role", "value": "writer" }),
        json!({ "fill": "#repositories", "value": "team/**" }),
        // What it would change for frank, before it is saved.
        json!({ "click": "button:has-text('Preview what it changes')" }),
        json!({ "expect_text": "name a user to preview for" }),
        json!({ "fill": "#preview_user", "value": "frank" }),
        json!({ "fill": "#preview_repository", "value": "team/app" }),
        json!({ "click": "button:has-text('Preview what it changes')" }),
        json!({ "expect_text": "What it changes for frank on team/app" }),
        json!({ "text": "section", "as": "preview" }),
        json!({ "text": "table", "as": "rules" }),
        json!({ "screenshot": shots.join("admin-binding-preview.png") }),
        json!({ "click": "button:has-text('Make the binding')" }),
        json!({ "expect_text": "Binding 1 made" }),
    ]);
    let got = admin.journey(steps);
    let preview = got["preview"].as_str().unwrap();
    let push = preview
        .lines()
        .find(|l| l.starts_with("push"))
        .unwrap_or("");
    assert!(
        push.contains("no grant")
            && push.contains("allowed")
            && push.contains("this new binding (grant writer to group:web on team/**)"),
        "{preview}"
    );
    assert!(preview.contains("changes what they may do"), "{preview}");
    assert!(
        !got["rules"].as_str().unwrap().contains("group:web"),
        "a preview saved the binding: {got}"
    );

    let frank = Browser::new();
    let mut steps = sign_in(&url, "frank", "frank-pass-1");
    steps.extend([
        json!({ "fill": "#name", "value": "laptop" }),
        json!({ "fill": "#scopes", "value": "repository:team/app:pull,push" }),
        json!({ "click": "button:has-text('Make the token')" }),
        json!({ "value": "#secret", "as": "secret" }),
        json!({ "goto": format!("{url}/login/access?repository=team/app") }),
        json!({ "text": "table", "as": "access" }),
    ]);
    let got = frank.journey(steps);
    Skopeo::new()
        .copy(
            &s.src(),
            &s.dst("team/app:v1"),
            Some(("frank", got["secret"].as_str().unwrap())),
        )
        .assert_success("frank pushes with the token made on his page");
    let push = got["access"]
        .as_str()
        .unwrap()
        .lines()
        .find(|l| l.starts_with("push"))
        .unwrap_or("")
        .to_owned();
    assert!(
        push.contains("allowed") && push.contains("binding 1, made by alice on"),
        "{}",
        got["access"]
    );

    // Disabling frank in the console disables his tokens too; alice's own row offers no
    // such button (no admin locks themselves out).
    let users = admin.journey(vec![
        json!({ "goto": format!("{url}/login/admin/users") }),
        json!({ "click": "button:has-text('Disable frank')" }),
        json!({ "expect_text": "User frank disabled" }),
        json!({ "text": "table", "as": "table" }),
    ]);
    assert!(
        !users["table"].as_str().unwrap().contains("Disable alice"),
        "{users}"
    );
    Skopeo::new()
        .copy(
            &s.src(),
            &s.dst("team/app:v2"),
            Some(("frank", got["secret"].as_str().unwrap())),
        )
        .assert_failure("a disabled user's token");
}

#[test]
fn a_person_sees_the_identity_token_of_a_docker_login_and_revoking_it_logs_that_machine_out() {
    let s = Stack::start(&[], &[("gina", "gina-pass-12", &[])]);
    let url = s.portcullis.url();
    // What `docker login` does: a token with offline_token=true returns an identity token.
    let login = support::http_get(
        &format!("{url}/token?service=portcullis&offline_token=true&client_id=docker"),
        &[(
            "Authorization",
            &support::basic_auth("gina", "gina-pass-12"),
        )],
    )
    .unwrap();
    let refresh = login.json()["refresh_token"].as_str().unwrap().to_owned();
    let use_it = || {
        support::http_request(
            "POST",
            &format!("{url}/token"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(
                format!("grant_type=refresh_token&service=portcullis&refresh_token={refresh}")
                    .as_bytes(),
            ),
        )
        .unwrap()
        .status
    };
    assert_eq!(use_it(), 200);
    let browser = Browser::new();
    let mut steps = sign_in(&url, "gina", "gina-pass-12");
    steps.extend([
        json!({ "expect_text": "docker" }),
        json!({ "click": "button:has-text('Revoke identity token')" }),
        json!({ "expect_text": "revoked" }),
        json!({ "text": "body", "as": "page" }),
    ]);
    let got = browser.journey(steps);
    assert!(
        !got["page"].as_str().unwrap().contains(&refresh),
        "the secret is never shown"
    );
    assert_eq!(
        use_it(),
        401,
        "the machine's identity token no longer works"
    );
}

#[test]
fn an_admin_makes_a_robot_in_the_console_whose_secret_pushes_until_it_is_disabled() {
    let s = Stack::start(&[], &[("alice", "alice-pass-1", &["admins"])]);
    let url = s.portcullis.url();
    let admin = Browser::new();
    let mut steps = sign_in(&url, "alice", "alice-pass-1");
    steps.extend([
        json!({ "goto": format!("{url}/login/admin/robots") }),
        json!({ "fill": "#name", "value": "ci" }),
        json!({ "fill": "#description", "value": "the build pipeline" }),
        json!({ "click": "button:has-text('Make the robot')" }),
        json!({ "expect_text": "Robot ci made" }),
        json!({ "value": "#secret", "as": "secret" }),
        json!({ "screenshot": screenshot_dir().join("admin-robots.png") }),
    ]);
    let got = admin.journey(steps);
    let secret = got["secret"].as_str().unwrap().to_owned();
    let sk = Skopeo::new();
    // The fixture policies let robot:ci write ci/**.
    sk.copy(&s.src(), &s.dst("ci/app:v1"), Some(("robot+ci", &secret)))
        .assert_success("the robot pushes with the secret shown once");
    admin.journey(vec![
        json!({ "goto": format!("{url}/login/admin/robots") }),
        json!({ "click": "button:has-text('Disable ci')" }),
        json!({ "expect_text": "Robot ci disabled" }),
    ]);
    sk.copy(&s.src(), &s.dst("ci/app:v2"), Some(("robot+ci", &secret)))
        .assert_failure("a disabled robot's secret");
    let got = admin.journey(vec![
        json!({ "goto": format!("{url}/login/admin/robots") }),
        json!({ "click": "button:has-text('Delete ci')" }),
        json!({ "expect_text": "Robot ci deleted" }),
        json!({ "text": "table", "as": "table" }),
    ]);
    assert!(
        !got["table"]
            .as_str()
            .unwrap()
            .contains("the build pipeline"),
        "{got}"
    );
    assert!(
        !s.portcullis.log().contains(&secret),
        "the secret reached the log"
    );
}

#[test]
fn an_admin_adds_a_user_to_a_group_and_removes_them_in_the_console() {
    let s = Stack::start(
        &[],
        &[
            ("alice", "alice-pass-1", &["admins"]),
            ("hank", "hank-pass-12", &[]),
        ],
    );
    let url = s.portcullis.url();
    let admin = Browser::new();
    let mut steps = sign_in(&url, "alice", "alice-pass-1");
    steps.extend([
        json!({ "goto": format!("{url}/login/admin/users") }),
        json!({ "fill": "#group", "value": "ops" }),
        json!({ "click": "button:has-text('Make the group')" }),
        json!({ "fill": "#member-user", "value": "hank" }),
        json!({ "fill": "#member-group", "value": "nosuch" }),
        json!({ "click": "button:has-text('Add to the group')" }),
        json!({ "expect_text": "does not exist" }),
        json!({ "fill": "#member-user", "value": "hank" }),
        json!({ "fill": "#member-group", "value": "ops" }),
        json!({ "click": "button:has-text('Add to the group')" }),
        json!({ "expect_text": "hank added to ops" }),
        json!({ "text": "table", "as": "with" }),
        json!({ "fill": "#member-user", "value": "hank" }),
        json!({ "fill": "#member-group", "value": "ops" }),
        json!({ "click": "button:has-text('Remove from the group')" }),
        json!({ "expect_text": "hank removed from ops" }),
        json!({ "text": "table", "as": "without" }),
    ]);
    let got = admin.journey(steps);
    let row = |table: &str| {
        table
            .lines()
            .find(|l| l.starts_with("hank"))
            .unwrap_or("")
            .to_owned()
    };
    assert!(row(got["with"].as_str().unwrap()).contains("ops"), "{got}");
    assert!(
        !row(got["without"].as_str().unwrap()).contains("ops"),
        "{got}"
    );
}
