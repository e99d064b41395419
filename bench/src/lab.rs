//! Figures 2 and 3, on `e3 sim`'s own code path ([`LabSession`]):
//!
//! - bring-up: Nebula with N parties, each behind its own `easy` NAT
//!   router; from the start of the lab until every pair of parties answers
//!   ICMP over the overlay, then the teardown;
//! - overlay overhead: two parties with public addresses, first on the bare
//!   underlay (`direct`), then joined by Nebula, WireGuard and tinc; the
//!   `rounds` MPyC program (latency) and iperf3 (throughput) between them.

use std::fs;
use std::time::{Duration, Instant};

use serde::Serialize;

use e3::plan::Plan;
use e3::sim::session::LabSession;
use e3::sim::Options;

use crate::error::Error;
use crate::stats::{ratio, round3, Stat};

/// Validates and plans a generated scenario.
pub fn plan_of(name: &str, yaml: &str) -> Result<Plan, Error> {
    let checked = e3::check_text(name, yaml.as_bytes());
    match checked.outcome {
        e3::Outcome::Scenario(s) => Ok(e3::plan::plan(&s)),
        e3::Outcome::Matrix(_) | e3::Outcome::Invalid => Err(Error::InvalidScenario {
            name: name.to_string(),
            diagnostics: checked
                .diagnostics
                .items
                .iter()
                .map(|d| d.render(&checked.sources))
                .collect(),
        }),
    }
}

/// `n` parties behind `easy` NAT, one router each, joined by Nebula.
pub fn bringup_yaml(n: usize) -> String {
    let mut y = format!("name: bench-lab-{n}\ndescription: e3-bench lab bring-up, {n} parties behind easy NAT.\nconnectivity: {{ backend: nebula, relay: auto }}\nprogram: {{ name: secure-sum }}\ndefaults: {{ platform: digitalocean, region: ams3, nat: easy }}\nparties:\n");
    for i in 0..n {
        y += &format!("  - {{ name: p{i:02} }}\n");
    }
    y + "simulation: { latency: none }\n"
}

/// Two parties with public addresses (`nat: none`) joined by `backend`.
pub fn overlay_yaml(backend: &str, rounds: u32) -> String {
    format!(
        "name: bench-overlay-{backend}\ndescription: e3-bench overlay overhead, two public parties over {backend}.\nconnectivity: {{ backend: {backend}, relay: auto }}\nprogram: {{ name: rounds, args: [\"--rounds\", \"{rounds}\"] }}\ndefaults: {{ platform: digitalocean, region: ams3, nat: none }}\nparties:\n  - {{ name: alice }}\n  - {{ name: bob }}\nsimulation: {{ latency: none }}\n"
    )
}

pub fn options(timeout: Duration) -> Options {
    Options {
        timeout,
        python: None,
        progress: false,
        latency: None,
        ..Options::default()
    }
}

/// Tears a session down and times it; leftovers are an error.
fn teardown(session: &mut LabSession) -> Result<f64, Error> {
    let t = Instant::now();
    let problems = session.teardown();
    let s = t.elapsed().as_secs_f64();
    if problems.is_empty() {
        Ok(s)
    } else {
        Err(Error::Teardown {
            prefix: session.lab.prefix.clone(),
            problems,
        })
    }
}

/// One lab session of a benchmark: starts it (its prefix goes into
/// `labs`, which the tests check is gone afterwards), runs `measure` on
/// it, and tears it down whatever `measure` returned; a teardown that
/// leaves something behind is the error then. `measure`'s result and the
/// teardown's seconds.
pub fn with_session<T>(
    plan: &Plan,
    opts: &Options,
    labs: &mut Vec<String>,
    measure: impl FnOnce(&mut LabSession) -> Result<T, Error>,
) -> Result<(T, f64), Error> {
    let mut s = LabSession::start(plan, opts).map_err(Error::Lab)?;
    labs.push(s.lab.prefix.clone());
    let result = measure(&mut s);
    let down = teardown(&mut s)?;
    Ok((result?, down))
}

#[derive(Debug, Clone, Serialize)]
pub struct BringUpSize {
    pub backend: String,
    pub parties: usize,
    /// Namespaces of the lab (hosts and the internet).
    pub namespaces: usize,
    /// Namespaces, links, addresses, routes, NAT rules.
    pub topology_s: Option<Stat>,
    /// From the start until every daemon was started (keys, configs included).
    pub daemons_s: Option<Stat>,
    /// From the first daemon start until every pair answered over the overlay.
    pub overlay_s: Option<Stat>,
    /// From the start until every pair answered: the figure.
    pub bringup_s: Option<Stat>,
    pub teardown_s: Option<Stat>,
    /// Median bring-up divided by the parties.
    pub bringup_per_party_s: Option<f64>,
    /// Runs in which some pair never answered (not in the figures).
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BringUpFigure {
    pub sizes: Vec<BringUpSize>,
    /// Marginal cost of one more party: slope of the median bring-up (and
    /// teardown) between the smallest and the largest size.
    pub bringup_s_per_added_party: Option<f64>,
    pub teardown_s_per_added_party: Option<f64>,
}

pub fn measure_bringup(
    sizes: &[usize],
    runs: usize,
    timeout: Duration,
    labs: &mut Vec<String>,
    log: &dyn Fn(&str),
) -> Result<BringUpFigure, Error> {
    let mut out = Vec::new();
    for &n in sizes {
        let plan = plan_of(&format!("bench-lab-{n}.yaml"), &bringup_yaml(n))?;
        let (mut topo, mut daemons, mut overlay, mut bringup, mut down, mut failures) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for run in 0..runs {
            let ((ov, t), td) = with_session(&plan, &options(timeout), labs, |s| {
                Ok((s.wait_overlay(timeout).map_err(Error::Lab)?, s.timings))
            })?;
            match ov.up_s {
                Some(up) => {
                    let b = t.overlay_start_s + up;
                    log(&format!("lab nebula {n} parties, run {}/{runs}: up after {b:.2} s, torn down in {td:.2} s", run + 1));
                    topo.push(t.topology_s);
                    daemons.push(t.daemons_s);
                    overlay.push(up);
                    bringup.push(b);
                    down.push(td);
                }
                None => {
                    let missing = ov.pairs.values().filter(|v| v.is_none()).count();
                    let f = format!(
                        "run {}: {missing} of {} pairs never answered within {} s",
                        run + 1,
                        ov.pairs.len(),
                        timeout.as_secs()
                    );
                    log(&format!("lab nebula {n} parties: {f}"));
                    failures.push(f);
                }
            }
        }
        let bringup_s = Stat::of(&bringup);
        out.push(BringUpSize {
            backend: "nebula".into(),
            parties: n,
            namespaces: plan.hosts.len() + 1,
            topology_s: Stat::of(&topo),
            daemons_s: Stat::of(&daemons),
            overlay_s: Stat::of(&overlay),
            bringup_per_party_s: bringup_s.as_ref().map(|b| round3(b.median / n as f64)),
            bringup_s,
            teardown_s: Stat::of(&down),
            failures,
        });
    }
    let slope = |f: &dyn Fn(&BringUpSize) -> Option<f64>| {
        let (a, b) = (out.first()?, out.last()?);
        (b.parties > a.parties).then_some(())?;
        Some(round3((f(b)? - f(a)?) / (b.parties - a.parties) as f64))
    };
    Ok(BringUpFigure {
        bringup_s_per_added_party: slope(&|s| s.bringup_s.as_ref().map(|x| x.median)),
        teardown_s_per_added_party: slope(&|s| s.teardown_s.as_ref().map(|x| x.median)),
        sizes: out,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct OverlayBackend {
    pub backend: String,
    /// How the two parties reach each other.
    pub path: String,
    /// `rounds`: milliseconds per sequential secure multiplication (the
    /// slower party's `per_round_ms`).
    pub per_round_ms: Option<Stat>,
    /// iperf3, one TCP stream, party 0 to party 1: received Mbit/s.
    pub throughput_mbps: Option<Stat>,
    /// Median per-round time relative to the underlay's (> 1: slower).
    pub round_time_ratio: Option<f64>,
    /// Median throughput relative to the underlay's (< 1: less).
    pub throughput_ratio: Option<f64>,
    /// `rounds`: bytes on the internet segment per byte of program payload
    /// (e3 sim's `wire.ratio`).
    pub wire_ratio: Option<Stat>,
    /// Median wire ratio relative to the underlay's (> 1: more bytes).
    pub wire_ratio_vs_direct: Option<f64>,
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverlayFigure {
    pub rounds: u32,
    pub iperf_seconds: u32,
    pub backends: Vec<OverlayBackend>,
}

/// What one run measured: ms per round, Mbit/s, wire bytes per payload byte.
type OverlayRun = (f64, f64, Option<f64>);

/// One run: bring the lab up, run `rounds`, run iperf3, tear down.
/// [`Error::RunFailed`] is a failed run; any other error stops the benchmark.
fn overlay_once(
    plan: &Plan,
    timeout: Duration,
    iperf_seconds: u32,
    labs: &mut Vec<String>,
) -> Result<OverlayRun, Error> {
    with_session(plan, &options(timeout), labs, |s| {
        overlay_measure(s, plan, timeout, iperf_seconds)
    })
    .map(|(run, _)| run)
}

/// Waits for the overlay of `s`; a failed run when it does not come up.
pub fn overlay_up(s: &mut LabSession, timeout: Duration) -> Result<(), Error> {
    if s.wait_overlay(timeout).map_err(Error::Lab)?.all_up() {
        Ok(())
    } else {
        Err(Error::RunFailed(format!(
            "the overlay did not come up within {} s",
            timeout.as_secs()
        )))
    }
}

/// Runs the `rounds` program in `s`: the run, and the slower party's
/// `per_round_ms`; a failed run when a party failed or printed none.
pub fn run_rounds(
    s: &mut LabSession,
    timeout: Duration,
) -> Result<(e3::sim::session::ProgramRun, f64), Error> {
    let run = s.run_program(timeout).map_err(Error::Lab)?;
    if let Some(p) = run.parties.iter().find(|p| !p.ok) {
        return Err(Error::RunFailed(format!(
            "`rounds` failed on `{}`: {}",
            p.host,
            p.error.as_deref().unwrap_or("wrong result")
        )));
    }
    let per_round_ms = run
        .outputs
        .iter()
        .filter_map(|o| o.as_ref()?.get("per_round_ms")?.as_f64())
        .reduce(f64::max)
        .ok_or_else(|| Error::RunFailed("`rounds` printed no per_round_ms".into()))?;
    Ok((run, per_round_ms))
}

fn overlay_measure(
    s: &mut LabSession,
    plan: &Plan,
    timeout: Duration,
    iperf_seconds: u32,
) -> Result<OverlayRun, Error> {
    overlay_up(s, timeout)?;
    let (run, per_round_ms) = run_rounds(s, timeout)?;
    // the capture ends with the program, before iperf3's traffic
    let wire = s
        .stop_capture()
        .zip(run.sent.as_ref())
        .and_then(|(internet, sent)| {
            e3::sim::privacy::wire_cost(&internet, sent, plan.program.port, run.window).ratio
        });
    let target = plan.program.parties[1].address.to_string();
    let mbps = iperf(s, &target, iperf_seconds)?;
    Ok((per_round_ms, mbps, wire))
}

/// iperf3 for `seconds`: server on party 1, client on party 0, to party
/// 1's `target` address; Mbit/s received. [`Error::RunFailed`] is a
/// failed run.
pub fn iperf(s: &mut LabSession, target: &str, iperf_seconds: u32) -> Result<f64, Error> {
    let parties = s.parties();
    let (client, server) = (parties[0].name.clone(), parties[1].name.clone());
    let (server_out, _) = s
        .spawn(
            &server,
            "iperf-server",
            "iperf3",
            &["-s", "-1", "-p", "5201", "--forceflush"],
        )
        .map_err(Error::Lab)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !fs::read_to_string(&server_out)
        .unwrap_or_default()
        .contains("Server listening")
    {
        if s.wait("iperf-server", Instant::now()).is_some() || Instant::now() > deadline {
            return Err(Error::RunFailed(format!(
                "the iperf3 server did not start: {}",
                fs::read_to_string(&server_out).unwrap_or_default().trim()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = iperf_seconds.to_string();
    let out = match s.run(
        &client,
        "iperf-client",
        "iperf3",
        &["-c", target, "-p", "5201", "-t", &secs, "-J"],
        Duration::from_secs(u64::from(iperf_seconds) + 30),
    ) {
        Ok(out) => out,
        Err(e) => return Err(Error::RunFailed(format!("iperf3: {e}"))),
    };
    s.wait("iperf-server", Instant::now() + Duration::from_secs(5));
    let json: serde_json::Value = match serde_json::from_str(&out) {
        Ok(j) => j,
        Err(e) => return Err(Error::RunFailed(format!("iperf3 printed no JSON ({e})"))),
    };
    match json["end"]["sum_received"]["bits_per_second"].as_f64() {
        Some(bps) => Ok(bps / 1e6),
        None => Err(Error::RunFailed(format!(
            "iperf3: {}",
            json["error"]
                .as_str()
                .unwrap_or("no sum_received in its JSON")
        ))),
    }
}

fn path_of(backend: &str) -> &'static str {
    match backend {
        "direct" => "underlay: public addresses, no overlay (baseline)",
        "nebula" => "Nebula tunnel, direct between the parties (the lighthouse only introduces)",
        "wireguard" => "wireguard-go full mesh (both parties public, so no hub)",
        "tinc" => "tinc 1.0 in router mode, direct UDP between the parties",
        _ => "",
    }
}

/// Runs are interleaved (run 1 of every backend, then run 2, …), so that
/// a change in the machine's load hits all backends alike.
pub fn measure_overlay(
    backends: &[&str],
    runs: usize,
    rounds: u32,
    iperf_seconds: u32,
    timeout: Duration,
    labs: &mut Vec<String>,
    log: &dyn Fn(&str),
) -> Result<OverlayFigure, Error> {
    let plans: Vec<Plan> = backends
        .iter()
        .map(|b| plan_of(&format!("bench-overlay-{b}.yaml"), &overlay_yaml(b, rounds)))
        .collect::<Result<_, _>>()?;
    let mut rounds_ms = vec![Vec::new(); backends.len()];
    let mut mbps = vec![Vec::new(); backends.len()];
    let mut wire = vec![Vec::new(); backends.len()];
    let mut failures = vec![Vec::new(); backends.len()];
    for run in 0..runs {
        for (k, b) in backends.iter().enumerate() {
            match overlay_once(&plans[k], timeout, iperf_seconds, labs) {
                Ok((ms, m, w)) => {
                    log(&format!(
                        "overlay {b}, run {}/{runs}: {ms:.3} ms per round, {m:.0} Mbit/s, {} wire bytes per payload byte",
                        run + 1,
                        w.map_or("-".into(), |w| format!("{w:.2}"))
                    ));
                    rounds_ms[k].push(ms);
                    mbps[k].push(m);
                    wire[k].extend(w);
                }
                Err(Error::RunFailed(why)) => {
                    log(&format!(
                        "overlay {b}, run {}/{runs}: failed: {why}",
                        run + 1
                    ));
                    failures[k].push(format!("run {}: {why}", run + 1));
                }
                Err(e) => return Err(e),
            }
        }
    }
    let base = backends.iter().position(|b| *b == "direct");
    let median = |v: &Vec<f64>| Stat::of(v).map(|s| s.median);
    let base_ms = base.and_then(|i| median(&rounds_ms[i]));
    let base_mbps = base.and_then(|i| median(&mbps[i]));
    let base_wire = base.and_then(|i| median(&wire[i]));
    let out = backends
        .iter()
        .enumerate()
        .map(|(k, b)| OverlayBackend {
            backend: b.to_string(),
            path: path_of(b).to_string(),
            per_round_ms: Stat::of(&rounds_ms[k]),
            throughput_mbps: Stat::of(&mbps[k]),
            round_time_ratio: median(&rounds_ms[k])
                .zip(base_ms)
                .and_then(|(a, b)| ratio(a, b)),
            throughput_ratio: median(&mbps[k])
                .zip(base_mbps)
                .and_then(|(a, b)| ratio(a, b)),
            wire_ratio: Stat::of(&wire[k]),
            wire_ratio_vs_direct: median(&wire[k])
                .zip(base_wire)
                .and_then(|(a, b)| ratio(a, b)),
            failures: std::mem::take(&mut failures[k]),
        })
        .collect();
    Ok(OverlayFigure {
        rounds,
        iperf_seconds,
        backends: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_lab_scenarios_plan() {
        for n in [2, 16] {
            let plan = plan_of("b.yaml", &bringup_yaml(n)).expect("valid");
            assert_eq!(plan.parties().count(), n);
            assert_eq!(plan.sites.len(), n, "one router per party");
        }
        for b in ["direct", "nebula", "wireguard", "tinc"] {
            let plan = plan_of("o.yaml", &overlay_yaml(b, 10)).expect("valid");
            assert!(plan.parties().all(|p| p.public_address.is_some()), "{b}");
            assert!(plan.sites.is_empty(), "{b}: no routers");
            assert_eq!(plan.program.args, ["--rounds", "10"]);
        }
    }
}

/// One size of the full-run figure: `e3 sim`'s whole run ([`e3::sim::run_lab`])
/// and its phases as the report states them.
#[derive(Debug, Clone, Serialize)]
pub struct RunSize {
    pub backend: String,
    pub parties: usize,
    pub pairs: usize,
    pub total_s: Option<Stat>,
    pub setup_s: Option<Stat>,
    pub overlay_s: Option<Stat>,
    pub mpc_s: Option<Stat>,
    /// Every pair's route and round trip read (after the program).
    pub report_s: Option<Stat>,
    pub teardown_s: Option<Stat>,
    /// The report phase's share of the whole run, in percent (median over runs).
    pub report_percent: Option<Stat>,
    /// Runs that failed (not in the figures).
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunFigure {
    pub sizes: Vec<RunSize>,
}

/// Full runs with Nebula and `sizes` parties, each behind its own `easy`
/// NAT: the same generated scenario as the bring-up figure, run to its report.
pub fn measure_run(
    sizes: &[usize],
    runs: usize,
    timeout: Duration,
    labs: &mut Vec<String>,
    log: &dyn Fn(&str),
) -> Result<RunFigure, Error> {
    let mut out = Vec::new();
    for &n in sizes {
        let plan = plan_of(&format!("bench-lab-{n}.yaml"), &bringup_yaml(n))?;
        let mut v: [Vec<f64>; 7] = Default::default();
        let mut failures = Vec::new();
        for run in 0..runs {
            let mut opts = options(timeout);
            // A large lab's phases take long enough to want their progress.
            opts.progress = n >= 32;
            let report = e3::sim::run_lab(&plan, &opts).map_err(Error::Lab)?;
            labs.push(report.lab.clone());
            if !report.ok {
                let f = format!("run {}: {}", run + 1, report.verdict);
                log(&format!("run nebula {n} parties: {f}"));
                failures.push(f);
                continue;
            }
            let p = report.phases;
            log(&format!(
                "run nebula {n} parties, run {}/{runs}: {:.1} s, report phase {:.2} s ({:.1} %)",
                run + 1,
                report.total_s,
                p.report_s,
                p.report_percent()
            ));
            for (k, x) in [
                report.total_s,
                p.setup_s,
                p.overlay_s,
                p.mpc_s,
                p.report_s,
                p.teardown_s,
                p.report_percent(),
            ]
            .into_iter()
            .enumerate()
            {
                v[k].push(round3(x));
            }
        }
        out.push(RunSize {
            backend: "nebula".into(),
            parties: n,
            pairs: n * n.saturating_sub(1) / 2,
            total_s: Stat::of(&v[0]),
            setup_s: Stat::of(&v[1]),
            overlay_s: Stat::of(&v[2]),
            mpc_s: Stat::of(&v[3]),
            report_s: Stat::of(&v[4]),
            teardown_s: Stat::of(&v[5]),
            report_percent: Stat::of(&v[6]),
            failures,
        });
    }
    Ok(RunFigure { sizes: out })
}
