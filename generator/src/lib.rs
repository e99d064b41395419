//! e3: a declarative testbed generator for multiparty-computation
//! experiments. See ARCHITECTURE.md for the bird's-eye view.
//!
//! The pipeline: [`load`] (YAML with source positions, `extends:`) →
//! [`scenario::validate`] (every problem at once) → [`plan::plan`] (pure) →
//! [`render`] (files) or the lab.

/// `eprintln!` that never panics. While a lab exists SIGPIPE is caught like
/// SIGINT (it tears the lab down, see [`sim::netns::install_signal_handler`]),
/// so a closed stderr (`e3 sim x 2>&1 | head`) makes writes fail instead of
/// killing e3 with the lab still up; the lab's messages ignore the failure.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

/// `print!` that never panics (see [`say!`]): reports printed after a lab.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let mut out = ::std::io::stdout().lock();
        let _ = ::std::write!(out, $($arg)*);
        let _ = out.flush();
    }};
}

/// `println!` that never panics (see [`say!`]).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stdout(), $($arg)*);
    }};
}

pub mod bundled;
pub mod capacity;
pub mod catalogue;
pub mod clock;
pub mod cloud;
pub mod deploy;
pub mod diag;
pub mod error;
pub mod files;
pub mod fork;
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

/// Every error the library hands to `main`: one variant per layer, whose
/// hint and notes it delegates to ([`error::Hinted`]). It lives here, not in
/// [`error`], so that `error` (the trait and the rendering) depends on no
/// layer and every layer may depend on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Keys(#[from] keys::Error),
    #[error(transparent)]
    Files(#[from] files::Error),
    #[error(transparent)]
    Render(#[from] render::Error),
    #[error(transparent)]
    Deploy(#[from] deploy::Error),
    #[error(transparent)]
    Grid(#[from] grid::Error),
    /// The lab's (`e3 sim`, `e3 lab`).
    #[error(transparent)]
    Sim(#[from] sim::Error),
}

impl Error {
    /// The layer's error, to delegate to.
    fn layer(&self) -> &dyn error::Hinted {
        match self {
            Error::Keys(e) => e,
            Error::Files(e) => e,
            Error::Render(e) => e,
            Error::Deploy(e) => e,
            Error::Grid(e) => e,
            Error::Sim(e) => e,
        }
    }
}

impl error::Hinted for Error {
    fn hint(&self) -> Option<String> {
        self.layer().hint()
    }
    fn notes(&self) -> Vec<String> {
        self.layer().notes()
    }
}

/// The result of loading and validating one scenario: what came out, and
/// every diagnostic (warnings too) with the sources they point into.
pub struct Checked {
    pub outcome: Outcome,
    pub diagnostics: Diagnostics,
    pub sources: Sources,
}

/// What a check gave.
pub enum Outcome {
    /// A valid scenario, or the named variant of a matrix scenario.
    Scenario(scenario::Scenario),
    /// A valid matrix scenario named without a variant: all its variants.
    Matrix(CheckedMatrix),
    /// At least one error (see [`Checked::diagnostics`]).
    Invalid,
}

impl Checked {
    /// An outcome with its diagnostics, sorted; any error makes it
    /// [`Outcome::Invalid`].
    fn new(outcome: Outcome, mut diagnostics: Diagnostics, sources: Sources) -> Self {
        diagnostics.sort();
        let outcome = if diagnostics.has_errors() {
            Outcome::Invalid
        } else {
            outcome
        };
        Checked {
            outcome,
            diagnostics,
            sources,
        }
    }

    fn invalid(items: Vec<Diagnostic>, sources: Sources) -> Self {
        Checked::new(Outcome::Invalid, Diagnostics { items }, sources)
    }

    /// Valid: a scenario, or a matrix of valid variants.
    pub fn is_valid(&self) -> bool {
        !matches!(self.outcome, Outcome::Invalid)
    }

    /// The valid scenario (or variant), if that is what was checked.
    pub fn scenario(&self) -> Option<&scenario::Scenario> {
        match &self.outcome {
            Outcome::Scenario(s) => Some(s),
            _ => None,
        }
    }

    /// [`Checked::scenario`], by value.
    pub fn into_scenario(self) -> Option<scenario::Scenario> {
        match self.outcome {
            Outcome::Scenario(s) => Some(s),
            _ => None,
        }
    }

    /// The valid matrix, if a matrix scenario was named without a variant.
    pub fn matrix(&self) -> Option<&CheckedMatrix> {
        match &self.outcome {
            Outcome::Matrix(m) => Some(m),
            _ => None,
        }
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
        Err((items, sources)) => Checked::invalid(items, sources),
        Ok(loaded) => check_loaded(loaded, variant),
    }
}

fn check_loaded(loaded: load::Loaded, variant: Option<&str>) -> Checked {
    let expansion = match matrix::expand(&loaded.root) {
        Err(items) => return Checked::invalid(items, loaded.sources),
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
            return Checked::invalid(vec![d], loaded.sources);
        }
        let (scenario, diagnostics) = validate_tree(&loaded.root, &loaded.stem, &loaded.sources);
        return Checked::new(scenario_outcome(scenario), diagnostics, loaded.sources);
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
            return Checked::invalid(vec![d], loaded.sources);
        };
        let (scenario, diagnostics) = validate_tree(&v.root, &loaded.stem, &loaded.sources);
        let scenario = scenario.map(|mut s| {
            s.name = v.name(&s.name);
            s
        });
        return Checked::new(scenario_outcome(scenario), diagnostics, loaded.sources);
    }
    // Every variant; a diagnostic that several variants share is reported once.
    let total = expansion.variants.len();
    // Notes that differ between the variants (`party bob is behind nat:
    // easy` in one, `hard` in another) are dropped: only what holds for
    // every variant that shares the diagnostic is said.
    let mut seen: Vec<(Diagnostic, Vec<&matrix::Variant>)> = Vec::new();
    let mut variants = Vec::new();
    for v in &expansion.variants {
        let (scenario, diags) = validate_tree(&v.root, &loaded.stem, &loaded.sources);
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
    let matrix = CheckedMatrix {
        base,
        axes: expansion.axes,
        variants,
    };
    Checked::new(
        Outcome::Matrix(matrix),
        Diagnostics { items },
        loaded.sources,
    )
}

fn scenario_outcome(scenario: Option<scenario::Scenario>) -> Outcome {
    scenario.map_or(Outcome::Invalid, Outcome::Scenario)
}

/// [`scenario::validate_tree`], then what needs the plan: that the faults'
/// targets are hosts of it.
fn validate_tree(
    root: &yaml::Node,
    stem: &str,
    sources: &Sources,
) -> (Option<scenario::Scenario>, Diagnostics) {
    let (scenario, mut diagnostics) = scenario::validate_tree(root, stem, sources);
    let Some(scenario) = scenario else {
        return (None, diagnostics);
    };
    diagnostics.items.extend(check_fault_targets(&scenario));
    diagnostics.sort();
    if diagnostics.has_errors() {
        (None, diagnostics)
    } else {
        (Some(scenario), diagnostics)
    }
}

/// W105 for every fault of `plan` due at or after `timeout`: `e3 sim`
/// stops the program then, so it can never be applied (before a run).
pub fn faults_beyond_bound(plan: &plan::Plan, timeout: std::time::Duration) -> Vec<Diagnostic> {
    let bound = timeout.as_secs_f64();
    plan.faults
        .iter()
        .filter(|f| f.at_s >= bound)
        .filter_map(|f| {
            Some(
                Diagnostic::new(
                    Code::FaultAfterProgram,
                    f.at_loc?,
                    format!(
                        "fault `{} {}` at {} s will not be applied: the program is stopped after {} s (`--timeout`)",
                        f.action,
                        diag::bound(&f.target),
                        f.at_s,
                        timeout.as_secs()
                    ),
                )
                .label("after the time bound")
                .hint(format!("raise `--timeout` above {} s, or make `at` earlier", f.at_s)),
            )
        })
        .collect()
}

/// W105 for every fault of a run that was not applied because the program
/// had ended before it was due, saying how long the program ran.
pub fn faults_after_program(plan: &plan::Plan, report: &sim::report::Report) -> Vec<Diagnostic> {
    report
        .faults
        .iter()
        .filter_map(|r| {
            let ended = r.program_ended_s?;
            let f = plan.faults.iter().find(|f| {
                f.at_s == r.at_s && f.action.as_str() == r.action && f.target == r.target
            })?;
            Some(
                Diagnostic::new(
                    Code::FaultAfterProgram,
                    f.at_loc?,
                    format!(
                        "fault `{} {}` at {} s was not applied: the program ran {ended:.2} s",
                        f.action,
                        diag::bound(&f.target),
                        f.at_s
                    ),
                )
                .label("after the program ended")
                .hint(format!(
                    "make `at` earlier than {ended:.2} s (the program's time in this lab), or give the program more work"
                )),
            )
        })
        .collect()
}

/// Every fault's target must be a host of the plan (a party, a router or
/// carrier, a control host): checked on a valid scenario, whose plan
/// cannot fail.
fn check_fault_targets(scenario: &scenario::Scenario) -> Vec<Diagnostic> {
    if scenario.simulation.faults.is_empty() {
        return Vec::new();
    }
    let plan = plan::plan(scenario);
    let mut names: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
    if plan.connectivity.coordinator.is_some() {
        names.push(crate::sim::fault::COORDINATOR);
    }
    scenario
        .simulation
        .faults
        .iter()
        .filter(|f| !names.contains(&f.target.as_str()))
        .filter_map(|f| {
            Some(
                Diagnostic::new(
                    Code::InvalidFault,
                    f.target_loc?,
                    format!(
                        "no host `{}` to inject `{}` into",
                        diag::bound(&f.target),
                        f.action
                    ),
                )
                .label("not a host of the plan")
                .hint(
                    did_you_mean(&f.target, names.iter().copied()).unwrap_or_else(|| {
                        format!("the plan's hosts (`e3 show`): {}", names.join(", "))
                    }),
                ),
            )
        })
        .collect()
}

/// Loads and validates a scenario from bytes, as [`check`] does for a
/// file but without `extends` (for the fuzzer and tests).
pub fn check_text(name: &str, bytes: &[u8]) -> Checked {
    let mut sources = Sources::default();
    let parsed = load::decode(name.to_string(), None, bytes.to_vec(), &mut sources)
        .and_then(|(file, text)| load::document(file, &text, &sources).map(|root| (file, root)));
    match parsed {
        Err(items) => Checked::invalid(items, sources),
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
        match checked.outcome {
            Outcome::Matrix(m) => {
                let mut backends = Vec::new();
                for v in &m.variants {
                    if !backends.contains(&v.scenario.backend) {
                        backends.push(v.scenario.backend);
                        out.push(v.scenario.name.clone());
                    }
                }
            }
            Outcome::Scenario(_) | Outcome::Invalid => out.push(name.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Error;
    use crate::error::{render, Hinted};

    #[test]
    fn an_error_without_advice_has_no_hint() {
        let plain = Error::from(crate::sim::Error::Interrupted);
        assert_eq!(plain.hint(), None);
        assert_eq!(render(&plain), format!("error: {plain}\n"));
    }

    /// The message of `e` as main prints it, and its hint.
    fn shown(e: impl Into<Error>) -> (String, Option<String>) {
        let e = e.into();
        let message = e.to_string();
        assert!(!message.contains("= hint:"), "{message}");
        assert!(render(&e).starts_with(&format!("error: {message}\n")));
        (message, e.hint())
    }

    #[test]
    fn layers_hand_their_hints_over_as_data() {
        let (message, hint) = shown(crate::keys::Error::Incomplete {
            dir: "secrets/two".into(),
            missing: vec!["nebula/ca.key".into(), "nebula/a.crt".into()],
            scenario: "two".into(),
        });
        assert_eq!(
            message,
            "incomplete key material in `secrets/two`: `nebula/ca.key`, `nebula/a.crt` is missing"
        );
        assert_eq!(
            hint.as_deref(),
            Some("run `e3 keys two --rotate` to regenerate all key material")
        );
        let (message, hint) = shown(crate::keys::Error::ToolMissing {
            tool: "wg",
            how: "Debian: `apt-get install wireguard-tools`",
        });
        assert_eq!(message, "`wg` not found");
        assert_eq!(
            hint.as_deref(),
            Some("install it (Debian: `apt-get install wireguard-tools`; Nix: `nix develop` in the e3 repository)")
        );
        let (message, hint) = shown(crate::render::Error::NotRendered("out/x".into()));
        assert_eq!(
            message,
            "refusing to render into `out/x`: `out/x` is not empty and was not rendered by e3 (it has no `.e3-rendered`)"
        );
        assert!(
            hint.is_some_and(|h| h.starts_with("e3 replaces only directories it rendered itself"))
        );
        let (_, hint) = shown(crate::render::Error::Secrets {
            dir: "secrets/x".into(),
            what: "is a `secrets` directory",
        });
        assert!(hint.is_some_and(|h| h.ends_with("such as the default `out/NAME`")));
        // Errors without advice have no hint, and none of a cause's.
        let (message, hint) = shown(crate::files::Error::ReadDir {
            path: "p".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        assert!(message.starts_with("cannot read `p`: "), "{message}");
        assert_eq!(hint, None);
    }

    #[test]
    fn a_failed_deployment_step_says_what_may_exist() {
        use crate::deploy::{Error as Deploy, Phase};
        let step = |phase, destroying| Deploy::Step {
            number: 3,
            total: 9,
            title: "terraform apply".into(),
            phase,
            destroying,
            scenario: "two".into(),
            terraform: "out/two/terraform".into(),
            cause: Box::new(Deploy::NoImage("out/two/result-image".into())),
        };
        let (message, hint) = shown(step(Phase::Prepare, false));
        assert_eq!(
            message,
            "step 3 of 9 failed: terraform apply\nno image file in `out/two/result-image`"
        );
        assert_eq!(
            hint.as_deref(),
            Some("nothing was created in the cloud yet")
        );
        let (_, hint) = shown(step(Phase::Terraform, false));
        assert!(hint.is_some_and(|h| h
            .starts_with("machines may exist and cost money until destroyed: `e3 destroy two`")));
        let (_, hint) = shown(step(Phase::Colmena, false));
        assert!(hint.is_some_and(|h| h.starts_with("machines may exist")));
        let (_, hint) = shown(step(Phase::Terraform, true));
        assert_eq!(
            hint.as_deref(),
            Some("fix the cause and run `e3 destroy two` again; `terraform -chdir=out/two/terraform state list` shows what still exists")
        );
    }
}
