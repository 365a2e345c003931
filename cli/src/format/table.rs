//! Column-aligned text tables. Widths come from the cells (counted in characters, so
//! `µs` lines up); a column may cap its width, cutting longer cells with `…`.

use std::io::{self, Write};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// How a column aligns its cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// One column's heading and layout.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    heading: &'static str,
    align: Align,
    max_width: Option<usize>,
}

impl Column {
    /// A left-aligned column.
    pub(crate) fn left(heading: &'static str) -> Self {
        Self {
            heading,
            align: Align::Left,
            max_width: None,
        }
    }

    /// A right-aligned column.
    pub(crate) fn right(heading: &'static str) -> Self {
        Self {
            heading,
            align: Align::Right,
            max_width: None,
        }
    }

    /// Caps the column's width.
    pub(crate) fn max_width(mut self, width: usize) -> Self {
        self.max_width = Some(width);
        self
    }
}

/// A table being filled.
#[derive(Debug)]
pub(crate) struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

/// The columns `text` takes in a terminal: a CJK character or an emoji takes two, a
/// combining mark none.
pub(crate) fn display_width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Cuts `text` to `width` terminal columns, ending with `…` when cut.
pub(crate) fn truncate(text: &str, width: usize) -> String {
    if display_width(text) <= width {
        return text.to_owned();
    }
    let room = width.saturating_sub(1);
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

impl Table {
    /// An empty table with these columns.
    pub(crate) fn new(columns: Vec<Column>) -> Self {
        Self {
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row, cutting cells to their column's width; missing cells are empty.
    pub(crate) fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.columns.len(), String::new());
        for (cell, column) in cells.iter_mut().zip(&self.columns) {
            if let Some(w) = column.max_width
                && display_width(cell) > w
            {
                *cell = truncate(cell, w);
            }
        }
        self.rows.push(cells);
    }

    /// Writes the heading and the rows. The last column is not padded, so lines carry no
    /// trailing spaces.
    pub(crate) fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let headings: Vec<String> = self.columns.iter().map(|c| c.heading.to_owned()).collect();
        let mut widths: Vec<usize> = headings.iter().map(|h| display_width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(display_width(cell));
            }
        }
        let mut line = String::new();
        for cells in std::iter::once(&headings).chain(&self.rows) {
            line.clear();
            for (i, (column, text)) in self.columns.iter().zip(cells).enumerate() {
                let pad = widths[i] - display_width(text);
                let last = i + 1 == self.columns.len();
                if i > 0 {
                    line.push_str("  ");
                }
                match column.align {
                    Align::Left if last => line.push_str(text),
                    Align::Left => {
                        line.push_str(text);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(text);
                    }
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_cap() {
        let mut t = Table::new(vec![
            Column::left("NAME").max_width(5),
            Column::right("N"),
            Column::left("NOTE"),
        ]);
        t.row(vec!["alpha-beta".into(), "7".into(), "x".into()]);
        t.row(vec!["b".into(), "1200µs".into(), String::new()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME        N  NOTE\nalph…       7  x\nb      1200µs\n"
        );
    }

    #[test]
    fn wide_characters_align_by_the_columns_they_take() {
        let mut t = Table::new(vec![Column::left("ROUTE").max_width(8), Column::right("N")]);
        t.row(vec!["/商品/一覧".into(), "1".into()]);
        t.row(vec!["/a".into(), "22".into()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        // `/商品/…` is 1 + 4 + 1 + 1 = 7 columns; the column is 7 wide.
        assert_eq!(text, "ROUTE     N\n/商品/…   1\n/a       22\n");
        for line in text.lines() {
            assert_eq!(display_width(line), 11, "{line:?}");
        }
    }
}
