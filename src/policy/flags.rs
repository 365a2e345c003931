//! [`FlagSource`]: a feature-flag system deciding per request, like Sentry's
//! `traces_sampler`: asked with the request head, it returns a rate.

use super::RequestView;

/// Asked for each request the earlier sources did not decide: return a rate from 0 to
/// 1 to record that share of matching requests (chosen by trace id, so deterministic),
/// or `None` to leave the decision to the later sources.
///
/// Implemented for closures:
/// ```
/// use retrace::policy::{FlagSource, RequestView};
/// let beta = |req: &RequestView<'_>| req.uri.path().starts_with("/beta/").then_some(1.0);
/// # fn takes(_: impl FlagSource) {}
/// takes(beta);
/// ```
pub trait FlagSource: Send + Sync + 'static {
    /// The rate for this request, or `None`.
    fn rate(&self, request: &RequestView<'_>) -> Option<f64>;
}

impl<F> FlagSource for F
where
    F: Fn(&RequestView<'_>) -> Option<f64> + Send + Sync + 'static,
{
    fn rate(&self, request: &RequestView<'_>) -> Option<f64> {
        self(request)
    }
}

/// No flag source: never has an opinion.
impl FlagSource for () {
    fn rate(&self, _: &RequestView<'_>) -> Option<f64> {
        None
    }
}
