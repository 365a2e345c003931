//! What `#[retrace::record]` expands to calls. Not a public API: the macro's
//! expansion is the only caller, and this module may change in any release.
//! [`RecordedError`], defined here, is public as `retrace::RecordedError`.
//!
//! The expansion encodes the function's arguments as a map from argument name to
//! value ([`Args2`] for two arguments, and so on), so the recorder's name-based
//! redaction sees each argument's name as a map key. Each `ArgsN` is generic over its
//! values directly, so that the compiler reports an argument that is not `Serialize`
//! at that argument (the expansion spans its reference at the argument's type).

use std::fmt;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::context::RetraceContext;
use crate::{Begun, BoundaryCall, ValueKind};

/// serde, for the expansion: users of the attribute need not depend on it.
pub use serde;

// A function's recorded arguments, in order: their names, then references to their
// values. `ArgsN` holds `N` arguments and serialises as a map from name to value.
macro_rules! args {
    ($args:ident, $n:literal: $($ty:ident $i:tt),*) => {
        #[doc = concat!("The key of a function recording ", stringify!($n), " arguments.")]
        #[derive(Debug)]
        pub struct $args<$($ty),*>(pub [&'static str; $n], $(pub $ty),*);

        impl<$($ty: Serialize),*> Serialize for $args<$($ty),*> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                #[allow(unused_mut)]
                let mut map = serializer.serialize_map(Some($n))?;
                $(map.serialize_entry(self.0[$i - 1], &self.$i)?;)*
                map.end()
            }
        }
    };
}

args!(Args0, 0:);
args!(Args1, 1: A 1);
args!(Args2, 2: A 1, B 2);
args!(Args3, 3: A 1, B 2, C 3);
args!(Args4, 4: A 1, B 2, C 3, D 4);
args!(Args5, 5: A 1, B 2, C 3, D 4, E 5);
args!(Args6, 6: A 1, B 2, C 3, D 4, E 5, F 6);
args!(Args7, 7: A 1, B 2, C 3, D 4, E 5, F 6, G 7);
args!(Args8, 8: A 1, B 2, C 3, D 4, E 5, F 6, G 7, H 8);
args!(Args9, 9: A 1, B 2, C 3, D 4, E 5, F 6, G 7, H 8, I 9);
args!(Args10, 10: A 1, B 2, C 3, D 4, E 5, F 6, G 7, H 8, I 9, J 10);
args!(Args11, 11: A 1, B 2, C 3, D 4, E 5, F 6, G 7, H 8, I 9, J 10, K 11);
args!(Args12, 12: A 1, B 2, C 3, D 4, E 5, F 6, G 7, H 8, I 9, J 10, K 11, L 12);
args!(Args13, 13: A 1, B 2, C 3, D 4, E 5, F 6, G 7, H 8, I 9, J 10, K 11, L 12, M 13);
args!(Args14, 14: A 1, B 2, C 3, D 4, E 5, F 6, G 7, H 8, I 9, J 10, K 11, L 12, M 13, N 14);
args!(Args15, 15: A 1, B 2, C 3, D 4, E 5, F 6, G 7, H 8, I 9, J 10, K 11, L 12, M 13, N 14, O 15);
args!(Args16, 16: A 1, B 2, C 3, D 4, E 5, F 6, G 7, H 8, I 9, J 10, K 11, L 12, M 13, N 14, O 15, P 16);

// The functions the expansion calls. It names their type parameters, with the types as
// written in the signature, so that a missing bound is reported at that type.

/// What [`begin`] found: the recorded value (replay), or the call to make, with what
/// [`finish`] needs to record it (`None` outside a recording and replay).
#[derive(Debug)]
pub enum Crossing<'n, T> {
    /// Make the real call.
    Run(Option<BoundaryCall<'n>>),
    /// Return this recorded value; the real call must not be made.
    Replayed(T),
}

/// Outside a recording and a replay (one thread-local read), the call is made and
/// nothing else happens: the key is not encoded, and no `BoundaryCall` is built.
#[inline(always)]
fn begin_crossing<'n, T: DeserializeOwned>(name: &'n str, key: impl Serialize) -> Crossing<'n, T> {
    if RetraceContext::with_current(|c| c.is_none()) {
        return Crossing::Run(None);
    }
    match BoundaryCall::begin(ValueKind::Boundary, name, Some(&key)) {
        Begun::Run(call) => Crossing::Run(Some(call)),
        Begun::Replayed(value) => Crossing::Replayed(value),
    }
}

/// Starts a crossing of the function's boundary, keyed by its arguments: `T` is the
/// return type.
#[inline(always)]
pub fn begin<'n, T: DeserializeOwned>(name: &'n str, key: impl Serialize) -> Crossing<'n, T> {
    begin_crossing(name, key)
}

/// [`begin`] for a function returning `Result<T, E>`.
#[inline(always)]
pub fn begin_result<'n, T, E>(name: &'n str, key: impl Serialize) -> Crossing<'n, Result<T, E>>
where
    T: DeserializeOwned,
    E: DeserializeOwned,
{
    begin_crossing(name, key)
}

/// [`begin`] for a function returning `Result<T, E>` under `err = display`: the
/// error was recorded as its text.
#[inline(always)]
pub fn begin_displayed<'n, T>(name: &'n str, key: impl Serialize) -> Crossing<'n, Result<T, String>>
where
    T: DeserializeOwned,
{
    begin_crossing(name, key)
}

/// Records the return value.
#[inline(always)]
pub fn finish<T: Serialize>(call: Option<BoundaryCall<'_>>, value: &T) {
    if let Some(call) = call {
        call.finish(value);
    }
}

/// [`finish`] for a `Result<T, E>`.
#[inline(always)]
pub fn finish_result<T, E>(call: Option<BoundaryCall<'_>>, value: &Result<T, E>)
where
    T: Serialize,
    E: Serialize,
{
    if let Some(call) = call {
        call.finish(value);
    }
}

/// [`finish`] under `err = display`: the value, or the error's text.
#[inline(always)]
pub fn finish_displayed<T, E>(call: Option<BoundaryCall<'_>>, value: &Result<T, E>)
where
    T: Serialize,
    E: fmt::Display,
{
    if let Some(call) = call
        && call.recording().is_some()
    {
        call.finish(&value.as_ref().map_err(ToString::to_string));
    }
}

/// A result replayed under `err = display`: a recorded error's text becomes `E`
/// through `From<RecordedError>`.
#[inline]
pub fn from_displayed<T, E: From<RecordedError>>(recorded: Result<T, String>) -> Result<T, E> {
    recorded.map_err(|message| E::from(RecordedError { message }))
}

/// Whether a body runs for a recording, and so with the context suspended (see
/// [`RetraceContext::suspend`]): what it crosses belongs to the recorded boundary.
fn records(call: &Option<BoundaryCall<'_>>) -> bool {
    call.as_ref().is_some_and(|c| c.recording().is_some())
}

/// Runs a function's body; when it is recorded, with no context current.
#[inline(always)]
pub fn sync_body<R>(call: &Option<BoundaryCall<'_>>, body: impl FnOnce() -> R) -> R {
    let _suspended = records(call).then(RetraceContext::suspend);
    body()
}

/// An async function's body; when it is recorded, polled with no context current.
/// Also fixes the body's output type, so that `?` inside it knows what to convert to.
#[inline(always)]
pub fn async_body<R, F: Future<Output = R>>(
    call: &Option<BoundaryCall<'_>>,
    body: F,
) -> SuspendedBody<F> {
    SuspendedBody {
        body,
        suspend: records(call),
    }
}

/// The future [`async_body`] returns.
#[pin_project::pin_project]
#[derive(Debug)]
pub struct SuspendedBody<F> {
    #[pin]
    body: F,
    suspend: bool,
}

impl<F: Future> Future for SuspendedBody<F> {
    type Output = F::Output;

    #[inline(always)]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let _suspended = this.suspend.then(RetraceContext::suspend);
        this.body.poll(cx)
    }
}

/// An error replayed from its recorded text.
///
/// A function annotated with `#[retrace::record(err = display)]` records the error
/// it returns as its [`Display`](fmt::Display) text, so the error type need not be
/// serialisable. In replay the function returns `Err(E::from(recorded_error))`: the
/// error type provides that conversion.
///
/// ```
/// #[derive(Debug)]
/// enum DbError {
///     Timeout,
///     Replayed(retrace::RecordedError),
/// }
///
/// impl std::fmt::Display for DbError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         match self {
///             Self::Timeout => f.write_str("the database timed out"),
///             Self::Replayed(e) => write!(f, "{e} (replayed)"),
///         }
///     }
/// }
///
/// impl From<retrace::RecordedError> for DbError {
///     fn from(e: retrace::RecordedError) -> Self {
///         Self::Replayed(e)
///     }
/// }
///
/// #[retrace::record(err = display)]
/// fn balance(account: u64) -> Result<u64, DbError> {
///     if account == 0 { Err(DbError::Timeout) } else { Ok(100) }
/// }
/// # assert!(balance(0).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordedError {
    message: String,
}

impl RecordedError {
    /// An error with this text, as a replay would build it.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The recorded text: the original error's `Display` output.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The recorded text, owned.
    pub fn into_message(self) -> String {
        self.message
    }
}

impl fmt::Display for RecordedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RecordedError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_encode_as_a_map_from_name_to_value() {
        let (user, password) = ("ada", "hunter2");
        let key = Args2(["user", "password"], &user, &password);
        assert_eq!(
            serde_json::to_string(&key).unwrap(),
            r#"{"user":"ada","password":"hunter2"}"#
        );
        let bytes = crate::Redaction::default().encode_value(&key).unwrap();
        let raw = String::from_utf8_lossy(&bytes);
        assert!(raw.contains("ada") && !raw.contains("hunter2"), "{raw:?}");
        assert_eq!(serde_json::to_string(&Args0([])).unwrap(), "{}");
    }

    #[test]
    fn displayed_errors_round_trip_through_their_text() {
        let failed: Result<u32, std::fmt::Error> = Err(std::fmt::Error);
        let recorded = failed.map_err(|e| e.to_string());
        let replayed: Result<u32, Box<dyn std::error::Error>> = from_displayed(recorded);
        assert_eq!(
            replayed.unwrap_err().to_string(),
            std::fmt::Error.to_string()
        );
    }
}
