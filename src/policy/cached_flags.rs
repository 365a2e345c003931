//! [`CachedFlags`]: a [`FlagSource`] that answers from a table of rates by route, kept
//! up to date off the request path (by [`retrace_tower::openfeature`] from an
//! OpenFeature provider, or by any task of yours). The request path reads the table
//! and never waits for a flag service: a slow or failing provider leaves the last
//! rates in force.
//!
//! [`retrace_tower::openfeature`]: https://docs.rs/retrace-tower

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::RequestView;
use super::capture::PathMatch;
use super::flags::FlagSource;
use super::routes::{RouteAction, RouteRule, RouteTable};

/// Rates by route prefix, read per request, replaced whole by [`update`](Self::update).
/// Clones share the table.
///
/// ```
/// use retrace::policy::{CachedFlags, Decision, Policy, RequestView};
///
/// let flags = CachedFlags::new();
/// let policy = Policy::builder().flags(flags.clone()).build()?;
/// flags.update([("/beta".to_owned(), 1.0)]);
/// let req = http::Request::get("/beta/page").body(())?;
/// let decision = policy.decide(&RequestView::of(&req), retrace::TraceId::random(), false);
/// assert_eq!(decision, Decision::Record(retrace::RecordReason::Flag));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct CachedFlags {
    table: Arc<ArcSwap<RouteTable>>,
}

impl CachedFlags {
    /// An empty table: no opinion on any request until the first update.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the table: each route prefix (whole segments: `/beta` covers
    /// `/beta/page`) with its rate. The longest prefix of a request's path decides.
    pub fn update(&self, rates: impl IntoIterator<Item = (String, f64)>) {
        let mut rules: Vec<RouteRule> = rates
            .into_iter()
            .filter(|(_, rate)| rate.is_finite())
            .map(|(route, rate)| RouteRule {
                method: None,
                path: PathMatch::Prefix(route),
                action: RouteAction::Rate(rate.clamp(0.0, 1.0)),
            })
            .collect();
        // The first match decides: longest prefixes first.
        rules.sort_by_key(|r| match &r.path {
            PathMatch::Prefix(p) => std::cmp::Reverse(p.len()),
            _ => std::cmp::Reverse(0),
        });
        self.table.store(Arc::new(RouteTable::new(rules)));
    }

    /// The routes and rates in force.
    pub fn rates(&self) -> Vec<(String, f64)> {
        self.table
            .load()
            .rules()
            .iter()
            .filter_map(|r| match (&r.path, r.action) {
                (PathMatch::Prefix(p), RouteAction::Rate(x)) => Some((p.clone(), x)),
                _ => None,
            })
            .collect()
    }
}

impl FlagSource for CachedFlags {
    fn rate(&self, request: &RequestView<'_>) -> Option<f64> {
        match self.table.load().lookup(request.method, request.uri.path()) {
            Some(RouteAction::Rate(r)) => Some(r),
            _ => None,
        }
    }
}
