//! The NAT types of the catalogue (`catalogue::Nat`, described in README.md)
//! as nftables rulesets: one source for the local
//! lab (`e3 sim`, loaded with `nft -f` inside router namespaces) and the
//! NixOS VM test (`tests/nat.nix`, the body of `networking.nftables.tables.e3`
//! on the router VMs), so the two cannot drift. Pure: no IO.
//!
//! `wan` faces the internet (or, for a `cgnat` site's home router, the
//! carrier), `lan` the site.
//!
//! Every filtering router drops unsolicited new inbound packets in the input
//! hook as well as in forward: otherwise an inbound hole-punch packet that
//! arrives before the outbound one creates a conntrack entry for the router's
//! own address, and the outbound mapping is then moved to another port (the
//! `easy` mapping would no longer be endpoint-independent). Dropped packets
//! are counted in the named counter `unsolicited`, which the report reads.

use std::net::Ipv4Addr;

use crate::catalogue::Nat;
use crate::plan::{Host, Plan, Role, SegmentKind, SegmentName};

/// The nftables table e3 creates on a router.
pub const TABLE: &str = "e3";

/// Interface names of routers and carriers, the same in the lab and the VM
/// test: `wan` towards the internet (a home router behind a carrier-grade NAT:
/// towards the carrier), `lan` towards the site, `cgn` a carrier's side of the
/// carrier segment.
pub const WAN: &str = "wan";
pub const LAN: &str = "lan";
pub const CARRIER_LAN: &str = "cgn";

/// The interface name of a router or carrier on a segment; `None` for the
/// other roles (each consumer names single-homed hosts' interfaces itself).
pub fn router_interface(role: Role, segment: &SegmentName) -> Option<&'static str> {
    match (role, segment.kind()) {
        (Role::Router, SegmentKind::Lan) => Some(LAN),
        (Role::Router, _) => Some(WAN),
        (Role::Carrier, SegmentKind::Internet) => Some(WAN),
        (Role::Carrier, _) => Some(CARRIER_LAN),
        _ => None,
    }
}

/// What one router or carrier of a plan does: the NAT it implements and
/// between which interfaces.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterNat {
    /// The NAT its rules implement: the site's, except that both layers of a
    /// `cgnat` site (home router and carrier) are `easy`.
    pub nat: Nat,
    pub wan: &'static str,
    pub lan: &'static str,
    /// The address on `wan` (the site's public address, or the home router's
    /// carrier-side address).
    pub wan_address: Ipv4Addr,
    /// The site's hosts' addresses (`one2one` maps the first).
    pub inside: Vec<Ipv4Addr>,
}

impl RouterNat {
    /// The complete ruleset (`nft -f`).
    pub fn ruleset(&self) -> String {
        ruleset(self.nat, self.wan, self.lan, self.wan_address, &self.inside)
    }

    /// The statements inside `table ip e3 { … }`.
    pub fn body(&self) -> String {
        ruleset_body(self.nat, self.wan, self.lan, self.wan_address, &self.inside)
    }
}

/// The NAT of a router or carrier host; `None` for other roles (or a host
/// whose site the plan does not have, which a plan never produces).
pub fn router(plan: &Plan, host: &Host) -> Option<RouterNat> {
    if !matches!(host.role, Role::Router | Role::Carrier) {
        return None;
    }
    let site = plan
        .sites
        .iter()
        .find(|s| Some(&s.name) == host.site.as_ref())?;
    let inside = site
        .hosts
        .iter()
        .filter_map(|n| plan.host(n))
        .flat_map(|p| p.interfaces.iter().map(|i| i.address))
        .collect();
    let (nat, lan) = match host.role {
        Role::Carrier => (Nat::Easy, CARRIER_LAN),
        _ => (
            if site.nat == Nat::Cgnat {
                Nat::Easy
            } else {
                site.nat
            },
            LAN,
        ),
    };
    let wan_address = host
        .interfaces
        .iter()
        .find(|i| router_interface(host.role, &i.segment) == Some(WAN))
        .map(|i| i.address)
        .unwrap_or(site.public_address);
    Some(RouterNat {
        nat,
        wan: WAN,
        lan,
        wan_address,
        inside,
    })
}

/// Ruleset for a router of NAT type `nat` between `wan` and `lan` (interface
/// names). `wan_addr` is the router's public address; `hosts` the site's
/// LAN addresses (`one2one` maps the first).
pub fn ruleset(nat: Nat, wan: &str, lan: &str, wan_addr: Ipv4Addr, hosts: &[Ipv4Addr]) -> String {
    format!(
        "table ip {TABLE} {{\n{}}}\n",
        ruleset_body(nat, wan, lan, wan_addr, hosts)
    )
}

/// The statements of [`ruleset`] inside its `table ip e3 { … }`, each line
/// indented by two spaces and ending in a newline (empty for `none`).
pub fn ruleset_body(
    nat: Nat,
    wan: &str,
    lan: &str,
    wan_addr: Ipv4Addr,
    hosts: &[Ipv4Addr],
) -> String {
    let filter_inbound = |extra: &str| {
        format!(
            "  counter unsolicited {{ }}\n\
             \x20 chain input {{\n    type filter hook input priority 0; policy accept;\n    iifname \"{wan}\" ct state established,related accept\n    iifname \"{wan}\" counter name \"unsolicited\" drop\n  }}\n\
             \x20 chain forward {{\n    type filter hook forward priority 0; policy accept;\n    ct state established,related accept\n    iifname \"{lan}\" accept\n{extra}    iifname \"{wan}\" counter name \"unsolicited\" drop\n  }}\n"
        )
    };
    let body = match nat {
        Nat::None => String::new(),
        Nat::Firewall => filter_inbound(""),
        Nat::OneToOne => {
            let inside = hosts.first().copied().unwrap_or(wan_addr);
            format!(
                "  counter unsolicited {{ }}\n\
                 \x20 chain pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n    iifname \"{wan}\" ip daddr {wan_addr} dnat to {inside}\n  }}\n\
                 \x20 chain post {{\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname \"{wan}\" ip saddr {inside} snat to {wan_addr}\n  }}\n"
            )
        }
        Nat::Easy | Nat::Cgnat => format!("{}{}", filter_inbound(""), masquerade(wan, "")),
        Nat::Hard => format!("{}{}", filter_inbound(""), masquerade(wan, " random")),
        Nat::EasyAf => {
            // Endpoint-independent mapping (port-preserving masquerade), and
            // address-dependent filtering: a packet from an address the site
            // has sent to is admitted on any source port, and forwarded to the
            // host whose mapping (the same port, masquerade preserves it) it hits.
            let extra = format!("    iifname \"{wan}\" ip saddr @peers ct status dnat accept\n");
            format!(
                "  set peers {{ type ipv4_addr; flags timeout; timeout 120s; }}\n\
                 \x20 map udpmap {{ type inet_service : ipv4_addr; flags timeout; timeout 120s; }}\n\
                 \x20 chain track {{\n    type filter hook prerouting priority -150; policy accept;\n    iifname \"{lan}\" update @peers {{ ip daddr }}\n    iifname \"{lan}\" meta l4proto udp update @udpmap {{ udp sport : ip saddr }}\n  }}\n\
                 \x20 chain pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n    iifname \"{wan}\" ip saddr @peers meta l4proto udp dnat to udp dport map @udpmap\n  }}\n\
                 {}{}",
                filter_inbound(&extra),
                masquerade(wan, "")
            )
        }
    };
    body
}

fn masquerade(wan: &str, flags: &str) -> String {
    format!("  chain post {{\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname \"{wan}\" masquerade{flags}\n  }}\n")
}

/// Packet loss on the internet bridge (`numgen random`), `percent` in 0–100.
pub fn loss_ruleset(percent: f64) -> String {
    let threshold = (percent * 100.0).round().clamp(0.0, 10000.0) as u32;
    format!("table bridge {TABLE} {{\n  chain forward {{\n    type filter hook forward priority 0; policy accept;\n    numgen random mod 10000 < {threshold} counter drop\n  }}\n}}\n")
}

/// A rule that only makes the kernel track connections in a party's
/// namespace, so that the report can read the party's flows with `conntrack`.
pub fn tracking_ruleset() -> String {
    format!("table ip {TABLE} {{\n  chain out {{\n    type filter hook output priority 0; policy accept;\n    ct state new accept\n  }}\n}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtering_nats_drop_in_input() {
        for nat in [Nat::Easy, Nat::EasyAf, Nat::Hard, Nat::Cgnat, Nat::Firewall] {
            let r = ruleset(
                nat,
                "wan",
                "lan",
                Ipv4Addr::new(198, 18, 128, 1),
                &[Ipv4Addr::new(10, 128, 0, 2)],
            );
            assert!(r.contains("hook input"), "{nat}: {r}");
        }
        assert!(
            ruleset(Nat::Hard, "wan", "lan", Ipv4Addr::new(1, 2, 3, 4), &[])
                .contains("masquerade random")
        );
        assert!(
            !ruleset(Nat::OneToOne, "wan", "lan", Ipv4Addr::new(1, 2, 3, 4), &[]).contains("drop")
        );
    }
}
