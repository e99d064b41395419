//! e3: a declarative testbed generator for multiparty-computation
//! experiments. See ARCHITECTURE.md for the bird's-eye view.
//!
//! The pipeline: [`load`] (YAML with source positions, `extends:`) →
//! [`scenario::validate`] (every problem at once) → [`plan::plan`] (pure) →
//! [`render`] (files) or the lab.

pub mod bundled;
pub mod catalogue;
pub mod cloud;
pub mod deploy;
pub mod diag;
pub mod error;
pub mod files;
pub mod graph;
pub mod grid;
pub mod keys;
pub mod load;
pub mod matrix;
pub mod nat;
pub mod netem;
pub mod pki;
pub mod plan;
pub mod render;
pub mod scenario;
pub mod sim;
pub mod source;
pub mod tools;
pub mod yaml;

use diag::{did_you_mean, Code, Diagnostic, Diagnostics};
use load::ScenarioRef;
use source::Sources;

/// The outcome of loading and validating one scenario.
pub struct Checked {
    /// The valid scenario, or the named variant of a matrix scenario.
    /// `None` when invalid, and for a matrix scenario named without a
    /// variant (see [`Checked::matrix`]).
    pub scenario: Option<scenario::Scenario>,
    /// A valid matrix scenario named without a variant: all its variants.
    pub matrix: Option<CheckedMatrix>,
    pub diagnostics: Diagnostics,
    pub sources: Sources,
}

impl Checked {
    /// Valid: a scenario, or a matrix of valid variants.
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.has_errors() && (self.scenario.is_some() || self.matrix.is_some())
    }
}

/// Every variant of a valid matrix scenario.
pub struct CheckedMatrix {
    /// The scenario's own name (before `@`).
    pub base: String,
    pub axes: matrix::Axes,
    pub variants: Vec<CheckedVariant>,
}

pub struct CheckedVariant {
    /// What follows the `@` (the scenario's name is `base@label`).
    pub label: String,
    pub settings: Vec<(String, String)>,
    pub scenario: scenario::Scenario,
}

/// Loads and validates a scenario; never panics, whatever the input.
pub fn check(reference: &ScenarioRef) -> Checked {
    check_variant(reference, None)
}

/// Loads and validates a command-line scenario argument: a bundled name or
/// a path, optionally followed by `@` and a matrix variant
/// (`connectivity-grid@backend=nebula,nat=easy+hard`).
pub fn check_arg(arg: &str) -> Checked {
    let (scenario, variant) = matrix::split_arg(arg);
    check_variant(&ScenarioRef::from_arg(scenario), variant)
}

/// [`check`] of one variant (`Some(selector)`) or of the whole scenario.
pub fn check_variant(reference: &ScenarioRef, variant: Option<&str>) -> Checked {
    match load::load(reference) {
        Err((items, sources)) => {
            let mut diagnostics = Diagnostics { items };
            diagnostics.sort();
            Checked {
                scenario: None,
                matrix: None,
                diagnostics,
                sources,
            }
        }
        Ok(loaded) => check_loaded(loaded, variant),
    }
}

fn check_loaded(loaded: load::Loaded, variant: Option<&str>) -> Checked {
    let invalid = |items: Vec<Diagnostic>, sources: Sources| {
        let mut diagnostics = Diagnostics { items };
        diagnostics.sort();
        Checked {
            scenario: None,
            matrix: None,
            diagnostics,
            sources,
        }
    };
    let expansion = match matrix::expand(&loaded.root) {
        Err(items) => return invalid(items, loaded.sources),
        Ok(e) => e,
    };
    let Some(expansion) = expansion else {
        if let Some(sel) = variant {
            let d = Diagnostic::new(
                Code::UnknownVariant,
                loaded.root.loc,
                format!(
                    "`{}` has no `matrix:`, so it has no variant `{sel}`",
                    loaded.stem
                ),
            )
            .label("no `matrix:` in this scenario")
            .hint(format!("name the scenario without `@{sel}`"));
            return invalid(vec![d], loaded.sources);
        }
        let (scenario, diagnostics) = scenario::validate(&loaded);
        return Checked {
            scenario,
            matrix: None,
            diagnostics,
            sources: loaded.sources,
        };
    };
    let base = loaded
        .root
        .get("name")
        .and_then(|n| n.as_scalar())
        .unwrap_or(&loaded.stem)
        .to_string();
    if let Some(sel) = variant {
        let Some(v) = matrix::select(&expansion.variants, sel) else {
            let labels = expansion.variants.iter().map(|v| v.label.as_str());
            let d = Diagnostic::new(
                Code::UnknownVariant,
                expansion.loc,
                format!("`{base}` has no variant `{sel}`"),
            )
            .label(format!(
                "the {} variants are defined here",
                expansion.variants.len()
            ))
            .hint(
                did_you_mean(&matrix::normalize(sel), labels).unwrap_or_else(|| {
                    format!(
                        "`e3 list --variants {base}` lists them; e.g. `{}`",
                        expansion.variants[0].name(&base)
                    )
                }),
            );
            return invalid(vec![d], loaded.sources);
        };
        let (scenario, diagnostics) =
            scenario::validate_tree(&v.root, &loaded.stem, &loaded.sources);
        let scenario = scenario.map(|mut s| {
            s.name = v.name(&s.name);
            s
        });
        return Checked {
            scenario,
            matrix: None,
            diagnostics,
            sources: loaded.sources,
        };
    }
    // Every variant; a diagnostic that several variants share is reported once.
    let total = expansion.variants.len();
    // Notes that differ between the variants (`party bob is behind nat:
    // easy` in one, `hard` in another) are dropped: only what holds for
    // every variant that shares the diagnostic is said.
    let mut seen: Vec<(Diagnostic, Vec<&matrix::Variant>)> = Vec::new();
    let mut variants = Vec::new();
    for v in &expansion.variants {
        let (scenario, diags) = scenario::validate_tree(&v.root, &loaded.stem, &loaded.sources);
        for d in diags.items {
            match seen.iter_mut().find(|(s, _)| {
                s.code == d.code && s.location == d.location && s.message == d.message
            }) {
                Some((kept, affected)) => {
                    kept.notes.retain(|n| d.notes.contains(n));
                    affected.push(v);
                }
                None => seen.push((d, vec![v])),
            }
        }
        if let Some(mut s) = scenario {
            s.name = v.name(&s.name);
            variants.push(CheckedVariant {
                label: v.label.clone(),
                settings: v.settings.clone(),
                scenario: s,
            });
        }
    }
    let items: Vec<Diagnostic> = seen
        .into_iter()
        .map(|(d, affected)| {
            if affected.len() == total {
                return d;
            }
            let first = affected[0];
            let mut d = match affected.len() {
                1 => d.note(format!("in the variant `{}`", first.name(&base)), None),
                n => d.note(
                    format!(
                        "in {n} of the {total} variants, e.g. `{}`",
                        first.name(&base)
                    ),
                    None,
                ),
            };
            // Point at the matrix values every affected variant shares: the
            // entries that make the combination.
            for (dim, (choice, locations)) in first.choices.iter().enumerate() {
                if affected.iter().all(|v| v.choices[dim].0 == *choice) {
                    let (key, value) = &first.settings[dim];
                    let primary = d.location;
                    for loc in locations.iter().filter(|l| Some(**l) != primary) {
                        d = d.note(
                            format!("`{key}={value}` comes from the matrix here"),
                            Some(*loc),
                        );
                    }
                }
            }
            d
        })
        .collect();
    let mut diagnostics = Diagnostics { items };
    diagnostics.sort();
    let matrix = (!diagnostics.has_errors()).then_some(CheckedMatrix {
        base,
        axes: expansion.axes,
        variants,
    });
    Checked {
        scenario: None,
        matrix,
        diagnostics,
        sources: loaded.sources,
    }
}

/// Loads and validates a scenario from bytes, as [`check`] does for a
/// file but without `extends` (for the fuzzer and tests).
pub fn check_text(name: &str, bytes: &[u8]) -> Checked {
    let mut sources = Sources::default();
    let parsed = load::decode(name.to_string(), None, bytes.to_vec(), &mut sources)
        .and_then(|(file, text)| load::document(file, &text, &sources).map(|root| (file, root)));
    match parsed {
        Err(items) => {
            let mut diagnostics = Diagnostics { items };
            diagnostics.sort();
            Checked {
                scenario: None,
                matrix: None,
                diagnostics,
                sources,
            }
        }
        Ok((file, root)) => check_loaded(
            load::Loaded {
                root,
                sources,
                file,
                stem: "scenario".into(),
            },
            None,
        ),
    }
}

/// Every bundled scenario by name, for tests and CI: a matrix scenario is
/// stood for by its first variant of each backend
/// (`connectivity-grid@backend=nebula,nat=none+none`, …).
pub fn bundled_examples() -> Vec<String> {
    let mut out = Vec::new();
    for name in bundled::scenario_names() {
        let checked = check(&ScenarioRef::Bundled(name.to_string()));
        match checked.matrix {
            Some(m) => {
                let mut backends = Vec::new();
                for v in &m.variants {
                    if !backends.contains(&v.scenario.backend) {
                        backends.push(v.scenario.backend);
                        out.push(v.scenario.name.clone());
                    }
                }
            }
            None => out.push(name.to_string()),
        }
    }
    out
}
