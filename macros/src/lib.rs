//! The `#[retrace::record]` attribute: any function or method as a recorded boundary.
//!
//! Use it through the `retrace` crate, which re-exports it as `retrace::record`: the
//! expansion calls `::retrace::macro_support`, so the crate must be a dependency under
//! its own name. [`record`] documents the attribute; the `retrace` crate's docs show a
//! call recorded and replayed end to end.

#![deny(missing_docs)]
#![deny(unreachable_pub)]
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]

mod expand;
mod options;

use proc_macro::TokenStream;

/// Turns a function into a recorded boundary: its calls are recorded with their
/// arguments and return value, and answered from the recording in replay.
///
/// Put it on any `fn`, `async fn` or method that talks to something outside the
/// process: a database query, a cache lookup, a generated gRPC stub, another team's
/// SDK. Each call becomes a boundary crossing, as with `retrace::boundary`, keyed by
/// the function's arguments:
///
/// - **outside a recording** the function runs as written. The attribute adds one
///   thread-local read and a branch (about 3 ns for a sync call and 7 ns for an async
///   one on the benchmark machine: `cargo bench --bench record_macro`); the arguments
///   are not encoded and nothing is allocated;
/// - **while a recording is current** (`retrace::context`), the function runs, and its
///   arguments and return value are recorded as a `NamedValue` of kind
///   `ValueKind::Boundary` under the boundary's name;
/// - **in a replay** the function returns the value recorded for the same name and
///   arguments (the next unused one, in recorded order) and **its body does not run**.
///   A call the recording does not hold stops a strict replay (the default): the call
///   unwinds with `retrace::SealedReplay` naming the boundary, which the replay driver
///   reports as an error. A lenient replay runs the body instead, and records nothing.
///
/// ```
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct User { id: u64, email: String }
/// # struct Pool;
/// # impl Pool { async fn find(&self, email: &str) -> Result<User, String> {
/// #     Ok(User { id: 1, email: email.to_owned() }) } }
/// #[retrace::record(name = "users.by_email", skip(pool))]
/// async fn user_by_email(pool: &Pool, email: &str) -> Result<User, String> {
///     pool.find(email).await
/// }
/// ```
///
/// # Options
///
/// - `name = "users.by_email"`: the boundary's name, under which the calls are
///   recorded and looked up. **The default is the function's name** (`user_by_email`;
///   for a method, the method's name without its type): short and stable across
///   refactorings that move the function to another module. Two recorded functions
///   with the same name share the name, so give one of them its own.
/// - `skip(pool, self)`: leaves these arguments out of the key. Skip what is not part
///   of the question: connection pools, clients, `self` for a repository whose only
///   state is its client. A skipped argument need not be `Serialize`.
/// - `skip_all`: leaves every argument out: each call matches the next recorded one.
/// - `err = display`: records the error of a function returning `Result<T, E>` as its
///   `Display` text, for an error type that is not serialisable (see below).
///
/// # What is recorded
///
/// **The arguments**, except those skipped, form the call's key: **a map from argument
/// name to value**, in argument order (`{"email": "ada@example.com"}`; a method's
/// `self`, when not skipped, under the name `self`). Each must be `Serialize`. The key
/// is encoded with the recording's `Redaction`, like every recorded value: name-based
/// rules see each argument's name as a map key, so in
///
/// ```
/// #[retrace::record]
/// fn verify(password: &str, hash: &str) -> bool {
/// #   let _ = (password, hash);
///     // ...
/// #   true
/// }
/// ```
///
/// the password is recorded as `[redacted]` and never reaches the disk; fields of
/// structs and map keys inside the arguments are redacted by name the same way, and
/// every string goes through the value detectors. A replay encodes the live arguments
/// with the same redaction before matching them, so calls that differ only in a
/// redacted value match the same recorded call.
///
/// **The return value**, which must be `Serialize` and `DeserializeOwned` (owned: a
/// function returning `&str` cannot be replayed, return a `String`). For a
/// `Result<T, E>` both arms are recorded, so `E` needs the same bounds.
///
/// # Errors as text: `err = display`
///
/// Error types often cannot be serialised (`sqlx::Error`, `std::io::Error`,
/// `tonic::Status`). With `err = display`, the error is recorded as its `Display`
/// text (the value on disk is a `Result<T, String>`) and **a replayed error is
/// `E::from(retrace::RecordedError)`**: the error type provides that conversion. Both
/// `anyhow::Error` and `Box<dyn Error + Send + Sync>` already do; your own error type
/// adds a variant:
///
/// ```
/// #[derive(Debug)]
/// enum RepoError {
///     Db(std::io::Error),
///     Replayed(retrace::RecordedError),
/// }
/// # impl std::fmt::Display for RepoError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
/// #         match self { Self::Db(e) => e.fmt(f), Self::Replayed(e) => e.fmt(f) }
/// #     }
/// # }
///
/// impl From<retrace::RecordedError> for RepoError {
///     fn from(e: retrace::RecordedError) -> Self {
///         Self::Replayed(e)
///     }
/// }
///
/// #[retrace::record(err = display)]
/// fn balance(account: u64) -> Result<u64, RepoError> {
///     std::fs::read_to_string(format!("/accounts/{account}"))
///         .map_err(RepoError::Db)
///         .map(|text| text.len() as u64)
/// }
/// # let _ = balance(1);
/// ```
///
/// `Result` aliases such as `io::Result<T>` or `anyhow::Result<T>` work as written.
///
/// # Async functions and methods
///
/// An `async fn` looks up the current recording when its future is first polled, not
/// when it is created: a future built outside a handler and awaited inside it belongs
/// to the handler's recording. Methods take `&self`, `&mut self` or `self`, and
/// `async fn` in trait impls works as in any other impl. Methods of an `#[async_trait]`
/// impl are not supported: by the time this attribute sees one, it returns a boxed
/// future, which cannot be recorded (a compile error says so at the return type).
///
/// ```
/// # #[derive(serde::Serialize, serde::Deserialize, Clone)]
/// # struct Order { id: u64 }
/// struct OrderRepo {
///     client: std::collections::HashMap<u64, Order>, // any client
/// }
///
/// impl OrderRepo {
///     #[retrace::record(name = "orders.get", skip(self))]
///     async fn get(&self, id: u64) -> Option<Order> {
///         self.client.get(&id).cloned()
///     }
/// }
/// ```
///
/// # The function as written
///
/// The body runs unchanged inside the wrapper: `return`, `?` with its `From`
/// conversions, `mut` arguments, generics, lifetimes, `impl Trait` arguments and
/// `where` clauses behave as without the attribute, and its other attributes, docs
/// and visibility are kept. The arguments are encoded before the body runs (the key
/// borrows them; the body may then move them): a sync body runs in a closure called
/// at once, an async body in an `async move` block. For
///
/// ```
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct User;
/// # struct Pool;
/// # impl Pool { fn find(&self, _: &str) -> Option<User> { None } }
/// #[retrace::record(skip(pool))]
/// fn by_email(pool: &Pool, email: &str) -> Option<User> {
///     pool.find(email)
/// }
/// ```
///
/// the expansion is (paths abridged):
///
/// ```text
/// fn by_email(pool: &Pool, email: &str) -> Option<User> {
///     let call = match retrace::macro_support::begin::<Option<User>>(
///         "by_email",
///         retrace::macro_support::Args1(["email"], &email),
///     ) {
///         Crossing::Replayed(value) => return value,
///         Crossing::Run(call) => call, // `None` outside a recording
///     };
///     let value: Option<User> = (move || -> Option<User> { pool.find(email) })();
///     retrace::macro_support::finish::<Option<User>>(call, &value);
///     value
/// }
/// ```
///
/// # Compile errors
///
/// An argument that is not `Serialize` is reported at its type, and a return type (or
/// a `Result`'s `T` or `E`) that lacks a bound at that type. The attribute refuses,
/// with a message saying why: a `const fn` (it records at run time), an `impl Trait`
/// return type (a replayed value needs a named type), an argument bound to a pattern
/// such as `(a, b): (u32, u32)` (recorded arguments are named: bind it to a name or
/// use `skip_all`), more than 16 recorded arguments, `err = display` on a function
/// that does not return a `Result`, `skip(x)` naming no argument, an unknown option,
/// and anything that is not a function.
#[proc_macro_attribute]
pub fn record(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let expanded = options::Options::parse(attr.into())
        .and_then(|options| expand::expand(options, item.clone()));
    match expanded {
        Ok(tokens) => tokens.into(),
        // The item is kept as written, so that a misuse is reported once, not again
        // by every caller of a function that would otherwise vanish.
        Err(e) => {
            let mut tokens = e.to_compile_error();
            tokens.extend(item);
            tokens.into()
        }
    }
}
