//! The rule engine both gateway modes share: which rule covers a request (first match wins,
//! none means deny), and what that rule requires.
//!
//! Matching is on decoded path segments (`gateway::path`). To stay well under a microsecond
//! with a thousand rules, rules are indexed by their first segment: a request looks up its
//! first segment once and scans only the rules that can match it (those with that literal
//! first segment, and those starting with a wildcard), in their original order.

use super::path::{self, PathRefused};
use super::settings::RouteRule;
use crate::auth::{Permission, Role};
use crate::limits::RateSpec;
use http::Method;
use std::collections::HashMap;

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name (`route<N>` unless named).
    pub name: String,
    /// The pattern as written.
    pub pattern: String,
    segments: Vec<Segment>,
    methods: Option<Vec<Method>>,
    /// What it takes to pass.
    pub access: Access,
    /// A signed request is required.
    pub signed: bool,
    /// Its own rate limit, counted in the route group [`Rule::group`].
    pub rate: Option<RateSpec>,
    /// Where gateway mode sends allowed requests.
    pub upstream: Option<String>,
    /// Send the path without the pattern's literal prefix.
    pub strip_prefix: bool,
    /// The route group its requests are counted and signed-checked in: `gateway.<name>`.
    pub group: String,
}

/// What a rule requires of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Nobody needs to authenticate.
    Public,
    /// The caller's role must hold this permission.
    Permission(PermissionName),
    /// The caller must have this role (admin passes for user).
    Role(Role),
}

/// A permission a rule names: one of ours, or one of the operator's (`app.route1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionName {
    /// A built-in permission.
    Builtin(Permission),
    /// A permission of the operator's own, granted to roles in `[policy]`.
    Custom(String),
}

impl PermissionName {
    /// Its name as written.
    pub fn as_str(&self) -> &str {
        match self {
            PermissionName::Builtin(p) => p.as_str(),
            PermissionName::Custom(name) => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one non-empty segment.
    One,
    /// `**`: any number of segments, none included.
    Any,
}

/// A rule that could not be compiled: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("gateway.routes[{index}] ({name}): {reason}")]
pub struct RuleError {
    /// Position in `[[gateway.routes]]`, from 1.
    pub index: usize,
    /// The rule's name.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

/// What the rules say about a request.
#[derive(Debug, Clone, Copy)]
pub enum Verdict<'a> {
    /// This rule covers it.
    Matched {
        /// The rule.
        rule: &'a Rule,
        /// Its position, from 1.
        index: usize,
    },
    /// No rule covers it: denied.
    NoRule,
    /// The path is one the rules refuse to read.
    BadPath(PathRefused),
}

/// The compiled rules.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
    /// Candidate rules by literal first segment, each list already merged with `wild`.
    by_first: HashMap<String, Vec<u32>>,
    /// Rules whose pattern starts with a wildcard or is `/`: candidates for every path.
    wild: Vec<u32>,
}

impl Rules {
    /// Compile `[[gateway.routes]]`.
    pub fn compile(routes: &[RouteRule]) -> Result<Self, RuleError> {
        let mut rules = Vec::with_capacity(routes.len());
        let mut names = std::collections::HashSet::new();
        for (i, route) in routes.iter().enumerate() {
            let rule = compile_rule(i + 1, route)?;
            if !names.insert(rule.name.clone()) {
                return Err(RuleError {
                    index: i + 1,
                    name: rule.name,
                    reason: "another rule has this name".into(),
                });
            }
            rules.push(rule);
        }
        let mut literal: HashMap<String, Vec<u32>> = HashMap::new();
        let mut wild = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            match rule.segments.first() {
                Some(Segment::Literal(first)) => {
                    literal.entry(first.clone()).or_default().push(i as u32)
                }
                _ => wild.push(i as u32),
            }
        }
        let by_first = literal
            .into_iter()
            .map(|(first, mut list)| {
                list.extend(&wild);
                list.sort_unstable();
                (first, list)
            })
            .collect();
        Ok(Self {
            rules,
            by_first,
            wild,
        })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Which rule covers `method` on `path` (no query string).
    pub fn decide(&self, method: &Method, path: &str) -> Verdict<'_> {
        let segments = match path::segments(path) {
            Ok(segments) => segments,
            Err(refused) => return Verdict::BadPath(refused),
        };
        let candidates = segments
            .first()
            .and_then(|first| self.by_first.get(first.as_ref()))
            .unwrap_or(&self.wild);
        for &i in candidates {
            let rule = &self.rules[i as usize];
            if rule.covers(method) && matches(&rule.segments, &segments) {
                return Verdict::Matched {
                    rule,
                    index: i as usize + 1,
                };
            }
        }
        Verdict::NoRule
    }
}

impl Rule {
    fn covers(&self, method: &Method) -> bool {
        self.methods.as_ref().is_none_or(|m| m.contains(method))
    }

    /// The path to send upstream: with `strip_prefix`, without the pattern's leading literal
    /// segments (`/route1/**` sends `/a/b` for `/route1/a/b`, `/` for `/route1`).
    pub fn upstream_path<'p>(&self, path: &'p str) -> std::borrow::Cow<'p, str> {
        if !self.strip_prefix {
            return path.into();
        }
        let literal = self
            .segments
            .iter()
            .take_while(|s| matches!(s, Segment::Literal(_)))
            .count();
        let mut rest = path;
        for _ in 0..literal {
            rest = rest
                .strip_prefix('/')
                .map(|r| r.find('/').map_or("", |at| &r[at..]))
                .unwrap_or(rest);
        }
        if rest.is_empty() {
            "/".into()
        } else {
            rest.into()
        }
    }
}

/// Whether `pattern` matches `path`, `**` matching any run of segments.
fn matches(pattern: &[Segment], path: &[std::borrow::Cow<'_, str>]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((Segment::Any, rest)) => {
            // `**` at the end matches whatever is left; otherwise try every split.
            rest.is_empty() || (0..=path.len()).any(|skip| matches(rest, &path[skip..]))
        }
        Some((Segment::One, rest)) => path
            .split_first()
            .is_some_and(|(first, tail)| !first.is_empty() && matches(rest, tail)),
        Some((Segment::Literal(literal), rest)) => path
            .split_first()
            .is_some_and(|(first, tail)| first == literal && matches(rest, tail)),
    }
}

fn compile_rule(index: usize, route: &RouteRule) -> Result<Rule, RuleError> {
    let name = route
        .name
        .clone()
        .unwrap_or_else(|| format!("route{index}"));
    let fail = |reason: String| RuleError {
        index,
        name: name.clone(),
        reason,
    };
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(fail(
            "name must be 1 to 64 letters, digits, '-', '_' or '.'".into(),
        ));
    }
    let segments = compile_pattern(&route.pattern).map_err(fail)?;
    let methods = if route.methods.is_empty() {
        None
    } else {
        Some(
            route
                .methods
                .iter()
                .map(|m| {
                    Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                        .map_err(|_| fail(format!("{m:?} is not an HTTP method")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let access = match (route.public, &route.permission, &route.role) {
        (true, None, None) => Access::Public,
        (false, Some(permission), None) => {
            Access::Permission(permission_name(permission).map_err(fail)?)
        }
        (false, None, Some(role)) => Access::Role(Role::parse(role).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            fail(format!("role {role:?} is not one of: {}", names.join(", ")))
        })?),
        (false, None, None) => {
            return Err(fail(
                "say what the rule requires: permission = \"…\", role = \"…\" or public = true"
                    .into(),
            ));
        }
        _ => {
            return Err(fail(
                "permission, role and public = true exclude each other".into(),
            ));
        }
    };
    if route.public && route.signed {
        return Err(fail("a public rule cannot require a signed request".into()));
    }
    let rate = route
        .rate
        .as_deref()
        .map(|text| RateSpec::parse(text).map_err(|e| fail(format!("rate: {e}"))))
        .transpose()?;
    let upstream = route
        .upstream
        .as_deref()
        .map(|u| upstream(u).map_err(fail))
        .transpose()?;
    if route.strip_prefix && upstream.is_none() {
        return Err(fail("strip_prefix needs an upstream".into()));
    }
    Ok(Rule {
        group: format!("gateway.{name}"),
        name,
        pattern: route.pattern.clone(),
        segments,
        methods,
        access,
        signed: route.signed,
        rate,
        upstream,
        strip_prefix: route.strip_prefix,
    })
}

fn compile_pattern(pattern: &str) -> Result<Vec<Segment>, String> {
    let rest = pattern
        .strip_prefix('/')
        .ok_or_else(|| format!("match {pattern:?} must start with /"))?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<&str> = rest.split('/').collect();
    let last = raw.len() - 1;
    raw.into_iter()
        .enumerate()
        .map(|(i, segment)| match segment {
            "*" => Ok(Segment::One),
            "**" => Ok(Segment::Any),
            "" if i == last => Ok(Segment::Literal(String::new())),
            "" => Err(format!("match {pattern:?} has an empty segment")),
            "." | ".." => Err(format!("match {pattern:?} has a dot segment")),
            s if s.contains('*') => Err(format!(
                "match {pattern:?}: `*` and `**` stand for whole segments only"
            )),
            s if s.contains('%') || s.chars().any(char::is_control) => Err(format!(
                "match {pattern:?}: write segments as plain text, not percent-encoded"
            )),
            s => Ok(Segment::Literal(s.to_owned())),
        })
        .collect()
}

/// A permission's name: ours, or the operator's own (lowercase, dotted, e.g. `app.route1`).
pub fn permission_name(name: &str) -> Result<PermissionName, String> {
    if let Some(builtin) = Permission::parse(name) {
        return Ok(PermissionName::Builtin(builtin));
    }
    let valid = (3..=64).contains(&name.len())
        && name.contains('.')
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
        && !name.starts_with('.')
        && !name.ends_with('.');
    if valid {
        Ok(PermissionName::Custom(name.to_owned()))
    } else {
        Err(format!(
            "permission {name:?} is neither built in nor a name such as \"app.route1\" \
             (lowercase letters, digits, '.', '_', '-'; at least one '.')"
        ))
    }
}

fn upstream(url: &str) -> Result<String, String> {
    let parsed: http::Uri = url
        .parse()
        .map_err(|_| format!("upstream {url:?} is not a URL"))?;
    match parsed.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("upstream {url:?} must be http:// or https://")),
    }
    if parsed.authority().is_none() {
        return Err(format!("upstream {url:?} names no host"));
    }
    if parsed.query().is_some() || parsed.path().len() > 1 {
        return Err(format!(
            "upstream {url:?}: give the origin only (scheme, host, port); paths are forwarded"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests;
