//! The `e3` command line: [`args`] defines it (clap), one module per
//! command runs it, [`Error`] is what they report. What is not about the
//! command line (a plan's text, a fork's skeleton, the `--only` filter)
//! is the library's.

mod args;
mod check;
mod deploy;
mod error;
mod graph;
mod grid;
mod keys;
mod lab;
mod list;
mod new;
mod render;
mod show;
mod sim;

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;

use e3::diag::Diagnostics;
use e3::plan::{self, Plan};
use e3::source::Sources;
use e3::{Checked, Outcome};

pub use args::Cli;
use args::Command;
pub use error::Error;

/// Runs one command; its exit status, or the error `main` reports.
pub fn run(command: Command) -> Result<ExitCode, Error> {
    match command {
        Command::List { variants } => list::run(variants.as_deref()),
        Command::Show { name, json } => show::run(&name, json),
        Command::Check { names, json } => check::run(names, json),
        Command::Render {
            name,
            output,
            secrets,
        } => render::run(&name, output, secrets),
        Command::Keys {
            name,
            rotate,
            secrets,
        } => keys::run(&name, rotate, secrets),
        Command::New {
            name,
            from,
            copy,
            output,
            force,
        } => new::run(&name, &from, copy, output, force),
        Command::Graph { name, format } => graph::run(&name, format),
        Command::Sim {
            name,
            json,
            expect_failure,
            timeout,
            cleanup,
            latency,
            test_fault,
        } => sim::run(
            name,
            json,
            expect_failure,
            timeout,
            cleanup,
            latency_method(latency)?,
            test_fault,
        ),
        Command::Lab { command } => lab::run(command),
        Command::Grid {
            name,
            timeout,
            fresh,
            only,
            output,
            json,
            latency,
            runs,
            fresh_labs,
            jobs,
        } => grid::run(
            &name,
            grid::Args {
                timeout,
                fresh,
                only,
                output,
                json,
                latency: latency_method(latency)?,
                runs: usize::from(runs),
                fresh_labs,
                jobs: usize::from(jobs),
            },
        ),
        Command::Deploy {
            name,
            dry_run,
            yes,
            ssh_key,
        } => deploy::run(&name, dry_run, false, yes, ssh_key),
        Command::Destroy {
            name,
            dry_run,
            ssh_key,
        } => deploy::run(&name, dry_run, true, true, ssh_key),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "e3", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_diagnostics(diags: &Diagnostics, sources: &Sources) {
    let mut err = std::io::stderr().lock();
    for d in &diags.items {
        let _ = writeln!(err, "{}", d.render(sources));
    }
}

/// Loads and validates `name`, printing the diagnostics; its plan when it
/// is one valid scenario.
fn load_plan(name: &str) -> Result<Plan, Error> {
    plan_of(name, e3::check_arg(name))
}

/// [`load_plan`], with the sources, for diagnostics about the plan that
/// only a run can give (W105).
fn load_plan_sourced(name: &str) -> Result<(Plan, Sources), Error> {
    let checked = e3::check_arg(name);
    let sources = checked.sources.clone();
    Ok((plan_of(name, checked)?, sources))
}

/// Diagnostics found around a run (no error among them), on stderr.
fn print_warnings(items: Vec<e3::diag::Diagnostic>, sources: &Sources) {
    print_diagnostics(&Diagnostics { items }, sources);
}

/// [`load_plan`] of a scenario already checked.
fn plan_of(name: &str, checked: Checked) -> Result<Plan, Error> {
    print_diagnostics(&checked.diagnostics, &checked.sources);
    match checked.outcome {
        Outcome::Scenario(s) => Ok(plan::plan(&s)),
        Outcome::Matrix(m) => Err(Error::Matrix {
            name: name.to_string(),
            variants: m.variants.len(),
            example: m.variants[0].scenario.name.clone(),
        }),
        Outcome::Invalid => Err(Error::InvalidScenario {
            name: name.to_string(),
            errors: checked.diagnostics.error_count(),
        }),
    }
}

/// `--latency METHOD` (clap checked the value).
fn latency_method(m: Option<String>) -> Result<Option<e3::sim::latency::Method>, e3::sim::Error> {
    m.map(|m| m.parse()).transpose()
}
