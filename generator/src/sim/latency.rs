//! Latency in the lab (`simulation.latency`): the shaping of
//! [`crate::netem`] (the model the NixOS VM test uses too: each host on the
//! internet segment, a site's router or carrier for its parties, delays what
//! it sends there by destination) on the lab's interface names, run with
//! `tc` in the hosts' namespaces.
//!
//! Loss (`simulation.loss`) is not netem's here: the lab drops packets on
//! its internet bridge with nftables, which needs no netem (see
//! [`crate::nat::loss_ruleset`]), so the shaping is asked for delays only.
//!
//! [`commands`] is pure and tested everywhere; [`apply`] runs them and is
//! used only when [`crate::sim`] found that netem works, which is not the
//! case on e3's development machines (their kernel has no netem). There, the
//! tests run every command with the real `tc` in a real lab and accept only
//! the kernel's "unknown qdisc kind" for netem itself (see
//! `generator/tests/sim.rs`).
//!
//! Without netem the same delays run in e3's delay line
//! ([`super::delay`], which says why it holds packets at the receiving edge
//! by source rather than at the sending one by destination):
//! [`nfqueue_rules`] (pure) are the iptables rules that send what each
//! shaping host receives on its internet interface from a delayed peer
//! address to it, in the `raw` table's `PREROUTING`, before conntrack and
//! NAT see the packet (a packet held after conntrack but before its entry is
//! confirmed would race the next packet of the same new flow).
//! [`apply_nfqueue`] starts the delay line, then adds the rules through the
//! [`crate::sim::netns::Lab`], which registers them for teardown.
//! [`Method`] is what `--latency` asks for and what the report says was
//! applied.

use super::Error;
use crate::netem::{shaping, Loss};
use crate::plan::{Plan, SegmentName};

/// How the lab applies `simulation.latency`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// tc's netem qdisc ([`apply`]).
    Netem,
    /// e3's delay line ([`apply_nfqueue`]).
    Nfqueue,
    /// Not applied.
    None,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Netem => "netem",
            Method::Nfqueue => "nfqueue",
            Method::None => "none",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Method, Error> {
        match s {
            "netem" => Ok(Method::Netem),
            "nfqueue" => Ok(Method::Nfqueue),
            "none" => Ok(Method::None),
            _ => Err(Error::UnknownLatency(s.to_string())),
        }
    }
}

/// The iptables rules of one shaping host: (chain, rule words) for the
/// `raw` table, each ending in `-j NFQUEUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRules {
    pub host: String,
    /// One-way delay in ms from each peer address (what the delay line
    /// holds): netem's delays of this host, which are the same both ways.
    pub delays: Vec<(std::net::Ipv4Addr, f64)>,
    pub rules: Vec<(&'static str, Vec<String>)>,
}

/// The rules that send what each shaping host receives from a delayed peer
/// to the delay line (queue [`super::delay::QUEUE`]).
pub fn nfqueue_rules(plan: &Plan) -> Vec<HostRules> {
    shaping(plan, Loss::Elsewhere)
        .into_iter()
        .filter(|s| !s.delays.is_empty())
        .filter_map(|s| {
            let host = plan.host(&s.host)?;
            let dev = super::ifname(host, &SegmentName::Internet);
            let target = |r: &mut Vec<String>| {
                let q = super::delay::QUEUE.to_string();
                r.extend(["-j", "NFQUEUE", "--queue-num", &q, "--queue-bypass"].map(String::from));
            };
            let mut rules = Vec::new();
            for (peer, _) in &s.delays {
                let src = format!("{peer}/32");
                let mut r: Vec<String> = ["-i", dev, "-s", &src].map(String::from).to_vec();
                target(&mut r);
                rules.push(("PREROUTING", r));
            }
            Some(HostRules {
                host: s.host,
                delays: s.delays,
                rules,
            })
        })
        .collect()
}

/// Starts the delay line for the plan's delays and adds its rules to the
/// lab. Returns it and the report's latency line.
pub fn apply_nfqueue(
    lab: &mut crate::sim::netns::Lab,
    plan: &Plan,
) -> Result<(super::delay::DelayLine, String), Error> {
    if !crate::tools::on_path("iptables") {
        return Err(Error::NoIptables);
    }
    let all = nfqueue_rules(plan);
    let sources = all
        .iter()
        .map(|h| super::delay::Source {
            namespace: lab.ns(&h.host),
            delays: h.delays.clone(),
        })
        .collect();
    let line = super::delay::DelayLine::start(sources)?;
    for h in &all {
        for (chain, rule) in &h.rules {
            lab.add_iptables(&h.host, "raw", chain, rule)
                .map_err(|e| Error::DelayLineRule {
                    host: h.host.clone(),
                    source: Box::new(e),
                })?;
        }
    }
    Ok((
        line,
        format!(
            "{} model applied with e3's delay line (NFQUEUE, no netem in this kernel): {} one-way delays on {} hosts (each host on the internet segment, as it receives from there, by source; round trip = 2 × one-way)",
            plan.latency.model,
            all.iter().map(|h| h.delays.len()).sum::<usize>(),
            all.len()
        ),
    ))
}

/// The `tc` commands of one host of the lab.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCommands {
    pub host: String,
    /// Its interface on the internet segment, as the lab names it: `wan` on
    /// routers and carriers, `eth0` elsewhere.
    pub dev: &'static str,
    /// How many destination addresses it delays (one u32 filter each).
    pub destinations: usize,
    /// Argument vectors, `tc` first, to run in order in its namespace.
    pub commands: Vec<Vec<String>>,
}

/// What the lab runs to apply the plan's delays, host by host.
pub fn commands(plan: &Plan) -> Vec<HostCommands> {
    shaping(plan, Loss::Elsewhere)
        .into_iter()
        .filter_map(|s| {
            let dev = super::ifname(plan.host(&s.host)?, &SegmentName::Internet);
            Some(HostCommands {
                dev,
                destinations: s.delays.len(),
                commands: s.commands(dev),
                host: s.host,
            })
        })
        .collect()
}

/// Applies the plan's delays in the lab (netem must work). Returns the
/// report's latency line.
pub fn apply(lab: &crate::sim::netns::Lab, plan: &Plan) -> Result<String, Error> {
    let all = commands(plan);
    for h in &all {
        let ns = lab.ns(&h.host);
        for c in &h.commands {
            let args: Vec<&str> = c[1..].iter().map(String::as_str).collect();
            crate::sim::netns::ns_run(&ns, &c[0], &args)
                .map_err(|e| e.during(format!("latency on `{}`", h.host)))?;
        }
    }
    Ok(format!(
        "{} model applied with netem: {} one-way delays on {} hosts (each host on the internet segment, as it sends there, by destination; round trip = 2 × one-way)",
        plan.latency.model,
        all.iter().map(|h| h.destinations).sum::<usize>(),
        all.len()
    ))
}

/// What the lab's latency step did.
pub struct Applied {
    pub method: Method,
    /// The report's latency line.
    pub text: String,
    /// The running delay line ([`Method::Nfqueue`]).
    pub delay_line: Option<super::delay::DelayLine>,
}

fn not_applied(text: String) -> Applied {
    Applied {
        method: Method::None,
        text,
        delay_line: None,
    }
}

/// Applies the plan's delays: with `choice` (`--latency`), else netem where
/// the kernel has it and the delay line where it does not.
pub fn apply_choice(
    lab: &mut crate::sim::netns::Lab,
    plan: &Plan,
    choice: Option<Method>,
) -> Result<Applied, Error> {
    let model = plan.latency.model;
    if plan.latency.pairs.is_empty() {
        return Ok(not_applied("none requested".into()));
    }
    if shaping(plan, Loss::Elsewhere)
        .iter()
        .all(|s| s.delays.is_empty())
    {
        return Ok(not_applied(format!(
            "{model} model: nothing to delay (no two places of the lab are apart)"
        )));
    }
    if choice == Some(Method::None) {
        return Ok(not_applied(format!(
            "{model} model requested, NOT applied (`--latency none`)"
        )));
    }
    let netem = choice != Some(Method::Nfqueue) && super::netem_available(lab);
    if netem {
        return Ok(Applied {
            method: Method::Netem,
            text: apply(lab, plan)?,
            delay_line: None,
        });
    }
    if choice == Some(Method::Netem) {
        return Err(Error::NoNetem);
    }
    match apply_nfqueue(lab, plan) {
        Ok((line, text)) => Ok(Applied {
            method: Method::Nfqueue,
            text,
            delay_line: Some(line),
        }),
        Err(e) if choice.is_none() => Ok(not_applied(format!(
            "{model} model requested, NOT applied: this kernel has no netem qdisc, and e3's delay line could not start: {}",
            e
        ))),
        Err(e) => Err(e),
    }
}

/// Round trips by ICMP echo: `rtt.py COUNT WAIT_S TARGET...` sends COUNT
/// rounds of one echo to every target, 10 ms apart, each round after the
/// previous one's answers (or WAIT_S without them), and prints
/// `{target: [ms, ...]}`. A party has about one echo in flight at a time,
/// as when it probed one peer after another, but does not wait out each
/// round trip: the probes take COUNT × (peers × 10 ms + its longest round
/// trip), not COUNT × peers × (round trip + 20 ms) (16 parties: 2.7 s before).
pub const RTT_PROBE: &str = r#"
import json, os, socket, struct, sys, time
def csum(b):
    s = sum((b[i] << 8) + b[i + 1] for i in range(0, len(b) - 1, 2))
    if len(b) % 2: s += b[-1] << 8
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
count = int(sys.argv[1]); wait = float(sys.argv[2]); targets = sys.argv[3:]
ident = os.getpid() & 0xffff; seq = 0; out = {t: [] for t in targets}
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
GAP = 0.01
def collect(pending, until, stop_when_done):
    while not (stop_when_done and not pending):
        left = until - time.monotonic()
        if left <= 0: return
        s.settimeout(left)
        try: d, a = s.recvfrom(2048)
        except socket.timeout: return
        except OSError: time.sleep(min(left, 0.01)); continue
        now = time.monotonic()
        h = (d[0] & 15) * 4
        if len(d) >= h + 8 and d[h] == 0:
            i, q = struct.unpack('!HH', d[h + 4:h + 8])
            if i == ident and q in pending and pending[q][0] == a[0]:
                t, sent = pending.pop(q)
                out[t].append(round((now - sent) * 1000, 3))
# `count` rounds; each sends one echo to every target, GAP s apart, then
# waits (at most `wait` s after the last) for the answers, matched by
# sequence number and source.
for _ in range(count):
    pending = {}
    for t in targets:
        seq = (seq + 1) & 0xffff
        body = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + b'e3-rtt'
        pkt = struct.pack('!BBHHH', 8, 0, csum(body), ident, seq) + b'e3-rtt'
        sent = time.monotonic()
        try:
            s.sendto(pkt, (t, 0))
            pending[seq] = (t, sent)
        except OSError: pass
        collect(pending, sent + GAP, False)
    collect(pending, time.monotonic() + wait, True)
print(json.dumps(out))
"#;

/// The median of some round trips (the mean of the middle two for an even
/// count); `None` for none.
pub fn median(ms: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = ms.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let m = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((m * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(yaml: &str) -> Plan {
        let checked = crate::check_text("latency.yaml", yaml.as_bytes());
        crate::plan::plan(
            checked
                .scenario()
                .unwrap_or_else(|| panic!("invalid scenario: {:?}", checked.diagnostics)),
        )
    }

    #[test]
    fn the_median_of_round_trips() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5.0, 1.0, 100.0]), Some(5.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 7.0]), Some(7.0));
    }

    #[test]
    fn the_lab_shapes_the_shared_model_on_its_own_interfaces_without_loss() {
        let p = plan("connectivity: { backend: nebula }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean }\nparties:\n  - { name: ams, region: ams3 }\n  - { name: nyc, region: nyc3, nat: easy }\n  - { name: sgp, region: sgp1, nat: cgnat }\nsimulation: { latency: regions, loss: 2% }\n");
        let all = commands(&p);
        let devs: Vec<(&str, &str)> = all.iter().map(|h| (h.host.as_str(), h.dev)).collect();
        // The lighthouse is placed in one of the parties' regions; it shapes
        // too (towards the two others).
        assert_eq!(
            devs,
            [
                ("ams", "eth0"),
                ("lighthouse", "eth0"),
                ("nyc-router", "wan"),
                ("sgp-carrier", "wan")
            ]
        );
        let shared = shaping(&p, Loss::Elsewhere);
        for (h, s) in all.iter().zip(&shared) {
            assert_eq!(h.host, s.host);
            assert_eq!(h.commands, s.commands(h.dev));
            assert_eq!(h.destinations, s.delays.len());
            assert_eq!(
                h.commands
                    .iter()
                    .filter(|c| c.contains(&"filter".to_string()))
                    .count(),
                h.destinations
            );
            // Loss is the internet bridge's (nftables), never netem's here.
            assert!(
                h.commands
                    .iter()
                    .all(|c| c[0] == "tc" && !c.contains(&"loss".to_string())),
                "{:?}",
                h.commands
            );
        }
        // The delay line's rules: the same hosts and peers, one rule each,
        // on what arrives from the peer's address.
        let rules = nfqueue_rules(&p);
        for (r, s) in rules.iter().zip(&shared) {
            assert_eq!((&r.host, &r.delays), (&s.host, &s.delays));
            assert_eq!(r.rules.len(), r.delays.len());
        }
        let nyc = rules.iter().find(|r| r.host == "nyc-router").unwrap();
        let lines: Vec<String> = nyc
            .rules
            .iter()
            .map(|(c, r)| format!("{c} {}", r.join(" ")))
            .collect();
        let first = nyc.delays[0].0;
        assert_eq!(
            lines[0],
            format!("PREROUTING -i wan -s {first}/32 -j NFQUEUE --queue-num 16 --queue-bypass")
        );
        assert_eq!("nfqueue".parse::<Method>().ok(), Some(Method::Nfqueue));
        let e = "tc".parse::<Method>().unwrap_err();
        assert_eq!(e.to_string(), "`tc` is no latency method");
        assert_eq!(
            crate::error::Hinted::hint(&e).as_deref(),
            Some("one of `netem`, `nfqueue`, `none`")
        );
        // The VM test's shaping of the same plan carries the loss.
        assert!(shaping(&p, Loss::Netem)
            .iter()
            .all(|s| s.loss_percent == 2.0));
    }
}
