//! `e3 show`: the plan of a scenario (hosts, roles, addresses), or the
//! variants of a matrix scenario.

use std::process::ExitCode;

use e3::Outcome;

use super::{plan_of, print_diagnostics, Error};

pub fn run(name: &str, json: bool) -> Result<ExitCode, Error> {
    let checked = e3::check_arg(name);
    if let (Outcome::Matrix(m), false) = (&checked.outcome, json) {
        print_diagnostics(&checked.diagnostics, &checked.sources);
        let first = &m.variants[0].scenario;
        println!("{}: {}", m.base, first.description);
        println!(
            "a matrix of {} variants; `e3 show '<variant>'` shows one\n",
            m.variants.len()
        );
        for v in &m.variants {
            println!("{}", v.scenario.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let plan = plan_of(name, checked)?;
    if json {
        print!("{}", plan.to_json());
    } else {
        print!("{}", plan.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
