//! Data-driven tests: every directory under `tests/fixtures/` is a case,
//! discovered, not registered.
//!
//! - `scenario.yaml` (or `scenario.<anything>`) is the input; other files in
//!   the directory may be `extends`-ed by it.
//! - `expected.txt` is what `e3 check` reports, followed (for a valid
//!   scenario) by the plan as JSON; for a valid `matrix:` scenario, by the
//!   names of its variants and the plan of the first.
//! - Cases named `bad-*` must be invalid and every error must name
//!   `file:line:col` (or at least the file, for files without text);
//!   cases named `ok-*` must be valid.
//!
//! `E3_BLESS=1 cargo test --test fixtures` rewrites `expected.txt`
//! (`support/golden.rs`, the suite's one golden mechanism).

use std::path::{Path, PathBuf};

#[path = "support/golden.rs"]
mod golden;

use e3::diag::Code;
use e3::load::ScenarioRef;

fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("tests/fixtures")
        .expect("tests/fixtures exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn input(dir: &Path) -> PathBuf {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_stem().is_some_and(|s| s == "scenario"))
        .collect();
    inputs.sort();
    assert_eq!(
        inputs.len(),
        1,
        "{}: exactly one scenario.* input",
        dir.display()
    );
    inputs.remove(0)
}

/// What a case produces: diagnostics, then the plan when valid.
fn run(dir: &Path) -> (String, bool, Vec<String>) {
    let path = input(dir);
    let checked = e3::check(&ScenarioRef::File(path.clone()));
    let mut out = String::new();
    let mut problems = Vec::new();
    for d in &checked.diagnostics.items {
        out.push_str(&d.render(&checked.sources));
        out.push('\n');
        if d.is_error()
            && d.location.is_none()
            && !matches!(
                d.code,
                Code::Io | Code::Empty | Code::NotUtf8 | Code::NotAScenario | Code::NotRegularFile
            )
        {
            problems.push(format!("{} has no file:line:col", d.code.code()));
        }
        if d.position(&checked.sources).is_empty() {
            problems.push(format!("{} names no file", d.code.code()));
        }
    }
    let valid = checked.is_valid();
    if let Some(s) = checked.scenario() {
        out.push_str(&e3::plan::plan(s).to_json());
    }
    if let Some(m) = checked.matrix() {
        // A matrix: its variants, and the plan of the first.
        out.push_str(&format!("matrix of {} variants:\n", m.variants.len()));
        for v in &m.variants {
            out.push_str(&format!("  {}\n", v.scenario.name));
        }
        out.push_str(&e3::plan::plan(&m.variants[0].scenario).to_json());
    }
    (out, valid, problems)
}

#[test]
fn fixtures() {
    let mut golden = golden::Golden::new();
    let mut failures = Vec::new();
    let cases = cases();
    assert!(!cases.is_empty(), "no fixtures found");
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (actual, valid, problems) = run(dir);
        for p in problems {
            failures.push(format!("{name}: {p}"));
        }
        if name.starts_with("bad-") && valid {
            failures.push(format!(
                "{name}: expected an invalid scenario, but it validated"
            ));
        }
        if name.starts_with("ok-") && !valid {
            failures.push(format!("{name}: expected a valid scenario:\n{actual}"));
        }
        golden.check(dir.join("expected.txt"), &actual);
        // A file that is not YAML is never quoted (it may be a key).
        if name == "bad-not-a-scenario" && actual.contains("BEGIN NEBULA") {
            failures.push(format!("{name}: the key file is quoted:\n{actual}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    golden.finish();
}

/// Every diagnostic kind that can come from a scenario file has a fixture,
/// so a new kind cannot be added without a test showing its message.
#[test]
fn every_diagnostic_code_has_a_fixture() {
    let mut seen = std::collections::BTreeSet::new();
    for dir in cases() {
        if let Ok(text) = std::fs::read_to_string(dir.join("expected.txt")) {
            for code in Code::ALL {
                if text.contains(&format!("[{}]", code.code())) {
                    seen.insert(code.code());
                }
            }
        }
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.code())
        .filter(|c| !seen.contains(c) && !UNREACHABLE_FROM_FILES.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "no fixture shows these codes: {missing:?}"
    );
}

/// Codes a scenario file cannot trigger through `e3 check` of a path.
const UNREACHABLE_FROM_FILES: &[&str] = &[
    // `io`: the runner only checks files that exist, and `extends` only
    // resolves to files that `is_file()` says exist, so a read error needs a
    // file that cannot be read (permissions, which git does not keep and
    // root ignores) or one that vanishes in between. The CLI tests cover it
    // with a path that does not exist.
    "E001",
    // `file-too-large`: a fixture would need a file of more than 1 MiB (a
    // scenario) or 8 MiB (a program) in git; the CLI tests make one.
    "E005",
    // `unknown-variant`: a variant is named on the command line
    // (`NAME@backend=…`), not in a file; the CLI tests cover it.
    "E095",
    // `fault-after-program`: only a run knows how long its program ran
    // (and `--timeout` is the command line's); the lab test
    // `faults_after_the_program_are_warned_about_with_their_line` covers it.
    "W105",
];
