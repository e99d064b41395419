//! Reading scenario files: bytes to YAML nodes, and `extends:` resolved by
//! merging the parent's tree under the child's.

use std::path::{Path, PathBuf};

use crate::bundled;
use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::source::{display_path, FileId, Location, Sources};
use crate::yaml::{self, Node, NodeKind};

/// What a scenario argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioRef {
    Bundled(String),
    File(PathBuf),
}

impl ScenarioRef {
    /// Resolves a command-line argument: an existing file or anything that
    /// looks like a path is a file; otherwise a bundled scenario name.
    pub fn from_arg(arg: &str) -> ScenarioRef {
        let path = Path::new(arg);
        let looks_like_path = arg.contains('/') || arg.ends_with(".yaml") || arg.ends_with(".yml");
        if looks_like_path || (path.is_file() && bundled::scenario(arg).is_none()) {
            ScenarioRef::File(path.to_path_buf())
        } else {
            ScenarioRef::Bundled(arg.to_string())
        }
    }

    /// The name a scenario gets when it does not set `name:`.
    pub fn stem(&self) -> String {
        match self {
            ScenarioRef::Bundled(name) => name.clone(),
            ScenarioRef::File(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// A loaded scenario document: the merged YAML tree and every file read.
#[derive(Debug)]
pub struct Loaded {
    pub root: Node,
    pub sources: Sources,
    /// The file the user named (the leaf of the `extends` chain).
    pub file: FileId,
    pub stem: String,
}

/// Loads a scenario and everything it extends. On failure returns the
/// diagnostics and the sources read so far (for rendering them).
pub fn load(reference: &ScenarioRef) -> Result<Loaded, (Vec<Diagnostic>, Sources)> {
    let mut sources = Sources::default();
    let mut chain = Vec::new();
    match load_chain(reference, &mut sources, &mut chain, None) {
        Ok((root, file)) => Ok(Loaded {
            root,
            sources,
            file,
            stem: reference.stem(),
        }),
        Err(diags) => Err((diags, sources)),
    }
}

/// A short name for an identity, for messages: the file name or the
/// bundled scenario's name.
fn short_name(identity: &str) -> String {
    match identity.strip_prefix("bundled:") {
        Some(name) => name.to_string(),
        None => Path::new(identity)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| identity.to_string()),
    }
}

/// Identity of a file in an `extends` chain, for cycle detection.
fn identity(reference: &ScenarioRef) -> String {
    match reference {
        ScenarioRef::Bundled(n) => format!("bundled:{n}"),
        ScenarioRef::File(p) => std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string(),
    }
}

fn load_chain(
    reference: &ScenarioRef,
    sources: &mut Sources,
    chain: &mut Vec<(String, Option<Location>)>,
    extended_from: Option<Location>,
) -> Result<(Node, FileId), Vec<Diagnostic>> {
    let id = identity(reference);
    if let Some(pos) = chain.iter().position(|(i, _)| *i == id) {
        let at = extended_from.expect("a cycle needs an extends: key");
        let cycle: Vec<String> = chain[pos..]
            .iter()
            .map(|(i, _)| short_name(i))
            .chain([short_name(&id)])
            .map(|n| format!("`{n}`"))
            .collect();
        let mut d = Diagnostic::new(
            Code::ExtendsCycle,
            at,
            format!("`extends` forms a cycle: {}", cycle.join(" → ")),
        )
        .label("extends a scenario that extends this one")
        .hint("a scenario cannot extend itself, directly or through others: remove one `extends`");
        for i in pos + 1..chain.len() {
            if let Some(loc) = chain[i].1 {
                d = d.note(
                    format!(
                        "`{}` extends `{}` here",
                        short_name(&chain[i - 1].0),
                        short_name(&chain[i].0)
                    ),
                    Some(loc),
                );
            }
        }
        return Err(vec![d]);
    }
    chain.push((id, extended_from));

    let (file, text) = read(reference, sources, extended_from)?;
    let root = document(file, &text, sources)?;
    let Some(extends) = root.get("extends") else {
        chain.pop();
        return Ok((root, file));
    };
    let Some(parent_name) = extends.as_scalar() else {
        let d = Diagnostic::new(Code::WrongType, extends.loc, format!("`extends` must be a scenario name or path, found {}", extends.describe()))
            .label("expected one name")
            .hint("a scenario extends one other scenario, e.g. `extends: nebula-nat` or `extends: base.yaml`");
        return Err(vec![d]);
    };
    let parent_ref = resolve_extends(parent_name, sources.dir_of(file)).ok_or_else(|| {
        let names = bundled::scenario_names();
        let is_dir = sources.dir_of(file).is_some_and(|d| d.join(parent_name).is_dir());
        vec![Diagnostic::new(Code::ExtendsNotFound, extends.loc, format!("cannot find the scenario `{parent_name}` to extend"))
            .label(if is_dir { "a directory, not a scenario file" } else { "no such file or bundled scenario" })
            .maybe_hint(if is_dir { Some(format!("name the scenario file inside it, e.g. `{}/base.yaml`", parent_name.trim_end_matches('/'))) } else { did_you_mean(parent_name, names.iter().copied()) })
            .note("`extends` names a file relative to this one (with or without `.yaml`) or a bundled scenario (`e3 list`)", None)]
    })?;
    let (parent, _) = load_chain(&parent_ref, sources, chain, Some(extends.loc))?;
    chain.pop();
    Ok((merge(parent, root), file))
}

fn resolve_extends(name: &str, dir: Option<&Path>) -> Option<ScenarioRef> {
    // A file-based scenario looks next to itself first; a bundled one only
    // among the bundled scenarios.
    if let Some(dir) = dir {
        let candidates = [
            dir.join(name),
            dir.join(format!("{name}.yaml")),
            dir.join(format!("{name}.yml")),
        ];
        if let Some(found) = candidates.into_iter().find(|c| c.is_file()) {
            return Some(ScenarioRef::File(found));
        }
    }
    bundled::scenario(name).map(|_| ScenarioRef::Bundled(name.to_string()))
}

fn read(
    reference: &ScenarioRef,
    sources: &mut Sources,
    extended_from: Option<Location>,
) -> Result<(FileId, String), Vec<Diagnostic>> {
    match reference {
        ScenarioRef::Bundled(name) => {
            let Some(text) = bundled::scenario(name) else {
                let names = bundled::scenario_names();
                let d = Diagnostic::for_file(
                    Code::Io,
                    name.clone(),
                    format!("no bundled scenario named `{name}`"),
                )
                .maybe_hint(did_you_mean(name, names.iter().copied()).or_else(|| {
                    Some(
                        "run `e3 list` for the bundled scenarios, or give a path to a `.yaml` file"
                            .into(),
                    )
                }));
                return Err(vec![d]);
            };
            let display = format!("scenarios/{name}.yaml");
            Ok((
                sources.add(display, None, text.to_string()),
                text.to_string(),
            ))
        }
        ScenarioRef::File(path) => {
            let display = display_path(path);
            let bytes = std::fs::read(path).map_err(|e| {
                let mut d = Diagnostic::for_file(
                    Code::Io,
                    display.clone(),
                    format!("cannot read `{display}`: {}", io_reason(&e)),
                );
                if let Some(at) = extended_from {
                    d = d.note("extended from here", Some(at));
                }
                vec![d]
            })?;
            decode(display, Some(path.clone()), bytes, sources)
        }
    }
}

/// Adds a file to `sources` as text; bytes that are not UTF-8 are reported
/// at the line and column where they start.
pub fn decode(
    display: String,
    path: Option<PathBuf>,
    bytes: Vec<u8>,
    sources: &mut Sources,
) -> Result<(FileId, String), Vec<Diagnostic>> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok((sources.add(display, path, text.clone()), text)),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let before = String::from_utf8_lossy(&bytes[..valid]).into_owned();
            let line = before.matches('\n').count() + 1;
            let col = before
                .rsplit('\n')
                .next()
                .map(|l| l.chars().count())
                .unwrap_or(0)
                + 1;
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            let file = sources.add(display, path, lossy);
            let loc = Location {
                file,
                offset: before.chars().count(),
                line,
                col,
                len: 1,
            };
            Err(vec![Diagnostic::new(
                Code::NotUtf8,
                loc,
                format!("the file is not valid UTF-8 (byte {valid})"),
            )
            .hint("save the scenario as UTF-8")])
        }
    }
}

/// Parses a file's text into its document; an empty document is an error.
pub fn document(file: FileId, text: &str, sources: &Sources) -> Result<Node, Vec<Diagnostic>> {
    match yaml::parse(file, text)? {
        Some(root) => Ok(root),
        None => {
            let message = if text.trim().is_empty() {
                "the scenario file is empty"
            } else {
                "the scenario file holds no values, only comments or `null`"
            };
            Err(vec![Diagnostic::for_file(Code::Empty, sources.path(file), message)
                .hint("a scenario needs at least `connectivity`, `program` and `parties`; start from a bundled one with `e3 new my-exp --from nebula-nat --copy`")])
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            // "Is a directory (os error 21)" -> "is a directory"
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                .unwrap_or(s)
        }
    }
}

/// Merges a child over its parent: mappings merge key by key (recursively),
/// anything else in the child replaces the parent's value. The parent's
/// `name` is not inherited (a fork is named after its own file), and the
/// merged tree keeps the child's `extends` out.
fn merge(parent: Node, child: Node) -> Node {
    fn merge_maps(parent: Node, child: Node, top: bool) -> Node {
        match (parent.kind, child.kind) {
            (NodeKind::Map(mut base), NodeKind::Map(over)) => {
                if top {
                    base.retain(|(k, _)| !matches!(k.as_scalar(), Some("name" | "extends")));
                }
                for (key, value) in over {
                    if top && key.as_scalar() == Some("extends") {
                        continue;
                    }
                    match base
                        .iter()
                        .position(|(k, _)| k.as_scalar() == key.as_scalar())
                    {
                        Some(i) => {
                            let old = base.remove(i).1;
                            base.insert(i, (key, merge_maps(old, value, false)));
                        }
                        None => base.push((key, value)),
                    }
                }
                Node {
                    loc: child.loc,
                    kind: NodeKind::Map(base),
                }
            }
            (_, kind) => Node {
                loc: child.loc,
                kind,
            },
        }
    }
    merge_maps(parent, child, true)
}
