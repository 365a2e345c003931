//! JSON lines export: one recording per line, bodies included, for pipelines (`jq`,
//! loading into a database). The object is the one `show --json` prints.

use std::io::{self, Write};

use retrace::{Recording, RecordingInfo};

use retrace::json::RecordingView;

/// Writes one line per recording.
pub(crate) fn write(
    out: &mut dyn Write,
    recordings: &[(&RecordingInfo, Recording)],
) -> io::Result<()> {
    for (info, rec) in recordings {
        serde_json::to_writer(&mut *out, &RecordingView::new(info, rec))?;
        writeln!(out)?;
    }
    Ok(())
}
