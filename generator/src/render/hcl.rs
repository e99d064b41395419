//! A small HCL writer in `terraform fmt` style: two-space indentation, and
//! the `=` of consecutive single-line attributes aligned to the longest key
//! (a blank line, a nested block or a multi-line value ends the group).
//! `hcl-rs` reads and writes HCL but does not align, so rendering is ours and
//! the tests parse the result back with `hcl-rs`.

use std::fmt::Write as _;

/// An HCL expression, already in HCL syntax.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Written as is: `var.ssh_public_keys`, `"ams3"`, `true`.
    Raw(String),
    /// `[a, b]` on one line.
    List(Vec<Expr>),
    /// `{ key = value }`, one entry per line, aligned.
    Object(Vec<(String, Expr)>),
}

impl Expr {
    pub fn str(s: &str) -> Expr {
        Expr::Raw(quote(s))
    }

    pub fn raw(s: impl Into<String>) -> Expr {
        Expr::Raw(s.into())
    }

    pub fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Expr {
        Expr::List(items.into_iter().map(Expr::str).collect())
    }

    fn is_single_line(&self) -> bool {
        match self {
            Expr::Raw(s) => !s.contains('\n'),
            Expr::List(items) => items.iter().all(Expr::is_single_line),
            Expr::Object(entries) => entries.is_empty(),
        }
    }

    fn write(&self, out: &mut String, indent: usize) {
        match self {
            Expr::Raw(s) => out.push_str(s),
            Expr::List(items) if !self.is_single_line() => {
                // One element per line, each followed by a comma (what
                // `terraform fmt` keeps as it is).
                let pad = "  ".repeat(indent + 1);
                out.push_str("[\n");
                for item in items {
                    out.push_str(&pad);
                    item.write(out, indent + 1);
                    out.push_str(",\n");
                }
                let _ = write!(out, "{}]", "  ".repeat(indent));
            }
            Expr::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out, indent);
                }
                out.push(']');
            }
            Expr::Object(entries) if entries.is_empty() => out.push_str("{}"),
            Expr::Object(entries) => {
                out.push_str("{\n");
                let items: Vec<Item> = entries
                    .iter()
                    .map(|(k, v)| Item::Attr(k.clone(), v.clone()))
                    .collect();
                write_items(out, &items, indent + 1);
                let _ = write!(out, "{}}}", "  ".repeat(indent));
            }
        }
    }
}

/// An element of a block body.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Attr(String, Expr),
    Block(Block),
    Blank,
    Comment(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub kind: String,
    pub labels: Vec<String>,
    pub items: Vec<Item>,
}

impl Block {
    pub fn new(kind: &str, labels: &[&str]) -> Block {
        Block {
            kind: kind.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            items: Vec::new(),
        }
    }

    pub fn attr(mut self, key: &str, value: Expr) -> Block {
        self.items.push(Item::Attr(key.into(), value));
        self
    }

    pub fn blank(mut self) -> Block {
        self.items.push(Item::Blank);
        self
    }

    pub fn comment(mut self, text: &str) -> Block {
        self.items.push(Item::Comment(text.into()));
        self
    }

    pub fn block(mut self, block: Block) -> Block {
        self.items.push(Item::Block(block));
        self
    }
}

/// `"text"` with HCL escapes; `${` and `%{` are escaped so that values are
/// never read as templates.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let chars: Vec<char> = s.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.get(i + 1) == Some(&'{') => {
                out.push(*c);
                out.push(*c);
            }
            c => out.push(*c),
        }
    }
    out.push('"');
    out
}

fn write_items(out: &mut String, items: &[Item], indent: usize) {
    let pad = "  ".repeat(indent);
    let mut i = 0;
    while i < items.len() {
        match &items[i] {
            Item::Attr(_, v) if !v.is_single_line() => {
                // A multi-line value stands alone: it is not aligned with its
                // neighbours (as `terraform fmt` does).
                if let Item::Attr(k, v) = &items[i] {
                    let _ = write!(out, "{pad}{k} = ");
                    v.write(out, indent);
                    out.push('\n');
                }
                i += 1;
            }
            Item::Attr(..) => {
                // The alignment group: consecutive single-line attributes.
                let mut end = i;
                while matches!(items.get(end), Some(Item::Attr(_, v)) if v.is_single_line()) {
                    end += 1;
                }
                let width = items[i..end]
                    .iter()
                    .map(|it| {
                        if let Item::Attr(k, _) = it {
                            k.chars().count()
                        } else {
                            0
                        }
                    })
                    .max()
                    .unwrap_or(0);
                for item in &items[i..end] {
                    if let Item::Attr(k, v) = item {
                        let _ = write!(out, "{pad}{k:<width$} = ");
                        v.write(out, indent);
                        out.push('\n');
                    }
                }
                i = end;
            }
            Item::Block(b) => {
                write_block(out, b, indent);
                i += 1;
            }
            Item::Blank => {
                out.push('\n');
                i += 1;
            }
            Item::Comment(c) => {
                for line in c.lines() {
                    let _ = writeln!(out, "{pad}# {line}");
                }
                i += 1;
            }
        }
    }
}

fn write_block(out: &mut String, block: &Block, indent: usize) {
    let pad = "  ".repeat(indent);
    let _ = write!(out, "{pad}{}", block.kind);
    for l in &block.labels {
        let _ = write!(out, " {}", quote(l));
    }
    if block.items.is_empty() {
        out.push_str(" {}\n");
        return;
    }
    out.push_str(" {\n");
    write_items(out, &block.items, indent + 1);
    let _ = writeln!(out, "{pad}}}");
}

/// A file of top-level blocks separated by blank lines, with an optional
/// leading comment.
pub fn file(header: &str, blocks: &[Block]) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    for (i, b) in blocks.iter().enumerate() {
        if i > 0 || !header.is_empty() {
            out.push('\n');
        }
        write_block(&mut out, b, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_terraform_fmt() {
        let b = Block::new("module", &["x"])
            .attr("source", Expr::str("./m"))
            .blank()
            .attr("a", Expr::raw("1"))
            .attr("longer", Expr::raw("2"))
            .attr(
                "obj",
                Expr::Object(vec![
                    ("k".into(), Expr::str("v")),
                    ("kk".into(), Expr::strings(["a", "b"])),
                ]),
            )
            .attr("after", Expr::raw("3"));
        let s = file("", &[b]);
        assert_eq!(
            s,
            "module \"x\" {\n  source = \"./m\"\n\n  a      = 1\n  longer = 2\n  obj = {\n    k  = \"v\"\n    kk = [\"a\", \"b\"]\n  }\n  after = 3\n}\n"
        );
    }

    #[test]
    fn quoting_escapes_templates() {
        assert_eq!(quote("a\"b${c}"), "\"a\\\"b$${c}\"");
    }
}
