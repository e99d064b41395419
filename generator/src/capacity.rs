//! What the simulation address plan holds and which host names e3 takes:
//! the facts validation checks a scenario against (`E0xx` address-plan
//! overflow, reserved host names) and [`plan`](crate::plan) allocates
//! from, in one place so that the two cannot drift. The address ranges
//! themselves are documented at the top of `plan.rs`.

/// Names of the hosts e3 adds (the control hosts of the backends) and of
/// the internet segment; parties may not use them.
pub const RESERVED_HOST_NAMES: &[&str] = &[
    "control",
    "lighthouse",
    "hub",
    "server",
    "bootstrap",
    "internet",
];

/// Usable host numbers of a `/24` (`.1`–`.254`).
pub const USABLE_PER_24: u32 = 254;
/// Hosts per site LAN: `.2`–`.254` (the router is `.1`).
pub const LAN_HOSTS: usize = 253;
/// `/24`s for public parties on the internet segment.
pub const PARTY_24S: u32 = 127;
/// `/24`s for router WANs on the internet segment.
pub const ROUTER_24S: u32 = 128;
/// Public LANs (`firewall` sites): the `/24`s of `198.19.0.0/16`.
pub const PUBLIC_LANS: u32 = 256;
/// Private LANs (NAT sites): the `/24`s of `10.128.0.0/9`.
pub const PRIVATE_LANS: u32 = 1 << 15;
/// Carrier segments (`cgnat` sites): the `/24`s of `100.64.0.0/10`.
pub const CARRIERS: u32 = 1 << 14;
/// `/24`s of the overlay network for parties (the last is the control hosts').
pub const OVERLAY_PARTY_24S: u32 = 255;

/// Public parties the internet segment fits.
pub const PUBLIC_PARTIES: u32 = PARTY_24S * USABLE_PER_24;
/// Sites with a router (their WANs on the internet segment).
pub const ROUTED_SITES: u32 = ROUTER_24S * USABLE_PER_24;
/// Parties the overlay network fits.
pub const OVERLAY_PARTIES: u32 = OVERLAY_PARTY_24S * USABLE_PER_24;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_internet_segment_is_a_slash_16() {
        // One /24 of control hosts, the parties', the routers': 256 in all.
        assert_eq!(1 + PARTY_24S + ROUTER_24S, 256);
        assert_eq!(LAN_HOSTS as u32, USABLE_PER_24 - 1);
        assert_eq!(PUBLIC_PARTIES, 32_258);
        assert_eq!(ROUTED_SITES, 32_512);
    }
}
