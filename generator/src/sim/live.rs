//! `e3 lab`: a lab that stays up between commands.
//!
//! `up` builds the lab as `e3 sim` does ([`LabSession::start`], then
//! [`LabSession::wait_overlay`]), writes its record and keeps it
//! ([`Lab::keep`]): the daemons run in their own process groups and outlive
//! e3. Every later command (`exec`, `shell`, `run`, `capture`, `fault`,
//! `status`, `down`) finds the lab by name through its record and reopens it
//! with [`Lab::attach`].
//!
//! The record is `/run/e3/e3-XXXX.lab` beside the lab's state file: JSON,
//! root's, 0600, read only when root owns it and nobody else can write it
//! (as the state file), and removed with the lab (by `down`, or by
//! [`super::netns::cleanup_state`]). It names the scenario (to plan it
//! again: a later command refuses a scenario whose hosts changed), the
//! hosts and their namespaces and addresses, how each daemon was started
//! (for `restart`), what Tailscale assigned, and what faults changed. One
//! lab per name at a time (by default the scenario's name; `--name` gives
//! another), under a lock on `/run/e3/lab.lock`.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::fault::FaultState;
use super::netns::{self, Lab, Spawn, STATE_DIR};
use super::session::LabSession;
use super::{Error, Options, Progress, Started};
use crate::catalogue::Backend;
use crate::plan::{HostName, Plan};

/// A host as `e3 lab up --json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub name: String,
    pub role: String,
    pub namespace: String,
    /// `address/prefix` on each segment, in the plan's order.
    pub underlay: Vec<String>,
    pub overlay: Option<String>,
}

/// A segment as `e3 lab up --json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentInfo {
    pub name: String,
    pub cidr: String,
    pub kind: String,
}

/// What `e3 lab` keeps of a running lab (see the module documentation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The lab's name (`e3 lab … NAME`).
    pub lab: String,
    /// The scenario as e3 loads it again: a bundled name or an absolute path
    /// (with `@…` for a matrix variant).
    pub scenario: String,
    /// `e3-XXXX`
    pub prefix: String,
    pub backend: String,
    pub created_unix: u64,
    pub hosts: Vec<HostInfo>,
    pub segments: Vec<SegmentInfo>,
    pub spawns: Vec<Spawn>,
    /// Overlay addresses the backend assigned (Tailscale).
    pub addresses: BTreeMap<HostName, Ipv4Addr>,
    pub relay: Option<String>,
    pub relayed_by_construction: bool,
    pub python: PathBuf,
    pub program: PathBuf,
    pub workdir: PathBuf,
    pub overlay_up_s: Option<f64>,
    pub latency: String,
    pub latency_text: String,
    pub faults: FaultState,
    /// Every fault applied, in order (`action target: what happened`).
    pub fault_log: Vec<String>,
}

impl Record {
    /// What `e3 lab up --json` prints.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "lab": self.lab,
            "prefix": self.prefix,
            "scenario": self.scenario,
            "hosts": self.hosts,
            "segments": self.segments,
        })
    }

    /// The host table `e3 lab up` prints.
    pub fn table(&self) -> String {
        let mut s = format!(
            "lab {} ({}, scenario {}, backend {})\n",
            self.lab, self.prefix, self.scenario, self.backend
        );
        s += &format!(
            "{:<16} {:<10} {:<24} {:<34} {}\n",
            "HOST", "ROLE", "NAMESPACE", "UNDERLAY", "OVERLAY"
        );
        for h in &self.hosts {
            let line = format!(
                "{:<16} {:<10} {:<24} {:<34} {}",
                h.name,
                h.role,
                h.namespace,
                h.underlay.join(","),
                h.overlay.as_deref().unwrap_or("-")
            );
            s += line.trim_end();
            s.push('\n');
        }
        s += "segments:";
        for g in &self.segments {
            s += &format!(" {} {} ({});", g.name, g.cidr, g.kind);
        }
        s.pop();
        s.push('\n');
        s
    }
}

/// The hosts and segments of a plan as the record lists them, with the
/// overlay addresses the backend assigned.
fn describe(
    plan: &Plan,
    prefix: &str,
    addresses: &BTreeMap<HostName, Ipv4Addr>,
) -> (Vec<HostInfo>, Vec<SegmentInfo>) {
    let hosts = plan
        .hosts
        .iter()
        .map(|h| HostInfo {
            name: h.name.to_string(),
            role: h.role.as_str().to_string(),
            namespace: format!("{prefix}-{}", h.name),
            underlay: h
                .interfaces
                .iter()
                .map(|i| format!("{}/{}", i.address, i.prefix))
                .collect(),
            overlay: addresses
                .get(h.name.as_str())
                .copied()
                .or(h.overlay_address)
                .map(|a| a.to_string()),
        })
        .collect();
    let segments = plan
        .segments
        .iter()
        .map(|g| SegmentInfo {
            name: g.name.to_string(),
            cidr: g.cidr.clone(),
            kind: serde_json::to_value(g.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        })
        .collect();
    (hosts, segments)
}

/// Whether `name` may name a lab: 1 to 100 of `A-Za-z0-9._@=,+-`.
pub fn valid_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@=,+-".contains(&b))
}

fn record_path(prefix: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{prefix}.lab"))
}

/// Writes a record (0600, via a new file and a rename).
fn save(record: &Record) -> Result<(), Error> {
    let path = record_path(&record.prefix);
    let tmp = path.with_extension("lab-new");
    let _ = fs::remove_file(&tmp);
    let mut text =
        serde_json::to_string_pretty(record).map_err(|e| Error::io("write", &path)(e.into()))?;
    text.push('\n');
    crate::files::write_new(&tmp, text.as_bytes(), 0o600)
        .and_then(|_| fs::rename(&tmp, &path))
        .map_err(Error::io("write", &path))
}

/// Every record in `/run/e3` (trusted ones parsed; the others as errors).
pub fn records() -> Vec<Result<Record, Error>> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(STATE_DIR) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lab"))
        .collect();
    paths.sort();
    for p in paths {
        out.push(match netns::read_trusted_state(&p) {
            Ok(Some(text)) => serde_json::from_str::<Record>(&text).map_err(|e| Error::BadState {
                path: p.clone(),
                detail: e.to_string(),
            }),
            Ok(None) => continue,
            Err(e) => Err(e),
        });
    }
    out
}

/// The record of the running lab `name`.
pub fn find(name: &str) -> Result<Record, Error> {
    let mut known = Vec::new();
    for r in records().into_iter().flatten() {
        if r.lab == name {
            return Ok(r);
        }
        known.push(r.lab);
    }
    Err(Error::LabNotUp {
        name: name.to_string(),
        running: known,
    })
}

/// Refuses a plan whose hosts are not the lab's (the scenario changed
/// since `up`).
pub fn check_plan(record: &Record, plan: &Plan) -> Result<(), Error> {
    let (hosts, _) = describe(plan, &record.prefix, &record.addresses);
    if hosts != record.hosts {
        return Err(Error::LabChanged {
            scenario: record.scenario.clone(),
            lab: record.lab.clone(),
        });
    }
    Ok(())
}

/// `e3 lab up`: builds and starts the lab, waits for the overlay, keeps
/// it. Returns the record and the pairs that did not come up (the lab is
/// kept either way, to be looked into).
pub fn up(
    plan: &Plan,
    scenario: &str,
    name: &str,
    opts: &Options,
) -> Result<(Record, Vec<String>), Error> {
    if !valid_name(name) {
        return Err(Error::BadLabName(crate::diag::bound(name)));
    }
    super::preflight(plan.connectivity.backend)?;
    let dir = netns::state_dir()?;
    let lock = dir.join("lab.lock");
    let _lock = crate::files::lock(&lock).map_err(Error::io("lock", &lock))?;
    if let Ok(r) = find(name) {
        return Err(Error::LabAlreadyUp {
            name: name.to_string(),
            prefix: r.prefix,
            scenario: r.scenario,
        });
    }
    let mut opts = opts.clone();
    opts.detach = true;
    let mut session = LabSession::start(plan, &opts)?;
    let overlay = session.wait_overlay(opts.timeout)?;
    netns::check_interrupted()?;
    // The run's capture of the internet segment ends here: a kept lab is
    // not captured (`e3 lab capture` is), and `e3 lab run` takes its own.
    drop(session.stop_capture());
    let parties = session.parties();
    let missing: Vec<String> = overlay
        .pairs
        .iter()
        .filter(|(_, t)| t.is_none())
        .map(|((i, j), _)| format!("{}–{}", parties[*i].name, parties[*j].name))
        .collect();
    let started = session.started.as_ref();
    let addresses = started.map(|s| s.addresses.clone()).unwrap_or_default();
    let (hosts, segments) = describe(plan, &session.lab.prefix, &addresses);
    let record = Record {
        lab: name.to_string(),
        scenario: scenario.to_string(),
        prefix: session.lab.prefix.clone(),
        backend: plan.connectivity.backend.to_string(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        hosts,
        segments,
        // The daemons (started under their hosts' names), not the probes.
        spawns: session
            .lab
            .spawns()
            .iter()
            .filter(|s| plan.host(&s.name).is_some())
            .cloned()
            .collect(),
        addresses,
        relay: started.and_then(|s| s.relay.clone()),
        relayed_by_construction: started.is_some_and(|s| s.relayed_by_construction),
        python: session.python.clone(),
        program: session.program.clone(),
        workdir: session.workdir.clone(),
        overlay_up_s: overlay.up_s,
        latency: session.latency.to_string(),
        latency_text: session.latency_text.clone(),
        faults: FaultState::default(),
        fault_log: Vec::new(),
    };
    save(&record)?;
    session.lab.keep()?;
    session.say(&format!("lab `{name}` is up ({})", record.prefix));
    Ok((record, missing))
}

/// Reopens the lab of a record (kept: dropping it leaves the lab up).
pub fn attach(record: &Record) -> Result<Lab, Error> {
    let mut lab = Lab::attach(&record.prefix)?;
    lab.set_spawns(record.spawns.clone());
    Ok(lab)
}

/// `e3 lab down`: removes the lab; returns what could not be removed.
pub fn down(record: &Record) -> Vec<String> {
    match Lab::attach(&record.prefix) {
        Ok(mut lab) => lab.teardown(),
        Err(e) => {
            // No state file: nothing to tear down but the record.
            let _ = fs::remove_file(record_path(&record.prefix));
            vec![e.to_string()]
        }
    }
}

/// A session on a kept lab, for `e3 lab run` (nothing is started).
pub fn session<'p>(
    plan: &'p Plan,
    record: &Record,
    opts: &Options,
) -> Result<LabSession<'p>, Error> {
    check_plan(record, plan)?;
    netns::install_signal_handler()?;
    let lab = attach(record)?;
    let backend = plan.connectivity.backend;
    let started = (backend != Backend::Direct).then(|| {
        let mut s = Started {
            relay: record.relay.clone(),
            relayed_by_construction: record.relayed_by_construction,
            addresses: record.addresses.clone(),
            ..Started::default()
        };
        match backend {
            Backend::Nebula if crate::tools::on_path("ssh") => {
                s.read_route = Some(super::backends::nebula::route);
            }
            Backend::Wireguard => {
                s.read_told = Some(super::backends::wireguard::told);
            }
            Backend::Openvpn => {
                s.read_route = Some(super::backends::openvpn::route);
                s.settle = Some(super::backends::openvpn::settle);
            }
            Backend::Tailscale | Backend::Headscale => {
                s.read_route = Some(super::backends::headscale::route);
                s.settle = Some(super::backends::headscale::settle);
            }
            _ => {}
        }
        s
    });
    let versions = super::versions::collect(backend, &record.python);
    // `e3 lab run` is captured as `e3 sim` is, from now (the overlay's
    // set-up is long past) to the program's end.
    let internet_capture = Some(super::privacy::capture_internet(&lab, plan)?);
    Ok(LabSession {
        plan,
        lab,
        python: record.python.clone(),
        program: record.program.clone(),
        workdir: record.workdir.clone(),
        started,
        latency: record
            .latency
            .parse()
            .unwrap_or(super::latency::Method::None),
        latency_text: record.latency_text.clone(),
        delay_line: None,
        versions,
        fault: None,
        internet_capture,
        timings: super::session::Timings::default(),
        fault_state: record.faults.clone(),
        run: 1,
        run_started_s: 0.0,
        overlay: None,
        captured: Vec::new(),
        round_trips: None,
        progress: Progress {
            start: std::time::Instant::now(),
            on: opts.progress,
        },
    })
}

/// `e3 lab fault`: applies one fault and keeps what it changed.
pub fn fault(
    plan: &Plan,
    record: &mut Record,
    action: super::fault::Action,
    target: &str,
) -> Result<String, Error> {
    check_plan(record, plan)?;
    let mut lab = attach(record)?;
    let mut state = record.faults.clone();
    let done = super::fault::apply(&mut lab, plan, &mut state, action, target)?;
    record.faults = state;
    record.fault_log.push(format!("{action} {target}: {done}"));
    save(record)?;
    Ok(done)
}

/// `e3 lab capture`: captures at `place` into `path` for `duration` (or
/// until a signal), then prints tcpdump's counters.
pub fn capture(
    plan: &Plan,
    record: &Record,
    place: &str,
    path: &Path,
    duration: Option<Duration>,
    filter: Option<&str>,
) -> Result<super::capture::CaptureStats, Error> {
    use super::capture::{Capture, Where};
    check_plan(record, plan)?;
    netns::install_signal_handler()?;
    let lab = attach(record)?;
    let place = Where::parse(plan, place)?;
    let cap = Capture::start(&lab, plan, &place, filter, path)?;
    crate::say!(
        "capturing on {place} of lab {} into {}{}",
        record.lab,
        path.display(),
        match duration {
            Some(d) => format!(" for {} s", d.as_secs_f64()),
            None => " until Ctrl-C".into(),
        }
    );
    let end = duration.map(|d| std::time::Instant::now() + d);
    while !netns::interrupted() && end.is_none_or(|e| std::time::Instant::now() < e) {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(cap.stop()?)
}

/// Runs `cmd` in `host`'s namespace with this terminal; returns its exit
/// code (128 + the signal when a signal ended it).
pub fn exec(
    record: &Record,
    host: &str,
    cmd: &[String],
    env: &[(&str, &str)],
) -> Result<i32, Error> {
    use std::os::unix::process::ExitStatusExt as _;
    let Some(h) = record.hosts.iter().find(|h| h.name == host) else {
        return Err(Error::UnknownHost {
            lab: record.lab.clone(),
            host: host.to_string(),
            known: record.hosts.iter().map(|h| h.name.clone()).collect(),
        });
    };
    if !Path::new("/run/netns").join(&h.namespace).exists() {
        return Err(Error::NamespaceGone {
            lab: record.lab.clone(),
            namespace: h.namespace.clone(),
        });
    }
    if cmd.is_empty() {
        return Err(Error::NoCommand);
    }
    let status = std::process::Command::new("ip")
        .args(["netns", "exec", &h.namespace])
        .args(cmd)
        .envs(env.iter().copied())
        .status()
        .map_err(|source| Error::CannotRun {
            program: "ip netns exec".into(),
            source,
        })?;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1))
}

/// One line of `e3 lab status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub lab: String,
    pub prefix: String,
    pub scenario: String,
    pub backend: String,
    pub hosts: usize,
    /// Daemons started, and of them still running.
    pub daemons: usize,
    pub running: usize,
    pub age_s: u64,
    pub faults: Vec<String>,
}

/// `e3 lab status`: every kept lab; problems with records as warnings.
pub fn status() -> (Vec<Status>, Vec<String>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for r in records() {
        match r {
            Ok(r) => {
                let running = attach(&r)
                    .map(|lab| {
                        r.spawns
                            .iter()
                            .filter(|s| lab.pid_of(&s.name).is_some())
                            .count()
                    })
                    .unwrap_or(0);
                out.push(Status {
                    lab: r.lab.clone(),
                    prefix: r.prefix.clone(),
                    scenario: r.scenario.clone(),
                    backend: r.backend.clone(),
                    hosts: r.hosts.len(),
                    daemons: r.spawns.len(),
                    running,
                    age_s: now.saturating_sub(r.created_unix),
                    faults: r.fault_log.clone(),
                });
            }
            Err(e) => warnings.push(e.to_string()),
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names_are_plain() {
        assert!(valid_name("nebula-nat"));
        assert!(valid_name("connectivity-grid@backend=nebula,nat=easy+hard"));
        for bad in ["", "../x", "a b", "a/b", &"x".repeat(101)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
