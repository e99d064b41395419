//! nftables rulesets for the NAT types of DESIGN.md, applied inside router
//! namespaces only. `wan` faces the internet (or the carrier), `lan` the site.
//!
//! Every filtering router drops unsolicited new inbound packets in the input
//! hook as well as in forward: otherwise an inbound hole-punch packet that
//! arrives before the outbound one creates a conntrack entry for the router's
//! own address, and the outbound mapping is then moved to another port (the
//! `easy` mapping would no longer be endpoint-independent). Dropped packets
//! are counted in the named counter `unsolicited`, which the report reads.

use std::net::Ipv4Addr;

use crate::catalogue::Nat;

/// The nftables table e3 creates in a router namespace.
pub const TABLE: &str = "e3";

/// Ruleset for a router of NAT type `nat` between `wan` and `lan` (interface
/// names). `wan_addr` is the router's public address; `hosts` the site's
/// LAN addresses (`one2one` maps the first).
pub fn ruleset(nat: Nat, wan: &str, lan: &str, wan_addr: Ipv4Addr, hosts: &[Ipv4Addr]) -> String {
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
    format!("table ip {TABLE} {{\n{body}}}\n")
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
            let r = ruleset(nat, "wan", "lan", Ipv4Addr::new(198, 18, 128, 1), &[Ipv4Addr::new(10, 128, 0, 2)]);
            assert!(r.contains("hook input"), "{nat}: {r}");
        }
        assert!(ruleset(Nat::Hard, "wan", "lan", Ipv4Addr::new(1, 2, 3, 4), &[]).contains("masquerade random"));
        assert!(!ruleset(Nat::OneToOne, "wan", "lan", Ipv4Addr::new(1, 2, 3, 4), &[]).contains("drop"));
    }
}
