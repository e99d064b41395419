//! Faults injected into a running lab (`e3 lab fault`): links down and up,
//! daemons killed and restarted, a NAT that forgets its mappings (`rebind`)
//! and a host or router that moves to a new public address (`readdress`).
//!
//! Each works on the lab's namespaces as they are, so it applies to a lab
//! of this process or to one reopened by [`super::netns::Lab::attach`]:
//!
//! - `link-down` / `link-up` TARGET: the uplink of a host (`eth0`) or a
//!   router or carrier (its WAN side): `ip link set … down|up`; `up`
//!   restores the routes the kernel removed with the link (the default
//!   route, and the routes of `firewall` sites' LANs on the internet).
//! - `kill` / `restart` TARGET: the overlay daemon started under that host's
//!   name (a party's daemon, the lighthouse, the hub, the bootstrap node,
//!   Headscale, the OpenVPN server): SIGTERM, then SIGKILL; `restart` runs
//!   its command line again (its old log kept as `<log>.1`). WireGuard's
//!   configuration is applied by `wg` after `wireguard-go` starts, so a
//!   WireGuard daemon is not restarted.
//! - `rebind` ROUTER: the router forgets every NAT mapping and gives each
//!   inside (address, port) that had one a new outside port: a rule per
//!   mapping (`masquerade to :PORT`, and for `easyaf` the matching inbound
//!   `dnat`) goes first in its `post` chain, then its conntrack table is
//!   flushed. A `hard` router needs no rules (its ports are random anyway).
//!   `none`, `firewall` and `one2one` translate no ports: an error.
//! - `readdress` TARGET: a public host, or a router or carrier with an
//!   interface on the internet segment, gets a free address of the
//!   internet segment instead of its own (the highest free one): address
//!   replaced, routes restored, a router's NAT table rendered again for the
//!   new address, `firewall` sites' routes on every internet host pointed
//!   at it, conntrack flushed.
//!
//! The target `coordinator` is the backend's control host, whatever its name.
//!
//! [`FaultState`] keeps what the faults changed (current public
//! addresses, how many rebinds) for the next fault and for `e3 lab`'s record.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::netns::{ns_run, Lab};
use super::Error;
use crate::catalogue::{Backend, Nat};
use crate::nat;
use crate::plan::{Host, Plan, Role, SegmentKind};

/// A fault's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    LinkDown,
    LinkUp,
    Kill,
    Restart,
    Rebind,
    Readdress,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::LinkDown,
        Action::LinkUp,
        Action::Kill,
        Action::Restart,
        Action::Rebind,
        Action::Readdress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::LinkDown => "link-down",
            Action::LinkUp => "link-up",
            Action::Kill => "kill",
            Action::Restart => "restart",
            Action::Rebind => "rebind",
            Action::Readdress => "readdress",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = Error;
    fn from_str(s: &str) -> Result<Action, Error> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::UnknownFault(s.to_string()))
    }
}

/// The target that names the backend's control host, whatever it is called
/// (lighthouse, hub, bootstrap node, Headscale's host, the OpenVPN server):
/// for faults that a matrix applies to every backend.
pub const COORDINATOR: &str = "coordinator";

/// What faults changed in a lab, carried from one fault to the next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultState {
    /// Host → its public address now, for every host `readdress` moved.
    pub readdressed: BTreeMap<String, Ipv4Addr>,
    /// Outside ports handed out by `rebind` so far (never handed out twice).
    pub rebound_ports: BTreeSet<u16>,
}

/// The interface a host's uplink is.
fn uplink(h: &Host) -> &'static str {
    match h.role {
        Role::Router | Role::Carrier => nat::WAN,
        _ => "eth0",
    }
}

/// The interface of `h` on the internet segment, if it has one.
fn internet_interface(h: &Host) -> Option<(&'static str, &crate::plan::Interface)> {
    h.interfaces
        .iter()
        .find(|i| i.segment.is_internet())
        .map(|i| {
            (
                nat::router_interface(h.role, &i.segment).unwrap_or("eth0"),
                i,
            )
        })
}

fn host<'p>(plan: &'p Plan, target: &str) -> Result<&'p Host, Error> {
    plan.host(target).ok_or_else(|| Error::NoSuchHost {
        scenario: plan.name.clone(),
        host: target.to_string(),
        known: plan.hosts.iter().map(|h| h.name.to_string()).collect(),
    })
}

/// A host's public address now.
fn public_now(state: &FaultState, h: &Host) -> Option<Ipv4Addr> {
    state
        .readdressed
        .get(h.name.as_str())
        .copied()
        .or_else(|| internet_interface(h).map(|(_, i)| i.address))
}

/// Restores the routes through `dev` of `h` that the kernel removed with
/// the link or address: its default route and, on the internet segment,
/// the routes to `firewall` sites' LANs.
fn restore_routes(
    lab: &Lab,
    plan: &Plan,
    state: &FaultState,
    h: &Host,
    dev: &str,
) -> Result<(), Error> {
    let ns = lab.ns(&h.name);
    for i in &h.interfaces {
        if nat::router_interface(h.role, &i.segment).unwrap_or("eth0") != dev {
            continue;
        }
        if let Some(gw) = i.gateway {
            ns_run(
                &ns,
                "ip",
                &["route", "replace", "default", "via", &gw.to_string()],
            )?;
        }
        if i.segment.is_internet() {
            for s in plan.sites.iter().filter(|s| s.nat == Nat::Firewall) {
                let router = plan.host(&s.router).and_then(|r| public_now(state, r));
                if let Some(r) = router.filter(|r| Some(*r) != public_now(state, h)) {
                    ns_run(
                        &ns,
                        "ip",
                        &["route", "replace", &s.lan, "via", &r.to_string()],
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// One NAT mapping in a router's conntrack table: (protocol, inside
/// address, inside port) → outside port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub proto: String,
    pub inside: Ipv4Addr,
    pub sport: u16,
    pub outside_port: u16,
}

/// The mappings of `conntrack -L` output whose original source is not
/// `wan` (flows from inside; pure).
pub fn mappings(conntrack: &str, wan: Ipv4Addr) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in conntrack.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(proto) = words.first().filter(|p| **p == "udp" || **p == "tcp") else {
            continue;
        };
        let all =
            |k: &str| -> Vec<&str> { words.iter().filter_map(|w| w.strip_prefix(k)).collect() };
        let (src, sport, dst, dport) = (all("src="), all("sport="), all("dst="), all("dport="));
        let (Some(inside), Some(sport), Some(reply_dst), Some(outside)) = (
            src.first().and_then(|a| a.parse::<Ipv4Addr>().ok()),
            sport.first().and_then(|p| p.parse::<u16>().ok()),
            dst.get(1).and_then(|a| a.parse::<Ipv4Addr>().ok()),
            dport.get(1).and_then(|p| p.parse::<u16>().ok()),
        ) else {
            continue;
        };
        if inside == wan || reply_dst != wan {
            continue;
        }
        let m = Mapping {
            proto: proto.to_string(),
            inside,
            sport,
            outside_port: outside,
        };
        if !out
            .iter()
            .any(|o| o.proto == m.proto && o.inside == m.inside && o.sport == m.sport)
        {
            out.push(m);
        }
    }
    out
}

/// The `nft` rules that give `m` the outside port `port` (pure): the
/// source NAT first in `post`, and for `easyaf` the inbound `dnat` from a
/// known peer first in `pre`.
pub fn rebind_rules(nat_type: Nat, wan: &str, m: &Mapping, port: u16) -> Vec<Vec<String>> {
    let w = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<String>>();
    let mut rules = vec![w(&format!(
        "insert rule ip {} post oifname {wan} ip saddr {} {} sport {} masquerade to :{port}",
        nat::TABLE,
        m.inside,
        m.proto,
        m.sport
    ))];
    if nat_type == Nat::EasyAf && m.proto == "udp" {
        rules.push(w(&format!(
            "insert rule ip {} pre iifname {wan} ip saddr @peers udp dport {port} dnat to {}:{}",
            nat::TABLE,
            m.inside,
            m.sport
        )));
    }
    rules
}

/// The highest address of the internet segment that no host has now (pure).
pub fn free_internet_address(plan: &Plan, state: &FaultState) -> Option<(Ipv4Addr, u8)> {
    let seg = plan
        .segments
        .iter()
        .find(|s| s.kind == SegmentKind::Internet)?;
    let (net, len) = seg.cidr.split_once('/')?;
    let net: Ipv4Addr = net.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let size = 1u32.checked_shl(32 - u32::from(len))?;
    let base = u32::from(net);
    let mut used: BTreeSet<Ipv4Addr> = plan
        .hosts
        .iter()
        .flat_map(|h| h.interfaces.iter().map(|i| i.address))
        .collect();
    used.extend(state.readdressed.values().copied());
    (1..size.saturating_sub(1))
        .rev()
        .map(|k| Ipv4Addr::from(base + k))
        .find(|a| !used.contains(a))
        .map(|a| (a, len))
}

/// Applies one fault; returns what was done, for the user and the report.
pub fn apply(
    lab: &mut Lab,
    plan: &Plan,
    state: &mut FaultState,
    action: Action,
    target: &str,
) -> Result<String, Error> {
    let target = match plan.connectivity.coordinator.as_deref() {
        Some(c) if target == COORDINATOR => c,
        _ => target,
    };
    let h = host(plan, target)?;
    let ns = lab.ns(&h.name);
    match action {
        Action::LinkDown | Action::LinkUp => {
            let dev = uplink(h);
            let up = action == Action::LinkUp;
            ns_run(
                &ns,
                "ip",
                &["link", "set", dev, if up { "up" } else { "down" }],
            )?;
            if up {
                restore_routes(lab, plan, state, h, dev)?;
            }
            Ok(format!(
                "`{target}`'s uplink `{dev}` is {}",
                if up { "up" } else { "down" }
            ))
        }
        Action::Kill => {
            if lab.stop_named(target) {
                Ok(format!("the overlay daemon of `{target}` was killed"))
            } else {
                Err(no_daemon(lab, plan, target, "is not running"))
            }
        }
        Action::Restart => {
            if plan.connectivity.backend == Backend::Wireguard {
                return Err(Error::WireguardRestart);
            }
            if !lab.spawns().iter().any(|s| s.name == target) {
                return Err(no_daemon(lab, plan, target, "has no daemon"));
            }
            let was = lab.stop_named(target);
            let pid = lab.respawn(target)?;
            Ok(format!(
                "the overlay daemon of `{target}` was {} (pid {pid})",
                if was { "restarted" } else { "started again" }
            ))
        }
        Action::Rebind => rebind(lab, plan, state, h),
        Action::Readdress => readdress(lab, plan, state, h),
    }
}

fn no_daemon(lab: &Lab, plan: &Plan, target: &str, what: &'static str) -> Error {
    Error::NoDaemon {
        target: target.to_string(),
        what,
        daemons: lab.spawns().iter().map(|s| s.name.clone()).collect(),
        backend: plan.connectivity.backend,
    }
}

fn rebind(lab: &mut Lab, plan: &Plan, state: &mut FaultState, h: &Host) -> Result<String, Error> {
    let Some(r) = nat::router(plan, h) else {
        return Err(Error::NotARouter {
            host: h.name.to_string(),
            behind: h
                .site
                .as_ref()
                .and_then(|s| plan.sites.iter().find(|x| &x.name == s))
                .map(|s| s.router.to_string()),
        });
    };
    if matches!(r.nat, Nat::None | Nat::Firewall | Nat::OneToOne) {
        return Err(Error::NothingToRebind {
            host: h.name.to_string(),
            nat: r.nat,
        });
    }
    let ns = lab.ns(&h.name);
    let wan = public_now(state, h).unwrap_or(r.wan_address);
    let table = ns_run(&ns, "conntrack", &["-L"]).unwrap_or_default();
    let found = mappings(&table, wan);
    let mut moved = Vec::new();
    if r.nat != Nat::Hard {
        for m in &found {
            let taken: BTreeSet<u16> = found.iter().map(|m| m.outside_port).collect();
            let port = (20000..60000u16)
                .map(|k| 20000 + (k.wrapping_mul(7919) % 40000))
                .find(|p| !taken.contains(p) && !state.rebound_ports.contains(p))
                .ok_or(Error::NoFreePort)?;
            state.rebound_ports.insert(port);
            for rule in rebind_rules(r.nat, r.wan, m, port) {
                super::netns::run_strings(
                    "ip",
                    &[
                        vec!["netns".into(), "exec".into(), ns.clone(), "nft".into()],
                        rule,
                    ]
                    .concat(),
                )?;
            }
            moved.push(format!(
                "{} {}:{} {}→{port}",
                m.proto, m.inside, m.sport, m.outside_port
            ));
        }
    }
    let _ = ns_run(&ns, "conntrack", &["-F"]);
    Ok(format!(
        "`{}` forgot its {} NAT mapping{}{}",
        h.name,
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        if r.nat == Nat::Hard {
            " (a `hard` NAT picks new random ports)".to_string()
        } else if moved.is_empty() {
            String::new()
        } else {
            format!(": {}", moved.join(", "))
        }
    ))
}

fn readdress(
    lab: &mut Lab,
    plan: &Plan,
    state: &mut FaultState,
    h: &Host,
) -> Result<String, Error> {
    let Some((dev, iface)) = internet_interface(h) else {
        let hint = match h.role {
            Role::Router => plan
                .sites
                .iter()
                .find(|s| s.router == h.name)
                .and_then(|s| s.carrier.clone())
                .map(|c| {
                    format!("its WAN is on the carrier's segment: readdress the carrier `{c}`")
                }),
            _ => h
                .site
                .as_ref()
                .and_then(|s| plan.sites.iter().find(|x| &x.name == s))
                .map(|s| {
                    format!(
                        "`{}` is behind `{}`, whose public address it uses: readdress `{}`",
                        h.name,
                        s.carrier.as_ref().unwrap_or(&s.router),
                        s.carrier.as_ref().unwrap_or(&s.router)
                    )
                }),
        };
        return Err(Error::NotOnInternet {
            host: h.name.to_string(),
            hint,
        });
    };
    let old = public_now(state, h).unwrap_or(iface.address);
    let (new, len) = free_internet_address(plan, state).ok_or(Error::NoFreeAddress)?;
    let ns = lab.ns(&h.name);
    ns_run(
        &ns,
        "ip",
        &[
            "addr",
            "del",
            &format!("{old}/{}", iface.prefix),
            "dev",
            dev,
        ],
    )?;
    ns_run(
        &ns,
        "ip",
        &["addr", "add", &format!("{new}/{len}"), "dev", dev],
    )?;
    state.readdressed.insert(h.name.to_string(), new);
    restore_routes(lab, plan, state, h, dev)?;
    if let Some(mut r) = nat::router(plan, h) {
        // The router's rules name its address (`one2one`): render them again.
        r.wan_address = new;
        let file = lab.dir.join(format!("{}.readdressed.nft", h.name));
        std::fs::write(
            &file,
            format!("delete table ip {}\n{}", nat::TABLE, r.ruleset()),
        )
        .map_err(Error::io("write", &file))?;
        ns_run(&ns, "nft", &["-f", &file.display().to_string()])?;
    }
    // Internet hosts route `firewall` sites' LANs through their router.
    if plan
        .sites
        .iter()
        .any(|s| s.nat == Nat::Firewall && s.router == h.name)
    {
        for other in plan.hosts.iter().filter(|o| o.name != h.name) {
            if let Some((odev, _)) = internet_interface(other) {
                restore_routes(lab, plan, state, other, odev)?;
            }
        }
    }
    let _ = ns_run(&ns, "conntrack", &["-F"]);
    Ok(format!(
        "`{}` moved from {old} to {new} on the internet segment",
        h.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNTRACK: &str = "\
udp      17 29 src=10.128.0.2 dst=198.18.0.1 sport=4242 dport=4242 src=198.18.0.1 dst=198.18.128.1 sport=4242 dport=4242 [ASSURED] mark=0 use=1
udp      17 29 src=10.128.0.2 dst=198.18.0.9 sport=4242 dport=4242 src=198.18.0.9 dst=198.18.128.1 sport=4242 dport=4242 mark=0 use=1
tcp      6 117 TIME_WAIT src=10.128.0.3 dst=198.18.0.2 sport=40000 dport=443 src=198.18.0.2 dst=198.18.128.1 sport=443 dport=61000 [ASSURED] mark=0 use=1
udp      17 29 src=198.18.128.1 dst=198.18.0.1 sport=5000 dport=5000 src=198.18.0.1 dst=198.18.128.1 sport=5000 dport=5000 mark=0 use=1
icmp     1 29 src=10.128.0.2 dst=198.18.0.1 type=8 code=0 id=1 src=198.18.0.1 dst=198.18.128.1 type=0 code=0 id=1 mark=0 use=1
";

    #[test]
    fn mappings_are_read_once_per_inside_endpoint() {
        let m = mappings(CONNTRACK, Ipv4Addr::new(198, 18, 128, 1));
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(
            m[0],
            Mapping {
                proto: "udp".into(),
                inside: Ipv4Addr::new(10, 128, 0, 2),
                sport: 4242,
                outside_port: 4242
            }
        );
        assert_eq!((m[1].proto.as_str(), m[1].outside_port), ("tcp", 61000));
    }

    #[test]
    fn rebind_rules_come_first_and_easyaf_admits_the_new_port() {
        let m = Mapping {
            proto: "udp".into(),
            inside: Ipv4Addr::new(10, 128, 0, 2),
            sport: 4242,
            outside_port: 4242,
        };
        let easy = rebind_rules(Nat::Easy, "wan", &m, 23919);
        assert_eq!(
            easy,
            [
                "insert rule ip e3 post oifname wan ip saddr 10.128.0.2 udp sport 4242 masquerade to :23919"
                    .split(' ')
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            ]
        );
        let af = rebind_rules(Nat::EasyAf, "wan", &m, 23919);
        assert_eq!(af.len(), 2);
        assert_eq!(
            af[1].join(" "),
            "insert rule ip e3 pre iifname wan ip saddr @peers udp dport 23919 dnat to 10.128.0.2:4242"
        );
    }

    #[test]
    fn actions_parse_and_name_the_choices() {
        use crate::error::Hinted as _;
        assert_eq!("rebind".parse::<Action>().ok(), Some(Action::Rebind));
        let e = "reboot".parse::<Action>().unwrap_err();
        assert_eq!(e.to_string(), "unknown fault `reboot`");
        let hint = e.hint().expect("a hint");
        assert!(
            hint.contains("link-down") && hint.contains("readdress"),
            "{hint}"
        );
    }
}
