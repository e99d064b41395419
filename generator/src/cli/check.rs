//! `e3 check`: validate scenarios and report every problem.

use std::process::ExitCode;

use e3::bundled;
use e3::plan;
use e3::Outcome;

use super::error::EXIT_INVALID;
use super::{print_diagnostics, Error};

pub fn run(names: Vec<String>, json: bool) -> Result<ExitCode, Error> {
    let names = if names.is_empty() {
        bundled::scenario_names()
            .into_iter()
            .map(str::to_string)
            .collect()
    } else {
        names
    };
    let mut failed = 0;
    for name in &names {
        let checked = e3::check_arg(name);
        if json {
            for d in &checked.diagnostics.items {
                println!("{}", d.to_json(&checked.sources));
            }
        } else {
            print_diagnostics(&checked.diagnostics, &checked.sources);
        }
        let warnings = checked.diagnostics.warning_count();
        let w = if warnings > 0 {
            format!(
                ", {warnings} warning{}",
                if warnings == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        match &checked.outcome {
            Outcome::Scenario(s) => {
                let plan = plan::plan(s);
                if !json {
                    println!("ok: {name} ({} hosts{w})", plan.hosts.len());
                }
            }
            Outcome::Matrix(m) => {
                let hosts: Vec<usize> = m
                    .variants
                    .iter()
                    .map(|v| plan::plan(&v.scenario).hosts.len())
                    .collect();
                let (lo, hi) = (
                    hosts.iter().min().unwrap_or(&0),
                    hosts.iter().max().unwrap_or(&0),
                );
                let range = if lo == hi {
                    format!("{lo}")
                } else {
                    format!("{lo} to {hi}")
                };
                if !json {
                    println!(
                        "ok: {name} (matrix of {} variants, {range} hosts each{w})",
                        m.variants.len()
                    );
                }
            }
            Outcome::Invalid => {
                failed += 1;
                let n = checked.diagnostics.error_count();
                // One line of the report per scenario; the next is checked too.
                if !json {
                    eprintln!(
                        "error: {name}: {n} error{}{w}",
                        if n == 1 { "" } else { "s" }
                    );
                }
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(EXIT_INVALID)
    } else {
        ExitCode::SUCCESS
    })
}
