//! `retrace verify`: a sound store, a flipped byte in the middle and at the end of a
//! closed segment, a torn tail in a segment still being written, an index that no longer
//! matches its segment, and unreadable metadata. Each problem is one line naming the
//! file and, where there is one, the offset; the exit status says whether all is sound.

mod support;

use std::fs;
use std::io::Write;

use support::{Crafted, Root, Spec, craft_session, now_us};

fn specs(n: usize) -> Vec<Spec> {
    (0..n)
        .map(|i| Spec::new("GET", &format!("/item/{i}"), 200))
        .collect()
}

fn summary_line(run: &support::Run) -> String {
    run.lines().last().expect("a summary line").to_string()
}

#[test]
fn a_sound_store_passes() {
    let root = Root::new();
    root.record("checkout", &specs(2));
    root.record_with("billing", &specs(3), true);
    let run = root.retrace(&["verify"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.lines().len(), 1, "{}", run.stdout);
    let line = summary_line(&run);
    assert!(
        line.starts_with("checked 2 segments in 2 sessions ("),
        "{line}"
    );
    assert!(line.contains(" frames, 5 recordings, "), "{line}");
    assert!(line.ends_with("): all sound"), "{line}");
}

#[test]
fn a_flipped_byte_in_the_middle_is_reported_with_file_and_offset() {
    let root = Root::new();
    root.record_with("checkout", &specs(3), true);
    let segment = &root.segments()[0];
    let mut data = fs::read(segment).expect("read");
    data[16 + 30] ^= 0x08;
    fs::write(segment, &data).expect("write");

    let run = root.retrace(&["verify"]);
    assert_eq!(run.code, 1);
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    let prefix = format!(
        "{}: corrupt frame at offset 16: checksum mismatch; ",
        segment.display()
    );
    assert!(
        lines[0].starts_with(&prefix) && lines[0].ends_with(" bytes skipped"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(" frames, 2 recordings, "),
        "the frames after it were read: {}",
        lines[1]
    );
    assert!(lines[1].ends_with("): 1 problems"), "{}", lines[1]);
}

#[test]
fn bad_bytes_at_the_end_of_a_closed_segment_are_damage_not_a_torn_tail() {
    let root = Root::new();
    root.record("checkout", &specs(1));
    let segment = &root.segments()[0];
    let mut data = fs::read(segment).expect("read");
    let last = data.len() - 8;
    data[last] ^= 0x01;
    fs::write(segment, &data).expect("write");

    let run = root.retrace(&["verify", "--allow-torn-tail"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run.lines()[0];
    assert!(
        line.starts_with(&format!(
            "{}: corrupt frame at offset 16: checksum mismatch (",
            segment.display()
        )),
        "{line}"
    );
    assert!(
        line.ends_with(
            "; the segment was closed at this length, so this is damage, not a torn write"
        ),
        "{line}"
    );
}

#[test]
fn a_torn_tail_in_a_segment_being_written_counts_unless_allowed() {
    let root = Root::new();
    let (_, segs) = craft_session(
        root.path(),
        "api_host_1",
        false,
        &[(&[Crafted::new(now_us(), 200)], false)],
    );
    let len = fs::metadata(&segs[0]).expect("segment").len();
    fs::OpenOptions::new()
        .append(true)
        .open(&segs[0])
        .and_then(|mut f| f.write_all(&[40, 0, 0, 0, 9, 9, 9, 9, 1, 2]))
        .expect("append half a frame");

    let torn = format!(
        "{}: torn tail at offset {len} (10 bytes unusable: the frame runs past the end of the data)",
        segs[0].display()
    );
    let strict = root.retrace(&["verify"]);
    assert_eq!(strict.code, 1);
    assert_eq!(strict.lines()[0], torn);
    assert!(summary_line(&strict).ends_with("): 1 problems"));

    let lenient = root.retrace(&["verify", "--allow-torn-tail"]);
    assert_eq!(lenient.code, 0, "{}", lenient.stdout);
    assert_eq!(lenient.lines()[0], format!("tolerated: {torn}"));
    assert!(summary_line(&lenient).ends_with("): all sound"));
}

#[test]
fn an_index_that_no_longer_matches_its_segment_is_a_problem() {
    let root = Root::new();
    root.record("checkout", &specs(2));
    let segment = &root.segments()[0];
    let len = fs::metadata(segment).expect("segment").len();
    fs::OpenOptions::new()
        .append(true)
        .open(segment)
        .and_then(|mut f| f.write_all(b"xx"))
        .expect("append");
    let run = root.retrace(&["verify"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.lines()[1],
        format!(
            "{}: index not used (it describes {len} bytes but the segment has {}); the segment was scanned instead",
            segment.with_extension("rtidx").display(),
            len + 2
        )
    );
}

#[test]
fn unreadable_metadata_is_a_problem() {
    let root = Root::new();
    root.record("checkout", &specs(1));
    let meta = root.sessions()[0].join("metadata.json");
    fs::write(&meta, b"{ not json").expect("write");
    let run = root.retrace(&["verify"]);
    assert_eq!(run.code, 1);
    assert!(
        run.lines()[0].starts_with(&format!(
            "{}: unreadable session metadata: ",
            meta.display()
        )),
        "{}",
        run.stdout
    );
}
