//! Values from outside the request that replay must reproduce: the clock, randomness
//! and any call the code routes through [`boundary`].
//!
//! Each function looks at the [current context](crate::context::Context):
//! - none: it does the real thing, at the cost of one thread-local read;
//! - recording: it does the real thing and records the value (postcard-encoded, with
//!   its secrets replaced by the recorder's [`Redaction`](crate::Redaction): fields
//!   and map keys by name, strings by the value detectors);
//! - replay: it returns the recorded value for the same name and input instead. A value
//!   the recording lacks is reported as missing in the replay report, and the replay is
//!   sealed: in strict replay (the default) the real call is not made, and the replay
//!   stops with [`SealedReplay`] as its error (the function has no value to return, so
//!   it unwinds to the replay driver, which turns the unwinding into an error naming
//!   the boundary); lenient replay makes the real call.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::distr::{Distribution, StandardUniform};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Context;
use crate::event::ValueKind;

enum Mode {
    Live,
    Record(crate::RecordingHandle),
    Replay(std::sync::Arc<crate::replay::ReplaySession>),
}

fn mode() -> Mode {
    Context::with_current(|c| match c {
        None => Mode::Live,
        Some(Context::Recording(h)) => Mode::Record(h.clone()),
        Some(Context::Replay(s)) => Mode::Replay(s.clone()),
    })
}

fn record_value(
    h: &crate::RecordingHandle,
    kind: ValueKind,
    name: &str,
    input: Option<Bytes>,
    value: Option<Bytes>,
) {
    if let Some(value) = value {
        h.record_value(kind, name, input, value);
    }
}

fn replayed<T: DeserializeOwned>(
    s: &crate::replay::ReplaySession,
    kind: ValueKind,
    name: &str,
    input: Option<&[u8]>,
) -> Option<T> {
    let bytes = s.next_value(kind, name, input)?;
    postcard::from_bytes(&bytes).ok()
}

/// `input` is encoded only when something is recorded or replayed, with the redaction
/// in force: the recorder's, or in replay the one the recording was made with, so a
/// redacted input still finds its recorded value.
/// A strict replay asked for a value the recording does not hold: the replay is sealed,
/// so the real call is not made. Raised as an unwinding panic carrying this value, which
/// the replay driver (`retrace_tower::replay`) catches and reports as an error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "sealed replay: no recorded {kind:?} value \"{name}\" for this input; the real call was not made (lenient replay would make it)"
)]
pub struct SealedReplay {
    /// The value's kind.
    pub kind: ValueKind,
    /// The boundary's name.
    pub name: String,
}

/// What replay does about a value the recording lacks: lenient, the real thing; strict,
/// nothing real (see [`SealedReplay`]).
fn unsealed<T>(
    s: &crate::replay::ReplaySession,
    kind: ValueKind,
    name: &str,
    live: impl FnOnce() -> T,
) -> T {
    if s.options().strict {
        std::panic::panic_any(SealedReplay {
            kind,
            name: name.to_owned(),
        });
    }
    live()
}

fn through<I, T, F>(kind: ValueKind, name: &str, input: Option<&I>, live: F) -> T
where
    I: Serialize + ?Sized,
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> T,
{
    match mode() {
        Mode::Live => live(),
        Mode::Record(h) => {
            let input = input.and_then(|i| h.redaction().encode_value(i));
            let value = live();
            record_value(&h, kind, name, input, h.redaction().encode_value(&value));
            value
        }
        Mode::Replay(s) => {
            let input = input.and_then(|i| s.redaction().encode_value(i));
            match replayed(&s, kind, name, input.as_deref()) {
                Some(value) => value,
                None => unsealed(&s, kind, name, live),
            }
        }
    }
}

/// The wall clock, recorded and replayed.
///
/// ```
/// let t = retrace::now();
/// assert!(t > std::time::UNIX_EPOCH);
/// ```
pub fn now() -> SystemTime {
    let micros: u64 = through(ValueKind::Clock, "clock", None::<&()>, || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
    });
    UNIX_EPOCH + Duration::from_micros(micros)
}

/// A random value, recorded and replayed.
///
/// ```
/// let n: u64 = retrace::random();
/// # let _ = n;
/// ```
pub fn random<T>() -> T
where
    T: Serialize + DeserializeOwned,
    StandardUniform: Distribution<T>,
{
    through(ValueKind::Random, "random", None::<&()>, rand::random::<T>)
}

/// Runs `f`, a call to something outside the process, as a named boundary: recorded
/// with its input, and answered from the recording in replay (where `f` is not run).
///
/// ```
/// # fn lookup_price(_: &str) -> u32 { 42 }
/// let price: u32 = retrace::boundary("pricing.lookup", &"SKU-1", || lookup_price("SKU-1"));
/// # assert_eq!(price, 42);
/// ```
pub fn boundary<I, T, F>(name: &str, input: &I, f: F) -> T
where
    I: Serialize + ?Sized,
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> T,
{
    through(ValueKind::Boundary, name, Some(input), f)
}

/// The async form of [`boundary`]: in replay the future is never created.
pub async fn boundary_async<I, T, F, Fut>(name: &str, input: &I, f: F) -> T
where
    I: Serialize + ?Sized,
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    match mode() {
        Mode::Live => f().await,
        Mode::Record(h) => {
            let input = h.redaction().encode_value(input);
            let value = f().await;
            record_value(
                &h,
                ValueKind::Boundary,
                name,
                input,
                h.redaction().encode_value(&value),
            );
            value
        }
        Mode::Replay(s) => match replayed(
            &s,
            ValueKind::Boundary,
            name,
            s.redaction().encode_value(input).as_deref(),
        ) {
            Some(v) => v,
            None => {
                unsealed(&s, ValueKind::Boundary, name, || ());
                f().await
            }
        },
    }
}
