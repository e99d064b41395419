//! `matrix:`: one scenario file, many variants.
//!
//! A scenario may list values for `connectivity.backend`,
//! `connectivity.relay`, `program` (names or `{ name, args, files }`),
//! per-party `count`, `placement` (named region lists, dealt to the expanded
//! hosts in order), `simulation.loss`, named lists of `simulation.faults`
//! (`fault: { rebind: [{ at: 1s, … }], … }`) and per-party `nat` (or the
//! two-party shorthand `nat-pairs`). [`expand`] turns it into named variants,
//! `NAME@backend=nebula,nat=hard+easy`, each an ordinary scenario tree: the
//! matrix entry's YAML node is put where the value belongs, so a value that
//! is invalid (or a combination that is) is diagnosed by the ordinary
//! validator at the matrix entry's `file:line:col`.
//!
//! A placement gives every host its own region: a party entry with `count`
//! becomes one entry per host (`p-0`, `p-1`, …, the names `count` gives
//! them), each with the next region of the list, cycling. It is applied
//! after every other value, so `count` and `nat` still address the entries
//! as written.
//!
//! Expansion is deterministic: dimensions in a fixed order (backend, relay,
//! program, count, placement, loss, nat), values in the order written, the
//! first dimension outermost.

use std::collections::BTreeMap;

use crate::diag::{did_you_mean, one_of, Code, Diagnostic};
use crate::source::Location;
use crate::yaml::{Node, NodeKind};

/// Most variants one matrix may expand to.
pub const MAX_VARIANTS: usize = 1000;

/// Keys of `matrix:`, in the order their values appear in a variant's name.
pub const MATRIX_KEYS: &[&str] = &[
    "backend",
    "relay",
    "program",
    "count",
    "placement",
    "loss",
    "fault",
    "nat",
    "nat-pairs",
];

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
    /// `count` of the party entry at this index of `parties`.
    PartyCount(usize),
    /// `program` as a whole (the value is its mapping).
    Program,
    /// A list of regions dealt to the expanded hosts (applied last).
    Placement,
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
    let field_dim = |key: &'static str,
                     field: (&'static str, &'static str),
                     dims: &mut Vec<Dim>,
                     axes: &mut Axes,
                     diags: &mut Vec<Diagnostic>| {
        if let Some((_, v)) = by_key.get(key) {
            if let Some(values) = scalar_list(v, key, diags) {
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
    };
    field_dim(
        "backend",
        ("connectivity", "backend"),
        &mut dims,
        &mut axes,
        &mut diags,
    );
    field_dim(
        "relay",
        ("connectivity", "relay"),
        &mut dims,
        &mut axes,
        &mut diags,
    );
    if let Some((_, v)) = by_key.get("program") {
        if let Some(dim) = program_dim(v, &mut diags) {
            axes.dims.push((
                "program".into(),
                dim.values.iter().map(|(l, _)| l.clone()).collect(),
            ));
            dims.push(dim);
        }
    }
    if let Some((k, v)) = by_key.get("count") {
        if let Some((_, values)) = party_dim("count", k, v, &parties, Path::PartyCount, &mut diags)
        {
            axes.dims.push((
                "count".into(),
                values.iter().map(|(l, _)| l.clone()).collect(),
            ));
            dims.push(Dim {
                key: "count",
                values,
            });
        }
    }
    if let Some((k, v)) = by_key.get("placement") {
        if let Some(dim) = placement_dim(k, v, &mut diags) {
            axes.dims.push((
                "placement".into(),
                dim.values.iter().map(|(l, _)| l.clone()).collect(),
            ));
            dims.push(dim);
        }
    }
    field_dim(
        "loss",
        ("simulation", "loss"),
        &mut dims,
        &mut axes,
        &mut diags,
    );
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
            let mut placement = None;
            for (d, &i) in dims.iter().zip(&combo) {
                let (label, assignments) = &d.values[i];
                for (path, node) in assignments {
                    match path {
                        // Last: it splits party entries that `count` and
                        // `nat` address by index.
                        Path::Placement => placement = Some(node.clone()),
                        _ => assign(&mut tree, path, node.clone()),
                    }
                }
                settings.push((d.key.to_string(), label.clone()));
                choices.push((i, assignments.iter().map(|(_, n)| n.loc).collect()));
            }
            if let Some(regions) = placement {
                place(&mut tree, &regions);
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

/// A mapping from names to values (`fault:`, `placement:`), judged in one
/// pass: `not_a_map` for a node that is no mapping, `empty` for an empty
/// one, `bad_name` for a key that cannot name a value (then its value is
/// not looked at), `check` for each value (false: it pushed why not).
/// The names and values in order, or `None` after any diagnostic.
fn named_values(
    node: &Node,
    not_a_map: impl Fn() -> Diagnostic,
    empty: impl Fn() -> Diagnostic,
    bad_name: impl Fn(&Node, &str) -> Option<Diagnostic>,
    mut check: impl FnMut(&str, &Node, &mut Vec<Diagnostic>) -> bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, Node)>> {
    let Some(entries) = node.as_map() else {
        diags.push(not_a_map());
        return None;
    };
    if entries.is_empty() {
        diags.push(empty());
        return None;
    }
    let mut out: Vec<(String, Node)> = Vec::new();
    let mut ok = true;
    for (k, v) in entries {
        let name = k.as_scalar().unwrap_or_default();
        if let Some(d) = bad_name(k, name) {
            diags.push(d);
            ok = false;
            continue;
        }
        if !check(name, v, diags) {
            ok = false;
            continue;
        }
        out.push((name.to_string(), v.clone()));
    }
    ok.then_some(out)
}

/// `fault: { readdress: [ … ], rebind: [ … ] }`: named values (each a
/// list of `simulation.faults`, judged by the validator of each variant).
fn named_lists(node: &Node, key: &str, diags: &mut Vec<Diagnostic>) -> Option<Vec<(String, Node)>> {
    let eg = "e.g. `fault: { rebind: [{ at: 1s, action: rebind, target: alice-router }] }`";
    let wrong = || {
        Diagnostic::new(
            Code::WrongType,
            node.loc,
            format!(
                "`matrix.{key}` must be a mapping from names to lists of faults, found {}",
                node.describe()
            ),
        )
        .label("expected named fault lists")
        .hint(eg)
    };
    let bad_name = |k: &Node, name: &str| {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c));
        (!plain).then(|| {
            Diagnostic::new(
                Code::InvalidValue,
                k.loc,
                format!(
                    "`{}` cannot name a value of `matrix.{key}`",
                    crate::diag::bound(name)
                ),
            )
            .label("not a plain name")
            .hint("letters, digits and `+._-`; the name goes into the variant's name")
        })
    };
    named_values(node, wrong, wrong, bad_name, |_, _, _| true, diags)
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
    let (per_party, values) = party_dim("nat", key, node, parties, Path::PartyNat, diags)?;
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

/// (index in parties, name, values) of one party a per-party key names.
type PartyValues = (usize, String, Vec<(String, Node)>);
/// The values of one dimension: a label and what it assigns where.
type DimValues = Vec<(String, Vec<(Path, Node)>)>;

/// A per-party key (`nat`, `count`): a mapping from party names to lists of
/// values; the product of the listed parties' values is one dimension,
/// labelled `hard+easy` (or `2+5`) in party order.
fn party_dim(
    what: &str,
    key: &Node,
    node: &Node,
    parties: &[(String, usize, Location)],
    path: fn(usize) -> Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Vec<PartyValues>, DimValues)> {
    let Some(entries) = node.as_map() else {
        let hint = if what == "nat" {
            "e.g. `nat: { alice: [easy, hard], bob: [easy, hard] }`; for two parties, `nat-pairs: [easy, hard]` is shorter".to_string()
        } else {
            let first = parties.first().map_or("p", |(n, _, _)| n.as_str());
            format!("e.g. `{what}: {{ {first}: [2, 3, 5, 8] }}`")
        };
        let kind = if what == "nat" {
            "NAT types"
        } else {
            "host counts"
        };
        diags.push(
            Diagnostic::new(Code::WrongType, node.loc, format!("`matrix.{what}` must be a mapping from party names to lists of {kind}, found {}", node.describe()))
                .label("expected a mapping")
                .hint(hint),
        );
        return None;
    };
    if entries.is_empty() {
        diags.push(
            Diagnostic::new(
                Code::InvalidValue,
                key.loc,
                format!("`matrix.{what}` names no party"),
            )
            .label("varies nothing")
            .hint(format!("list values per party, or remove `{what}`")),
        );
        return None;
    }
    let mut per_party: Vec<PartyValues> = Vec::new();
    for (k, v) in entries {
        let name = k.as_scalar().unwrap_or_default();
        let values = scalar_list(v, &format!("{what}.{name}"), diags);
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
                    format!(
                        "`matrix.{what}` names `{name}`, which is not a party of this scenario"
                    ),
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
    // Count before building: a few parties with many values multiply fast.
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
    let mut values: DimValues = vec![(String::new(), Vec::new())];
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
                    a.push((path(*index), n.clone()));
                    (l, a)
                })
            })
            .collect();
    }
    Some((per_party, values))
}

/// Whether a name the matrix makes up (a placement's, a program's label)
/// can stand in a variant's name and directory: letters, digits, `.`, `_`,
/// `+`, `-`, not starting with `.`.
fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
}

fn bad_label(loc: Location, what: &str, s: &str, hint: &str) -> Diagnostic {
    Diagnostic::new(
        Code::InvalidValue,
        loc,
        format!("`{s}` cannot name a {what} in a variant's name"),
    )
    .label("not a usable name")
    .hint(format!(
        "use at most 40 letters, digits, `.`, `_`, `+` or `-` (not starting with `.`){hint}"
    ))
}

/// `program: [rounds, { name: bulk, args: [--size, "1000"] }]`: each value
/// replaces the whole `program`; a name alone is `{ name: NAME }`. Labelled
/// by the name (a path by its file name without `.py`) or by `label:`.
fn program_dim(node: &Node, diags: &mut Vec<Diagnostic>) -> Option<Dim> {
    let Some(items) = node.as_seq() else {
        diags.push(
            Diagnostic::new(
                Code::WrongType,
                node.loc,
                format!("`matrix.program` must be a list, found {}", node.describe()),
            )
            .label("expected a list of programs")
            .hint("e.g. `program: [max-chain, { name: bulk, args: [--size, \"20000\"] }]`"),
        );
        return None;
    };
    if items.is_empty() {
        diags.push(
            Diagnostic::new(
                Code::InvalidValue,
                node.loc,
                "`matrix.program` is an empty list",
            )
            .label("no values")
            .hint("list at least one program, or remove the key"),
        );
        return None;
    }
    let mut values: DimValues = Vec::new();
    let mut firsts: Vec<Location> = Vec::new();
    let mut ok = true;
    for item in items {
        let (label, label_loc, value) = match &item.kind {
            NodeKind::Scalar { value, .. } => {
                let name_key = Node {
                    loc: item.loc,
                    kind: NodeKind::Scalar {
                        value: "name".into(),
                        plain: true,
                    },
                };
                (
                    program_label(value),
                    item.loc,
                    Node {
                        loc: item.loc,
                        kind: NodeKind::Map(vec![(name_key, item.clone())]),
                    },
                )
            }
            NodeKind::Map(entries) => {
                let label = entries.iter().find(|(k, _)| k.as_scalar() == Some("label"));
                let name = entries.iter().find(|(k, _)| k.as_scalar() == Some("name"));
                let (label, loc) = match (label, name) {
                    (Some((_, l)), _) => match l.as_scalar() {
                        Some(s) => (s.to_string(), l.loc),
                        None => {
                            diags.push(
                                Diagnostic::new(
                                    Code::WrongType,
                                    l.loc,
                                    format!("`label` must be a name, found {}", l.describe()),
                                )
                                .label("expected a name"),
                            );
                            ok = false;
                            continue;
                        }
                    },
                    (None, Some((_, n))) if n.as_scalar().is_some() => {
                        (program_label(n.as_scalar().unwrap_or_default()), n.loc)
                    }
                    // No usable name: the validator says what is wrong
                    // with `program`; label it by its position.
                    (None, _) => (format!("program-{}", values.len() + 1), item.loc),
                };
                let mut value = item.clone();
                if let NodeKind::Map(m) = &mut value.kind {
                    m.retain(|(k, _)| k.as_scalar() != Some("label"));
                }
                (label, loc, value)
            }
            _ => {
                diags.push(
                    Diagnostic::new(
                        Code::WrongType,
                        item.loc,
                        format!(
                            "values of `matrix.program` must be program names or mappings like `program`, found {}",
                            item.describe()
                        ),
                    )
                    .label("expected a program")
                    .hint("e.g. `max-chain` or `{ name: bulk, args: [--size, \"20000\"] }`"),
                );
                ok = false;
                continue;
            }
        };
        if !label_ok(&label) {
            diags.push(bad_label(
                label_loc,
                "program",
                &label,
                "; give the program a `label:`",
            ));
            ok = false;
            continue;
        }
        if let Some(i) = values.iter().position(|(l, _)| *l == label) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateMatrixValue,
                    label_loc,
                    format!("two values of `matrix.program` are both labelled `{label}`"),
                )
                .label("same label as another value")
                .hint("give one a `label:` of its own (e.g. `label: bulk-large`), or drop one")
                .note("the other one is here", Some(firsts[i])),
            );
            ok = false;
            continue;
        }
        firsts.push(label_loc);
        values.push((label, vec![(Path::Program, value)]));
    }
    ok.then_some(Dim {
        key: "program",
        values,
    })
}

/// A program's label: its name, or a path's file name without `.py`.
fn program_label(name: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.strip_suffix(".py").unwrap_or(file).to_string()
}

/// `placement: { same: [ams3], far: [ams3, nyc3, sgp1] }`: named lists of
/// regions (a region may repeat), dealt to the expanded hosts in order.
fn placement_dim(key: &Node, node: &Node, diags: &mut Vec<Diagnostic>) -> Option<Dim> {
    let not_a_map = || {
        Diagnostic::new(
            Code::WrongType,
            node.loc,
            format!(
                "`matrix.placement` must be a mapping from placement names to lists of regions, found {}",
                node.describe()
            ),
        )
        .label("expected a mapping")
        .hint("e.g. `placement: { same: [ams3], far: [ams3, nyc3, sgp1] }`")
    };
    let empty = || {
        Diagnostic::new(
            Code::InvalidValue,
            key.loc,
            "`matrix.placement` names no placement",
        )
        .label("varies nothing")
        .hint("e.g. `placement: { same: [ams3], far: [ams3, nyc3, sgp1] }`, or remove `placement`")
    };
    let bad_name =
        |k: &Node, name: &str| (!label_ok(name)).then(|| bad_label(k.loc, "placement", name, ""));
    let regions = |name: &str, v: &Node, diags: &mut Vec<Diagnostic>| {
        let Some(regions) = v.as_seq() else {
            diags.push(
                Diagnostic::new(
                    Code::WrongType,
                    v.loc,
                    format!(
                        "`matrix.placement.{name}` must be a list of regions, found {}",
                        v.describe()
                    ),
                )
                .label("expected a list of regions")
                .hint(format!(
                    "write `{name}: [{}]`",
                    v.as_scalar().unwrap_or("ams3, nyc3")
                )),
            );
            return false;
        };
        if regions.is_empty() {
            diags.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    v.loc,
                    format!("`matrix.placement.{name}` is an empty list"),
                )
                .label("no regions")
                .hint("list at least one region"),
            );
            return false;
        }
        let mut fine = true;
        for r in regions {
            if r.as_scalar().is_none() {
                diags.push(
                    Diagnostic::new(
                        Code::WrongType,
                        r.loc,
                        format!(
                            "regions of `matrix.placement.{name}` must be region names, found {}",
                            r.describe()
                        ),
                    )
                    .label("expected a region"),
                );
                fine = false;
            }
        }
        fine
    };
    let values = named_values(node, not_a_map, empty, bad_name, regions, diags)?;
    Some(Dim {
        key: "placement",
        values: values
            .into_iter()
            .map(|(name, v)| (name, vec![(Path::Placement, v)]))
            .collect(),
    })
}

/// Deals the regions of `regions` (a list node) to the hosts of the tree's
/// party entries in order, cycling: an entry with `count: N` becomes N
/// entries `NAME-0` … `NAME-(N-1)` (what `count` names them), each with its
/// region. An entry whose `count` is not a valid number keeps it (the
/// validator says why) and takes one region.
fn place(tree: &mut Node, regions: &Node) {
    let Some(regions) = regions.as_seq() else {
        return;
    };
    if regions.is_empty() {
        return;
    }
    let NodeKind::Map(entries) = &mut tree.kind else {
        return;
    };
    let Some((_, parties)) = entries
        .iter_mut()
        .find(|(k, _)| k.as_scalar() == Some("parties"))
    else {
        return;
    };
    let NodeKind::Seq(list) = &mut parties.kind else {
        return;
    };
    let scalar = |loc: Location, value: &str| Node {
        loc,
        kind: NodeKind::Scalar {
            value: value.to_string(),
            plain: true,
        },
    };
    let mut next = 0usize;
    let mut region = || {
        let r = regions[next % regions.len()].clone();
        next += 1;
        r
    };
    let mut out = Vec::with_capacity(list.len());
    for entry in std::mem::take(list) {
        let count = entry
            .get("count")
            .and_then(Node::as_int)
            .filter(|n| (1..=crate::scenario::MAX_COUNT).contains(n));
        let name = entry
            .get("name")
            .and_then(|n| Some((n.as_scalar()?.to_string(), n.loc)));
        match (count, name, &entry.kind) {
            (Some(n), Some((name, name_loc)), NodeKind::Map(fields)) => {
                for i in 0..n {
                    let mut fields: Vec<(Node, Node)> = fields
                        .iter()
                        .filter(|(k, _)| k.as_scalar() != Some("count"))
                        .cloned()
                        .collect();
                    for (k, v) in &mut fields {
                        if k.as_scalar() == Some("name") {
                            *v = scalar(name_loc, &format!("{name}-{i}"));
                        }
                    }
                    let mut host = Node {
                        loc: entry.loc,
                        kind: NodeKind::Map(fields),
                    };
                    set_key(&mut host, "region", region());
                    out.push(host);
                }
            }
            _ => {
                let mut entry = entry;
                set_key(&mut entry, "region", region());
                out.push(entry);
            }
        }
    }
    *list = out;
}

/// Sets `key` of a mapping node (adding it, pointing at the value, when missing).
fn set_key(map: &mut Node, key: &str, value: Node) {
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

/// Puts `value` at `path` in a scenario tree, creating the enclosing
/// mapping when it is missing. The value keeps its own location (the
/// matrix entry); a created key points there too.
fn assign(tree: &mut Node, path: &Path, value: Node) {
    let set = set_key;
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
        Path::Program => set(tree, "program", value),
        Path::Placement => place(tree, &value),
        Path::PartyNat(i) | Path::PartyCount(i) => {
            let field = if matches!(path, Path::PartyNat(_)) {
                "nat"
            } else {
                "count"
            };
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
                    set(p, field, value);
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

/// `e3 grid --only KEY=VALUE …`: the settings a variant must have to run.
/// Values of one key are alternatives; different keys must all match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Only {
    /// `(key, values)` in the order the keys were first given.
    filter: Vec<(String, Vec<String>)>,
}

/// A `--only` setting that does not select anything of the matrix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnlyError {
    #[error("`--only {setting}` is not `KEY=VALUE`")]
    NotKeyValue { setting: String },
    /// `name` (the scenario as the user named it) has no axis `key`.
    #[error("`--only {setting}`: `{name}` does not vary `{key}`")]
    NotVaried {
        setting: String,
        name: String,
        key: String,
        /// The keys the matrix varies.
        varied: Vec<String>,
    },
    #[error("`--only {setting}`: `{value}` is not a value of `{key}`")]
    NotAValue {
        setting: String,
        key: String,
        value: String,
        /// The key's values.
        values: Vec<String>,
    },
}

fn backquoted<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items
        .into_iter()
        .map(|x| format!("`{x}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl crate::error::Hinted for OnlyError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            OnlyError::NotKeyValue { .. } => "e.g. `--only backend=nebula`".into(),
            OnlyError::NotVaried { varied, .. } => format!("it varies {}", backquoted(varied)),
            OnlyError::NotAValue { value, values, .. } => {
                did_you_mean(value, values.iter().map(String::as_str))
                    .unwrap_or_else(|| format!("its values: {}", backquoted(values)))
            }
        })
    }
}

impl Only {
    /// Parses the `--only` settings against the matrix's axes; `name` is
    /// the scenario as named on the command line (for messages).
    pub fn parse(name: &str, settings: &[String], axes: &Axes) -> Result<Only, OnlyError> {
        let mut filter: Vec<(String, Vec<String>)> = Vec::new();
        for setting in settings {
            let Some((k, v)) = setting.split_once('=') else {
                return Err(OnlyError::NotKeyValue {
                    setting: setting.clone(),
                });
            };
            let Some((_, values)) = axes.dims.iter().find(|(d, _)| d == k) else {
                return Err(OnlyError::NotVaried {
                    setting: setting.clone(),
                    name: name.to_string(),
                    key: k.to_string(),
                    varied: axes.dims.iter().map(|(d, _)| d.clone()).collect(),
                });
            };
            if !values.iter().any(|x| x == v) {
                return Err(OnlyError::NotAValue {
                    setting: setting.clone(),
                    key: k.to_string(),
                    value: v.to_string(),
                    values: values.clone(),
                });
            }
            match filter.iter_mut().find(|(fk, _)| fk == k) {
                Some((_, vs)) => vs.push(v.to_string()),
                None => filter.push((k.to_string(), vec![v.to_string()])),
            }
        }
        Ok(Only { filter })
    }

    /// Whether a variant with these settings is selected (every variant,
    /// without `--only`).
    pub fn matches(&self, settings: &[(String, String)]) -> bool {
        self.filter
            .iter()
            .all(|(k, vs)| settings.iter().any(|(sk, sv)| sk == k && vs.contains(sv)))
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

    #[test]
    fn placement_deals_regions_to_expanded_hosts_after_count() {
        let t = tree("parties:\n  - { name: p, count: 2 }\n  - { name: q, nat: easy }\nmatrix:\n  count: { p: [4] }\n  placement: { far: [ams3, nyc3, sgp1] }\n  nat: { q: [hard] }\n");
        let e = expand(&t).unwrap().unwrap();
        let v = &e.variants[0];
        assert_eq!(v.label, "count=4,placement=far,nat=hard");
        let parties = v.root.get("parties").unwrap().as_seq().unwrap();
        let hosts: Vec<(&str, &str)> = parties
            .iter()
            .map(|p| {
                (
                    p.get("name").unwrap().as_scalar().unwrap(),
                    p.get("region").unwrap().as_scalar().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            hosts,
            [
                ("p-0", "ams3"),
                ("p-1", "nyc3"),
                ("p-2", "sgp1"),
                ("p-3", "ams3"),
                ("q", "nyc3")
            ]
        );
        assert!(parties.iter().all(|p| p.get("count").is_none()));
        // `nat` addressed the entry `q` by its index before the split.
        assert_eq!(parties[4].get("nat").unwrap().as_scalar(), Some("hard"));
        // The region nodes are the matrix's own (line 6).
        assert_eq!(parties[1].get("region").unwrap().loc.line, 6);
    }

    #[test]
    fn program_values_replace_program_and_are_labelled_by_name() {
        let t = tree("program: { name: rounds, args: [--rounds, \"5\"] }\nparties:\n  - { name: a }\n  - { name: b }\nmatrix:\n  program: [secure-sum, { name: ./dir/bw.py, args: [\"-x\"] }, { name: bulk, label: big }]\n");
        let e = expand(&t).unwrap().unwrap();
        let labels: Vec<&str> = e.variants.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(labels, ["program=secure-sum", "program=bw", "program=big"]);
        let p0 = e.variants[0].root.get("program").unwrap();
        assert_eq!(p0.get("name").unwrap().as_scalar(), Some("secure-sum"));
        assert!(
            p0.get("args").is_none(),
            "a value replaces the whole program"
        );
        let p2 = e.variants[2].root.get("program").unwrap();
        assert!(
            p2.get("label").is_none(),
            "`label` is the matrix's, not program's"
        );
    }

    #[test]
    fn bad_sweep_entries_are_diagnosed_at_the_entry() {
        let t = tree("parties:\n  - { name: p, count: 2 }\nmatrix:\n  program: [rounds, { name: rounds }]\n  count: { q: [2] }\n  placement: { \"a b\": [ams3], far: [] }\n");
        let d = expand(&t).unwrap_err();
        let got: Vec<(Code, usize)> = d
            .iter()
            .map(|d| (d.code, d.location.unwrap().line))
            .collect();
        assert!(got.contains(&(Code::DuplicateMatrixValue, 4)), "{got:?}");
        assert!(got.contains(&(Code::MatrixUnknownParty, 5)), "{got:?}");
        assert!(got.contains(&(Code::InvalidValue, 6)), "{got:?}");
        assert_eq!(got.len(), 4, "{got:?}");
    }

    #[test]
    fn only_selects_by_settings() {
        let axes = Axes {
            dims: vec![
                ("backend".into(), vec!["nebula".into(), "tinc".into()]),
                ("nat".into(), vec!["easy+easy".into(), "hard+easy".into()]),
            ],
            ..Default::default()
        };
        let parse = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            Only::parse("grid", &args, &axes)
        };
        let set = |b: &str, n: &str| {
            vec![
                ("backend".to_string(), b.to_string()),
                ("nat".to_string(), n.to_string()),
            ]
        };
        let all = parse(&[]).unwrap();
        assert!(all.matches(&set("tinc", "hard+easy")));
        let only = parse(&["backend=nebula", "backend=tinc", "nat=hard+easy"]).unwrap();
        assert!(only.matches(&set("nebula", "hard+easy")));
        assert!(only.matches(&set("tinc", "hard+easy")));
        assert!(!only.matches(&set("tinc", "easy+easy")));

        use crate::error::{render, Hinted};
        let e = parse(&["backend"]).unwrap_err();
        assert_eq!(
            render(&e),
            "error: `--only backend` is not `KEY=VALUE`\n   = hint: e.g. `--only backend=nebula`\n"
        );
        let e = parse(&["relay=always"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`--only relay=always`: `grid` does not vary `relay`"
        );
        assert_eq!(e.hint().as_deref(), Some("it varies `backend`, `nat`"));
        let e = parse(&["backend=nebul"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`--only backend=nebul`: `nebul` is not a value of `backend`"
        );
        assert!(e.hint().unwrap().contains("`nebula`"), "{:?}", e.hint());
        let e = parse(&["backend=zzzzzz"]).unwrap_err();
        assert_eq!(e.hint().as_deref(), Some("its values: `nebula`, `tinc`"));
    }
}
