//! A database-backed service, recorded, then replayed with the database away.
//!
//! 1. Starts a moderation service and the blogging service (`app.rs`: axum, sqlx on
//!    PostgreSQL, reqwest 0.12) on 127.0.0.1, recording every request.
//! 2. Sends 200 mixed requests, 16 at a time (`traffic.rs`): sign-ups, log-ins, articles,
//!    comments, favourites, pages; then three users' flows of 15 requests each, as a
//!    browser sends them (compressed answers, CORS: the service sits behind both
//!    layers, outside the record layer).
//! 3. Stops the moderation service, and replays every recording in-process against a
//!    service whose pool points at a port where nothing listens: every query, every
//!    moderation call, the clock and the random slugs are answered from the recording.
//!
//! Run, with a throw-away PostgreSQL:
//!
//! ```text
//! export DATABASE_URL=$(scripts/postgres start target/pg)
//! cargo run --example sqlx_service
//! scripts/postgres stop target/pg
//! ```
//!
//! The tables live in the schema `retrace_sqlx_example`, made afresh on each run.
//! `APP_JWT_SECRET` is the token signing key (a random one per run when unset).

// In your Cargo.toml these are `reqwest = "0.12"` and `reqwest-middleware = "0.4"`;
// this repository builds two reqwest versions side by side, hence the renames.
extern crate reqwest012 as reqwest;
extern crate reqwest_middleware04 as reqwest_middleware;

mod app;
mod serve;
mod traffic;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use retrace::{Config, Recorder, Store};
use retrace_tower::RecordLayer;
use serve::{http_client, moderation, pool_with_schema, public, serve};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const SCHEMA: &str = "retrace_sqlx_example";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context(
        "DATABASE_URL is not set; start a throw-away PostgreSQL with \
         `export DATABASE_URL=$(scripts/postgres start target/pg)`",
    )?;
    let options: PgConnectOptions = url
        .parse()
        .with_context(|| format!("DATABASE_URL is not a PostgreSQL URL: {url}"))?;
    let jwt_secret = match std::env::var("APP_JWT_SECRET") {
        Ok(secret) => secret.into_bytes(),
        Err(_) => {
            println!("APP_JWT_SECRET is not set: signing tokens with a random key");
            (0..4)
                .flat_map(|_| rand::random::<u64>().to_le_bytes())
                .collect()
        }
    };

    // The schema, made afresh through sqlx directly: never recorded.
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .context("connecting to DATABASE_URL")?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .execute(&admin)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA {SCHEMA}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    let options = options.options([("search_path", SCHEMA)]);
    let pool = pool_with_schema(options).await?;

    let config = Config::builder()
        .enabled(true)
        .service("blog")
        .sample_rate(1.0)
        .with_env()
        .build()?;
    let root = config.recording_path.clone();
    let (recorder, guard) = Recorder::new(config)?;
    let session = recorder.session_dir().map(|p| p.to_path_buf());

    let (moderation_url, stop_moderation) = serve(moderation(Default::default())).await?;
    let settings = app::Settings {
        jwt_secret,
        moderation_url,
        case_insensitive_login: false,
    };
    let live = app::AppState::new(pool.clone(), http_client(), settings.clone());
    let (blog_url, stop_blog) = serve(public(
        app::router(live).layer(RecordLayer::new(recorder.clone())),
    ))
    .await?;

    let run_id = format!("{:08x}", rand::random::<u32>());
    let mut summary = traffic::drive(&blog_url, 200, 16, &run_id).await;
    for (status, n) in traffic::user_flows(&blog_url, 3, &run_id).await.statuses {
        *summary.statuses.entry(status).or_default() += n;
    }
    let _ = stop_blog.send(());
    let _ = stop_moderation.send(());
    pool.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = guard.shutdown()?;
    println!(
        "sent {} requests ({}), recorded {} ({} written, {} dropped)",
        summary.total(),
        summary
            .statuses
            .iter()
            .map(|(status, n)| format!("{n}×{status}"))
            .collect::<Vec<_>>()
            .join(", "),
        stats.started,
        stats.written,
        stats.dropped_total()
    );
    println!("the moderation service and the pool are closed; replaying with neither\n");

    // Offline: a pool at a port where nothing listens (it is never used), and a
    // moderation service that is not there.
    let offline_pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://app@127.0.0.1:9/app")?;
    let offline = app::AppState::new(
        offline_pool,
        http_client(),
        app::Settings {
            moderation_url: "http://127.0.0.1:9".to_owned(),
            ..settings
        },
    );
    let store = Store::open(&root)?;
    let recordings: Vec<_> = store
        .list()
        .recordings
        .into_iter()
        .filter(|r| Some(&r.session.dir) == session.as_ref())
        .collect();
    let mut by_route: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut queries = 0;
    let mut differing = Vec::new();
    for info in &recordings {
        let recording = store.load(info)?;
        queries += recording
            .values()
            .filter(|v| v.kind == retrace::ValueKind::Query)
            .count();
        let report = retrace_tower::replay_recording(&recording, app::router(offline.clone()))
            .await
            .or_else(retrace_tower::ReplayError::into_report)?;
        let entry = by_route.entry(route_of(&recording)).or_default();
        entry.0 += 1;
        if report.is_identical() {
            entry.1 += 1;
        } else {
            differing.push(report.describe());
        }
        entry.2 += report.calls.answered as usize;
    }
    println!(
        "{:<36} {:>10} {:>10} {:>16}",
        "route", "replayed", "identical", "calls answered"
    );
    for (route, (n, same, calls)) in &by_route {
        println!("{route:<36} {n:>10} {same:>10} {calls:>16}");
    }
    let identical: usize = by_route.values().map(|v| v.1).sum();
    println!(
        "\n{identical} of {} recordings replayed identically, their {queries} queries answered \
         from the recordings with no database",
        recordings.len()
    );
    for diff in differing.iter().take(3) {
        println!("\n{diff}");
    }
    println!(
        "next: cargo run -p retrace-cli -- ls --path {}",
        root.display()
    );
    Ok(())
}

/// `POST /articles/{slug}/comments`: the method and the path, with slugs, comment ids
/// and usernames folded.
fn route_of(recording: &retrace::Recording) -> String {
    let Some(head) = recording.request() else {
        return "?".to_owned();
    };
    let path = head.uri.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    let folded: Vec<&str> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| match (parts.get(1).copied(), i) {
            (Some("articles"), 2) => "{slug}",
            (Some("articles"), 4) => "{id}",
            (Some("profiles"), 2) => "{username}",
            _ => part,
        })
        .collect();
    format!("{} {}", head.method, folded.join("/"))
}
