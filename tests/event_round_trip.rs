//! Property tests: every event kind survives postcard + lz4 framing, and survives the
//! whole trip through a recorder, segment files and the store.

mod common;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use retrace::segment::{decode_payload, encode_payload};
use retrace::*;

fn bytes_any(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn header() -> impl Strategy<Value = Header> {
    ("[a-z][a-z0-9-]{0,20}", bytes_any(40)).prop_map(|(n, v)| Header::new(n, v))
}

fn request_head() -> impl Strategy<Value = RequestHead> {
    (
        "(GET|POST|PUT|DELETE|PATCH)",
        "/[a-z0-9/._~%-]{0,40}(\\?[a-z=&0-9]{0,20})?",
        "HTTP/(1\\.0|1\\.1|2)",
        vec(header(), 0..8),
    )
        .prop_map(|(method, uri, version, headers)| RequestHead {
            method: method.into(),
            uri,
            version: version.into(),
            headers,
        })
}

fn response_head() -> impl Strategy<Value = ResponseHead> {
    (100u16..600, "HTTP/1\\.1", vec(header(), 0..8)).prop_map(|(status, version, headers)| {
        ResponseHead {
            status,
            version: version.into(),
            headers,
        }
    })
}

fn body_end() -> impl Strategy<Value = BodyEnd> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        option::of(any::<[u8; 32]>()),
        vec(header(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(at_us, total_len, captured_len, digest, trailers, finished)| BodyEnd {
                at_us,
                total_len,
                captured_len,
                digest,
                trailers,
                finished,
            },
        )
}

fn body() -> impl Strategy<Value = WholeBody> {
    (bytes_any(300), body_end()).prop_map(|(data, end)| WholeBody { data, end })
}

fn chunk() -> impl Strategy<Value = BodyChunk> {
    (any::<u64>(), bytes_any(500)).prop_map(|(at_us, data)| BodyChunk { at_us, data })
}

fn reason() -> impl Strategy<Value = RecordReason> {
    prop_oneof![
        Just(RecordReason::Sampled),
        Just(RecordReason::Header),
        Just(RecordReason::Flag),
        Just(RecordReason::Window),
        Just(RecordReason::Parent),
        Just(RecordReason::Manual),
        Just(RecordReason::KeptOnOutcome(KeepCause::Status)),
        Just(RecordReason::KeptOnOutcome(KeepCause::Error)),
        Just(RecordReason::KeptOnOutcome(KeepCause::Latency)),
    ]
}

fn loss() -> impl Strategy<Value = Loss> {
    prop_oneof![
        any::<u64>().prop_map(|n| Loss::RequestBodyTruncated { dropped_bytes: n }),
        any::<u64>().prop_map(|n| Loss::ResponseBodyTruncated { dropped_bytes: n }),
        any::<u64>().prop_map(|n| Loss::RecordingLimit { dropped_events: n }),
        (any::<u32>(), 0usize..DropReason::ALL.len()).prop_map(|(chunks, r)| Loss::ChunksDropped {
            chunks,
            reason: DropReason::ALL[r],
        }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (any::<u64>(), any::<Option<u128>>(), any::<bool>()).prop_map(|(t, trace, tentative)| {
            Event::Begin(Begin {
                started_unix_us: t,
                trace_id: trace.and_then(|v| TraceId::from_bytes(v.to_be_bytes())),
                tentative,
            })
        }),
        request_head().prop_map(Event::Request),
        chunk().prop_map(Event::RequestBody),
        body_end().prop_map(Event::RequestEnd),
        (
            any::<u32>(),
            "[a-z.]{1,20}:[0-9]{2,5}",
            any::<u64>(),
            request_head(),
            body()
        )
            .prop_map(|(call_id, target, at_us, head, body)| Event::Call(Box::new(
                OutboundCall {
                    call_id,
                    target,
                    at_us,
                    head,
                    body,
                }
            ))),
        (
            any::<u32>(),
            any::<u64>(),
            prop_oneof![
                (response_head(), body())
                    .prop_map(|(head, body)| CallOutcome::Response { head, body }),
                ".{0,60}".prop_map(CallOutcome::Error),
            ]
        )
            .prop_map(
                |(call_id, duration_us, outcome)| Event::CallResult(Box::new(OutboundResult {
                    call_id,
                    duration_us,
                    outcome,
                }))
            ),
        (
            any::<u32>(),
            prop_oneof![
                Just(ValueKind::Clock),
                Just(ValueKind::Random),
                Just(ValueKind::Boundary)
            ],
            "[a-z.]{1,20}",
            any::<u64>(),
            option::of(bytes_any(50)),
            bytes_any(50)
        )
            .prop_map(
                |(seq, kind, name, at_us, input, value)| Event::Value(NamedValue {
                    seq,
                    kind,
                    name,
                    at_us,
                    input,
                    value,
                })
            ),
        response_head().prop_map(Event::Response),
        chunk().prop_map(Event::ResponseBody),
        body_end().prop_map(Event::ResponseEnd),
        (
            option::of(100u16..600),
            any::<u64>(),
            prop_oneof![
                Just(Outcome::Completed),
                Just(Outcome::Aborted),
                ".{0,40}".prop_map(Outcome::Failed)
            ],
            reason(),
            vec(loss(), 0..3)
        )
            .prop_map(
                |(status, duration_us, outcome, reason, losses)| Event::End(End {
                    status,
                    duration_us,
                    outcome,
                    reason,
                    losses,
                })
            ),
    ]
}

proptest! {
    #[test]
    fn every_event_kind_survives_the_frame_codec(events in vec(event(), 0..30), id in any::<u128>(), seq in any::<u32>(), last in any::<bool>()) {
        let chunk = Chunk { id: RecordingId::from_u128(id), seq, last, events };
        let payload = encode_payload(std::slice::from_ref(&chunk)).unwrap();
        let decoded = decode_payload(&payload).unwrap();
        prop_assert_eq!(decoded, vec![chunk]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn every_event_kind_survives_recorder_files_and_store(
        recordings in vec(vec(event().prop_filter("no End", |e| !matches!(e, Event::End(_))), 0..20), 1..6)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (rec, guard) = common::recorder(common::config(dir.path()).chunk_bytes(2048));
        let mut expected = Vec::new();
        for events in &recordings {
            let handle = rec.start(StartOptions::new(RecordReason::Manual)).unwrap();
            for e in events {
                handle.record(e.clone());
            }
            handle.finish(Some(204), Outcome::Completed);
            expected.push((handle.id(), events.clone()));
        }
        let stats = guard.shutdown().unwrap();
        prop_assert_eq!(stats.written, recordings.len() as u64);
        let store = Store::open(dir.path()).unwrap();
        for (id, events) in expected {
            let got = store.get(&id.to_string()).unwrap();
            // The recorder adds its own Begin first and End last.
            prop_assert!(matches!(got.events.first(), Some(Event::Begin(_))));
            let ended_204 = matches!(got.events.last(), Some(Event::End(end)) if end.status == Some(204));
            prop_assert!(ended_204);
            prop_assert_eq!(&got.events[1..got.events.len() - 1], &events[..]);
        }
    }
}
