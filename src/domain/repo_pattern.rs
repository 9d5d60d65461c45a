//! Repository patterns (`team/**`, `ops/*-cache`, `${user}/**`), compiled once at load.
//!
//! A pattern is parsed into a list of segment matchers so that a decision never parses,
//! allocates or builds a regex: it walks the requested name and the segment list together.
//! Both levels use the classic greedy wildcard algorithm (remember the last wildcard,
//! backtrack only to it), so a hostile repository name costs at most
//! O(name segments × pattern segments), never exponential time, whatever the pattern.

use std::fmt;

/// One compiled repository pattern, with its source text kept for explanations.
#[derive(Clone, Debug)]
pub struct RepoPattern {
    source: Box<str>,
    segments: Box<[Segment]>,
    /// Whether `${user}` occurs: such a pattern can only ever match for a user identity, so
    /// the check is done once up front instead of inside every segment.
    uses_user: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// A segment without wildcards or placeholder: compared as a whole string.
    Exact(Box<str>),
    /// `*` alone: any one segment. Also emitted before a trailing `**`, which is how
    /// "`team/**` needs at least one segment after `team`" is expressed.
    AnyOne,
    /// A segment mixing literals, `*` and `${user}`.
    Glob(Box<[Piece]>),
    /// `**`: zero or more whole segments.
    AnyMany,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Lit(Box<str>),
    /// `*` inside a segment: any characters except `/` (segments never contain one).
    Star,
    /// `${user}`: the requesting user's name, compared literally.
    User,
}

/// Why a pattern was refused. Each message says what to write instead, because the person
/// reading it is editing a policy file, not this code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(
        "an empty pattern matches nothing. Fix: remove it, or write \"**\" for every repository"
    )]
    Empty,
    #[error("pattern {0:?} has an empty segment (a leading, trailing or doubled '/'). Fix: remove the extra '/'")]
    EmptySegment(String),
    #[error("pattern {pattern:?}: `**` must be a whole segment (as in \"team/**\"), but {segment:?} has it inside. Fix: use `*` within a segment, or `**` alone between slashes")]
    DoubleStarInSegment { pattern: String, segment: String },
    #[error("pattern {pattern:?} has the upper-case letter {ch:?}; repository names are lower case, so it could never match. Fix: write it in lower case")]
    UpperCase { pattern: String, ch: char },
    #[error("pattern {pattern:?} has {ch:?}, which cannot appear in a repository pattern. Fix: use only a-z, 0-9, '.', '_', '-', ':', the wildcards `*` and `**`, and ${{user}}")]
    BadChar { pattern: String, ch: char },
    #[error("pattern {pattern:?} uses the unknown placeholder {placeholder:?}. Fix: the only placeholder is ${{user}}")]
    UnknownPlaceholder {
        pattern: String,
        placeholder: String,
    },
}

impl RepoPattern {
    pub fn parse(source: &str) -> Result<RepoPattern, PatternError> {
        if source.is_empty() {
            return Err(PatternError::Empty);
        }
        let mut segments = Vec::new();
        let mut uses_user = false;
        for seg in source.split('/') {
            if seg.is_empty() {
                return Err(PatternError::EmptySegment(source.to_owned()));
            }
            if seg == "**" {
                segments.push(Segment::AnyMany);
                continue;
            }
            if seg.contains("**") {
                return Err(PatternError::DoubleStarInSegment {
                    pattern: source.to_owned(),
                    segment: seg.to_owned(),
                });
            }
            let pieces = parse_pieces(source, seg)?;
            uses_user |= pieces.contains(&Piece::User);
            segments.push(match pieces.as_slice() {
                [Piece::Star] => Segment::AnyOne,
                [Piece::Lit(l)] => Segment::Exact(l.clone()),
                _ => Segment::Glob(pieces.into()),
            });
        }
        if segments.last() == Some(&Segment::AnyMany) {
            segments.insert(segments.len() - 1, Segment::AnyOne);
        }
        Ok(RepoPattern {
            source: source.into(),
            segments: segments.into(),
            uses_user,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The text before the first wildcard or placeholder: every matching name starts with
    /// it (segments before it match exactly, and a `**` after it eats whole segments only).
    pub fn literal_prefix(&self) -> &str {
        let end = self.source.find(['*', '$']).unwrap_or(self.source.len());
        &self.source[..end]
    }

    /// Does `name` (a parsed repository name) match? `user` is the requester's name only when
    /// the requester is a user identity: a robot must never inherit a personal namespace,
    /// and anonymous has no namespace, so for them `${user}` patterns match nothing.
    pub fn matches(&self, name: &str, user: Option<&str>) -> bool {
        let user = match (self.uses_user, user) {
            (false, _) => "",
            // An empty name would turn `${user}-x` into `-x`: never substitute it.
            (true, Some(u)) if !u.is_empty() => u,
            (true, _) => return false,
        };
        match_segments(&self.segments, name, user)
    }
}

impl fmt::Display for RepoPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn parse_pieces(pattern: &str, seg: &str) -> Result<Vec<Piece>, PatternError> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut lit = String::new();
    let mut rest = seg;
    while let Some(c) = rest.chars().next() {
        match c {
            '*' => {
                flush(&mut pieces, &mut lit);
                pieces.push(Piece::Star);
                rest = &rest[1..];
            }
            '$' => {
                let placeholder = match rest.find('}') {
                    Some(end) => &rest[..=end],
                    None => rest,
                };
                if placeholder != "${user}" {
                    return Err(PatternError::UnknownPlaceholder {
                        pattern: pattern.to_owned(),
                        placeholder: placeholder.to_owned(),
                    });
                }
                flush(&mut pieces, &mut lit);
                pieces.push(Piece::User);
                rest = &rest[placeholder.len()..];
            }
            c if c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, '.' | '_' | '-' | ':') =>
            {
                lit.push(c);
                rest = &rest[1..];
            }
            c if c.is_uppercase() => {
                return Err(PatternError::UpperCase {
                    pattern: pattern.to_owned(),
                    ch: c,
                })
            }
            c => {
                return Err(PatternError::BadChar {
                    pattern: pattern.to_owned(),
                    ch: c,
                })
            }
        }
    }
    flush(&mut pieces, &mut lit);
    Ok(pieces)
}

fn flush(pieces: &mut Vec<Piece>, lit: &mut String) {
    if !lit.is_empty() {
        pieces.push(Piece::Lit(std::mem::take(lit).into()));
    }
}

/// Segment-level wildcard match; `**` plays the role of the star, every other segment
/// matcher consumes exactly one segment. Positions are byte offsets into `name` where the
/// next segment starts; `end` means no segment is left.
fn match_segments(pattern: &[Segment], name: &str, user: &str) -> bool {
    let end = name.len() + 1;
    let next = |pos: usize| -> (&str, usize) {
        let rest = &name[pos..];
        match rest.find('/') {
            Some(i) => (&rest[..i], pos + i + 1),
            None => (rest, end),
        }
    };
    let (mut p, mut n) = (0, 0);
    // Where to resume after the last `**`: (pattern index after it, name position it took).
    let mut backtrack: Option<(usize, usize)> = None;
    while n < end {
        if let Some(seg) = pattern.get(p) {
            if *seg == Segment::AnyMany {
                p += 1;
                backtrack = Some((p, n));
                continue;
            }
            let (s, after) = next(n);
            if segment_matches(seg, s, user) {
                p += 1;
                n = after;
                continue;
            }
        }
        // Mismatch (or pattern used up with name left): let the last `**` eat one more segment.
        match backtrack {
            Some((bp, bn)) => {
                let (_, after) = next(bn);
                backtrack = Some((bp, after));
                p = bp;
                n = after;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|s| *s == Segment::AnyMany)
}

fn segment_matches(seg: &Segment, s: &str, user: &str) -> bool {
    match seg {
        Segment::Exact(lit) => **lit == *s,
        Segment::AnyOne => true,
        Segment::Glob(pieces) => glob_matches(pieces, s, user),
        Segment::AnyMany => unreachable!("handled by match_segments"),
    }
}

/// Within one segment: the literal run before the first `*` must be a prefix, the run after
/// the last `*` a suffix of what remains, and each run in between is taken at its leftmost
/// occurrence (which is always safe for `*`-only globs). `${user}` is just a literal here,
/// so a name containing `*` is compared character by character, never as a wildcard.
fn glob_matches(pieces: &[Piece], s: &str, user: &str) -> bool {
    let is_star = |p: &Piece| *p == Piece::Star;
    let (Some(first), Some(last)) = (
        pieces.iter().position(is_star),
        pieces.iter().rposition(is_star),
    ) else {
        return strip_run_prefix(s, pieces, user) == Some("");
    };
    let Some(s) = strip_run_prefix(s, &pieces[..first], user) else {
        return false;
    };
    let Some(mut s) = strip_run_suffix(s, &pieces[last + 1..], user) else {
        return false;
    };
    let middle = if first < last {
        &pieces[first + 1..last]
    } else {
        &[]
    };
    for run in middle.split(is_star).filter(|r| !r.is_empty()) {
        match (0..=s.len())
            .filter(|&i| s.is_char_boundary(i))
            .find_map(|i| strip_run_prefix(&s[i..], run, user))
        {
            Some(after) => s = after,
            None => return false,
        }
    }
    true
}

fn piece_text<'a>(piece: &'a Piece, user: &'a str) -> &'a str {
    match piece {
        Piece::Lit(l) => l,
        Piece::User => user,
        Piece::Star => unreachable!("runs hold no stars"),
    }
}

fn strip_run_prefix<'a>(mut s: &'a str, run: &[Piece], user: &str) -> Option<&'a str> {
    for piece in run {
        s = s.strip_prefix(piece_text(piece, user))?;
    }
    Some(s)
}

fn strip_run_suffix<'a>(mut s: &'a str, run: &[Piece], user: &str) -> Option<&'a str> {
    for piece in run.iter().rev() {
        s = s.strip_suffix(piece_text(piece, user))?;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Option<&str> = Some("alice");

    #[test]
    fn patterns_match_names_as_the_table_says() {
        // (pattern, name, user, expected)
        let cases: &[(&str, &str, Option<&str>, bool)] = &[
            // Exact names.
            ("team/app", "team/app", None, true),
            ("team/app", "team/app2", None, false),
            ("team/app", "team", None, false),
            ("team", "team/app", None, false),
            // `*` stays inside one segment.
            ("team/*", "team/app", None, true),
            ("team/*", "team/a/b", None, false),
            ("team/*", "team", None, false),
            ("*", "app", None, true),
            ("*", "team/app", None, false),
            ("team/app-*", "team/app-cache", None, true),
            ("team/app-*", "team/app-", None, true),
            ("team/app-*", "team/other", None, false),
            ("team/*-cache", "team/app-cache", None, true),
            ("team/*-cache", "team/app-cache/x", None, false),
            ("team/a*b*c", "team/abc", None, true),
            ("team/a*b*c", "team/axxbyyc", None, true),
            ("team/a*b*c", "team/axxbyy", None, false),
            ("team/a*a", "team/a", None, false),
            ("team/a*a", "team/aa", None, true),
            ("t*m/app", "team/app", None, true),
            // `**` crosses `/`; a trailing `/**` needs at least one segment.
            ("team/**", "team/app", None, true),
            ("team/**", "team/a/b/c", None, true),
            ("team/**", "team", None, false),
            ("team/**", "teams/app", None, false),
            ("**", "app", None, true),
            ("**", "a/b/c/d", None, true),
            ("**", "localhost:5000/app", None, true),
            // `**` in the middle or at the start matches zero segments too.
            ("a/**/b", "a/b", None, true),
            ("a/**/b", "a/x/b", None, true),
            ("a/**/b", "a/x/y/b", None, true),
            ("a/**/b", "a/x/y/c", None, false),
            ("a/**/b", "a/b/c", None, false),
            ("a/**/b", "b", None, false),
            ("a/**/b/**", "a/b", None, false),
            ("a/**/b/**", "a/x/b/y", None, true),
            ("**/app", "app", None, true),
            ("**/app", "x/y/app", None, true),
            ("**/app", "x/y/app2", None, false),
            ("**/*-cache", "x/y/z-cache", None, true),
            ("a/**/*/**", "a/b", None, false),
            ("a/**/*/**", "a/b/c", None, true),
            // host:port prefixes are ordinary characters of the first segment.
            ("localhost:5000/**", "localhost:5000/app", None, true),
            ("localhost:5000/**", "localhost:5001/app", None, false),
            ("localhost:*/app", "localhost:5000/app", None, true),
            (
                "registry.example.com/team/*",
                "registry.example.com/team/app",
                None,
                true,
            ),
            // `${user}`: substituted for users only, literally.
            ("${user}/**", "alice/app", ALICE, true),
            ("${user}/**", "alice/a/b", ALICE, true),
            ("${user}/**", "alice", ALICE, false),
            ("${user}/**", "bob/app", ALICE, false),
            ("${user}/**", "alice/app", None, false),
            ("home/${user}/*", "home/alice/app", ALICE, true),
            ("home/${user}/*", "home/alice/a/b", ALICE, false),
            ("home/${user}/*", "home/bob/app", ALICE, false),
            ("${user}-sandbox", "alice-sandbox", ALICE, true),
            ("${user}-sandbox", "alice-sandbox2", ALICE, false),
            ("${user}-sandbox", "bob-sandbox", ALICE, false),
            ("${user}-*", "alice-x", ALICE, true),
            ("*-${user}", "x-alice", ALICE, true),
            ("*-${user}", "x-alice2", ALICE, false),
            ("x-*-${user}-*", "x-1-alice-2", ALICE, true),
            // A name holding glob characters is matched literally, never as a wildcard…
            ("${user}/**", "alice/app", Some("*"), false),
            ("${user}/**", "*/app", Some("*"), true),
            ("${user}/**", "alice/app", Some("a*"), false),
            ("${user}-sandbox", "alice-sandbox", Some("**"), false),
            // …and a name holding `/` can never escape its segment.
            ("${user}/**", "alice/x/app", Some("alice/x"), false),
            ("home/${user}/*", "home/a/b/app", Some("a/b"), false),
            // An empty name is never substituted.
            ("${user}-sandbox", "-sandbox", Some(""), false),
        ];
        for &(pattern, name, user, want) in cases {
            let p = RepoPattern::parse(pattern)
                .unwrap_or_else(|e| panic!("{pattern:?} should parse: {e}"));
            assert_eq!(
                p.matches(name, user),
                want,
                "pattern {pattern:?} against {name:?} as {user:?}"
            );
            // The engine skips entries whose literal prefix the name lacks; that must never
            // skip a match.
            if want {
                assert!(
                    name.starts_with(p.literal_prefix()),
                    "prefix of {pattern:?} vs {name:?}"
                );
            }
        }
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_reason() {
        use PatternError as E;
        let s = String::from;
        let cases: &[(&str, PatternError)] = &[
            ("", E::Empty),
            ("/team", E::EmptySegment(s("/team"))),
            ("team/", E::EmptySegment(s("team/"))),
            ("team//app", E::EmptySegment(s("team//app"))),
            (
                "team/app**",
                E::DoubleStarInSegment {
                    pattern: s("team/app**"),
                    segment: s("app**"),
                },
            ),
            (
                "***",
                E::DoubleStarInSegment {
                    pattern: s("***"),
                    segment: s("***"),
                },
            ),
            (
                "Team/**",
                E::UpperCase {
                    pattern: s("Team/**"),
                    ch: 'T',
                },
            ),
            (
                "team/a b",
                E::BadChar {
                    pattern: s("team/a b"),
                    ch: ' ',
                },
            ),
            (
                "team/?",
                E::BadChar {
                    pattern: s("team/?"),
                    ch: '?',
                },
            ),
            (
                "team/[ab]",
                E::BadChar {
                    pattern: s("team/[ab]"),
                    ch: '[',
                },
            ),
            (
                "${team}/**",
                E::UnknownPlaceholder {
                    pattern: s("${team}/**"),
                    placeholder: s("${team}"),
                },
            ),
            (
                "${USER}/**",
                E::UnknownPlaceholder {
                    pattern: s("${USER}/**"),
                    placeholder: s("${USER}"),
                },
            ),
            (
                "$user/**",
                E::UnknownPlaceholder {
                    pattern: s("$user/**"),
                    placeholder: s("$user"),
                },
            ),
            (
                "a/${user",
                E::UnknownPlaceholder {
                    pattern: s("a/${user"),
                    placeholder: s("${user"),
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                RepoPattern::parse(input).err().as_ref(),
                Some(want),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn a_pathological_name_does_not_make_matching_explode() {
        let p = RepoPattern::parse("**/a/**/a/**/a/**/b").unwrap();
        let name = vec!["a"; 120].join("/");
        let started = std::time::Instant::now();
        assert!(!p.matches(&name, None));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let g = RepoPattern::parse("*a*a*a*a*b").unwrap();
        assert!(!g.matches(&"a".repeat(250), None));
    }

    #[test]
    fn the_literal_prefix_stops_at_the_first_wildcard_or_placeholder() {
        let cases = [
            ("team/app", "team/app"),
            ("team/**", "team/"),
            ("team/app-*", "team/app-"),
            ("a/**/b", "a/"),
            ("**", ""),
            ("home/${user}/*", "home/"),
            ("localhost:5000/*", "localhost:5000/"),
        ];
        for (pattern, prefix) in cases {
            assert_eq!(
                RepoPattern::parse(pattern).unwrap().literal_prefix(),
                prefix,
                "{pattern}"
            );
        }
    }

    #[test]
    fn a_pattern_shows_as_it_was_written() {
        assert_eq!(
            RepoPattern::parse("home/${user}/**").unwrap().to_string(),
            "home/${user}/**"
        );
    }
}
