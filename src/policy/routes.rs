//! Route rules: per route, never record (`/health`) or record at a rate of its own
//! (`/checkout` at 50% while the service samples 1%).
//!
//! Rules are tried in order and the first that matches decides. Every request is
//! looked up, sampled out or not, so the table is indexed: exact paths and path
//! prefixes by hash (a path of four segments costs five lookups, however many rules
//! there are), only glob rules one by one.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use http::Method;

use super::capture::PathMatch;

/// What a route rule does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RouteAction {
    /// Never record these requests: no sampling, trigger, window or capture records
    /// them.
    Never,
    /// Sample these requests at this rate instead of the service's.
    Rate(f64),
}

/// One route rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteRule {
    /// Only requests with this method.
    pub method: Option<Method>,
    /// Which paths. A [`PathMatch::Prefix`] here, as everywhere, matches whole
    /// segments: `/checkout` matches `/checkout` and `/checkout/42`, not `/checkouts`.
    pub path: PathMatch,
    /// What to do with them.
    pub action: RouteAction,
}

/// Route rules, indexed for lookup.
///
/// ```
/// use retrace::policy::{PathMatch, RouteAction, RouteRule, RouteTable};
///
/// let table = RouteTable::new(vec![
///     RouteRule { method: None, path: PathMatch::Exact("/health".into()), action: RouteAction::Never },
///     RouteRule { method: None, path: PathMatch::Prefix("/checkout".into()), action: RouteAction::Rate(0.5) },
/// ]);
/// assert_eq!(table.lookup(&http::Method::GET, "/health"), Some(RouteAction::Never));
/// assert_eq!(table.lookup(&http::Method::POST, "/checkout/42"), Some(RouteAction::Rate(0.5)));
/// assert_eq!(table.lookup(&http::Method::POST, "/checkouts"), None);
/// ```
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    rules: Vec<RouteRule>,
    /// Rule indexes by exact path.
    exact: HashMap<String, Vec<usize>, RandomState>,
    /// Rule indexes by prefix (without a trailing `/`).
    prefix: HashMap<String, Vec<usize>, RandomState>,
    /// Bit `n` set: some prefix is `n` bytes long (bit 63: 63 or more), so most of a
    /// path's prefixes are never hashed.
    prefix_lengths: u64,
    /// Globs that start with a literal segment (`/tenants/*/…`), by that segment.
    globs: HashMap<String, Vec<usize>, RandomState>,
    /// Rules matched one by one (globs that start with a wildcard, every path).
    scanned: Vec<usize>,
    /// Whether some rule records at a rate above 0.
    records: bool,
}

impl RouteTable {
    /// A table of these rules, tried in this order.
    pub fn new(rules: Vec<RouteRule>) -> Self {
        let mut table = Self {
            records: rules
                .iter()
                .any(|r| matches!(r.action, RouteAction::Rate(x) if x > 0.0)),
            ..Self::default()
        };
        for (i, rule) in rules.iter().enumerate() {
            match &rule.path {
                PathMatch::Exact(p) => table.exact.entry(p.clone()).or_default().push(i),
                PathMatch::Prefix(p) => {
                    let key = p.strip_suffix('/').unwrap_or(p);
                    table.prefix_lengths |= length_bit(key.len());
                    table.prefix.entry(key.to_owned()).or_default().push(i);
                }
                PathMatch::Glob(g) => match first_segment(g).filter(|s| *s != "*" && *s != "**") {
                    Some(literal) => table.globs.entry(literal.to_owned()).or_default().push(i),
                    None => table.scanned.push(i),
                },
                PathMatch::Any => table.scanned.push(i),
            }
        }
        table.rules = rules;
        table
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[RouteRule] {
        &self.rules
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some rule samples at a rate above 0 (so a request may be recorded even
    /// when the service's own rate is 0).
    pub fn may_record(&self) -> bool {
        self.records
    }

    /// What the first matching rule says about this request, if any matches.
    pub fn lookup(&self, method: &Method, path: &str) -> Option<RouteAction> {
        if self.rules.is_empty() {
            return None;
        }
        let mut best: Option<usize> = None;
        let mut consider = |candidates: &[usize]| {
            for &i in candidates {
                if best.is_some_and(|b| b <= i) {
                    break;
                }
                let rule = &self.rules[i];
                if rule.method.as_ref().is_none_or(|m| m == method) && rule.path.matches(path) {
                    best = Some(i);
                    break;
                }
            }
        };
        if let Some(c) = self.exact.get(path) {
            consider(c);
        }
        if !self.prefix.is_empty() {
            // Every prefix of whole segments: `/a/b/c` looks up `/a`, `/a/b`, `/a/b/c`
            // (and `` for a prefix of `/`).
            let mut lookup = |key: &str| {
                if self.prefix_lengths & length_bit(key.len()) != 0
                    && let Some(c) = self.prefix.get(key)
                {
                    consider(c);
                }
            };
            for (i, b) in path.bytes().enumerate() {
                if b == b'/' {
                    lookup(&path[..i]);
                }
            }
            lookup(path);
        }
        if !self.globs.is_empty()
            && let Some(c) = first_segment(path).and_then(|first| self.globs.get(first))
        {
            consider(c);
        }
        consider(&self.scanned);
        best.map(|i| self.rules[i].action)
    }
}

/// The first segment of an absolute path or glob (`tenants` in `/tenants/*/x`).
fn first_segment(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    Some(rest.split('/').next().unwrap_or(rest))
}

fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: PathMatch, action: RouteAction) -> RouteRule {
        RouteRule {
            method: None,
            path,
            action,
        }
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let table = RouteTable::new(vec![
            rule(
                PathMatch::Glob("/orders/*/refund".into()),
                RouteAction::Never,
            ),
            rule(PathMatch::Prefix("/orders".into()), RouteAction::Rate(0.25)),
            rule(
                PathMatch::Exact("/orders/7/refund".into()),
                RouteAction::Rate(1.0),
            ),
            RouteRule {
                method: Some(Method::POST),
                path: PathMatch::Prefix("/".into()),
                action: RouteAction::Rate(0.1),
            },
        ]);
        let get = |p: &str| table.lookup(&Method::GET, p);
        assert_eq!(get("/orders/7/refund"), Some(RouteAction::Never));
        assert_eq!(get("/orders/7"), Some(RouteAction::Rate(0.25)));
        assert_eq!(get("/orders"), Some(RouteAction::Rate(0.25)));
        assert_eq!(get("/ordersx"), None);
        assert_eq!(get("/catalog"), None);
        assert_eq!(
            table.lookup(&Method::POST, "/catalog"),
            Some(RouteAction::Rate(0.1))
        );
        assert!(table.may_record());
        let globs = RouteTable::new(vec![
            rule(PathMatch::Glob("/**/admin".into()), RouteAction::Never),
            rule(
                PathMatch::Glob("/tenants/*/orders".into()),
                RouteAction::Rate(1.0),
            ),
        ]);
        assert_eq!(
            globs.lookup(&Method::GET, "/x/y/admin"),
            Some(RouteAction::Never)
        );
        assert_eq!(
            globs.lookup(&Method::GET, "/tenants/admin"),
            Some(RouteAction::Never)
        );
        assert_eq!(
            globs.lookup(&Method::GET, "/tenants/7/orders"),
            Some(RouteAction::Rate(1.0))
        );
        assert_eq!(globs.lookup(&Method::GET, "/tenant/7/orders"), None);
    }
}
