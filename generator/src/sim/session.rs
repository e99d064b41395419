//! A lab in phases, shared by `e3 sim` ([`super::run_lab`]) and the
//! benchmarks (`bench/`):
//!
//! 1. [`LabSession::start`]: checks, namespaces and NAT
//!    ([`super::build_topology`]), the programs, the overlay daemons
//!    ([`super::start_backend`]);
//! 2. [`LabSession::wait_overlay`]: until every pair of parties answers ICMP
//!    over the overlay;
//! 3. [`LabSession::run_program`]: the scenario's MPyC program on every party;
//!    [`LabSession::spawn`] and [`LabSession::run`] start other programs in a
//!    host's namespace (the benchmarks' iperf3);
//! 4. [`LabSession::teardown`], also done when the session is dropped (the
//!    [`Lab`] inside tears itself down).
//!
//! [`Timings`] records when each phase ended, so the benchmarks time the
//! same code path `e3 sim` runs.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::netns::{self, Lab};
use super::report::PartyReport;
use super::{
    build_topology, find_python, preflight, start_backend, tail, Error, Options, Progress, Started,
    PROBE,
};
use crate::plan::{Host, Plan};

/// When the phases of [`LabSession::start`] ended, in seconds since the
/// session started (after the preflight checks).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// Every namespace, link, address, route and NAT rule exists.
    pub topology_s: f64,
    /// The first overlay daemon is about to start (programs and the probe
    /// written); the overlay's own times count from here.
    pub overlay_start_s: f64,
    /// Every overlay daemon has started (keys and configurations included).
    pub daemons_s: f64,
}

/// The overlay as the probes saw it.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// (i, j) positions of two parties, i < j: seconds after the first
    /// daemon started until they answered each other; `None` if they never did.
    pub pairs: BTreeMap<(usize, usize), Option<f64>>,
    /// The last pair's time when every pair answered.
    pub up_s: Option<f64>,
}

impl Overlay {
    pub fn all_up(&self) -> bool {
        self.pairs.values().all(Option::is_some)
    }
}

/// One run of the scenario's program.
#[derive(Debug, Clone)]
pub struct ProgramRun {
    /// In party order.
    pub parties: Vec<PartyReport>,
    /// Each party's JSON output line (programs print more keys than the
    /// report keeps, such as `rounds`' `per_round_ms`).
    pub outputs: Vec<Option<serde_json::Value>>,
    /// Seconds from starting the parties until the last one exited.
    pub wall_s: f64,
    /// Whether every party had the same output (see [`LabSession::run_program`]).
    pub outputs_agree: Option<bool>,
    /// `simulation.faults` as applied during the run.
    pub faults: Vec<super::report::FaultReport>,
    /// From just before the first party started to just after the last
    /// exited, in seconds since the Unix epoch (the captures' clock).
    pub window: (f64, f64),
    /// The program traffic the parties sent, as their captures saw it
    /// ([`super::privacy`]); `None` when a capture failed.
    pub sent: Option<Vec<super::wire::Packet>>,
}

/// Seconds since the Unix epoch, the clock of the captures.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Lines of each party's stdout and stderr the report keeps.
pub const TAIL_LINES: usize = 5;
/// Bytes of a party's output e3 reads at most (its end).
const OUTPUT_LIMIT: u64 = 1 << 20;

/// The last `limit` bytes of a file (a program may print a lot).
fn read_bounded(path: &std::path::Path) -> String {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > OUTPUT_LIMIT {
        let _ = f.seek(SeekFrom::Start(len - OUTPUT_LIMIT));
    }
    let mut bytes = Vec::new();
    let _ = f.take(OUTPUT_LIMIT).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// When the handshake let this party go on (`… at <unix seconds>`).
fn handshake_time(stderr: &str) -> Option<f64> {
    stderr
        .lines()
        .find(|l| l.starts_with("e3 handshake: party ") && l.contains(" agrees "))
        .and_then(|l| l.rsplit_once(" at "))
        .and_then(|(_, t)| t.trim().parse().ok())
}

/// The last `n` non-empty lines of `text`, each cut to 300 characters.
pub fn tail_lines(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| {
            if l.chars().count() > 300 {
                let cut: String = l.chars().take(300).collect();
                format!("{cut}…")
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// How one party's run is judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub ok: bool,
    /// Its last stdout line, when that is e3's JSON (an object with `ok`).
    pub json: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl Verdict {
    fn get(&self, k: &str) -> Option<serde_json::Value> {
        self.json
            .as_ref()
            .and_then(|j| j.get(k))
            .cloned()
            .filter(|v| !v.is_null())
    }

    /// `e3-json` or `exit-status`: how the run was judged.
    fn contract(&self) -> String {
        if self.json.is_some() {
            "e3-json"
        } else {
            "exit-status"
        }
        .to_string()
    }
}

/// A program that prints e3's JSON line (an object with `ok`) last is
/// judged by it and its exit status; any other program by its exit status
/// alone: 0 before the deadline (`status` is `None` past it).
pub fn judge(status: Option<ExitStatus>, stdout: &str, stderr: &str) -> Verdict {
    let json = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("ok").is_some_and(serde_json::Value::is_boolean));
    let exited_ok = status.is_some_and(|s| s.success());
    let json_ok = json
        .as_ref()
        .is_none_or(|j| j.get("ok").and_then(serde_json::Value::as_bool) == Some(true));
    // The handshake's own reason comes first; else the last line printed.
    let last_err = stderr
        .lines()
        .find_map(|l| l.strip_prefix("e3 handshake: incompatible: "))
        .map(|l| format!("incompatible programs: {l}"))
        .or_else(|| {
            stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .map(|l| l.chars().take(300).collect::<String>());
    let error = match status {
        None => Some("did not finish (killed at the deadline)".to_string()),
        Some(s) if !s.success() => json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(|e| e.as_str())
            .map(str::to_string)
            .or_else(|| match &last_err {
                Some(e) if e.starts_with("incompatible programs: ") => Some(e.clone()),
                Some(e) => Some(format!("exited with {s}: {e}")),
                None => Some(format!("exited with {s}")),
            }),
        Some(_) if !json_ok => json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(|e| e.as_str())
            .map(str::to_string)
            .or_else(|| Some("the program reported ok: false".into())),
        Some(_) => None,
    };
    Verdict {
        ok: exited_ok && json_ok,
        json,
        error,
    }
}

/// What a lab is built from, for [`LabSession::next_run`]: the plan but its
/// name, description and program name and arguments (as JSON). `None` for a
/// plan whose lab a run changes (`simulation.faults`), which is never
/// shared.
pub fn lab_key(plan: &Plan) -> Option<String> {
    if !plan.faults.is_empty() {
        return None;
    }
    let mut v = serde_json::to_value(plan).ok()?;
    let o = v.as_object_mut()?;
    o.remove("name");
    o.remove("description");
    let program = o.get_mut("program")?.as_object_mut()?;
    program.remove("name");
    program.remove("args");
    Some(v.to_string())
}

/// A running lab of one plan. See the module documentation.
pub struct LabSession<'p> {
    pub plan: &'p Plan,
    pub lab: Lab,
    /// Python with MPyC.
    pub python: PathBuf,
    /// The program file the parties run (in the lab's public directory).
    pub program: PathBuf,
    /// The directory the program runs in (the program's and its files').
    pub workdir: PathBuf,
    /// What the backend started; `None` for `direct`.
    pub started: Option<Started>,
    /// What happened to `simulation.latency`.
    pub latency: super::latency::Method,
    /// The report's latency line.
    pub latency_text: String,
    /// e3's delay line, when it applies the latency (no netem).
    pub delay_line: Option<super::delay::DelayLine>,
    /// The daemons', Python's and MPyC's versions ([`super::versions`]).
    pub versions: BTreeMap<String, String>,
    /// The test fault to inject ([`Options::test_fault`], see [`super`]).
    pub fault: Option<String>,
    /// The capture of the internet segment, from before the overlay daemons
    /// start ([`super::privacy`]); taken by [`LabSession::stop_capture`].
    pub internet_capture: Option<super::capture::Capture>,
    pub timings: Timings,
    /// What faults changed so far ([`super::fault`]).
    pub fault_state: super::fault::FaultState,
    /// Which program run on this lab this is: 1 for the run that brought
    /// it up, k for the k-th ([`LabSession::next_run`]: `e3 grid` runs the
    /// cells that share a topology and backend on one lab).
    pub run: u32,
    /// [`LabSession::elapsed_s`] when this run began (0 for run 1).
    pub run_started_s: f64,
    /// The overlay as run 1 found it: later runs take it instead of
    /// waiting for the overlay again.
    pub overlay: Option<Overlay>,
    /// The internet segment's packets of the finished runs' captures
    /// ([`LabSession::observed`]): what an observer has seen since the lab
    /// came up.
    pub captured: Vec<super::wire::Packet>,
    /// The pairs' round trips as a run on this lab measured them.
    pub round_trips: Option<RoundTrips>,
    pub(super) progress: Progress,
}

/// Round trips measured on a lab, for the later runs on it.
#[derive(Debug, Clone)]
pub struct RoundTrips {
    /// The run on the lab that measured them.
    pub run: u32,
    /// Every pair's route then (kind, relay), in pair order.
    pub routes: Vec<(super::RouteKind, Option<String>)>,
    /// Every pair's round trip, in ms, in pair order.
    pub rtt_ms: Vec<Option<f64>>,
}

/// Writes a file of the lab's public directory.
type WriteFile = dyn Fn(&std::path::Path, &[u8]) -> Result<(), Error>;

/// Copies a program given by path and its `program.files` into `to`, laid
/// out as [`crate::files::program_tree`] says; returns where the program is.
fn copy_program(
    plan: &Plan,
    program: &std::path::Path,
    to: &std::path::Path,
    write: &WriteFile,
) -> Result<PathBuf, Error> {
    let tree = crate::files::program_tree(
        program,
        &plan.program.files,
        plan.program.workdir.as_deref(),
    )
    .map_err(Error::Program)?;
    crate::files::create_dir_all(to, 0o755).map_err(Error::io("create", to))?;
    for (rel, bytes) in &tree {
        write(&to.join(rel), bytes)?;
    }
    Ok(to.join(&tree[0].0))
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

impl<'p> LabSession<'p> {
    /// Checks the machine, builds the topology and starts the overlay
    /// daemons. On `Err` everything created so far is already torn down.
    pub fn start(plan: &'p Plan, opts: &Options) -> Result<LabSession<'p>, Error> {
        preflight(plan.connectivity.backend)?;
        let python = match &opts.python {
            Some(p) => p.clone(),
            None => find_python()?,
        };
        let versions = match &opts.versions {
            Some(v) => v.clone(),
            None => super::versions::collect(plan.connectivity.backend, &python),
        };
        let fault = opts.test_fault.clone();
        netns::install_signal_handler()?;
        let progress = Progress {
            start: Instant::now(),
            on: opts.progress,
        };
        let mut lab = Lab::new()?;
        if opts.detach {
            lab.set_detachable();
        }
        progress.say(&format!(
            "lab {}: building {} namespaces",
            lab.prefix,
            plan.hosts.len() + 1
        ));
        build_topology(&mut lab, plan)?;
        let mut timings = Timings {
            topology_s: secs(progress.start),
            ..Timings::default()
        };
        // A kept lab has no e3 process to run the delay line: netem or nothing.
        let choice = match opts.latency {
            Some(super::latency::Method::Nfqueue) if opts.detach => {
                return Err(Error::NfqueueDetached);
            }
            None if opts.detach && !super::netem_available(&lab) => {
                Some(super::latency::Method::None)
            }
            c => c,
        };
        let mut applied = super::latency::apply_choice(&mut lab, plan, choice)?;
        if choice != opts.latency {
            applied.text = applied.text.replace(
                "(`--latency none`)",
                "(no netem here, and e3's delay line needs a running e3, which `e3 lab` does not leave)",
            );
        }
        progress.say(&format!(
            "topology up ({} sites); latency: {}: {}",
            plan.sites.len(),
            applied.method,
            applied.text
        ));

        // Programs for the parties, in the one lab directory the
        // unprivileged user can read: the bundled ones and their helpers
        // (the handshake among them); a program given by path goes to
        // `user/` with its `program.files`, laid out relative to their
        // common directory, which is the directory it runs in.
        let progdir = lab.public_dir()?;
        let write = |to: &std::path::Path, bytes: &[u8]| {
            if let Some(d) = to.parent() {
                crate::files::create_dir_all(d, 0o755).map_err(Error::io("create", d))?;
            }
            crate::files::write_new(to, bytes, 0o644).map_err(Error::io("write", to))
        };
        for (path, bytes) in crate::bundled::program_files() {
            write(&progdir.join(path), bytes)?;
        }
        let (program, workdir) = match &plan.program.path {
            None => (
                progdir.join(format!("{}.py", plan.program.name)),
                progdir.clone(),
            ),
            Some(p) => {
                let user = progdir.join(crate::files::USER_PROGRAMS);
                let program = copy_program(plan, std::path::Path::new(p), &user, &write)?;
                if let Some(host) = fault
                    .as_deref()
                    .and_then(|f| f.strip_prefix("different-program:"))
                {
                    // Test fault: one party gets a program that differs by a comment.
                    let other = progdir.join(format!("user-{host}"));
                    copy_program(plan, std::path::Path::new(p), &other, &write)?;
                    let changed = other.join(program.strip_prefix(&user).unwrap_or(&program));
                    let mut text = fs::read(&changed).map_err(Error::io("read", &changed))?;
                    text.extend_from_slice(b"\n# changed on one party only (fault injection)\n");
                    fs::write(&changed, text).map_err(Error::io("write", &changed))?;
                }
                (program, user)
            }
        };
        let probe = lab.dir.join("probe.py");
        fs::write(&probe, PROBE).map_err(Error::io("write", &probe))?;
        netns::check_unprivileged_python(&python, &program)?;

        let internet_capture = Some(super::privacy::capture_internet(&lab, plan)?);
        timings.overlay_start_s = secs(progress.start);
        let started = start_backend(&mut lab, plan, fault.as_deref(), opts.timeout)?;
        timings.daemons_s = secs(progress.start);
        Ok(LabSession {
            plan,
            lab,
            python,
            program,
            workdir,
            started,
            latency: applied.method,
            latency_text: applied.text,
            delay_line: applied.delay_line,
            versions,
            fault,
            internet_capture,
            timings,
            fault_state: super::fault::FaultState::default(),
            run: 1,
            run_started_s: 0.0,
            overlay: None,
            captured: Vec::new(),
            round_trips: None,
            progress,
        })
    }

    /// Makes the lab ready to run `plan`'s program next, on the overlay
    /// as it is: `plan` must differ from the lab's only in its name and
    /// program (`program.name`, `program.args`; see [`lab_key`]), and the
    /// earlier run must have finished. Starts a new capture of the internet
    /// segment; the earlier ones' packets are kept ([`Self::captured`]).
    pub fn next_run(&mut self, plan: &'p Plan) -> Result<(), Error> {
        let key = lab_key(self.plan);
        if key.is_none() || key != lab_key(plan) {
            return Err(Error::LabMismatch {
                lab: self.plan.name.clone(),
                scenario: plan.name.clone(),
            });
        }
        // The earlier run's capture was read by `observed`; one still
        // running (a run that failed before) is kept too.
        if let Some(packets) = self.stop_capture() {
            self.captured.extend(packets);
        }
        self.run += 1;
        self.run_started_s = self.elapsed_s();
        self.plan = plan;
        if plan.program.path.is_none() {
            // The bundled programs are all in the public directory.
            self.program = self
                .lab
                .public_dir()?
                .join(format!("{}.py", plan.program.name));
        }
        self.internet_capture = Some(super::privacy::capture_internet_run(
            &self.lab, plan, self.run,
        )?);
        self.say(&format!(
            "run {} on this lab: `{}`{}",
            self.run,
            plan.program.name,
            if plan.program.args.is_empty() {
                String::new()
            } else {
                format!(" {}", plan.program.args.join(" "))
            }
        ));
        Ok(())
    }

    /// Progress line on stderr (when enabled), with the time since the start.
    pub fn say(&self, msg: &str) {
        self.progress.say(msg);
    }

    /// Seconds since the session started.
    pub fn elapsed_s(&self) -> f64 {
        secs(self.progress.start)
    }

    /// A host's overlay address: the one its backend assigned (Tailscale
    /// and Headscale), else the plan's.
    pub fn overlay_address(&self, h: &Host) -> Option<std::net::Ipv4Addr> {
        self.started
            .as_ref()
            .and_then(|s| s.addresses.get(&h.name).copied())
            .or(h.overlay_address)
    }

    /// The parties, in index order.
    pub fn parties(&self) -> Vec<&'p Host> {
        self.plan.parties().collect()
    }

    /// The overlay as this lab's first wait found it ([`Self::overlay`]),
    /// waiting for it (up to `timeout`) if nobody has yet.
    pub fn ensure_overlay(&mut self, timeout: Duration) -> Result<Overlay, Error> {
        if let Some(o) = &self.overlay {
            return Ok(o.clone());
        }
        let o = self.wait_overlay(timeout)?;
        self.overlay = Some(o.clone());
        Ok(o)
    }

    /// Probes every pair of parties over the overlay (ICMP from each party
    /// to every later one, resent every 0.2 s) until all answer or `timeout`
    /// passes. Without an overlay (`direct`) there is nothing to wait for.
    pub fn wait_overlay(&mut self, timeout: Duration) -> Result<Overlay, Error> {
        let mut overlay = Overlay::default();
        if self.started.is_none() {
            return Ok(overlay);
        }
        let plan = self.plan;
        let parties = self.parties();
        self.say(&format!(
            "{} daemons started; waiting for the overlay (up to {} s)",
            plan.connectivity.backend,
            timeout.as_secs()
        ));
        let limit = timeout.as_secs_f64();
        // Times count from the first daemon start.
        let overlay_start_s = self.timings.overlay_start_s;
        let mut probes = Vec::new();
        for (i, p) in parties.iter().enumerate() {
            let targets: Vec<String> = parties[i + 1..]
                .iter()
                .filter_map(|q| self.overlay_address(q).map(|a| a.to_string()))
                .collect();
            if targets.is_empty() {
                continue;
            }
            let name = format!("probe-{}", p.name);
            let mut args = vec![
                self.lab.dir.join("probe.py").display().to_string(),
                format!("{limit}"),
            ];
            args.extend(targets);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let offset = self.elapsed_s() - overlay_start_s;
            let python = self.python.display().to_string();
            let (out, _) = self.spawn(&p.name, &name, &python, &refs)?;
            probes.push((i, name, out, offset));
        }
        for (i, name, out, offset) in probes {
            self.lab
                .wait_child(&name, Instant::now() + timeout + Duration::from_secs(5));
            netns::check_interrupted()?;
            let up: BTreeMap<String, f64> =
                serde_json::from_str(fs::read_to_string(&out).unwrap_or_default().trim())
                    .unwrap_or_default();
            for (j, q) in parties.iter().enumerate().skip(i + 1) {
                let t = self
                    .overlay_address(q)
                    .and_then(|a| up.get(&a.to_string()))
                    .map(|t| ((t + offset) * 100.0).round() / 100.0);
                overlay.pairs.insert((i, j), t);
            }
        }
        if overlay.all_up() {
            overlay.up_s = overlay
                .pairs
                .values()
                .flatten()
                .copied()
                .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
            self.say(&format!(
                "overlay up after {:.2} s",
                overlay.up_s.unwrap_or(0.0)
            ));
        } else {
            self.say("the overlay did not come up between every pair");
        }
        Ok(overlay)
    }

    /// Runs the scenario's program on every party (their overlay addresses,
    /// or underlay addresses for `direct`) and collects what each printed.
    pub fn run_program(&mut self, timeout: Duration) -> Result<ProgramRun, Error> {
        self.run_program_watched(timeout, &mut |_| None)
    }

    /// [`run_program`](Self::run_program), asking `give_up` about twice a
    /// second while the parties run: when it returns a reason, the parties
    /// still running are stopped and fail with it (`sim`'s `direct`
    /// backend: a filtering NAT keeps dropping the connection attempts).
    pub fn run_program_watched(
        &mut self,
        timeout: Duration,
        give_up: &mut dyn FnMut(&Lab) -> Option<String>,
    ) -> Result<ProgramRun, Error> {
        let plan = self.plan;
        let parties = self.parties();
        self.say(&format!(
            "running `{}` on {} parties",
            plan.program.name,
            parties.len()
        ));
        let mut list = Vec::new();
        for e in &plan.program.parties {
            let address = self
                .started
                .as_ref()
                .and_then(|s| s.addresses.get(&e.host))
                .map_or_else(|| e.address.clone(), |a| a.to_string());
            list.push("-P".to_string());
            list.push(format!("{address}:{}", plan.program.port));
        }
        let mpc_start = Instant::now();
        let python = self.python.display().to_string();
        let handshake = self.lab.public_dir()?.join("e3_handshake.py");
        // The program's own time bound: e3's bundled programs read it from
        // the environment (e3 passes a program nothing but MPyC's options
        // and the scenario's arguments); e3's watchdog is the deadline below.
        let bound = timeout.as_secs().to_string();
        // e3's helper modules (`e3_common`) stay importable for a program
        // given by path, which runs from `user/` below them.
        let helpers = self.lab.public_dir()?.display().to_string();
        let env = [
            ("E3_TIMEOUT", bound.as_str()),
            ("PYTHONDONTWRITEBYTECODE", "1"),
            ("PYTHONPATH", helpers.as_str()),
        ];
        // Each party's own program traffic, as it leaves the party (on the
        // overlay's interface, or the underlay's for `direct`).
        let senders: Vec<&str> = parties.iter().map(|p| p.name.as_str()).collect();
        let taps = super::privacy::capture_sent_all(&self.lab, plan, &senders, plan.program.port)?;
        let window_start = unix_now();
        let mut names = Vec::new();
        for p in &parties {
            let idx = p.index.unwrap_or_default();
            // The test fault `different-program:HOST` gives one party a copy
            // that differs (see `start`).
            let (program, workdir) = match self
                .fault
                .as_deref()
                .and_then(|f| f.strip_prefix("different-program:"))
            {
                Some(h) if h == p.name && plan.program.path.is_some() => {
                    let other = self.workdir.with_file_name(format!("user-{h}"));
                    let rel = self
                        .program
                        .strip_prefix(&self.workdir)
                        .unwrap_or(&self.program)
                        .to_path_buf();
                    (other.join(rel), other)
                }
                _ => (self.program.clone(), self.workdir.clone()),
            };
            let mut args = vec![
                handshake.display().to_string(),
                program.display().to_string(),
            ];
            args.extend(list.iter().cloned());
            args.extend(["-I".into(), idx.to_string(), "--no-log".into()]);
            args.extend(plan.program.args.iter().cloned());
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let name = format!("mpc-{}", p.name);
            let out = self.lab.dir.join(format!("{name}.out"));
            let err = self.lab.dir.join(format!("{name}.err"));
            let ns = self.lab.ns(&p.name);
            self.lab
                .spawn_unprivileged(&name, &ns, &workdir, &env, &python, &refs, &out, &err)?;
            names.push((p, name, out, err));
        }
        let deadline = Instant::now() + timeout + Duration::from_secs(10);
        let mut last = 0.0;
        let mut run = ProgramRun {
            parties: Vec::new(),
            outputs: Vec::new(),
            wall_s: 0.0,
            outputs_agree: None,
            faults: Vec::new(),
            window: (window_start, window_start),
            sent: None,
        };
        // `simulation.faults`: applied while the parties run, each at its time.
        let mut pending: std::collections::VecDeque<&crate::scenario::Fault> =
            plan.faults.iter().collect();
        let mut probes: Vec<(usize, usize, String, PathBuf)> = Vec::new();
        let mut stdouts = Vec::new();
        let mut agreed_at: Option<f64> = None;
        let mut last_exit = std::time::SystemTime::now();
        let mut gave_up: Option<String> = None;
        for (p, name, out, err) in names {
            let mut status = None;
            while gave_up.is_none() {
                // Wake for the next fault, the watch (twice a second) or the deadline.
                let due = pending
                    .front()
                    .map(|f| mpc_start + Duration::from_secs_f64(f.at_s));
                let step = deadline.min(Instant::now() + Duration::from_millis(500));
                let until = due.map_or(step, |d| d.min(step));
                status = self.lab.wait_child(&name, until);
                if status.is_some() || Instant::now() >= deadline || netns::interrupted() {
                    break;
                }
                while let Some(f) = pending
                    .front()
                    .filter(|f| mpc_start.elapsed().as_secs_f64() >= f.at_s)
                {
                    let f = *f;
                    pending.pop_front();
                    let k = run.faults.len();
                    let report = self.inject(f, k, mpc_start, timeout, &mut probes)?;
                    run.faults.push(report);
                }
                gave_up = give_up(&self.lab);
                if let Some(why) = &gave_up {
                    self.say(&format!("giving up on the run: {why}"));
                }
            }
            if status.is_none() && gave_up.is_some() {
                status = self.lab.exited(&name);
            }
            last_exit = std::time::SystemTime::now();
            if status.is_none() {
                self.lab.kill_child(&name);
            }
            netns::check_interrupted()?;
            last = mpc_start.elapsed().as_secs_f64();
            let stdout = read_bounded(&out);
            let stderr = read_bounded(&err);
            let mut verdict = judge(status, &stdout, &stderr);
            if let (None, Some(why)) = (status, &gave_up) {
                verdict.error = Some(format!("stopped: {why}"));
            }
            if let Some(t) = handshake_time(&stderr) {
                agreed_at = Some(agreed_at.map_or(t, |a: f64| a.max(t)));
            }
            run.parties.push(PartyReport {
                host: p.name.to_string(),
                index: p.index.unwrap_or_default(),
                exit: status.and_then(|s| s.code()),
                ok: verdict.ok,
                result: verdict.get("result"),
                expected: verdict.get("expected"),
                elapsed_s: verdict.get("elapsed_s").and_then(|v| v.as_f64()),
                error: verdict.error.clone(),
                contract: verdict.contract(),
                stdout_tail: tail_lines(&stdout, TAIL_LINES),
                stderr_tail: tail_lines(&stderr, TAIL_LINES),
            });
            stdouts.push((
                verdict.json.as_ref().and_then(|j| j.get("result").cloned()),
                stdout,
            ));
            run.outputs.push(verdict.json);
        }
        // Faults still due when the program ended are not applied.
        let ended = mpc_start.elapsed().as_secs_f64();
        for f in pending {
            run.faults.push(super::report::FaultReport {
                at_s: f.at_s,
                applied_s: None,
                action: f.action.to_string(),
                target: f.target.clone(),
                outcome: format!("not applied: the program had ended after {ended:.2} s"),
                applied: false,
                program_ended_s: Some((ended * 100.0).round() / 100.0),
                pairs: Vec::new(),
            });
        }
        self.collect_recoveries(&mut run.faults, probes, timeout);
        // Agreement: the same result (e3's JSON programs, whose lines name
        // the party) or the same stdout (any other program).
        let all_ok = run.parties.iter().all(|p| p.ok);
        run.outputs_agree = (all_ok && !stdouts.is_empty()).then(|| {
            let json = run.outputs.iter().all(Option::is_some);
            let first = &stdouts[0];
            stdouts
                .iter()
                .all(|s| if json { s.0 == first.0 } else { s.1 == first.1 })
        });
        // From the moment the last party agreed (the programs run from then
        // on) to the last exit; without the handshake's time, from the start.
        let exit = last_exit
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        if let Some(a) = agreed_at.filter(|a| *a <= exit && exit - a <= last) {
            last = exit - a;
        }
        run.wall_s = (last * 1000.0).round() / 1000.0;
        run.window.1 = unix_now();
        self.say(&format!("MPyC finished after {last:.2} s"));
        let mut sent = Some(Vec::new());
        for tap in super::privacy::finish_all(taps) {
            match tap {
                Ok(packets) => {
                    if let Some(s) = sent.as_mut() {
                        s.extend(packets)
                    }
                }
                Err(e) => {
                    crate::say!("warning: capture of the program's traffic: {e}");
                    sent = None;
                }
            }
        }
        run.sent = sent;
        Ok(run)
    }

    /// Applies fault number `k` and starts, for every party, a probe of
    /// every later party's overlay address (as [`LabSession::wait_overlay`]
    /// does) that records when each first answers after the fault.
    fn inject(
        &mut self,
        f: &crate::scenario::Fault,
        k: usize,
        mpc_start: Instant,
        timeout: Duration,
        probes: &mut Vec<(usize, usize, String, PathBuf)>,
    ) -> Result<super::report::FaultReport, Error> {
        let applied_s = (mpc_start.elapsed().as_secs_f64() * 100.0).round() / 100.0;
        let plan = self.plan;
        let result = super::fault::apply(
            &mut self.lab,
            plan,
            &mut self.fault_state,
            f.action,
            &f.target,
        );
        self.say(&format!(
            "fault at {applied_s:.2} s: {} {}: {}",
            f.action,
            f.target,
            match &result {
                Ok(done) => done.clone(),
                Err(e) => format!("failed: {e}"),
            }
        ));
        let applied = result.is_ok();
        if applied && self.started.is_some() {
            let parties = self.parties();
            let probe = self.lab.dir.join("probe.py");
            let python = self.python.display().to_string();
            let limit = timeout.as_secs_f64().to_string();
            for (i, p) in parties.iter().enumerate() {
                let targets: Vec<String> = parties[i + 1..]
                    .iter()
                    .filter_map(|q| self.overlay_address(q).map(|a| a.to_string()))
                    .collect();
                if targets.is_empty() {
                    continue;
                }
                let mut args = vec![probe.display().to_string(), limit.clone()];
                args.extend(targets);
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                let name = format!("recover{k}-{}", p.name);
                let (out, _) = self.spawn(&p.name, &name, &python, &refs)?;
                probes.push((k, i, name, out));
            }
        }
        Ok(super::report::FaultReport {
            at_s: f.at_s,
            applied_s: Some(applied_s),
            action: f.action.to_string(),
            target: f.target.clone(),
            outcome: match result {
                Ok(done) => done,
                Err(e) => format!("not applied: {}", crate::error::one_line(&e)),
            },
            applied,
            program_ended_s: None,
            pairs: Vec::new(),
        })
    }

    /// Waits for the recovery probes of [`LabSession::inject`] (each ends
    /// when all its peers answered, or after `timeout`) and fills in each
    /// fault's pairs.
    fn collect_recoveries(
        &mut self,
        faults: &mut [super::report::FaultReport],
        probes: Vec<(usize, usize, String, PathBuf)>,
        timeout: Duration,
    ) {
        let parties = self.parties();
        let deadline = Instant::now() + timeout + Duration::from_secs(5);
        let mut seen: BTreeMap<(usize, usize), BTreeMap<String, f64>> = BTreeMap::new();
        for (k, i, name, out) in probes {
            if self.wait(&name, deadline).is_none() {
                self.kill(&name);
            }
            let up: BTreeMap<String, f64> =
                serde_json::from_str(fs::read_to_string(&out).unwrap_or_default().trim())
                    .unwrap_or_default();
            seen.insert((k, i), up);
        }
        for (k, f) in faults.iter_mut().enumerate() {
            if !f.applied || self.started.is_none() {
                continue;
            }
            for (i, a) in parties.iter().enumerate() {
                for b in &parties[i + 1..] {
                    let t = self
                        .overlay_address(b)
                        .and_then(|x| seen.get(&(k, i)).and_then(|m| m.get(&x.to_string())))
                        .map(|t| (t * 100.0).round() / 100.0);
                    f.pairs.push(super::report::Recovery {
                        a: a.name.to_string(),
                        b: b.name.to_string(),
                        recovered: t.is_some(),
                        after_s: t,
                    });
                }
            }
        }
    }

    /// Starts `program args` in `host`'s namespace under `name`; stdout and
    /// stderr go to `NAME.out` and `NAME.err` in the lab directory, which
    /// are returned.
    pub fn spawn(
        &mut self,
        host: &str,
        name: &str,
        program: &str,
        args: &[&str],
    ) -> Result<(PathBuf, PathBuf), Error> {
        let out = self.lab.dir.join(format!("{name}.out"));
        let err = self.lab.dir.join(format!("{name}.err"));
        let ns = self.lab.ns(host);
        self.lab.spawn(name, &ns, program, args, &out, &err)?;
        Ok((out, err))
    }

    /// Waits until the child `name` exits or `deadline` passes.
    pub fn wait(&mut self, name: &str, deadline: Instant) -> Option<ExitStatus> {
        self.lab.wait_child(name, deadline)
    }

    /// Stops the child `name` (SIGKILL) and reaps it.
    pub fn kill(&mut self, name: &str) {
        self.lab.kill_child(name);
    }

    /// Runs `program args` in `host`'s namespace to completion and returns
    /// its stdout; `Err` when it fails or outlives `timeout` (then it is killed).
    pub fn run(
        &mut self,
        host: &str,
        name: &str,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<String, Error> {
        let (out, err) = self.spawn(host, name, program, args)?;
        match self.wait(name, Instant::now() + timeout) {
            None => {
                self.kill(name);
                Err(Error::Timeout {
                    command: format!("`{program}` in `{host}`"),
                    within: timeout,
                })
            }
            Some(status) if !status.success() => Err(Error::Command {
                command: format!("`{program} {}` in `{host}`", args.join(" ")),
                status: status.to_string(),
                stderr: tail(&err),
            }),
            Some(_) => fs::read_to_string(&out).map_err(Error::io("read", &out)),
        }
    }

    /// Round trips between pairs of parties, `count` ICMP echoes each
    /// (`count` rounds, each to all of a party's peers; the parties at
    /// once): `targets` are (i, j, address of j as i reaches it). Returns
    /// the median per pair, in ms.
    pub fn measure_rtt(
        &mut self,
        targets: &[(usize, usize, std::net::Ipv4Addr)],
        count: usize,
    ) -> Result<BTreeMap<(usize, usize), Option<f64>>, Error> {
        let script = self.lab.dir.join("rtt.py");
        fs::write(&script, super::latency::RTT_PROBE).map_err(Error::io("write", &script))?;
        let parties = self.parties();
        let python = self.python.display().to_string();
        let mut running = Vec::new();
        for (i, p) in parties.iter().enumerate() {
            let mine: Vec<String> = targets
                .iter()
                .filter(|t| t.0 == i)
                .map(|t| t.2.to_string())
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut args = vec![script.display().to_string(), count.to_string(), "2".into()];
            args.extend(mine);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let name = format!("rtt-{}", p.name);
            let (out, _) = self.spawn(&p.name, &name, &python, &refs)?;
            running.push((name, out));
        }
        let deadline = Instant::now() + Duration::from_secs(5 + 2 * (count * targets.len()) as u64);
        let mut seen: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (name, out) in running {
            if self.wait(&name, deadline).is_none() {
                self.kill(&name);
            }
            let got: BTreeMap<String, Vec<f64>> =
                serde_json::from_str(fs::read_to_string(&out).unwrap_or_default().trim())
                    .unwrap_or_default();
            // Keyed by prober too: two parties may reach one peer at one address.
            for (t, v) in got {
                seen.insert(format!("{name} {t}"), v);
            }
        }
        Ok(targets
            .iter()
            .map(|(i, j, a)| {
                let key = format!("rtt-{} {a}", parties[*i].name);
                (
                    (*i, *j),
                    seen.get(&key).and_then(|v| super::latency::median(v)),
                )
            })
            .collect())
    }

    /// The delay line's counters and CPU time so far, when it runs.
    pub fn delay_line_report(&self) -> Option<super::report::DelayLineReport> {
        self.delay_line.as_ref().map(|d| {
            let (counters, lost) = d.counters();
            super::report::DelayLineReport {
                counters,
                lost,
                cpu_s: d.cpu_s(),
            }
        })
    }

    /// Stops the capture of the internet segment and reads it; `None` when
    /// it was stopped already or could not be read (said on stderr).
    pub fn stop_capture(&mut self) -> Option<Vec<super::wire::Packet>> {
        let capture = self.internet_capture.take()?;
        super::privacy::finish(capture)
            .map_err(|e| crate::say!("warning: capture of the internet segment: {e}"))
            .ok()
    }

    /// What an observer of the internet segment has seen since the lab came
    /// up: the earlier runs' captures and this run's, which is stopped.
    pub fn observed(&mut self) -> Option<Vec<super::wire::Packet>> {
        let now = self.stop_capture()?;
        self.captured.extend(now);
        Some(self.captured.clone())
    }

    /// Tears the lab down (idempotent); returns what could not be removed.
    /// The delay line stops first (its rules go with the lab).
    /// A kept lab (`e3 lab`) stays up: [`super::live::down`] removes it.
    pub fn teardown(&mut self) -> Vec<String> {
        if self.lab.is_kept() {
            return Vec::new();
        }
        if let Some(mut d) = self.delay_line.take() {
            d.stop();
        }
        self.lab.teardown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    fn exit(code: i32) -> Option<ExitStatus> {
        Some(ExitStatus::from_raw(code << 8))
    }

    #[test]
    fn a_program_without_the_json_line_is_judged_by_its_exit_status() {
        let v = judge(exit(0), "weighted total: 16\n", "");
        assert!(v.ok && v.json.is_none() && v.error.is_none(), "{v:?}");
        assert_eq!(v.contract(), "exit-status");
        let v = judge(exit(1), "", "some log\nboom: no input\n");
        assert!(!v.ok);
        assert_eq!(
            v.error.as_deref(),
            Some("exited with exit status: 1: boom: no input")
        );
        // past the deadline
        let v = judge(None, "", "");
        assert_eq!(
            v.error.as_deref(),
            Some("did not finish (killed at the deadline)")
        );
        // JSON that is not e3's line is plain output
        assert!(judge(exit(0), "{\"x\": 1}\n", "").json.is_none());
    }

    #[test]
    fn e3s_json_line_is_judged_by_its_ok() {
        let good = "{\"ok\": true, \"result\": 5, \"expected\": 5}\n";
        let v = judge(exit(0), good, "");
        assert!(v.ok && v.error.is_none());
        assert_eq!(v.contract(), "e3-json");
        assert_eq!(v.get("result"), Some(serde_json::json!(5)));
        let wrong = "{\"ok\": false, \"error\": \"result differs from expected\"}\n";
        let v = judge(exit(1), wrong, "");
        assert_eq!(v.error.as_deref(), Some("result differs from expected"));
        // exit 0 but ok false is still a failure
        assert!(!judge(exit(0), wrong, "").ok);
        // the handshake's reason comes first
        let hs = "e3 handshake: incompatible: party 1 differs from party 0 in args: x\ne3 handshake: error: nothing was run\n";
        assert_eq!(
            judge(exit(4), "", hs).error.as_deref(),
            Some("incompatible programs: party 1 differs from party 0 in args: x")
        );
        assert_eq!(
            handshake_time(
                "e3 handshake: party 0 agrees with all 2 parties (…) at 1796120003.670267\n"
            ),
            Some(1796120003.670267)
        );
    }

    #[test]
    fn tails_are_the_last_lines_bounded() {
        let text: String = (0..20).map(|i| format!("line {i}\n\n")).collect();
        assert_eq!(tail_lines(&text, 2), ["line 18", "line 19"]);
        let long = "x".repeat(1000);
        assert_eq!(tail_lines(&long, 5)[0].chars().count(), 301);
        assert!(tail_lines("", 5).is_empty());
    }
}
