//! Figure 4: the same topology — N hosts, each behind its own NAT router,
//! and one public host — brought up and torn down by e3's lab and by
//! Mininet (Debian's `mininet`, its `natnet.py` example topology), in one
//! run, alternating the two. Bring-up ends when every private host has
//! pinged the public host once (`ping -c1 -W1`, one host after the other,
//! on both sides).
//!
//! e3: `e3::sim::build_only` (the topology half of `e3 sim`: namespaces,
//! veths, bridges, addresses, routes, the nftables NAT of an `easy`
//! router), pings via `ip netns exec`, then `Lab::teardown`. Timed in this
//! process.
//!
//! Mininet: `mininet_nat.py` in system Python: `Mininet(topo).build()`
//! (a shell per node, veths, Linux bridges, addresses, iptables
//! MASQUERADE), `net.start()`, pings via each host's shell, `net.stop()`.
//! Timed inside Python, after its imports.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use e3::sim::netns::run;

use crate::error::Error;
use crate::lab::plan_of;
use crate::stats::{ratio, Stat};

/// Debian's Python, where the `mininet` package lives.
pub const PYTHON: &str = "/usr/bin/python3";
const SCRIPT: &str = include_str!("mininet_nat.py");
/// Programs Mininet runs for this topology.
const PROGRAMS: &[&str] = &["mnexec", "brctl", "iptables", "ifconfig", "ping", "ip"];

/// Can Mininet run here? `Err` says what is missing.
pub fn preflight() -> Result<(), Error> {
    let missing: Vec<&str> = PROGRAMS
        .iter()
        .copied()
        .filter(|p| !e3::tools::on_path(p))
        .collect();
    if !missing.is_empty() {
        return Err(Error::MininetPrograms(missing));
    }
    run(PYTHON, &["-c", "import mininet.net, mininet.nodelib"]).map_err(|reason| {
        Error::MininetImport {
            python: PYTHON,
            reason,
        }
    })?;
    Ok(())
}

/// Mininet's version string.
pub fn version() -> Option<String> {
    run(
        PYTHON,
        &["-c", "import mininet.net; print(mininet.net.VERSION)"],
    )
    .ok()
    .map(|s| s.trim().to_string())
}

/// e3's version of the topology: `n` parties behind `easy` NAT, one
/// router each, and one public party.
pub fn e3_yaml(n: usize) -> String {
    let mut y = format!("name: bench-peer-{n}\ndescription: e3-bench peer topology, {n} hosts behind NAT and one public host.\nconnectivity: {{ backend: direct }}\nprogram: {{ name: secure-sum }}\ndefaults: {{ platform: digitalocean, region: ams3, nat: easy }}\nparties:\n  - {{ name: public, nat: none }}\n");
    for i in 1..=n {
        y += &format!("  - {{ name: h{i} }}\n");
    }
    y + "simulation: { latency: none }\n"
}

/// One side's times of one run.
#[derive(Debug, Clone, Default, Deserialize)]
struct Once {
    build_s: f64,
    #[serde(default)]
    start_s: f64,
    reach_s: f64,
    stop_s: f64,
    #[serde(default)]
    unreachable: Vec<String>,
}

impl Once {
    fn bringup(&self) -> f64 {
        self.build_s + self.start_s + self.reach_s
    }
}

fn e3_once(plan: &e3::plan::Plan, labs: &mut Vec<String>) -> Result<Once, Error> {
    let public = plan
        .host("public")
        .and_then(|h| h.public_address)
        .ok_or(Error::NoPublicHost)?
        .to_string();
    let t = Instant::now();
    let mut lab = e3::sim::build_only(plan).map_err(Error::Lab)?;
    labs.push(lab.prefix.clone());
    let build_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut unreachable = Vec::new();
    for p in plan.parties().filter(|p| p.public_address.is_none()) {
        let out = run(
            "ip",
            &[
                "netns",
                "exec",
                &lab.ns(&p.name),
                "ping",
                "-c1",
                "-W1",
                &public,
            ],
        )
        .unwrap_or_default();
        if !out.contains(" 1 received") {
            unreachable.push(p.name.to_string());
        }
    }
    let reach_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let problems = lab.teardown();
    let stop_s = t.elapsed().as_secs_f64();
    if !problems.is_empty() {
        return Err(Error::Teardown {
            prefix: lab.prefix.clone(),
            problems,
        });
    }
    Ok(Once {
        build_s,
        start_s: 0.0,
        reach_s,
        stop_s,
        unreachable,
    })
}

/// Mininet leaves root-namespace bridges and links (`s0`, `nat1-eth0`, …)
/// when it is killed; refuse to start on top of them.
fn mininet_leftovers() -> Vec<String> {
    let links = run("ip", &["-o", "link", "show"]).unwrap_or_default();
    links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| {
            n == "s0"
                || (n.starts_with("nat") && n.contains("-eth"))
                || (n.starts_with('h') && n.contains("-eth"))
        })
        .collect()
}

fn mininet_once(script: &Path, n: usize) -> Result<Once, Error> {
    let left = mininet_leftovers();
    if !left.is_empty() {
        return Err(Error::MininetLeftovers(left));
    }
    let out = Command::new(PYTHON)
        .arg(script)
        .arg(n.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: PYTHON.into(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let once: Option<Once> = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok());
    match once {
        Some(o) if out.status.success() => Ok(o),
        _ => Err(Error::MininetFailed {
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// From the start until every private host reached the public host.
    pub bringup_s: Option<Stat>,
    /// Building the topology (e3: `build_only`; Mininet: `build()` + `start()`).
    pub build_s: Option<Stat>,
    /// The pings.
    pub reach_s: Option<Stat>,
    pub teardown_s: Option<Stat>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerSize {
    /// Hosts behind NAT (plus one public host).
    pub hosts: usize,
    pub e3: Side,
    pub mininet: Side,
    /// Mininet's median bring-up divided by e3's (> 1: e3 is faster).
    pub bringup_ratio: Option<f64>,
    /// Mininet's median teardown divided by e3's.
    pub teardown_ratio: Option<f64>,
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub mininet_version: Option<String>,
    pub e3_method: String,
    pub mininet_method: String,
    pub sizes: Vec<PeerSize>,
}

fn side(onces: &[Once]) -> Side {
    let col = |f: &dyn Fn(&Once) -> f64| Stat::of(&onces.iter().map(f).collect::<Vec<_>>());
    Side {
        bringup_s: col(&Once::bringup),
        build_s: col(&|o| o.build_s + o.start_s),
        reach_s: col(&|o| o.reach_s),
        teardown_s: col(&|o| o.stop_s),
    }
}

fn med(s: &Option<Stat>) -> Option<f64> {
    s.as_ref().map(|s| s.median)
}

pub fn measure(
    sizes: &[usize],
    runs: usize,
    work: &Path,
    labs: &mut Vec<String>,
    log: &dyn Fn(&str),
) -> Result<Figure, Error> {
    let script = work.join("mininet_nat.py");
    std::fs::write(&script, SCRIPT).map_err(|source| Error::Write {
        path: script.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for &n in sizes {
        let plan = plan_of(&format!("bench-peer-{n}.yaml"), &e3_yaml(n))?;
        let (mut ours, mut theirs, mut failures) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            // Alternate which side goes first, so neither always runs on a cooler machine.
            let order = if run % 2 == 0 {
                ["e3", "mininet"]
            } else {
                ["mininet", "e3"]
            };
            for who in order {
                let once = if who == "e3" {
                    e3_once(&plan, labs)?
                } else {
                    mininet_once(&script, n)?
                };
                if once.unreachable.is_empty() {
                    log(&format!(
                        "peer {who} {n} hosts, run {}/{runs}: up {:.2} s, down {:.2} s",
                        run + 1,
                        once.bringup(),
                        once.stop_s
                    ));
                    if who == "e3" { &mut ours } else { &mut theirs }.push(once);
                } else {
                    let f = format!(
                        "{who} run {}: {} did not reach the public host",
                        run + 1,
                        once.unreachable.join(", ")
                    );
                    log(&format!("peer {n} hosts: {f}"));
                    failures.push(f);
                }
                // let the machine settle between the two sides
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        let (e3, mininet) = (side(&ours), side(&theirs));
        out.push(PeerSize {
            hosts: n,
            bringup_ratio: med(&mininet.bringup_s)
                .zip(med(&e3.bringup_s))
                .and_then(|(a, b)| ratio(a, b)),
            teardown_ratio: med(&mininet.teardown_s)
                .zip(med(&e3.teardown_s))
                .and_then(|(a, b)| ratio(a, b)),
            e3,
            mininet,
            failures,
        });
    }
    Ok(Figure {
        mininet_version: version(),
        e3_method: "e3::sim::build_only (namespace per host and router plus an internet namespace with a bridge; veths, addresses, routes, nftables `easy` NAT and connection tracking rules), then `ip netns exec NS ping -c1 -W1` from each private host, then Lab::teardown; timed in-process".into(),
        mininet_method: "mininet_nat.py under /usr/bin/python3 (natnet.py's topology: LinuxBridge switches, no controller, NAT nodes with iptables MASQUERADE): Mininet(topo).build() + start(), `ping -c1 -W1` through each host's shell, net.stop(); timed in Python after its imports".into(),
        sizes: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e3_peer_topology_has_one_router_per_private_host() {
        let plan = plan_of("p.yaml", &e3_yaml(4)).expect("valid");
        assert_eq!(plan.parties().count(), 5);
        assert_eq!(plan.sites.len(), 4);
        assert!(plan.host("public").and_then(|h| h.public_address).is_some());
    }
}
