//! The PostgreSQL example (`examples/sqlx_service`) replayed as traffic: three users'
//! flows (45 requests: sign-up, log-in, create, update and delete articles, comments,
//! favourites, follows) recorded at 100% with secrets pseudonymised, through
//! compression and CORS layers, against a real PostgreSQL and a real moderation
//! service; then `retrace replay --target` sends them to a fresh instance (another
//! JWT key) on a fresh database, with concurrency 8 and the one flag that gives the
//! replay password. Every recording must match, and no credential is stored in the
//! clear.

extern crate reqwest012 as reqwest;
extern crate reqwest_middleware04 as reqwest_middleware;

#[path = "../../examples/sqlx_service/app.rs"]
mod app;
#[path = "../../examples/sqlx_service/serve.rs"]
#[allow(dead_code)]
mod serve;
mod support;
#[path = "../../examples/sqlx_service/traffic.rs"]
#[allow(dead_code)]
mod traffic;

use retrace::{Config, Recorder, Redaction, RedactionMode};
use retrace_tower::RecordLayer;
use serde_json::Value;
use serve::{http_client, moderation, pool_with_schema, public, serve};
use support::Root;

/// An instance of the example on a fresh database, recorded into `record` if given;
/// returns its URL. It runs until the runtime ends.
async fn instance(jwt_secret: &[u8], record: Option<RecordLayer>) -> String {
    let url = retrace_test_services::fresh_database("sqlx_flow");
    let pool = pool_with_schema(url.parse().expect("a PostgreSQL URL"))
        .await
        .expect("connects, tables made");
    let (moderation_url, stop_moderation) = serve(moderation(Default::default()))
        .await
        .expect("moderation");
    std::mem::forget(stop_moderation);
    let settings = app::Settings {
        jwt_secret: jwt_secret.to_vec(),
        moderation_url,
        case_insensitive_login: false,
    };
    let routes = app::router(app::AppState::new(pool, http_client(), settings));
    let routes = match record {
        Some(layer) => routes.layer(layer),
        None => routes,
    };
    let (url, stop) = serve(public(routes)).await.expect("the service");
    std::mem::forget(stop);
    url
}

#[test]
fn the_database_example_replays_as_traffic_against_a_fresh_instance() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let root = Root::new();

    let redaction = Redaction::builder()
        .mode(RedactionMode::Pseudonymise)
        .key([9; 32])
        .build()
        .expect("redaction");
    let config = Config::builder()
        .enabled(true)
        .service("blog")
        .sample_rate(1.0)
        .recording_path(root.path())
        .redaction(redaction)
        .build()
        .expect("config");
    let (recorder, guard) = Recorder::new(config).expect("recorder");
    let layer = RecordLayer::new(recorder);
    let recorded = rt.block_on(async {
        let url = instance(b"the production key, 32 bytes ok!", Some(layer)).await;
        traffic::user_flows(&url, 3, "r").await
    });
    assert_eq!(recorded.total(), 45, "{recorded:?}");
    assert!(
        recorded.statuses.keys().all(|s| (200..300).contains(s)),
        "{recorded:?}"
    );
    guard.shutdown().expect("shut down");

    // No credential in the clear: neither the password nor a token (JWTs start eyJ).
    let bytes = retrace::Store::open(root.path())
        .unwrap()
        .plain_bytes()
        .unwrap();
    let stored = String::from_utf8_lossy(&bytes);
    assert!(!stored.contains(traffic::FLOW_PASSWORD), "the password");
    assert!(!stored.contains("eyJ"), "a token");

    // A fresh instance: another database, another signing key.
    let target = rt.block_on(instance(b"a staging key, also 32 bytes ok!", None));
    let password_flag = "POST /users/** $.password=@env:FLOW_PASSWORD";
    let env = [("FLOW_PASSWORD", traffic::FLOW_PASSWORD)];
    let args = [
        "replay",
        "--target",
        &target,
        "--asap",
        "--concurrency",
        "8",
        "--set-json",
        password_flag,
    ];
    let run = root.retrace_env(&args, &env);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("45 matched, 0 mismatched, 0 errors"),
        "{}",
        run.stdout
    );
    for expected in [
        // Each user's token, into the 10 signed-in requests after log-in.
        "body $.token of ",
        "-> 10 uses: header authorization (10)",
        // Each article's slug (made with `retrace::random()`), into 8 paths.
        "body $.article.slug of ",
        "(POST /articles) -> 8 uses: path segment 1 (8)",
        // Each comment's id, into the path that deletes it.
        "body $.comment.id of ",
        "/comments) -> 1 use: path segment 3",
        // Following the next user ties the three users into one flow.
        "flows: 1 (each in recorded order); chained values put in: 57",
        "body $.expires  [learned: a time read from the recorded clock (3 answers)]",
        "POST /users/** $.password=@env:FLOW_PASSWORD  (6 requests)",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing {expected:?} in\n{}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains(traffic::FLOW_PASSWORD));

    // The same replay in JSON, to a third instance: the counts a script reads.
    let third = rt.block_on(instance(b"a third key, thirty-two bytes ok", None));
    let mut args = args.to_vec();
    args[2] = &third;
    args.push("--json");
    let run = root.retrace_env(&args, &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(summary["matched"], 45, "{summary}");
    assert_eq!(summary["chain_missing"], 0);
    drop(rt);
}
