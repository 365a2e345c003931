//! Sending: a tokio runtime inside the binary, hyper-util's pooled HTTP/1 client, and
//! a loop that sleeps until each scheduled offset, waits for one of `--concurrency`
//! slots and hands the request to a task. Answers are counted as they arrive (the
//! progress bar reads the counts); nothing is sent once the duration bound has passed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use indicatif::ProgressBar;
use parking_lot::Mutex;
use retrace::Redaction;
use retrace::content_coding::{DEFAULT_DECODED_LIMIT, decode};
use retrace::diff::{NoiseRules, ResponseView, comparable_answer};
use retrace::replay::ReplayedAnswer;
use tokio::runtime::Runtime;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::chain::Chain;
use super::compare::compare;
use super::exchange::{Scalar, Spot, answer_value, answer_values, identity};
use super::flow::Flows;
use super::report::{Outcome, Sent, Tally};
use super::request::{Prepared, Target};
use super::schedule::{Schedule, Send};
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
    /// Values carried from answers into later requests.
    pub(crate) chains: Vec<Chain>,
    /// For each recording, the places in its answer where the target makes a value.
    pub(crate) made: Vec<Vec<Spot>>,
    /// Which request waits for which.
    pub(crate) flows: Flows,
    /// Send safe requests twice and learn noise from the two answers.
    pub(crate) learn_noise: bool,
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
    chains: Vec<Chain>,
    /// For each recording, the chains it uses: (chain, place).
    uses: Vec<Vec<(usize, Spot)>>,
    /// For each recording, the chains whose value its answer gives.
    gives: Vec<Vec<usize>>,
    /// Each chain's latest live value.
    live: Mutex<Vec<Option<Scalar>>>,
    /// For each recording, the places in its answer where the target makes a value.
    made: Vec<Vec<Spot>>,
    /// Each value the target made: its recorded key and its live value.
    made_values: Mutex<HashMap<String, Scalar>>,
    flows: Flows,
    /// For each recording, how many of its sends have ended.
    ended: Vec<watch::Sender<u64>>,
    learn_noise: bool,
}

/// Counts a send as ended when dropped, whatever happened to it, so the requests that
/// wait for it go on.
struct Ended<'a>(&'a watch::Sender<u64>);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n += 1);
    }
}

async fn drive(plan: Plan, bar: &ProgressBar) -> Tally {
    let Plan {
        prepared,
        schedule,
        concurrency,
        timeout,
        bound,
        noise,
        chains,
        made,
        flows,
        learn_noise,
    } = plan;
    let mut tally = Tally::new(prepared.len());
    let mut uses = vec![Vec::new(); prepared.len()];
    let mut gives = vec![Vec::new(); prepared.len()];
    for (c, chain) in chains.iter().enumerate() {
        gives[chain.producer].push(c);
        for (consumer, spot) in &chain.uses {
            uses[*consumer].push((c, spot.clone()));
        }
    }
    let prepared_for_tally = Arc::clone(&prepared);
    let shared = Arc::new(Shared {
        client: client(concurrency),
        redaction: Redaction::default(),
        noise,
        timeout,
        live: Mutex::new(vec![None; chains.len()]),
        made,
        made_values: Mutex::new(HashMap::new()),
        chains,
        uses,
        gives,
        flows,
        ended: (0..prepared.len()).map(|_| watch::channel(0).0).collect(),
        learn_noise,
        prepared,
    });
    let slots = Arc::new(Semaphore::new(concurrency));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(usize, Sent)>();
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
                let sent = send_one(&shared, send).await;
                drop(slot);
                let _ = done.send((send.recording, sent));
            });
        }
        // The receiver ends once every task has sent its outcome.
        drop(done_tx);
    };
    let counting = async {
        while let Some((recording, sent)) = done_rx.recv().await {
            tally.add(recording, &prepared_for_tally[recording], sent);
            bar.inc(1);
            bar.set_message(tally.progress_message());
        }
    };
    tokio::join!(sending, counting);
    tally.elapsed = start.elapsed();
    tally
}

/// A live answer: its head and its body with the content coding undone.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

async fn exchange(shared: &Shared, request: Request<Full<Bytes>>) -> Result<Answer, String> {
    let exchange = async {
        let response = shared
            .client
            .request(request)
            .await
            .map_err(|e| describe(&e))?;
        let (mut parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading the answer's body: {}", describe(&e)))?
            .to_bytes();
        let encoding = parts.headers.get(CONTENT_ENCODING).map(|v| v.as_bytes());
        let body = match decode(encoding, &body, DEFAULT_DECODED_LIMIT) {
            Ok(Some(decoded)) => {
                parts.headers.remove(CONTENT_ENCODING);
                parts.headers.remove(CONTENT_LENGTH);
                Bytes::from(decoded)
            }
            Ok(None) => body,
            Err(e) => return Err(format!("decoding the answer: {e}")),
        };
        Ok::<_, String>(Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    };
    match tokio::time::timeout(shared.timeout, exchange).await {
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(shared.timeout)
        )),
        Ok(result) => result,
    }
}

async fn send_one(shared: &Shared, send: Send) -> Sent {
    let k = send.recording;
    let _ended = Ended(&shared.ended[k]);
    let prepared = &shared.prepared[k];
    if let Some(previous) = shared.flows.previous(k) {
        let mut ended = shared.ended[previous].subscribe();
        // The sender lives as long as `shared`: this cannot fail.
        let _ = ended.wait_for(|&n| n >= send.pass).await;
    }
    let mut sent = Sent::default();
    let mut parts = prepared.parts.clone();
    {
        let live = shared.live.lock();
        for (c, spot) in &shared.uses[k] {
            match &live[*c] {
                Some(value) if parts.replace(spot, &shared.chains[*c].recorded, value) => {
                    sent.chained += 1;
                }
                Some(_) => {}
                None => sent.chain_missing += 1,
            }
        }
    }
    let request = match prepared.request(&parts) {
        Ok(r) => r,
        Err(e) => {
            sent.outcome = Outcome::Failed(e);
            return sent;
        }
    };
    let answer = match exchange(shared, request).await {
        Ok(a) => a,
        Err(e) => {
            sent.outcome = Outcome::Failed(e);
            return sent;
        }
    };
    {
        let mut live = shared.live.lock();
        for &c in &shared.gives[k] {
            let spot = &shared.chains[c].spec.from.spot;
            live[c] = answer_value(spot, &answer.headers, &answer.body);
        }
    }
    let mapping = {
        let recorded = answer_values(
            &prepared.expected_header_pairs(),
            &prepared.expected_plain_body(),
        );
        let mut made = shared.made_values.lock();
        for &c in &shared.gives[k] {
            let chain = &shared.chains[c];
            if let (Some(key), Some(live)) = (&chain.key, shared.live.lock()[c].clone()) {
                made.entry(key.clone()).or_insert(live);
            }
        }
        for spot in &shared.made[k] {
            let Some((_, value)) = recorded.iter().find(|(s, _)| s == spot) else {
                continue;
            };
            if let (Some(key), Some(live)) = (
                identity(spot, value, ""),
                answer_value(spot, &answer.headers, &answer.body),
            ) {
                made.entry(key).or_insert(live);
            }
        }
        made.clone()
    };
    let mut noise = None;
    if shared.learn_noise && matches!(*prepared.method(), Method::GET | Method::HEAD) {
        let again = match prepared.request(&parts) {
            Ok(r) => exchange(shared, r).await,
            Err(e) => Err(e),
        };
        if let Ok(second) = again {
            let first = Comparable::new(&shared.redaction, &answer);
            let second = Comparable::new(&shared.redaction, &second);
            let learned = NoiseRules::learn(&first.view(), &second.view());
            if learned != NoiseRules::none() {
                let mut rules = shared.noise.clone();
                rules.extend(learned.clone());
                sent.learned = Some(learned);
                noise = Some(rules);
            }
        }
    }
    let noise = noise.as_ref().unwrap_or(&shared.noise);
    let live = Comparable::new(&shared.redaction, &answer);
    sent.outcome = match compare(prepared, &live.view(), &mapping, &shared.redaction, noise) {
        Ok(diff) if diff.is_empty() => Outcome::Matched,
        Ok(diff) => Outcome::Mismatched(
            diff,
            Box::new(ReplayedAnswer::new(
                live.status,
                &live.headers,
                &live.body,
                &[],
            )),
        ),
        Err(error) => Outcome::Failed(error),
    };
    sent
}

/// A live answer as the comparison reads it: redacted.
struct Comparable {
    status: u16,
    headers: Vec<retrace::Header>,
    body: Bytes,
}

impl Comparable {
    fn new(redaction: &Redaction, answer: &Answer) -> Self {
        // The body is decoded already: nothing is left for the decoder to do.
        let (headers, body) = comparable_answer(redaction, &answer.headers, answer.body.clone())
            .unwrap_or_else(|_| (redaction.headers(&answer.headers), answer.body.clone()));
        Self {
            status: answer.status,
            headers,
            body,
        }
    }

    fn view(&self) -> ResponseView<'_> {
        ResponseView::new(self.status, &self.headers, &self.body)
    }
}
