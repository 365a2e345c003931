//! Criterion benchmarks of `#[retrace::record]`: what the attribute adds to a call.
//!
//! - `outside/{sync,async}/{bare,record}`: the same small function without and with
//!   the attribute, no recording current (the production case for every request not
//!   recorded): the attribute adds one thread-local read and a branch. The async arms
//!   drive the future to completion with a no-op waker (it is ready on its first poll).
//!   Target (issue 15): under 20 ns over the bare call.
//! - `inside/sync/record`: the same call inside a recording, for information: the key
//!   (two arguments) and the value encoded with the recorder's redaction, and the value
//!   added to the recording. Recordings of 1,000 calls, discarded untimed.
//!
//! Run: `cargo bench --bench record_macro`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use retrace::context::RetraceContext;
use retrace::{Config, RecordReason, Recorder, StartOptions};

#[inline(never)]
fn bare(account: u64, currency: &str) -> u64 {
    account.wrapping_mul(31) ^ currency.len() as u64
}

#[retrace::record]
#[inline(never)]
fn recorded(account: u64, currency: &str) -> u64 {
    account.wrapping_mul(31) ^ currency.len() as u64
}

#[inline(never)]
async fn bare_async(account: u64, currency: &str) -> u64 {
    account.wrapping_mul(31) ^ currency.len() as u64
}

#[retrace::record]
#[inline(never)]
async fn recorded_async(account: u64, currency: &str) -> u64 {
    account.wrapping_mul(31) ^ currency.len() as u64
}

/// Polls a future that completes without waiting.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn outside(c: &mut Criterion) {
    let mut group = c.benchmark_group("outside");
    group.bench_function("sync/bare", |b| {
        b.iter(|| bare(black_box(42), black_box("EUR")))
    });
    group.bench_function("sync/record", |b| {
        b.iter(|| recorded(black_box(42), black_box("EUR")))
    });
    group.bench_function("async/bare", |b| {
        b.iter(|| ready(bare_async(black_box(42), black_box("EUR"))))
    });
    group.bench_function("async/record", |b| {
        b.iter(|| ready(recorded_async(black_box(42), black_box("EUR"))))
    });
    group.finish();
}

fn inside(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Config::builder()
        .enabled(true)
        .service("bench")
        .recording_path(dir.path())
        .build()
        .expect("valid config");
    let (recorder, guard) = Recorder::new(config).expect("recorder starts");
    let mut group = c.benchmark_group("inside");
    group.bench_function("sync/record", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(1_000);
                left -= n;
                let handle = recorder
                    .start(StartOptions::new(RecordReason::Sampled))
                    .expect("recording starts");
                let entered = RetraceContext::Recording(handle.clone()).enter();
                let start = Instant::now();
                for i in 0..n {
                    black_box(recorded(black_box(i), black_box("EUR")));
                }
                total += start.elapsed();
                drop(entered);
                handle.discard();
            }
            total
        })
    });
    group.finish();
    drop(guard);
}

criterion_group!(benches, outside, inside);
criterion_main!(benches);
