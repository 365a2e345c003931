//! Column charts as inline SVG, drawn on the server: no chart library, no script, and
//! nothing a content security policy has to allow. Each column carries a `<title>`
//! (its label and value) for a pointer and for a screen reader.

use maud::{Markup, html};

/// One column.
pub(super) struct Column {
    /// Its label under the axis (shown for some columns when there are many).
    pub(super) label: String,
    /// Its height.
    pub(super) value: u64,
    /// Its CSS class, for colour (`s2xx`, `s5xx`, ...), or empty.
    pub(super) class: &'static str,
}

impl Column {
    /// A column of the default colour.
    pub(super) fn new(label: impl Into<String>, value: u64) -> Self {
        Self {
            label: label.into(),
            value,
            class: "",
        }
    }
}

const WIDTH: u64 = 600;
const PLOT_TOP: u64 = 16;
const PLOT_HEIGHT: u64 = 120;
/// The most labels under the axis; the others are on the columns' titles only.
const MAX_LABELS: usize = 8;

/// A titled column chart; `unit` names what the values count.
pub(super) fn columns(title: &str, id: &str, unit: &str, columns: &[Column]) -> Markup {
    let max = columns.iter().map(|c| c.value).max().unwrap_or(0).max(1);
    let n = columns.len().max(1) as u64;
    let step = WIDTH / n;
    let every = columns.len().div_ceil(MAX_LABELS).max(1);
    let base = PLOT_TOP + PLOT_HEIGHT;
    let total: u64 = columns.iter().map(|c| c.value).sum();
    html! {
        figure.chart id=(id) {
            figcaption { (title) span.muted { " — " (total) " " (unit) } }
            @if total == 0 { p.muted.empty { "None." } } @else {
            svg viewBox={ "0 0 " (WIDTH) " " (base + 20) } role="img"
                aria-label={ (title) ": " (total) " " (unit) } {
                line.axis x1="0" y1=(base) x2=(WIDTH) y2=(base) {}
                text.max x="0" y="11" { (max) " " (unit) }
                @for (i, c) in columns.iter().enumerate() {
                    @let height = c.value * PLOT_HEIGHT / max;
                    @let x = i as u64 * step;
                    rect class={ "col " (c.class) } x=(x + 1) y=(base - height)
                        width=(step.saturating_sub(2).max(1)) height=(height) {
                        title { (c.label) ": " (c.value) " " (unit) }
                    }
                    // The first label starts at the edge, so it is not cut off.
                    @if i == 0 {
                        text.label.first x=(x) y=(base + 14) { (c.label) }
                    } @else if i % every == 0 {
                        text.label x=(x + step / 2) y=(base + 14) { (c.label) }
                    }
                }
            }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_scale_to_the_largest_and_carry_their_values() {
        let out = columns(
            "Status",
            "status",
            "recordings",
            &[Column::new("2xx", 30), Column::new("5xx", 15)],
        )
        .into_string();
        assert!(out.contains("— 45 recordings"), "{out}");
        assert!(out.contains(r#"y="16" width="298" height="120""#), "{out}");
        assert!(out.contains(r#"y="76" width="298" height="60""#), "{out}");
        assert!(out.contains("<title>5xx: 15 recordings</title>"), "{out}");
        let none = columns("Drops", "drops", "requests", &[Column::new("full", 0)]).into_string();
        assert!(none.contains("— 0 requests"), "{none}");
        assert!(none.contains("None.") && !none.contains("<svg"), "{none}");
    }
}
