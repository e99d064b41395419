//! `e3 sim`: one scenario in a local NAT lab, then its report.

use std::process::ExitCode;

use super::error::{EXIT_FAILURE, EXIT_INTERRUPTED};
use super::{load_plan_sourced, print_warnings, Error};

pub fn run(
    name: Option<String>,
    json: bool,
    expect_failure: bool,
    timeout: u64,
    cleanup: bool,
    latency: Option<e3::sim::latency::Method>,
    test_fault: Option<String>,
) -> Result<ExitCode, Error> {
    if cleanup {
        if !e3::sim::is_root() {
            return Err(Error::CleanupNeedsRoot);
        }
        for line in e3::sim::netns::cleanup_leftovers() {
            e3::outln!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = name.unwrap_or_default();
    let (plan, sources) = load_plan_sourced(&name)?;
    let opts = e3::sim::Options {
        timeout: std::time::Duration::from_secs(timeout.max(1)),
        latency,
        test_fault,
        ..Default::default()
    };
    print_warnings(e3::faults_beyond_bound(&plan, opts.timeout), &sources);
    let report = match e3::sim::run_lab(&plan, &opts) {
        Err(_) if e3::sim::netns::interrupted() => {
            e3::say!("interrupted: the lab is torn down");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        r => r?,
    };
    if json {
        e3::out!("{}", report.to_json());
    } else {
        e3::out!("{}", report.to_table());
    }
    print_warnings(e3::faults_after_program(&plan, &report), &sources);
    if report.ok != expect_failure {
        Ok(ExitCode::SUCCESS)
    } else if expect_failure {
        Err(Error::UnexpectedSuccess)
    } else {
        Ok(ExitCode::from(EXIT_FAILURE))
    }
}
