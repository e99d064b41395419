//! The validated scenario: typed, defaults applied, every problem reported.
//!
//! [`validate`] walks the YAML tree once, collecting every diagnostic rather
//! than stopping at the first, and returns a [`Scenario`] only when there is
//! no error. Everything downstream (plan, render, sim) may assume validity.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundled;
use crate::capacity;
use crate::catalogue::{find_region, Backend, Nat, Platform, Region, Relay};
use crate::diag::{did_you_mean, one_of, Code, Diagnostic, Diagnostics};
use crate::load::Loaded;
use crate::source::{Location, Sources};
use crate::yaml::{Node, NodeKind};

/// Most hosts one party entry may expand to.
pub const MAX_COUNT: i64 = 1000;
/// Longest host name (a DNS label).
pub const MAX_HOST_NAME: usize = 63;

#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub backend: Backend,
    pub relay: Relay,
    pub program: Program,
    pub parties: Vec<Party>,
    pub simulation: Simulation,
    #[serde(skip)]
    pub locations: ScenarioLocations,
}

/// Where things were defined, for diagnostics of later stages.
#[derive(Debug, Clone, Default)]
pub struct ScenarioLocations {
    pub backend: Option<Location>,
    pub parties: Option<Location>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Program {
    /// Program name: a bundled program, or the file stem of a path.
    pub name: String,
    /// For a program given as a path: the file, resolved against the
    /// scenario file's directory.
    pub path: Option<PathBuf>,
    pub args: Vec<String>,
    /// `program.files`: files and directories that travel with a program
    /// given by path, resolved against the scenario file's directory.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Party {
    pub name: String,
    pub platform: Platform,
    /// Cloud region, or a location hint for non-cloud platforms.
    pub region: Option<&'static Region>,
    pub size: Option<String>,
    pub nat: Nat,
    /// NAT site: parties with the same site share a LAN and a router.
    pub site: Option<String>,
    pub address: Option<IpAddr>,
    /// `None`: one host named like the party; `Some(n)`: `name-0`..`name-(n-1)`.
    pub count: Option<u32>,
    /// Where the party's name (or the party) is written.
    #[serde(skip)]
    pub loc: Location,
    /// Where `site` is written, if it is.
    #[serde(skip)]
    pub site_loc: Option<Location>,
}

impl Party {
    /// Host names this entry expands to.
    pub fn host_names(&self) -> Vec<String> {
        match self.count {
            None => vec![self.name.clone()],
            Some(n) => (0..n).map(|i| format!("{}-{i}", self.name)).collect(),
        }
    }

    pub fn host_count(&self) -> usize {
        self.count.unwrap_or(1) as usize
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    pub latency: Latency,
    /// Packet loss applied on every router's WAN side, in percent.
    pub loss_percent: f64,
    /// `simulation.faults`, in the order of their times.
    pub faults: Vec<Fault>,
}

/// One NAT site, derived from the parties: named by `site:` or, without
/// one, by the host itself. A site's router (and carrier) are hosts of the
/// plan; validation checks that the sites fit the address plan.
#[derive(Debug, Clone)]
pub struct Site {
    pub name: String,
    pub nat: Nat,
    pub hosts: Vec<String>,
    pub region: Option<String>,
    /// The first party entry of the site.
    pub first: Location,
}

impl Scenario {
    /// The sites of the parties behind NAT or a firewall, in order of
    /// their first host.
    pub fn sites(&self) -> Vec<Site> {
        let mut sites: Vec<Site> = Vec::new();
        // Site name → position in `sites`: keeps this linear in the hosts.
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for p in &self.parties {
            if p.nat == Nat::None {
                continue;
            }
            for host in p.host_names() {
                let name = p.site.clone().unwrap_or_else(|| host.clone());
                match index.get(&name) {
                    Some(&i) => sites[i].hosts.push(host),
                    None => {
                        index.insert(name.clone(), sites.len());
                        sites.push(Site {
                            name,
                            nat: p.nat,
                            hosts: vec![host],
                            region: p.region.map(|r| r.slug.to_string()),
                            first: p.loc,
                        });
                    }
                }
            }
        }
        sites
    }
}

/// A fault of `simulation.faults`: `action` on `target`, `at_s` seconds
/// after the program started (see [`crate::sim::fault`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    pub at_s: f64,
    pub action: crate::sim::fault::Action,
    pub target: String,
    #[serde(skip)]
    pub target_loc: Option<Location>,
    /// Where `at` was written (W105 points there).
    #[serde(skip)]
    pub at_loc: Option<Location>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "mode", content = "pairs")]
pub enum Latency {
    /// From region coordinates (see `crate::plan::one_way_delay_ms`).
    Regions,
    None,
    /// One-way delays between named parties, in milliseconds.
    Explicit(Vec<LatencyPair>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyPair {
    pub between: [String; 2],
    pub one_way_ms: f64,
}

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "extends",
    "connectivity",
    "program",
    "defaults",
    "parties",
    "simulation",
    "matrix",
];
const CONNECTIVITY_KEYS: &[&str] = &["backend", "relay"];
const PROGRAM_KEYS: &[&str] = &["name", "args", "files"];
const PARTY_KEYS: &[&str] = &[
    "name", "region", "platform", "size", "nat", "site", "address", "count",
];
const DEFAULT_KEYS: &[&str] = &["region", "platform", "size", "nat"];
const SIMULATION_KEYS: &[&str] = &["latency", "loss", "faults"];
const FAULT_KEYS: &[&str] = &["at", "action", "target"];
/// The latest time a fault may have, in seconds.
const MAX_FAULT_S: f64 = 3600.0;
const LATENCY_PAIR_KEYS: &[&str] = &["between", "delay"];

/// Validates a loaded scenario. Returns the scenario (when there is no
/// error) and every diagnostic, warnings included, in source order.
/// Whether the faults' targets are hosts of the plan is checked against
/// the plan by [`crate::check`], after this.
pub fn validate(loaded: &Loaded) -> (Option<Scenario>, Diagnostics) {
    validate_tree(&loaded.root, &loaded.stem, &loaded.sources)
}

/// [`validate`] of one scenario tree (a matrix variant's, for one), whose
/// nodes point into `sources`.
pub fn validate_tree(
    root: &Node,
    stem: &str,
    sources: &Sources,
) -> (Option<Scenario>, Diagnostics) {
    let mut v = Validator {
        diags: Diagnostics::default(),
        sources,
        sizes_checked: Vec::new(),
    };
    let scenario = v.scenario(root, stem);
    let mut diags = v.diags;
    diags.sort();
    if diags.has_errors() {
        (None, diags)
    } else {
        (scenario, diags)
    }
}

struct Validator<'a> {
    diags: Diagnostics,
    sources: &'a Sources,
    /// (platform, place) of every size checked, so that a default size
    /// several parties share is reported once.
    sizes_checked: Vec<(Platform, Location)>,
}

/// Defaults for parties, each remembering where it was set.
#[derive(Default)]
struct Defaults<'n> {
    region: Option<&'n Node>,
    platform: Option<&'n Node>,
    size: Option<&'n Node>,
    nat: Option<&'n Node>,
}

impl<'a> Validator<'a> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn wrong_type(&mut self, node: &Node, field: &str, expected: &str) {
        self.err(
            Diagnostic::new(
                Code::WrongType,
                node.loc,
                format!("`{field}` must be {expected}, found {}", node.describe()),
            )
            .label(format!("expected {expected}")),
        );
    }

    /// The entries of a mapping node, reporting unknown keys.
    fn map<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        allowed: &[&str],
    ) -> Option<&'n [(Node, Node)]> {
        let Some(entries) = node.as_map() else {
            self.wrong_type(node, field, "a mapping");
            return None;
        };
        for (key, _) in entries {
            let k = key.as_scalar().unwrap_or_default();
            if !allowed.contains(&k) {
                let what = if field.is_empty() {
                    "the scenario".to_string()
                } else {
                    format!("`{field}`")
                };
                let d = Diagnostic::new(
                    Code::UnknownKey,
                    key.loc,
                    format!("unknown key `{k}` in {what}"),
                )
                .label("unknown key")
                .hint(
                    did_you_mean(k, allowed.iter().copied())
                        .unwrap_or_else(|| one_of(allowed.iter().copied())),
                );
                self.err(d);
            }
        }
        Some(entries)
    }

    fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { value, .. } => Some(value.clone()),
            _ => {
                self.wrong_type(node, field, "a string");
                None
            }
        }
    }

    fn keyword<T: Copy>(
        &mut self,
        node: &Node,
        field: &str,
        code: Code,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
        names: impl Iterator<Item = &'static str>,
    ) -> Option<T> {
        let s = self.string(node, field)?;
        match parse(&s) {
            Some(v) => Some(v),
            None => {
                let names: Vec<&str> = names.collect();
                let hint = did_you_mean(&s, names.iter().copied())
                    .unwrap_or_else(|| one_of(names.iter().copied()));
                self.err(
                    Diagnostic::new(code, node.loc, format!("unknown {what} `{s}`"))
                        .label(format!("not a {what}"))
                        .hint(hint),
                );
                None
            }
        }
    }

    fn scenario(&mut self, root: &Node, stem: &str) -> Option<Scenario> {
        if root.as_map().is_none() {
            self.err(
                Diagnostic::new(Code::WrongType, root.loc, format!("a scenario must be a mapping of sections, found {}", root.describe_kind()))
                    .label("expected a mapping")
                    // A file that is one value may be anything (a key): not quoted.
                    .without_source()
                    .hint("write the sections as `key: value` lines: `connectivity:`, `program:`, `parties:`; start from a bundled scenario with `e3 new my-exp --from nebula-nat --copy`"),
            );
            return None;
        }
        let top = self.map(root, "", TOP_KEYS)?;
        let get = |k: &str| {
            top.iter()
                .find(|(key, _)| key.as_scalar() == Some(k))
                .map(|(_, v)| v)
        };
        let key = |k: &str| {
            top.iter()
                .find(|(key, _)| key.as_scalar() == Some(k))
                .map(|(key, _)| key.loc)
        };
        // A section written with a typo is reported as an unknown key with a
        // suggestion; do not report it missing as well.
        let misspelled = |k: &str| {
            let suggestion = format!("did you mean `{k}`?");
            top.iter()
                .filter_map(|(key, _)| key.as_scalar())
                .any(|key| {
                    !TOP_KEYS.contains(&key)
                        && did_you_mean(key, TOP_KEYS.iter().copied()).as_deref()
                            == Some(suggestion.as_str())
                })
        };

        let name = match get("name") {
            Some(n) => self.string(n, "name").inspect(|s| {
                if !valid_name(s) {
                    let d = Diagnostic::new(Code::InvalidValue, n.loc, format!("invalid scenario name `{s}`"))
                        .hint("use lower-case letters, digits and `-`, starting with a letter (it names directories and flake outputs)");
                    self.err(d);
                }
            }),
            None if valid_name(stem) => Some(stem.to_string()),
            None => {
                let d = Diagnostic::new(Code::InvalidValue, root.loc, format!("the scenario has no `name:`, and its file name `{stem}` is not a valid scenario name"))
                    .label("the name would come from the file name")
                    .hint(match suggest_name(stem) {
                        Some(s) => format!("add `name: {s}` or rename the file to `{s}.yaml` (lower-case letters, digits and `-`, starting with a letter)"),
                        None => "add `name:` or rename the file (lower-case letters, digits and `-`, starting with a letter)".to_string(),
                    });
                self.err(d);
                None
            }
        };
        let description = get("description")
            .and_then(|d| self.string(d, "description"))
            .unwrap_or_default();

        let (backend, relay, backend_loc, relay_node) = self.connectivity(
            get("connectivity"),
            key("connectivity"),
            root,
            misspelled("connectivity"),
        );
        let program = self.program(get("program"), key("program"), root, misspelled("program"));
        let defaults = self.defaults(get("defaults"));
        let parties = self.parties(
            get("parties"),
            key("parties"),
            root,
            &defaults,
            misspelled("parties"),
        );
        // Latency pairs name parties as written, valid or not, so that one
        // bad party does not make every pair that names it an error too.
        let party_names: Option<Vec<&str>> = get("parties").and_then(Node::as_seq).map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("name")?.as_scalar())
                .collect()
        });
        let simulation = self.simulation(get("simulation"), party_names.as_deref());

        let parties = parties?;
        let (backend, relay) = (backend?, relay?);
        self.warnings(backend, relay, backend_loc, relay_node, &parties);
        if self.diags.has_errors() {
            return None;
        }
        let scenario = Scenario {
            name: name?,
            description,
            backend,
            relay,
            program: program?,
            parties,
            simulation: simulation?,
            locations: ScenarioLocations {
                backend: backend_loc,
                parties: get("parties").map(|p| p.loc),
            },
        };
        for d in check_capacity(&scenario) {
            self.err(d);
        }
        Some(scenario)
    }

    fn connectivity<'n>(
        &mut self,
        node: Option<&'n Node>,
        key: Option<Location>,
        root: &Node,
        misspelled: bool,
    ) -> (
        Option<Backend>,
        Option<Relay>,
        Option<Location>,
        Option<&'n Node>,
    ) {
        let Some(node) = node else {
            if !misspelled {
                self.err(
                    Diagnostic::new(Code::MissingField, root.loc, "missing `connectivity`").hint(
                        format!(
                            "add `connectivity: {{ backend: nebula }}`; backends: {}",
                            Backend::names()
                                .map(|b| format!("`{b}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                );
            }
            return (None, None, None, None);
        };
        let Some(entries) = self.map(node, "connectivity", CONNECTIVITY_KEYS) else {
            return (None, None, None, None);
        };
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, _)| key.as_scalar() == Some(k))
                .map(|(_, v)| v)
        };
        let backend = match get("backend") {
            Some(b) => self.keyword(
                b,
                "connectivity.backend",
                Code::UnknownBackend,
                "backend",
                Backend::parse,
                Backend::names(),
            ),
            None => {
                self.err(
                    Diagnostic::new(
                        Code::MissingField,
                        key.unwrap_or(node.loc),
                        "missing `connectivity.backend`",
                    )
                    .label("no `backend` in this section")
                    .hint(format!(
                        "add `backend:` with one of {}",
                        Backend::names()
                            .map(|b| format!("`{b}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                None
            }
        };
        let relay = match get("relay") {
            Some(r) => self.keyword(
                r,
                "connectivity.relay",
                Code::UnknownRelay,
                "relay mode",
                Relay::parse,
                Relay::names(),
            ),
            None => Some(Relay::Auto),
        };
        (backend, relay, get("backend").map(|b| b.loc), get("relay"))
    }

    fn program(
        &mut self,
        node: Option<&Node>,
        key: Option<Location>,
        root: &Node,
        misspelled: bool,
    ) -> Option<Program> {
        let Some(node) = node else {
            if !misspelled {
                self.err(
                    Diagnostic::new(Code::MissingField, root.loc, "missing `program`").hint(
                        format!(
                            "add `program: {{ name: secure-sum }}`; bundled programs: {}",
                            bundled::program_names()
                                .iter()
                                .map(|p| format!("`{p}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                );
            }
            return None;
        };
        let entries = self.map(node, "program", PROGRAM_KEYS)?;
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, _)| key.as_scalar() == Some(k))
                .map(|(_, v)| v)
        };
        let args = match get("args") {
            None => Some(Vec::new()),
            Some(a) if a.is_null() => Some(Vec::new()),
            Some(a) => match a.as_seq() {
                Some(items) => items
                    .iter()
                    .map(|i| match i.as_scalar() {
                        Some(s) => Some(s.to_string()),
                        None => {
                            self.wrong_type(i, "program.args[]", "a string");
                            None
                        }
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .collect(),
                None => {
                    self.wrong_type(a, "program.args", "a list of strings");
                    None
                }
            },
        };
        let Some(name_node) = get("name") else {
            self.err(
                Diagnostic::new(
                    Code::MissingField,
                    key.unwrap_or(node.loc),
                    "missing `program.name`",
                )
                .label("no `name` in this section")
                .hint(format!(
                    "add `name:`, a bundled program ({}) or a path to a `.py` file",
                    bundled::program_names()
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            return None;
        };
        let name = self.string(name_node, "program.name")?;
        let programs = bundled::program_names();
        let is_path = name.contains('/') || name.ends_with(".py");
        let program = if is_path {
            let dir = self
                .sources
                .dir_of(name_node.loc.file)
                .map(Path::to_path_buf);
            let shown_dir = dir
                .as_deref()
                .map(crate::source::display_path)
                .filter(|d| !d.is_empty());
            let hint = match &shown_dir {
                Some(dir) => format!(
                    "a program path is relative to the scenario file's directory, here `{dir}`"
                ),
                None if dir.is_some() => {
                    "a program path is relative to the scenario file's directory".to_string()
                }
                None => "a program path is relative to the scenario file's directory; this scenario was not read from a file".to_string(),
            };
            let resolved = match &dir {
                Some(d) => crate::load::resolve_in_tree(d, &name, crate::files::PROGRAM_LIMIT),
                None => Ok(None),
            };
            let path = match resolved {
                Ok(Some(p)) => p,
                Ok(None) => {
                    self.err(
                        Diagnostic::new(
                            Code::UnknownProgram,
                            name_node.loc,
                            format!("program file `{name}` does not exist"),
                        )
                        .label("no such file")
                        .hint(hint),
                    );
                    return None;
                }
                Err(problem) => {
                    self.err(problem.diagnostic(
                        Code::UnknownProgram,
                        "program",
                        &name,
                        name_node.loc,
                        dir.as_deref(),
                    ));
                    return None;
                }
            };
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if bundled::program_helpers().contains(&stem.as_str()) {
                self.err(
                    Diagnostic::new(
                        Code::ProgramShadowsHelper,
                        name_node.loc,
                        format!("program file `{name}` has the name of e3's helper module `{stem}.py`"),
                    )
                    .label("would replace the bundled helper")
                    .hint("the programs directory holds e3's helpers next to your program: rename the file"),
                );
                return None;
            }
            if !valid_program_stem(&stem) {
                self.err(
                    Diagnostic::new(
                        Code::InvalidValue,
                        name_node.loc,
                        format!("invalid program file name `{stem}.py`"),
                    )
                    .label("not a usable program name")
                    .hint("name the file with letters, digits, `-` and `_`, starting with a letter, e.g. `my-prog.py`"),
                );
                return None;
            }
            Program {
                name: stem,
                path: Some(path),
                args: Vec::new(),
                files: Vec::new(),
            }
        } else if programs.contains(&name.as_str()) {
            Program {
                name,
                path: None,
                args: Vec::new(),
                files: Vec::new(),
            }
        } else {
            let hint = did_you_mean(&name, programs.iter().copied())
                .unwrap_or_else(|| one_of(programs.iter().copied()));
            self.err(
                Diagnostic::new(
                    Code::UnknownProgram,
                    name_node.loc,
                    format!("unknown program `{name}`"),
                )
                .label("not a bundled program")
                .hint(hint),
            );
            return None;
        };
        let files = self.program_files(get("files"), &program, name_node)?;
        Some(Program {
            args: args?,
            files,
            ..program
        })
    }

    /// `program.files`: each entry a file or directory inside the scenario
    /// file's directory tree (no symbolic link out), for a program given by
    /// path; none may take the place of e3's helper modules.
    fn program_files(
        &mut self,
        node: Option<&Node>,
        program: &Program,
        name_node: &Node,
    ) -> Option<Vec<PathBuf>> {
        let Some(node) = node.filter(|n| !n.is_null()) else {
            return Some(Vec::new());
        };
        let Some(items) = node.as_seq() else {
            self.wrong_type(node, "program.files", "a list of paths");
            return None;
        };
        if program.path.is_none() {
            self.err(
                Diagnostic::new(
                    Code::InvalidValue,
                    node.loc,
                    "`program.files` needs a program given by path",
                )
                .label("files of a bundled program")
                .note(
                    format!("`{}` is a bundled program", program.name),
                    Some(name_node.loc),
                )
                .hint("give `program.name` as a path (e.g. `./demo.py`) next to its files"),
            );
            return None;
        }
        let dir = self.sources.dir_of(node.loc.file).map(Path::to_path_buf)?;
        let mut budget = (crate::load::FILES_COUNT, crate::load::FILES_LIMIT);
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(name) = item.as_scalar() else {
                self.wrong_type(item, "program.files[]", "a path");
                ok = false;
                continue;
            };
            match crate::load::resolve_files_in_tree(&dir, name, &mut budget) {
                Ok(Some(p)) => {
                    let helper = p.file_stem().is_some_and(|s| {
                        bundled::program_helpers().contains(&&*s.to_string_lossy())
                    }) && p.extension().is_some_and(|e| e == "py");
                    if helper {
                        self.err(
                            Diagnostic::new(
                                Code::ProgramShadowsHelper,
                                item.loc,
                                format!("`{name}` has the name of one of e3's helper modules"),
                            )
                            .label("would replace the bundled helper")
                            .hint("rename the file"),
                        );
                        ok = false;
                    } else {
                        out.push(p);
                    }
                }
                Ok(None) => {
                    self.err(
                        Diagnostic::new(
                            Code::UnknownProgram,
                            item.loc,
                            format!("program file `{name}` does not exist"),
                        )
                        .label("no such file or directory")
                        .hint(format!(
                            "`program.files` are relative to the scenario file's directory, here `{}`",
                            crate::source::display_path(&dir)
                        )),
                    );
                    ok = false;
                }
                Err(problem) => {
                    self.err(problem.diagnostic(
                        Code::UnknownProgram,
                        "program",
                        name,
                        item.loc,
                        Some(&dir),
                    ));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn defaults<'n>(&mut self, node: Option<&'n Node>) -> Defaults<'n> {
        let Some(node) = node else {
            return Defaults::default();
        };
        let Some(entries) = self.map(node, "defaults", DEFAULT_KEYS) else {
            return Defaults::default();
        };
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, _)| key.as_scalar() == Some(k))
                .map(|(_, v)| v)
        };
        Defaults {
            region: get("region"),
            platform: get("platform"),
            size: get("size"),
            nat: get("nat"),
        }
    }

    fn parties(
        &mut self,
        node: Option<&Node>,
        key: Option<Location>,
        root: &Node,
        defaults: &Defaults,
        misspelled: bool,
    ) -> Option<Vec<Party>> {
        let Some(node) = node else {
            if !misspelled {
                self.err(
                    Diagnostic::new(Code::MissingField, root.loc, "missing `parties`").hint(
                        "add a list of at least two parties, e.g. `- { name: ams, region: ams3 }`",
                    ),
                );
            }
            return None;
        };
        let Some(items) = node.as_seq() else {
            let hint = match node.as_map() {
                Some(_) => "write one list item per party, each with its `name`: `- { name: alice, region: ams3 }`",
                None => "write a list of parties, e.g. `- { name: alice, region: ams3 }`",
            };
            self.err(
                Diagnostic::new(
                    Code::WrongType,
                    node.loc,
                    format!("`parties` must be a list, found {}", node.describe()),
                )
                .label("expected a list")
                .hint(hint),
            );
            return None;
        };
        // Defaults are checked once, where they are written.
        let default_platform = defaults.platform.and_then(|p| self.platform(p));
        let default_nat = defaults.nat.and_then(|n| self.nat(n));
        let default_size = defaults.size.and_then(|s| self.string(s, "defaults.size"));
        if let Some(r) = defaults.region {
            if let Some(p) = default_platform.or(Some(Platform::DigitalOcean)) {
                self.region(r, p);
            }
        }

        let mut parties = Vec::new();
        let mut ok = true;
        let mut names: BTreeMap<&str, Location> = BTreeMap::new();
        for item in items {
            // Duplicates are found by the names as written, so that a
            // duplicate of an invalid party is reported too.
            if let Some(n) = item.get("name").filter(|n| n.as_scalar().is_some()) {
                let name = n.as_scalar().unwrap_or_default();
                if let Some(first) = names.get(name) {
                    self.err(
                        Diagnostic::new(
                            Code::DuplicateParty,
                            n.loc,
                            format!("duplicate party name `{name}`"),
                        )
                        .label("defined again here")
                        .hint("party names become host names and must be unique")
                        .note(format!("party `{name}` first defined here"), Some(*first)),
                    );
                    ok = false;
                } else {
                    names.insert(name, n.loc);
                }
            }
            match self.party(item, defaults, default_platform, default_nat, &default_size) {
                Some(p) => parties.push(p),
                None => ok = false,
            }
        }
        // Checks across parties run on the valid ones even when others are
        // invalid: every problem is reported at once.
        self.sites(&parties);
        self.host_names(&parties);
        if !ok {
            return None;
        }
        let total: usize = parties.iter().map(Party::host_count).sum();
        if total < 2 {
            self.err(
                Diagnostic::new(
                    Code::TooFewParties,
                    key.unwrap_or(node.loc),
                    format!("a computation needs at least two parties, found {total}"),
                )
                .hint("add a party, or give one a `count:` of 2 or more"),
            );
            return None;
        }
        Some(parties)
    }

    fn platform(&mut self, node: &Node) -> Option<Platform> {
        self.keyword(
            node,
            "platform",
            Code::UnknownPlatform,
            "platform",
            Platform::parse,
            Platform::names(),
        )
    }

    fn nat(&mut self, node: &Node) -> Option<Nat> {
        self.keyword(
            node,
            "nat",
            Code::UnknownNat,
            "NAT type",
            Nat::parse,
            Nat::names(),
        )
    }

    /// Checks a region for a platform; non-cloud platforms accept any region
    /// of the catalogue as a location hint.
    /// Whether `node` names a size the cloud `platform` offers; reports it
    /// otherwise (once per place and platform), naming the replacement of
    /// a removed size.
    fn size(&mut self, node: &Node, platform: Platform) -> bool {
        let Some(slug) = node.as_scalar() else {
            // A wrong type was reported where the string was read.
            return true;
        };
        if platform.find_size(slug).is_some() {
            return true;
        }
        if self.sizes_checked.contains(&(platform, node.loc)) {
            return false;
        }
        self.sizes_checked.push((platform, node.loc));
        let usable = || platform.usable_sizes().map(|s| s.slug);
        let d = if let Some(new) = platform.replacement(slug) {
            Diagnostic::new(
                Code::UnknownSize,
                node.loc,
                format!("size `{slug}` is no longer offered by {}", platform.title()),
            )
            .label("removed size")
            .hint(format!("use `{new}`, the current size that replaces it"))
        } else if let Some(other) = Platform::ALL
            .iter()
            .find(|o| **o != platform && o.sizes().iter().any(|s| s.slug == slug))
        {
            Diagnostic::new(
                Code::UnknownSize,
                node.loc,
                format!(
                    "size `{slug}` is a {} size, not one of {}",
                    other.title(),
                    platform.title()
                ),
            )
            .label(format!("not a {} size", platform.title()))
            .hint(one_of(usable()))
        } else {
            let hint = match did_you_mean(slug, usable()) {
                Some(m) => format!("{m} ({})", one_of(usable())),
                None => one_of(usable()),
            };
            Diagnostic::new(
                Code::UnknownSize,
                node.loc,
                format!("unknown {} size `{slug}`", platform.title()),
            )
            .label("unknown size")
            .hint(hint)
        };
        self.err(d);
        false
    }

    fn region(&mut self, node: &Node, platform: Platform) -> Option<&'static Region> {
        self.region_for(node, platform, None)
    }

    /// As [`Self::region`]; `party` names the party a default region is
    /// checked for, and where its platform was set.
    fn region_for(
        &mut self,
        node: &Node,
        platform: Platform,
        party: Option<(&str, Location)>,
    ) -> Option<&'static Region> {
        let slug = self.string(node, "region")?;
        let offered = platform.regions();
        if let Some(r) = offered.iter().find(|r| r.slug == slug) {
            return Some(r);
        }
        if !platform.is_cloud() {
            if let Some((_, r)) = find_region(&slug) {
                return Some(r);
            }
        }
        let slugs = || {
            if platform.is_cloud() {
                offered.iter().map(|r| r.slug).collect::<Vec<_>>()
            } else {
                crate::catalogue::all_regions()
                    .map(|(_, r)| r.slug)
                    .collect()
            }
        };
        let d = match find_region(&slug) {
            Some((other, r)) if platform.is_cloud() => Diagnostic::new(
                Code::RegionNotOffered,
                node.loc,
                format!(
                    "region `{slug}` ({}) is a {} location, not offered by {}",
                    r.city,
                    other.title(),
                    platform.title()
                ),
            )
            .label(format!("not a {} region", platform.title()))
            .hint(format!(
                "set `platform: {other}` for {}, or pick a {} region: {}",
                if party.is_some() {
                    "that party"
                } else {
                    "this party"
                },
                platform.title(),
                slugs()
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => Diagnostic::new(
                Code::UnknownRegion,
                node.loc,
                format!("unknown region `{slug}` for {}", platform.title()),
            )
            .label("unknown region")
            .hint(did_you_mean(&slug, slugs()).unwrap_or_else(|| one_of(slugs()))),
        };
        let d = match party {
            Some((name, at)) => d.note(
                format!(
                    "the default region applies to party `{name}`, which is on `platform: {}`",
                    platform
                ),
                Some(at),
            ),
            None => d,
        };
        self.err(d);
        None
    }

    fn party(
        &mut self,
        node: &Node,
        defaults: &Defaults,
        default_platform: Option<Platform>,
        default_nat: Option<Nat>,
        default_size: &Option<String>,
    ) -> Option<Party> {
        let entries = self.map(node, "parties[]", PARTY_KEYS)?;
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, _)| key.as_scalar() == Some(k))
                .map(|(_, v)| v)
        };
        let mut ok = true;

        let name = match get("name") {
            Some(n) => {
                let name = self.string(n, "name");
                if let Some(name) = &name {
                    if name.chars().count() > MAX_HOST_NAME {
                        self.err(
                            Diagnostic::new(Code::InvalidPartyName, n.loc, format!("party name `{name}` is longer than {MAX_HOST_NAME} characters"))
                                .label("too long")
                                .hint(format!("party names become host names, which are at most {MAX_HOST_NAME} characters: use a shorter name")),
                        );
                        ok = false;
                    } else if let Some(why) = reserved_name(name).filter(|_| get("count").is_none())
                    {
                        self.err(
                            Diagnostic::new(Code::InvalidPartyName, n.loc, format!("party name `{name}` is reserved"))
                                .label("reserved")
                                .hint(format!("the NixOS VM test (`tests/nat.nix`) makes every host a Python variable of its name, and `{name}` is {why}: choose another name, e.g. `{name}-1` or `p-{name}`")),
                        );
                        ok = false;
                    } else if !valid_name(name) {
                        let lower = suggest_name(name);
                        self.err(
                            Diagnostic::new(Code::InvalidPartyName, n.loc, format!("invalid party name `{name}`"))
                                .label("not a valid host name")
                                .hint(match lower {
                                    Some(s) => format!("party names become host names: lower-case letters, digits and `-`, starting with a letter; try `{s}`"),
                                    None => "party names become host names: lower-case letters, digits and `-`, starting with a letter".to_string(),
                                }),
                        );
                        ok = false;
                    }
                }
                name
            }
            None => {
                self.err(
                    Diagnostic::new(Code::MissingField, node.loc, "party without a `name`")
                        .hint("every party needs `name:`, e.g. `- { name: ams, region: ams3 }`"),
                );
                None
            }
        };

        let platform = match get("platform") {
            Some(p) => self.platform(p),
            None if defaults.platform.is_some() => default_platform,
            None => Some(Platform::DigitalOcean),
        };
        let nat = match get("nat") {
            Some(n) => self.nat(n),
            None if defaults.nat.is_some() => default_nat,
            None => Some(Nat::None),
        };
        // `defaults.size` names a size of the default platform: a party on
        // another platform gets that platform's default size.
        let size = match get("size") {
            Some(s) => self.string(s, "size"),
            None if platform == default_platform.or(Some(Platform::DigitalOcean)) => {
                default_size.clone()
            }
            None => None,
        };
        let region = match (get("region"), platform) {
            (Some(r), Some(p)) => self.region(r, p),
            (None, Some(p)) => match defaults.region {
                // The default was checked against the default platform;
                // check again only when this party's platform differs.
                Some(r) if default_platform.unwrap_or(Platform::DigitalOcean) == p => {
                    r.as_scalar().and_then(|s| {
                        p.regions()
                            .iter()
                            .find(|x| x.slug == s)
                            .or_else(|| find_region(s).map(|(_, x)| x).filter(|_| !p.is_cloud()))
                    })
                }
                Some(r) => self.region_for(
                    r,
                    p,
                    Some((
                        name.as_deref().unwrap_or("?"),
                        get("platform").map(|n| n.loc).unwrap_or(node.loc),
                    )),
                ),
                None => None,
            },
            _ => None,
        };
        if let Some(p) = platform {
            if p.is_cloud()
                && region.is_none()
                && get("region").is_none()
                && defaults.region.is_none()
            {
                let first: Vec<&str> = p.regions().iter().map(|r| r.slug).collect();
                self.err(
                    Diagnostic::new(
                        Code::MissingRegion,
                        node.loc,
                        format!(
                            "party `{}` on {} needs a `region`",
                            name.as_deref().unwrap_or("?"),
                            p.title()
                        ),
                    )
                    .hint(format!(
                        "add `region:` (one of {}) or set `defaults.region`",
                        first
                            .iter()
                            .map(|s| format!("`{s}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                ok = false;
            }
            if p.is_cloud() {
                let inherited = defaults
                    .size
                    .filter(|_| Some(p) == default_platform.or(Some(Platform::DigitalOcean)));
                if let Some(node) = get("size").or(inherited) {
                    if !self.size(node, p) {
                        ok = false;
                    }
                }
            }
            if !p.is_cloud() {
                if let Some(s) = get("size") {
                    self.err(
                        Diagnostic::new(
                            Code::SizeIgnored,
                            s.loc,
                            format!("`size` has no effect with `platform: {p}`"),
                        )
                        .hint("remove `size`: only cloud platforms have machine sizes"),
                    );
                }
            }
        }

        let count = match get("count") {
            None => None,
            Some(c) => match c.as_int() {
                Some(n) if (1..=MAX_COUNT).contains(&n) => Some(n as u32),
                Some(n) => {
                    self.err(
                        Diagnostic::new(
                            Code::CountOutOfRange,
                            c.loc,
                            format!("`count` must be between 1 and {MAX_COUNT}, found {n}"),
                        )
                        .label("out of range")
                        .hint("omit `count` for a single host"),
                    );
                    ok = false;
                    None
                }
                None if matches!(&c.kind, NodeKind::Scalar { value, plain: false } if value.trim().parse::<i64>().is_ok()) =>
                {
                    self.err(
                        Diagnostic::new(
                            Code::WrongType,
                            c.loc,
                            format!("`count` must be a whole number, found {}", c.describe()),
                        )
                        .label("expected a whole number")
                        .hint(format!(
                            "remove the quotes: `count: {}`",
                            c.as_scalar().unwrap_or_default().trim()
                        )),
                    );
                    ok = false;
                    None
                }
                None => {
                    self.wrong_type(c, "count", "a whole number");
                    ok = false;
                    None
                }
            },
        };

        let address = match get("address") {
            None => None,
            Some(a) => {
                let text = self.string(a, "address");
                match text.as_deref().map(str::parse::<IpAddr>) {
                    Some(Ok(ip)) => Some(ip),
                    Some(Err(_)) => {
                        let text = text.unwrap_or_default();
                        let hint = if let Some((ip, _)) = text
                            .split_once('/')
                            .filter(|(ip, _)| ip.parse::<IpAddr>().is_ok())
                        {
                            format!("give the address without a prefix length: `{ip}`")
                        } else if !text.contains(':')
                            && text.chars().any(|c| c.is_ascii_alphabetic())
                        {
                            "host names are not accepted: give the IP address Colmena connects to, e.g. `192.0.2.7`".to_string()
                        } else {
                            "give an IPv4 or IPv6 address, e.g. `192.0.2.7` or `2001:db8::7`"
                                .to_string()
                        };
                        let d = Diagnostic::new(
                            Code::InvalidAddress,
                            a.loc,
                            format!("invalid IP address `{text}`"),
                        )
                        .label("not an IPv4 or IPv6 address")
                        .hint(hint);
                        self.err(d);
                        ok = false;
                        None
                    }
                    None => None,
                }
            }
        };
        if let (Some(p), None, None) = (platform, &address, get("address")) {
            if p.facts().needs_address {
                self.err(
                    Diagnostic::new(
                        Code::AddressRequired,
                        get("platform").map(|n| n.loc).unwrap_or(node.loc),
                        format!("a party with `platform: {p}` needs an `address`"),
                    )
                    .hint("add `address: <IP>` where Colmena reaches the machine over SSH"),
                );
                ok = false;
            }
        }
        if let (Some(a), Some(c)) = (get("address"), count) {
            if c > 1 {
                self.err(
                    Diagnostic::new(
                        Code::AddressWithCount,
                        a.loc,
                        format!("one `address` cannot serve {c} hosts"),
                    )
                    .hint("list each machine as its own party with its own address"),
                );
                ok = false;
            }
        }

        let site = match get("site") {
            None => None,
            Some(s) => {
                let site = self.string(s, "site");
                if let Some(site) = &site {
                    if !valid_name(site) {
                        self.err(
                            Diagnostic::new(Code::InvalidValue, s.loc, format!("invalid site name `{site}`"))
                                .hint("site names name routers: lower-case letters, digits and `-`, starting with a letter"),
                        );
                        ok = false;
                    }
                }
                if nat == Some(Nat::None) {
                    self.err(
                        Diagnostic::new(Code::SiteWithoutNat, s.loc, "`site` given for a party with `nat: none`")
                            .hint("a site is a LAN behind one router: give the party a NAT type, or remove `site`"),
                    );
                    ok = false;
                }
                site
            }
        };

        if !ok {
            return None;
        }
        Some(Party {
            name: name?,
            platform: platform?,
            region,
            size,
            nat: nat?,
            site,
            address,
            count,
            loc: node.get("name").map(|n| n.loc).unwrap_or(node.loc),
            site_loc: get("site").map(|s| s.loc),
        })
    }

    /// Parties that share a site share a router, so they must agree on it.
    fn sites(&mut self, parties: &[Party]) {
        let mut first: BTreeMap<&str, &Party> = BTreeMap::new();
        for p in parties {
            let Some(site) = p.site.as_deref() else {
                continue;
            };
            match first.get(site) {
                None => {
                    first.insert(site, p);
                }
                Some(f) if f.nat != p.nat => {
                    self.err(
                        Diagnostic::new(
                            Code::SiteNatMismatch,
                            p.loc,
                            format!(
                                "party `{}` is `nat: {}` but site `{site}` is `nat: {}`",
                                p.name, p.nat, f.nat
                            ),
                        )
                        .hint("parties on one site sit behind one router: give them the same `nat`")
                        .note(
                            format!("site `{site}` first used by party `{}`", f.name),
                            Some(f.loc),
                        ),
                    );
                }
                Some(f) if p.nat == Nat::OneToOne => {
                    self.err(
                        Diagnostic::new(Code::OneToOneSiteShared, p.loc, format!("site `{site}` is a 1:1 NAT and cannot hold more than one host"))
                            .hint("a one2one router maps one public address to one host: give each party its own site")
                            .note(format!("site `{site}` first used by party `{}`", f.name), Some(f.loc)),
                    );
                }
                Some(_) => {}
            }
        }
        // A party behind NAT without `site:` sits on a site of its own,
        // named after its host; an explicit site of that name would silently
        // put other parties behind that party's router.
        let mut implicit: BTreeMap<String, &Party> = BTreeMap::new();
        for p in parties
            .iter()
            .filter(|p| p.nat != Nat::None && p.site.is_none())
        {
            for host in p.host_names() {
                implicit.entry(host).or_insert(p);
            }
        }
        let mut reported = std::collections::BTreeSet::new();
        for p in parties {
            let Some(site) = p.site.as_deref() else {
                continue;
            };
            if let Some(owner) = implicit.get(site) {
                if reported.insert(site) {
                    self.err(
                        Diagnostic::new(Code::HostNameCollision, p.site_loc.unwrap_or(p.loc), if owner.name == site {
                            format!("site `{site}` clashes with the site e3 names after party `{site}`")
                        } else {
                            format!("site `{site}` clashes with the site e3 names after host `{site}` of party `{}`", owner.name)
                        })
                            .hint(format!("a party behind NAT without `site:` sits on a site named after its host, here `{site}`: rename the site, or give party `{}` `site: {site}` to share it", owner.name))
                            .note(format!("party `{}` is behind `nat: {}` without a `site`", owner.name, owner.nat), Some(owner.loc)),
                    );
                }
            }
        }
        for p in parties {
            if p.nat == Nat::OneToOne && p.host_count() > 1 && p.site.is_some() {
                self.err(
                    Diagnostic::new(
                        Code::OneToOneSiteShared,
                        p.loc,
                        format!(
                            "site `{}` is a 1:1 NAT and cannot hold {} hosts",
                            p.site.as_deref().unwrap_or_default(),
                            p.host_count()
                        ),
                    )
                    .hint("remove `site` so that each host gets its own 1:1 router"),
                );
            }
        }
    }

    /// Expanded host names must be unique, must not collide with the hosts
    /// e3 adds (routers, control hosts) and must fit a DNS label.
    fn host_names(&mut self, parties: &[Party]) {
        let mut seen: BTreeMap<String, &Party> = BTreeMap::new();
        for p in parties {
            if let Some(longest) = p
                .host_names()
                .into_iter()
                .max_by_key(String::len)
                .filter(|h| h.len() > MAX_HOST_NAME)
            {
                self.err(
                    Diagnostic::new(Code::InvalidPartyName, p.loc, format!("party `{}` expands to host name `{longest}`, longer than {MAX_HOST_NAME} characters", p.name))
                        .label("too long with `count`")
                        .hint(format!("host names are the party name plus `-<index>`, at most {MAX_HOST_NAME} characters: use a shorter party name")),
                );
            }
            for host in p.host_names() {
                if let Some(other) = seen.get(&host) {
                    if other.name != p.name {
                        self.err(
                            Diagnostic::new(Code::HostNameCollision, p.loc, format!("party `{}` expands to host `{host}`, which party `{}` already names", p.name, other.name))
                                .hint("rename one of the parties")
                                .note(format!("party `{}` defined here", other.name), Some(other.loc)),
                        );
                    }
                } else {
                    seen.insert(host, p);
                }
            }
        }
        // The hosts e3 derives from a site (its router, a carrier) must fit
        // a DNS label too.
        for p in parties.iter().filter(|p| p.nat != Nat::None) {
            let site = p.site.clone().unwrap_or_else(|| {
                p.host_names()
                    .into_iter()
                    .max_by_key(String::len)
                    .unwrap_or_default()
            });
            let suffix = if p.nat == Nat::Cgnat {
                "-carrier"
            } else {
                "-router"
            };
            let derived = format!("{site}{suffix}");
            if derived.len() > MAX_HOST_NAME && site.len() <= MAX_HOST_NAME {
                let at = p.site_loc.unwrap_or(p.loc);
                self.err(
                    Diagnostic::new(Code::InvalidPartyName, at, format!("the {} e3 adds for `{site}` would be named `{derived}`, longer than {MAX_HOST_NAME} characters", if p.nat == Nat::Cgnat { "carrier router" } else { "router" }))
                        .label(if p.site.is_some() { "this site names the router" } else { "a party without `site` is its own site" })
                        .hint(format!("a site behind NAT gets a host `<site>{suffix}`: use a name of at most {} characters", MAX_HOST_NAME - suffix.len())),
                );
            }
        }
        for p in parties {
            for host in p.host_names() {
                if capacity::RESERVED_HOST_NAMES.contains(&host.as_str())
                    || host.ends_with("-router")
                    || host.ends_with("-carrier")
                {
                    self.err(
                        Diagnostic::new(Code::HostNameCollision, p.loc, format!("host name `{host}` is reserved for a host e3 adds"))
                            .hint(format!("e3 names its own hosts {} and `<site>-router`/`<site>-carrier`: rename the party", capacity::RESERVED_HOST_NAMES.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "))),
                    );
                }
            }
        }
    }

    /// `parties`: the party names as written, or `None` when `parties`
    /// itself is missing or malformed (then names are not checked).
    fn simulation(&mut self, node: Option<&Node>, parties: Option<&[&str]>) -> Option<Simulation> {
        let default = Simulation {
            latency: Latency::Regions,
            loss_percent: 0.0,
            faults: Vec::new(),
        };
        let Some(node) = node else {
            return Some(default);
        };
        let entries = self.map(node, "simulation", SIMULATION_KEYS)?;
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, _)| key.as_scalar() == Some(k))
                .map(|(_, v)| v)
        };
        let loss = match get("loss") {
            None => Some(0.0),
            Some(l) => self.loss(l),
        };
        let latency = match get("latency") {
            None => Some(Latency::Regions),
            Some(l) => self.latency(l, parties),
        };
        let faults = match get("faults") {
            None => Some(Vec::new()),
            Some(f) => self.faults(f),
        };
        Some(Simulation {
            latency: latency?,
            loss_percent: loss?,
            faults: faults?,
        })
    }

    /// `simulation.faults`: a list of `{ at: 2s, action: readdress, target: alice }`.
    /// Targets are checked against the plan's hosts by [`check_fault_targets`].
    fn faults(&mut self, node: &Node) -> Option<Vec<Fault>> {
        let Some(items) = node.as_seq() else {
            self.wrong_type(
                node,
                "simulation.faults",
                "a list of `{ at: 2s, action: readdress, target: alice }`",
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(entries) = self.map(item, "simulation.faults[]", FAULT_KEYS) else {
                ok = false;
                continue;
            };
            let get = |k: &str| {
                entries
                    .iter()
                    .find(|(key, _)| key.as_scalar() == Some(k))
                    .map(|(_, v)| v)
            };
            let mut missing = |k: &str, eg: &str| {
                self.err(
                    Diagnostic::new(Code::MissingField, item.loc, format!("fault without `{k}`"))
                        .hint(format!(
                            "e.g. `{{ at: 2s, action: readdress, target: alice }}`: `{k}: {eg}`"
                        )),
                );
            };
            let (Some(at), Some(action), Some(target)) = (get("at"), get("action"), get("target"))
            else {
                for (k, eg) in [("at", "2s"), ("action", "readdress"), ("target", "alice")] {
                    if get(k).is_none() {
                        missing(k, eg);
                    }
                }
                ok = false;
                continue;
            };
            let at_s = at.as_scalar().and_then(parse_seconds);
            let at_s = match at_s {
                Some(t) if (0.0..=MAX_FAULT_S).contains(&t) => Some(t),
                _ => {
                    self.err(
                        Diagnostic::new(
                            Code::InvalidFault,
                            at.loc,
                            format!(
                                "`at` must be a time from the program's start between 0 s and {MAX_FAULT_S} s"
                            ),
                        )
                        .label("not such a time")
                        .hint("e.g. `at: 2s` or `at: 500ms`"),
                    );
                    None
                }
            };
            let names = crate::sim::fault::Action::ALL.map(|a| a.as_str());
            let action = match action.as_scalar() {
                Some(a) => match a.parse::<crate::sim::fault::Action>() {
                    Ok(a) => Some(a),
                    Err(_) => {
                        self.err(
                            Diagnostic::new(
                                Code::InvalidFault,
                                action.loc,
                                format!("unknown fault action `{}`", crate::diag::bound(a)),
                            )
                            .label("unknown action")
                            .hint(did_you_mean(a, names).unwrap_or_else(|| one_of(names))),
                        );
                        None
                    }
                },
                None => {
                    self.wrong_type(action, "action", "a fault action such as `readdress`");
                    None
                }
            };
            let target_name = target.as_scalar().map(str::to_string);
            if target_name.is_none() {
                self.wrong_type(
                    target,
                    "target",
                    "a host name such as `alice` or `alice-router`",
                );
            }
            match (at_s, action, target_name) {
                (Some(at_s), Some(action), Some(t)) => out.push(Fault {
                    at_s,
                    action,
                    target: t,
                    target_loc: Some(target.loc),
                    at_loc: Some(at.loc),
                }),
                _ => ok = false,
            }
        }
        out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        ok.then_some(out)
    }

    fn loss(&mut self, node: &Node) -> Option<f64> {
        let text = node.as_scalar();
        let value = match text {
            Some(t) => t
                .trim()
                .strip_suffix('%')
                .unwrap_or(t)
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite()),
            None => None,
        };
        match value {
            Some(v) if (0.0..100.0).contains(&v) => Some(v),
            Some(v) => {
                self.err(
                    Diagnostic::new(
                        Code::LossOutOfRange,
                        node.loc,
                        format!("`loss` must be at least 0% and below 100%, found {v}%"),
                    )
                    .label("out of range")
                    .hint("write the loss as a percentage, e.g. `loss: 1%`"),
                );
                None
            }
            None => {
                self.wrong_type(node, "simulation.loss", "a percentage such as `1%`");
                None
            }
        }
    }

    fn latency(&mut self, node: &Node, parties: Option<&[&str]>) -> Option<Latency> {
        if let Some(s) = node.as_scalar() {
            return match s {
                "regions" => Some(Latency::Regions),
                "none" => Some(Latency::None),
                _ => {
                    let hint = did_you_mean(s, ["regions", "none"]).unwrap_or_else(|| {
                        "use `regions`, `none`, or a list of `{ between: [a, b], delay: 40ms }`"
                            .into()
                    });
                    self.err(
                        Diagnostic::new(
                            Code::InvalidLatency,
                            node.loc,
                            format!("unknown latency model `{s}`"),
                        )
                        .hint(hint),
                    );
                    None
                }
            };
        }
        let Some(items) = node.as_seq() else {
            self.wrong_type(
                node,
                "simulation.latency",
                "`regions`, `none` or a list of pairs",
            );
            return None;
        };
        let mut pairs: Vec<LatencyPair> = Vec::new();
        let mut seen: BTreeMap<[String; 2], Location> = BTreeMap::new();
        let mut ok = true;
        for item in items {
            let Some(entries) = self.map(item, "simulation.latency[]", LATENCY_PAIR_KEYS) else {
                ok = false;
                continue;
            };
            let get = |k: &str| {
                entries
                    .iter()
                    .find(|(key, _)| key.as_scalar() == Some(k))
                    .map(|(_, v)| v)
            };
            let between = match get("between").map(|b| (b, b.as_seq())) {
                Some((b, Some([x, y]))) => {
                    let mut names = Vec::new();
                    for n in [x, y] {
                        match n.as_scalar() {
                            Some(name) if parties.is_none_or(|ps| ps.contains(&name)) => {
                                names.push(name.to_string())
                            }
                            Some(name) => {
                                let candidates = parties.unwrap_or_default().iter().copied();
                                let hint = did_you_mean(name, candidates).unwrap_or_else(|| {
                                    format!(
                                        "name two parties of this scenario: {}",
                                        parties
                                            .unwrap_or_default()
                                            .iter()
                                            .map(|p| format!("`{p}`"))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    )
                                });
                                self.err(
                                    Diagnostic::new(
                                        Code::InvalidLatency,
                                        n.loc,
                                        format!("unknown party `{name}` in latency pair"),
                                    )
                                    .label("not a party")
                                    .hint(hint),
                                );
                            }
                            None => self.wrong_type(n, "between[]", "a party name"),
                        }
                    }
                    match names.as_slice() {
                        [a, c] if a == c => {
                            self.err(
                                Diagnostic::new(
                                    Code::InvalidLatency,
                                    b.loc,
                                    format!("latency pair between `{a}` and itself"),
                                )
                                .hint("a delay is between two different parties"),
                            );
                            None
                        }
                        [a, c] => {
                            let key = if a < c {
                                [a.clone(), c.clone()]
                            } else {
                                [c.clone(), a.clone()]
                            };
                            if let Some(first) = seen.get(&key) {
                                self.err(
                                    Diagnostic::new(
                                        Code::InvalidLatency,
                                        b.loc,
                                        format!("delay between `{a}` and `{c}` given twice"),
                                    )
                                    .hint(
                                        "a delay applies in both directions: keep one of the pairs",
                                    )
                                    .note("first given here", Some(*first)),
                                );
                                None
                            } else {
                                seen.insert(key, b.loc);
                                Some([a.clone(), c.clone()])
                            }
                        }
                        _ => None,
                    }
                }
                Some((b, Some(items))) => {
                    self.err(
                        Diagnostic::new(
                            Code::WrongType,
                            b.loc,
                            format!(
                                "`between` must be a list of two party names, found a list of {}",
                                items.len()
                            ),
                        )
                        .label("expected two names")
                        .hint("write `between: [a, b]`"),
                    );
                    None
                }
                Some((b, None)) => {
                    self.wrong_type(b, "between", "a list of two party names");
                    None
                }
                None => {
                    self.err(
                        Diagnostic::new(
                            Code::MissingField,
                            item.loc,
                            "latency pair without `between`",
                        )
                        .hint("write `{ between: [a, b], delay: 40ms }`"),
                    );
                    None
                }
            };
            let delay = match get("delay") {
                Some(d) => {
                    let ms = d.as_scalar().and_then(parse_duration_ms);
                    if ms.is_none() {
                        self.err(
                            Diagnostic::new(Code::InvalidLatency, d.loc, format!("invalid delay {}", d.describe()))
                                .label("not a delay from 0 to 10s")
                                .hint("write a one-way delay from 0 to 10s, such as `40ms` or `0.5s` (a bare number is milliseconds)"),
                        );
                    }
                    ms
                }
                None => {
                    self.err(
                        Diagnostic::new(
                            Code::MissingField,
                            item.loc,
                            "latency pair without `delay`",
                        )
                        .hint("write `{ between: [a, b], delay: 40ms }`"),
                    );
                    None
                }
            };
            match (between, delay) {
                (Some(between), Some(one_way_ms)) => pairs.push(LatencyPair {
                    between,
                    one_way_ms,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(Latency::Explicit(pairs))
    }

    fn warnings(
        &mut self,
        backend: Backend,
        relay: Relay,
        backend_loc: Option<Location>,
        relay_node: Option<&Node>,
        parties: &[Party],
    ) {
        let natted: Vec<&Party> = parties.iter().filter(|p| p.nat.filters_inbound()).collect();
        if let (Backend::Direct, Some(loc), false) = (backend, backend_loc, natted.is_empty()) {
            let names: Vec<String> = natted
                .iter()
                .map(|p| format!("`{}` (`nat: {}`)", p.name, p.nat))
                .collect();
            let mut d = Diagnostic::new(Code::DirectAcrossNat, loc, "`direct` cannot reach parties behind NAT: expect this scenario to fail")
                .hint("that is the baseline experiment; use an overlay backend (`nebula`, `wireguard`, `tinc`, `openvpn`, `headscale`, `tailscale`) for parties behind NAT");
            for p in natted.iter().take(3) {
                d = d.note(
                    format!("party `{}` is behind `nat: {}`", p.name, p.nat),
                    Some(p.loc),
                );
            }
            if natted.len() > 3 {
                d = d.note(
                    format!("and {} more: {}", natted.len() - 3, names[3..].join(", ")),
                    None,
                );
            }
            self.err(d);
        }
        if let Some(r) = relay_node {
            let hint = match backend {
                Backend::Direct if relay != Relay::Auto => {
                    Some("remove `relay`: the `direct` backend never relays")
                }
                Backend::Openvpn if relay == Relay::Never => {
                    Some("remove `relay`: OpenVPN relays every pair through its server, by design")
                }
                _ => None,
            };
            if let Some(hint) = hint {
                self.err(
                    Diagnostic::new(
                        Code::RelayIgnored,
                        r.loc,
                        format!("`relay: {relay}` has no effect with backend `{backend}`"),
                    )
                    .hint(hint),
                );
            }
        }
        if backend == Backend::Wireguard && relay == Relay::Never && !natted.is_empty() {
            let loc = relay_node.map(|r| r.loc).or(backend_loc);
            if let Some(loc) = loc {
                self.err(
                    Diagnostic::new(Code::MeshAcrossNat, loc, "WireGuard with `relay: never` is a full mesh: parties behind NAT will not be reachable")
                        .hint("use `relay: auto` for a hub that relays between spokes")
                        .note(format!("party `{}` is behind `nat: {}`", natted[0].name, natted[0].nat), Some(natted[0].loc)),
                );
            }
        }
    }
}

/// A program file's stem, used as `programs/<stem>.py` in rendered files
/// and lab command lines.
pub fn valid_program_stem(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_HOST_NAME
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

/// A DNS label that is safe as a host name, directory and Nix attribute:
/// lower-case ASCII letters, digits and `-`, starting with a letter, not
/// ending with `-`.
pub fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_HOST_NAME
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Python keywords (as they can be spelt in a host name).
const PYTHON_KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];
/// Python 3 built-ins (as they can be spelt in a host name): a machine
/// variable of that name would shadow it in the test script.
const PYTHON_BUILTINS: &[&str] = &[
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];
/// Globals the NixOS test driver defines for a test script (nixpkgs'
/// `test_driver/driver.py`, `test_symbols`) that can be spelt as host names;
/// `vlan<N>` is checked apart.
const DRIVER_SYMBOLS: &[&str] = &[
    "machines", "vlans", "driver", "log", "os", "subtest", "retry", "t", "debug",
];

/// Why a valid host name cannot be a party's name, if it cannot: the NixOS
/// test driver binds every machine to a Python global of its name.
pub fn reserved_name(name: &str) -> Option<&'static str> {
    if PYTHON_KEYWORDS.contains(&name) {
        Some("a Python keyword")
    } else if PYTHON_BUILTINS.contains(&name) {
        Some("a Python built-in")
    } else if DRIVER_SYMBOLS.contains(&name)
        || name
            .strip_prefix("vlan")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        Some("a name the NixOS test driver defines")
    } else {
        None
    }
}

fn suggest_name(s: &str) -> Option<String> {
    let mut out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-').to_string();
    valid_name(&out).then_some(out)
}

/// `40ms`, `0.5s`, `40` (milliseconds) → milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, factor) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && (0.0..=10_000.0).contains(&(v * factor))).then_some(v * factor)
}

/// `2s`, `500ms`, `1.5` (seconds), as seconds.
fn parse_seconds(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v * scale)
}

/// Checks that the scenario fits the simulation address plan
/// ([`crate::capacity`]), so that [`crate::plan::plan`] cannot fail.
fn check_capacity(scenario: &Scenario) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let sites = scenario.sites();
    let at = scenario
        .locations
        .parties
        .unwrap_or_else(|| scenario.parties[0].loc);
    for s in &sites {
        if s.hosts.len() > capacity::LAN_HOSTS {
            out.push(
                Diagnostic::new(
                    Code::AddressPlanOverflow,
                    s.first,
                    format!(
                        "site `{}` holds {} hosts, but a site LAN (a /24) fits {}",
                        s.name,
                        s.hosts.len(),
                        capacity::LAN_HOSTS
                    ),
                )
                .hint("split the parties over several sites"),
            );
        }
    }
    let count = |nat: &[Nat]| sites.iter().filter(|s| nat.contains(&s.nat)).count() as u32;
    let checks = [
        (
            count(&[Nat::Firewall]),
            capacity::PUBLIC_LANS,
            "`firewall` sites",
        ),
        (
            count(&[Nat::Easy, Nat::EasyAf, Nat::Hard, Nat::OneToOne, Nat::Cgnat]),
            capacity::PRIVATE_LANS,
            "NAT sites",
        ),
        (count(&[Nat::Cgnat]), capacity::CARRIERS, "`cgnat` sites"),
        (
            sites.len() as u32,
            capacity::ROUTED_SITES,
            "sites with a router",
        ),
    ];
    for (have, max, what) in checks {
        if have > max {
            out.push(
                Diagnostic::new(
                    Code::AddressPlanOverflow,
                    at,
                    format!("{have} {what}, but the simulation address plan fits {max}"),
                )
                .hint("use fewer sites, or share sites between parties with `site:`"),
            );
        }
    }
    let public: u32 = scenario
        .parties
        .iter()
        .filter(|p| p.nat == Nat::None)
        .map(|p| p.host_count() as u32)
        .sum();
    if public > capacity::PUBLIC_PARTIES {
        out.push(
            Diagnostic::new(
                Code::AddressPlanOverflow,
                at,
                format!(
                    "{public} public parties, but the internet segment fits {}",
                    capacity::PUBLIC_PARTIES
                ),
            )
            .hint("use fewer parties"),
        );
    }
    let total: u32 = scenario.parties.iter().map(|p| p.host_count() as u32).sum();
    if total > capacity::OVERLAY_PARTIES {
        out.push(
            Diagnostic::new(
                Code::AddressPlanOverflow,
                at,
                format!(
                    "{total} parties, but the overlay network fits {}",
                    capacity::OVERLAY_PARTIES
                ),
            )
            .hint("use fewer parties"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("ams"));
        assert!(valid_name("fsn-1"));
        assert!(!valid_name("Ams"));
        assert!(!valid_name("1ams"));
        assert!(!valid_name("ams-"));
        assert!(!valid_name("a_b"));
        assert!(!valid_name(""));
        assert_eq!(suggest_name("My_Party").as_deref(), Some("my-party"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("40ms"), Some(40.0));
        assert_eq!(parse_duration_ms("0.5s"), Some(500.0));
        assert_eq!(parse_duration_ms("12"), Some(12.0));
        assert_eq!(parse_duration_ms("-1ms"), None);
        assert_eq!(parse_duration_ms("fast"), None);
    }
}
