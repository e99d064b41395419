//! The NixOS VM test (`tests/nat.nix`, which calls the static
//! `modules/scenario/vmtest.nix` with the rendered data) of every bundled
//! scenario and of `vmtest-scenarios/` (every NAT type, explicit latency,
//! loss), checked against its plan without nixpkgs (which cannot be fetched
//! here):
//!
//! - the rendered directory is evaluated by the real Nix evaluator
//!   (`nix-instantiate --eval`) with `pkgs` standing in only for what the
//!   test's node set and facts do not use (`testers.runNixOSTest` returns
//!   its argument); the node set, each node's VLANs, addresses, gateway and
//!   routes, each router's nftables table and each host's netem script, and
//!   the facts the test script checks are then compared with the plan:
//!   [`cross_check`], which fails on a missing or extra node, a wrong VLAN,
//!   address or gateway, or a router implementing another NAT type (the
//!   mutation tests below prove it, on the data and on the library);
//! - the test script (Python, run by the NixOS test driver, which lints it
//!   with pyflakes and type-checks it with mypy) is `tests/nat.py`, which
//!   `tests/nat.nix` reads and fills in; it is compared with the template
//!   (and the reading with what `nat.nix` must say), compiled by `python3`,
//!   linted by pyflakes with the driver's symbols and type-checked by mypy
//!   against the driver's declarations (`vmtest-driver-types.py`);
//! - each rendered NAT table is checked by `nft -c` (root), and the netem
//!   shaping commands are applied with the real `tc` in a scratch network
//!   namespace (root; the netem qdisc itself only where the kernel has it).
//!
//! Golden snapshots of the data are part of `tests/nix.rs`
//! (`tests/golden/<scenario>/data/`), as is `nix-instantiate --parse` of
//! every rendered `.nix` file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use e3::catalogue::{Backend, Nat};
use e3::load::ScenarioRef;
use e3::plan::{Plan, Role, SegmentKind};
use serde_json::Value;

fn plan(name: &str) -> Plan {
    let checked = e3::check_arg(name);
    e3::plan::plan(
        &checked
            .into_scenario()
            .unwrap_or_else(|| panic!("bundled scenario `{name}` is valid")),
    )
}

/// The bundled scenarios (a matrix by one variant per backend), and
/// `vmtest-scenarios/` (what they leave out: `firewall`, `one2one`, a shared
/// site, explicit latency pairs, loss).
fn plans() -> Vec<(String, Plan)> {
    let mut out: Vec<(String, Plan)> = e3::bundled_examples()
        .into_iter()
        .map(|n| (n.clone(), plan(&n)))
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vmtest-scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        let checked = e3::check(&ScenarioRef::File(file.clone()));
        let scenario = checked
            .into_scenario()
            .unwrap_or_else(|| panic!("{} is valid", file.display()));
        let p = e3::plan::plan(&scenario);
        out.push((p.name.clone(), p));
    }
    out
}

/// The rendered directory, with the project's `modules/` (so that a
/// mutation of the library is what is evaluated).
fn rendered_test(plan: &Plan) -> e3::render::Files {
    e3::render::render(plan)
}

/// Whether `tool` is on PATH; if not, fails under `E3_REQUIRE_TOOLS=1` and
/// otherwise says why the test is skipped.
fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    if !found {
        if std::env::var_os("E3_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
            panic!("`{tool}` not found, and E3_REQUIRE_TOOLS=1 (run `ci/install-deps`)");
        }
        eprintln!("skipped: `{tool}` not found (ci/test requires it)");
    }
    found
}

fn is_root() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|u| u.split_whitespace().nth(1) == Some("0"))
            })
        })
        .unwrap_or(false);
    if !root {
        if std::env::var_os("E3_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
            panic!("this test needs root, and E3_REQUIRE_TOOLS=1");
        }
        eprintln!("skipped: needs root");
    }
    root
}

/// What the cross-check reads from a rendered test: evaluated by Nix.
const EXTRACT: &str = r#"
let
  test = import ./tests/nat.nix { pkgs = { testers.runNixOSTest = test: test; }; };
in
{
  inherit (test) name;
  facts = test.passthru.e3;
  nodes = builtins.mapAttrs (_: node: {
    vlans = builtins.mapAttrs (_: i: i.vlan) (node.virtualisation.interfaces or { });
    interfaces = builtins.mapAttrs (_: i: {
      addresses = i.ipv4.addresses or [ ];
      routes = i.ipv4.routes or [ ];
    }) (node.networking.interfaces or { });
    gateway = node.networking.defaultGateway or null;
    nat = node.networking.nftables.tables.e3 or null;
    netem = node.systemd.services.e3-netem.script or null;
  }) test.nodes;
}
"#;

/// Evaluates a rendered directory's `tests/nat.nix` with the real Nix
/// evaluator.
fn evaluate(files: &e3::render::Files) -> Result<Value, String> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dir");
    for (p, c) in files
        .iter()
        .filter(|(p, _)| !p.starts_with("programs") && !p.starts_with("terraform"))
    {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    let out = Command::new("nix-instantiate")
        .args(["--store".as_ref(), tmp.path().join("store").as_os_str()])
        .args(["--eval", "--strict", "--json", "-E", EXTRACT])
        .current_dir(&dir)
        .env("HOME", tmp.path())
        .env("NIX_CONFIG", "")
        .env_remove("NIX_PATH")
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "nix-instantiate --eval failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn in_cidr(a: Ipv4Addr, cidr: &str) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<Ipv4Addr>(), len.parse::<u32>()) else {
        return false;
    };
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(a) & mask == u32::from(net) & mask
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The NAT a router's rules must implement, from the plan alone.
fn expected_nat(plan: &Plan, host: &e3::plan::Host) -> Nat {
    let site = plan
        .sites
        .iter()
        .find(|x| Some(&x.name) == host.site.as_ref())
        .expect("routers have a site");
    match (host.role, site.nat) {
        (Role::Carrier, _) | (_, Nat::Cgnat) => Nat::Easy,
        (_, nat) => nat,
    }
}

/// Compares an evaluated test with its plan. Every difference is one line.
fn cross_check(plan: &Plan, eval: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let mut err = |e: String| errors.push(e);
    if s(&eval["name"]) != format!("e3-{}", e3::matrix::store_name(&plan.name)) {
        err(format!("test name is `{}`", s(&eval["name"])));
    }
    // The name becomes a store path name: Nix allows only these characters.
    if !s(&eval["name"])
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+-._?=".contains(c))
    {
        err(format!(
            "test name `{}` is not a valid store path name",
            s(&eval["name"])
        ));
    }
    let nodes = eval["nodes"].as_object().cloned().unwrap_or_default();

    // The node set is the plan's hosts, exactly.
    let want: BTreeSet<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
    let have: BTreeSet<&str> = nodes.keys().map(String::as_str).collect();
    for missing in want.difference(&have) {
        err(format!("no node for host `{missing}`"));
    }
    for extra in have.difference(&want) {
        err(format!("node `{extra}` is not a host of the plan"));
    }

    // VLAN wiring: every plan interface is exactly one node interface with
    // its address and prefix; all interfaces of a segment share one VLAN,
    // different segments have different VLANs, the internet is VLAN 1.
    let mut segment_vlan: BTreeMap<String, u64> = BTreeMap::new();
    let mut ifname_of: BTreeMap<(String, Ipv4Addr), String> = BTreeMap::new();
    for h in &plan.hosts {
        let Some(node) = nodes.get(h.name.as_str()) else {
            continue;
        };
        let vlans = node["vlans"].as_object().cloned().unwrap_or_default();
        let ifaces = node["interfaces"].as_object().cloned().unwrap_or_default();
        if vlans.len() != h.interfaces.len() || ifaces.len() != h.interfaces.len() {
            err(format!(
                "`{}`: {} VLAN interfaces and {} addressed interfaces, the plan has {}",
                h.name,
                vlans.len(),
                ifaces.len(),
                h.interfaces.len()
            ));
        }
        for i in &h.interfaces {
            let matching: Vec<&String> = ifaces
                .iter()
                .filter(|(_, v)| {
                    v["addresses"].as_array().is_some_and(|a| {
                        a.len() == 1
                            && s(&a[0]["address"]) == i.address.to_string()
                            && a[0]["prefixLength"].as_u64() == Some(i.prefix as u64)
                    })
                })
                .map(|(k, _)| k)
                .collect();
            let [name] = matching.as_slice() else {
                err(format!(
                    "`{}`: {} interfaces carry {}/{} (segment `{}`)",
                    h.name,
                    matching.len(),
                    i.address,
                    i.prefix,
                    i.segment
                ));
                continue;
            };
            ifname_of.insert((h.name.to_string(), i.address), (*name).clone());
            let Some(vlan) = vlans.get(*name).and_then(Value::as_u64) else {
                err(format!("`{}`: interface `{name}` is on no VLAN", h.name));
                continue;
            };
            match segment_vlan.get(&i.segment.to_string()) {
                Some(v) if *v != vlan => err(format!("`{}`: `{name}` (segment `{}`) is on VLAN {vlan}, other hosts of the segment on VLAN {v}", h.name, i.segment)),
                _ => {
                    segment_vlan.insert(i.segment.to_string(), vlan);
                }
            }
            let cidr = plan
                .segments
                .iter()
                .find(|x| x.name == i.segment)
                .map(|x| x.cidr.as_str())
                .unwrap_or("");
            if !in_cidr(i.address, cidr) {
                err(format!(
                    "`{}`: {} is outside segment `{}` ({cidr})",
                    h.name, i.address, i.segment
                ));
            }
        }
        // The default gateway is the plan's, through the interface that reaches it.
        let gw = &node["gateway"];
        match h.interfaces.iter().find(|i| i.gateway.is_some()) {
            Some(i) => {
                let want_if = ifname_of
                    .get(&(h.name.to_string(), i.address))
                    .cloned()
                    .unwrap_or_default();
                if s(&gw["address"]) != i.gateway.unwrap().to_string()
                    || s(&gw["interface"]) != want_if
                {
                    err(format!(
                        "`{}`: default gateway {gw}, the plan has {} via `{want_if}`",
                        h.name,
                        i.gateway.unwrap()
                    ));
                }
            }
            None if !gw.is_null() => err(format!(
                "`{}`: default gateway {gw}, the plan has none",
                h.name
            )),
            None => {}
        }
        // Internet hosts route `firewall` sites' public LANs through their router.
        let mut want_routes: BTreeSet<String> = BTreeSet::new();
        if h.interfaces.iter().any(|i| i.segment.is_internet()) {
            for site in plan
                .sites
                .iter()
                .filter(|x| x.nat == Nat::Firewall && x.router != h.name)
            {
                want_routes.insert(format!("{} via {}", site.lan, site.public_address));
            }
        }
        let have_routes: BTreeSet<String> = ifaces
            .values()
            .flat_map(|v| v["routes"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                format!(
                    "{}/{} via {}",
                    s(&r["address"]),
                    r["prefixLength"],
                    s(&r["via"])
                )
            })
            .collect();
        if want_routes != have_routes {
            err(format!(
                "`{}`: routes {have_routes:?}, expected {want_routes:?}",
                h.name
            ));
        }
    }
    if segment_vlan.get("internet").is_some_and(|v| *v != 1) {
        err(format!(
            "the internet segment is VLAN {}, not 1",
            segment_vlan["internet"]
        ));
    }
    let distinct: BTreeSet<u64> = segment_vlan.values().copied().collect();
    if distinct.len() != segment_vlan.len() {
        err(format!("two segments share a VLAN: {segment_vlan:?}"));
    }
    for seg in &plan.segments {
        if !segment_vlan.contains_key(&seg.name.to_string()) {
            err(format!("segment `{}` has no VLAN", seg.name));
        }
    }

    // Routers implement their site's NAT type; nobody else has NAT rules.
    for h in &plan.hosts {
        let Some(node) = nodes.get(h.name.as_str()) else {
            continue;
        };
        let table = &node["nat"];
        if !matches!(h.role, Role::Router | Role::Carrier) {
            if !table.is_null() {
                err(format!("`{}` ({}) has NAT rules", h.name, h.role.as_str()));
            }
            continue;
        }
        if s(&table["family"]) != "ip" {
            err(format!(
                "`{}`: nftables table family {}",
                h.name, table["family"]
            ));
        }
        let content = s(&table["content"]);
        let nat = expected_nat(plan, h);
        let wan_if = h.interfaces.iter().find(|i| {
            i.segment.is_internet()
                || (h.role == Role::Router && i.segment.kind() == SegmentKind::Carrier)
        });
        let lan_if = h
            .interfaces
            .iter()
            .find(|i| Some(i.address) != wan_if.map(|w| w.address));
        let name = |i: Option<&e3::plan::Interface>| {
            i.and_then(|i| ifname_of.get(&(h.name.to_string(), i.address)))
                .cloned()
                .unwrap_or_default()
        };
        let (wan, lan) = (name(wan_if), name(lan_if));
        let site = plan
            .sites
            .iter()
            .find(|x| Some(&x.name) == h.site.as_ref())
            .unwrap();
        let inside: Vec<Ipv4Addr> = site
            .hosts
            .iter()
            .filter_map(|n| plan.host(n))
            .flat_map(|p| p.interfaces.iter().map(|i| i.address))
            .collect();
        let wan_addr = wan_if.map_or(site.public_address, |i| i.address);
        let want = e3::nat::ruleset_body(nat, &wan, &lan, wan_addr, &inside);
        if content.trim_end()
            != want
                .lines()
                .map(|l| l.strip_prefix("  ").unwrap_or(l))
                .collect::<Vec<_>>()
                .join("\n")
        {
            err(format!(
                "`{}`: its rules are not the `{nat}` rules between `{wan}` and `{lan}`",
                h.name
            ));
        }
        let has = |x: &str| content.contains(x);
        let ok = match nat {
            Nat::Hard => has("masquerade random") && has("counter name \"unsolicited\" drop"),
            Nat::Easy => {
                has("masquerade\n")
                    && !has("random")
                    && has("counter name \"unsolicited\" drop")
                    && !has("@peers")
            }
            Nat::EasyAf => {
                has("masquerade\n") && has("@peers") && has("counter name \"unsolicited\" drop")
            }
            Nat::OneToOne => {
                has(&format!(
                    "dnat to {}",
                    inside.first().copied().unwrap_or(wan_addr)
                )) && has(&format!("snat to {wan_addr}"))
                    && !has("drop")
            }
            Nat::Firewall => {
                has("counter name \"unsolicited\" drop") && !has("masquerade") && !has("snat")
            }
            Nat::None | Nat::Cgnat => false,
        };
        if !ok {
            err(format!(
                "`{}`: its rules do not implement `{nat}` NAT:\n{content}",
                h.name
            ));
        }
        if !content.contains(&format!("iifname \"{wan}\"")) {
            err(format!(
                "`{}`: its rules do not filter on its WAN interface `{wan}`",
                h.name
            ));
        }
    }

    // Latency: each host on the internet segment delays what it sends to
    // every address reached over the internet by the plan's one-way delay
    // between the two places (and nothing else). A place is an internet host
    // with whatever sits behind it: a router's or carrier's site. The
    // addresses of a place: its own on the internet, and those of a
    // `firewall` site's parties (public, routed through the router).
    let internet: BTreeMap<String, &e3::plan::Host> = plan
        .hosts
        .iter()
        .filter_map(|h| {
            h.interfaces
                .iter()
                .find(|i| i.segment.is_internet())
                .map(|i| (i.address.to_string(), h))
        })
        .collect();
    let mut reached: BTreeMap<String, &e3::plan::Host> = internet.clone();
    for site in plan.sites.iter().filter(|x| x.nat == Nat::Firewall) {
        let router = plan.host(&site.router).expect("a site's router is a host");
        for p in site.hosts.iter().filter_map(|n| plan.host(n)) {
            reached.insert(
                p.public_address
                    .expect("firewall parties have a public address")
                    .to_string(),
                router,
            );
        }
    }
    let speaks_for = |x: &e3::plan::Host| -> Vec<String> {
        // Explicit pairs name parties: a host sends for its own party, a
        // router or carrier for its site's.
        match x.role {
            Role::Party => x.party.iter().cloned().collect(),
            Role::Router | Role::Carrier => plan
                .sites
                .iter()
                .filter(|site| Some(&site.name) == x.site.as_ref())
                .flat_map(|site| {
                    site.hosts
                        .iter()
                        .filter_map(|n| plan.host(n))
                        .filter_map(|p| p.party.clone())
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let want_delay = |a: &e3::plan::Host, b: &e3::plan::Host| -> f64 {
        match plan.latency.model {
            "regions" => plan
                .latency
                .pairs
                .iter()
                .find(|p| {
                    (Some(&p.a) == a.region.as_ref() && Some(&p.b) == b.region.as_ref())
                        || (Some(&p.b) == a.region.as_ref() && Some(&p.a) == b.region.as_ref())
                })
                .map_or(0.0, |p| p.one_way_ms),
            "explicit" => {
                // A site's delay to another is the largest of its parties'.
                let (mine, theirs) = (speaks_for(a), speaks_for(b));
                plan.latency
                    .pairs
                    .iter()
                    .filter(|p| {
                        (mine.contains(&p.a) && theirs.contains(&p.b))
                            || (mine.contains(&p.b) && theirs.contains(&p.a))
                    })
                    .map(|p| p.one_way_ms)
                    .fold(0.0, f64::max)
            }
            _ => 0.0,
        }
    };
    for h in internet.values() {
        let script = nodes
            .get(h.name.as_str())
            .and_then(|n| n["netem"].as_str())
            .unwrap_or("");
        let mut class_delay: BTreeMap<String, f64> = BTreeMap::new();
        let mut got: BTreeMap<String, f64> = BTreeMap::new();
        for line in script.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            if let (Some(p), Some(d)) = (
                w.iter().position(|x| *x == "parent"),
                w.iter().position(|x| *x == "delay"),
            ) {
                class_delay.insert(
                    w[p + 1].to_string(),
                    w[d + 1]
                        .strip_suffix("ms")
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(-1.0),
                );
            }
            if let (Some(dst), Some(flow)) = (
                w.iter().position(|x| *x == "dst"),
                w.iter().position(|x| *x == "flowid"),
            ) {
                got.insert(
                    w[dst + 1].trim_end_matches("/32").to_string(),
                    class_delay.get(w[flow + 1]).copied().unwrap_or(-1.0),
                );
            }
        }
        for addr in got
            .keys()
            .filter(|a| reached.get(*a).is_none_or(|o| o.name == h.name))
        {
            err(format!(
                "`{}`: netem delays {addr}, which is no other place reached over the internet",
                h.name
            ));
        }
        for (addr, other) in reached.iter().filter(|(_, o)| o.name != h.name) {
            // tc's resolution is a microsecond.
            let (have, want) = (got.get(addr).copied().unwrap_or(0.0), want_delay(h, other));
            if (have - want).abs() > 0.0005 {
                err(format!(
                    "`{}`: {have} ms towards `{}` ({addr}), the plan has {want} ms",
                    h.name, other.name
                ));
            }
        }
    }

    // Loss: every host on the internet segment drops `simulation.loss` of
    // what it sends there, delayed or not (each netem qdisc has it), and
    // nobody else shapes anything.
    for h in &plan.hosts {
        let script = nodes
            .get(h.name.as_str())
            .and_then(|n| n["netem"].as_str())
            .unwrap_or("");
        if !h.interfaces.iter().any(|i| i.segment.is_internet()) {
            if !script.is_empty() {
                err(format!(
                    "`{}` is not on the internet segment, but shapes:\n{script}",
                    h.name
                ));
            }
            continue;
        }
        if plan.loss_percent > 0.0 {
            let loss = format!("loss {}%", plan.loss_percent);
            let netem: Vec<&str> = script.lines().filter(|l| l.contains(" netem ")).collect();
            if !script.contains(&format!("parent 1:10 handle 10: netem {loss}"))
                || netem.iter().any(|l| !l.trim_end().ends_with(&loss))
            {
                err(format!(
                    "`{}` does not apply the plan's {}% loss to all it sends",
                    h.name, plan.loss_percent
                ));
            }
        }
    }

    // The facts the script checks are the plan's.
    let facts = &eval["facts"];
    let parties: Vec<&Value> = facts["parties"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let plan_parties: Vec<&e3::plan::Host> = plan.parties().collect();
    if parties.len() != plan_parties.len() {
        err(format!(
            "facts list {} parties, the plan has {}",
            parties.len(),
            plan_parties.len()
        ));
    }
    for (f, p) in parties.iter().zip(&plan_parties) {
        let overlay = p.overlay_address.map(|a| a.to_string());
        if s(&f["host"]) != p.name
            || f["index"].as_u64() != p.index.map(|i| i as u64)
            || f["overlay"].as_str().map(str::to_string) != overlay
            || s(&f["nat"]) != p.nat.as_str()
        {
            err(format!(
                "facts: party {f} is not `{}` (index {:?}, overlay {overlay:?})",
                p.name, p.index
            ));
        }
    }
    let sites = facts["sites"].as_array().cloned().unwrap_or_default();
    if sites.len() != plan.sites.len() {
        err(format!(
            "facts list {} sites, the plan has {}",
            sites.len(),
            plan.sites.len()
        ));
    }
    for (f, site) in sites.iter().zip(&plan.sites) {
        if s(&f["name"]) != site.name
            || s(&f["nat"]) != site.nat.as_str()
            || s(&f["router"]) != site.router
            || f["carrier"].as_str() != site.carrier.as_deref()
            || s(&f["public"]) != site.public_address.to_string()
        {
            err(format!("facts: site {f} is not the plan's `{}`", site.name));
        }
    }
    // `direct` fails exactly when a party other than #0 is behind a filtering NAT.
    let blocked = plan.connectivity.backend == Backend::Direct
        && plan
            .parties()
            .any(|p| p.index.unwrap_or_default() > 0 && p.nat.filters_inbound());
    if facts["expectFailure"].is_null() == blocked {
        err(format!(
            "facts: expectFailure is {}, but MPyC over plain TCP {} here",
            facts["expectFailure"],
            if blocked {
                "cannot connect"
            } else {
                "connects"
            }
        ));
    }
    if s(&facts["backend"]) != plan.connectivity.backend.as_str() {
        err(format!("facts: backend {}", facts["backend"]));
    }
    errors
}

#[test]
fn every_test_matches_its_plan() {
    if !have("nix-instantiate") {
        return;
    }
    let mut failures = Vec::new();
    for (name, p) in plans() {
        match evaluate(&rendered_test(&p)) {
            Ok(eval) => failures.extend(
                cross_check(&p, &eval)
                    .into_iter()
                    .map(|e| format!("{name}: {e}")),
            ),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The cross-check fails when the rendered test is wrong: each mutation of
/// the real rendered data (a node, a VLAN, an address, a gateway, a NAT
/// type, a delay, a fact) and of the static library that reads it is
/// caught.
#[test]
fn cross_check_catches_wrong_tests() {
    if !have("nix-instantiate") {
        return;
    }
    let p = plan("nebula-nat");
    let files = rendered_test(&p);
    let easy_filter = r#"  iifname \"wan\" counter name \"unsolicited\" drop\n}\nchain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname \"wan\" masquerade\n"#;
    let easy_open = r#"}\nchain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname \"wan\" masquerade\n"#;
    let e3 = "data/e3.json";
    let host = |h: &str| format!("data/hosts/{h}.json");
    let lib = "modules/scenario/vmtest.nix";
    let mutations: Vec<Mutation> = vec![
        ("a node is missing", vec![(e3.into(), "    \"bob-router\",\n", "")]),
        ("a party is on another site's VLAN", vec![(host("bob"), "\"vlan\": 3", "\"vlan\": 2")]),
        ("a site's LAN is wired to another site's VLAN", vec![(host("bob"), "\"vlan\": 3", "\"vlan\": 2"), (host("bob-router"), "\"vlan\": 3", "\"vlan\": 2")]),
        ("a router's LAN is on another VLAN", vec![(host("carol-router"), "\"vlan\": 4", "\"vlan\": 3")]),
        ("an address is wrong", vec![(host("carol"), "\"address\": \"10.128.2.2\"", "\"address\": \"10.128.2.3\"")]),
        ("a gateway is wrong", vec![(host("bob"), "\"address\": \"10.128.1.1\",\n      \"interface\": \"eth1\"", "\"address\": \"10.128.1.9\",\n      \"interface\": \"eth1\"")]),
        ("the hard NAT is built as easy", vec![(host("carol-router"), "oifname \\\"wan\\\" masquerade random", "oifname \\\"wan\\\" masquerade")]),
        ("an easy NAT does not filter", vec![(host("alice-router"), easy_filter, easy_open)]),
        ("a delay is wrong", vec![(host("alice-router"), "netem delay 2.7ms", "netem delay 27.0ms")]),
        ("a delayed destination is missing", vec![(host("lighthouse"), "        \"tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.2/32 flowid 1:11\",\n", "")]),
        ("a party's NAT is misreported", vec![(e3.into(), "\"index\": 2,\n          \"nat\": \"hard\"", "\"index\": 2,\n          \"nat\": \"easy\"")]),
        // The library that reads the data.
        ("the library shifts every VLAN", vec![(lib.into(), "value.vlan = i.vlan;", "value.vlan = i.vlan + 1;")]),
        ("the library drops the addresses", vec![(lib.into(), "addresses = [ { inherit (i) address prefixLength; } ];", "addresses = [ ];")]),
        ("the library leaves out the NAT tables", vec![(lib.into(), "// optional (vm.nat != null) {", "// optional false {")]),
        ("the library forgets the first host", vec![(lib.into(), "nodes = attrsOf node data.hosts;", "nodes = attrsOf node (builtins.tail data.hosts);")]),
    ];
    assert_caught(&p, &files, &mutations);
    // every-nat: a firewall site, a cgnat carrier, loss.
    let p = plans()
        .into_iter()
        .find(|(n, _)| n == "every-nat")
        .expect("vmtest-scenarios/every-nat.yaml")
        .1;
    let files = rendered_test(&p);
    let mutations: Vec<Mutation> = vec![
        ("a firewall party is not delayed", vec![(host("one-router"), ",\n        \"tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.19.0.2/32 flowid 1:11\"", "")]),
        ("a cgnat carrier delays too little", vec![(host("cg-carrier"), "netem delay 40ms loss 1%", "netem delay 4ms loss 1%")]),
        ("a delay class drops nothing", vec![(host("pub"), "netem delay 40ms loss 1%", "netem delay 40ms")]),
        ("a party behind NAT shapes", vec![(host("cg"), "\"netem\": null", "\"netem\": { \"interface\": \"eth1\", \"commands\": [ \"tc qdisc replace dev eth1 root netem delay 1ms\" ] }")]),
    ];
    assert_caught(&p, &files, &mutations);
}

/// What is wrong, and the edits that make it so: (file, text, replacement).
type Mutation<'a> = (&'a str, Vec<(String, &'a str, &'a str)>);

fn assert_caught(p: &Plan, files: &e3::render::Files, mutations: &[Mutation]) {
    for (what, edits) in mutations {
        let mut mutated = files.clone();
        for (file, from, to) in edits {
            let text = String::from_utf8(mutated[Path::new(file)].clone()).unwrap();
            assert!(
                text.contains(from),
                "mutation `{what}`: `{from}` not in {file}"
            );
            mutated.insert(file.into(), text.replacen(from, to, 1).into_bytes());
        }
        let errors = match evaluate(&mutated) {
            Ok(eval) => cross_check(p, &eval),
            Err(e) => vec![e],
        };
        assert!(
            !errors.is_empty(),
            "the cross-check did not notice that {what}"
        );
        eprintln!("{what}: {}", errors[0].lines().next().unwrap_or(""));
    }
}

/// The test script, as the driver gets it: `tests/nat.py`, with the
/// placeholders `mkE3Test` fills in (store paths as a placeholder path).
/// Fails unless the rendered `tests/nat.nix` calls `mkE3Test` and
/// `mkE3Test` reads `tests/nat.py` and fills in exactly those.
fn driver_script(plan: &Plan) -> String {
    let files = e3::render::render(plan);
    let nix = String::from_utf8(files[Path::new(e3::render::vmtest::PATH)].clone()).unwrap();
    assert!(
        nix.contains("import ../modules/scenario/vmtest.nix {"),
        "{}: tests/nat.nix does not call mkE3Test:\n{nix}",
        plan.name
    );
    let lib = String::from_utf8(files[Path::new("modules/scenario/vmtest.nix")].clone()).unwrap();
    let reads = "    builtins.replaceStrings\n      [\n        \"@FACTS_FILE@\"\n        \"@NEBULA_CERT@\"\n        \"@OPENSSL@\"\n      ]\n      [\n        \"${factsFile}\"\n        (if facts.backend == \"nebula\" then lib.getExe' pkgs.nebula \"nebula-cert\" else \"nebula-cert\")\n        (if facts.backend == \"openvpn\" then lib.getExe pkgs.openssl else \"openssl\")\n      ]\n      (builtins.readFile (root + \"/tests/nat.py\"));\n}\n";
    assert!(
        lib.ends_with(reads),
        "testScript does not read tests/nat.py as expected:\n{}",
        &lib[lib.len().saturating_sub(700)..]
    );
    let script =
        String::from_utf8(files[Path::new(e3::render::vmtest::SCRIPT_PATH)].clone()).unwrap();
    fill_placeholders(&script, plan.connectivity.backend)
}

/// The template with the placeholders `mkE3Test` fills in: store paths
/// (a placeholder path) for the tools this backend's script runs.
fn fill_placeholders(script: &str, backend: Backend) -> String {
    let placeholder = "/nix/store/00000000000000000000000000000000-placeholder";
    let tool = |used: bool, name: &'static str| if used { placeholder } else { name };
    script
        .replace("@FACTS_FILE@", placeholder)
        .replace(
            "@NEBULA_CERT@",
            tool(backend == Backend::Nebula, "nebula-cert"),
        )
        .replace("@OPENSSL@", tool(backend == Backend::Openvpn, "openssl"))
}

#[test]
fn test_scripts_compile_and_pass_the_drivers_lint() {
    // Debian calls it pyflakes3, nixpkgs pyflakes.
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
    };
    let pyflakes = if on_path("pyflakes") && !on_path("pyflakes3") {
        "pyflakes"
    } else {
        "pyflakes3"
    };
    if !(have("python3") && have(pyflakes)) {
        return;
    }
    // The symbols the NixOS test driver defines, and the machines.
    let driver = [
        "start_all",
        "subtest",
        "retry",
        "test_script",
        "machines",
        "vlans",
        "driver",
        "log",
        "create_machine",
        "run_tests",
        "join_all",
        "serial_stdout_off",
        "serial_stdout_on",
        "polling_condition",
        "t",
    ];
    let tmp = tempfile::tempdir().unwrap();
    struct Script {
        name: String,
        script: String,
        flakes: String,
        typed: String,
    }
    let mut scripts = Vec::new();
    for (name, p) in plans() {
        let script = driver_script(&p);
        // The driver gets exactly the template.
        let want = fill_placeholders(
            include_str!("../templates/vmtest.py"),
            p.connectivity.backend,
        );
        assert_eq!(
            script, want,
            "{name}: the test script tests/nat.nix runs is not the template"
        );
        // pyflakes: the machines are globals the driver defines.
        let mut flakes = String::new();
        for h in &p.hosts {
            flakes.push_str(&format!("{} = None\n", h.name.replace('-', "_")));
        }
        flakes.push_str(&script);
        // The driver's type check: its declarations, one global per machine, the script.
        let mut typed = include_str!("vmtest-driver-types.py").to_string();
        for h in &p.hosts {
            typed.push_str(&format!("{}: Machine\n", h.name.replace('-', "_")));
        }
        typed.push_str(&script);
        scripts.push(Script {
            name,
            script,
            flakes,
            typed,
        });
    }
    // One process per tool for every scenario's script (a Python start-up
    // costs about half a second, mypy's several): files are named by their
    // index, since scenario names are not module names, and the tools'
    // output is given the names back.
    let write = |kind: &str, text: fn(&Script) -> &str| -> Vec<std::path::PathBuf> {
        scripts
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let file = tmp.path().join(format!("{kind}_{i}.py"));
                std::fs::write(&file, text(s)).unwrap();
                file
            })
            .collect()
    };
    let named = |kind: &str, out: &std::process::Output| {
        let mut text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for (i, s) in scripts.iter().enumerate().rev() {
            text = text.replace(
                &format!("{kind}_{i}.py"),
                &format!("{} ({kind}_{i}.py)", s.name),
            );
        }
        text
    };
    let out = Command::new("python3")
        .args(["-m", "py_compile"])
        .args(write("script", |s| &s.script))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a test script does not compile:\n{}",
        named("script", &out)
    );
    let out = Command::new(pyflakes)
        .args(write("flakes", |s| &s.flakes))
        .env("PYFLAKES_BUILTINS", driver.join(","))
        .output()
        .unwrap();
    assert!(out.status.success(), "pyflakes:\n{}", named("flakes", &out));
    if have("mypy") {
        let out = Command::new("mypy")
            .args([
                "--no-implicit-optional",
                "--pretty",
                "--no-color-output",
                "--cache-dir",
            ])
            .arg(tmp.path().join("mypy-cache"))
            .args(write("typed", |s| &s.typed))
            .output()
            .unwrap();
        assert!(out.status.success(), "mypy:\n{}", named("typed", &out));
    }
}

#[test]
fn rendered_nat_tables_pass_nft_check() {
    if !(have("nft") && have("nix-instantiate") && is_root()) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (name, p) in plans() {
        let eval = evaluate(&rendered_test(&p)).unwrap();
        for (host, node) in eval["nodes"].as_object().unwrap() {
            let Some(content) = node["nat"]["content"].as_str() else {
                continue;
            };
            let file = tmp.path().join(format!("{name}-{host}.nft"));
            std::fs::write(&file, format!("table ip e3 {{\n{content}}}\n")).unwrap();
            let out = Command::new("nft")
                .args(["-c", "-f"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}/{host}: nft -c rejects the rendered table:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The netem shaping of every bundled scenario, applied with the real `tc`
/// to a veth in a scratch namespace. Without the netem qdisc (this kernel
/// lacks it) the netem lines are replaced by pfifo so the HTB classes and
/// u32 filters are still checked, and the test says so.
#[test]
fn shaping_commands_are_accepted_by_tc() {
    if !(have("tc") && have("ip") && is_root()) {
        return;
    }
    let ns = format!("e3-vmtest-tc-{}", std::process::id());
    let run = |args: &[&str]| Command::new("ip").args(args).output().unwrap();
    assert!(run(&["netns", "add", &ns]).status.success());
    let result = std::panic::catch_unwind(|| {
        let mut netem = true;
        for (name, p) in plans() {
            for shape in e3::netem::shaping(&p, e3::netem::Loss::Netem) {
                assert!(run(&[
                    "-n", &ns, "link", "add", "wan", "type", "veth", "peer", "name", "wanp"
                ])
                .status
                .success());
                for mut words in shape.commands("wan") {
                    let cmd = words.join(" ");
                    let mut out = Command::new("ip")
                        .args(["netns", "exec", &ns])
                        .args(&words)
                        .output()
                        .unwrap();
                    if !out.status.success()
                        && words.contains(&"netem".to_string())
                        && String::from_utf8_lossy(&out.stderr).contains("qdisc kind is unknown")
                    {
                        netem = false;
                        let at = words.iter().position(|w| w == "netem").unwrap();
                        words.truncate(at);
                        words.push("pfifo".into());
                        out = Command::new("ip")
                            .args(["netns", "exec", &ns])
                            .args(&words)
                            .output()
                            .unwrap();
                    }
                    assert!(
                        out.status.success(),
                        "{name}/{}: `{cmd}` failed: {}",
                        shape.host,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                assert!(run(&["-n", &ns, "link", "del", "wan"]).status.success());
            }
        }
        if !netem {
            eprintln!("note: this kernel has no netem qdisc; its lines were checked with pfifo in its place");
        }
    });
    let _ = run(&["netns", "del", &ns]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
