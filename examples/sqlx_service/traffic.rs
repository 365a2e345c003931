//! A burst of realistic traffic for the service: sign-ups (two of them taken), log-ins
//! (two with a wrong password), articles written by signed-in users, then a mix of
//! reads, favourites, comments (some refused by moderation), pages, tag filters, a
//! missing article and a request without a token. Each phase runs `concurrency`
//! requests at a time; later phases use the tokens and slugs earlier answers gave.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use serde_json::{Value, json};

/// How many answers of each status the burst got.
#[derive(Debug, Default)]
pub struct Summary {
    /// Status code → count.
    pub statuses: BTreeMap<u16, usize>,
}

impl Summary {
    /// All answers.
    pub fn total(&self) -> usize {
        self.statuses.values().sum()
    }
}

struct Call {
    method: reqwest::Method,
    path: String,
    token: Option<String>,
    body: Option<Value>,
}

impl Call {
    fn get(path: impl Into<String>) -> Self {
        Self {
            method: reqwest::Method::GET,
            path: path.into(),
            token: None,
            body: None,
        }
    }

    fn post(path: impl Into<String>, body: Value) -> Self {
        Self {
            method: reqwest::Method::POST,
            path: path.into(),
            token: None,
            body: Some(body),
        }
    }

    fn signed(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }
}

/// Runs `calls`, `concurrency` at a time; answers in the order of `calls`.
async fn run(
    client: &reqwest::Client,
    base: &str,
    calls: Vec<Call>,
    concurrency: usize,
    summary: &mut Summary,
) -> Vec<Value> {
    let answers: Vec<(u16, Value)> = futures_util::stream::iter(calls)
        .map(|call| async move {
            let mut request = client.request(call.method, format!("{base}{}", call.path));
            if let Some(token) = &call.token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.json().await.unwrap_or(Value::Null))
                }
                Err(_) => (0, Value::Null),
            }
        })
        .buffered(concurrency)
        .collect()
        .await;
    answers
        .into_iter()
        .map(|(status, body)| {
            *summary.statuses.entry(status).or_default() += 1;
            body
        })
        .collect()
}

const TAGS: &[&str] = &["rust", "postgres", "replay", "tower", "testing", "ops"];

/// Sends `requests` requests (at least 100) to the service at `base`, `concurrency` at
/// a time. `run_id` keeps the users of one run apart from an earlier run's.
pub async fn drive(base: &str, requests: usize, concurrency: usize, run_id: &str) -> Summary {
    let client = reqwest::Client::new();
    let mut summary = Summary::default();
    let users = 16;
    let email = |i: usize| format!("writer{i}-{run_id}@example.com");
    let password = |i: usize| format!("correct horse battery {i}");

    // Sign-ups, two of them with an email already taken.
    let mut calls: Vec<Call> = (0..users)
        .map(|i| {
            Call::post(
                "/users",
                json!({ "email": email(i), "username": format!("writer{i}-{run_id}"), "password": password(i) }),
            )
        })
        .collect();
    run(&client, base, calls, concurrency, &mut summary).await;
    calls = (0..2)
        .map(|i| {
            Call::post(
                "/users",
                json!({ "email": email(i), "username": format!("again{i}-{run_id}"), "password": password(i) }),
            )
        })
        .collect();
    run(&client, base, calls, concurrency, &mut summary).await;

    // Log-ins; two with a wrong password.
    calls = (0..users)
        .map(|i| {
            Call::post(
                "/users/login",
                json!({ "email": email(i), "password": password(i) }),
            )
        })
        .chain((0..2).map(|i| {
            Call::post(
                "/users/login",
                json!({ "email": email(i), "password": "not the password" }),
            )
        }))
        .collect();
    let logins = run(&client, base, calls, concurrency, &mut summary).await;
    let tokens: Vec<String> = logins
        .iter()
        .filter_map(|answer| answer["token"].as_str().map(str::to_owned))
        .collect();
    assert!(!tokens.is_empty(), "no log-in succeeded: {logins:?}");

    // Articles, each with two tags.
    let articles = 24;
    calls = (0..articles)
        .map(|i| {
            Call::post(
                "/articles",
                json!({
                    "title": format!("Notes on replay, part {i}"),
                    "body": format!("What we learned in week {i}."),
                    "tags": [TAGS[i % TAGS.len()], TAGS[(i + 2) % TAGS.len()]],
                }),
            )
            .signed(&tokens[i % tokens.len()])
        })
        .collect();
    let created = run(&client, base, calls, concurrency, &mut summary).await;
    let slugs: Vec<String> = created
        .iter()
        .filter_map(|answer| answer["article"]["slug"].as_str().map(str::to_owned))
        .collect();
    assert!(!slugs.is_empty(), "no article was created: {created:?}");

    // The mix.
    let sent = summary.total();
    calls = (0..requests.saturating_sub(sent))
        .map(|i| {
            let slug = &slugs[i % slugs.len()];
            let token = &tokens[i % tokens.len()];
            match i % 12 {
                0 => Call::get(format!("/articles?limit=5&offset={}", i % 20)),
                1 => Call::get(format!("/articles?tag={}", TAGS[i % TAGS.len()])),
                2 => Call::get(format!("/articles?author=writer{}-{run_id}", i % users)),
                3 => Call::get(format!("/articles/{slug}")),
                4 => Call::post(format!("/articles/{slug}/favourite"), json!({})).signed(token),
                5 => Call::post(
                    format!("/articles/{slug}/comments"),
                    json!({ "body": format!("Great read, thanks ({i})") }),
                )
                .signed(token),
                6 => Call::post(
                    format!("/articles/{slug}/comments"),
                    json!({ "body": "Buy cheap SPAM here" }),
                )
                .signed(token),
                7 => Call::get(format!("/articles/{slug}/comments")),
                8 => Call::get("/tags"),
                9 => Call::get("/articles/no-such-article"),
                10 => Call::post(format!("/articles/{slug}/favourite"), json!({})),
                _ => Call::get("/articles?limit=500"),
            }
        })
        .collect();
    run(&client, base, calls, concurrency, &mut summary).await;
    summary
}
