//! Bodies for people: JSON pretty-printed, text as it is, binary (or compressed) bodies
//! summarised in one line so they never garble a terminal. `--raw` bypasses all of it
//! and writes the recorded bytes exactly.

use std::io::{self, Write};

use retrace::{BodyEnd, Header};

use super::{bytes, message};

/// How a body is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyMode {
    /// Pretty-printed JSON, text as is, binary summarised.
    Pretty,
    /// The recorded bytes, exactly.
    Raw,
}

/// What a body turned out to be.
#[derive(Debug)]
pub(crate) enum Kind {
    /// JSON, pretty-printed in its key order.
    Json(String),
    /// Printable text.
    Text(String),
    /// Anything else, or an encoded (compressed) body.
    Binary,
}

/// What `data` is, by its headers and its bytes.
pub(crate) fn classify(data: &[u8], headers: &[Header]) -> Kind {
    let encoded = message::find(headers, "content-encoding")
        .is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
    if encoded {
        return Kind::Binary;
    }
    let looks_json = message::find(headers, "content-type").is_some_and(|t| t.contains("json"))
        || data
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{' || *b == b'[');
    if looks_json
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(pretty) = serde_json::to_string_pretty(&value)
    {
        return Kind::Json(pretty);
    }
    match std::str::from_utf8(data) {
        Ok(s)
            if !s
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            Kind::Text(s.to_owned())
        }
        _ => Kind::Binary,
    }
}

/// Writes a body after its head: nothing for an empty body, else the body and a note
/// when it was cut at its cap.
pub(crate) fn write_body(
    out: &mut impl Write,
    data: &[u8],
    headers: &[Header],
    end: Option<&BodyEnd>,
    mode: BodyMode,
) -> io::Result<()> {
    let total = end.map_or(data.len() as u64, |e| e.total_len.max(data.len() as u64));
    if total == 0 {
        return Ok(());
    }
    writeln!(out)?;
    match mode {
        BodyMode::Raw => {
            out.write_all(data)?;
            writeln!(out)?;
        }
        BodyMode::Pretty => match classify(data, headers) {
            Kind::Json(text) | Kind::Text(text) => {
                out.write_all(text.as_bytes())?;
                if !text.ends_with('\n') {
                    writeln!(out)?;
                }
            }
            Kind::Binary => {
                let mut what = vec![bytes(data.len() as u64)];
                what.extend(message::find(headers, "content-type"));
                what.extend(
                    message::find(headers, "content-encoding").map(|e| format!("{e}-encoded")),
                );
                writeln!(
                    out,
                    "[binary body: {}; --raw prints the bytes]",
                    what.join(", ")
                )?;
            }
        },
    }
    if let Some(end) = end.filter(|e| e.truncated()) {
        writeln!(
            out,
            "[body cut at its cap: {} of {} kept]",
            bytes(end.captured_len),
            bytes(end.total_len)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty(data: &[u8], headers: &[Header]) -> String {
        let mut out = Vec::new();
        write_body(&mut out, data, headers, None, BodyMode::Pretty).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_is_pretty_printed_in_its_key_order() {
        let json = [Header::new("content-type", "application/json")];
        assert_eq!(
            pretty(br#"{"b":1,"a":[true]}"#, &json),
            "\n{\n  \"b\": 1,\n  \"a\": [\n    true\n  ]\n}\n"
        );
        assert_eq!(pretty(b"{not json", &json), "\n{not json\n");
    }

    #[test]
    fn binary_and_compressed_bodies_are_summarised() {
        assert_eq!(
            pretty(
                &[0x89, b'P', b'N', b'G', 0, 1, 2],
                &[Header::new("content-type", "image/png")]
            ),
            "\n[binary body: 7 B, image/png; --raw prints the bytes]\n"
        );
        assert_eq!(
            pretty(b"hello", &[Header::new("content-encoding", "gzip")]),
            "\n[binary body: 5 B, gzip-encoded; --raw prints the bytes]\n"
        );
        assert_eq!(pretty(b"", &[]), "");
    }
}
