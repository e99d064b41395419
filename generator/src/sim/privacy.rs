//! What a run reveals and costs on the wire, from packet captures
//! ([`wire`](super::wire)): e3 captures the internet segment (the bridge
//! every site's and public host's uplink is plugged into) from the start of
//! the overlay daemons to the end of the program, and each party's own
//! program traffic (TCP to or from the program's port, leaving the party,
//! on whatever interface carries it: the overlay's, or the underlay's for
//! `direct`) during the program's run.
//!
//! - **Exposure**: for every party, its public (post-NAT) address, which
//!   other parties' sites received packets from that address (`peers`),
//!   which parties the backend told it to where the backend shows what it
//!   knows (`told`; `None` where it does not), which parties it told the
//!   party's private LAN address to (`lan_told`), and which infrastructure
//!   hosts (lighthouse, control server, hub, bootstrap node) received packets
//!   from it.
//! - **Plaintext on the WAN**: TCP packets to or from the program's port on
//!   the internet segment: the program's own traffic, unencrypted by any
//!   overlay.
//! - **Wire overhead**: frames and bytes on the internet segment during the
//!   program's run, against the program's payload (TCP payload bytes the
//!   parties sent).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::capture::{Capture, Where};
use super::netns::Lab;
use super::wire::{self, Packet, TCP};
use super::Error;
use crate::catalogue::Nat;
use crate::plan::{Host, HostName, Plan, Role, SegmentKind};

/// Starts the capture of the internet segment, headers only, into the lab
/// directory.
pub fn capture_internet(lab: &Lab, plan: &Plan) -> Result<Capture, Error> {
    capture_internet_run(lab, plan, 1)
}

/// [`capture_internet`] for the `run`-th program run on the lab
/// (`capture-internet.pcap`, then `capture-internet-2.pcap`, …).
pub fn capture_internet_run(lab: &Lab, plan: &Plan, run: u32) -> Result<Capture, Error> {
    let path = lab.dir.join(match run {
        0 | 1 => "capture-internet.pcap".to_string(),
        k => format!("capture-internet-{k}.pcap"),
    });
    Ok(Capture::headers(lab, plan, &Where::Internet, None, &path)?)
}

/// Starts the capture of the program traffic each of `parties` sends (TCP
/// to or from `port`, leaving it on any interface), headers only; every
/// tcpdump at once.
pub fn capture_sent_all(
    lab: &Lab,
    plan: &Plan,
    parties: &[&str],
    port: u16,
) -> Result<Vec<Capture>, Error> {
    let filter = format!("outbound and tcp port {port}");
    let places: Vec<(Where, Option<String>, std::path::PathBuf)> = parties
        .iter()
        .map(|party| {
            (
                Where::Host(HostName::from(*party)),
                Some(filter.clone()),
                lab.dir.join(format!("capture-{party}.pcap")),
            )
        })
        .collect();
    Ok(Capture::headers_all(lab, plan, &places)?)
}

/// Stops a capture and reads its packets.
pub fn finish(capture: Capture) -> Result<Vec<Packet>, Error> {
    let path = capture.path.clone();
    capture.stop()?;
    read_capture(&path)
}

/// [`finish`] of several captures, stopped at once.
pub fn finish_all(captures: Vec<Capture>) -> Vec<Result<Vec<Packet>, Error>> {
    let paths: Vec<std::path::PathBuf> = captures.iter().map(|c| c.path.clone()).collect();
    Capture::stop_all(captures)
        .into_iter()
        .zip(paths)
        .map(|(stopped, path)| {
            stopped?;
            read_capture(&path)
        })
        .collect()
}

/// The packets of a pcap file the lab wrote.
pub fn read_capture(path: &Path) -> Result<Vec<Packet>, Error> {
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    wire::read_pcap(&bytes).map_err(|source| Error::Pcap {
        path: path.to_path_buf(),
        source,
    })
}

/// Who learnt one party's addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartyExposure {
    /// Its public (post-NAT) address: its NAT's, or its own.
    pub address: Ipv4Addr,
    /// Other parties whose site (or own public address) received packets
    /// from `address` on the internet segment. A site's parties share its
    /// address, so a packet any of them sends reveals it for all.
    pub peers: Vec<String>,
    /// Other parties whose backend holds `address` as a way to reach a peer
    /// (Nebula's hostmap, `tailscale status`, `wg show`; for `direct` the
    /// program's party list); `None` where the backend does not show it.
    pub told: Option<Vec<String>>,
    /// Other parties whose backend holds this party's private LAN address.
    pub lan_told: Option<Vec<String>>,
    /// Infrastructure hosts (lighthouse, control server, hub, bootstrap
    /// node) that received packets from `address`.
    pub infrastructure: Vec<String>,
}

/// The program's traffic on the internet segment, unencrypted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WanReport {
    /// Whether any TCP packet to or from the program's port crossed the
    /// internet segment.
    pub mpyc_plaintext: bool,
    /// How many did.
    pub mpyc_plaintext_packets: u64,
    /// Frames captured on the internet segment, overlay set-up and program.
    pub captured_packets: u64,
}

/// What the program's run cost on the internet segment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WireReport {
    /// Bytes of the frames on the internet segment during the run.
    pub bytes: u64,
    pub packets: u64,
    /// TCP payload bytes the parties' programs sent.
    pub payload_bytes: u64,
    /// TCP segments carrying them (and their acknowledgements) the parties sent.
    pub payload_packets: u64,
    /// `bytes / payload_bytes`; `None` without payload.
    pub ratio: Option<f64>,
}

/// Whether any party's public address reached another party, on the wire
/// or through its backend.
pub fn peers_learn_addresses(exposure: &BTreeMap<HostName, PartyExposure>) -> bool {
    exposure
        .values()
        .any(|e| !e.peers.is_empty() || e.told.as_ref().is_some_and(|t| !t.is_empty()))
}

/// The hosts whose packets count as infrastructure's.
fn is_infrastructure(h: &Host) -> bool {
    matches!(
        h.role,
        Role::Control | Role::Lighthouse | Role::Hub | Role::Bootstrap
    )
}

/// The addresses a party's packets leave its site with: its public address
/// (its NAT's), and behind a firewall (which does not translate) its own.
fn outside_addresses(h: &Host) -> BTreeSet<Ipv4Addr> {
    let mut a: BTreeSet<Ipv4Addr> = h.public_address.into_iter().collect();
    if h.nat == Nat::Firewall || h.site.is_none() {
        a.extend(h.interfaces.iter().map(|i| i.address));
    }
    a
}

/// A party's private LAN addresses (none for a public party).
fn lan_addresses(h: &Host) -> BTreeSet<Ipv4Addr> {
    h.interfaces
        .iter()
        .filter(|i| i.segment.kind() == SegmentKind::Lan)
        .map(|i| i.address)
        .filter(|a| Some(*a) != h.public_address)
        .collect()
}

fn sorted(set: BTreeSet<&str>) -> Vec<String> {
    set.into_iter().map(str::to_string).collect()
}

/// Exposure of every party: see [`PartyExposure`]. `told`: per party, the
/// underlay addresses its backend knows for its peers (`None`: not shown).
pub fn exposure(
    plan: &Plan,
    internet: &[Packet],
    told: &BTreeMap<HostName, Option<Vec<Ipv4Addr>>>,
) -> BTreeMap<HostName, PartyExposure> {
    let parties: Vec<&Host> = plan.parties().collect();
    // Who receives what arrives at an address on the internet segment.
    let mut owners: BTreeMap<Ipv4Addr, Vec<&Host>> = BTreeMap::new();
    for h in plan.hosts.iter().filter(|h| h.role == Role::Party) {
        for a in outside_addresses(h) {
            owners.entry(a).or_default().push(h);
        }
    }
    for h in plan.hosts.iter().filter(|h| is_infrastructure(h)) {
        let inet = h.interfaces.iter().filter(|i| i.segment.is_internet());
        for a in inet.map(|i| i.address).chain(h.public_address) {
            let v = owners.entry(a).or_default();
            if !v.iter().any(|o| o.name == h.name) {
                v.push(h);
            }
        }
    }
    // (source, destination) pairs seen.
    let flows: BTreeSet<(Ipv4Addr, Ipv4Addr)> = internet
        .iter()
        .filter_map(|p| p.ip.map(|ip| (ip.src, ip.dst)))
        .collect();
    let mut out = BTreeMap::new();
    for p in &parties {
        let mine = outside_addresses(p);
        let lan = lan_addresses(p);
        let mut peers = BTreeSet::new();
        let mut infrastructure = BTreeSet::new();
        for (_, dst) in flows.iter().filter(|(s, _)| mine.contains(s)) {
            for o in owners.get(dst).into_iter().flatten() {
                if o.role == Role::Party && o.name != p.name {
                    peers.insert(o.name.as_str());
                } else if is_infrastructure(o) {
                    infrastructure.insert(o.name.as_str());
                }
            }
        }
        let told_of = |of: &BTreeSet<Ipv4Addr>| -> Option<Vec<String>> {
            let mut shown = false;
            let mut who = BTreeSet::new();
            for q in parties.iter().filter(|q| q.name != p.name) {
                if let Some(Some(known)) = told.get(&q.name) {
                    shown = true;
                    if known.iter().any(|a| of.contains(a)) {
                        who.insert(q.name.as_str());
                    }
                }
            }
            shown.then(|| sorted(who))
        };
        out.insert(
            p.name.clone(),
            PartyExposure {
                address: p
                    .public_address
                    .or_else(|| mine.iter().next().copied())
                    .unwrap_or(Ipv4Addr::UNSPECIFIED),
                peers: sorted(peers),
                told: told_of(&mine),
                lan_told: if lan.is_empty() {
                    told_of(&lan).map(|_| Vec::new())
                } else {
                    told_of(&lan)
                },
                infrastructure: sorted(infrastructure),
            },
        );
    }
    out
}

/// Plaintext program traffic on the internet segment.
pub fn wan(internet: &[Packet], port: u16) -> WanReport {
    let plaintext = internet
        .iter()
        .filter(|p| p.ip.is_some_and(|ip| ip.has_port(TCP, port)))
        .count() as u64;
    WanReport {
        mpyc_plaintext: plaintext > 0,
        mpyc_plaintext_packets: plaintext,
        captured_packets: internet.len() as u64,
    }
}

/// The run's cost on the internet segment, within `window` (Unix seconds),
/// against the parties' program payload there (`sent`: what the parties
/// sent of their program's traffic).
pub fn wire_cost(
    internet: &[Packet],
    sent: &[Packet],
    port: u16,
    window: (f64, f64),
) -> WireReport {
    let within = |p: &&Packet| p.time >= window.0 && p.time <= window.1;
    let (bytes, packets) = internet
        .iter()
        .filter(within)
        .fold((0u64, 0u64), |(b, n), p| (b + u64::from(p.wire_len), n + 1));
    let (payload_bytes, payload_packets) = sent
        .iter()
        .filter(within)
        .filter_map(|p| p.ip.filter(|ip| ip.has_port(TCP, port)))
        .fold((0u64, 0u64), |(b, n), ip| {
            (b + u64::from(ip.payload.unwrap_or(0)), n + 1)
        });
    WireReport {
        bytes,
        packets,
        payload_bytes,
        payload_packets,
        ratio: (payload_bytes > 0)
            .then(|| ((bytes as f64 / payload_bytes as f64) * 1000.0).round() / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::tests::{ethernet, ip_packet};
    use super::super::wire::{read_pcap, UDP};
    use super::*;

    fn plan() -> Plan {
        let yaml = "connectivity: { backend: nebula }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean, region: ams3 }\nparties:\n  - { name: alice, nat: easy }\n  - { name: bob, nat: easy }\n  - { name: carol, nat: hard }\n  - { name: dave, nat: none }\n";
        let checked = crate::check_text("privacy.yaml", yaml.as_bytes());
        crate::plan::plan(
            checked
                .scenario()
                .unwrap_or_else(|| panic!("invalid scenario: {:?}", checked.diagnostics)),
        )
    }

    /// (time, source, destination, protocol, ports, payload length)
    type Frame = (f64, Ipv4Addr, Ipv4Addr, u8, (u16, u16), u16);

    fn packets(frames: &[Frame]) -> Vec<Packet> {
        let f: Vec<(f64, u32, Vec<u8>)> = frames
            .iter()
            .map(|(t, s, d, proto, ports, len)| {
                let ip = ip_packet(*proto, s.octets(), d.octets(), *ports, *len);
                (*t, 14 + ip.len() as u32 + u32::from(*len), ethernet(ip))
            })
            .collect();
        read_pcap(&super::super::wire::tests::pcap(1, &f)).expect("reads")
    }

    fn public(plan: &Plan, name: &str) -> Ipv4Addr {
        plan.host(name)
            .and_then(|h| h.public_address)
            .expect("public")
    }

    #[test]
    fn exposure_is_who_received_from_the_address_and_who_was_told_it() {
        let plan = plan();
        let (a, b, c, d) = (
            public(&plan, "alice"),
            public(&plan, "bob"),
            public(&plan, "carol"),
            public(&plan, "dave"),
        );
        let lh = public(&plan, "lighthouse");
        // carol punches towards alice (dropped at alice's router: still
        // received by alice's site), everyone talks to the lighthouse, bob
        // and dave exchange packets.
        let internet = packets(&[
            (1.0, c, a, UDP, (5000, 4242), 40),
            (1.0, a, lh, UDP, (4242, 4242), 40),
            (1.0, c, lh, UDP, (5000, 4242), 40),
            (1.1, b, d, UDP, (4242, 4242), 40),
            (1.2, d, b, UDP, (4242, 4242), 40),
        ]);
        let alice_lan = plan.host("alice").unwrap().interfaces[0].address;
        let told = BTreeMap::from([
            ("alice".into(), Some(vec![c, lh])),
            ("bob".into(), Some(vec![d, alice_lan])),
            ("carol".into(), Some(vec![a])),
            ("dave".into(), None),
        ]);
        let e = exposure(&plan, &internet, &told);
        let carol = &e["carol"];
        assert_eq!(carol.address, c);
        assert_eq!(carol.peers, ["alice"]);
        assert_eq!(carol.infrastructure, ["lighthouse"]);
        assert_eq!(carol.told.as_deref(), Some(&["alice".to_string()][..]));
        assert_eq!(e["alice"].peers, Vec::<String>::new());
        assert_eq!(e["alice"].infrastructure, ["lighthouse"]);
        assert_eq!(e["alice"].told.as_deref(), Some(&["carol".to_string()][..]));
        assert_eq!(
            e["alice"].lan_told.as_deref(),
            Some(&["bob".to_string()][..])
        );
        assert_eq!(e["bob"].peers, ["dave"]);
        assert_eq!(e["dave"].peers, ["bob"]);
        assert_eq!(e["dave"].told.as_deref(), Some(&["bob".to_string()][..]));
        // a public party has no LAN address to leak
        assert_eq!(e["dave"].lan_told.as_deref(), Some(&[][..]));
    }

    #[test]
    fn without_a_backend_view_told_is_unknown() {
        let plan = plan();
        let e = exposure(&plan, &[], &BTreeMap::new());
        assert!(e.values().all(|x| x.told.is_none() && x.peers.is_empty()));
    }

    #[test]
    fn plaintext_is_tcp_on_the_programs_port() {
        let (x, y) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let overlay = packets(&[(1.0, x, y, UDP, (4242, 4242), 100)]);
        assert_eq!(
            wan(&overlay, 11365),
            WanReport {
                mpyc_plaintext: false,
                mpyc_plaintext_packets: 0,
                captured_packets: 1
            }
        );
        let direct = packets(&[
            (1.0, x, y, TCP, (40000, 11365), 100),
            (1.1, y, x, TCP, (11365, 40000), 0),
            (1.2, x, y, UDP, (11365, 11365), 10),
        ]);
        let w = wan(&direct, 11365);
        assert!(w.mpyc_plaintext);
        assert_eq!(w.mpyc_plaintext_packets, 2);
    }

    #[test]
    fn wire_cost_counts_the_window_against_the_payload() {
        let (x, y) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let internet = packets(&[
            (0.5, x, y, UDP, (4242, 4242), 1000), // before the run
            (1.0, x, y, UDP, (4242, 4242), 160),
            (1.5, y, x, UDP, (4242, 4242), 120),
        ]);
        let (o1, o2) = (Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 2));
        let sent = packets(&[
            (1.0, o1, o2, TCP, (40000, 11365), 100),
            (1.5, o2, o1, TCP, (11365, 40000), 60),
            (1.5, o2, o1, TCP, (11365, 40000), 0),
        ]);
        let w = wire_cost(&internet, &sent, 11365, (0.9, 2.0));
        assert_eq!(w.packets, 2);
        assert_eq!(w.bytes, (14 + 28 + 160) + (14 + 28 + 120));
        assert_eq!(w.payload_bytes, 160);
        assert_eq!(w.payload_packets, 3);
        assert_eq!(w.ratio, Some(2.275));
        assert_eq!(wire_cost(&[], &[], 1, (0.0, 1.0)).ratio, None);
    }
}
