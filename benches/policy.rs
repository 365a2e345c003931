//! What deciding costs a request that is not recorded (issue 19's target: under
//! 150 ns with 10 active captures and 50 route rules).
//!
//! - `decide/sampled_out/bare`: a policy sampling 1%, nothing else.
//! - `decide/sampled_out/10_captures_50_routes`: the same with 10 active captures
//!   (on other routes, so none matches) and 50 route rules (exact, prefix and glob,
//!   none for this request's path but prefixes of it), as a busy service might have.
//! - `decide/sampled_out/50_routes`: the route rules alone.
//!
//! The request is `GET /api/v2/catalog/items/42` with a `traceparent` and a handful of
//! headers; its trace id is one the 1% sampler leaves out.
//!
//! Run: `cargo bench --bench policy`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Method, Request};
use retrace::TraceId;
use retrace::policy::{
    CaptureSpec, Decision, PathMatch, Policy, RequestView, RouteAction, RouteRule,
};

fn request() -> Request<()> {
    Request::builder()
        .method(Method::GET)
        .uri("/api/v2/catalog/items/42?expand=price")
        .header("host", "shop.internal")
        .header("user-agent", "bench/1.0")
        .header("accept", "application/json")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-tenant", "7")
        .body(())
        .expect("a valid request")
}

/// A trace id the 1% ratio sampler does not choose.
fn sampled_out() -> TraceId {
    loop {
        let t = TraceId::random();
        if (t.low_u64() >> 1) > (1u64 << 62) {
            return t;
        }
    }
}

fn fifty_routes() -> Vec<RouteRule> {
    let mut rules = vec![
        RouteRule {
            method: None,
            path: PathMatch::Exact("/health".into()),
            action: RouteAction::Never,
        },
        RouteRule {
            method: None,
            path: PathMatch::Prefix("/metrics".into()),
            action: RouteAction::Never,
        },
    ];
    for i in 0..40 {
        rules.push(RouteRule {
            method: Some(Method::POST),
            path: PathMatch::Prefix(format!("/api/v2/orders-{i}")),
            action: RouteAction::Rate(0.5),
        });
    }
    for i in 0..6 {
        rules.push(RouteRule {
            method: None,
            path: PathMatch::Exact(format!("/api/v1/legacy/{i}")),
            action: RouteAction::Rate(0.0),
        });
    }
    rules.push(RouteRule {
        method: None,
        path: PathMatch::Glob("/tenants/*/admin/**".into()),
        action: RouteAction::Never,
    });
    rules.push(RouteRule {
        method: None,
        path: PathMatch::Glob("/internal/**".into()),
        action: RouteAction::Never,
    });
    rules
}

fn decide(c: &mut Criterion) {
    let req = request();
    let trace = sampled_out();
    let mut g = c.benchmark_group("decide/sampled_out");

    let bare = Policy::builder().sample_rate(0.01).build().expect("policy");
    assert_eq!(
        bare.decide(&RequestView::of(&req), trace, true),
        Decision::Skip
    );
    g.bench_function("bare", |b| {
        b.iter(|| black_box(bare.decide(&RequestView::of(black_box(&req)), trace, true)))
    });

    let busy = Policy::builder()
        .sample_rate(0.01)
        .routes(fifty_routes())
        .build()
        .expect("policy");
    for i in 0..10 {
        busy.start_capture(
            CaptureSpec::new(Duration::from_secs(3600))
                .method(Method::POST)
                .path(PathMatch::Prefix(format!("/checkout/{i}")))
                .max_recordings(1000),
        )
        .expect("capture");
    }
    assert_eq!(busy.active_captures(), 10);
    assert_eq!(
        busy.decide(&RequestView::of(&req), trace, true),
        Decision::Skip
    );
    g.bench_function("10_captures_50_routes", |b| {
        b.iter(|| black_box(busy.decide(&RequestView::of(black_box(&req)), trace, true)))
    });
    let routes_only = Policy::builder()
        .sample_rate(0.01)
        .routes(fifty_routes())
        .build()
        .expect("policy");
    g.bench_function("50_routes", |b| {
        b.iter(|| black_box(routes_only.decide(&RequestView::of(black_box(&req)), trace, true)))
    });
    g.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
