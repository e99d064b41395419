//! The plan: a pure function from a valid [`Scenario`] to every concrete
//! fact the renderers and the lab need. No IO, no clock, no randomness: the
//! same scenario always gives the same plan.
//!
//! # Address plan (simulations: VM test and `e3 sim`)
//!
//! | segment | range | use |
//! |---|---|---|
//! | internet | `198.18.0.0/16` (RFC 2544 benchmarking) | `.0.x` control hosts, `.1.0`–`.127.255` public parties, `.128.0`–`.255.255` router WANs |
//! | public LANs | `198.19.0.0/16`, one `/24` per `firewall` site | parties with public addresses behind a stateful firewall |
//! | private LANs | `10.128.0.0/9`, one `/24` per NAT site | router `.1`, parties `.2`–`.254` |
//! | carrier | `100.64.0.0/10`, one `/24` per `cgnat` site | carrier router `.1`, home router `.2` |
//! | overlay | `10.9.0.0/16` | parties from `10.9.0.1`, control hosts `10.9.255.x` |
//!
//! Host numbers never end in `.0` or `.255`.
//!
//! # Latency model
//!
//! One-way delay between two regions = great-circle distance (haversine,
//! Earth radius 6371 km) × 1.5 (routes are longer than great circles) ÷
//! 200 km/ms (light in fibre, about 2/3 c), rounded to 0.1 ms. Hosts in the
//! same region, or without a region, get no added delay.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::capacity::{self, USABLE_PER_24};
use crate::catalogue::{ports, Backend, Nat, Platform, Region, Relay};
use crate::scenario::{self, Latency, Scenario};

/// Version of the `scenario.json` format.
pub const PLAN_FORMAT: u32 = 1;

const INTERNET: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
const INTERNET_PREFIX: u8 = 16;
const INFRA_BLOCK: (u32, u32) = (0, 1); // (first /24, number of /24s) within INTERNET
const PARTY_BLOCK: (u32, u32) = (1, capacity::PARTY_24S);
const ROUTER_BLOCK: (u32, u32) = (1 + capacity::PARTY_24S, capacity::ROUTER_24S);
const PUBLIC_LANS: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 0);
const PRIVATE_LANS: Ipv4Addr = Ipv4Addr::new(10, 128, 0, 0);
const CARRIER: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 0);
const OVERLAY: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 0);
const OVERLAY_PREFIX: u8 = 16;

/// Route factor and speed of light in fibre of the latency model.
pub const ROUTE_FACTOR: f64 = 1.5;
pub const FIBRE_KM_PER_MS: f64 = 200.0;
const EARTH_RADIUS_KM: f64 = 6371.0;

/// Defines a name newtype: a `String` that says what it names, serialised
/// as the bare string (`#[serde(transparent)]`), shown as it is (with
/// padding), and usable wherever a `&str` is (`Deref`, `AsRef` — also as
/// a path or an argument —, `Borrow`, comparisons with strings), so maps
/// keyed by it are looked up by `&str`.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(name: impl Into<String>) -> Self {
                $name(name.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<std::path::Path> for $name {
            fn as_ref(&self) -> &std::path::Path {
                self.0.as_ref()
            }
        }

        impl AsRef<std::ffi::OsStr> for $name {
            fn as_ref(&self) -> &std::ffi::OsStr {
                self.0.as_ref()
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

name_type!(
    /// A host of the plan (a party host, a router, a carrier, a control
    /// host): `alice`, `alice-1`, `home-router`, `lighthouse`. The lab
    /// names its namespace after it; reports and grid cells key by it.
    HostName
);

name_type!(
    /// A NAT site: a party's `site:`, or the party host's own name.
    SiteName
);

/// A segment of the simulated network, by what it is: its name
/// (`Display`, serde) is `internet`, `lan-<site>` or `carrier-<site>`, as in
/// `scenario.json`, the VM test's data and the cloud networks. Code asks
/// [`SegmentName::kind`] and [`SegmentName::site`] instead of parsing names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SegmentName {
    /// The one internet segment, where public hosts and routers' WANs are.
    Internet,
    /// A site's LAN, behind its router.
    Lan(SiteName),
    /// A `cgnat` site's carrier segment, between its carrier and home router.
    Carrier(SiteName),
}

impl SegmentName {
    const LAN_PREFIX: &'static str = "lan-";
    const CARRIER_PREFIX: &'static str = "carrier-";

    pub fn kind(&self) -> SegmentKind {
        match self {
            SegmentName::Internet => SegmentKind::Internet,
            SegmentName::Lan(_) => SegmentKind::Lan,
            SegmentName::Carrier(_) => SegmentKind::Carrier,
        }
    }

    /// The site of a LAN or carrier segment.
    pub fn site(&self) -> Option<&SiteName> {
        match self {
            SegmentName::Internet => None,
            SegmentName::Lan(s) | SegmentName::Carrier(s) => Some(s),
        }
    }

    pub fn is_internet(&self) -> bool {
        *self == SegmentName::Internet
    }

    /// The segment a name names (the inverse of `Display`); `None` for a
    /// name no plan gives a segment.
    pub fn parse(name: &str) -> Option<SegmentName> {
        if name == "internet" {
            Some(SegmentName::Internet)
        } else if let Some(site) = name.strip_prefix(Self::LAN_PREFIX) {
            (!site.is_empty()).then(|| SegmentName::Lan(SiteName::from(site)))
        } else if let Some(site) = name.strip_prefix(Self::CARRIER_PREFIX) {
            (!site.is_empty()).then(|| SegmentName::Carrier(SiteName::from(site)))
        } else {
            None
        }
    }
}

impl std::fmt::Display for SegmentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SegmentName::Internet => f.pad("internet"),
            SegmentName::Lan(s) => f.pad(&format!("{}{s}", Self::LAN_PREFIX)),
            SegmentName::Carrier(s) => f.pad(&format!("{}{s}", Self::CARRIER_PREFIX)),
        }
    }
}

/// A name [`SegmentName::parse`] does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is no segment name (`internet`, `lan-<site>` or `carrier-<site>`)")]
pub struct NotASegmentName(pub String);

impl std::str::FromStr for SegmentName {
    type Err = NotASegmentName;
    fn from_str(s: &str) -> Result<Self, NotASegmentName> {
        SegmentName::parse(s).ok_or_else(|| NotASegmentName(s.to_string()))
    }
}

impl Serialize for SegmentName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SegmentName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub format: u32,
    pub name: String,
    pub description: String,
    pub connectivity: Connectivity,
    pub program: ProgramPlan,
    pub hosts: Vec<Host>,
    pub sites: Vec<Site>,
    pub segments: Vec<Segment>,
    pub platforms: Vec<crate::catalogue::PlatformFacts>,
    pub latency: LatencyPlan,
    pub loss_percent: f64,
    /// `simulation.faults`, in time order (the lab applies them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<crate::scenario::Fault>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Connectivity {
    pub backend: Backend,
    pub relay: Relay,
    /// Overlay network the backend assigns from; `None` when the backend
    /// assigns addresses itself (Tailscale, Headscale) or has no overlay.
    pub overlay_network: Option<String>,
    /// UDP/TCP port of the overlay daemon, if it has one.
    pub port: Option<u16>,
    /// Hosts that relay traffic when a direct path fails.
    pub relays: Vec<HostName>,
    /// Host that coordinates the overlay (control server, lighthouse, hub,
    /// bootstrap node), if the backend has one.
    pub coordinator: Option<HostName>,
    /// `hub` or `mesh` for WireGuard, `hub` for OpenVPN; `mesh` for the others.
    pub topology: Topology,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    Mesh,
    Hub,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgramPlan {
    pub name: String,
    /// A program given as a path (relative to the scenario file).
    pub path: Option<String>,
    pub args: Vec<String>,
    /// `program.files`, as resolved paths: they travel with the program.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// The directory the program runs in, relative to which the program and
    /// its files are laid out: their deepest common directory (for a
    /// program given by path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    pub port: u16,
    /// The ordered MPyC party list: `-P host:port` for index i is entry i.
    pub parties: Vec<MpcEndpoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MpcEndpoint {
    pub index: usize,
    pub host: HostName,
    /// Address other parties use in simulations: the overlay address, the
    /// MagicDNS name for Tailscale/Headscale, or the public underlay
    /// address for `direct`.
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Party,
    /// A home (or 1:1, or firewall) router in front of a site.
    Router,
    /// The carrier-grade NAT in front of a `cgnat` site's home router.
    Carrier,
    /// Headscale (and, for `tailscale` simulations, Tailscale's stand-in).
    Control,
    /// Nebula lighthouse, also its relay.
    Lighthouse,
    /// WireGuard hub, or OpenVPN server: every party's one peer, which
    /// forwards between them.
    Hub,
    /// tinc node with a public address every party connects to.
    Bootstrap,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Party => "party",
            Role::Router => "router",
            Role::Carrier => "carrier",
            Role::Control => "control",
            Role::Lighthouse => "lighthouse",
            Role::Hub => "hub",
            Role::Bootstrap => "bootstrap",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: HostName,
    pub role: Role,
    /// MPyC index, for parties.
    pub index: Option<usize>,
    /// The scenario entry a party host came from.
    pub party: Option<String>,
    /// Deployed to a real machine (parties and control hosts). Routers and
    /// the `tailscale` backend's local control server exist only in
    /// simulations.
    pub deploy: bool,
    pub platform: Option<Platform>,
    pub system: Option<&'static str>,
    pub provider: Option<&'static str>,
    pub region: Option<String>,
    pub size: Option<String>,
    /// Where Colmena reaches a non-cloud host.
    pub address: Option<IpAddr>,
    pub nat: Nat,
    pub site: Option<SiteName>,
    pub interfaces: Vec<Interface>,
    /// Address on the internet segment others use to reach this host in a
    /// simulation: its own, or its NAT's public address.
    pub public_address: Option<Ipv4Addr>,
    pub overlay_address: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Interface {
    pub segment: SegmentName,
    pub address: Ipv4Addr,
    pub prefix: u8,
    /// Default gateway through this interface.
    pub gateway: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub name: SiteName,
    pub nat: Nat,
    pub router: HostName,
    /// For `cgnat`: the carrier router between the home router and the internet.
    pub carrier: Option<HostName>,
    /// The LAN's CIDR (the segment is `SegmentName::Lan(name)`).
    pub lan: String,
    /// The site's public address on the internet segment.
    pub public_address: Ipv4Addr,
    pub hosts: Vec<HostName>,
    pub region: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    pub name: SegmentName,
    pub cidr: String,
    /// `name.kind()`, spelt out in `scenario.json`.
    pub kind: SegmentKind,
}

impl Segment {
    pub fn new(name: SegmentName, cidr: String) -> Segment {
        let kind = name.kind();
        Segment { name, cidr, kind }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentKind {
    Internet,
    Lan,
    Carrier,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyPlan {
    pub model: &'static str,
    /// One-way delays in milliseconds. For `regions`, `a` and `b` are region
    /// slugs; for `explicit`, party names (applying to all their hosts).
    pub pairs: Vec<DelayPair>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DelayPair {
    pub a: String,
    pub b: String,
    pub one_way_ms: f64,
}

impl Plan {
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn parties(&self) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(|h| h.role == Role::Party)
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a plan always serialises");
        s.push('\n');
        s
    }

    /// The plan as `e3 show` prints it: backend and program, a table of the
    /// hosts (role, platform, region, NAT, underlay and overlay addresses),
    /// and the one-way delays of the latency model when there are any.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "{}: {}", self.name, self.description);
        let c = &self.connectivity;
        let _ = writeln!(
            s,
            "backend {} (relay {}, {}), program {} on port {}",
            c.backend,
            c.relay,
            match c.topology {
                Topology::Hub => "hub",
                Topology::Mesh => "mesh",
            },
            self.program.name,
            self.program.port
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<20} {:<10} {:<13} {:<7} {:<9} {:<26} {:<15}",
            "HOST", "ROLE", "PLATFORM", "REGION", "NAT", "UNDERLAY", "OVERLAY"
        );
        for h in &self.hosts {
            let underlay = h
                .interfaces
                .iter()
                .map(|i| i.address.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let role = match (h.role, h.index) {
                (Role::Party, Some(i)) => format!("party #{i}"),
                (r, _) => r.as_str().to_string(),
            };
            let _ = writeln!(
                s,
                "{:<20} {:<10} {:<13} {:<7} {:<9} {:<26} {:<15}",
                h.name,
                role,
                h.platform.map(|p| p.as_str()).unwrap_or("(sim)"),
                h.region.as_deref().unwrap_or("-"),
                h.nat.as_str(),
                underlay,
                h.overlay_address
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "-".into()),
            );
        }
        // Padding of the last column leaves trailing spaces: trim each line.
        let mut s: String = s.lines().map(|l| format!("{}\n", l.trim_end())).collect();
        if !self.latency.pairs.is_empty() {
            let _ = writeln!(s, "\none-way delay ({}):", self.latency.model);
            for p in &self.latency.pairs {
                let _ = writeln!(s, "  {} <-> {}: {} ms", p.a, p.b, p.one_way_ms);
            }
        }
        s
    }
}

/// The n-th usable address (last octet 1–254) of a run of /24s.
fn nth_host(base: Ipv4Addr, first_24: u32, n: u32) -> Ipv4Addr {
    let block = first_24 + n / USABLE_PER_24;
    let host = n % USABLE_PER_24 + 1;
    Ipv4Addr::from(u32::from(base) + block * 256 + host)
}

fn subnet_24(base: Ipv4Addr, i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base) + i * 256)
}

fn offset(net: Ipv4Addr, host: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net) + host)
}

/// Great-circle one-way delay between two regions, in ms (see module docs).
pub fn one_way_delay_ms(a: &Region, b: &Region) -> f64 {
    let (la, lb) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lb - la;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la.cos() * lb.cos() * (dlon / 2.0).sin().powi(2);
    let km = 2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin();
    (km * ROUTE_FACTOR / FIBRE_KM_PER_MS * 10.0).round() / 10.0
}

/// The deepest directory holding a path program and all its files (their
/// parents, for files); `None` for a bundled program or one without files.
fn program_workdir(p: &crate::scenario::Program) -> Option<String> {
    use std::path::{Path, PathBuf};
    let program = p.path.as_ref()?;
    if p.files.is_empty() {
        return None;
    }
    let parent = |x: &Path| x.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut common: PathBuf = parent(program);
    for f in &p.files {
        while !f.starts_with(&common) && common.pop() {}
    }
    let s = common.display().to_string();
    Some(if s.is_empty() { ".".into() } else { s })
}

impl Connectivity {
    /// The overlay network's prefix length (16 when the backend assigns
    /// addresses itself).
    pub fn overlay_prefix(&self) -> u8 {
        self.overlay_network
            .as_deref()
            .and_then(|n| n.split_once('/'))
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(16)
    }
}

/// A prefix length as a dotted netmask (`16` → `255.255.0.0`).
pub fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    )
}

/// Builds the plan. The scenario must be valid (see [`crate::scenario::validate`]).
pub fn plan(scenario: &Scenario) -> Plan {
    let backend = scenario.backend;
    let natted = scenario.parties.iter().any(|p| p.nat.filters_inbound());
    let topology = match (backend, scenario.relay) {
        (Backend::Wireguard, Relay::Always) => Topology::Hub,
        (Backend::Wireguard, Relay::Auto) if natted => Topology::Hub,
        (Backend::Openvpn, _) => Topology::Hub,
        _ => Topology::Mesh,
    };
    let uses_overlay_range = matches!(
        backend,
        Backend::Nebula | Backend::Wireguard | Backend::Tinc | Backend::Openvpn
    );

    // Party hosts, in scenario order: their MPyC index is their position.
    let mut hosts: Vec<Host> = Vec::new();
    let mut public_parties = 0u32;
    for p in &scenario.parties {
        for name in p.host_names() {
            let index = hosts.len();
            let mut h = Host {
                name: HostName::new(name.clone()),
                role: Role::Party,
                index: Some(index),
                party: Some(p.name.clone()),
                deploy: true,
                platform: Some(p.platform),
                system: Some(p.platform.facts().system),
                provider: p.platform.facts().provider,
                region: p.region.map(|r| r.slug.to_string()),
                size: if p.platform.is_cloud() {
                    p.size
                        .clone()
                        .or(p.platform.facts().default_size.map(str::to_string))
                } else {
                    None
                },
                address: p.address,
                nat: p.nat,
                site: None,
                interfaces: Vec::new(),
                public_address: None,
                overlay_address: uses_overlay_range.then(|| nth_host(OVERLAY, 0, index as u32)),
            };
            if p.nat == Nat::None {
                let a = nth_host(INTERNET, PARTY_BLOCK.0, public_parties);
                public_parties += 1;
                h.interfaces.push(Interface {
                    segment: SegmentName::Internet,
                    address: a,
                    prefix: INTERNET_PREFIX,
                    gateway: None,
                });
                h.public_address = Some(a);
            } else {
                h.site = Some(SiteName::new(
                    p.site.clone().unwrap_or_else(|| name.clone()),
                ));
            }
            hosts.push(h);
        }
    }

    // Control hosts, placed in the region closest to all parties.
    let coordinator = match backend {
        Backend::Tailscale | Backend::Headscale => Some(("control", Role::Control)),
        Backend::Nebula => Some(("lighthouse", Role::Lighthouse)),
        Backend::Wireguard if topology == Topology::Hub => Some(("hub", Role::Hub)),
        Backend::Openvpn => Some(("server", Role::Hub)),
        Backend::Tinc => Some(("bootstrap", Role::Bootstrap)),
        _ => None,
    };
    if let Some((name, role)) = coordinator {
        let (platform, region) = place_infrastructure(scenario);
        let facts = platform.facts();
        let a = nth_host(INTERNET, INFRA_BLOCK.0, 0);
        hosts.push(Host {
            name: HostName::from(name),
            role,
            index: None,
            party: None,
            // Tailscale's control plane is Tailscale's service; the local
            // Headscale stands in for it in simulations only.
            deploy: backend != Backend::Tailscale,
            platform: Some(platform),
            system: Some(facts.system),
            provider: facts.provider,
            region: Some(region.to_string()),
            size: facts.default_size.map(str::to_string),
            address: None,
            nat: Nat::None,
            site: None,
            interfaces: vec![Interface {
                segment: SegmentName::Internet,
                address: a,
                prefix: INTERNET_PREFIX,
                gateway: None,
            }],
            public_address: Some(a),
            overlay_address: uses_overlay_range.then(|| nth_host(OVERLAY, 255, 0)),
        });
    }

    // Sites and their routers. Party hosts are indexed by name: routers are
    // pushed after them, so the positions stay valid.
    let party_position: std::collections::HashMap<HostName, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.clone(), i))
        .collect();
    let mut sites = Vec::new();
    let mut segments = vec![Segment::new(
        SegmentName::Internet,
        format!("{INTERNET}/{INTERNET_PREFIX}"),
    )];
    let (mut public_lans, mut private_lans, mut carriers) = (0u32, 0u32, 0u32);
    for (i, draft) in scenario.sites().into_iter().enumerate() {
        let wan = nth_host(INTERNET, ROUTER_BLOCK.0, i as u32);
        let lan_net = if draft.nat == Nat::Firewall {
            public_lans += 1;
            subnet_24(PUBLIC_LANS, public_lans - 1)
        } else {
            private_lans += 1;
            subnet_24(PRIVATE_LANS, private_lans - 1)
        };
        let site_name = SiteName::new(draft.name.clone());
        let lan_name = SegmentName::Lan(site_name.clone());
        segments.push(Segment::new(lan_name.clone(), format!("{lan_net}/24")));
        let router_lan = offset(lan_net, 1);
        let router = HostName::new(format!("{}-router", draft.name));
        let mut carrier = None;
        let mut router_ifaces = Vec::new();
        if draft.nat == Nat::Cgnat {
            carriers += 1;
            let net = subnet_24(CARRIER, carriers - 1);
            let seg = SegmentName::Carrier(site_name.clone());
            segments.push(Segment::new(seg.clone(), format!("{net}/24")));
            let carrier_name = HostName::new(format!("{}-carrier", draft.name));
            router_ifaces.push(Interface {
                segment: seg.clone(),
                address: offset(net, 2),
                prefix: 24,
                gateway: Some(offset(net, 1)),
            });
            hosts.push(router_host(
                &carrier_name,
                Role::Carrier,
                &draft,
                vec![
                    Interface {
                        segment: SegmentName::Internet,
                        address: wan,
                        prefix: INTERNET_PREFIX,
                        gateway: None,
                    },
                    Interface {
                        segment: seg,
                        address: offset(net, 1),
                        prefix: 24,
                        gateway: None,
                    },
                ],
                wan,
            ));
            carrier = Some(carrier_name);
        } else {
            router_ifaces.push(Interface {
                segment: SegmentName::Internet,
                address: wan,
                prefix: INTERNET_PREFIX,
                gateway: None,
            });
        }
        router_ifaces.push(Interface {
            segment: lan_name.clone(),
            address: router_lan,
            prefix: 24,
            gateway: None,
        });
        hosts.push(router_host(
            &router,
            Role::Router,
            &draft,
            router_ifaces,
            wan,
        ));
        for (j, host) in draft.hosts.iter().enumerate() {
            let h = &mut hosts[party_position[host.as_str()]];
            let a = offset(lan_net, j as u32 + 2);
            h.interfaces.push(Interface {
                segment: lan_name.clone(),
                address: a,
                prefix: 24,
                gateway: Some(router_lan),
            });
            h.public_address = Some(if draft.nat == Nat::Firewall { a } else { wan });
        }
        sites.push(Site {
            name: site_name,
            nat: draft.nat,
            router,
            carrier,
            lan: format!("{lan_net}/24"),
            public_address: wan,
            hosts: draft.hosts.into_iter().map(HostName::new).collect(),
            region: draft.region,
        });
    }

    let overlay_port = match backend {
        Backend::Nebula => Some(ports::NEBULA),
        Backend::Wireguard => Some(ports::WIREGUARD),
        Backend::Tinc => Some(ports::TINC),
        Backend::Openvpn => Some(ports::OPENVPN),
        Backend::Tailscale | Backend::Headscale => Some(ports::TAILSCALE),
        Backend::Direct => None,
    };
    let relays = match (backend, scenario.relay, coordinator) {
        (_, Relay::Never, _) | (Backend::Direct, _, _) => Vec::new(),
        (_, _, Some((name, _))) => vec![HostName::from(name)],
        _ => Vec::new(),
    };
    let endpoints = hosts
        .iter()
        .filter(|h| h.role == Role::Party)
        .map(|h| MpcEndpoint {
            index: h.index.unwrap_or_default(),
            host: h.name.clone(),
            address: match (backend, h.overlay_address, h.public_address) {
                (Backend::Tailscale | Backend::Headscale, _, _) => h.name.to_string(),
                (_, Some(o), _) => o.to_string(),
                (_, None, Some(p)) => p.to_string(),
                _ => h.name.to_string(),
            },
        })
        .collect();

    let mut platforms: Vec<Platform> = hosts
        .iter()
        .filter(|h| h.deploy)
        .filter_map(|h| h.platform)
        .collect();
    platforms.sort();
    platforms.dedup();

    Plan {
        format: PLAN_FORMAT,
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        connectivity: Connectivity {
            backend,
            relay: scenario.relay,
            overlay_network: uses_overlay_range.then(|| format!("{OVERLAY}/{OVERLAY_PREFIX}")),
            port: overlay_port,
            relays,
            coordinator: coordinator.map(|(n, _)| HostName::from(n)),
            topology,
        },
        program: ProgramPlan {
            name: scenario.program.name.clone(),
            path: scenario
                .program
                .path
                .as_ref()
                .map(|p| p.display().to_string()),
            args: scenario.program.args.clone(),
            files: scenario
                .program
                .files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            workdir: program_workdir(&scenario.program),
            port: ports::MPYC,
            parties: endpoints,
        },
        hosts,
        sites,
        segments,
        platforms: platforms.into_iter().map(Platform::facts).collect(),
        latency: latency_plan(scenario),
        loss_percent: scenario.simulation.loss_percent,
        faults: scenario.simulation.faults.clone(),
    }
}

fn router_host(
    name: &HostName,
    role: Role,
    site: &scenario::Site,
    interfaces: Vec<Interface>,
    wan: Ipv4Addr,
) -> Host {
    Host {
        name: name.clone(),
        role,
        index: None,
        party: None,
        deploy: false,
        platform: None,
        system: None,
        provider: None,
        region: site.region.clone(),
        size: None,
        address: None,
        nat: site.nat,
        site: Some(SiteName::new(site.name.clone())),
        interfaces,
        public_address: Some(wan),
        overlay_address: None,
    }
}

/// Where control hosts go: the cloud region (among the parties' regions)
/// with the least total delay to all party hosts; ties go to the earlier party.
/// Without a cloud party, the DigitalOcean region closest to the parties
/// that have a location, or the first DigitalOcean region.
fn place_infrastructure(scenario: &Scenario) -> (Platform, &'static str) {
    // Hosts per distinct region, and distinct candidates in first-seen
    // order: linear in the parties, quadratic only in the (few) regions.
    let mut located: BTreeMap<&str, (&Region, f64)> = BTreeMap::new();
    for p in &scenario.parties {
        if let Some(r) = p.region {
            located.entry(r.slug).or_insert((r, 0.0)).1 += p.host_count() as f64;
        }
    }
    let cost = |r: &Region| {
        located
            .values()
            .map(|(o, n)| n * one_way_delay_ms(r, o))
            .sum::<f64>()
    };
    let mut candidates: Vec<(Platform, &'static Region)> = Vec::new();
    for p in scenario.parties.iter().filter(|p| p.platform.is_cloud()) {
        if let Some(r) = p.region {
            if !candidates
                .iter()
                .any(|(cp, cr)| *cp == p.platform && cr.slug == r.slug)
            {
                candidates.push((p.platform, r));
            }
        }
    }
    if candidates.is_empty() {
        candidates = Platform::DigitalOcean
            .regions()
            .iter()
            .map(|r| (Platform::DigitalOcean, r))
            .collect();
    }
    let mut best: Option<(f64, Platform, &'static Region)> = None;
    for (platform, region) in candidates {
        let c = cost(region);
        if best.is_none_or(|(b, _, _)| c < b - 1e-9) {
            best = Some((c, platform, region));
        }
    }
    let (_, platform, region) = best.expect("at least one candidate region");
    (platform, region.slug)
}

fn latency_plan(scenario: &Scenario) -> LatencyPlan {
    match &scenario.simulation.latency {
        Latency::None => LatencyPlan {
            model: "none",
            pairs: Vec::new(),
        },
        Latency::Explicit(pairs) => LatencyPlan {
            model: "explicit",
            pairs: pairs
                .iter()
                .map(|p| DelayPair {
                    a: p.between[0].clone(),
                    b: p.between[1].clone(),
                    one_way_ms: p.one_way_ms,
                })
                .collect(),
        },
        Latency::Regions => {
            let mut regions: BTreeMap<&str, &Region> = BTreeMap::new();
            for p in &scenario.parties {
                if let Some(r) = p.region {
                    regions.insert(r.slug, r);
                }
            }
            let (platform, slug) = place_infrastructure(scenario);
            if let Some(r) = platform.regions().iter().find(|r| r.slug == slug) {
                regions.insert(r.slug, r);
            }
            let list: Vec<&Region> = regions.into_values().collect();
            let mut pairs = Vec::new();
            for (i, a) in list.iter().enumerate() {
                for b in &list[i + 1..] {
                    pairs.push(DelayPair {
                        a: a.slug.to_string(),
                        b: b.slug.to_string(),
                        one_way_ms: one_way_delay_ms(a, b),
                    });
                }
            }
            LatencyPlan {
                model: "regions",
                pairs,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::DIGITALOCEAN_REGIONS;

    #[test]
    fn host_numbering_skips_network_and_broadcast() {
        assert_eq!(nth_host(OVERLAY, 0, 0), Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!(nth_host(OVERLAY, 0, 253), Ipv4Addr::new(10, 9, 0, 254));
        assert_eq!(nth_host(OVERLAY, 0, 254), Ipv4Addr::new(10, 9, 1, 1));
        assert_eq!(
            nth_host(INTERNET, ROUTER_BLOCK.0, 0),
            Ipv4Addr::new(198, 18, 128, 1)
        );
    }

    #[test]
    fn latency_model() {
        let ams = DIGITALOCEAN_REGIONS
            .iter()
            .find(|r| r.slug == "ams3")
            .unwrap();
        let nyc = DIGITALOCEAN_REGIONS
            .iter()
            .find(|r| r.slug == "nyc3")
            .unwrap();
        // ~5860 km great circle -> 5860 * 1.5 / 200 = 43.9 ms
        let d = one_way_delay_ms(ams, nyc);
        assert!((43.0..45.0).contains(&d), "{d}");
        assert_eq!(one_way_delay_ms(ams, ams), 0.0);
        assert_eq!(one_way_delay_ms(ams, nyc), one_way_delay_ms(nyc, ams));
    }

    #[test]
    fn segment_names_round_trip() {
        let home = SiteName::from("home");
        let cases = [
            (
                SegmentName::Internet,
                "internet",
                SegmentKind::Internet,
                None,
            ),
            (
                SegmentName::Lan(home.clone()),
                "lan-home",
                SegmentKind::Lan,
                Some("home"),
            ),
            (
                SegmentName::Carrier(SiteName::from("nbg")),
                "carrier-nbg",
                SegmentKind::Carrier,
                Some("nbg"),
            ),
            // A site's name may itself look like a prefix.
            (
                SegmentName::Lan(SiteName::from("carrier-x")),
                "lan-carrier-x",
                SegmentKind::Lan,
                Some("carrier-x"),
            ),
        ];
        for (seg, name, kind, site) in cases {
            assert_eq!(seg.to_string(), name);
            assert_eq!(SegmentName::parse(name), Some(seg.clone()), "{name}");
            assert_eq!(name.parse::<SegmentName>(), Ok(seg.clone()));
            assert_eq!(seg.kind(), kind);
            assert_eq!(seg.site().map(SiteName::as_str), site);
            assert_eq!(seg.is_internet(), kind == SegmentKind::Internet);
            assert_eq!(serde_json::to_string(&seg).unwrap(), format!("\"{name}\""));
            let back: SegmentName = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(back, seg);
        }
        for bad in ["", "lan-", "carrier-", "wan", "lan", "Internet"] {
            assert_eq!(SegmentName::parse(bad), None, "{bad}");
        }
        assert!(serde_json::from_str::<SegmentName>("\"wan\"").is_err());
        assert_eq!(format!("[{:<10}]", SegmentName::Lan(home)), "[lan-home  ]");
    }

    #[test]
    fn names_serialise_as_bare_strings() {
        let h = HostName::from("alice-router");
        assert_eq!(serde_json::to_string(&h).unwrap(), "\"alice-router\"");
        assert_eq!(
            serde_json::from_str::<HostName>("\"alice-router\"").unwrap(),
            h
        );
        assert_eq!(format!("[{h:<14}]"), "[alice-router  ]");
        assert!(h == "alice-router");
        assert!("alice-router" == h);
        assert!(h != *"bob");
        let mut m = BTreeMap::new();
        m.insert(HostName::from("bob"), 1);
        assert_eq!(m.get("bob"), Some(&1));
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"bob":1}"#);
        assert_eq!(
            serde_json::to_string(&SiteName::from("home")).unwrap(),
            "\"home\""
        );
    }

    #[test]
    fn plan_segments_and_interfaces_agree() {
        let yaml = "connectivity: { backend: nebula }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean, region: ams3 }\nparties:\n  - { name: alice, nat: cgnat, site: home }\n  - { name: bob, nat: easy }\n  - { name: carol, nat: none }\n";
        let checked = crate::check_text("segments.yaml", yaml.as_bytes());
        let plan = plan(
            checked
                .scenario()
                .unwrap_or_else(|| panic!("invalid scenario: {:?}", checked.diagnostics)),
        );
        let names: Vec<String> = plan.segments.iter().map(|s| s.name.to_string()).collect();
        assert_eq!(names, ["internet", "lan-home", "carrier-home", "lan-bob"]);
        for seg in &plan.segments {
            assert_eq!(seg.kind, seg.name.kind());
        }
        for h in &plan.hosts {
            for i in &h.interfaces {
                assert!(
                    plan.segments.iter().any(|s| s.name == i.segment),
                    "{}",
                    i.segment
                );
                if let Some(site) = i.segment.site() {
                    assert!(plan.sites.iter().any(|s| s.name == *site), "{site}");
                }
            }
        }
    }

    #[test]
    fn the_hosts_e3_adds_have_reserved_names() {
        // Validation keeps parties off these names; every control host the
        // plan adds, for every backend, must be among them.
        for name in crate::bundled_examples() {
            let checked = crate::check_arg(&name);
            let plan = plan(checked.scenario().expect("bundled scenarios are valid"));
            for h in plan.hosts.iter().filter(|h| h.role != Role::Party) {
                assert!(
                    capacity::RESERVED_HOST_NAMES.contains(&h.name.as_str())
                        || h.name.ends_with("-router")
                        || h.name.ends_with("-carrier"),
                    "{name}: `{}` is not a reserved name",
                    h.name
                );
            }
        }
    }

    #[test]
    fn the_text_of_a_plan() {
        let checked = crate::check_arg("nebula-nat");
        let p = plan(checked.scenario().expect("bundled scenarios are valid"));
        let text = p.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("{}: {}", p.name, p.description));
        assert!(
            lines[1].starts_with("backend nebula (relay "),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], "");
        assert!(lines[3].starts_with("HOST                 ROLE       PLATFORM"));
        assert!(lines[4].starts_with("alice "), "{}", lines[4]);
        assert!(lines[4].contains("party #0"), "{}", lines[4]);
        assert!(lines.iter().any(|l| l.starts_with("lighthouse ")));
        assert!(
            lines.iter().all(|l| l.trim_end() == *l),
            "no trailing spaces"
        );
        // One row per host, then the delays of the model.
        assert_eq!(lines[4 + p.hosts.len()], "");
        assert!(lines[5 + p.hosts.len()].starts_with("one-way delay ("));
        assert_eq!(lines.len(), 6 + p.hosts.len() + p.latency.pairs.len());
    }
}
