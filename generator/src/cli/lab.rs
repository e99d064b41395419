//! `e3 lab`: a lab that stays up between commands (up, exec, shell, run,
//! capture, fault, status, down).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use e3::plan::Plan;
use e3::sim::live;

use super::args::LabCommand;
use super::error::{EXIT_FAILURE, EXIT_INTERRUPTED};
use super::{latency_method, load_plan, Error};

pub fn run(command: LabCommand) -> Result<ExitCode, Error> {
    if !e3::sim::is_root() {
        return Err(Error::LabNeedsRoot);
    }
    match command {
        LabCommand::Up {
            scenario,
            name,
            json,
            timeout,
            latency,
        } => {
            let plan = load_plan(&scenario)?;
            let name = name.unwrap_or_else(|| plan.name.clone());
            let opts = e3::sim::Options {
                timeout: std::time::Duration::from_secs(timeout),
                latency: latency_method(latency)?,
                ..Default::default()
            };
            let (record, missing) =
                match live::up(&plan, &absolute_scenario(&scenario), &name, &opts) {
                    Err(_) if e3::sim::netns::interrupted() => {
                        e3::say!("interrupted: the lab is torn down");
                        return Ok(ExitCode::from(EXIT_INTERRUPTED));
                    }
                    r => r?,
                };
            if json {
                e3::outln!(
                    "{}",
                    serde_json::to_string_pretty(&record.summary_json()).unwrap_or_default()
                );
            } else {
                e3::out!("{}", record.table());
            }
            if missing.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                Err(Error::OverlayDown {
                    missing,
                    timeout,
                    lab: record.lab,
                })
            }
        }
        LabCommand::Exec {
            name,
            host,
            command,
        } => {
            let record = live::find(&name)?;
            let code = live::exec(&record, &host, &command, &[])?;
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        LabCommand::Shell { name, host } => {
            let record = live::find(&name)?;
            let shell = std::env::var("SHELL")
                .ok()
                .filter(|s| Path::new(s).is_absolute())
                .unwrap_or_else(|| "/bin/sh".into());
            let prompt = format!("[e3 lab {name}: {host}] \\w# ");
            let mut cmd = vec![shell.clone()];
            if shell.ends_with("/bash") {
                cmd.push("--norc".into());
            }
            cmd.push("-i".into());
            e3::say!("shell in `{host}` of lab {name} (exit or Ctrl-D leaves it)");
            let code = live::exec(&record, &host, &cmd, &[("PS1", &prompt), ("E3_LAB", &name)])?;
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        LabCommand::Run {
            name,
            json,
            timeout,
        } => {
            let (record, plan, sources) = lab_plan_sourced(&name)?;
            let opts = e3::sim::Options {
                timeout: std::time::Duration::from_secs(timeout),
                ..Default::default()
            };
            super::print_warnings(e3::faults_beyond_bound(&plan, opts.timeout), &sources);
            let session = live::session(&plan, &record, &opts)?;
            let report = match e3::sim::run_session(session, &opts) {
                Err(_) if e3::sim::netns::interrupted() => {
                    e3::say!("interrupted: the program was stopped; the lab stays up");
                    return Ok(ExitCode::from(EXIT_INTERRUPTED));
                }
                r => r?,
            };
            if json {
                e3::out!("{}", report.to_json());
            } else {
                e3::out!("{}", report.to_table());
            }
            super::print_warnings(e3::faults_after_program(&plan, &report), &sources);
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            })
        }
        LabCommand::Capture {
            name,
            place,
            write,
            duration,
            filter,
        } => {
            let (record, plan) = lab_plan(&name)?;
            let duration = match duration {
                Some(d) if !(d > 0.0 && d <= 86400.0) => {
                    return Err(Error::Duration { seconds: d });
                }
                d => d.map(std::time::Duration::from_secs_f64),
            };
            let path = write.unwrap_or_else(|| PathBuf::from(format!("{place}.pcap")));
            let stats = live::capture(&plan, &record, &place, &path, duration, filter.as_deref())?;
            e3::say!(
                "{} packets captured into {} ({} received by the filter, {} dropped by the kernel)",
                stats.captured,
                path.display(),
                stats.received,
                stats.dropped
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Fault {
            name,
            action,
            target,
        } => {
            let action = action
                .parse::<e3::sim::fault::Action>()
                .map_err(|e| Error::Usage(e.into()))?;
            let (mut record, plan) = lab_plan(&name)?;
            let done = live::fault(&plan, &mut record, action, &target)?;
            e3::outln!("{action} {target}: {done}");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Status { json } => {
            status(json);
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Down { name, all } => {
            let targets: Vec<live::Record> = if all {
                live::records().into_iter().flatten().collect()
            } else {
                vec![live::find(name.as_deref().unwrap_or_default())?]
            };
            let mut bad = false;
            for r in targets {
                let problems = live::down(&r);
                for p in &problems {
                    e3::say!("warning: {p}");
                }
                bad |= !problems.is_empty();
                e3::outln!("lab {} ({}) is down", r.lab, r.prefix);
            }
            Ok(if bad {
                ExitCode::from(EXIT_FAILURE)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// `e3 lab status`.
fn status(json: bool) {
    let (labs, warnings) = live::status();
    for w in warnings {
        e3::say!("warning: {w}");
    }
    if json {
        e3::outln!(
            "{}",
            serde_json::to_string_pretty(&labs).unwrap_or_default()
        );
    } else if labs.is_empty() {
        e3::outln!("no lab is up");
    } else {
        e3::outln!(
            "{:<28} {:<8} {:<9} {:>5} {:>8} {:>7}  SCENARIO",
            "LAB",
            "PREFIX",
            "BACKEND",
            "HOSTS",
            "DAEMONS",
            "AGE"
        );
        for l in labs {
            e3::outln!(
                "{:<28} {:<8} {:<9} {:>5} {:>8} {:>6}s  {}",
                l.lab,
                l.prefix,
                l.backend,
                l.hosts,
                format!("{}/{}", l.running, l.daemons),
                l.age_s,
                l.scenario
            );
            for f in &l.faults {
                e3::outln!("    fault: {f}");
            }
        }
    }
}

/// The scenario argument as a later `e3 lab` command loads it from any
/// directory: a path made absolute (its `@…` variant kept).
fn absolute_scenario(arg: &str) -> String {
    let (base, variant) = e3::matrix::split_arg(arg);
    let p = Path::new(base);
    let base = if p.is_file() {
        std::fs::canonicalize(p)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| base.to_string())
    } else {
        base.to_string()
    };
    match variant {
        Some(v) => format!("{base}@{v}"),
        None => base,
    }
}

/// The record of a running lab and its plan, planned again.
fn lab_plan(name: &str) -> Result<(live::Record, Plan), Error> {
    let (record, plan, _) = lab_plan_sourced(name)?;
    Ok((record, plan))
}

/// [`lab_plan`] with the scenario's sources.
fn lab_plan_sourced(name: &str) -> Result<(live::Record, Plan, e3::source::Sources), Error> {
    let record = live::find(name)?;
    let (plan, sources) = super::load_plan_sourced(&record.scenario)?;
    live::check_plan(&record, &plan)?;
    Ok((record, plan, sources))
}
