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
    build_topology, find_python, preflight, start_backend, tail, Options, Progress, Started, PROBE,
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
}

/// A running lab of one plan. See the module documentation.
pub struct LabSession<'p> {
    pub plan: &'p Plan,
    pub lab: Lab,
    /// Python with MPyC.
    pub python: PathBuf,
    /// The program file the parties run.
    pub program: PathBuf,
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
    /// The fault to inject (`E3_SIM_FAULT`, see [`super`]).
    pub fault: Option<String>,
    pub timings: Timings,
    pub(super) progress: Progress,
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

impl<'p> LabSession<'p> {
    /// Checks the machine, builds the topology and starts the overlay
    /// daemons. On `Err` everything created so far is already torn down.
    pub fn start(plan: &'p Plan, opts: &Options) -> Result<LabSession<'p>, String> {
        preflight(plan.connectivity.backend)?;
        let python = match &opts.python {
            Some(p) => p.clone(),
            None => find_python()?,
        };
        let versions = super::versions::collect(plan.connectivity.backend, &python);
        let fault = std::env::var("E3_SIM_FAULT").ok();
        netns::install_signal_handler()?;
        let progress = Progress {
            start: Instant::now(),
            on: opts.progress,
        };
        let mut lab = Lab::new()?;
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
        let applied = super::latency::apply_choice(&mut lab, plan, opts.latency)?;
        progress.say(&format!(
            "topology up ({} sites); latency: {}: {}",
            plan.sites.len(),
            applied.method,
            applied.text
        ));

        // Programs for the parties.
        let progdir = lab.dir.join("programs");
        fs::create_dir_all(&progdir).map_err(|e| e.to_string())?;
        for (path, bytes) in crate::bundled::program_files() {
            let to = progdir.join(path);
            if let Some(d) = to.parent() {
                fs::create_dir_all(d).map_err(|e| e.to_string())?;
            }
            fs::write(&to, bytes).map_err(|e| e.to_string())?;
        }
        let program = match &plan.program.path {
            Some(p) => fs::canonicalize(p).map_err(|e| format!("program `{p}`: {e}"))?,
            None => progdir.join(format!("{}.py", plan.program.name)),
        };
        fs::write(lab.dir.join("probe.py"), PROBE).map_err(|e| e.to_string())?;

        timings.overlay_start_s = secs(progress.start);
        let started = start_backend(&mut lab, plan, fault.as_deref(), opts.timeout)?;
        timings.daemons_s = secs(progress.start);
        Ok(LabSession {
            plan,
            lab,
            python,
            program,
            started,
            latency: applied.method,
            latency_text: applied.text,
            delay_line: applied.delay_line,
            versions,
            fault,
            timings,
            progress,
        })
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

    /// Probes every pair of parties over the overlay (ICMP from each party
    /// to every later one, resent every 0.2 s) until all answer or `timeout`
    /// passes. Without an overlay (`direct`) there is nothing to wait for.
    pub fn wait_overlay(&mut self, timeout: Duration) -> Result<Overlay, String> {
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
    pub fn run_program(&mut self, timeout: Duration) -> Result<ProgramRun, String> {
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
        let mut names = Vec::new();
        for p in &parties {
            let idx = p.index.unwrap_or_default();
            let mut args = vec![self.program.display().to_string()];
            args.extend(list.iter().cloned());
            args.extend(["-I".into(), idx.to_string(), "--no-log".into()]);
            args.extend(plan.program.args.iter().cloned());
            args.extend(["--timeout".into(), format!("{}", timeout.as_secs())]);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let name = format!("mpc-{}", p.name);
            let (out, err) = self.spawn(&p.name, &name, &python, &refs)?;
            names.push((p, name, out, err));
        }
        let deadline = Instant::now() + timeout + Duration::from_secs(10);
        let mut last = 0.0;
        let mut run = ProgramRun {
            parties: Vec::new(),
            outputs: Vec::new(),
            wall_s: 0.0,
        };
        for (p, name, out, err) in names {
            let status = self.lab.wait_child(&name, deadline);
            last = mpc_start.elapsed().as_secs_f64();
            let json: Option<serde_json::Value> = fs::read_to_string(&out)
                .ok()
                .and_then(|t| t.lines().last().and_then(|l| serde_json::from_str(l).ok()));
            let get = |k: &str| {
                json.as_ref()
                    .and_then(|j| j.get(k))
                    .cloned()
                    .filter(|v| !v.is_null())
            };
            let mut error = get("error").and_then(|e| e.as_str().map(str::to_string));
            if status.is_none() {
                error = Some("did not finish (killed at the deadline)".into());
            } else if json.is_none() {
                error = Some(format!("no JSON output: {}", tail(&err)));
            }
            run.parties.push(PartyReport {
                host: p.name.clone(),
                index: p.index.unwrap_or_default(),
                exit: status.and_then(|s| s.code()),
                ok: status.is_some_and(|s| s.success())
                    && get("ok").and_then(|v| v.as_bool()).unwrap_or(false),
                result: get("result"),
                expected: get("expected"),
                elapsed_s: get("elapsed_s").and_then(|v| v.as_f64()),
                error,
            });
            run.outputs.push(json);
        }
        run.wall_s = (last * 1000.0).round() / 1000.0;
        self.say(&format!("MPyC finished after {last:.2} s"));
        Ok(run)
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
    ) -> Result<(PathBuf, PathBuf), String> {
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
    ) -> Result<String, String> {
        let (out, err) = self.spawn(host, name, program, args)?;
        match self.wait(name, Instant::now() + timeout) {
            None => {
                self.kill(name);
                Err(format!(
                    "`{program}` in `{host}` did not finish within {} s",
                    timeout.as_secs()
                ))
            }
            Some(status) if !status.success() => Err(format!(
                "`{program} {}` in `{host}` failed ({status}): {}",
                args.join(" "),
                tail(&err)
            )),
            Some(_) => fs::read_to_string(&out)
                .map_err(|e| format!("cannot read `{}`: {e}", out.display())),
        }
    }

    /// Round trips between pairs of parties, `count` ICMP echoes each
    /// (one after another; each party probes its peers, the parties at
    /// once): `targets` are (i, j, address of j as i reaches it). Returns
    /// the median per pair, in ms.
    pub fn measure_rtt(
        &mut self,
        targets: &[(usize, usize, std::net::Ipv4Addr)],
        count: usize,
    ) -> Result<BTreeMap<(usize, usize), Option<f64>>, String> {
        let script = self.lab.dir.join("rtt.py");
        fs::write(&script, super::latency::RTT_PROBE).map_err(|e| e.to_string())?;
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

    /// Tears the lab down (idempotent); returns what could not be removed.
    /// The delay line stops first (its rules go with the lab).
    pub fn teardown(&mut self) -> Vec<String> {
        if let Some(mut d) = self.delay_line.take() {
            d.stop();
        }
        self.lab.teardown()
    }
}
