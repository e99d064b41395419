//! `e3 grid`: every variant of a matrix scenario in the local NAT lab, and
//! the grid drawn from their reports.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use e3::Outcome;

use super::error::EXIT_INTERRUPTED;
use super::{print_diagnostics, Error};

/// `e3 grid`'s options.
pub struct Args {
    pub timeout: u64,
    pub fresh: bool,
    pub only: Vec<String>,
    pub output: Option<PathBuf>,
    pub json: bool,
    pub latency: Option<e3::sim::latency::Method>,
    pub runs: usize,
    pub fresh_labs: bool,
    pub jobs: usize,
}

pub fn run(name: &str, args: Args) -> Result<ExitCode, Error> {
    let Args {
        timeout,
        fresh,
        only,
        output,
        json,
        latency,
        runs,
        fresh_labs,
        jobs,
    } = args;
    let checked = e3::check_arg(name);
    print_diagnostics(&checked.diagnostics, &checked.sources);
    let m = match checked.outcome {
        Outcome::Matrix(m) => m,
        Outcome::Invalid => {
            return Err(Error::InvalidScenario {
                name: name.to_string(),
                errors: checked.diagnostics.error_count(),
            })
        }
        Outcome::Scenario(_) => {
            return Err(match e3::matrix::split_arg(name) {
                (base, Some(sel)) => Error::GridOfOneVariant {
                    name: name.to_string(),
                    base: base.to_string(),
                    setting: sel.split(',').next().unwrap_or(sel).to_string(),
                },
                (_, None) => Error::NoGrid {
                    name: name.to_string(),
                },
            })
        }
    };
    let only = e3::matrix::Only::parse(name, &only, &m.axes).map_err(Error::Only)?;
    let variants = e3::grid::GridVariant::all_of(&m, &only);
    // Root and the common tools, before anything runs; a backend whose
    // daemons are missing gives `error` cells that say so.
    e3::sim::preflight(e3::catalogue::Backend::Direct)?;
    let dir = output.unwrap_or_else(|| Path::new("results").join(&m.base));
    let opts = e3::grid::Options {
        timeout: std::time::Duration::from_secs(timeout.max(1)),
        fresh,
        dir: dir.clone(),
        python: None,
        latency,
        runs,
        labs: if fresh_labs {
            e3::grid::Labs::Fresh
        } else {
            e3::grid::Labs::Shared
        },
        jobs,
    };
    let description = m.variants[0].scenario.description.clone();
    let grid = match e3::grid::run(&m.base, &description, &m.axes, &variants, &opts) {
        Err(_) if e3::sim::netns::interrupted() => {
            e3::say!("interrupted: finished cells are kept in {}", dir.display());
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        r => r?,
    };
    if json {
        e3::out!(
            "{}",
            std::fs::read_to_string(dir.join("grid.json")).map_err(Error::ReadGrid)?
        );
    }
    e3::say!("{}: {}", m.base, e3::grid::summary(&grid));
    e3::say!(
        "wrote {0}/grid.json, {0}/grid.svg and {0}/grid.html",
        dir.display()
    );
    if e3::grid::plot::x_axis(&grid).is_some() {
        e3::say!("wrote {0}/plot.svg and {0}/plot.html", dir.display());
    }
    let cells = grid
        .cells
        .iter()
        .filter(|c| c.outcome == e3::grid::Outcome::Error)
        .count();
    if cells > 0 {
        return Err(Error::CellsFailed { cells });
    }
    Ok(ExitCode::SUCCESS)
}
