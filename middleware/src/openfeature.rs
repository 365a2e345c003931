//! An OpenFeature provider as the recording policy's flag source, evaluated off the
//! request path.
//!
//! OpenFeature evaluations are `async` and may call a remote flag service; the request
//! path must never wait for one. So a task evaluates one float flag (the share of a
//! route's requests to record) for each route you name, every few seconds, and stores
//! the rates in a [`CachedFlags`] table that the policy reads per request. A slow
//! provider delays only the refresh; a failing one leaves the route's last rate in
//! force (and is logged).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use retrace::policy::{CachedFlags, Policy};
//! use retrace_tower::openfeature::OpenFeatureFlags;
//!
//! let client = open_feature::OpenFeature::singleton().await.create_client();
//! let flags = CachedFlags::new();
//! let policy = Policy::builder().flags(flags.clone()).build()?;
//! // "retrace.record-rate" evaluated for each route every 10 s, targeting key = route.
//! OpenFeatureFlags::new(client, "retrace.record-rate")
//!     .routes(["/checkout", "/search"])
//!     .every(Duration::from_secs(10))
//!     .spawn(flags);
//! # drop(policy); Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use open_feature::{Client, EvaluationContext};
use retrace::policy::CachedFlags;

/// Evaluates a float flag per route and keeps a [`CachedFlags`] table current.
pub struct OpenFeatureFlags {
    client: Client,
    flag_key: String,
    routes: Vec<String>,
    every: Duration,
}

impl std::fmt::Debug for OpenFeatureFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFeatureFlags")
            .field("flag_key", &self.flag_key)
            .field("routes", &self.routes)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// What one refresh did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Refresh {
    /// Routes whose rate was evaluated.
    pub evaluated: usize,
    /// Routes whose evaluation failed (their last rate stays), with the error.
    pub failed: Vec<(String, String)>,
}

impl OpenFeatureFlags {
    /// Evaluates `flag_key` with `client`; no route yet, every 10 seconds.
    pub fn new(client: Client, flag_key: impl Into<String>) -> Self {
        Self {
            client,
            flag_key: flag_key.into(),
            routes: Vec::new(),
            every: Duration::from_secs(10),
        }
    }

    /// The routes (path prefixes) to evaluate the flag for; each is the evaluation's
    /// targeting key and its `route` field.
    pub fn routes(mut self, routes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.routes = routes.into_iter().map(Into::into).collect();
        self
    }

    /// How often the flag is evaluated again.
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Evaluates every route once and updates `flags`; a route whose evaluation fails
    /// keeps its last rate.
    pub async fn refresh(&self, flags: &CachedFlags) -> Refresh {
        let mut rates: HashMap<String, f64> = flags.rates().into_iter().collect();
        let mut report = Refresh::default();
        for route in &self.routes {
            let context = EvaluationContext::default()
                .with_targeting_key(route.clone())
                .with_custom_field("route", route.clone());
            match self
                .client
                .get_float_value(&self.flag_key, Some(&context), None)
                .await
            {
                Ok(rate) => {
                    rates.insert(route.clone(), rate);
                    report.evaluated += 1;
                }
                Err(e) => {
                    let error = format!("{:?}: {}", e.code, e.message.as_deref().unwrap_or(""));
                    tracing::warn!(
                        flag = %self.flag_key,
                        %route,
                        "retrace: the flag could not be evaluated ({error}); its last rate stays"
                    );
                    report.failed.push((route.clone(), error));
                }
            }
        }
        flags.update(rates);
        report
    }

    /// Refreshes now and then every [`every`](Self::every), on a tokio task, until the
    /// task is aborted.
    pub fn spawn(self, flags: CachedFlags) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                self.refresh(&flags).await;
                tokio::time::sleep(self.every).await;
            }
        })
    }
}
