//! The OpenFeature adapter with a real OpenFeature client and a provider of our own:
//! the policy answers from the cached rates while the provider is stuck, a refresh
//! brings a change in, and a failing evaluation keeps the route's last rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Request;
use open_feature::provider::{FeatureProvider, ProviderMetadata, ResolutionDetails};
use open_feature::{
    EvaluationContext, EvaluationError, EvaluationErrorCode, EvaluationResult, OpenFeature,
    StructValue, async_trait,
};
use retrace::policy::{CachedFlags, Decision, Policy, RequestView};
use retrace::{RecordReason, TraceId};
use retrace_tower::openfeature::OpenFeatureFlags;
use tokio::sync::Semaphore;

/// Rates by targeting key; an evaluation waits for a permit of `gate` when it is set.
struct RatesProvider {
    metadata: ProviderMetadata,
    rates: Arc<Mutex<HashMap<String, f64>>>,
    gate: Arc<Semaphore>,
}

fn unsupported<T>() -> EvaluationResult<ResolutionDetails<T>> {
    Err(EvaluationError {
        code: EvaluationErrorCode::TypeMismatch,
        message: Some("only floats here".to_owned()),
    })
}

#[async_trait]
impl FeatureProvider for RatesProvider {
    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_float_value(
        &self,
        _flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        let _permit = self.gate.acquire().await.expect("the gate stays open");
        let route = context.targeting_key.clone().unwrap_or_default();
        match self.rates.lock().unwrap().get(&route) {
            Some(rate) => Ok(ResolutionDetails::new(*rate)),
            None => Err(EvaluationError {
                code: EvaluationErrorCode::FlagNotFound,
                message: Some(format!("no rate for {route}")),
            }),
        }
    }

    async fn resolve_bool_value(
        &self,
        _: &str,
        _: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        unsupported()
    }
    async fn resolve_int_value(
        &self,
        _: &str,
        _: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        unsupported()
    }
    async fn resolve_string_value(
        &self,
        _: &str,
        _: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        unsupported()
    }
    async fn resolve_struct_value(
        &self,
        _: &str,
        _: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        unsupported()
    }
}

fn decide(policy: &Policy, path: &str) -> Decision {
    let req = Request::get(path).body(()).unwrap();
    policy.decide(&RequestView::of(&req), TraceId::random(), false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_path_answers_from_the_cache_while_the_provider_is_stuck() {
    let rates = Arc::new(Mutex::new(HashMap::from([
        ("/beta".to_owned(), 1.0),
        ("/checkout".to_owned(), 0.0),
    ])));
    let gate = Arc::new(Semaphore::new(1_000));
    let mut api = OpenFeature::default();
    api.set_provider(RatesProvider {
        metadata: ProviderMetadata::new("rates"),
        rates: rates.clone(),
        gate: gate.clone(),
    })
    .await;
    let adapter = Arc::new(
        OpenFeatureFlags::new(api.create_client(), "retrace.record-rate").routes([
            "/beta",
            "/checkout",
            "/missing",
        ]),
    );
    let flags = CachedFlags::new();
    let policy = Policy::builder().flags(flags.clone()).build().unwrap();
    assert_eq!(
        decide(&policy, "/beta/page"),
        Decision::Skip,
        "no opinion before a refresh"
    );

    let report = adapter.refresh(&flags).await;
    assert_eq!(report.evaluated, 2);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "/missing");
    assert!(
        report.failed[0].1.contains("no rate for /missing"),
        "{:?}",
        report.failed
    );
    assert_eq!(
        decide(&policy, "/beta/page"),
        Decision::Record(RecordReason::Flag)
    );
    assert_eq!(decide(&policy, "/checkout/1"), Decision::Skip);

    // The provider gets stuck mid-refresh, with a new rate for /beta waiting.
    rates.lock().unwrap().insert("/beta".to_owned(), 0.0);
    let permits = gate.available_permits() as u32;
    let held = gate.clone().acquire_many_owned(permits).await.unwrap();
    let refreshing = tokio::spawn({
        let (adapter, flags) = (adapter.clone(), flags.clone());
        async move { adapter.refresh(&flags).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    for _ in 0..1_000 {
        assert_eq!(
            decide(&policy, "/beta/page"),
            Decision::Record(RecordReason::Flag)
        );
    }
    assert!(
        !refreshing.is_finished(),
        "the refresh waits for the provider"
    );
    eprintln!(
        "1000 decisions while the provider was stuck took {:?}",
        started.elapsed()
    );

    // Released: the new rate is in force.
    drop(held);
    let report = refreshing.await.unwrap();
    assert_eq!(report.evaluated, 2);
    assert_eq!(decide(&policy, "/beta/page"), Decision::Skip);

    // A route whose evaluation fails keeps its last rate.
    rates.lock().unwrap().insert("/beta".to_owned(), 1.0);
    adapter.refresh(&flags).await;
    rates.lock().unwrap().remove("/beta");
    let report = adapter.refresh(&flags).await;
    assert_eq!(
        report
            .failed
            .iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>(),
        ["/beta", "/missing"]
    );
    assert_eq!(
        decide(&policy, "/beta/page"),
        Decision::Record(RecordReason::Flag)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_adapter_brings_changes_in_by_itself() {
    let rates = Arc::new(Mutex::new(HashMap::from([("/beta".to_owned(), 0.0)])));
    let mut api = OpenFeature::default();
    api.set_provider(RatesProvider {
        metadata: ProviderMetadata::new("rates"),
        rates: rates.clone(),
        gate: Arc::new(Semaphore::new(1_000)),
    })
    .await;
    let flags = CachedFlags::new();
    let policy = Policy::builder().flags(flags.clone()).build().unwrap();
    let task = OpenFeatureFlags::new(api.create_client(), "retrace.record-rate")
        .routes(["/beta"])
        .every(Duration::from_millis(20))
        .spawn(flags.clone());
    rates.lock().unwrap().insert("/beta".to_owned(), 1.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while decide(&policy, "/beta/x") == Decision::Skip && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        decide(&policy, "/beta/x"),
        Decision::Record(RecordReason::Flag)
    );
    assert_eq!(flags.rates(), [("/beta".to_owned(), 1.0)]);
    task.abort();
}
