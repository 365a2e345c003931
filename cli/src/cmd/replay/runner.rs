//! Sending: a tokio runtime inside the binary, hyper-util's pooled HTTP/1 client, and
//! a loop that sleeps until each scheduled offset, waits for one of `--concurrency`
//! slots and hands the request to a task. Answers are counted as they arrive (the
//! progress bar reads the counts); nothing is sent once the duration bound has passed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use indicatif::ProgressBar;
use retrace::Redaction;
use retrace::diff::NoiseRules;
use tokio::runtime::Runtime;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::compare::compare;
use super::report::{Outcome, Tally};
use super::request::{Prepared, Target};
use super::schedule::Schedule;
use crate::exit::{Status, fail};

/// How long connecting may take, in the reachability check and for each connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What to send and how.
pub(crate) struct Plan {
    /// The recordings, in selection order.
    pub(crate) prepared: Arc<Vec<Prepared>>,
    /// When to send which.
    pub(crate) schedule: Schedule,
    /// The most requests in flight.
    pub(crate) concurrency: usize,
    /// How long one request may take, answer body included.
    pub(crate) timeout: Duration,
    /// Nothing is sent after this long.
    pub(crate) bound: Option<Duration>,
    /// What the comparison ignores.
    pub(crate) noise: NoiseRules,
}

/// The runtime the replay runs on.
pub(crate) struct Runner {
    runtime: Runtime,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// An error and its causes on one line: `tcp connect error: Connection refused`.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut cause = Some(err);
    while let Some(e) = cause {
        let text = e.to_string();
        // hyper-util's outer error only names its kind; the causes say what happened.
        if !(text.starts_with("client error (") && e.source().is_some()) {
            parts.push(text);
        }
        cause = e.source();
    }
    parts.join(": ")
}

impl Runner {
    /// Starts the runtime.
    pub(crate) fn new() -> anyhow::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?;
        Ok(Self { runtime })
    }

    /// Fails with [`Status::Unreachable`] unless a TCP connection to the target opens.
    pub(crate) fn check_reachable(&self, target: &Target) -> anyhow::Result<()> {
        let (host, port) = target.host_port();
        self.runtime.block_on(async {
            let connect = tokio::net::TcpStream::connect((host.as_str(), port));
            let reason = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no connection within {}s", CONNECT_TIMEOUT.as_secs()),
            };
            Err(fail(
                Status::Unreachable,
                format!("cannot reach the target {target}: {reason}"),
            ))
        })
    }

    /// Sends everything `plan` schedules and counts the answers, showing the counts on
    /// `bar`.
    pub(crate) fn run(&self, plan: Plan, bar: &ProgressBar) -> Tally {
        self.runtime.block_on(drive(plan, bar))
    }
}

fn client(concurrency: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build(connector)
}

/// Shared by the sending tasks.
struct Shared {
    client: HttpClient,
    prepared: Arc<Vec<Prepared>>,
    redaction: Redaction,
    noise: NoiseRules,
    timeout: Duration,
}

async fn drive(plan: Plan, bar: &ProgressBar) -> Tally {
    let Plan {
        prepared,
        schedule,
        concurrency,
        timeout,
        bound,
        noise,
    } = plan;
    let mut tally = Tally::new(prepared.len());
    let shared = Arc::new(Shared {
        client: client(concurrency),
        prepared,
        redaction: Redaction::default(),
        noise,
        timeout,
    });
    let slots = Arc::new(Semaphore::new(concurrency));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(usize, Outcome)>();
    let start = Instant::now();
    let deadline = bound.map(|b| start + b);
    let past_deadline = move || deadline.is_some_and(|d| Instant::now() >= d);

    let sending = async move {
        for send in schedule {
            if let Some(at) = send.at {
                tokio::time::sleep_until(start + at).await;
            }
            if past_deadline() {
                break;
            }
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            if past_deadline() {
                break;
            }
            let (shared, done) = (Arc::clone(&shared), done_tx.clone());
            tokio::spawn(async move {
                let outcome = send_one(&shared, send.recording).await;
                drop(slot);
                let _ = done.send((send.recording, outcome));
            });
        }
        // The receiver ends once every task has sent its outcome.
        drop(done_tx);
    };
    let counting = async {
        while let Some((recording, outcome)) = done_rx.recv().await {
            tally.add(recording, outcome);
            bar.inc(1);
            bar.set_message(tally.progress_message());
        }
    };
    tokio::join!(sending, counting);
    tally.elapsed = start.elapsed();
    tally
}

async fn send_one(shared: &Shared, recording: usize) -> Outcome {
    let prepared = &shared.prepared[recording];
    let exchange = async {
        let response = shared
            .client
            .request(prepared.request())
            .await
            .map_err(|e| describe(&e))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading the answer's body: {}", describe(&e)))?
            .to_bytes();
        Ok::<_, String>((parts, body))
    };
    match tokio::time::timeout(shared.timeout, exchange).await {
        Err(_) => Outcome::Failed(format!(
            "no answer within {}",
            humantime::format_duration(shared.timeout)
        )),
        Ok(Err(error)) => Outcome::Failed(error),
        Ok(Ok((parts, body))) => {
            match compare(
                prepared,
                parts.status.as_u16(),
                &parts.headers,
                body,
                &shared.redaction,
                &shared.noise,
            ) {
                Ok(diff) if diff.is_empty() => Outcome::Matched,
                Ok(diff) => Outcome::Mismatched(diff),
                Err(error) => Outcome::Failed(error),
            }
        }
    }
}
