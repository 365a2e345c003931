//! `retrace admin-key new ID --scope SCOPE`: a fresh API key for the admin service,
//! and the line for its keys file. The key is printed once, here; the file holds only
//! its hash, so the file can live in a ConfigMap and the key in a secret store.

use clap::{Args, Subcommand, ValueEnum};
use retrace_tower::admin::{ApiKeys, Scope};

use super::help_with_examples;
use crate::exit::Status;

const EXAMPLES: &str = "  retrace admin-key new oncall --scope capture >> admin-keys
      (the key goes to stderr, the keys-file line to stdout)
  retrace admin-key hash oncall --scope read < key.txt
      (the line for a key you already have)

Scopes: read (metrics, captures, recordings) < capture (also start and stop one's own
captures) < admin (also stop anyone's). Revoke a key by replacing its scope with
`revoked` in the file: the admin service reads the file again when it changes.";

/// Options of `retrace admin-key`.
#[derive(Debug, Args)]
#[command(after_help = help_with_examples(EXAMPLES))]
pub(crate) struct AdminKeyArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Make a new random key: the key on stderr, its keys-file line on stdout
    New(KeyArgs),
    /// The keys-file line for a key read from stdin
    Hash(KeyArgs),
}

#[derive(Debug, Args)]
struct KeyArgs {
    /// The key's id: how the audit log names whoever uses it
    id: String,
    /// What the key allows
    #[arg(long, value_enum)]
    scope: ScopeArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScopeArg {
    Read,
    Capture,
    Admin,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Read => Scope::Read,
            ScopeArg::Capture => Scope::Capture,
            ScopeArg::Admin => Scope::Admin,
        }
    }
}

/// Runs `retrace admin-key`.
pub(crate) fn run(args: &AdminKeyArgs) -> anyhow::Result<Status> {
    let (key_args, key) = match &args.action {
        Action::New(a) => (a, ApiKeys::generate()),
        Action::Hash(a) => {
            let mut key = String::new();
            std::io::stdin().read_line(&mut key)?;
            let key = key.trim().to_owned();
            anyhow::ensure!(!key.is_empty(), "no key on stdin");
            (a, key)
        }
    };
    // The id's rules are the keys file's own.
    ApiKeys::default().with_key(&key_args.id, key_args.scope.into(), &key)?;
    if matches!(args.action, Action::New(_)) {
        eprintln!("{key}");
    }
    println!(
        "{}",
        ApiKeys::file_line(&key_args.id, key_args.scope.into(), &key)
    );
    Ok(Status::Success)
}
