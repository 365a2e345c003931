//! A shipped segment's index as a Parquet file, `seg-NNNNNN.parquet` beside the
//! segment, so that a fleet's recordings can be queried where they lie (DuckDB, Athena,
//! Trino, Spark on the bucket) without Retrace.
//!
//! Why Parquet: every engine reads it, one file per segment needs no catalogue, and the
//! columns a query filters on (`trace_id`, `service`, `status`, `started`) carry
//! statistics that let an engine skip the files that cannot match. The `.rtidx` stays
//! the source of truth; this file is derived from it and never read back by Retrace.
//!
//! What it promises: one row per recording in the segment, the columns named as the
//! JSON views (`retrace ls --json`) name the same values, in the same text forms (the
//! recording id's 26 characters, the trace id in hex, the reason as the CLI prints it).
//! The session's origin (pod, node, namespace, region, build) repeats on every row, so a
//! query needs no join with `metadata.json`. A recording whose chunks span two segments
//! has a row in each, holding what that segment holds: the request line where the
//! request is, the status, duration and reason where the recording ended.
//!
//! Compression: Snappy, the codec every engine reads, in pure Rust (the `snap` crate,
//! a few thousand lines); ZSTD would bring a C library into the build for files this
//! small.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use super::ShipError;
use crate::event::RecordReason;
use crate::metadata::Origin;
use crate::segment::IndexEntry;
use crate::store::SessionInfo;
use crate::summary::Summary;

/// The extension of the Parquet file beside a shipped segment.
pub(super) const PARQUET_EXT: &str = "parquet";

/// The Parquet file of a segment's index entries: one row per recording, the session's
/// name and origin and the segment's object key on every row.
pub(super) fn encode(
    session: &SessionInfo,
    segment_key: &str,
    entries: &[IndexEntry],
) -> Result<Vec<u8>, ShipError> {
    let failed = |source: ParquetError| ShipError::Parquet {
        key: segment_key.to_owned(),
        source,
    };
    let batch = batch(session, segment_key, entries).map_err(|e| failed(e.into()))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer =
        ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties)).map_err(failed)?;
    writer.write(&batch).map_err(failed)?;
    writer.into_inner().map_err(failed)
}

/// The rows as one Arrow batch; the schema is read off the columns, so the two cannot
/// disagree.
fn batch(
    session: &SessionInfo,
    segment_key: &str,
    entries: &[IndexEntry],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let rows: Vec<&Summary> = entries.iter().map(|e| &e.summary).collect();
    let n = rows.len();
    let unknown = Origin::default();
    let origin = session.origin().unwrap_or(&unknown);
    let of_origin = |field: fn(&Origin) -> &Option<String>| repeated(field(origin).as_deref(), n);
    // (name, nullable, values)
    let columns: [(&str, bool, ArrayRef); 26] = [
        (
            "id",
            false,
            texts(rows.iter().map(|s| Some(s.id.to_string()))),
        ),
        ("service", false, repeated(Some(session.service()), n)),
        ("session", false, repeated(Some(&session.name), n)),
        ("pod", true, of_origin(|o| &o.pod)),
        ("node", true, of_origin(|o| &o.node)),
        ("namespace", true, of_origin(|o| &o.namespace)),
        ("region", true, of_origin(|o| &o.region)),
        ("build_version", true, of_origin(|o| &o.build_version)),
        ("git_commit", true, of_origin(|o| &o.git_commit)),
        ("segment", false, repeated(Some(segment_key), n)),
        (
            "method",
            false,
            texts(rows.iter().map(|s| Some(&*s.method))),
        ),
        ("uri", false, texts(rows.iter().map(|s| Some(&s.uri)))),
        ("path", false, texts(rows.iter().map(|s| Some(s.path())))),
        (
            "status",
            true,
            Arc::new(Int32Array::from_iter(
                rows.iter().map(|s| s.status.map(i32::from)),
            )),
        ),
        (
            "reason",
            true,
            texts(rows.iter().map(|s| s.reason.map(RecordReason::as_str))),
        ),
        (
            "capture_id",
            true,
            texts(rows.iter().map(|s| match s.reason {
                Some(RecordReason::Capture(id)) => Some(id.to_string()),
                _ => None,
            })),
        ),
        (
            "started",
            false,
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    rows.iter().map(|s| int64(s.started_unix_us)),
                )
                .with_timezone_utc(),
            ),
        ),
        (
            "duration_us",
            true,
            int64s(rows.iter().map(|s| s.duration_us)),
        ),
        (
            "trace_id",
            true,
            texts(rows.iter().map(|s| s.trace_id.map(|t| t.to_string()))),
        ),
        (
            "request_bytes",
            false,
            int64s(rows.iter().map(|s| Some(s.request_bytes))),
        ),
        (
            "response_bytes",
            false,
            int64s(rows.iter().map(|s| Some(s.response_bytes))),
        ),
        (
            "raw_bytes",
            false,
            int64s(rows.iter().map(|s| Some(s.raw_bytes))),
        ),
        (
            "outbound_calls",
            false,
            Arc::new(Int32Array::from_iter_values(
                rows.iter()
                    .map(|s| i32::try_from(s.outbound_calls).unwrap_or(i32::MAX)),
            )),
        ),
        ("failed", false, flags(rows.iter().map(|s| s.failed))),
        ("truncated", false, flags(rows.iter().map(|s| s.truncated))),
        ("aborted", false, flags(rows.iter().map(|s| s.aborted))),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, nullable, values)| Field::new(*name, values.data_type().clone(), *nullable))
        .collect();
    let arrays = columns.into_iter().map(|(_, _, values)| values).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// A text column.
fn texts<T: AsRef<str>>(values: impl Iterator<Item = Option<T>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// A text column of one value on every row.
fn repeated(value: Option<&str>, rows: usize) -> ArrayRef {
    texts(std::iter::repeat_n(value, rows))
}

/// A 64-bit integer column.
fn int64s(values: impl Iterator<Item = Option<u64>>) -> ArrayRef {
    Arc::new(Int64Array::from_iter(values.map(|v| v.map(int64))))
}

/// A boolean column without nulls.
fn flags(values: impl Iterator<Item = bool>) -> ArrayRef {
    Arc::new(values.map(Some).collect::<BooleanArray>())
}

/// Parquet has no unsigned 64-bit type that every engine reads as a number; no real
/// value comes near `i64::MAX` (292,000 years of microseconds, 8 EiB), and one that
/// did would saturate rather than wrap.
fn int64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{CaptureId, RecordingId, TraceId};
    use crate::metadata::SessionMetadata;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, TimestampMicrosecondType};
    use arrow_schema::{DataType, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    const KEY: &str = "prod/checkout/2026-12-07/03/checkout_web_1/seg-000001.rtseg";
    // 2026-12-07T03:59:59.123456Z
    const STARTED_US: u64 = 1_796_615_999_123_456;

    fn session(origin: Origin) -> SessionInfo {
        SessionInfo {
            name: "checkout_web_1".into(),
            dir: "/nowhere/checkout_web_1".into(),
            metadata: Some(SessionMetadata {
                service: "checkout".into(),
                origin,
                ..SessionMetadata::default()
            }),
        }
    }

    fn entry(summary: Summary) -> IndexEntry {
        IndexEntry {
            id: summary.id,
            frames: vec![0],
            summary,
        }
    }

    /// A recording that ended with 503, from a capture, and one still open.
    fn entries() -> Vec<IndexEntry> {
        let mut ended = Summary::new(RecordingId::from_parts(STARTED_US / 1000, 7));
        ended.started_unix_us = STARTED_US;
        ended.method = "POST".into();
        ended.uri = "/orders/42?expand=items".into();
        ended.status = Some(503);
        ended.duration_us = Some(1_500);
        ended.reason = Some(RecordReason::Capture(CaptureId(0xc0ff_ee00_0000_0001)));
        ended.trace_id = TraceId::from_bytes([0xab; 16]);
        ended.request_bytes = 12;
        ended.response_bytes = 34;
        ended.raw_bytes = 560;
        ended.outbound_calls = 2;
        ended.failed = true;
        let mut open = Summary::new(RecordingId::from_parts(STARTED_US / 1000 + 1, 8));
        open.method = "GET".into();
        open.uri = "/health".into();
        vec![entry(ended), entry(open)]
    }

    fn read_back(bytes: Vec<u8>) -> RecordBatch {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .expect("a Parquet file")
            .build()
            .expect("a reader");
        let batches: Vec<RecordBatch> = reader.map(|b| b.expect("a batch")).collect();
        assert_eq!(batches.len(), 1, "two rows make one batch");
        batches.into_iter().next().expect("one batch")
    }

    fn text<'a>(batch: &'a RecordBatch, column: &str) -> &'a StringArray {
        batch
            .column_by_name(column)
            .unwrap_or_else(|| panic!("no column {column}"))
            .as_string::<i32>()
    }

    #[test]
    fn each_recording_is_a_row_with_its_session_and_segment() {
        let origin = Origin {
            pod: Some("web-7f9c".into()),
            region: Some("eu-west-1".into()),
            ..Origin::default()
        };
        let bytes = encode(&session(origin), KEY, &entries()).expect("encode");
        assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
        let batch = read_back(bytes);

        assert_eq!(batch.num_rows(), 2);
        let names: Vec<&str> = batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            names,
            [
                "id",
                "service",
                "session",
                "pod",
                "node",
                "namespace",
                "region",
                "build_version",
                "git_commit",
                "segment",
                "method",
                "uri",
                "path",
                "status",
                "reason",
                "capture_id",
                "started",
                "duration_us",
                "trace_id",
                "request_bytes",
                "response_bytes",
                "raw_bytes",
                "outbound_calls",
                "failed",
                "truncated",
                "aborted",
            ]
        );

        let ids = entries();
        assert_eq!(text(&batch, "id").value(0), ids[0].id.to_string());
        assert_eq!(text(&batch, "service").value(1), "checkout");
        assert_eq!(text(&batch, "session").value(1), "checkout_web_1");
        assert_eq!(text(&batch, "segment").value(0), KEY);
        assert_eq!(text(&batch, "pod").value(1), "web-7f9c");
        assert_eq!(text(&batch, "region").value(0), "eu-west-1");
        assert!(text(&batch, "node").is_null(0), "no node in the metadata");
        assert_eq!(text(&batch, "uri").value(0), "/orders/42?expand=items");
        assert_eq!(text(&batch, "path").value(0), "/orders/42");

        let status = batch
            .column_by_name("status")
            .expect("status")
            .as_primitive::<Int32Type>();
        assert_eq!(status.value(0), 503);
        assert!(status.is_null(1), "no response yet");

        assert_eq!(text(&batch, "reason").value(0), "capture");
        assert!(text(&batch, "reason").is_null(1), "not ended yet");
        assert_eq!(text(&batch, "capture_id").value(0), "c0ffee0000000001");
        assert!(text(&batch, "capture_id").is_null(1));
        assert_eq!(text(&batch, "trace_id").value(0), "ab".repeat(16));
        assert!(text(&batch, "trace_id").is_null(1));

        let started = batch
            .column_by_name("started")
            .expect("started")
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(started.value(0), 1_796_615_999_123_456);
        assert_eq!(
            started.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            "microseconds, UTC"
        );
        let failed = batch.column_by_name("failed").expect("failed").as_boolean();
        assert!(failed.value(0) && !failed.value(1));
    }

    #[test]
    fn a_session_without_metadata_takes_its_service_from_its_name() {
        let session = SessionInfo {
            name: "billing_web_2".into(),
            dir: "/nowhere/billing_web_2".into(),
            metadata: None,
        };
        let batch = read_back(encode(&session, KEY, &entries()).expect("encode"));
        assert_eq!(text(&batch, "service").value(0), "billing");
        assert!(text(&batch, "pod").is_null(0) && text(&batch, "git_commit").is_null(1));
    }

    #[test]
    fn a_segment_without_recordings_is_an_empty_file_with_the_same_columns() {
        let bytes = encode(&session(Origin::default()), KEY, &[]).expect("encode");
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .expect("a Parquet file");
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
        assert_eq!(reader.schema().fields().len(), 26);
    }
}
