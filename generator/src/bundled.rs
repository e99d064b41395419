//! Files compiled into the binary: the bundled scenarios, the MPyC
//! programs and the NixOS modules, so `e3` works from any directory and a
//! rendered output never depends on where e3 was built.

use include_dir::{include_dir, Dir};

static SCENARIOS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../scenarios");
static PROGRAMS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../programs");
static MODULES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../modules");

/// Names of the bundled scenarios, sorted.
pub fn scenario_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = SCENARIOS
        .files()
        .filter_map(|f| f.path().to_str()?.strip_suffix(".yaml"))
        .collect();
    names.sort_unstable();
    names
}

/// The text of a bundled scenario.
pub fn scenario(name: &str) -> Option<&'static str> {
    SCENARIOS.get_file(format!("{name}.yaml"))?.contents_utf8()
}

/// Names of the bundled MPyC programs (`programs/<name>.py`), sorted.
/// Helper modules (`e3_*.py`, `_*.py`) are not programs.
pub fn program_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = PROGRAMS
        .files()
        .filter_map(|f| f.path().to_str()?.strip_suffix(".py"))
        .filter(|n| !n.starts_with("e3_") && !n.starts_with('_'))
        .collect();
    names.sort_unstable();
    names
}

/// The helper modules of `programs/` (`e3_common`): no user program may
/// take their names, since it sits next to them.
pub fn program_helpers() -> Vec<&'static str> {
    let mut names: Vec<&str> = PROGRAMS
        .files()
        .filter_map(|f| f.path().to_str()?.strip_suffix(".py"))
        .filter(|n| !n.contains('/') && (n.starts_with("e3_") || n.starts_with('_')))
        .collect();
    names.sort_unstable();
    names
}

/// Every file of `programs/` that a party needs at run time (programs and
/// their helper modules, not tests or docs), as (relative path, contents).
pub fn program_files() -> Vec<(&'static str, &'static [u8])> {
    let mut files: Vec<_> = PROGRAMS
        .files()
        .filter_map(|f| Some((f.path().to_str()?, f.contents())))
        .filter(|(p, _)| p.ends_with(".py"))
        .collect();
    files.sort_by_key(|(p, _)| *p);
    files
}

static TERRAFORM: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../terraform");

/// Every file of the reusable Terraform modules (`terraform/<module>/...`),
/// as (path relative to `terraform/`, contents), sorted.
pub fn terraform_files() -> Vec<(String, &'static [u8])> {
    fn walk(dir: &'static Dir<'static>, out: &mut Vec<(String, &'static [u8])>) {
        for f in dir.files() {
            if let Some(p) = f.path().to_str() {
                out.push((p.to_string(), f.contents()));
            }
        }
        for d in dir.dirs() {
            walk(d, out);
        }
    }
    let mut out = Vec::new();
    walk(&TERRAFORM, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every file of `modules/` (NixOS modules, their packages and README), as
/// (path relative to `modules/`, contents), sorted by path.
pub fn module_files() -> Vec<(&'static str, &'static [u8])> {
    fn walk(dir: &'static Dir<'static>, out: &mut Vec<(&'static str, &'static [u8])>) {
        for f in dir.files() {
            if let Some(p) = f.path().to_str() {
                out.push((p, f.contents()));
            }
        }
        for d in dir.dirs() {
            walk(d, out);
        }
    }
    let mut files = Vec::new();
    walk(&MODULES, &mut files);
    files.sort_by_key(|(p, _)| *p);
    files
}
