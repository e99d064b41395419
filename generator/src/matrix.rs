//! `matrix:`: one scenario file, many variants.
//!
//! A scenario may list values for `connectivity.backend`,
//! `connectivity.relay`, `simulation.loss`, named lists of
//! `simulation.faults` (`fault: { rebind: [{ at: 1s, … }], … }`) and per-party `nat` (or the
//! two-party shorthand `nat-pairs`). [`expand`] turns it into named
//! variants, `NAME@backend=nebula,nat=hard+easy`, each an ordinary scenario
//! tree: the matrix entry's YAML node is put where the value belongs, so a
//! value that is invalid (or a combination that is) is diagnosed by the
//! ordinary validator at the matrix entry's `file:line:col`.
//!
//! Expansion is deterministic: dimensions in a fixed order (backend, relay,
//! loss, nat), values in the order written, the first dimension outermost.

use std::collections::BTreeMap;

use crate::diag::{did_you_mean, one_of, Code, Diagnostic};
use crate::source::Location;
use crate::yaml::{Node, NodeKind};

/// Most variants one matrix may expand to.
pub const MAX_VARIANTS: usize = 1000;

/// Keys of `matrix:`, in the order their values appear in a variant's name.
pub const MATRIX_KEYS: &[&str] = &["backend", "relay", "loss", "fault", "nat", "nat-pairs"];

/// One variant of a matrix scenario, before validation.
#[derive(Debug, Clone)]
pub struct Variant {
    /// What follows the `@`: `backend=nebula,nat=hard+easy`.
    pub label: String,
    /// The setting of each dimension, in name order: `[("backend", "nebula"), ("nat", "hard+easy")]`.
    pub settings: Vec<(String, String)>,
    /// The scenario tree of this variant (no `matrix:` key).
    pub root: Node,
    /// Per dimension: which value this variant takes (its index), and
    /// where that value is written in the matrix.
    pub choices: Vec<(usize, Vec<Location>)>,
}

impl Variant {
    /// The variant's full name.
    pub fn name(&self, base: &str) -> String {
        format!("{base}@{}", self.label)
    }
}

/// What a matrix varies, for tools that lay results out (`e3 grid`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Axes {
    /// `(key, values)` in name order; the `nat` axis's values are
    /// `+`-joined NAT types of [`Axes::nat_parties`].
    pub dims: Vec<(String, Vec<String>)>,
    /// The parties whose NAT type varies, in party order.
    pub nat_parties: Vec<String>,
    /// NAT types of `nat-pairs` (rows and columns of a pair grid), or of the
    /// two parties of a two-party `nat:`.
    pub pair_types: Option<(Vec<String>, Vec<String>)>,
    /// True for `nat-pairs` (unordered pairs: an upper triangle).
    pub triangle: bool,
}

/// An expanded matrix.
#[derive(Debug, Clone)]
pub struct Expansion {
    pub variants: Vec<Variant>,
    pub axes: Axes,
    /// Where `matrix:` is written.
    pub loc: Location,
}

/// One dimension: its name-order key and its values, each a list of
/// (path in the tree, node) assignments and a label.
struct Dim {
    key: &'static str,
    values: Vec<(String, Vec<(Path, Node)>)>,
}

#[derive(Clone)]
enum Path {
    /// `connectivity.backend` and the like.
    Field(&'static str, &'static str),
    /// `nat` of the party entry at this index of `parties`.
    PartyNat(usize),
}

/// Expands `matrix:` of a scenario tree. `Ok(None)`: there is no matrix.
/// Errors are about the matrix itself (shape, unknown keys, parties,
/// size); the values are checked when each variant is validated.
pub fn expand(root: &Node) -> Result<Option<Expansion>, Vec<Diagnostic>> {
    let Some(entries) = root.as_map() else {
        return Ok(None);
    };
    let Some((mkey, matrix)) = entries
        .iter()
        .find(|(k, _)| k.as_scalar() == Some("matrix"))
    else {
        return Ok(None);
    };
    let mut diags = Vec::new();
    let Some(items) = matrix.as_map() else {
        diags.push(
            Diagnostic::new(
                Code::WrongType,
                matrix.loc,
                format!("`matrix` must be a mapping, found {}", matrix.describe()),
            )
            .label("expected a mapping")
            .hint("e.g. `matrix: { backend: [nebula, tinc], nat-pairs: [easy, hard] }`"),
        );
        return Err(diags);
    };
    if items.is_empty() {
        diags.push(
            Diagnostic::new(Code::InvalidValue, mkey.loc, "`matrix` is empty")
                .label("varies nothing")
                .hint("list values to vary, e.g. `backend: [nebula, tinc]`, or remove `matrix`"),
        );
        return Err(diags);
    }
    let parties = party_names(root);
    let mut by_key: BTreeMap<&str, (&Node, &Node)> = BTreeMap::new();
    for (k, v) in items {
        let name = k.as_scalar().unwrap_or_default();
        match MATRIX_KEYS.iter().find(|m| **m == name) {
            Some(m) => {
                by_key.insert(m, (k, v));
            }
            None => diags.push(
                Diagnostic::new(
                    Code::UnknownKey,
                    k.loc,
                    format!("unknown key `{name}` in `matrix`"),
                )
                .label("cannot be varied")
                .hint(
                    did_you_mean(name, MATRIX_KEYS.iter().copied())
                        .unwrap_or_else(|| one_of(MATRIX_KEYS.iter().copied())),
                ),
            ),
        }
    }
    if let (Some((_, _)), Some((pk, _))) = (by_key.get("nat"), by_key.get("nat-pairs")) {
        let nat_loc = by_key["nat"].0.loc;
        diags.push(
            Diagnostic::new(
                Code::MatrixConflict,
                pk.loc,
                "`matrix` has both `nat` and `nat-pairs`",
            )
            .label("second way to vary NAT types")
            .hint("use `nat-pairs` for a two-party grid, or `nat` with a list per party, not both")
            .note("`nat` is here", Some(nat_loc)),
        );
    }

    let mut dims: Vec<Dim> = Vec::new();
    let mut axes = Axes::default();
    for (key, field) in [
        ("backend", ("connectivity", "backend")),
        ("relay", ("connectivity", "relay")),
        ("loss", ("simulation", "loss")),
    ] {
        if let Some((_, v)) = by_key.get(key) {
            if let Some(values) = scalar_list(v, key, &mut diags) {
                axes.dims.push((
                    key.to_string(),
                    values.iter().map(|(s, _)| s.clone()).collect(),
                ));
                dims.push(Dim {
                    key,
                    values: values
                        .into_iter()
                        .map(|(s, n)| (s, vec![(Path::Field(field.0, field.1), n)]))
                        .collect(),
                });
            }
        }
    }
    if let Some((_, v)) = by_key.get("fault") {
        if let Some(values) = named_lists(v, "fault", &mut diags) {
            axes.dims.push((
                "fault".to_string(),
                values.iter().map(|(s, _)| s.clone()).collect(),
            ));
            dims.push(Dim {
                key: "fault",
                values: values
                    .into_iter()
                    .map(|(s, n)| (s, vec![(Path::Field("simulation", "faults"), n)]))
                    .collect(),
            });
        }
    }
    if let Some((k, v)) = by_key.get("nat") {
        if let Some(dim) = nat_dim(k, v, &parties, &mut axes, &mut diags) {
            dims.push(dim);
        }
    } else if let Some((k, v)) = by_key.get("nat-pairs") {
        if let Some(values) = scalar_list(v, "nat-pairs", &mut diags) {
            let pairs_count = values.len() * (values.len() + 1) / 2;
            if pairs_count > MAX_VARIANTS {
                diags.push(too_large(
                    k.loc,
                    pairs_count,
                    &format!("{} NAT pairs", pairs_count),
                ));
            } else if parties.len() != 2 {
                let mut d = Diagnostic::new(Code::MatrixConflict, k.loc, format!("`nat-pairs` needs exactly two party entries, the scenario has {}", parties.len()))
                    .label("a two-party shorthand")
                    .hint("for more parties, vary each one's NAT type with `nat: { <party>: [easy, hard], ... }`");
                if let Some(p) = root.get("parties") {
                    d = d.note("the parties are listed here", Some(p.loc));
                }
                diags.push(d);
            } else {
                let types: Vec<String> = values.iter().map(|(s, _)| s.clone()).collect();
                let mut pairs = Vec::new();
                for i in 0..values.len() {
                    for j in i..values.len() {
                        let (a, na) = &values[i];
                        let (b, nb) = &values[j];
                        pairs.push((
                            format!("{a}+{b}"),
                            vec![
                                (Path::PartyNat(parties[0].1), na.clone()),
                                (Path::PartyNat(parties[1].1), nb.clone()),
                            ],
                        ));
                    }
                }
                axes.nat_parties = parties.iter().map(|(n, _, _)| n.clone()).collect();
                axes.dims
                    .push(("nat".into(), pairs.iter().map(|(l, _)| l.clone()).collect()));
                axes.pair_types = Some((types.clone(), types));
                axes.triangle = true;
                dims.push(Dim {
                    key: "nat",
                    values: pairs,
                });
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let total = dims
        .iter()
        .try_fold(1usize, |n, d| n.checked_mul(d.values.len()))
        .unwrap_or(usize::MAX);
    if total > MAX_VARIANTS {
        let sizes = dims
            .iter()
            .map(|d| format!("{} {}", d.values.len(), d.key))
            .collect::<Vec<_>>()
            .join(" × ");
        return Err(vec![too_large(mkey.loc, total, &sizes)]);
    }
    // Variants must not share a directory (`loss=2%` and `loss=2pct` would).
    let mut dirs: BTreeMap<String, &str> = BTreeMap::new();
    for d in &dims {
        for (label, assignments) in &d.values {
            let dir = dir_name(&format!("{}={label}", d.key));
            if let Some(other) = dirs.insert(dir.clone(), label) {
                let loc = assignments.first().map_or(mkey.loc, |(_, n)| n.loc);
                return Err(vec![Diagnostic::new(
                    Code::DuplicateMatrixValue,
                    loc,
                    format!(
                        "`{label}` and `{other}` in `matrix.{}` would share the directory `{dir}`",
                        d.key
                    ),
                )
                .label("same directory as another value")
                .hint("write the two values the same way, or drop one")]);
            }
        }
    }

    // Cartesian product, first dimension outermost.
    let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
    for d in &dims {
        combos = combos
            .into_iter()
            .flat_map(|c| (0..d.values.len()).map(move |i| [c.clone(), vec![i]].concat()))
            .collect();
    }
    let mut base = root.clone();
    if let NodeKind::Map(m) = &mut base.kind {
        m.retain(|(k, _)| k.as_scalar() != Some("matrix"));
    }
    let variants = combos
        .into_iter()
        .map(|combo| {
            let mut tree = base.clone();
            let mut settings = Vec::new();
            let mut choices = Vec::new();
            for (d, &i) in dims.iter().zip(&combo) {
                let (label, assignments) = &d.values[i];
                for (path, node) in assignments {
                    assign(&mut tree, path, node.clone());
                }
                settings.push((d.key.to_string(), label.clone()));
                choices.push((i, assignments.iter().map(|(_, n)| n.loc).collect()));
            }
            let label = settings
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            Variant {
                label,
                settings,
                root: tree,
                choices,
            }
        })
        .collect();
    Ok(Some(Expansion {
        variants,
        axes,
        loc: mkey.loc,
    }))
}

fn too_large(loc: Location, count: usize, sizes: &str) -> Diagnostic {
    let count = if count == usize::MAX {
        "more than 2^64".to_string()
    } else {
        count.to_string()
    };
    Diagnostic::new(
        Code::MatrixTooLarge,
        loc,
        format!(
            "`matrix` expands to {count} variants ({sizes}); at most {MAX_VARIANTS} are allowed"
        ),
    )
    .label("too many variants")
    .hint("split the experiment into several scenario files, or vary fewer values at once")
}

/// `(name, index in parties, where the name is written)` of each party entry that has a name.
fn party_names(root: &Node) -> Vec<(String, usize, Location)> {
    root.get("parties")
        .and_then(Node::as_seq)
        .map(|ps| {
            ps.iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    p.get("name")
                        .and_then(|n| Some((n.as_scalar()?.to_string(), i, n.loc)))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A non-empty list of distinct scalars.
fn scalar_list(node: &Node, key: &str, diags: &mut Vec<Diagnostic>) -> Option<Vec<(String, Node)>> {
    let Some(items) = node.as_seq() else {
        diags.push(
            Diagnostic::new(
                Code::WrongType,
                node.loc,
                format!("`matrix.{key}` must be a list, found {}", node.describe()),
            )
            .label("expected a list of values")
            .hint(format!(
                "write `{key}: [{}]`",
                node.as_scalar().unwrap_or("…")
            )),
        );
        return None;
    };
    if items.is_empty() {
        diags.push(
            Diagnostic::new(
                Code::InvalidValue,
                node.loc,
                format!("`matrix.{key}` is an empty list"),
            )
            .label("no values")
            .hint("list at least one value, or remove the key"),
        );
        return None;
    }
    let mut out: Vec<(String, Node)> = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(s) = item.as_scalar() else {
            diags.push(
                Diagnostic::new(
                    Code::WrongType,
                    item.loc,
                    format!(
                        "values of `matrix.{key}` must be single values, found {}",
                        item.describe()
                    ),
                )
                .label("expected a value"),
            );
            ok = false;
            continue;
        };
        if let Some((_, first)) = out.iter().find(|(o, _)| o == s) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateMatrixValue,
                    item.loc,
                    format!("`{s}` is listed twice in `matrix.{key}`"),
                )
                .label("again")
                .hint("remove one: each value gives its own variants")
                .note("first listed here", Some(first.loc)),
            );
            ok = false;
            continue;
        }
        out.push((s.to_string(), item.clone()));
    }
    ok.then_some(out)
}

/// `fault: { readdress: [ … ], rebind: [ … ] }`: named values (each a
/// list of `simulation.faults`, judged by the validator of each variant).
fn named_lists(node: &Node, key: &str, diags: &mut Vec<Diagnostic>) -> Option<Vec<(String, Node)>> {
    let eg = "e.g. `fault: { rebind: [{ at: 1s, action: rebind, target: alice-router }] }`";
    let Some(entries) = node.as_map().filter(|e| !e.is_empty()) else {
        diags.push(
            Diagnostic::new(
                Code::WrongType,
                node.loc,
                format!(
                    "`matrix.{key}` must be a mapping from names to lists of faults, found {}",
                    node.describe()
                ),
            )
            .label("expected named fault lists")
            .hint(eg),
        );
        return None;
    };
    let mut out: Vec<(String, Node)> = Vec::new();
    let mut ok = true;
    for (k, v) in entries {
        let name = k.as_scalar().unwrap_or_default();
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c));
        if !plain {
            diags.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    k.loc,
                    format!(
                        "`{}` cannot name a value of `matrix.{key}`",
                        crate::diag::bound(name)
                    ),
                )
                .label("not a plain name")
                .hint("letters, digits and `+._-`; the name goes into the variant's name"),
            );
            ok = false;
            continue;
        }
        out.push((name.to_string(), v.clone()));
    }
    ok.then_some(out)
}

/// `nat: { alice: [easy, hard], bob: [easy] }`: the product of the listed
/// parties' values is one dimension, labelled `hard+easy` in party order.
fn nat_dim(
    key: &Node,
    node: &Node,
    parties: &[(String, usize, Location)],
    axes: &mut Axes,
    diags: &mut Vec<Diagnostic>,
) -> Option<Dim> {
    let Some(entries) = node.as_map() else {
        diags.push(
            Diagnostic::new(Code::WrongType, node.loc, format!("`matrix.nat` must be a mapping from party names to lists of NAT types, found {}", node.describe()))
                .label("expected a mapping")
                .hint("e.g. `nat: { alice: [easy, hard], bob: [easy, hard] }`; for two parties, `nat-pairs: [easy, hard]` is shorter"),
        );
        return None;
    };
    if entries.is_empty() {
        diags.push(
            Diagnostic::new(Code::InvalidValue, key.loc, "`matrix.nat` names no party")
                .label("varies nothing")
                .hint("list NAT types per party, or remove `nat`"),
        );
        return None;
    }
    // (index in parties, name, values)
    type PartyValues = (usize, String, Vec<(String, Node)>);
    let mut per_party: Vec<PartyValues> = Vec::new();
    for (k, v) in entries {
        let name = k.as_scalar().unwrap_or_default();
        let values = scalar_list(v, &format!("nat.{name}"), diags);
        match parties.iter().find(|(n, _, _)| n == name) {
            Some((_, index, _)) => {
                if let Some(values) = values {
                    per_party.push((*index, name.to_string(), values));
                }
            }
            None => diags.push(
                Diagnostic::new(
                    Code::MatrixUnknownParty,
                    k.loc,
                    format!("`matrix.nat` names `{name}`, which is not a party of this scenario"),
                )
                .label("no such party")
                .hint(
                    did_you_mean(name, parties.iter().map(|(n, _, _)| n.as_str()))
                        .unwrap_or_else(|| one_of(parties.iter().map(|(n, _, _)| n.as_str()))),
                ),
            ),
        }
    }
    if per_party.len() != entries.len() {
        return None;
    }
    // Count before building: a few parties with many types multiply fast.
    let count = per_party
        .iter()
        .try_fold(1usize, |n, (_, _, v)| n.checked_mul(v.len()))
        .unwrap_or(usize::MAX);
    if count > MAX_VARIANTS {
        let sizes = per_party
            .iter()
            .map(|(_, n, v)| format!("{} for {n}", v.len()))
            .collect::<Vec<_>>()
            .join(" × ");
        diags.push(too_large(key.loc, count, &sizes));
        return None;
    }
    per_party.sort_by_key(|(i, _, _)| *i);
    let mut values: Vec<(String, Vec<(Path, Node)>)> = vec![(String::new(), Vec::new())];
    for (index, _, vals) in &per_party {
        values = values
            .into_iter()
            .flat_map(|(label, assign)| {
                vals.iter().map(move |(s, n)| {
                    let l = if label.is_empty() {
                        s.clone()
                    } else {
                        format!("{label}+{s}")
                    };
                    let mut a = assign.clone();
                    a.push((Path::PartyNat(*index), n.clone()));
                    (l, a)
                })
            })
            .collect();
    }
    axes.nat_parties = per_party.iter().map(|(_, n, _)| n.clone()).collect();
    axes.dims.push((
        "nat".into(),
        values.iter().map(|(l, _)| l.clone()).collect(),
    ));
    if per_party.len() == 2 {
        let t = |k: usize| {
            per_party[k]
                .2
                .iter()
                .map(|(s, _)| s.clone())
                .collect::<Vec<_>>()
        };
        axes.pair_types = Some((t(0), t(1)));
    }
    Some(Dim { key: "nat", values })
}

/// Puts `value` at `path` in a scenario tree, creating the enclosing
/// mapping when it is missing. The value keeps its own location (the
/// matrix entry); a created key points there too.
fn assign(tree: &mut Node, path: &Path, value: Node) {
    fn set(map: &mut Node, key: &str, value: Node) {
        if let NodeKind::Map(entries) = &mut map.kind {
            match entries.iter_mut().find(|(k, _)| k.as_scalar() == Some(key)) {
                Some((_, v)) => *v = value,
                None => entries.push((
                    Node {
                        loc: value.loc,
                        kind: NodeKind::Scalar {
                            value: key.to_string(),
                            plain: true,
                        },
                    },
                    value,
                )),
            }
        }
    }
    match path {
        Path::Field(section, key) => {
            let NodeKind::Map(entries) = &mut tree.kind else {
                return;
            };
            let pos = match entries
                .iter()
                .position(|(k, _)| k.as_scalar() == Some(section))
            {
                Some(p) => p,
                None => {
                    let key_node = Node {
                        loc: value.loc,
                        kind: NodeKind::Scalar {
                            value: section.to_string(),
                            plain: true,
                        },
                    };
                    entries.push((
                        key_node,
                        Node {
                            loc: value.loc,
                            kind: NodeKind::Map(Vec::new()),
                        },
                    ));
                    entries.len() - 1
                }
            };
            let target = &mut entries[pos].1;
            if target.is_null() {
                *target = Node {
                    loc: target.loc,
                    kind: NodeKind::Map(Vec::new()),
                };
            }
            set(target, key, value);
        }
        Path::PartyNat(i) => {
            let NodeKind::Map(entries) = &mut tree.kind else {
                return;
            };
            let Some((_, parties)) = entries
                .iter_mut()
                .find(|(k, _)| k.as_scalar() == Some("parties"))
            else {
                return;
            };
            if let NodeKind::Seq(list) = &mut parties.kind {
                if let Some(p) = list.get_mut(*i) {
                    set(p, "nat", value);
                }
            }
        }
    }
}

/// Finds the variant a selector names (`backend=nebula,nat=hard+easy`,
/// settings in any order).
pub fn select<'v>(variants: &'v [Variant], selector: &str) -> Option<&'v Variant> {
    let wanted = settings_of(selector)?;
    variants.iter().find(|v| {
        let mut have: Vec<(&str, &str)> = v
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        have.sort();
        have == wanted
    })
}

/// A selector with its settings in name order (`nat=…,backend=…` →
/// `backend=…,nat=…`), for suggestions.
pub fn normalize(selector: &str) -> String {
    let mut parts: Vec<&str> = selector.split(',').collect();
    parts.sort_by_key(|p| {
        MATRIX_KEYS
            .iter()
            .position(|k| p.split('=').next() == Some(*k))
            .unwrap_or(usize::MAX)
    });
    parts.join(",")
}

fn settings_of(selector: &str) -> Option<Vec<(&str, &str)>> {
    let mut s: Vec<(&str, &str)> = selector
        .split(',')
        .map(|kv| kv.split_once('='))
        .collect::<Option<_>>()?;
    s.sort();
    Some(s)
}

/// Splits a command-line scenario argument into the scenario and the
/// variant selector: `connectivity-grid@backend=nebula` →
/// (`connectivity-grid`, `backend=nebula`). Only an `@` after the last `/`
/// counts, so directories with `@` in their names still work.
pub fn split_arg(arg: &str) -> (&str, Option<&str>) {
    let from = arg.rfind('/').map_or(0, |i| i + 1);
    match arg[from..].find('@') {
        // A variant's settings are `key=value`; a file such as `my@exp.yaml`
        // has none, and an existing file is always the file.
        Some(i) if arg[from + i + 1..].contains('=') && !std::path::Path::new(arg).is_file() => {
            (&arg[..from + i], Some(&arg[from + i + 1..]))
        }
        _ => (arg, None),
    }
}

/// The directory a variant's files go to, under `out/` or a matrix
/// render's directory: the label with `%` spelt `pct` (`loss=2%` →
/// `loss=2pct`), because Nix 2.8 refuses `%` (and `@`) in a path flake
/// reference.
pub fn dir_name(label: &str) -> String {
    label.replace('%', "pct")
}

/// A scenario or variant name as a Nix store path name, which allows only
/// `[A-Za-z0-9+._?=-]`: `@` and `,` become `-`, `%` becomes `pct`.
pub fn store_name(name: &str) -> String {
    name.replace('%', "pct")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+._?=-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Default output directory of `e3 render NAME`: `out/NAME`, and for a
/// variant `out/BASE/LABEL`, where `e3 render BASE` puts it too.
pub fn output_dir(name: &str) -> std::path::PathBuf {
    let out = std::path::Path::new("out");
    match name.split_once('@') {
        Some((base, label)) => out.join(base).join(dir_name(label)),
        None => out.join(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Node {
        crate::yaml::parse(0, text).unwrap().unwrap()
    }

    #[test]
    fn split_arg_takes_the_at_after_the_last_slash() {
        assert_eq!(
            split_arg("grid@backend=nebula"),
            ("grid", Some("backend=nebula"))
        );
        assert_eq!(
            store_name("grid@backend=nebula,loss=2%,nat=easy+hard"),
            "grid-backend=nebula-loss=2pct-nat=easy+hard"
        );
        assert_eq!(
            split_arg("a@b/grid.yaml@nat=easy+hard"),
            ("a@b/grid.yaml", Some("nat=easy+hard"))
        );
        assert_eq!(split_arg("a@b/grid.yaml"), ("a@b/grid.yaml", None));
        assert_eq!(split_arg("my@exp.yaml"), ("my@exp.yaml", None));
        assert_eq!(split_arg("plain"), ("plain", None));
    }

    #[test]
    fn nat_pairs_are_an_upper_triangle_in_written_order() {
        let t = tree("parties:\n  - { name: a }\n  - { name: b }\nmatrix:\n  backend: [nebula, tinc]\n  nat-pairs: [none, easy, hard]\n");
        let e = expand(&t).unwrap().unwrap();
        let labels: Vec<&str> = e.variants.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(labels.len(), 12);
        assert_eq!(
            labels[..6],
            [
                "backend=nebula,nat=none+none",
                "backend=nebula,nat=none+easy",
                "backend=nebula,nat=none+hard",
                "backend=nebula,nat=easy+easy",
                "backend=nebula,nat=easy+hard",
                "backend=nebula,nat=hard+hard"
            ]
        );
        // The value nodes are the matrix entries themselves.
        let v = &e.variants[4];
        let parties = v.root.get("parties").unwrap().as_seq().unwrap();
        assert_eq!(parties[0].get("nat").unwrap().as_scalar(), Some("easy"));
        assert_eq!(parties[1].get("nat").unwrap().as_scalar(), Some("hard"));
        assert_eq!(parties[1].get("nat").unwrap().loc.line, 6);
        assert_eq!(
            v.root
                .get("connectivity")
                .unwrap()
                .get("backend")
                .unwrap()
                .as_scalar(),
            Some("nebula")
        );
        assert!(v.root.get("matrix").is_none());
    }

    #[test]
    fn per_party_nat_is_one_dimension_in_party_order() {
        let t = tree("parties:\n  - { name: a }\n  - { name: b }\n  - { name: c }\nmatrix:\n  nat: { c: [easy, hard], a: [none, easy] }\n");
        let e = expand(&t).unwrap().unwrap();
        let labels: Vec<&str> = e.variants.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "nat=none+easy",
                "nat=none+hard",
                "nat=easy+easy",
                "nat=easy+hard"
            ]
        );
        assert_eq!(e.axes.nat_parties, ["a", "c"]);
        assert!(select(&e.variants, "nat=easy+hard").is_some());
        assert!(select(&e.variants, "nat=hard+easy").is_none());
    }

    #[test]
    fn select_ignores_setting_order() {
        let t = tree("parties:\n  - { name: a }\n  - { name: b }\nmatrix:\n  relay: [auto, never]\n  backend: [nebula]\n");
        let e = expand(&t).unwrap().unwrap();
        assert_eq!(e.variants[1].label, "backend=nebula,relay=never");
        assert_eq!(
            select(&e.variants, "relay=never,backend=nebula").map(|v| v.label.as_str()),
            Some("backend=nebula,relay=never")
        );
        assert!(select(&e.variants, "relay=never").is_none());
        assert!(select(&e.variants, "garbage").is_none());
    }

    #[test]
    fn named_fault_lists_become_simulation_faults() {
        let t = tree("parties:\n  - { name: a }\n  - { name: b }\nsimulation: { latency: none }\nmatrix:\n  backend: [nebula]\n  fault:\n    rebind: [{ at: 1s, action: rebind, target: a-router }]\n    none: []\n");
        let e = expand(&t).unwrap().unwrap();
        let labels: Vec<&str> = e.variants.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(
            labels,
            ["backend=nebula,fault=rebind", "backend=nebula,fault=none"]
        );
        let sim = e.variants[0].root.get("simulation").unwrap();
        assert_eq!(sim.get("latency").unwrap().as_scalar(), Some("none"));
        let faults = sim.get("faults").unwrap().as_seq().unwrap();
        assert_eq!(faults[0].get("action").unwrap().as_scalar(), Some("rebind"));
        let bad = tree("parties:\n  - { name: a }\n  - { name: b }\nmatrix:\n  fault: [rebind]\n");
        assert!(expand(&bad).is_err());
        let bad =
            tree("parties:\n  - { name: a }\n  - { name: b }\nmatrix:\n  fault: { 'a b': [] }\n");
        assert!(expand(&bad).is_err());
    }

    #[test]
    fn missing_sections_are_created() {
        let t = tree("parties:\n  - { name: a }\n  - { name: b }\nmatrix:\n  loss: [1%]\n");
        let e = expand(&t).unwrap().unwrap();
        assert_eq!(
            e.variants[0]
                .root
                .get("simulation")
                .unwrap()
                .get("loss")
                .unwrap()
                .as_scalar(),
            Some("1%")
        );
    }
}
