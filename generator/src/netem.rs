//! Latency and packet loss of a simulated topology as Linux traffic control
//! (iproute2 `tc`): the plan's one-way delays (`simulation.latency`) and
//! `simulation.loss`, shaped on every host's interface to the internet
//! segment as it sends. Pure: no IO.
//!
//! Every packet on the internet segment is sent by exactly one host attached
//! to it (a public party, a control host, a router's or carrier's WAN side),
//! so shaping each sender's egress adds each one-way delay once per direction
//! and drops each packet with the loss probability once. Per destination: an
//! HTB root whose default class carries unshaped traffic, one class per
//! distinct delay with a netem child, and u32 filters on the destination
//! address. Used by the NixOS VM test (`tests/nat.nix`); the lab reports
//! latency as not applied because this kernel has no netem.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::plan::{Host, Plan, Role};

/// What one host on the internet segment does to the packets it sends there.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaping {
    pub host: String,
    /// One-way delay in ms towards each other host on the internet segment
    /// (only delays above zero), sorted by address.
    pub delays: Vec<(Ipv4Addr, f64)>,
    /// Loss in percent on everything sent to the internet segment.
    pub loss_percent: f64,
}

impl Shaping {
    /// The `tc` commands that shape `dev`, one per line, to run in order on
    /// an interface without a root qdisc of its own.
    pub fn tc_commands(&self, dev: &str) -> Vec<String> {
        let loss = if self.loss_percent > 0.0 { format!(" loss {}%", self.loss_percent) } else { String::new() };
        let mut classes: BTreeMap<u64, Vec<Ipv4Addr>> = BTreeMap::new();
        for (address, ms) in &self.delays {
            classes.entry((ms * 10.0).round() as u64).or_default().push(*address);
        }
        // Class and handle numbers are hexadecimal in tc: the default class
        // is 1:10, delay classes 1:11, 1:12, ...
        let mut out = vec![format!("tc qdisc replace dev {dev} root handle 1: htb default 10"), format!("tc class add dev {dev} parent 1: classid 1:10 htb rate 10gbit quantum 1514")];
        if !loss.is_empty() {
            out.push(format!("tc qdisc add dev {dev} parent 1:10 handle 10: netem{loss}"));
        }
        for (k, (tenths, addresses)) in classes.iter().enumerate() {
            let id = format!("{:x}", 0x11 + k);
            out.push(format!("tc class add dev {dev} parent 1: classid 1:{id} htb rate 10gbit quantum 1514"));
            out.push(format!("tc qdisc add dev {dev} parent 1:{id} handle {id}: netem delay {}.{}ms{loss}", tenths / 10, tenths % 10));
            for a in addresses {
                out.push(format!("tc filter add dev {dev} parent 1: protocol ip prio 1 u32 match ip dst {a}/32 flowid 1:{id}"));
            }
        }
        out
    }
}

/// The address of a host on the internet segment, if it has one.
pub fn internet_address(h: &Host) -> Option<Ipv4Addr> {
    h.interfaces.iter().find(|i| i.segment == "internet").map(|i| i.address)
}

/// The party names a host on the internet segment sends for: its own party,
/// or a router's or carrier's site's parties (explicit latency pairs name
/// parties).
fn represented_parties<'a>(plan: &'a Plan, h: &'a Host) -> Vec<&'a str> {
    match h.role {
        Role::Party => h.party.as_deref().into_iter().collect(),
        Role::Router | Role::Carrier => plan
            .sites
            .iter()
            .filter(|s| Some(&s.name) == h.site.as_ref())
            .flat_map(|s| s.hosts.iter())
            .filter_map(|n| plan.host(n))
            .filter_map(|p| p.party.as_deref())
            .collect(),
        _ => Vec::new(),
    }
}

/// One-way delay in ms from `a` to `b` (both on the internet segment).
fn delay(plan: &Plan, a: &Host, b: &Host) -> f64 {
    match plan.latency.model {
        "regions" => {
            let (Some(ra), Some(rb)) = (&a.region, &b.region) else { return 0.0 };
            plan.latency.pairs.iter().find(|p| (&p.a == ra && &p.b == rb) || (&p.a == rb && &p.b == ra)).map_or(0.0, |p| p.one_way_ms)
        }
        "explicit" => {
            let (pa, pb) = (represented_parties(plan, a), represented_parties(plan, b));
            plan.latency
                .pairs
                .iter()
                .filter(|p| (pa.contains(&p.a.as_str()) && pb.contains(&p.b.as_str())) || (pa.contains(&p.b.as_str()) && pb.contains(&p.a.as_str())))
                .map(|p| p.one_way_ms)
                .fold(0.0, f64::max)
        }
        _ => 0.0,
    }
}

/// The shaping of every host on the internet segment that has something to
/// shape, in plan order. A site's delay to another, when explicit pairs
/// give its parties different ones, is the largest.
pub fn shaping(plan: &Plan) -> Vec<Shaping> {
    let attached: Vec<(&Host, Ipv4Addr)> = plan.hosts.iter().filter_map(|h| internet_address(h).map(|a| (h, a))).collect();
    let mut out = Vec::new();
    for (h, own) in &attached {
        let mut delays: Vec<(Ipv4Addr, f64)> =
            attached.iter().filter(|(o, a)| o.name != h.name && a != own).map(|(o, a)| (*a, delay(plan, h, o))).filter(|(_, d)| *d > 0.0).collect();
        delays.sort_by_key(|(a, _)| *a);
        if !delays.is_empty() || plan.loss_percent > 0.0 {
            out.push(Shaping { host: h.name.clone(), delays, loss_percent: plan.loss_percent });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str) -> Plan {
        let checked = crate::check(&crate::load::ScenarioRef::Bundled(name.into()));
        crate::plan::plan(&checked.scenario.expect("bundled scenarios are valid"))
    }

    #[test]
    fn regions_give_each_direction_its_one_way_delay() {
        let p = plan("wireguard-hub");
        let s = shaping(&p);
        // The hub and the three sites' internet-side routers/carriers.
        let names: Vec<&str> = s.iter().map(|x| x.host.as_str()).collect();
        assert_eq!(names, ["hub", "fsn-router", "hel-router", "nbg-carrier"]);
        let fsn = s.iter().find(|x| x.host == "fsn-router").unwrap();
        let hel_wan = internet_address(p.host("hel-router").unwrap()).unwrap();
        let fsn_hel = p.latency.pairs.iter().find(|x| x.a == "fsn1" && x.b == "hel1").unwrap().one_way_ms;
        assert!(fsn.delays.contains(&(hel_wan, fsn_hel)), "{fsn:?}");
        let hel = s.iter().find(|x| x.host == "hel-router").unwrap();
        let fsn_wan = internet_address(p.host("fsn-router").unwrap()).unwrap();
        assert!(hel.delays.contains(&(fsn_wan, fsn_hel)), "{hel:?}");
        // The hub is in fsn1: no delay to fsn's router.
        let hub = s.iter().find(|x| x.host == "hub").unwrap();
        assert!(hub.delays.iter().all(|(a, _)| *a != fsn_wan), "{hub:?}");
    }

    #[test]
    fn tc_commands_group_destinations_by_delay() {
        let s = Shaping {
            host: "x".into(),
            delays: vec![(Ipv4Addr::new(198, 18, 0, 1), 10.0), (Ipv4Addr::new(198, 18, 0, 2), 1.5), (Ipv4Addr::new(198, 18, 0, 3), 10.0)],
            loss_percent: 0.0,
        };
        let c = s.tc_commands("wan");
        assert_eq!(
            c,
            [
                "tc qdisc replace dev wan root handle 1: htb default 10",
                "tc class add dev wan parent 1: classid 1:10 htb rate 10gbit quantum 1514",
                "tc class add dev wan parent 1: classid 1:11 htb rate 10gbit quantum 1514",
                "tc qdisc add dev wan parent 1:11 handle 11: netem delay 1.5ms",
                "tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.2/32 flowid 1:11",
                "tc class add dev wan parent 1: classid 1:12 htb rate 10gbit quantum 1514",
                "tc qdisc add dev wan parent 1:12 handle 12: netem delay 10.0ms",
                "tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.1/32 flowid 1:12",
                "tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.3/32 flowid 1:12",
            ]
        );
        let lossy = Shaping { loss_percent: 2.5, delays: vec![], ..s };
        assert_eq!(lossy.tc_commands("eth1")[2], "tc qdisc add dev eth1 parent 1:10 handle 10: netem loss 2.5%");
    }
}
