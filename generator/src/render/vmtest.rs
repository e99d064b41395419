//! The NixOS VM test of a scenario's simulated topology, as data: the
//! facts the test script checks and each plan host's VM (VLANs, addresses,
//! gateway, NAT table, netem script, e3's settings) go into
//! `data/e3.json` and `data/hosts/<host>.json`; the static
//! `modules/scenario/vmtest.nix` (`mkE3Test`, the same for every scenario)
//! builds the `pkgs.testers.runNixOSTest` from them, and the rendered
//! `tests/nat.nix` only calls it. The flake exposes it as
//! `checks.<system>.nat`.
//!
//! One VM per plan host: parties and control hosts import the rendered
//! `modules/` and get the settings a deployment gets
//! ([`nix::host_settings`], [`nix::common_settings`] with
//! [`Target::VmTest`]: the plan's simulation addresses, throwaway test
//! keys); routers and carriers load the NAT rules of [`crate::nat`] (the
//! lab's) as `networking.nftables.tables.e3`. VLAN 1 is the internet
//! segment, then one VLAN per plan segment in plan order ([`vlans`]);
//! interfaces are named as in the lab (`wan`, `lan`, `cgn`) on routers and
//! `eth1` elsewhere (`eth0` is QEMU's user-mode network, unused). Latency
//! and loss are shaped with netem as [`crate::netem`] places them (each
//! host on the internet segment, as it sends there), by a oneshot unit per
//! shaped host.
//!
//! The test script (`generator/templates/vmtest.py`, rendered as
//! `tests/nat.py`) is the same for every scenario; what it checks comes
//! from the facts.
//!
//! Secrets: none of the scenario's. WireGuard and tinc keys are made by a
//! derivation at build time for the test alone (their public halves are read
//! during evaluation: import from derivation), Nebula certificates by the
//! test script, the Headscale pre-auth key by the control server during the
//! test, the TLS certificate of `control` by a derivation (as in nixpkgs'
//! headscale test).

use std::net::Ipv4Addr;

use serde_json::json;

use super::nix::{common_settings, host_settings, Target};
use super::Files;
use crate::catalogue::{Backend, Nat};
use crate::netem::Loss;
use crate::plan::{Host, Plan, Role, Segment, SegmentKind, SegmentName, Topology};

/// The test script, the same for every scenario; `mkE3Test` fills in
/// `@FACTS_FILE@`, `@NEBULA_CERT@` and `@OPENSSL@` when it reads it.
pub const SCRIPT: &str = include_str!("../../templates/vmtest.py");

/// Where the test is written in the rendered directory.
pub const PATH: &str = "tests/nat.nix";
/// Where its script is written, beside it.
pub const SCRIPT_PATH: &str = "tests/nat.py";

/// `tests/nat.nix`: the same for every scenario.
const NAT_NIX: &str = "\
# The NixOS VM test of this e3 scenario: its NAT topology with real routers,
# its overlay, and a run of its program on every party. Rendered by e3: the
# hosts are data/hosts/*.json, the test is built by modules/scenario/vmtest.nix.
#
#   nix build .#checks.x86_64-linux.nat -L    # or `nix flake check`; needs KVM
#
# The result holds e3-summary.json: each site's NAT mapping and filtering,
# each pair's path (direct or relayed), each party's result.
{ pkgs }:
import ../modules/scenario/vmtest.nix {
  inherit pkgs;
  root = ../.;
}
";

pub fn render(_plan: &Plan, files: &mut Files) {
    files.insert(PATH.into(), NAT_NIX.as_bytes().to_vec());
    files.insert(SCRIPT_PATH.into(), SCRIPT.as_bytes().to_vec());
}

/// The VLAN of each plan segment: the internet segment is VLAN 1, the others
/// follow in plan order.
pub fn vlans(plan: &Plan) -> Vec<(&Segment, u32)> {
    let mut out: Vec<(&Segment, u32)> = plan
        .segments
        .iter()
        .filter(|s| s.kind == SegmentKind::Internet)
        .map(|s| (s, 1))
        .collect();
    out.extend(
        plan.segments
            .iter()
            .filter(|s| s.kind != SegmentKind::Internet)
            .zip(2..),
    );
    out
}

fn vlan_of(plan: &Plan, segment: &SegmentName) -> u32 {
    vlans(plan)
        .into_iter()
        .find(|(s, _)| s.name == *segment)
        .map_or(0, |(_, v)| v)
}

/// The interface names of a host's plan interfaces in its VM, in order.
pub fn interface_names(h: &Host) -> Vec<String> {
    h.interfaces
        .iter()
        .enumerate()
        .map(|(k, i)| {
            crate::nat::router_interface(h.role, &i.segment)
                .map_or_else(|| format!("eth{}", k + 1), str::to_string)
        })
        .collect()
}

/// The party whose inbound connections plain TCP cannot make (the `direct`
/// backend): MPyC party `i` connects to every party above it, so a party
/// behind a filtering NAT fails the run unless it is party 0. Returns the
/// host that drops the connections (the router, or a `cgnat` site's carrier)
/// and why.
pub fn expected_failure(plan: &Plan) -> Option<(String, String)> {
    if plan.connectivity.backend != Backend::Direct {
        return None;
    }
    let p = plan
        .parties()
        .find(|p| p.index.unwrap_or_default() > 0 && p.nat.filters_inbound())?;
    let site = plan
        .sites
        .iter()
        .find(|s| Some(&s.name) == p.site.as_ref())?;
    let idx = p.index.unwrap_or_default();
    let edge = site.carrier.clone().unwrap_or_else(|| site.router.clone());
    let public = p.public_address.map(|a| a.to_string()).unwrap_or_default();
    let who = if idx == 1 {
        "party #0".to_string()
    } else {
        format!("parties #0 to #{}", idx - 1)
    };
    let reason = format!(
        "party #{idx} `{}` is behind `{}` NAT ({}; router `{}`, public address {public}): {who} must open TCP connections to {public}:{}, which plain TCP cannot do across this NAT; use an overlay backend",
        p.name,
        site.nat,
        site.nat.describe(),
        site.router,
        plan.program.port
    );
    Some((edge.to_string(), reason))
}

/// A small value of the facts, as JSON.
enum Fact {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
    List(Vec<Fact>),
    Attrs(Vec<(&'static str, Fact)>),
}

use Fact as Value;

impl Fact {
    fn opt(s: Option<impl Into<String>>) -> Fact {
        s.map_or(Fact::Null, |s| Fact::Str(s.into()))
    }

    fn strs<I: IntoIterator<Item = impl Into<String>>>(items: I) -> Fact {
        Fact::List(items.into_iter().map(|s| Fact::Str(s.into())).collect())
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Fact::Str(s) => json!(s),
            Fact::Int(i) => json!(i),
            Fact::Bool(b) => json!(b),
            Fact::Null => serde_json::Value::Null,
            Fact::List(items) => items.iter().map(Fact::json).collect(),
            Fact::Attrs(items) => serde_json::Value::Object(
                items
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.json()))
                    .collect(),
            ),
        }
    }
}

/// Hosts on the internet segment, in the order the script picks probers:
/// hosts running e3's modules (with SSH) first, then routers and carriers.
fn internet_hosts(plan: &Plan) -> Vec<(&Host, Ipv4Addr, bool)> {
    let mut out: Vec<(&Host, Ipv4Addr, bool)> = Vec::new();
    for ssh in [true, false] {
        for h in &plan.hosts {
            let is_router = matches!(h.role, Role::Router | Role::Carrier);
            if is_router == ssh {
                continue;
            }
            if let Some(a) = crate::netem::internet_address(h) {
                out.push((h, a, ssh));
            }
        }
    }
    out
}

fn facts(plan: &Plan) -> Value {
    let c = &plan.connectivity;
    let party_addresses = |h: &Host| {
        let mut v: Vec<String> = h.interfaces.iter().map(|i| i.address.to_string()).collect();
        if let Some(p) = h.public_address.map(|a| a.to_string()) {
            if !v.contains(&p) {
                v.push(p);
            }
        }
        v
    };
    let parties = plan
        .parties()
        .map(|p| {
            Value::Attrs(vec![
                ("host", Value::Str(p.name.to_string())),
                ("index", Value::Int(p.index.unwrap_or_default() as i64)),
                ("nat", Value::Str(p.nat.to_string())),
                (
                    "overlay",
                    Value::opt(p.overlay_address.map(|a| a.to_string())),
                ),
                (
                    "public",
                    Value::opt(p.public_address.map(|a| a.to_string())),
                ),
                ("addresses", Value::strs(party_addresses(p))),
            ])
        })
        .collect();
    let sites = plan
        .sites
        .iter()
        .map(|s| {
            let carrier_side = s
                .carrier
                .as_ref()
                .and_then(|_| plan.host(&s.router))
                .and_then(|r| r.interfaces.first())
                .map(|i| i.address.to_string());
            Value::Attrs(vec![
                ("name", Value::Str(s.name.to_string())),
                ("nat", Value::Str(s.nat.to_string())),
                ("router", Value::Str(s.router.to_string())),
                ("carrier", Value::opt(s.carrier.clone())),
                ("public", Value::Str(s.public_address.to_string())),
                ("carrierSide", Value::opt(carrier_side)),
                ("lan", Value::Str(s.lan.clone())),
                ("hosts", Value::strs(s.hosts.iter().cloned())),
            ])
        })
        .collect();
    let internet = internet_hosts(plan)
        .into_iter()
        .map(|(h, a, ssh)| {
            Value::Attrs(vec![
                ("host", Value::Str(h.name.to_string())),
                ("address", Value::Str(a.to_string())),
                ("ssh", Value::Bool(ssh)),
            ])
        })
        .collect();
    let prefix = c
        .overlay_network
        .as_deref()
        .and_then(|n| n.split_once('/'))
        .map_or("16", |(_, p)| p);
    let overlay = if c.backend == Backend::Nebula {
        // The lighthouse first: it is started before the parties ask it anything.
        let mut members: Vec<&Host> = plan
            .hosts
            .iter()
            .filter(|h| h.role != Role::Party)
            .collect();
        members.extend(plan.parties());
        members
            .into_iter()
            .filter_map(|h| h.overlay_address.map(|a| (h, a)))
            .map(|(h, a)| {
                Value::Attrs(vec![
                    ("host", Value::Str(h.name.to_string())),
                    ("cidr", Value::Str(format!("{a}/{prefix}"))),
                ])
            })
            .collect()
    } else {
        Vec::new()
    };
    let expect = match expected_failure(plan) {
        Some((router, reason)) => Value::Attrs(vec![
            ("router", Value::Str(router)),
            ("reason", Value::Str(reason)),
        ]),
        None => Value::Null,
    };
    Value::Attrs(vec![
        ("scenario", Value::Str(plan.name.clone())),
        ("backend", Value::Str(c.backend.to_string())),
        ("program", Value::Str(plan.program.name.clone())),
        ("port", Value::Int(plan.program.port as i64)),
        ("coordinator", Value::opt(c.coordinator.clone())),
        ("relay", Value::opt(c.relays.first().cloned())),
        (
            "hub",
            Value::Bool(
                matches!(c.backend, Backend::Wireguard | Backend::Openvpn)
                    && c.topology == Topology::Hub,
            ),
        ),
        ("expectFailure", expect),
        ("parties", Value::List(parties)),
        ("sites", Value::List(sites)),
        ("internet", Value::List(internet)),
        ("overlay", Value::List(overlay)),
        (
            "routers",
            Value::strs(
                plan.hosts
                    .iter()
                    .filter(|h| matches!(h.role, Role::Router | Role::Carrier))
                    .map(|h| h.name.clone()),
            ),
        ),
        (
            "shaped",
            Value::strs(
                crate::netem::shaping(plan, Loss::Netem)
                    .into_iter()
                    .map(|s| s.host),
            ),
        ),
    ])
}

/// The key a host's overlay reads from /run/keys, for backends whose test
/// keys come from the `testKeys` derivation.
fn test_key(plan: &Plan, h: &Host) -> Option<&'static str> {
    h.overlay_address?;
    match plan.connectivity.backend {
        Backend::Wireguard => Some("/run/keys/wireguard.key"),
        Backend::Tinc => Some("/run/keys/tinc-rsa.priv"),
        _ => None,
    }
}

/// The `vmtest` part of `data/e3.json`: the test's name, the facts the
/// script checks (also `passthru.e3` of the check), the settings every host
/// running e3's modules shares, the hosts that get throwaway overlay keys,
/// and the tailnet's control server.
pub fn test_data(plan: &Plan) -> serde_json::Value {
    let c = &plan.connectivity;
    let keyed: Vec<&str> = plan
        .hosts
        .iter()
        .filter(|h| test_key(plan, h).is_some())
        .map(|h| h.name.as_str())
        .collect();
    let test_keys = (!keyed.is_empty()).then(|| {
        json!({
            "backend": if c.backend == Backend::Tinc { "tinc" } else { "wireguard" },
            "hosts": keyed,
        })
    });
    let tailnet = matches!(c.backend, Backend::Tailscale | Backend::Headscale).then(|| {
        let control = c.coordinator.as_deref().and_then(|n| plan.host(n));
        json!({
            "control": control.map_or("control", |h| h.name.as_str()),
            "address": control.and_then(|h| h.public_address).map(|a| a.to_string()),
        })
    });
    json!({
        "name": format!("e3-{}", crate::matrix::store_name(&plan.name)),
        "facts": facts(plan).json(),
        "common": common_settings(plan, Target::VmTest),
        "testKeys": test_keys,
        "tailnet": tailnet,
    })
}

/// The `vm` part of a host's data: which of the test's modules it imports
/// (`router`, `party`, `e3Host`, `headscaleTls`, `tailnetClient`), the
/// throwaway key it installs, its interfaces (name, VLAN, address, routes),
/// default gateway, netem script, NAT table and e3 settings.
pub fn node_data(plan: &Plan, h: &Host) -> serde_json::Value {
    let c = &plan.connectivity;
    let tailnet = matches!(c.backend, Backend::Tailscale | Backend::Headscale);
    let names = interface_names(h);
    let mut imports: Vec<&str> = vec![match h.role {
        Role::Router | Role::Carrier => "router",
        Role::Party => "party",
        _ => "e3Host",
    }];
    if tailnet {
        match h.role {
            Role::Control => imports.push("headscaleTls"),
            Role::Party => imports.push("tailnetClient"),
            _ => {}
        }
    }
    let firewall_routes: Vec<serde_json::Value> = plan
        .sites
        .iter()
        .filter(|site| site.nat == Nat::Firewall && Some(&site.router) != Some(&h.name))
        .map(|site| {
            let (net, prefix) = site
                .lan
                .split_once('/')
                .unwrap_or((site.lan.as_str(), "24"));
            json!({
                "address": net,
                "prefixLength": prefix.parse::<u8>().unwrap_or(24),
                "via": site.public_address.to_string(),
            })
        })
        .collect();
    let interfaces: Vec<serde_json::Value> = h
        .interfaces
        .iter()
        .zip(&names)
        .map(|(i, name)| {
            let routes = if i.segment.is_internet() {
                firewall_routes.clone()
            } else {
                Vec::new()
            };
            json!({
                "name": name,
                "vlan": vlan_of(plan, &i.segment),
                "address": i.address.to_string(),
                "prefixLength": i.prefix,
                "routes": routes,
            })
        })
        .collect();
    let gateway = h
        .interfaces
        .iter()
        .zip(&names)
        .find(|(i, _)| i.gateway.is_some())
        .map(|(i, name)| {
            json!({
                "address": i.gateway.map(|g| g.to_string()).unwrap_or_default(),
                "interface": name,
            })
        });
    let shaping = crate::netem::shaping(plan, Loss::Netem);
    let netem = shaping.iter().find(|x| x.host == h.name).map(|shape| {
        let dev = h
            .interfaces
            .iter()
            .zip(&names)
            .find(|(i, _)| i.segment.is_internet())
            .map_or("eth1", |(_, n)| n.as_str());
        let commands: Vec<String> = shape.commands(dev).iter().map(|c| c.join(" ")).collect();
        json!({ "interface": dev, "commands": commands })
    });
    let nat = crate::nat::router(plan, h).map(|r| {
        let what = match (
            h.role,
            plan.sites
                .iter()
                .find(|x| Some(&x.name) == h.site.as_ref())
                .map(|x| x.nat),
        ) {
            (Role::Carrier, _) => "the carrier-grade NAT of a `cgnat` site: `easy`".to_string(),
            (_, Some(Nat::Cgnat)) => "the home router of a `cgnat` site: `easy`".to_string(),
            (_, _) => format!("`{}` NAT: {}", r.nat, r.nat.describe()),
        };
        json!({ "comment": what, "content": dedent(&r.body()) })
    });
    let settings = matches!(
        h.role,
        Role::Party | Role::Control | Role::Lighthouse | Role::Hub | Role::Bootstrap
    )
    .then(|| host_settings(plan, h, Target::VmTest));
    json!({
        "imports": imports,
        "testKey": test_key(plan, h),
        "interfaces": interfaces,
        "gateway": gateway,
        "netem": netem,
        "nat": nat,
        "settings": settings,
    })
}

/// `text` without the indentation its non-empty lines share (as a Nix
/// indented string reads it).
pub(crate) fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}
