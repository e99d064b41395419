//! Section `latency`: region latency in the lab against the model. Two
//! public parties in two regions (`latency: regions`), on the underlay
//! (`direct`) and over each overlay, with each way of applying the delays
//! that this kernel has (netem, e3's delay line); per cell the measured
//! round trip (median of ICMP echoes over the path the parties use) against
//! the model's, MPyC `rounds` per round against the round trip, iperf3's
//! throughput and the delay line's CPU time during iperf3. Each backend's
//! `none` cell (the first pair, no delays: the same lab without the delay
//! line) is its throughput baseline: every cell's throughput is also given
//! as a ratio to its backend's (`throughput_vs_none`), side by side.

use std::time::Duration;

use serde::Serialize;

use e3::plan::Plan;
use e3::sim::latency::Method;
use e3::sim::session::LabSession;

use crate::error::Error;
use crate::lab::{iperf, options, overlay_up, plan_of, run_rounds, with_session};
use crate::stats::{round3, Stat};
use crate::table::{left, right, section, Row};

/// Two public parties in regions `a` and `b`, joined by `backend`.
pub fn yaml(backend: &str, a: &str, b: &str, rounds: u32) -> String {
    format!(
        "name: bench-latency-{backend}-{a}-{b}\ndescription: e3-bench latency, two public parties in {a} and {b} over {backend}.\nconnectivity: {{ backend: {backend}, relay: auto }}\nprogram: {{ name: rounds, args: [\"--rounds\", \"{rounds}\"] }}\ndefaults: {{ platform: digitalocean, nat: none }}\nparties:\n  - {{ name: alice, region: {a} }}\n  - {{ name: bob, region: {b} }}\nsimulation: {{ latency: regions }}\n"
    )
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// `ams3-sgp1`
    pub pair: String,
    pub backend: String,
    /// How the delays were applied.
    pub method: Method,
    /// The model's round trip (twice the regions' one-way delay).
    pub rtt_model_ms: f64,
    /// Median of the ICMP echoes over the parties' path, per run.
    pub rtt_ms: Option<Stat>,
    /// Median measured − model, and that relative to the model (%).
    pub error_ms: Option<f64>,
    pub error_percent: Option<f64>,
    /// MPyC `rounds`: one all-to-all exchange per round.
    pub per_round_ms: Option<Stat>,
    /// Median per round / median round trip.
    pub per_round_per_rtt: Option<f64>,
    /// Seconds of the whole program (connection set-up included).
    pub wall_s: Option<Stat>,
    pub throughput_mbps: Option<Stat>,
    /// Median throughput / the median of the same backend's `none` cell.
    pub throughput_vs_none: Option<f64>,
    /// The delay line's CPU time during iperf3, in % of one core.
    pub delay_line_cpu_percent: Option<Stat>,
    /// …and per packet it held, in µs.
    pub delay_line_us_per_packet: Option<Stat>,
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub rounds: u32,
    pub iperf_seconds: u32,
    /// Methods that this kernel does not have (skipped).
    pub unavailable: Vec<String>,
    pub cells: Vec<Cell>,
}

struct Sample {
    rtt_ms: f64,
    per_round_ms: f64,
    wall_s: f64,
    mbps: f64,
    cpu_percent: Option<f64>,
    us_per_packet: Option<f64>,
}

/// One run of a cell: the lab with `method`'s delays, measured, torn
/// down. [`Error::RunFailed`] is a failed run.
fn once(
    plan: &Plan,
    method: Method,
    iperf_seconds: u32,
    timeout: Duration,
    labs: &mut Vec<String>,
) -> Result<Sample, Error> {
    let mut opts = options(timeout);
    opts.latency = Some(method);
    with_session(plan, &opts, labs, |s| measure(s, iperf_seconds, timeout)).map(|(x, _)| x)
}

fn measure(s: &mut LabSession, iperf_seconds: u32, timeout: Duration) -> Result<Sample, Error> {
    overlay_up(s, timeout)?;
    let parties = s.parties();
    if let Some(settle) = s.started.as_ref().and_then(|x| x.settle) {
        let addresses = parties
            .iter()
            .filter_map(|h| Some((h.name.clone(), s.overlay_address(h)?)))
            .collect();
        settle(&mut s.lab, &parties, &addresses);
    }
    let bob = parties[1];
    let target = if s.started.is_some() {
        s.overlay_address(bob)
    } else {
        bob.public_address
    };
    let Some(target) = target else {
        return Err(Error::RunFailed("no address to probe".into()));
    };
    let rtt = s.measure_rtt(&[(0, 1, target)], 9).map_err(Error::Lab)?;
    let Some(rtt_ms) = rtt.get(&(0, 1)).copied().flatten() else {
        return Err(Error::RunFailed("no ICMP echo came back".into()));
    };
    let (run, per_round_ms) = run_rounds(s, timeout)?;
    let before = s.delay_line_report();
    let t = std::time::Instant::now();
    let mbps = iperf(s, &target.to_string(), iperf_seconds)?;
    let elapsed = t.elapsed().as_secs_f64();
    let after = s.delay_line_report();
    let (cpu_percent, us_per_packet) = match (before, after) {
        (Some(b), Some(a)) => {
            let cpu = a.cpu_s.zip(b.cpu_s).map(|(a, b)| a - b);
            let packets = (a.counters.delayed + a.counters.passed)
                .saturating_sub(b.counters.delayed + b.counters.passed);
            (
                cpu.map(|c| round3(100.0 * c / elapsed)),
                cpu.filter(|_| packets > 0)
                    .map(|c| round3(1e6 * c / packets as f64)),
            )
        }
        _ => (None, None),
    };
    Ok(Sample {
        rtt_ms,
        per_round_ms,
        wall_s: run.wall_s,
        mbps,
        cpu_percent,
        us_per_packet,
    })
}

/// What runs: (pair, backend, method) in table order: every backend's
/// `none` baseline (the first pair), then each method × backend × pair.
fn cells(pairs: &[(String, String)], backends: &[&str]) -> Vec<(usize, String, Method)> {
    let mut out: Vec<(usize, String, Method)> = backends
        .iter()
        .map(|b| (0, b.to_string(), Method::None))
        .collect();
    for method in [Method::Netem, Method::Nfqueue] {
        for b in backends {
            for k in 0..pairs.len() {
                out.push((k, b.to_string(), method));
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub fn measure_latency(
    pairs: &[(String, String)],
    backends: &[&str],
    runs: usize,
    rounds: u32,
    iperf_seconds: u32,
    timeout: Duration,
    labs: &mut Vec<String>,
    log: &dyn Fn(&str),
) -> Result<Figure, Error> {
    let todo = cells(pairs, backends);
    let mut plans = Vec::new();
    for (k, b, _) in &todo {
        let (x, y) = &pairs[*k];
        plans.push(plan_of(
            &format!("bench-latency-{b}-{x}-{y}.yaml"),
            &yaml(b, x, y, rounds),
        )?);
    }
    let mut samples: Vec<Vec<Sample>> = todo.iter().map(|_| Vec::new()).collect();
    let mut failures: Vec<Vec<String>> = todo.iter().map(|_| Vec::new()).collect();
    let mut unavailable: Vec<String> = Vec::new();
    for run in 0..runs {
        for (i, (k, b, method)) in todo.iter().enumerate() {
            if unavailable.contains(&method.to_string()) {
                continue;
            }
            let label = format!("{}-{} {b} {method}", pairs[*k].0, pairs[*k].1);
            match once(&plans[i], *method, iperf_seconds, timeout, labs) {
                Err(Error::Lab(e3::sim::Error::NoNetem)) if *method == Method::Netem => {
                    log("latency: no netem in this kernel; netem cells skipped");
                    unavailable.push(method.to_string());
                }
                Ok(x) => {
                    log(&format!(
                        "latency {label}, run {}/{runs}: rtt {:.2} ms, {:.2} ms per round, {:.0} Mbit/s",
                        run + 1,
                        x.rtt_ms,
                        x.per_round_ms,
                        x.mbps
                    ));
                    samples[i].push(x);
                }
                Err(Error::RunFailed(why)) => {
                    log(&format!(
                        "latency {label}, run {}/{runs}: failed: {why}",
                        run + 1
                    ));
                    failures[i].push(format!("run {}: {why}", run + 1));
                }
                Err(e) => return Err(e),
            }
        }
    }
    let mut out = Vec::new();
    for (i, (k, b, method)) in todo.iter().enumerate() {
        if unavailable.contains(&method.to_string()) {
            continue;
        }
        let plan = &plans[i];
        let parties: Vec<_> = plan.parties().collect();
        let model = if *method == Method::None {
            0.0
        } else {
            e3::netem::rtt_model_ms(plan, parties[0], parties[1], None)
        };
        let v = &samples[i];
        let stat = |f: &dyn Fn(&Sample) -> Option<f64>| {
            Stat::of(&v.iter().filter_map(f).collect::<Vec<f64>>())
        };
        let rtt = stat(&|x| Some(x.rtt_ms));
        let per_round = stat(&|x| Some(x.per_round_ms));
        let median_rtt = rtt.as_ref().map(|s| s.median);
        out.push(Cell {
            pair: format!("{}-{}", pairs[*k].0, pairs[*k].1),
            backend: b.clone(),
            method: *method,
            rtt_model_ms: model,
            error_ms: median_rtt.map(|r| round3(r - model)),
            error_percent: median_rtt
                .filter(|_| model > 0.0)
                .map(|r| round3(100.0 * (r - model) / model)),
            per_round_per_rtt: per_round
                .as_ref()
                .zip(median_rtt)
                .filter(|(_, r)| *r > 0.0)
                .map(|(p, r)| round3(p.median / r)),
            rtt_ms: rtt,
            per_round_ms: per_round,
            wall_s: stat(&|x| Some(x.wall_s)),
            throughput_mbps: stat(&|x| Some(x.mbps)),
            throughput_vs_none: None,
            delay_line_cpu_percent: stat(&|x| x.cpu_percent),
            delay_line_us_per_packet: stat(&|x| x.us_per_packet),
            failures: std::mem::take(&mut failures[i]),
        });
    }
    let baseline = |backend: &str| {
        out.iter()
            .find(|c: &&Cell| c.method == Method::None && c.backend == backend)
            .and_then(|c| c.throughput_mbps.as_ref())
            .map(|s| s.median)
            .filter(|m| *m > 0.0)
    };
    let ratios: Vec<Option<f64>> = out
        .iter()
        .map(|c| {
            let m = c.throughput_mbps.as_ref()?.median;
            baseline(&c.backend).map(|b| round3(m / b))
        })
        .collect();
    for (c, r) in out.iter_mut().zip(ratios) {
        c.throughput_vs_none = r;
    }
    Ok(Figure {
        rounds,
        iperf_seconds,
        unavailable,
        cells: out,
    })
}

/// The figure's table (section 5 of the output).
pub fn table(t: &mut String, f: &Figure) {
    let med = |s: &Option<Stat>, d: usize| {
        s.as_ref()
            .map(|s| format!("{:.*}", d, s.median))
            .unwrap_or_else(|| "-".into())
    };
    let opt =
        |x: Option<f64>, d: usize| x.map(|x| format!("{x:.d$}")).unwrap_or_else(|| "-".into());
    let rows: Vec<Row> = f
        .cells
        .iter()
        .map(|c| {
            let values = vec![
                c.pair.clone(),
                c.backend.clone(),
                c.method.as_str().to_string(),
                format!("{:.1}", c.rtt_model_ms),
                med(&c.rtt_ms, 2),
                opt(c.error_ms, 2),
                opt(c.error_percent, 1),
                med(&c.per_round_ms, 2),
                opt(c.per_round_per_rtt, 3),
                med(&c.wall_s, 2),
                med(&c.throughput_mbps, 0),
                opt(c.throughput_vs_none, 2),
                c.delay_line_cpu_percent
                    .as_ref()
                    .map(|s| format!("{:.1}%", s.median))
                    .unwrap_or_else(|| "-".into()),
                med(&c.delay_line_us_per_packet, 1),
            ];
            (values, c.failures.len())
        })
        .collect();
    section(
        t,
        &format!(
            "5. Latency: two public parties in two regions; RTT = median of ICMP echoes on their path; `rounds` ({} rounds); iperf3 ({} s){}",
            f.rounds,
            f.iperf_seconds,
            if f.unavailable.is_empty() {
                String::new()
            } else {
                format!("; not in this kernel: {}", f.unavailable.join(", "))
            }
        ),
        &[
            left("PAIR", 10),
            left("BACKEND", 10),
            left("METHOD", 8),
            right("MODEL ms", 9),
            right("RTT ms", 9),
            right("ERR ms", 8),
            right("ERR %", 7),
            right("ROUND ms", 10),
            right("ROUND/RTT", 9),
            right("WALL s", 8),
            right("Mbit/s", 10),
            right("× NONE", 7),
            right("LINE CPU", 8),
            right("µs/PKT", 9),
        ],
        &rows,
        &["  ERR = measured − model; ROUND/RTT = `rounds` per round / RTT (an all-to-all exchange of two parties waits one one-way delay: ≈ 0.5); × NONE = Mbit/s / the same backend's without delays (`none`); LINE CPU = the delay line's thread during iperf3, % of one core".into()],
    );
}

/// `ams3-fra1` → (`ams3`, `fra1`).
pub fn parse_pair(s: &str) -> Result<(String, String), Error> {
    match s.split_once('-') {
        Some((a, b))
            if !a.is_empty()
                && !b.is_empty()
                && e3::catalogue::find_region(a).is_some()
                && e3::catalogue::find_region(b).is_some() =>
        {
            Ok((a.to_string(), b.to_string()))
        }
        _ => Err(Error::NoRegionPair(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_latency_scenarios_plan_far_apart() {
        for b in ["direct", "nebula", "wireguard", "tailscale"] {
            let plan = plan_of("l.yaml", &yaml(b, "ams3", "sgp1", 10)).expect("valid");
            let p: Vec<_> = plan.parties().collect();
            assert!(p.iter().all(|h| h.public_address.is_some()), "{b}");
            let rtt = e3::netem::rtt_model_ms(&plan, p[0], p[1], None);
            assert!(rtt > 100.0, "{b}: {rtt}");
        }
        let near = plan_of("l.yaml", &yaml("direct", "ams3", "fra1", 10)).expect("valid");
        let p: Vec<_> = near.parties().collect();
        assert!(e3::netem::rtt_model_ms(&near, p[0], p[1], None) < 20.0);
        assert_eq!(
            parse_pair("ams3-sgp1").ok(),
            Some(("ams3".to_string(), "sgp1".to_string()))
        );
        let e = parse_pair("ams3").unwrap_err();
        assert_eq!(e.to_string(), "`ams3` is no region pair");
        assert!(e3::error::Hinted::hint(&e).is_some_and(|h| h.contains("`ams3-sgp1`")));
        assert!(matches!(
            parse_pair("ams3-mars1"),
            Err(Error::NoRegionPair(_))
        ));
    }

    #[test]
    fn every_backends_baseline_comes_first_then_every_method_backend_and_pair() {
        let pairs = vec![("a".to_string(), "b".to_string()), ("c".into(), "d".into())];
        let c = cells(&pairs, &["direct", "nebula"]);
        assert_eq!(c[0], (0, "direct".to_string(), Method::None));
        assert_eq!(c[1], (0, "nebula".to_string(), Method::None));
        assert_eq!(c.len(), 2 + 2 * 2 * 2);
        assert_eq!(c[2], (0, "direct".to_string(), Method::Netem));
        assert_eq!(c[9], (1, "nebula".to_string(), Method::Nfqueue));
    }
}
