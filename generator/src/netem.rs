//! Latency and packet loss of a simulated topology as Linux traffic control
//! (iproute2 `tc`): which host shapes which destinations with which one-way
//! delay (`simulation.latency`) and loss (`simulation.loss`), and the `tc`
//! commands that do it. One model for both simulations: the NixOS VM test
//! (`tests/nat.nix`, [`crate::render::vmtest`], which joins the commands
//! into a oneshot unit's script) and the netns lab (`e3 sim`,
//! [`crate::sim::latency`], which runs them in the hosts' namespaces). The
//! callers name the device, since their interface names differ. Pure: no IO.
//!
//! # Where: each sender's edge onto the internet segment
//!
//! Every host attached to the internet segment (a public party, a control
//! host — control server, lighthouse, hub, bootstrap node — and the WAN side
//! of a router or of a `cgnat` site's carrier) shapes what it sends onto the
//! segment, by destination address. Each packet that crosses the internet is
//! put on it by exactly one of these hosts, after any NAT on its way out, so
//! it waits its one-way delay once and is dropped with the loss probability
//! once, whoever sent it. A round trip takes 2 × one-way, each direction
//! shaped by its own sender.
//!
//! - **A site is one place.** Its parties share a LAN and, behind NAT, one
//!   public address; the host that puts their packets on the internet (the
//!   router, or for `cgnat` the carrier: the home router sits on the carrier
//!   segment) shapes for all of them. Traffic between parties of one site
//!   never crosses the internet and gets no delay.
//! - **Destinations** are the addresses at which a host is reached over the
//!   internet: each attached host's own, and the public addresses of a
//!   `firewall` site's parties (routed through their router). A NAT site's
//!   parties are all reached at its public address.
//! - **Relayed paths add up their legs.** A relay (Nebula's lighthouse, the
//!   WireGuard hub, the DERP server on the control host, a tinc bootstrap
//!   node) is an attached host like any other: party → relay and relay →
//!   party are two crossings with their own delays.
//!
//! Shaping at each party instead (its own egress, by the destination's public
//! address, as the lab once did) knows the sender exactly but not the
//! receiver, since a NAT site's parties share one public address: where they
//! differ, a site's delay to a peer would differ between the two directions.
//! It also leaves out whatever a router or carrier sends itself. At the edge,
//! both ends of every shaped packet are places, so each pair of places has
//! one delay, the same both ways.
//!
//! # Which delay
//!
//! - `regions`: the plan's delay between the two hosts' regions; none within
//!   a region or for a host without one. A router's and a carrier's region is
//!   its site's, which is its first party's (a site is one place, so another
//!   party of the site naming another region does not move it).
//! - explicit pairs name parties: an attached host stands for the parties it
//!   puts on the internet (a public party for itself, a router or carrier for
//!   its site's, a control host for none), and its delay to another is the
//!   largest pair between the two. Control hosts belong to no party, so the
//!   legs of a relayed path carry no delay under explicit pairs (use
//!   `regions` to compare relayed and direct paths).
//!
//! # How
//!
//! An HTB root (`1:`) whose default class `1:10` carries what has no delay
//! (with a netem child for the loss, if any), one HTB class per distinct
//! delay from `1:11` on in increasing order of delay with a netem child, and
//! one u32 filter per destination address pointing at its delay's class. The
//! classes get 10 Gbit/s, far above what the links carry, so only netem
//! shapes. Delays are given in microseconds' precision, tc's resolution.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::plan::{Host, Plan};

/// Whether the shaping carries `simulation.loss` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// netem drops the packets (the VM test).
    Netem,
    /// Loss is made elsewhere (the lab drops on its internet bridge with
    /// nftables, which needs no netem): delays only.
    Elsewhere,
}

/// What one host on the internet segment does to the packets it sends there.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaping {
    pub host: String,
    /// One-way delay in ms towards each address reached over the internet
    /// (only delays above zero), sorted by address.
    pub delays: Vec<(Ipv4Addr, f64)>,
    /// Loss in percent on everything sent to the internet segment.
    pub loss_percent: f64,
}

/// The address of a host on the internet segment, if it has one.
pub fn internet_address(h: &Host) -> Option<Ipv4Addr> {
    h.interfaces
        .iter()
        .find(|i| i.segment.is_internet())
        .map(|i| i.address)
}

/// The host that puts `h`'s packets on the internet: `h` itself if it is
/// attached there, else its site's router, or a `cgnat` site's carrier.
pub fn edge<'a>(plan: &'a Plan, h: &'a Host) -> Option<&'a Host> {
    if internet_address(h).is_some() {
        return Some(h);
    }
    let site = plan
        .sites
        .iter()
        .find(|s| Some(&s.name) == h.site.as_ref())?;
    plan.host(site.carrier.as_deref().unwrap_or(&site.router))
        .filter(|e| internet_address(e).is_some())
}

/// A host on the internet segment: a place.
struct Place<'a> {
    host: &'a Host,
    /// Addresses at which it and the hosts behind it are reached.
    reached_at: Vec<Ipv4Addr>,
    /// Party names it stands for (explicit pairs name parties).
    parties: BTreeSet<&'a str>,
}

fn places(plan: &Plan) -> Vec<Place<'_>> {
    let mut out: Vec<Place> = plan
        .hosts
        .iter()
        .filter_map(|h| {
            internet_address(h).map(|a| Place {
                host: h,
                reached_at: vec![a],
                parties: BTreeSet::new(),
            })
        })
        .collect();
    for h in &plan.hosts {
        let Some(e) = edge(plan, h) else { continue };
        let Some(place) = out.iter_mut().find(|p| p.host.name == e.name) else {
            continue;
        };
        if let Some(party) = h.party.as_deref() {
            place.parties.insert(party);
        }
        if let Some(a) = h.public_address {
            if !place.reached_at.contains(&a) {
                place.reached_at.push(a);
            }
        }
    }
    out
}

/// One-way delay in ms between two places.
fn delay(plan: &Plan, a: &Place, b: &Place) -> f64 {
    match plan.latency.model {
        "regions" => {
            let (Some(ra), Some(rb)) = (&a.host.region, &b.host.region) else {
                return 0.0;
            };
            if ra == rb {
                return 0.0;
            }
            plan.latency
                .pairs
                .iter()
                .find(|p| (&p.a == ra && &p.b == rb) || (&p.a == rb && &p.b == ra))
                .map_or(0.0, |p| p.one_way_ms)
        }
        "explicit" => plan
            .latency
            .pairs
            .iter()
            .filter(|p| {
                let (x, y) = (p.a.as_str(), p.b.as_str());
                (a.parties.contains(x) && b.parties.contains(y))
                    || (a.parties.contains(y) && b.parties.contains(x))
            })
            .map(|p| p.one_way_ms)
            .fold(0.0, f64::max),
        _ => 0.0,
    }
}

/// The model's one-way delay in ms between two hosts of the plan: between
/// the places ([`edge`]s) that put their packets on the internet; 0 when
/// they share one (a site's parties) or one has none.
pub fn one_way_ms(plan: &Plan, a: &Host, b: &Host) -> f64 {
    let (Some(ea), Some(eb)) = (edge(plan, a), edge(plan, b)) else {
        return 0.0;
    };
    if ea.name == eb.name {
        return 0.0;
    }
    let all = places(plan);
    let find = |h: &Host| all.iter().find(|p| p.host.name == h.name);
    match (find(ea), find(eb)) {
        (Some(pa), Some(pb)) => delay(plan, pa, pb),
        _ => 0.0,
    }
}

/// The model's round trip in ms between two hosts on the path they use:
/// direct, or through `via` (a relay host: two legs, each both ways).
pub fn rtt_model_ms(plan: &Plan, a: &Host, b: &Host, via: Option<&Host>) -> f64 {
    let one_way = match via {
        Some(r) => one_way_ms(plan, a, r) + one_way_ms(plan, r, b),
        None => one_way_ms(plan, a, b),
    };
    (2.0 * one_way * 1000.0).round() / 1000.0
}

/// Microseconds, tc's resolution.
fn micros(ms: f64) -> u64 {
    (ms * 1000.0).round() as u64
}

/// The shaping of every host on the internet segment that has something to
/// shape, in plan order.
pub fn shaping(plan: &Plan, loss: Loss) -> Vec<Shaping> {
    let places = places(plan);
    let loss_percent = if loss == Loss::Netem {
        plan.loss_percent
    } else {
        0.0
    };
    let mut out = Vec::new();
    for a in &places {
        let mut delays: Vec<(Ipv4Addr, f64)> = Vec::new();
        for b in places.iter().filter(|b| b.host.name != a.host.name) {
            let d = delay(plan, a, b);
            if micros(d) > 0 {
                delays.extend(
                    b.reached_at
                        .iter()
                        .filter(|x| !a.reached_at.contains(x))
                        .map(|x| (*x, d)),
                );
            }
        }
        delays.sort_by_key(|(x, _)| *x);
        delays.dedup_by_key(|(x, _)| *x);
        if !delays.is_empty() || loss_percent > 0.0 {
            out.push(Shaping {
                host: a.host.name.to_string(),
                delays,
                loss_percent,
            });
        }
    }
    out
}

/// A delay as tc reads it: milliseconds, to the microsecond (`2.7ms`,
/// `40ms`, `0.25ms`).
fn delay_arg(us: u64) -> String {
    let (ms, rest) = (us / 1000, us % 1000);
    if rest == 0 {
        format!("{ms}ms")
    } else {
        format!("{ms}.{}ms", format!("{rest:03}").trim_end_matches('0'))
    }
}

impl Shaping {
    /// The `tc` commands (argument vectors, `tc` first) that shape `dev`,
    /// to run in order on an interface without a root qdisc of its own.
    /// Every argument is a plain word: joined by spaces they are shell lines.
    pub fn commands(&self, dev: &str) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        if self.delays.is_empty() && self.loss_percent <= 0.0 {
            return out;
        }
        let mut tc = |args: &[&str]| {
            out.push(
                std::iter::once("tc")
                    .chain(args.iter().copied())
                    .map(str::to_string)
                    .collect(),
            )
        };
        let loss = format!("{}%", self.loss_percent);
        let lossy = self.loss_percent > 0.0;
        let mut classes: BTreeMap<u64, Vec<Ipv4Addr>> = BTreeMap::new();
        for (address, ms) in &self.delays {
            classes.entry(micros(*ms)).or_default().push(*address);
        }
        // Class and handle numbers are hexadecimal in tc: the default class
        // is 1:10, delay classes 1:11, 1:12, ...
        tc(&[
            "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "10",
        ]);
        tc(&[
            "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit",
            "quantum", "1514",
        ]);
        if lossy {
            tc(&[
                "qdisc", "add", "dev", dev, "parent", "1:10", "handle", "10:", "netem", "loss",
                &loss,
            ]);
        }
        for (k, (us, addresses)) in classes.iter().enumerate() {
            let id = format!("{:x}", 0x11 + k);
            let (class, handle, delay) = (format!("1:{id}"), format!("{id}:"), delay_arg(*us));
            tc(&[
                "class", "add", "dev", dev, "parent", "1:", "classid", &class, "htb", "rate",
                "10gbit", "quantum", "1514",
            ]);
            let mut netem = vec![
                "qdisc", "add", "dev", dev, "parent", &class, "handle", &handle, "netem", "delay",
                &delay,
            ];
            if lossy {
                netem.extend(["loss", &loss]);
            }
            tc(&netem);
            for a in addresses {
                tc(&[
                    "filter",
                    "add",
                    "dev",
                    dev,
                    "parent",
                    "1:",
                    "protocol",
                    "ip",
                    "prio",
                    "1",
                    "u32",
                    "match",
                    "ip",
                    "dst",
                    &format!("{a}/32"),
                    "flowid",
                    &class,
                ]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled(name: &str) -> Plan {
        let checked = crate::check(&crate::load::ScenarioRef::Bundled(name.into()));
        crate::plan::plan(
            &checked
                .into_scenario()
                .expect("bundled scenarios are valid"),
        )
    }

    fn plan(yaml: &str) -> Plan {
        let checked = crate::check_text("latency.yaml", yaml.as_bytes());
        crate::plan::plan(
            checked
                .scenario()
                .unwrap_or_else(|| panic!("invalid scenario: {:?}", checked.diagnostics)),
        )
    }

    fn of<'a>(s: &'a [Shaping], host: &str) -> &'a [(Ipv4Addr, f64)] {
        s.iter()
            .find(|x| x.host == host)
            .map_or(&[], |x| x.delays.as_slice())
    }

    fn wan(p: &Plan, host: &str) -> Ipv4Addr {
        internet_address(p.host(host).unwrap()).unwrap()
    }

    const THREE_REGIONS: &str = "connectivity: { backend: nebula }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean }\nparties:\n  - { name: ams, region: ams3 }\n  - { name: nyc, region: nyc3, nat: easy }\n  - { name: ams2, region: ams3, nat: hard }\nsimulation: { latency: regions }\n";

    #[test]
    fn regions_give_each_direction_its_one_way_delay() {
        let p = bundled("wireguard-hub");
        let s = shaping(&p, Loss::Netem);
        // The hub and the three sites' internet-side routers/carriers.
        let names: Vec<&str> = s.iter().map(|x| x.host.as_str()).collect();
        assert_eq!(names, ["hub", "fsn-router", "hel-router", "nbg-carrier"]);
        let fsn_hel = p
            .latency
            .pairs
            .iter()
            .find(|x| x.a == "fsn1" && x.b == "hel1")
            .unwrap()
            .one_way_ms;
        assert!(
            of(&s, "fsn-router").contains(&(wan(&p, "hel-router"), fsn_hel)),
            "{s:?}"
        );
        assert!(
            of(&s, "hel-router").contains(&(wan(&p, "fsn-router"), fsn_hel)),
            "{s:?}"
        );
        // The hub is in fsn1: no delay to fsn's router.
        assert!(
            of(&s, "hub")
                .iter()
                .all(|(a, _)| *a != wan(&p, "fsn-router")),
            "{s:?}"
        );
    }

    #[test]
    fn nat_sites_are_shaped_by_their_router_at_their_public_address() {
        let p = plan(THREE_REGIONS);
        let s = shaping(&p, Loss::Netem);
        let names: Vec<&str> = s.iter().map(|x| x.host.as_str()).collect();
        // Parties behind NAT do not shape; their routers do.
        assert!(
            !names.contains(&"nyc")
                && !names.contains(&"ams2")
                && names.contains(&"nyc-router")
                && names.contains(&"ams2-router"),
            "{names:?}"
        );
        let ams_nyc = p
            .latency
            .pairs
            .iter()
            .find(|x| (x.a == "ams3" && x.b == "nyc3") || (x.a == "nyc3" && x.b == "ams3"))
            .unwrap()
            .one_way_ms;
        assert!(ams_nyc > 30.0, "{ams_nyc}");
        // ams → nyc's NAT address; ams2 (same region) gets nothing.
        let nyc_public = p.host("nyc").unwrap().public_address.unwrap();
        assert_eq!(nyc_public, wan(&p, "nyc-router"));
        assert_eq!(of(&s, "ams"), [(nyc_public, ams_nyc)]);
        assert_eq!(of(&s, "ams2-router"), [(nyc_public, ams_nyc)]);
        // Symmetric: every delay a → b has its twin b → a.
        for x in &s {
            let own = wan(&p, &x.host);
            for (dst, ms) in &x.delays {
                let back = s
                    .iter()
                    .find(|y| y.host != x.host && wan(&p, &y.host) == *dst)
                    .unwrap();
                assert!(
                    back.delays.contains(&(own, *ms)),
                    "{} → {dst} {ms} ms, but not back: {back:?}",
                    x.host
                );
            }
        }
    }

    #[test]
    fn explicit_pairs_name_parties_and_none_adds_nothing() {
        let p = plan("connectivity: { backend: direct }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean, region: ams3 }\nparties:\n  - { name: a }\n  - { name: b, count: 2 }\n  - { name: c }\nsimulation:\n  latency:\n    - { between: [a, b], delay: 40ms }\n");
        let s = shaping(&p, Loss::Netem);
        let names: Vec<&str> = s.iter().map(|x| x.host.as_str()).collect();
        assert_eq!(names, ["a", "b-0", "b-1"], "{s:?}");
        assert_eq!(
            of(&s, "a"),
            [(wan(&p, "b-0"), 40.0), (wan(&p, "b-1"), 40.0)]
        );
        assert_eq!(of(&s, "b-1"), [(wan(&p, "a"), 40.0)]);
        let none = plan(&THREE_REGIONS.replace("latency: regions", "latency: none"));
        assert!(shaping(&none, Loss::Netem).is_empty());
    }

    #[test]
    fn a_site_is_one_place_firewall_parties_are_destinations_cgnat_is_shaped_by_its_carrier() {
        let p = plan(
            "connectivity: { backend: nebula }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean, region: ams3 }\nparties:\n  - { name: pub }\n  - { name: x, nat: easy, site: flat }\n  - { name: y, nat: easy, site: flat }\n  - { name: fw, nat: firewall }\n  - { name: cg, nat: cgnat }\nsimulation:\n  latency:\n    - { between: [pub, x], delay: 10ms }\n    - { between: [pub, y], delay: 0.25ms }\n    - { between: [x, y], delay: 3ms }\n    - { between: [fw, cg], delay: 7ms }\n  loss: 1%\n",
        );
        let s = shaping(&p, Loss::Netem);
        let (flat, cg) = (wan(&p, "flat-router"), wan(&p, "cg-carrier"));
        // The site's delay is the largest of its parties', in both directions;
        // x and y share a LAN: their pair never crosses the internet.
        assert_eq!(of(&s, "pub"), [(flat, 10.0)]);
        assert_eq!(of(&s, "flat-router"), [(wan(&p, "pub"), 10.0)]);
        // A firewall party is reached at its own address, through its router.
        let fw = p.host("fw").unwrap().public_address.unwrap();
        assert_ne!(fw, wan(&p, "fw-router"));
        assert_eq!(
            of(&s, "cg-carrier"),
            [(wan(&p, "fw-router"), 7.0), (fw, 7.0)]
        );
        assert_eq!(of(&s, "fw-router"), [(cg, 7.0)]);
        // cgnat: the carrier is on the internet, the home router is not.
        assert!(
            s.iter()
                .all(|x| x.host != "cg-router" && x.host != "cg" && x.host != "fw"),
            "{s:?}"
        );
        // Loss on every attached host, delays or not (the lighthouse has none).
        assert!(
            s.iter()
                .any(|x| x.host == "lighthouse" && x.delays.is_empty() && x.loss_percent == 1.0),
            "{s:?}"
        );
        assert!(s.iter().all(|x| x.loss_percent == 1.0));
        // Without netem loss, only hosts with delays, and no loss.
        let delays_only = shaping(&p, Loss::Elsewhere);
        let names: Vec<&str> = delays_only.iter().map(|x| x.host.as_str()).collect();
        assert_eq!(names, ["pub", "flat-router", "fw-router", "cg-carrier"]);
        assert!(delays_only
            .iter()
            .all(|x| x.loss_percent == 0.0
                && s.iter().any(|y| y.host == x.host && y.delays == x.delays)));
    }

    #[test]
    fn commands_group_destinations_by_delay() {
        let s = Shaping {
            host: "x".into(),
            delays: vec![
                (Ipv4Addr::new(198, 18, 0, 1), 10.0),
                (Ipv4Addr::new(198, 18, 0, 2), 1.5),
                (Ipv4Addr::new(198, 18, 0, 3), 10.0),
            ],
            loss_percent: 0.0,
        };
        let lines: Vec<String> = s.commands("wan").iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "tc qdisc replace dev wan root handle 1: htb default 10",
                "tc class add dev wan parent 1: classid 1:10 htb rate 10gbit quantum 1514",
                "tc class add dev wan parent 1: classid 1:11 htb rate 10gbit quantum 1514",
                "tc qdisc add dev wan parent 1:11 handle 11: netem delay 1.5ms",
                "tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.2/32 flowid 1:11",
                "tc class add dev wan parent 1: classid 1:12 htb rate 10gbit quantum 1514",
                "tc qdisc add dev wan parent 1:12 handle 12: netem delay 10ms",
                "tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.1/32 flowid 1:12",
                "tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.3/32 flowid 1:12",
            ]
        );
        let lossy = Shaping {
            loss_percent: 2.5,
            ..s.clone()
        };
        let lines: Vec<String> = lossy.commands("eth1").iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            lines[2],
            "tc qdisc add dev eth1 parent 1:10 handle 10: netem loss 2.5%"
        );
        assert_eq!(
            lines[4],
            "tc qdisc add dev eth1 parent 1:11 handle 11: netem delay 1.5ms loss 2.5%"
        );
        assert!(Shaping {
            delays: vec![],
            ..s.clone()
        }
        .commands("eth0")
        .is_empty());
        // Handles are hexadecimal: the 16th distinct delay is class 1:20, qdisc 20:.
        let many = Shaping {
            delays: (0..16u8)
                .map(|i| (Ipv4Addr::new(198, 18, 1, i + 1), f64::from(i) + 1.0))
                .collect(),
            ..s
        };
        let last = many
            .commands("eth0")
            .iter()
            .map(|c| c.join(" "))
            .find(|l| l.contains("delay 16ms"))
            .unwrap();
        assert_eq!(
            last,
            "tc qdisc add dev eth0 parent 1:20 handle 20: netem delay 16ms"
        );
    }

    #[test]
    fn round_trips_of_direct_and_relayed_paths_add_up_the_shaped_legs() {
        let p = plan(THREE_REGIONS);
        let host = |n: &str| p.host(n).unwrap();
        let s = shaping(&p, Loss::Elsewhere);
        let ams_nyc = of(&s, "ams")
            .iter()
            .find(|(a, _)| *a == wan(&p, "nyc-router"))
            .unwrap()
            .1;
        // Direct: twice what the two edges delay by each other.
        assert_eq!(one_way_ms(&p, host("ams"), host("nyc")), ams_nyc);
        assert_eq!(
            rtt_model_ms(&p, host("ams"), host("nyc"), None),
            2.0 * ams_nyc
        );
        // A site's parties and two hosts of one region: nothing.
        assert_eq!(one_way_ms(&p, host("ams"), host("ams2")), 0.0);
        // Through the lighthouse: its two legs (it sits in one of the regions).
        let lh = host("lighthouse");
        let legs = one_way_ms(&p, host("ams"), lh) + one_way_ms(&p, lh, host("nyc"));
        assert_eq!(legs, ams_nyc, "the lighthouse is in ams3 or nyc3");
        let relayed = rtt_model_ms(&p, host("ams"), host("ams2"), Some(lh));
        let lh_in_ams = lh.region.as_deref() == Some("ams3");
        assert_eq!(relayed, if lh_in_ams { 0.0 } else { 4.0 * ams_nyc });
    }

    #[test]
    fn delays_are_written_to_the_microsecond() {
        assert_eq!(delay_arg(micros(2.7)), "2.7ms");
        assert_eq!(delay_arg(micros(40.0)), "40ms");
        assert_eq!(delay_arg(micros(0.25)), "0.25ms");
        assert_eq!(delay_arg(micros(115.0004)), "115ms");
        assert_eq!(delay_arg(micros(12.3456)), "12.346ms");
        assert_eq!(delay_arg(micros(0.001)), "0.001ms");
    }
}
