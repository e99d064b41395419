//! Per-pair latency for the lab (`simulation.latency`) with the kernel's
//! netem qdisc.
//!
//! Where delay is added: on the egress of every host that sends underlay
//! traffic (parties and the coordinator: control server, lighthouse, hub,
//! bootstrap node), by destination address. A packet from host H to the
//! public address of host G waits the one-way delay d(H, G) in H's netem
//! queue, and G's answer waits d(G, H) = d(H, G) in G's, so a round trip
//! takes 2 × one-way, as between the real regions. A relayed path adds up
//! the legs (party → relay, relay → party), as it does in the real world.
//! Parties behind NAT are shaped before their router, by the destination's
//! public (or NAT) address; parties of one site share a LAN and get no
//! delay between them, and routers add none.
//!
//! The qdisc tree on a host's `eth0`: an HTB root (`1:`) whose default class
//! `1:1` adds nothing, one HTB class per distinct delay with a netem child,
//! and one u32 filter per destination address pointing at its delay's class.
//! HTB classes get 10 Gbit/s, far above what a veth lab carries, so only the
//! delay shapes traffic.
//!
//! Which delay a pair gets: for `latency: regions`, the plan's delay between
//! the two hosts' regions (hosts without a region, or in the same region, get
//! none); for explicit pairs, the delay between the two hosts' parties
//! (infrastructure hosts belong to no party and get none). A destination
//! address shared by several hosts (a NAT site) takes the delay of the first
//! of them in plan order.
//!
//! [`commands`] is pure and tested everywhere; [`apply`] runs the commands
//! and is used only when [`crate::sim`] found that netem works, which is not
//! the case on e3's development machines (their kernel has no netem). There,
//! the tests run every command of the tree with the real `tc` in a real
//! namespace and accept only the kernel's "unknown qdisc kind" for netem
//! itself (see `generator/tests/sim.rs`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::plan::{Host, Plan, Role};

/// Interface that carries a shaped host's underlay traffic (see
/// `ifname` in [`crate::sim`]: parties and infrastructure hosts have `eth0`).
pub const DEV: &str = "eth0";

/// Delays one host adds, by destination address.
#[derive(Debug, Clone, PartialEq)]
pub struct HostDelays {
    pub host: String,
    /// (destination address, one-way delay in ms), in plan order.
    pub to: Vec<(Ipv4Addr, f64)>,
}

fn shaped(h: &Host) -> bool {
    matches!(h.role, Role::Party | Role::Control | Role::Lighthouse | Role::Hub | Role::Bootstrap)
}

/// The one-way delay between two hosts under the plan's latency model.
pub fn delay_between(plan: &Plan, a: &Host, b: &Host) -> f64 {
    let key = |h: &Host| match plan.latency.model {
        "regions" => h.region.clone(),
        "explicit" => h.party.clone(),
        _ => None,
    };
    let (Some(x), Some(y)) = (key(a), key(b)) else { return 0.0 };
    if x == y {
        return 0.0;
    }
    plan.latency.pairs.iter().find(|p| (p.a == x && p.b == y) || (p.a == y && p.b == x)).map_or(0.0, |p| p.one_way_ms)
}

/// Every shaped host's delays toward the other shaped hosts' public
/// addresses; hosts with nothing to delay are left out.
pub fn host_delays(plan: &Plan) -> Vec<HostDelays> {
    let senders: Vec<&Host> = plan.hosts.iter().filter(|h| shaped(h)).collect();
    let mut out = Vec::new();
    for a in &senders {
        let mut to: Vec<(Ipv4Addr, f64)> = Vec::new();
        for b in &senders {
            let Some(dst) = b.public_address else { continue };
            if b.name == a.name || Some(dst) == a.public_address || to.iter().any(|(d, _)| *d == dst) {
                continue;
            }
            let d = delay_between(plan, a, b);
            if d > 0.0 {
                to.push((dst, d));
            }
        }
        if !to.is_empty() {
            out.push(HostDelays { host: a.name.clone(), to });
        }
    }
    out
}

/// Microseconds, the unit the commands use (tc reads `37400us` exactly).
fn micros(ms: f64) -> u64 {
    (ms * 1000.0).round() as u64
}

/// `tc` argument lists that build the qdisc tree of one host on `dev`.
pub fn commands(dev: &str, to: &[(Ipv4Addr, f64)]) -> Vec<Vec<String>> {
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let mut add = |args: &[&str]| cmds.push(args.iter().map(|s| s.to_string()).collect());
    if to.is_empty() {
        return Vec::new();
    }
    add(&["qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "1"]);
    add(&["class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", "10gbit", "quantum", "60000"]);
    // One class (and netem) per distinct delay, numbered from 2 in order of first use.
    let mut classes: BTreeMap<u64, u32> = BTreeMap::new();
    let mut filters = Vec::new();
    for (dst, ms) in to {
        let us = micros(*ms);
        let next = classes.len() as u32 + 2;
        let class = *classes.entry(us).or_insert_with(|| {
            let id = format!("1:{next:x}");
            add(&["class", "add", "dev", dev, "parent", "1:", "classid", &id, "htb", "rate", "10gbit", "quantum", "60000"]);
            add(&["qdisc", "add", "dev", dev, "parent", &id, "handle", &format!("{next:x}:"), "netem", "delay", &format!("{us}us")]);
            next
        });
        filters.push((format!("{dst}/32"), format!("1:{class:x}")));
    }
    for (dst, flow) in filters {
        add(&["filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "dst", &dst, "flowid", &flow]);
    }
    cmds
}

/// Applies the plan's delays in the lab (netem must work). Returns the
/// report's latency line.
pub fn apply(lab: &crate::sim::netns::Lab, plan: &Plan) -> Result<String, String> {
    let all = host_delays(plan);
    let mut pairs = 0;
    for h in &all {
        let ns = lab.ns(&h.host);
        for c in commands(DEV, &h.to) {
            let args: Vec<&str> = c.iter().map(String::as_str).collect();
            crate::sim::netns::ns_run(&ns, "tc", &args).map_err(|e| format!("latency on `{}`: {e}", h.host))?;
        }
        pairs += h.to.len();
    }
    Ok(format!(
        "{} model applied with netem: {pairs} one-way delays on {} hosts (egress, by destination; round trip = 2 × one-way)",
        plan.latency.model,
        all.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(yaml: &str) -> Plan {
        let checked = crate::check_text("latency.yaml", yaml.as_bytes());
        crate::plan::plan(checked.scenario.as_ref().unwrap_or_else(|| panic!("invalid scenario: {:?}", checked.diagnostics)))
    }

    const THREE_REGIONS: &str = "connectivity: { backend: nebula }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean }\nparties:\n  - { name: ams, region: ams3 }\n  - { name: nyc, region: nyc3, nat: easy }\n  - { name: ams2, region: ams3, nat: hard }\nsimulation: { latency: regions }\n";

    #[test]
    fn regions_delay_by_destination_public_address() {
        let p = plan(THREE_REGIONS);
        let d = host_delays(&p);
        let host = |n: &str| p.host(n).unwrap();
        let ams_nyc = p.latency.pairs.iter().find(|x| (x.a == "ams3" && x.b == "nyc3") || (x.a == "nyc3" && x.b == "ams3")).unwrap().one_way_ms;
        assert!(ams_nyc > 30.0, "{ams_nyc}");
        let of = |n: &str| d.iter().find(|h| h.host == n).map(|h| h.to.clone()).unwrap_or_default();
        // ams → nyc's NAT address, ams2 (same region) gets nothing
        assert_eq!(of("ams"), vec![(host("nyc").public_address.unwrap(), ams_nyc)]);
        assert_eq!(of("ams2"), vec![(host("nyc").public_address.unwrap(), ams_nyc)]);
        // nyc → both Amsterdam parties (distinct public addresses) and the lighthouse if it is in Amsterdam
        let nyc = of("nyc");
        assert!(nyc.contains(&(host("ams").public_address.unwrap(), ams_nyc)) && nyc.contains(&(host("ams2").public_address.unwrap(), ams_nyc)), "{nyc:?}");
        let lh = host("lighthouse");
        assert_eq!(delay_between(&p, host("nyc"), lh), delay_between(&p, lh, host("nyc")));
        // symmetric: every delay a→b has its b→a twin
        for h in &d {
            let a = host(&h.host);
            for (dst, ms) in &h.to {
                let b = p.hosts.iter().find(|b| b.public_address == Some(*dst) && shaped(b)).unwrap();
                assert_eq!(delay_between(&p, b, a), *ms);
            }
        }
    }

    #[test]
    fn explicit_pairs_name_parties_and_none_adds_nothing() {
        let p = plan("connectivity: { backend: direct }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean, region: ams3 }\nparties:\n  - { name: a }\n  - { name: b, count: 2 }\n  - { name: c }\nsimulation:\n  latency:\n    - { between: [a, b], delay: 40ms }\n");
        let d = host_delays(&p);
        let names: Vec<&str> = d.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(names, ["a", "b-0", "b-1"], "{d:?}");
        assert_eq!(d[0].to.len(), 2);
        assert!(d[0].to.iter().all(|(_, ms)| *ms == 40.0));
        assert_eq!(d[1].to, vec![(p.host("a").unwrap().public_address.unwrap(), 40.0)]);
        let none = plan(&THREE_REGIONS.replace("latency: regions", "latency: none"));
        assert!(host_delays(&none).is_empty());
    }

    #[test]
    fn one_class_per_distinct_delay_and_one_filter_per_destination() {
        let a = Ipv4Addr::new(198, 18, 1, 2);
        let b = Ipv4Addr::new(198, 18, 128, 1);
        let c = Ipv4Addr::new(198, 18, 0, 1);
        let cmds = commands("eth0", &[(a, 37.4), (b, 12.0), (c, 37.4)]);
        let lines: Vec<String> = cmds.iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "qdisc replace dev eth0 root handle 1: htb default 1",
                "class add dev eth0 parent 1: classid 1:1 htb rate 10gbit quantum 60000",
                "class add dev eth0 parent 1: classid 1:2 htb rate 10gbit quantum 60000",
                "qdisc add dev eth0 parent 1:2 handle 2: netem delay 37400us",
                "class add dev eth0 parent 1: classid 1:3 htb rate 10gbit quantum 60000",
                "qdisc add dev eth0 parent 1:3 handle 3: netem delay 12000us",
                "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.2/32 flowid 1:2",
                "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.1/32 flowid 1:3",
                "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.1/32 flowid 1:2",
            ]
        );
        assert!(commands("eth0", &[]).is_empty());
        // handles are hexadecimal: the 15th distinct delay is class 1:10, qdisc 10:
        let many: Vec<(Ipv4Addr, f64)> = (0..15u8).map(|i| (Ipv4Addr::new(198, 18, 1, i + 1), f64::from(i) + 1.0)).collect();
        let last = commands("eth0", &many).iter().map(|c| c.join(" ")).find(|l| l.contains("15000us")).unwrap();
        assert_eq!(last, "qdisc add dev eth0 parent 1:10 handle 10: netem delay 15000us");
    }
}
