//! How values print for people: sizes, durations, tables, summaries, bodies. Every
//! subcommand prints through these, so a size or a flag reads the same everywhere.

pub(crate) mod body;
pub(crate) mod message;
pub(crate) mod short_id;
pub(crate) mod summary;
pub(crate) mod table;

/// A byte count: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration in microseconds: `850µs`, `12.3ms`, `1.25s`, `2m05s`.
pub(crate) fn duration_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1_000.0),
        1_000_000..60_000_000 => format!("{:.2}s", us as f64 / 1_000_000.0),
        _ => {
            let secs = us / 1_000_000;
            format!("{}m{:02}s", secs / 60, secs % 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_naturally() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 20), "5.0 MiB");
        assert_eq!(duration_us(850), "850µs");
        assert_eq!(duration_us(12_345), "12.3ms");
        assert_eq!(duration_us(1_250_000), "1.25s");
        assert_eq!(duration_us(125_000_000), "2m05s");
    }
}
