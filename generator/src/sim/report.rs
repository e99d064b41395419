//! The lab report: a table for people, JSON for tools.

use std::fmt::Write as _;

use serde::Serialize;

use crate::plan::HostName;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub backend: String,
    pub relay: String,
    pub lab: String,
    /// Which program run on this lab this was: 1 when the lab was built for
    /// it, k for the k-th run on a lab `e3 grid` shared between cells of one
    /// topology and backend (then `overlay_up_s` is the lab's, from run 1).
    pub lab_run: u32,
    /// The run on this lab that measured the pairs' round trips (`rtt_ms`):
    /// this one, or an earlier one whose pairs had the same routes (a round
    /// trip is the lab's: its delays and the pairs' paths).
    pub rtt_lab_run: u32,
    /// What happened to `simulation.latency`.
    pub latency: LatencyReport,
    pub loss_percent: f64,
    /// Seconds from the first daemon start until every pair answered over
    /// the overlay; `None` if it never did (or there is no overlay).
    pub overlay_up_s: Option<f64>,
    pub pairs: Vec<PairReport>,
    /// Whether MPyC ran (it does not when the overlay never came up).
    pub mpc_ran: bool,
    /// Seconds from starting the parties until the last one exited.
    pub mpc_wall_s: Option<f64>,
    pub parties: Vec<PartyReport>,
    /// Whether every party had the same output: the same `result` for a
    /// program that prints e3's JSON line, the same stdout otherwise (as a
    /// correct MPC program with a public output has); `None` when it did
    /// not run or failed on a party.
    pub outputs_agree: Option<bool>,
    /// True when the program succeeded on every party.
    pub ok: bool,
    pub verdict: String,
    pub diagnosis: Vec<String>,
    /// What ran: each daemon's version, Python's and MPyC's.
    pub versions: std::collections::BTreeMap<String, String>,
    /// Who learnt each party's addresses (see [`super::privacy`]); empty
    /// when the internet segment could not be captured.
    pub exposure: std::collections::BTreeMap<HostName, super::privacy::PartyExposure>,
    /// The program's traffic on the internet segment, unencrypted.
    pub wan: Option<super::privacy::WanReport>,
    /// The program run's bytes on the internet segment against its payload.
    pub wire: Option<super::privacy::WireReport>,

    /// `simulation.faults` as they were applied, with each pair's recovery.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultReport>,
    /// With faults: whether the program still succeeded on every party.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mpc_survived: Option<bool>,
    /// Seconds each phase took, one after another (they add up to `total_s`).
    pub phases: Phases,
    pub total_s: f64,
}

/// One fault of `simulation.faults` in a run.
#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    /// When it was due and when it was applied, in seconds from the program's start.
    pub at_s: f64,
    pub applied_s: Option<f64>,
    pub action: String,
    pub target: String,
    /// What it did, or why it could not be applied.
    pub outcome: String,
    pub applied: bool,
    /// Not applied because the program had ended: after how many seconds
    /// (`e3 sim` warns, W105).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program_ended_s: Option<f64>,
    /// Each pair of parties over the overlay after the fault.
    pub pairs: Vec<Recovery>,
}

/// Whether a pair answered over the overlay after a fault, and when.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    pub a: String,
    pub b: String,
    pub recovered: bool,
    /// Seconds from the fault until the first answer.
    pub after_s: Option<f64>,
}

/// Seconds each phase of a run took.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Phases {
    /// Checks, namespaces, links, NAT, latency, programs, daemons started.
    pub setup_s: f64,
    /// Until every pair answered over the overlay (or the bound passed).
    pub overlay_s: f64,
    /// The program on every party (with its handshake), and the backend's settling.
    pub mpc_s: f64,
    /// Every pair's route and round trip read.
    pub report_s: f64,
    pub teardown_s: f64,
}

impl Phases {
    /// The report phase's share of the whole run, in percent.
    pub fn report_percent(&self) -> f64 {
        let total = self.setup_s + self.overlay_s + self.mpc_s + self.report_s + self.teardown_s;
        if total > 0.0 {
            100.0 * self.report_s / total
        } else {
            0.0
        }
    }
}

/// What the lab did with `simulation.latency`.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// `netem`, `nfqueue` (e3's delay line) or `none`.
    pub applied: super::latency::Method,
    /// For people: the model, what applied it, how many delays.
    pub text: String,
    /// The delay line's counters, when it ran.
    pub delay_line: Option<DelayLineReport>,
}

/// The delay line's work during the run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DelayLineReport {
    #[serde(flatten)]
    pub counters: super::delay::Counters,
    /// Messages the kernel could not deliver to e3 (socket buffer full).
    pub lost: u64,
    /// CPU seconds of its thread.
    pub cpu_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairReport {
    pub a: HostName,
    pub b: HostName,
    pub route: super::RouteKind,
    /// The relay, for relayed pairs.
    pub via: Option<String>,
    /// How the route was determined.
    pub evidence: String,
    pub up_s: Option<f64>,
    /// The model's round trip in ms on the path the pair uses (direct, or
    /// both legs through `via`); `None` without a path.
    pub rtt_model_ms: Option<f64>,
    /// Median round trip in ms of ICMP probes over that path (the overlay
    /// address; the underlay for `direct`), measured once the overlay was up.
    pub rtt_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartyReport {
    pub host: String,
    pub index: usize,
    pub exit: Option<i32>,
    pub ok: bool,
    pub result: Option<serde_json::Value>,
    pub expected: Option<serde_json::Value>,
    pub elapsed_s: Option<f64>,
    pub error: Option<String>,
    /// `e3-json` (judged by its JSON line) or `exit-status` (any program).
    pub contract: String,
    /// The last lines of what it printed.
    pub stdout_tail: Vec<String>,
    pub stderr_tail: Vec<String>,
}

fn millis(ms: Option<f64>) -> String {
    ms.map(|m| format!("{m:.1}")).unwrap_or_else(|| "-".into())
}

fn secs(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "-".into())
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises") + "\n"
    }

    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "lab {} — scenario {} (backend {}, relay {})",
            self.lab, self.scenario, self.backend, self.relay
        );
        let _ = writeln!(
            s,
            "latency: {} ({})",
            self.latency.applied, self.latency.text
        );
        if let Some(d) = &self.latency.delay_line {
            let _ = writeln!(
                s,
                "delay line: {} packets delayed, {} passed, {} dropped, {} lost, at most {} held, {} CPU",
                d.counters.delayed,
                d.counters.passed,
                d.counters.dropped,
                d.lost,
                d.counters.max_held,
                secs(d.cpu_s)
            );
        }
        if !self.versions.is_empty() {
            let v: Vec<String> = self
                .versions
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "versions: {}", v.join(", "));
        }
        if self.loss_percent > 0.0 {
            let _ = writeln!(
                s,
                "loss: {}% on the internet segment (nftables numgen)",
                self.loss_percent
            );
        }
        let _ = writeln!(s, "overlay up: {}", secs(self.overlay_up_s));
        let _ = writeln!(
            s,
            "\n{:<14} {:<14} {:<9} {:<12} {:<9} {:>9} {:>9} EVIDENCE",
            "A", "B", "ROUTE", "VIA", "UP", "RTT MODEL", "RTT ms"
        );
        for p in &self.pairs {
            let _ = writeln!(
                s,
                "{:<14} {:<14} {:<9} {:<12} {:<9} {:>9} {:>9} {}",
                p.a,
                p.b,
                p.route,
                p.via.as_deref().unwrap_or("-"),
                secs(p.up_s),
                millis(p.rtt_model_ms),
                millis(p.rtt_ms),
                p.evidence
            );
        }
        if self.mpc_ran {
            let _ = writeln!(
                s,
                "\n{:<14} {:>5} {:>5} {:<10} {:<10} {:<9} ERROR",
                "PARTY", "INDEX", "EXIT", "RESULT", "EXPECTED", "ELAPSED"
            );
            for p in &self.parties {
                let j = |v: &Option<serde_json::Value>| {
                    v.as_ref()
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into())
                };
                let _ = writeln!(
                    s,
                    "{:<14} {:>5} {:>5} {:<10} {:<10} {:<9} {}",
                    p.host,
                    p.index,
                    p.exit.map(|e| e.to_string()).unwrap_or_else(|| "-".into()),
                    j(&p.result),
                    j(&p.expected),
                    secs(p.elapsed_s),
                    p.error.as_deref().unwrap_or("")
                );
            }
            for p in self.parties.iter().filter(|p| p.contract != "e3-json") {
                for (what, lines) in [("stdout", &p.stdout_tail), ("stderr", &p.stderr_tail)] {
                    for l in lines.iter().rev().take(3).rev() {
                        let _ = writeln!(s, "  {} {what}: {l}", p.host);
                    }
                }
            }
            let _ = writeln!(s, "MPyC wall time: {}", secs(self.mpc_wall_s));
            if let Some(agree) = self.outputs_agree {
                let _ = writeln!(
                    s,
                    "outputs agree: {}",
                    if agree {
                        "yes"
                    } else {
                        "NO: the parties printed different outputs"
                    }
                );
            }
        } else {
            let _ = writeln!(s, "\nMPyC: not run");
        }
        if !self.exposure.is_empty() {
            let list = |v: &[String]| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.join(",")
                }
            };
            let _ = writeln!(
                s,
                "\n{:<14} {:<15} {:<20} {:<20} {:<14} INFRASTRUCTURE",
                "EXPOSURE OF", "ADDRESS", "SEEN BY PEERS", "TOLD TO PEERS", "LAN TOLD TO"
            );
            for (party, e) in &self.exposure {
                let unknown = || "(not shown)".to_string();
                let _ = writeln!(
                    s,
                    "{:<14} {:<15} {:<20} {:<20} {:<14} {}",
                    party,
                    e.address,
                    list(&e.peers),
                    e.told.as_deref().map_or_else(unknown, list),
                    e.lan_told.as_deref().map_or_else(unknown, list),
                    list(&e.infrastructure)
                );
            }
        }
        if let Some(w) = &self.wan {
            let _ = writeln!(
                s,
                "plaintext program traffic on the internet segment: {}",
                if w.mpyc_plaintext {
                    format!("YES, {} packets", w.mpyc_plaintext_packets)
                } else {
                    "none".to_string()
                }
            );
        }
        if let Some(w) = &self.wire {
            let _ = writeln!(
                s,
                "wire: {} bytes in {} frames on the internet segment during the run, for {} bytes of program payload{}",
                w.bytes,
                w.packets,
                w.payload_bytes,
                w.ratio.map(|r| format!(" ({r:.2}×)")).unwrap_or_default()
            );
        }

        if !self.faults.is_empty() {
            let _ = writeln!(s, "\nFAULTS");
            for f in &self.faults {
                let _ = writeln!(
                    s,
                    "at {:>6.2} s  {} {}: {}",
                    f.applied_s.unwrap_or(f.at_s),
                    f.action,
                    f.target,
                    f.outcome
                );
                for r in &f.pairs {
                    let _ = writeln!(
                        s,
                        "    {:<14} {:<14} {}",
                        r.a,
                        r.b,
                        match r.after_s {
                            Some(t) if r.recovered => format!("recovered after {t:.2} s"),
                            _ => "did NOT recover".to_string(),
                        }
                    );
                }
            }
            if let Some(survived) = self.mpc_survived {
                let _ = writeln!(
                    s,
                    "MPyC {} the faults",
                    if survived {
                        "survived"
                    } else {
                        "did NOT survive"
                    }
                );
            }
        }
        for d in &self.diagnosis {
            let _ = writeln!(s, "diagnosis: {d}");
        }
        let p = &self.phases;
        let _ = writeln!(
            s,
            "\nphases: setup {:.1} s, overlay {:.1} s, MPyC {:.1} s, report {:.1} s, teardown {:.1} s",
            p.setup_s, p.overlay_s, p.mpc_s, p.report_s, p.teardown_s
        );
        let _ = writeln!(s, "verdict: {} (total {:.1} s)", self.verdict, self.total_s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::privacy::PartyExposure;
    use crate::sim::RouteKind;

    /// A pair and an exposure entry serialise as before the names and the
    /// route were typed: bare strings.
    #[test]
    fn pairs_and_exposure_keep_their_json() {
        let pair = PairReport {
            a: "alice".into(),
            b: "bob".into(),
            route: RouteKind::Relayed,
            via: Some("lighthouse".into()),
            evidence: "nebula hostmap: no current remote, relayed by 10.9.255.1".into(),
            up_s: Some(1.5),
            rtt_model_ms: None,
            rtt_ms: None,
        };
        assert_eq!(
            serde_json::to_string(&pair).unwrap(),
            r#"{"a":"alice","b":"bob","route":"relayed","via":"lighthouse","evidence":"nebula hostmap: no current remote, relayed by 10.9.255.1","up_s":1.5,"rtt_model_ms":null,"rtt_ms":null}"#
        );
        let exposure: std::collections::BTreeMap<HostName, PartyExposure> = [(
            HostName::from("carol"),
            PartyExposure {
                address: std::net::Ipv4Addr::new(198, 18, 128, 3),
                peers: vec!["alice".into()],
                told: None,
                lan_told: Some(Vec::new()),
                infrastructure: Vec::new(),
            },
        )]
        .into();
        let json = serde_json::to_string(&exposure).unwrap();
        assert_eq!(
            json,
            r#"{"carol":{"address":"198.18.128.3","peers":["alice"],"told":null,"lan_told":[],"infrastructure":[]}}"#
        );
        // A grid cell's cache file reads it back.
        let back: std::collections::BTreeMap<HostName, PartyExposure> =
            serde_json::from_str(&json).unwrap();
        assert_eq!(back, exposure);
    }
}
