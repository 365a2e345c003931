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

    fn delete(path: impl Into<String>) -> Self {
        Self {
            method: reqwest::Method::DELETE,
            path: path.into(),
            token: None,
            body: None,
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

/// One request of a user's flow, sent as a browser sends it: compression asked for
/// (`encoding`), an `origin`, the token when signed in. Returns the status and the
/// decoded JSON answer.
async fn browser_call(
    client: &reqwest::Client,
    base: &str,
    call: Call,
    encoding: &str,
    summary: &mut Summary,
) -> (u16, Value) {
    let mut request = client
        .request(call.method, format!("{base}{}", call.path))
        .header("accept-encoding", encoding)
        .header("origin", "https://blog.example");
    if let Some(token) = &call.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = &call.body {
        request = request.json(body);
    }
    let (status, body) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let coding = response
                .headers()
                .get("content-encoding")
                .map(|v| v.as_bytes().to_vec());
            let bytes = response.bytes().await.unwrap_or_default();
            let plain = retrace::content_coding::decode(
                coding.as_deref(),
                &bytes,
                retrace::content_coding::DEFAULT_DECODED_LIMIT,
            )
            .ok()
            .flatten()
            .unwrap_or_else(|| bytes.to_vec());
            (
                status,
                serde_json::from_slice(&plain).unwrap_or(Value::Null),
            )
        }
        Err(_) => (0, Value::Null),
    };
    *summary.statuses.entry(status).or_default() += 1;
    (status, body)
}

/// The password every flow user signs up with.
pub const FLOW_PASSWORD: &str = "correct horse battery staple";

/// `users` people use the service the way its web client does, side by side: all sign
/// up first; then each logs in, writes an article and edits it, reads it and their own
/// list, comments and deletes the comment, favourites and unfavourites, follows the
/// next user, reads their profile, unfollows, and deletes the article: 15 requests per
/// user, each later one using what an earlier answer gave (the token, the slug, the
/// comment's id). Every answer is asked for compressed (gzip or br by turns).
pub async fn user_flows(base: &str, users: usize, run_id: &str) -> Summary {
    let client = reqwest::Client::new();
    let username = |i: usize| format!("flow{i}-{run_id}");
    let encoding = |i: usize| if i.is_multiple_of(2) { "gzip" } else { "br" };
    let mut summaries: Vec<Summary> = Vec::new();
    let sign_ups = (0..users).map(|i| {
        let client = client.clone();
        async move {
            let mut summary = Summary::default();
            let body = json!({
                "email": format!("{}@example.com", username(i)),
                "username": username(i),
                "password": FLOW_PASSWORD,
            });
            browser_call(
                &client,
                base,
                Call::post("/users", body),
                encoding(i),
                &mut summary,
            )
            .await;
            summary
        }
    });
    summaries.extend(futures_util::future::join_all(sign_ups).await);
    let flows = (0..users).map(|i| {
        let client = client.clone();
        let next = username((i + 1) % users);
        async move {
            let mut summary = Summary::default();
            let s = &mut summary;
            let enc = encoding(i);
            let login = json!({ "email": format!("{}@example.com", username(i)), "password": FLOW_PASSWORD });
            let (_, answer) =
                browser_call(&client, base, Call::post("/users/login", login), enc, s).await;
            let Some(token) = answer["token"].as_str().map(str::to_owned) else {
                return summary;
            };
            let new = json!({
                "title": format!("Field notes {i}"),
                "body": "A first draft.",
                "tags": [TAGS[i % TAGS.len()]],
            });
            let (_, answer) =
                browser_call(&client, base, Call::post("/articles", new).signed(&token), enc, s)
                    .await;
            let Some(slug) = answer["article"]["slug"].as_str().map(str::to_owned) else {
                return summary;
            };
            let article = format!("/articles/{slug}");
            let mut edit = Call::post(&article, json!({ "body": "The second draft." }));
            edit.method = reqwest::Method::PUT;
            browser_call(&client, base, edit.signed(&token), enc, s).await;
            browser_call(&client, base, Call::get(&article), enc, s).await;
            let mine = format!("/articles?author={}", username(i));
            browser_call(&client, base, Call::get(mine), enc, s).await;
            let note = json!({ "body": format!("A note from {}", username(i)) });
            let (_, answer) = browser_call(
                &client,
                base,
                Call::post(format!("{article}/comments"), note).signed(&token),
                enc,
                s,
            )
            .await;
            browser_call(&client, base, Call::get(format!("{article}/comments")), enc, s).await;
            if let Some(id) = answer["comment"]["id"].as_i64() {
                let remove = Call::delete(format!("{article}/comments/{id}")).signed(&token);
                browser_call(&client, base, remove, enc, s).await;
            }
            let favourite = format!("{article}/favourite");
            let add = Call::post(&favourite, json!({})).signed(&token);
            browser_call(&client, base, add, enc, s).await;
            browser_call(&client, base, Call::delete(&favourite).signed(&token), enc, s).await;
            let follow = format!("/profiles/{next}/follow");
            let add = Call::post(&follow, json!({})).signed(&token);
            browser_call(&client, base, add, enc, s).await;
            let profile = Call::get(format!("/profiles/{next}")).signed(&token);
            browser_call(&client, base, profile, enc, s).await;
            browser_call(&client, base, Call::delete(&follow).signed(&token), enc, s).await;
            browser_call(&client, base, Call::delete(&article).signed(&token), enc, s).await;
            summary
        }
    });
    summaries.extend(futures_util::future::join_all(flows).await);
    let mut total = Summary::default();
    for summary in summaries {
        for (status, n) in summary.statuses {
            *total.statuses.entry(status).or_default() += n;
        }
    }
    total
}
