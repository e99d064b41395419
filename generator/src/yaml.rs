//! YAML to a tree of nodes that remember their source location.
//!
//! We read YAML with `saphyr-parser` (a maintained, YAML 1.2 compliant,
//! event-based parser that reports a span for every event) and build our own
//! small tree instead of deserialising with serde: serde stops at the first
//! problem, while e3 reports every problem at once, each at its exact place.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Location};

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub loc: Location,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `~`, `null` or nothing.
    Null,
    /// A scalar; `plain` is false for quoted and block scalars, which are
    /// always strings.
    Scalar { value: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What the node is, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Null => "nothing (null)".into(),
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Map(_) => "a mapping".into(),
            NodeKind::Scalar { value, plain } => {
                if !plain {
                    format!("the string `{value}`")
                } else if value.parse::<i64>().is_ok() {
                    format!("the number `{value}`")
                } else if matches!(value.as_str(), "true" | "false") {
                    format!("the boolean `{value}`")
                } else {
                    format!("`{value}`")
                }
            }
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Any scalar as text (numbers and booleans included).
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// A plain scalar that is an integer.
    pub fn as_int(&self) -> Option<i64> {
        match &self.kind {
            NodeKind::Scalar { value, plain: true } => value.parse().ok(),
            _ => None,
        }
    }

    /// A plain scalar that is a number (integer or decimal).
    pub fn as_number(&self) -> Option<f64> {
        match &self.kind {
            NodeKind::Scalar { value, plain: true } => value.parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The value of `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.as_scalar() == Some(key)).map(|(_, v)| v)
    }
}

fn location(file: FileId, span: &Span) -> Location {
    Location {
        file,
        offset: span.start.index(),
        line: span.start.line(),
        col: span.start.col() + 1,
        len: span.end.index().saturating_sub(span.start.index()),
    }
}

fn point(file: FileId, offset: usize, line: usize, col: usize) -> Location {
    Location { file, offset, line, col, len: 1 }
}

enum Frame {
    Seq(Location, Vec<Node>, usize),
    Map(Location, Vec<(Node, Node)>, Option<Node>, usize),
}

/// Parses one YAML document. Returns `None` for an empty document (no
/// content at all), or the diagnostics that make the file unreadable.
pub fn parse(file: FileId, text: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let tabs = tab_indentation(file, text);
    if !tabs.is_empty() {
        return Err(tabs);
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, Node> = std::collections::HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut errors = Vec::new();

    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(ok) => ok,
            Err(e) => {
                let m = e.marker();
                let loc = point(file, m.index(), m.line(), m.col() + 1);
                return Err(vec![Diagnostic::new(Code::YamlSyntax, loc, format!("invalid YAML: {}", e.info()))
                    .hint("check the indentation and quoting on this line and the one before it")]);
            }
        };
        let loc = location(file, &span);
        let finished: Option<(Node, usize)> = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    errors.push(
                        Diagnostic::new(Code::MultipleDocuments, Location { len: 3, ..loc }, "a scenario file holds one YAML document")
                            .hint("remove the second `---` document or move it into a file of its own"),
                    );
                    break;
                }
                None
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let plain = style == ScalarStyle::Plain;
                let kind = if plain && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL") {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar { value: value.into_owned(), plain }
                };
                Some((Node { loc, kind }, anchor))
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(node) => Some((Node { loc, kind: node.kind.clone() }, 0)),
                None => {
                    errors.push(Diagnostic::new(Code::YamlSyntax, loc, "alias to an unknown anchor"));
                    Some((Node { loc, kind: NodeKind::Null }, 0))
                }
            },
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(Location { len: 1, ..loc }, Vec::new(), anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(Location { len: 1, ..loc }, Vec::new(), None, anchor));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(loc, items, anchor)) => Some((Node { loc, kind: NodeKind::Seq(items) }, anchor)),
                _ => unreachable!("parser balances sequence events"),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(loc, entries, _, anchor)) => Some((Node { loc, kind: NodeKind::Map(entries) }, anchor)),
                _ => unreachable!("parser balances mapping events"),
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
        };
        let Some((node, anchor)) = finished else { continue };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(_, items, _)) => items.push(node),
            Some(Frame::Map(_, entries, pending, _)) => match pending.take() {
                None => {
                    if !matches!(node.kind, NodeKind::Scalar { .. }) {
                        errors.push(
                            Diagnostic::new(Code::UnsupportedYaml, node.loc, format!("mapping keys must be plain text, found {}", node.describe()))
                                .hint("write the key as a word, e.g. `name:`"),
                        );
                    } else if let Some((first, _)) = entries.iter().find(|(k, _)| k.as_scalar() == node.as_scalar()) {
                        let key = node.as_scalar().unwrap_or_default();
                        errors.push(
                            Diagnostic::new(Code::DuplicateKey, node.loc, format!("duplicate key `{key}`"))
                                .label("defined again here")
                                .hint("a key may appear once per mapping: remove one of them")
                                .note(format!("`{key}` first defined here"), Some(first.loc)),
                        );
                    }
                    *pending = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
    }
    if errors.is_empty() {
        Ok(root.filter(|r| !r.is_null()))
    } else {
        Err(errors)
    }
}

/// YAML forbids tabs in indentation; say so at each such line, which is
/// clearer than the parser's generic message.
fn tab_indentation(file: FileId, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (i, line) in text.split('\n').enumerate() {
        let indent: String = line.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
        if let Some(pos) = indent.find('\t') {
            let col = indent[..pos].chars().count() + 1;
            out.push(
                Diagnostic::new(Code::TabIndent, point(file, offset + col - 1, i + 1, col), "tab character in indentation")
                    .label("tab")
                    .hint("YAML indentation must use spaces: replace the tab with spaces"),
            );
        }
        offset += line.chars().count() + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
        parse(0, text)
    }

    #[test]
    fn positions_are_one_based() {
        let root = p("a: 1\nb:\n  c: x\n").unwrap().unwrap();
        let c = root.get("b").unwrap().get("c").unwrap();
        assert_eq!((c.loc.line, c.loc.col, c.loc.len), (3, 6, 1));
    }

    #[test]
    fn duplicate_keys_are_reported_with_the_first() {
        let errs = p("a: 1\na: 2\n").unwrap_err();
        assert_eq!(errs[0].code, Code::DuplicateKey);
        assert_eq!(errs[0].location.unwrap().line, 2);
        assert_eq!(errs[0].notes[0].location.unwrap().line, 1);
    }

    #[test]
    fn tabs_are_named() {
        let errs = p("a:\n\tb: 1\n").unwrap_err();
        assert_eq!(errs[0].code, Code::TabIndent);
        assert_eq!((errs[0].location.unwrap().line, errs[0].location.unwrap().col), (2, 1));
    }

    #[test]
    fn empty_and_null_documents() {
        assert_eq!(p("").unwrap(), None);
        assert_eq!(p("# only a comment\n").unwrap(), None);
        assert_eq!(p("~\n").unwrap(), None);
    }

    #[test]
    fn anchors_and_aliases() {
        let root = p("a: &x [1, 2]\nb: *x\n").unwrap().unwrap();
        assert_eq!(root.get("b").unwrap().as_seq().unwrap().len(), 2);
    }

    #[test]
    fn quoted_scalars_are_strings() {
        let root = p("a: '3'\nb: 3\n").unwrap().unwrap();
        assert_eq!(root.get("a").unwrap().as_int(), None);
        assert_eq!(root.get("b").unwrap().as_int(), Some(3));
    }

    #[test]
    fn second_document_is_an_error() {
        let errs = p("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(errs[0].code, Code::MultipleDocuments);
    }
}
