//! Reading scenario files: bytes to YAML nodes, and `extends:` resolved by
//! merging the parent's tree under the child's.

use std::path::{Path, PathBuf};

use crate::bundled;
use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::files::{self, ReadError};
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
    if chain.len() >= MAX_EXTENDS_DEPTH {
        let at = extended_from.expect("a chain longer than one needs an extends: key");
        let names: Vec<String> = chain
            .iter()
            .map(|(i, _)| format!("`{}`", short_name(i)))
            .collect();
        let shown = if names.len() > 6 {
            format!(
                "{} → … → {}",
                names[..3].join(" → "),
                names[names.len() - 2..].join(" → ")
            )
        } else {
            names.join(" → ")
        };
        return Err(vec![Diagnostic::new(
            Code::ExtendsTooDeep,
            at,
            format!("`extends` chain is longer than {MAX_EXTENDS_DEPTH} files: {shown} → `{}`", short_name(&id)),
        )
        .label(format!("the {}th `extends` in a row", MAX_EXTENDS_DEPTH))
        .hint("extend a scenario that holds the shared settings directly instead of a long chain of forks")]);
    }
    chain.push((id, extended_from));

    let (file, text) = read(reference, sources, extended_from)?;
    let looks_yaml = looks_like_yaml(reference);
    let root = match document(file, &text, sources) {
        Ok(root) if looks_yaml || root.as_map().is_some() => root,
        Err(d) if looks_yaml => return Err(d),
        _ => return Err(vec![not_a_scenario(sources.path(file), extended_from)]),
    };
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
    let parent_ref = match resolve_extends(parent_name, sources.dir_of(file)) {
        Ok(r) => Some(r),
        Err(Some(problem)) => {
            return Err(vec![problem.diagnostic(
                Code::ExtendsNotFound,
                "scenario",
                parent_name,
                extends.loc,
                sources.dir_of(file),
            )])
        }
        Err(None) => None,
    };
    let parent_ref = parent_ref.ok_or_else(|| {
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

/// How many files an `extends` chain may have.
pub const MAX_EXTENDS_DEPTH: usize = 64;

/// Whether a scenario file is meant to be YAML: bundled, or named
/// `*.yaml`/`*.yml`. Other files are quoted in no diagnostic unless they
/// hold a YAML mapping (a key passed by mistake must not be echoed).
fn looks_like_yaml(reference: &ScenarioRef) -> bool {
    match reference {
        ScenarioRef::Bundled(_) => true,
        ScenarioRef::File(p) => p.extension().is_some_and(|e| e == "yaml" || e == "yml"),
    }
}

fn not_a_scenario(display: &str, extended_from: Option<Location>) -> Diagnostic {
    let mut d = Diagnostic::for_file(
        Code::NotAScenario,
        display.to_string(),
        format!("`{display}` does not look like a scenario YAML file"),
    )
    .hint("a scenario is a YAML mapping with `connectivity`, `program` and `parties`, usually named `NAME.yaml`; its contents are not shown, in case it holds a key");
    if let Some(at) = extended_from {
        d = d.note("extended from here", Some(at));
    }
    d
}

/// Why a path a scenario names cannot be used.
#[derive(Debug)]
pub enum PathProblem {
    /// Resolves (after symbolic links) outside the scenario's directory.
    Outside,
    NotRegular(&'static str),
    TooLarge(u64),
    Io(String),
}

impl PathProblem {
    /// The diagnostic at `at` for the `what` (`scenario`, `program`) named `name`.
    pub fn diagnostic(
        &self,
        code: Code,
        what: &str,
        name: &str,
        at: Location,
        dir: Option<&Path>,
    ) -> Diagnostic {
        let dir = dir
            .map(crate::source::display_path)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".into());
        match self {
            PathProblem::Outside => Diagnostic::new(
                Code::PathOutsideScenario,
                at,
                format!("{what} file `{name}` is outside the scenario's directory"),
            )
            .label("resolves outside the directory of this file")
            .hint(format!("a scenario may name only files inside its own directory tree, here `{dir}` (symbolic links included): copy the file there")),
            PathProblem::NotRegular(kind) => Diagnostic::new(
                Code::NotRegularFile,
                at,
                format!("{what} file `{name}` is {kind}, not a regular file"),
            )
            .label("not a regular file")
            .hint(format!("name a regular file inside `{dir}`")),
            PathProblem::TooLarge(limit) => Diagnostic::new(
                Code::FileTooLarge,
                at,
                format!("{what} file `{name}` is larger than {}", files::size(*limit)),
            )
            .label("too large")
            .hint(format!("a {what} file is at most {}: is this the right file?", files::size(*limit))),
            PathProblem::Io(reason) => Diagnostic::new(
                code,
                at,
                format!("cannot read {what} file `{name}`: {reason}"),
            )
            .label("unreadable"),
        }
    }
}

/// Resolves a path a scenario in `dir` names: it must exist (else
/// `Ok(None)`), resolve inside `dir` after every symbolic link, and be a
/// regular file of at most `limit` bytes. Returns the path as written,
/// joined to `dir` (so that plans do not depend on where the tree sits).
pub fn resolve_in_tree(dir: &Path, name: &str, limit: u64) -> Result<Option<PathBuf>, PathProblem> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let candidate = dir.join(name);
    if std::fs::symlink_metadata(&candidate).is_err() {
        return Ok(None);
    }
    let root = std::fs::canonicalize(dir).map_err(|e| PathProblem::Io(files::io_reason(&e)))?;
    let real = match std::fs::canonicalize(&candidate) {
        Ok(r) => r,
        // A dangling symbolic link: where it points is outside or missing.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(PathProblem::Outside),
        Err(e) => return Err(PathProblem::Io(files::io_reason(&e))),
    };
    if !real.starts_with(&root) {
        return Err(PathProblem::Outside);
    }
    let meta = std::fs::metadata(&real).map_err(|e| PathProblem::Io(files::io_reason(&e)))?;
    if !meta.is_file() {
        return Err(PathProblem::NotRegular(files::kind(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(PathProblem::TooLarge(limit));
    }
    // `components` drops the `.` of `./prog.py`.
    Ok(Some(candidate.components().collect()))
}

/// Most files and bytes `program.files` may bring along (all entries together).
pub const FILES_LIMIT: u64 = 64 << 20;
pub const FILES_COUNT: usize = 10_000;

/// Resolves an entry of `program.files`: like [`resolve_in_tree`], but a
/// directory is allowed too, and then every entry below it must itself
/// resolve inside `dir` (no symbolic link leads out) and be a regular file
/// or a directory. `budget` is (files, bytes) still allowed; it shrinks.
pub fn resolve_files_in_tree(
    dir: &Path,
    name: &str,
    budget: &mut (usize, u64),
) -> Result<Option<PathBuf>, PathProblem> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let candidate = dir.join(name);
    if std::fs::symlink_metadata(&candidate).is_err() {
        return Ok(None);
    }
    let root = std::fs::canonicalize(dir).map_err(|e| PathProblem::Io(files::io_reason(&e)))?;
    fn walk(root: &Path, path: &Path, budget: &mut (usize, u64)) -> Result<(), PathProblem> {
        let real = match std::fs::canonicalize(path) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(PathProblem::Outside),
            Err(e) => return Err(PathProblem::Io(files::io_reason(&e))),
        };
        if !real.starts_with(root) {
            return Err(PathProblem::Outside);
        }
        let meta = std::fs::metadata(&real).map_err(|e| PathProblem::Io(files::io_reason(&e)))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| PathProblem::Io(files::io_reason(&e)))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                walk(root, &e, budget)?;
            }
            return Ok(());
        }
        if !meta.is_file() {
            return Err(PathProblem::NotRegular(files::kind(meta.file_type())));
        }
        if budget.0 == 0 || meta.len() > budget.1 {
            return Err(PathProblem::TooLarge(FILES_LIMIT));
        }
        budget.0 -= 1;
        budget.1 -= meta.len();
        Ok(())
    }
    walk(&root, &candidate, budget)?;
    Ok(Some(candidate.components().collect()))
}

/// The scenario `extends: name` names: a file next to the extending one
/// (`name`, `name.yaml`, `name.yml`, the first that exists and is not a
/// directory), else a bundled scenario. `Err(Some)` for a file that exists
/// but may not be read; `Err(None)` when nothing matches.
fn resolve_extends(name: &str, dir: Option<&Path>) -> Result<ScenarioRef, Option<PathProblem>> {
    // A file-based scenario looks next to itself first; a bundled one only
    // among the bundled scenarios.
    if let Some(dir) = dir {
        let candidates = [
            name.to_string(),
            format!("{name}.yaml"),
            format!("{name}.yml"),
        ];
        for c in candidates {
            let path = dir.join(&c);
            if std::fs::symlink_metadata(&path).is_err() || path.is_dir() {
                continue;
            }
            return match resolve_in_tree(dir, &c, files::TEXT_LIMIT) {
                Ok(Some(_)) => Ok(ScenarioRef::File(path.components().collect())),
                Ok(None) => continue,
                Err(p) => Err(Some(p)),
            };
        }
    }
    bundled::scenario(name)
        .map(|_| ScenarioRef::Bundled(name.to_string()))
        .ok_or(None)
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
            let bytes = files::read_regular(path, files::TEXT_LIMIT).map_err(|e| {
                let (code, hint) = match &e {
                    ReadError::Io(_) => (Code::Io, None),
                    ReadError::NotRegular(_) => (
                        Code::NotRegularFile,
                        Some("a scenario is a regular `.yaml` file"),
                    ),
                    ReadError::TooLarge { .. } => (
                        Code::FileTooLarge,
                        Some("scenario files are small YAML files: is this the right file?"),
                    ),
                };
                let mut d = Diagnostic::for_file(
                    code,
                    display.clone(),
                    format!("cannot read `{display}`: {}", e.reason()),
                );
                if let Some(h) = hint {
                    d = d.hint(h);
                }
                if let Some(at) = extended_from {
                    d = d.note("extended from here", Some(at));
                }
                vec![d]
            })?;
            if !looks_like_yaml(reference) && std::str::from_utf8(&bytes).is_err() {
                return Err(vec![not_a_scenario(&display, extended_from)]);
            }
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
