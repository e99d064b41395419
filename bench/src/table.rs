//! The printed table: every section is a title, a line of column headings,
//! a row per measured thing and a few notes, laid out by [`section`].

use std::fmt::Write as _;

/// A column: its heading, the width of its values, their alignment, the
/// spaces before it, and a unit printed after every value (the heading
/// spans value and unit).
#[derive(Clone, Copy)]
pub struct Col {
    head: &'static str,
    width: usize,
    right: bool,
    gap: usize,
    unit: &'static str,
}

/// A right-aligned column.
pub const fn right(head: &'static str, width: usize) -> Col {
    Col {
        head,
        width,
        right: true,
        gap: 1,
        unit: "",
    }
}

/// A left-aligned column.
pub const fn left(head: &'static str, width: usize) -> Col {
    Col {
        right: false,
        ..right(head, width)
    }
}

impl Col {
    /// `gap` spaces before the column instead of one.
    pub const fn gap(self, gap: usize) -> Col {
        Col { gap, ..self }
    }
    /// `unit` after every value (e.g. `" s"`).
    pub const fn unit(self, unit: &'static str) -> Col {
        Col { unit, ..self }
    }
}

/// A row: its values, one per column, and how many runs failed (said
/// after the row when any did).
pub type Row = (Vec<String>, usize);

fn cell(t: &mut String, text: &str, width: usize, right: bool) {
    let _ = if right {
        write!(t, "{text:>width$}")
    } else {
        write!(t, "{text:<width$}")
    };
}

/// Appends one section: a blank line, `title`, the headings of `cols`, the
/// rows, then each of `notes` on a line of its own.
pub fn section(t: &mut String, title: &str, cols: &[Col], rows: &[Row], notes: &[String]) {
    let _ = writeln!(t, "\n{title}");
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            t.push_str(&" ".repeat(c.gap));
        }
        cell(t, c.head, c.width + c.unit.chars().count(), c.right);
    }
    t.push('\n');
    for (values, failed) in rows {
        assert_eq!(values.len(), cols.len(), "a value per column");
        for (i, (c, v)) in cols.iter().zip(values).enumerate() {
            if i > 0 {
                t.push_str(&" ".repeat(c.gap));
            }
            cell(t, v, c.width, c.right);
            t.push_str(c.unit);
        }
        if *failed > 0 {
            let _ = write!(t, "  ({failed} failed runs)");
        }
        t.push('\n');
    }
    for n in notes {
        let _ = writeln!(t, "{n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_units_and_failures() {
        let mut t = String::new();
        section(
            &mut t,
            "1. Title",
            &[
                right("N", 3),
                left("TIME", 6).gap(2),
                right("EACH", 4).unit(" µs"),
            ],
            &[
                (vec!["3".into(), "1 s".into(), "12".into()], 0),
                (vec!["10".into(), "-".into(), "7".into()], 2),
            ],
            &["  a note".into()],
        );
        assert_eq!(
            t,
            "\n1. Title\n  N  TIME      EACH\n  3  1 s      12 µs\n 10  -         7 µs  (2 failed runs)\n  a note\n"
        );
    }
}
