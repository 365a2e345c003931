//! `retrace replay --target URL`: recorded requests sent again to a live service, each
//! answer compared with its recorded response by the diff engine and noise rules
//! in-process replay uses, so a report reads the same whichever way a recording was
//! replayed. For CI: the exit status says whether every answer matched.
//!
//! The steps, one module each: [`select`](mod@select) picks the recordings (ids and the `ls`
//! filters, then `--strategy` and `--limit`), [`request`] rebuilds each request for the
//! target, [`schedule`] computes when each is sent (a pure function, so pacing is
//! tested on numbers), [`runner`] sends and [`compare`]s, [`report`] sums up.

mod chain;
mod compare;
mod exchange;
mod flow;
mod noise;
pub(crate) mod report;
mod request;
mod runner;
mod schedule;
mod select;
mod substitute;

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Args};
use std::path::PathBuf;

use chain::{Chain, RuleFile};
use exchange::Spot;
use flow::Flows;
use noise::NoisePlan;
use retrace::RecordingInfo;
use retrace::diff::PathPattern;
use substitute::{Rule, Substitutions};

use super::{help_with_examples, resolve};
use crate::exit::{Status, fail};
use crate::filter::FilterArgs;
use crate::format::duration_us;
use crate::output::stdout;
use crate::progress;
use crate::root::{RootArgs, warn_problems};
use crate::time::parse_duration;
use report::{JsonSummary, Rules, report_file, write_text};
use request::{Prepared, Target};
use runner::{Plan, Runner};
use schedule::{Pace, Schedule};
use select::{Candidate, Strategy, select};

const EXAMPLES: &str =
    "  retrace replay --target http://127.0.0.1:8080          everything, at the recorded pace
  retrace replay 01J2F3 01J2F4 --target http://127.0.0.1:8080     two, by id prefix
  retrace replay --target http://localhost:8080 --status 2xx --since 1h --speed 4
  retrace replay --target http://localhost:8080 --strategy random --limit 100 --max-rate 20
  retrace replay --target http://localhost:8080 --asap --concurrency 32 --loop --duration 5m
  retrace replay --target http://localhost:8080 --ignore-path '$..updated_at' --json
  retrace replay --target http://staging:8080 --set-json 'POST /users/** $.password=@env:PW'
  retrace replay --target http://staging:8080 --set-header 'authorization=@file:token.txt'
  retrace replay --target http://staging:8080 --save-chains chains.json   (edit, then --chains)
  retrace replay --target http://localhost:8080 --report replay.json && retrace view --report replay.json

Requests are rebuilt from the recording: method, path and query (appended to the
target's path), headers and body. Hop-by-hop and framing headers (host, content-length,
transfer-encoding, connection and those it names, keep-alive, proxy-connection, te,
trailer, upgrade) are not sent; the client sets host and frames the body itself.
Recordings without a response, or with a body cut at the capture limit, are skipped and
listed.

Secrets: a redacted value is sent as recorded (`[redacted]`, or a pseudonym). Give the
target environment's value with --set-header, --drop-header or --set-json, each
optionally scoped to a route (`POST /users/login`, `* /admin/**`), the value literal,
@env:VAR or @file:PATH (never printed).

Chaining: a value an answer made (a token, a slug, a created id, a cookie) and later
requests sent is, at replay, replaced in those requests by what the target answered,
and expected answers showing it expect the live value. Rules are learned by equality
(pseudonyms keep it: record with RedactionMode::Pseudonymise to chain tokens), printed
in the summary, saved with --save-chains, loaded (edited, vetoed) with --chains;
--no-chain turns it off. Requests of one flow (same trace, credential, cookie, account,
or a chained value) are sent in recorded order whatever --concurrency is; flows run
side by side.

Answers are compared as in-process replay compares them: compressed answers (gzip,
deflate, br, zstd) are decoded; both sides are redacted with the recorder's default
rules, so a redacted value counts as equal. Noise, each rule listed with its source in
the summary: default headers (date, etag, x-request-id, ...; vary and CORS headers,
which layers outside the record layer add), --ignore-header and --ignore-path, JSON
values that are times read from the recorded clock, and what differs between two
answers to the same GET or HEAD (each is sent twice; --no-learn-noise sends it once).
The summary lists each recording that mismatched (its id and first difference) or
failed, the counts, then the rules; exit status 7 if any did.

Pace: the recorded gaps between requests divided by --speed (default 1); --max-rate N
sends evenly spaced at N per second; --asap sends as fast as --concurrency allows
(--speed 0 is refused: use --asap). --loop sends the selection again and again until
--duration is up. A target that cannot be connected to at all is exit status 8.";

/// Options of `retrace replay`.
#[derive(Debug, Args)]
#[command(
    after_help = help_with_examples(EXAMPLES),
    group(ArgGroup::new("pace").args(["speed", "max_rate", "asap"])),
)]
pub(crate) struct ReplayArgs {
    /// The recordings: ids or unique prefixes [default: every recording the filters
    /// select]
    #[arg(value_name = "ID")]
    ids: Vec<String>,
    /// The service to send to: http://host:port, optionally with a base path
    /// (http only; no TLS)
    #[arg(long, value_name = "URL", value_parser = Target::parse)]
    target: Target,
    #[command(flatten)]
    filter: FilterArgs,
    /// Which recordings --limit keeps (they are always sent oldest first)
    #[arg(long, value_name = "STRATEGY", value_enum, default_value_t)]
    strategy: Strategy,
    /// Replay at most this many recordings
    #[arg(long, short = 'n', value_name = "N", value_parser = parse_positive_count)]
    limit: Option<usize>,
    /// Seed for --strategy random, to pick the same recordings again [default: random,
    /// shown in --json]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Send at the recorded gaps divided by this (2 = twice as fast) [default: 1]
    #[arg(long, value_name = "FACTOR", value_parser = parse_rate)]
    speed: Option<f64>,
    /// Send at most this many requests per second, evenly spaced
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    max_rate: Option<f64>,
    /// Send as fast as possible, limited only by --concurrency
    #[arg(long)]
    asap: bool,
    /// The most requests in flight at once (a paced send waits for a free slot, so a
    /// slow service slows the pace down)
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = parse_positive_count)]
    concurrency: usize,
    /// Send the selection again and again (needs --duration)
    #[arg(long = "loop", requires = "duration")]
    repeat: bool,
    /// Stop sending after this long (30s, 5m); with --loop, how long to loop
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    duration: Option<Duration>,
    /// How long one request may take before it counts as an error
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_positive_duration)]
    timeout: Duration,
    /// Also ignore this response header when comparing (repeat or comma-separate)
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    ignore_header: Vec<String>,
    /// Also ignore this JSON body location: $.meta.generated_at, $.items[*].id,
    /// $..timestamp (repeat for several)
    #[arg(long, value_name = "PATTERN", value_parser = PathPattern::parse)]
    ignore_path: Vec<PathPattern>,
    /// Set a request header before sending: [METHOD /path ]NAME=VALUE, the value
    /// literal, @env:VAR or @file:PATH (repeat for several)
    #[arg(long, value_name = "RULE", value_parser = Rule::set_header)]
    set_header: Vec<Rule>,
    /// Remove a request header before sending: [METHOD /path ]NAME
    #[arg(long, value_name = "RULE", value_parser = Rule::drop_header)]
    drop_header: Vec<Rule>,
    /// Set a value in a JSON request body: [METHOD /path ]$.json.path=TEXT, or
    /// $.json.path:=JSON for a number, boolean, array or object; the value may be
    /// @env:VAR or @file:PATH
    #[arg(long, value_name = "RULE", value_parser = Rule::set_json)]
    set_json: Vec<Rule>,
    /// Use these chain rules instead of learning them (a file --save-chains wrote)
    #[arg(long, value_name = "FILE", conflicts_with = "no_chain")]
    chains: Option<PathBuf>,
    /// Write the chain rules used to this file (JSON), to edit and load with --chains
    #[arg(long, value_name = "FILE")]
    save_chains: Option<PathBuf>,
    /// Send every request as recorded: no value carried from answers into requests
    #[arg(long)]
    no_chain: bool,
    /// Do not send safe requests (GET, HEAD) twice to learn noise from two answers
    #[arg(long)]
    no_learn_noise: bool,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
    /// Also write a replay report (JSON: each recording's verdict, and for a
    /// difference the new answer and the changed paths) for `retrace view --report`
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

fn parse_positive_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a whole number above 0, got {text:?}")),
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!(
            "expected a number above 0, got {text:?} (for no pacing at all, use --asap)"
        )),
    }
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err("expected a duration above zero".to_owned());
    }
    Ok(d)
}

impl ReplayArgs {
    fn pace(&self) -> Pace {
        match (self.max_rate, self.asap) {
            (Some(rate), _) => Pace::MaxRate(rate),
            (None, true) => Pace::Asap,
            (None, false) => Pace::Recorded {
                speed: self.speed.unwrap_or(1.0),
            },
        }
    }

    fn substitutions(&self) -> Substitutions {
        Substitutions::new(
            self.set_header
                .iter()
                .chain(&self.drop_header)
                .chain(&self.set_json)
                .cloned()
                .collect(),
        )
    }

    /// The chain rules (from `--chains`, none with `--no-chain`, else learned) and the
    /// places where each answer made a value.
    fn chains(&self, prepared: &[Prepared]) -> anyhow::Result<(Vec<Chain>, Vec<Vec<Spot>>)> {
        let learned = chain::learn(prepared);
        let specs = if self.no_chain {
            Vec::new()
        } else if let Some(path) = &self.chains {
            let text = std::fs::read_to_string(path)
                .map_err(|e| fail(Status::Usage, format!("reading {}: {e}", path.display())))?;
            let file: RuleFile = serde_json::from_str(&text).map_err(|e| {
                fail(
                    Status::Usage,
                    format!("{} is not a chain rule file: {e}", path.display()),
                )
            })?;
            file.chains
        } else {
            learned.rules
        };
        let chains = chain::resolve(specs, prepared).map_err(|e| fail(Status::Usage, e))?;
        if let Some(path) = &self.save_chains {
            let text = serde_json::to_string_pretty(&chain::to_file(&chains))?;
            std::fs::write(path, text + "\n")
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        }
        let made = if self.no_chain {
            vec![Vec::new(); prepared.len()]
        } else {
            learned.made
        };
        Ok((chains, made))
    }

    /// The recordings named (or all), those the filters keep, then `--strategy` and
    /// `--limit`: oldest first.
    fn select<'a>(&self, recordings: Vec<&'a RecordingInfo>, seed: u64) -> Vec<&'a RecordingInfo> {
        let filter = self.filter.resolve();
        let kept: Vec<&RecordingInfo> = recordings
            .into_iter()
            .filter(|r| filter.matches(r))
            .collect();
        let candidates: Vec<Candidate> = kept
            .iter()
            .map(|r| Candidate {
                started_unix_us: r.summary.started_unix_us,
                bytes: r.summary.raw_bytes,
            })
            .collect();
        select(&candidates, self.strategy, self.limit, seed)
            .into_iter()
            .map(|i| kept[i])
            .collect()
    }
}

/// How the pace reads in the start line.
fn pace_text(pace: Pace) -> String {
    match pace {
        Pace::Recorded { speed: 1.0 } => "at the recorded pace".to_owned(),
        Pace::Recorded { speed } => format!("at {speed}x the recorded pace"),
        Pace::MaxRate(rate) => format!("at up to {rate}/s"),
        Pace::Asap => "as fast as possible".to_owned(),
    }
}

/// Runs `retrace replay`.
pub(crate) fn run(root: &RootArgs, args: &ReplayArgs) -> anyhow::Result<Status> {
    let store = root.open()?;
    let listing = store.list();
    warn_problems(&listing.problems);
    let named: Vec<&RecordingInfo> = if args.ids.is_empty() {
        listing.recordings.iter().collect()
    } else {
        let mut seen = HashSet::new();
        resolve(&listing, &args.ids)?
            .into_iter()
            .filter(|r| seen.insert(r.summary.id))
            .collect()
    };
    let seed = args.seed.unwrap_or_else(rand::random);
    let chosen = args.select(named, seed);
    if chosen.is_empty() {
        return Err(fail(
            Status::NoSuchRecording,
            format!(
                "no recording to replay matches under {}",
                store.root().display()
            ),
        ));
    }

    crate::audit_trail::record_read(root, "replay", &chosen);
    let bar = progress::items(chosen.len() as u64, "reading");
    let (mut prepared, mut skipped) = (Vec::new(), Vec::new());
    for info in &chosen {
        match Prepared::new(&store.load(info)?, &args.target) {
            Ok(p) => prepared.push(p),
            Err(s) => skipped.push(s),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if prepared.is_empty() {
        let first = &skipped[0];
        return Err(fail(
            Status::NoSuchRecording,
            format!(
                "none of the {} selected recordings can be replayed (recording {}: {})",
                skipped.len(),
                first.id,
                first.reason
            ),
        ));
    }
    // Chains and flows are read from the requests as recorded; the substitutions
    // change them after (a chained value is then put in only where the recorded one
    // is still there).
    let noise = NoisePlan::new(&args.ignore_header, &args.ignore_path, &prepared)
        .map_err(|e| fail(Status::Usage, e))?;
    let (chains, made) = args.chains(&prepared)?;
    let flows = Flows::new(&prepared, &chains);
    let mut substitutions = args.substitutions();
    for p in &mut prepared {
        p.substitute(&mut substitutions);
    }
    for (rule, requests) in substitutions.report() {
        if requests == 0 {
            eprintln!("warning: {rule} changed no request");
        }
    }

    let starts: Vec<u64> = prepared.iter().map(|p| p.started_unix_us).collect();
    let pace = args.pace();
    let schedule = Schedule::new(&starts, pace, args.repeat, args.duration);
    let runner = Runner::new()?;
    runner.check_reachable(&args.target)?;
    let length = match (schedule.last_offset(), args.repeat, args.duration) {
        (_, true, Some(d)) => format!(", looping for {}", humantime::format_duration(d)),
        (Some(last), ..) if !last.is_zero() => format!(
            ", over {}",
            duration_us(u64::try_from(last.as_micros()).unwrap_or(u64::MAX))
        ),
        _ => String::new(),
    };
    eprintln!(
        "replaying {} recording{} to {} {}{length}",
        prepared.len(),
        if prepared.len() == 1 { "" } else { "s" },
        args.target,
        pace_text(pace),
    );

    let bar = progress::sends(schedule.total());
    let prepared = Arc::new(prepared);
    let plan = Plan {
        prepared: Arc::clone(&prepared),
        schedule,
        concurrency: args.concurrency,
        timeout: args.timeout,
        bound: args.duration,
        noise: noise.rules.clone(),
        chains: chains.clone(),
        made,
        flows,
        learn_noise: !args.no_learn_noise,
    };
    let flow_count = plan.flows.count;
    let tally = runner.run(plan, &bar);
    bar.finish_and_clear();
    let rules = Rules {
        noise: &noise.lines,
        chains: &chains,
        chains_from_file: args.chains.is_some(),
        substitutions: substitutions
            .report()
            .map(|(rule, n)| (rule.to_owned(), n))
            .collect(),
        flows: flow_count,
    };

    let mut out = stdout();
    if args.json {
        let seed = (args.strategy == Strategy::Random && args.limit.is_some()).then_some(seed);
        let summary = JsonSummary::new(
            args.target.to_string(),
            seed,
            &tally,
            &prepared,
            &skipped,
            &rules,
        );
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        write_text(&mut out, &tally, &prepared, &skipped, &rules)?;
    }
    out.flush()?;
    // After the summary: a report that cannot be written loses nothing printed.
    if let Some(path) = &args.report {
        report_file(args.target.to_string(), &tally, &prepared, &skipped).write(path)?;
    }
    Ok(if tally.clean() {
        Status::Success
    } else {
        Status::ReplayDiffered
    })
}
