//! The registry token's claim set (token spec jwt.md), written as JSON by hand: times are
//! integer Unix seconds, `aud` is a string (distribution 2.8 fails to decode an array), and
//! `access` is always present (`[]` when nothing was granted: a login probe).
//!
//! A claim set is written for every token; serde's derive, with a copy of every granted
//! scope to serialise from, was a tenth of the overhead above the signature itself. The
//! tests compare what this writes with serde_json's reading of it.

use crate::domain::{Action, Scope};
use crate::log_escape::push_json_string;

/// One entry of the token's `access` claim: a requested resource and the actions granted on
/// it, borrowed from the decision that granted them.
#[derive(Clone, Copy, Debug)]
pub struct Access<'a> {
    pub resource: &'a Scope,
    pub actions: &'a [Action],
}

impl<'a> From<&'a Scope> for Access<'a> {
    /// Every action the scope names.
    fn from(scope: &'a Scope) -> Self {
        Access {
            resource: scope,
            actions: &scope.actions,
        }
    }
}

/// The claims of one token.
pub struct Claims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    /// Base64url (the signer makes it), written as it is.
    pub jti: &'a str,
    pub access: &'a [Access<'a>],
}

impl Claims<'_> {
    /// The JSON object, appended to `out`. `type` is the bare resource type and the class of
    /// `repository(plugin)` goes in `class`: the registry matches on type and name.
    pub fn write_json(&self, out: &mut String) {
        let mut n = itoa::Buffer::new();
        out.push_str("{\"iss\":");
        push_json_string(out, self.iss);
        out.push_str(",\"sub\":");
        push_json_string(out, self.sub);
        out.push_str(",\"aud\":");
        push_json_string(out, self.aud);
        out.push_str(",\"exp\":");
        out.push_str(n.format(self.exp));
        out.push_str(",\"nbf\":");
        out.push_str(n.format(self.nbf));
        out.push_str(",\"iat\":");
        out.push_str(n.format(self.iat));
        // Base64url, which needs no escaping.
        out.push_str(",\"jti\":\"");
        push_plain(out, self.jti);
        out.push('"');
        out.push_str(",\"access\":[");
        for (i, a) in self.access.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // The type, its class and the actions are letters and digits (or `*`) by the
            // scope grammar, so they go in unescaped; the name may hold anything.
            let ty = &a.resource.resource_type;
            out.push_str("{\"type\":\"");
            push_plain(out, &ty.name);
            if let Some(class) = &ty.class {
                out.push_str("\",\"class\":\"");
                push_plain(out, class);
            }
            out.push_str("\",\"name\":");
            push_json_string(out, &a.resource.name);
            out.push_str(",\"actions\":[");
            for (j, action) in a.actions.iter().enumerate() {
                out.push_str(if j > 0 { ",\"" } else { "\"" });
                push_plain(out, action.as_str());
                out.push('"');
            }
            out.push_str("]}");
        }
        out.push_str("]}");
    }
}

/// Text that needs no escaping inside a JSON string, by construction (checked in debug builds).
fn push_plain(out: &mut String, text: &str) {
    debug_assert!(crate::log_escape::plain(text), "{text:?} needs escaping");
    out.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn written(c: &Claims<'_>) -> serde_json::Value {
        let mut out = String::new();
        c.write_json(&mut out);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    #[test]
    fn claims_are_json_with_integer_times_a_string_audience_and_every_access_entry() {
        let plugin = Scope::parse("repository(plugin):team/app:pull,push").unwrap();
        let catalog = Scope::parse("registry:catalog:*").unwrap();
        let access = [
            Access {
                resource: &plugin,
                actions: &plugin.actions[..1],
            },
            Access::from(&catalog),
        ];
        let v = written(&Claims {
            iss: "portcullis",
            sub: "alice",
            aud: "registry.example",
            exp: 1_700_000_300,
            nbf: 1_699_999_990,
            iat: 1_700_000_000,
            jti: "abc",
            access: &access,
        });
        assert_eq!(
            v,
            json!({
                "iss": "portcullis", "sub": "alice", "aud": "registry.example",
                "exp": 1_700_000_300, "nbf": 1_699_999_990, "iat": 1_700_000_000, "jti": "abc",
                "access": [
                    {"type": "repository", "class": "plugin", "name": "team/app", "actions": ["pull"]},
                    {"type": "registry", "name": "catalog", "actions": ["*"]},
                ]
            })
        );
    }

    #[test]
    fn strings_with_quotes_controls_and_other_scripts_read_back_exactly() {
        let odd = Scope::parse("custom:a\"b\\c\u{1}d\u{202e}é:read").unwrap();
        let sub = "zoë \"the\" admin\n\u{7f}";
        let v = written(&Claims {
            iss: "iss\\",
            sub,
            aud: "svc",
            exp: 0,
            nbf: -10,
            iat: 0,
            jti: "j",
            access: &[Access::from(&odd)],
        });
        assert_eq!(v["sub"], sub);
        assert_eq!(v["iss"], "iss\\");
        assert_eq!(v["nbf"], -10);
        assert_eq!(v["access"][0]["name"], "a\"b\\c\u{1}d\u{202e}é");
        let empty = written(&Claims {
            iss: "i",
            sub: "",
            aud: "a",
            exp: 1,
            nbf: 1,
            iat: 1,
            jti: "j",
            access: &[],
        });
        assert_eq!(empty["access"], json!([]));
    }
}
