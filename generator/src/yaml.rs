//! YAML to a tree of nodes that remember their source location.
//!
//! We read YAML with `saphyr-parser` (a maintained, YAML 1.2 compliant,
//! event-based parser that reports a span for every event) and build our own
//! small tree instead of deserialising with serde: serde stops at the first
//! problem, while e3 reports every problem at once, each at its exact place.

use std::collections::HashMap;

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
    Scalar {
        value: String,
        plain: bool,
    },
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

    /// What kind of node this is, without its value: "a string", "a list".
    pub fn describe_kind(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "nothing (null)",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Scalar { .. } => "a single value",
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
            NodeKind::Scalar { value, plain: true } => {
                value.parse::<f64>().ok().filter(|f| f.is_finite())
            }
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The value of `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map(|(_, v)| v)
    }
}

/// Most nodes a document may hold once aliases are expanded: a scenario has
/// a few hundred at most, and the limit stops "billion laughs" documents
/// (aliases of aliases) from expanding exponentially.
pub const MAX_NODES: usize = 100_000;
/// Deepest nesting of lists and mappings (a scenario needs five levels).
pub const MAX_DEPTH: usize = 64;

fn location(file: FileId, span: &Span, chars: &[char]) -> Location {
    let start = span.start.index();
    // Spans of quoted scalars and flow collections may include the blank
    // that follows them; the caret should cover the token alone.
    let mut end = span.end.index().min(chars.len()).max(start);
    while end > start && chars[end - 1].is_whitespace() {
        end -= 1;
    }
    Location {
        file,
        offset: start,
        line: span.start.line(),
        col: span.start.col() + 1,
        len: end - start,
    }
}

fn point(file: FileId, offset: usize, line: usize, col: usize) -> Location {
    Location {
        file,
        offset,
        line,
        col,
        len: 1,
    }
}

enum Frame {
    Seq(Location, Vec<Node>, usize),
    /// Start, entries, the key waiting for its value, anchor, and where
    /// each key was first written (for duplicates, in constant time).
    Map(
        Location,
        Vec<(Node, Node)>,
        Option<Node>,
        usize,
        HashMap<String, Location>,
    ),
}

impl Frame {
    fn loc(&self) -> Location {
        match self {
            Frame::Seq(loc, ..) | Frame::Map(loc, ..) => *loc,
        }
    }
}

/// A flow collection (`[a, b]`, `{ a: 1 }`) written on one line is marked
/// from its opening to its closing bracket; a block one by its first
/// character.
fn collection_loc(start: Location, end: &Location) -> Location {
    if end.len > 0 && end.line == start.line && end.offset >= start.offset {
        Location {
            len: end.offset + 1 - start.offset,
            ..start
        }
    } else {
        start
    }
}

/// Number of nodes in a tree.
fn size(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Null | NodeKind::Scalar { .. } => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size(k) + size(v))
                .sum::<usize>()
        }
    }
}

/// The parser's message, with its quoted literals in backticks.
fn syntax_message(info: &str) -> String {
    let mut out = String::new();
    let mut rest = info;
    while let Some(open) = rest.find('\'') {
        let Some(len) = rest[open + 1..].find('\'') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push('`');
        out.push_str(&rest[open + 1..open + 1 + len]);
        out.push('`');
        rest = &rest[open + 2 + len..];
    }
    out.push_str(rest);
    out
}

/// Diagnoses a parser error at `loc`, given the collections still open.
fn syntax_error(loc: Location, info: &str, chars: &[char], stack: &[Frame]) -> Diagnostic {
    if info.contains("unknown anchor") && chars.get(loc.offset) == Some(&'*') {
        let alias: String = chars
            .iter()
            .skip(loc.offset + 1)
            .take_while(|c| !c.is_whitespace() && !",[]{}".contains(**c))
            .collect();
        return Diagnostic::new(Code::YamlSyntax, Location { len: alias.chars().count() + 1, ..loc }, format!("alias `*{alias}` refers to an anchor that is not defined"))
            .label("unknown anchor")
            .hint(format!("define the anchor before its first use, e.g. `key: &{alias} value`, or write the value here"));
    }
    let mut d = Diagnostic::new(
        Code::YamlSyntax,
        loc,
        format!("invalid YAML: {}", syntax_message(info)),
    );
    let flow =
        |f: &&Frame| f.loc().len == 1 && matches!(chars.get(f.loc().offset), Some('[' | '{'));
    // An unclosed bracket shows up as an error at some later token; point
    // at the bracket too.
    let unclosed = stack
        .last()
        .filter(flow)
        .filter(|f| info.contains("flow") || f.loc().line < loc.line)
        .or_else(|| {
            stack
                .iter()
                .rev()
                .find(flow)
                .filter(|_| info.contains("flow"))
        });
    match unclosed {
        Some(open) => {
            let close = if chars.get(open.loc().offset) == Some(&'[') {
                "]"
            } else {
                "}"
            };
            d = d
                .hint(format!(
                    "close the bracket with `{close}`, and separate its items with `,`"
                ))
                .note(
                    format!(
                        "the `{}` opened here is not closed",
                        chars[open.loc().offset]
                    ),
                    Some(open.loc()),
                );
        }
        _ => d = d.hint("check the indentation and quoting on this line and the one before it"),
    }
    d
}

/// Parses one YAML document. Returns `None` for an empty document (no
/// content at all), or the diagnostics that make the file unreadable.
pub fn parse(file: FileId, text: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let tabs = tab_indentation(file, text);
    if !tabs.is_empty() {
        return Err(tabs);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut stack: Vec<Frame> = Vec::new();
    // Anchored nodes with their sizes.
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut nodes = 0usize;
    let mut errors = Vec::new();

    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(ok) => ok,
            Err(e) => {
                let m = e.marker();
                let loc = point(file, m.index(), m.line(), m.col() + 1);
                return Err(vec![syntax_error(loc, e.info(), &chars, &stack)]);
            }
        };
        let loc = location(file, &span, &chars);
        let finished: Option<(Node, usize)> = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    errors.push(
                        Diagnostic::new(
                            Code::MultipleDocuments,
                            Location { len: 3, ..loc },
                            "a scenario file holds one YAML document",
                        )
                        .hint("remove the second `---` document or move it into a file of its own"),
                    );
                    break;
                }
                None
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let plain = style == ScalarStyle::Plain;
                let kind = if plain && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL")
                {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar {
                        value: value.into_owned(),
                        plain,
                    }
                };
                nodes += 1;
                Some((Node { loc, kind }, anchor))
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((node, n)) => {
                    // The alias copies the anchored tree: count all of it.
                    nodes += n;
                    if nodes > MAX_NODES {
                        errors.push(
                            Diagnostic::new(Code::UnsupportedYaml, loc, format!("aliases expand the document to more than {MAX_NODES} values"))
                                .label("expanded here")
                                .hint("a scenario is small: write the values out, or use fewer nested aliases"),
                        );
                        break;
                    }
                    Some((
                        Node {
                            loc,
                            kind: node.kind.clone(),
                        },
                        0,
                    ))
                }
                None => {
                    errors.push(Diagnostic::new(
                        Code::YamlSyntax,
                        loc,
                        "alias to an unknown anchor",
                    ));
                    Some((
                        Node {
                            loc,
                            kind: NodeKind::Null,
                        },
                        0,
                    ))
                }
            },
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                errors.push(
                    Diagnostic::new(
                        Code::UnsupportedYaml,
                        Location { len: 1, ..loc },
                        format!("lists and mappings nested deeper than {MAX_DEPTH} levels"),
                    )
                    .hint("a scenario nests a few levels at most: check the indentation"),
                );
                break;
            }
            Event::SequenceStart(anchor, _) => {
                nodes += 1;
                stack.push(Frame::Seq(Location { len: 1, ..loc }, Vec::new(), anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                nodes += 1;
                stack.push(Frame::Map(
                    Location { len: 1, ..loc },
                    Vec::new(),
                    None,
                    anchor,
                    HashMap::new(),
                ));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(start, items, anchor)) => Some((
                    Node {
                        loc: collection_loc(start, &loc),
                        kind: NodeKind::Seq(items),
                    },
                    anchor,
                )),
                _ => unreachable!("parser balances sequence events"),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(start, entries, _, anchor, _)) => Some((
                    Node {
                        loc: collection_loc(start, &loc),
                        kind: NodeKind::Map(entries),
                    },
                    anchor,
                )),
                _ => unreachable!("parser balances mapping events"),
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            // Keeping a copy of the anchored tree costs as much as an alias.
            let n = size(&node);
            nodes += n;
            if nodes > MAX_NODES {
                errors.push(
                    Diagnostic::new(
                        Code::UnsupportedYaml,
                        node.loc,
                        format!("aliases expand the document to more than {MAX_NODES} values"),
                    )
                    .label("anchored here")
                    .hint("a scenario is small: write the values out, or use fewer nested aliases"),
                );
                break;
            }
            anchors.insert(anchor, (node.clone(), n));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(_, items, _)) => items.push(node),
            Some(Frame::Map(_, entries, pending, _, keys)) => match pending.take() {
                None => {
                    if !matches!(node.kind, NodeKind::Scalar { .. }) {
                        errors.push(
                            Diagnostic::new(
                                Code::UnsupportedYaml,
                                node.loc,
                                format!(
                                    "mapping keys must be plain text, found {}",
                                    node.describe()
                                ),
                            )
                            .hint("write the key as a word, e.g. `name:`"),
                        );
                    } else {
                        let key = node.as_scalar().unwrap_or_default();
                        match keys.get(key) {
                            Some(first) => errors.push(
                                Diagnostic::new(
                                    Code::DuplicateKey,
                                    node.loc,
                                    format!("duplicate key `{key}`"),
                                )
                                .label("defined again here")
                                .hint("a key may appear once per mapping: remove one of them")
                                .note(format!("`{key}` first defined here"), Some(*first)),
                            ),
                            None => {
                                keys.insert(key.to_string(), node.loc);
                            }
                        }
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
        let indent: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if let Some(pos) = indent.find('\t') {
            let col = indent[..pos].chars().count() + 1;
            out.push(
                Diagnostic::new(
                    Code::TabIndent,
                    point(file, offset + col - 1, i + 1, col),
                    "tab character in indentation",
                )
                .label("tab")
                .hint("YAML indentation must use spaces: replace the tab with spaces"),
            );
        }
        offset += line.chars().count() + 1;
    }
    // A file indented with tabs throughout needs one fix, not a wall of
    // errors: show the first few and count the rest.
    const SHOWN: usize = 5;
    if out.len() > SHOWN {
        let more = out.len() - SHOWN;
        out.truncate(SHOWN);
        if let Some(last) = out.pop() {
            out.push(last.note(format!("{more} more lines are indented with tabs"), None));
        }
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
        assert_eq!(
            (
                errs[0].location.unwrap().line,
                errs[0].location.unwrap().col
            ),
            (2, 1)
        );
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
