//! Shipping closed segments to object storage: S3 and S3-compatible servers, Google
//! Cloud Storage, Azure Blob Storage or another directory.
//!
//! Why: a pod's disk goes when the pod is rescheduled, which is exactly when someone
//! needs its recordings. A segment is immutable once its writer has closed it (its
//! index file exists), so shipping is copying files that never change again; the
//! segment being written is never touched.
//!
//! How: [`Shipper::ship_pending`] uploads every closed segment that its
//! [`Journal`] does not list yet, under the key [`segment_key`] gives it
//! (`{prefix}/{service}/{yyyy-mm-dd}/{hh}/{session}/{file}`): the session's metadata,
//! the segment, its index as Parquet for query engines (`seg-NNNNNN.parquet`), then
//! its index. On S3 the server checks each upload against the SHA-256 sent with it;
//! every upload also carries the file's BLAKE3 digest as object metadata, and a `HEAD`
//! then confirms that the key holds an object of the file's size carrying that
//! digest (a directory destination is read back and hashed) before the journal
//! records it; only then may the local copy go ([`ShipOptions::delete_after_ship`]). Shipping is
//! at-least-once and idempotent: after a crash between an upload and its journal
//! line the same bytes go to the same key again, or are found there already.
//! Large files go up in parts; the store client retries transient failures with
//! backoff, and a segment that still fails waits, with backoff of its own, for a
//! later pass.
//!
//! Credentials come from where the store's own tools look for them (`AWS_*`,
//! `GOOGLE_*`, `AZURE_*` variables, instance profiles and workload identity as
//! `object_store` supports them), never from Retrace's configuration.

mod destination;
mod digest;
mod journal;
mod key;
mod mirror;
mod parquet_index;
mod shipper;
mod status;

pub use destination::Destination;
pub use journal::{Journal, JournalEntry};
pub use key::segment_key;
pub use mirror::{Mirror, SyncReport};
pub use shipper::{ShipOptions, ShipReport, ShipTotals, Shipper};
pub use status::ShipStatus;

use std::path::PathBuf;

/// Why shipping failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShipError {
    /// The destination is not a URL or directory Retrace can ship to.
    #[error("cannot ship to {url:?}: {reason}")]
    Destination {
        /// The destination as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A local file could not be read, written or deleted.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The object store refused or failed an operation.
    #[error("{operation} {key}: {source}")]
    Store {
        /// What was being done (`upload`, `verify`, `delete`).
        operation: &'static str,
        /// The object's key.
        key: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// What the store holds after an upload is not what was sent.
    #[error("{key}: the store holds {found} where {expected} was uploaded")]
    Mismatch {
        /// The object's key.
        key: String,
        /// Size and digest uploaded.
        expected: String,
        /// Size and digest found.
        found: String,
    },
    /// The recording directory could not be read.
    #[error(transparent)]
    Recordings(#[from] crate::StoreError),
    /// A segment's index could not be written as Parquet.
    #[error("{key}: cannot write its index as Parquet: {source}")]
    Parquet {
        /// The segment's object key.
        key: String,
        /// The Parquet writer's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
}
