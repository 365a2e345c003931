//! Values from outside the request that replay must reproduce: the clock, randomness
//! and any call the code routes through [`boundary`].
//!
//! Each function looks at the [current context](crate::context::RetraceContext):
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

use crate::context::RetraceContext;
use crate::event::ValueKind;

/// A strict replay asked for a value the recording does not hold: the replay is sealed,
/// so the real call is not made. Raised as an unwinding panic carrying this value, which
/// the replay driver (`retrace_tower::replay`) catches and reports as an error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "sealed replay: no recorded {kind:?} value \"{name}\" for this input{}; the real call was not made (lenient replay would make it)",
    if detail.is_empty() { String::new() } else { format!(" ({detail})") }
)]
pub struct SealedReplay {
    /// The value's kind.
    pub kind: ValueKind,
    /// The boundary's name.
    pub name: String,
    /// What the boundary could say about the miss: the closest recorded input and what
    /// differed, say. Empty when it has nothing to add.
    pub detail: String,
}

/// One crossing of a boundary, split in two so that the real call runs between the
/// halves: [`begin`](Self::begin) looks at the current context once, and either hands
/// back the recorded value (replay) or a call to make; [`finish`](Self::finish) records
/// the call's value when a recording is current. [`boundary`], the clock, randomness,
/// `#[retrace::record]` and `retrace-sqlx` are all built on it, and so can a crate that
/// wraps another client.
///
/// Outside a recording `begin` is one thread-local read: the input is not encoded and
/// nothing is allocated.
///
/// ```
/// use retrace::{Begun, BoundaryCall, ValueKind};
///
/// fn price(sku: &str) -> u32 {
///     match BoundaryCall::begin(ValueKind::Boundary, "pricing.lookup", Some(sku)) {
///         Begun::Replayed(price) => price,
///         Begun::Run(call) => {
///             let price = sku.len() as u32; // the real lookup
///             call.finish(&price);
///             price
///         }
///     }
/// }
/// assert_eq!(price("SKU-1"), 5);
/// ```
#[must_use = "a call that is not finished records nothing"]
#[derive(Debug)]
pub struct BoundaryCall<'n> {
    kind: ValueKind,
    name: &'n str,
    recording: Option<(crate::RecordingHandle, Option<Bytes>)>,
}

/// What [`BoundaryCall::begin`] found.
#[derive(Debug)]
pub enum Begun<'n, T> {
    /// Make the real call, then hand its value to [`BoundaryCall::finish`].
    Run(BoundaryCall<'n>),
    /// A replay answered from the recording: the real call must not be made.
    Replayed(T),
}

enum Mode {
    Live,
    Record(crate::RecordingHandle),
    Replay(std::sync::Arc<crate::replay::ReplaySession>),
}

fn mode() -> Mode {
    RetraceContext::with_current(|c| match c {
        None => Mode::Live,
        Some(RetraceContext::Recording(h)) => Mode::Record(h.clone()),
        Some(RetraceContext::Replay(s)) => Mode::Replay(s.clone()),
    })
}

impl<'n> BoundaryCall<'n> {
    /// Starts a crossing of the boundary `name` with `input` (encoded, with the
    /// recording's redaction, only when something is recorded or replayed).
    ///
    /// In a strict replay with no recorded value for this name and input, it unwinds
    /// with [`SealedReplay`]; in a lenient one it returns
    /// [`Begun::Run`], and the value is not recorded.
    #[inline]
    pub fn begin<I, T>(kind: ValueKind, name: &'n str, input: Option<&I>) -> Begun<'n, T>
    where
        I: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        Self::begin_explained(kind, name, input, |_, _| String::new())
    }

    /// Like [`begin`](Self::begin); on a replay miss, `explain` is given the live input
    /// and the inputs recorded under this kind and name that are still unused, both
    /// encoded, and its text becomes the [`SealedReplay`]'s detail.
    #[inline]
    pub fn begin_explained<I, T, E>(
        kind: ValueKind,
        name: &'n str,
        input: Option<&I>,
        explain: E,
    ) -> Begun<'n, T>
    where
        I: Serialize + ?Sized,
        T: DeserializeOwned,
        E: FnOnce(Option<&[u8]>, &[Option<Bytes>]) -> String,
    {
        match mode() {
            Mode::Live => Begun::Run(Self::live(kind, name)),
            Mode::Record(h) => {
                let input = input.and_then(|i| h.redaction().encode_value(i));
                Begun::Run(Self {
                    kind,
                    name,
                    recording: Some((h, input)),
                })
            }
            Mode::Replay(s) => Self::replay(&s, kind, name, input, explain),
        }
    }

    #[cold]
    fn replay<I, T, E>(
        s: &crate::replay::ReplaySession,
        kind: ValueKind,
        name: &'n str,
        input: Option<&I>,
        explain: E,
    ) -> Begun<'n, T>
    where
        I: Serialize + ?Sized,
        T: DeserializeOwned,
        E: FnOnce(Option<&[u8]>, &[Option<Bytes>]) -> String,
    {
        let input = input.and_then(|i| s.redaction().encode_value(i));
        let detail = match s.take_value(kind, name, input.as_deref()) {
            Ok(bytes) => match postcard::from_bytes(&bytes) {
                Ok(value) => return Begun::Replayed(value),
                Err(e) => format!(
                    "the recorded value does not decode as {}: {e}",
                    std::any::type_name::<T>()
                ),
            },
            Err(unused) => explain(input.as_deref(), &unused),
        };
        if s.options().strict {
            std::panic::panic_any(SealedReplay {
                kind,
                name: name.to_owned(),
                detail,
            });
        }
        Begun::Run(Self::live(kind, name))
    }

    fn live(kind: ValueKind, name: &'n str) -> Self {
        Self {
            kind,
            name,
            recording: None,
        }
    }

    /// The recording this call is part of, if one is current.
    pub fn recording(&self) -> Option<&crate::RecordingHandle> {
        self.recording.as_ref().map(|(h, _)| h)
    }

    /// Records `value` as the call's answer when a recording is current (encoded with
    /// the recording's redaction); otherwise does nothing.
    #[inline]
    pub fn finish<T: Serialize + ?Sized>(self, value: &T) {
        if let Some((h, input)) = &self.recording
            && let Some(value) = h.redaction().encode_value(value)
        {
            h.record_value(self.kind, self.name, input.clone(), value);
        }
    }

    /// Records an answer already encoded with postcard (and redacted by the caller),
    /// for answers built up piece by piece, such as a stream's rows.
    pub fn finish_encoded(self, value: Bytes) {
        if let Some((h, input)) = self.recording {
            h.record_value(self.kind, self.name, input, value);
        }
    }
}

fn through<I, T, F>(kind: ValueKind, name: &str, input: Option<&I>, live: F) -> T
where
    I: Serialize + ?Sized,
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> T,
{
    match BoundaryCall::begin(kind, name, input) {
        Begun::Replayed(value) => value,
        Begun::Run(call) => {
            // What the live call crosses belongs to it (see `RetraceContext::suspend`).
            let call = Some(call);
            let value = crate::macro_support::sync_body(&call, live);
            if let Some(call) = call {
                call.finish(&value);
            }
            value
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
    match BoundaryCall::begin(ValueKind::Boundary, name, Some(input)) {
        Begun::Replayed(value) => value,
        Begun::Run(call) => {
            let call = Some(call);
            let value = crate::macro_support::async_body(&call, f()).await;
            if let Some(call) = call {
                call.finish(&value);
            }
            value
        }
    }
}
