//! `e3 list`: the bundled scenarios, or the variants of a matrix scenario.

use std::io::Write as _;
use std::process::ExitCode;

use e3::bundled;
use e3::load::ScenarioRef;
use e3::Outcome;

use super::{print_diagnostics, Error};

pub fn run(variants: Option<&str>) -> Result<ExitCode, Error> {
    match variants {
        Some(name) => list_variants(name),
        None => {
            list_bundled();
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `e3 list --variants NAME`.
fn list_variants(name: &str) -> Result<ExitCode, Error> {
    let checked = e3::check_arg(name);
    print_diagnostics(&checked.diagnostics, &checked.sources);
    match checked.outcome {
        Outcome::Invalid => Err(Error::NotValid {
            name: name.to_string(),
        }),
        Outcome::Scenario(_) => match e3::matrix::split_arg(name) {
            (base, Some(_)) => Err(Error::OneVariant {
                name: name.to_string(),
                base: base.to_string(),
            }),
            (_, None) => Err(Error::NoVariants {
                name: name.to_string(),
            }),
        },
        Outcome::Matrix(m) => {
            let mut out = std::io::stdout().lock();
            for v in &m.variants {
                let _ = writeln!(out, "{}", v.scenario.name);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `e3 list`: one line per bundled scenario.
fn list_bundled() {
    let mut out = std::io::stdout().lock();
    for name in bundled::scenario_names() {
        let checked = e3::check(&ScenarioRef::Bundled(name.to_string()));
        match checked.outcome {
            Outcome::Scenario(s) => {
                let hosts: usize = s.parties.iter().map(|p| p.host_count()).sum();
                let _ = writeln!(
                    out,
                    "{name:<20} {:<10} {hosts:>3} parties  {}",
                    // a string: the backend's Display ignores widths
                    s.backend.to_string(),
                    s.description
                );
            }
            Outcome::Matrix(m) => {
                let _ = writeln!(
                    out,
                    "{name:<20} {:<10} {:>3} variants {}",
                    "matrix",
                    m.variants.len(),
                    m.variants[0].scenario.description
                );
            }
            Outcome::Invalid => {
                let _ = writeln!(out, "{name:<20} (invalid: run `e3 check {name}`)");
            }
        }
    }
}
