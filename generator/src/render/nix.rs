//! The Nix side of a rendered scenario, as data: `data/e3.json` (what the
//! scenario's hosts share, the hive's nodes, the base configurations, the
//! VM test's facts) and `data/hosts/<host>.json` (one host: its settings of
//! e3's NixOS modules, its Colmena deployment, its VM in the test), plus
//! three small entry points (`flake.nix`, `hive.nix`, `tests/nat.nix`) that
//! call the static Nix library `modules/scenario/`, and the copied
//! `modules/` and `programs/`.
//!
//! The library (hand-written, the same for every scenario) turns the data
//! into NixOS configurations, the Colmena hive and the VM test. What is only
//! known later is a reference in the data, resolved by the library at
//! evaluation time (see ARCHITECTURE.md, "Rendered Nix"):
//! - `{"_e3": "address", "host": H, "prefix"?, "suffix"?}`: where a deployed
//!   host is reached (the scenario's `address`, or `hosts.json`, written by
//!   Terraform / `e3 deploy`), inside a string when prefix/suffix are given;
//! - `{"_e3": "privateAddress", "host": H}`: a host's address on its cloud
//!   NAT site's network (fixed by e3, or `private-addresses.json`);
//! - `{"_e3": "publicKey", "backend": B, "host": H}`: a host's WireGuard or
//!   tinc public key (`public-keys/`, copied by `e3 render` from
//!   `secrets/NAME/public/`; in the VM test the throwaway test keys).
//!
//! Secrets are never in the directory: the hive has Colmena read them at
//! upload time from `$E3_SECRETS` with `keyCommand`.

use serde_json::{json, Map, Value};

use crate::catalogue::{Backend, Platform};
use crate::plan::{Host, Plan, Role, Topology};

use super::Files;

/// The project's lock file: the rendered flake has the same single input, so
/// its lock is this file, byte for byte.
pub const PROJECT_FLAKE_LOCK: &str = include_str!("../../../flake.lock");

/// The URL of the nixpkgs input, the same as in the project's flake.nix.
pub const NIXPKGS_URL: &str = "github:NixOS/nixpkgs/nixos-25.11";

/// Systems the rendered flake offers a devShell (and checks) for.
const SYSTEMS: &[&str] = &["x86_64-linux", "aarch64-linux"];

/// Name of the environment variable naming the secrets directory at deploy time.
pub const SECRETS_ENV: &str = "E3_SECRETS";

/// The rendered directory of public keys (`e3 render` copies
/// `secrets/NAME/public/` here).
pub const PUBLIC_KEYS_DIR: &str = "public-keys";

/// What the scenario's hosts share (`modules/scenario/default.nix` reads it).
pub const SCENARIO_DATA: &str = "data/e3.json";

/// The data of one host.
pub fn host_data_path(host: &str) -> String {
    format!("data/hosts/{host}.json")
}

/// `hive.nix`: the same for every scenario; the pin comes from flake.lock.
const HIVE_NIX: &str = "\
# The Colmena hive of this e3 scenario:
#
#   E3_SECRETS=/path/to/secrets/NAME colmena apply -f hive.nix
#
# A plain (non-flake) hive: it fetches the nixpkgs pinned in flake.lock
# itself, and reads hosts.json from the working tree (untracked files are
# fine here; flakes only see files added to git). The flake passes its own
# nixpkgs input instead (`outputs.colmena`). Rendered by e3: the hosts are
# data/hosts/*.json, the hive is built by modules/scenario/hive.nix.
{
  nixpkgs ? null,
}:
import ./modules/scenario/hive.nix {
  inherit nixpkgs;
  root = ./.;
}
";

/// Where a host's settings are used. The deployed hosts and the nodes of
/// the NixOS VM test are configured by the same code, so the test
/// configures e3's modules as a deployment does; only the references differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Addresses and public keys as references resolved at evaluation time.
    Deploy,
    /// The plan's simulation addresses, the test's throwaway keys, Headscale
    /// as the control server of both Tailscale backends, reached by name
    /// over TLS.
    VmTest,
}

impl Target {
    /// The address `host` is reached at.
    fn address(self, host: &Host) -> Value {
        self.address_in("", host, "")
    }

    /// `prefix` + the address `host` is reached at + `suffix`, a string.
    fn address_in(self, prefix: &str, host: &Host, suffix: &str) -> Value {
        match self {
            Target::Deploy => address_ref(prefix, &host.name, suffix),
            Target::VmTest => json!(format!("{prefix}{}{suffix}", sim_address(host))),
        }
    }

    /// A host's public key of a backend (`wireguard`, `tinc`).
    fn public_key(self, backend: &str, h: &Host) -> Value {
        json!({ "_e3": "publicKey", "backend": backend, "host": h.name })
    }
}

/// A reference to a deployed host's address (resolved from the scenario's
/// `address` or `hosts.json`), inside a string when `prefix`/`suffix` are
/// not empty.
fn address_ref(prefix: &str, host: &str, suffix: &str) -> Value {
    let mut m = Map::new();
    m.insert("_e3".into(), json!("address"));
    m.insert("host".into(), json!(host));
    if !prefix.is_empty() {
        m.insert("prefix".into(), json!(prefix));
    }
    if !suffix.is_empty() {
        m.insert("suffix".into(), json!(suffix));
    }
    Value::Object(m)
}

/// A reference to a host's address on its cloud NAT site's network.
fn private_ref(host: &str) -> Value {
    json!({ "_e3": "privateAddress", "host": host })
}

/// The address others reach `h` at in a simulation: its own on the internet
/// segment, or its NAT's public address.
fn sim_address(h: &Host) -> String {
    h.public_address.map(|a| a.to_string()).unwrap_or_default()
}

/// Sets `path` in the object `v` to `value`, creating objects on the way.
pub(crate) fn set(v: &mut Value, path: &[&str], value: Value) {
    let mut cur = v;
    for key in &path[..path.len() - 1] {
        cur = cur
            .as_object_mut()
            .expect("settings are objects")
            .entry(*key)
            .or_insert_with(|| Value::Object(Map::new()));
    }
    cur.as_object_mut()
        .expect("settings are objects")
        .insert(path[path.len() - 1].to_string(), value);
}

/// JSON as the rendered directory holds it: pretty, ending in a newline.
pub(crate) fn json_file(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).expect("data always serialises");
    s.push('\n');
    s.into_bytes()
}

pub fn render(plan: &Plan, files: &mut Files) {
    files.insert("flake.nix".into(), flake_nix(plan).into_bytes());
    files.insert("flake.lock".into(), PROJECT_FLAKE_LOCK.as_bytes().to_vec());
    files.insert("hive.nix".into(), HIVE_NIX.as_bytes().to_vec());
    files.insert(SCENARIO_DATA.into(), json_file(&scenario_data(plan)));
    let cloud = crate::cloud::cloud(plan);
    let hive: Vec<&Host> = nodes(plan);
    for h in &plan.hosts {
        let deploy = hive
            .iter()
            .any(|x| x.name == h.name)
            .then(|| deploy_data(plan, &cloud, h));
        let data = json!({
            "name": h.name,
            "description": description(plan, &cloud, h),
            "deploy": deploy,
            "vm": super::vmtest::node_data(plan, h),
        });
        files.insert(host_data_path(&h.name).into(), json_file(&data));
    }
    for (path, contents) in crate::bundled::module_files() {
        files.insert(format!("modules/{path}").into(), contents.to_vec());
    }
    for (path, contents) in crate::bundled::program_files() {
        files.insert(format!("programs/{path}").into(), contents.to_vec());
    }
}

/// Hosts that get a NixOS configuration: the plan's deployed hosts.
pub fn deployed(plan: &Plan) -> impl Iterator<Item = &Host> {
    plan.hosts.iter().filter(|h| h.deploy)
}

/// Hosts of the hive: the deployed hosts, and the NAT routers a cloud
/// deployment creates (`cloud.rs`), in plan order.
pub fn nodes(plan: &Plan) -> Vec<&Host> {
    let cloud = crate::cloud::cloud(plan);
    plan.hosts
        .iter()
        .filter(|h| h.deploy || cloud.host(&h.name).is_some())
        .collect()
}

/// The flake's generic base configuration of a cloud platform (no
/// scenario data): `base-digitalocean`, `base-hetzner`, and
/// `base-hetzner-router` (with `e3.base.router`) for routers installed by
/// nixos-anywhere.
pub fn base_configuration(platform: Platform, router: bool) -> String {
    let base = format!("base-{}", platform.as_str());
    if router && platform == Platform::Hetzner {
        format!("{base}-router")
    } else {
        base
    }
}

/// The flake output of the base image a platform boots from, if it boots
/// from an image e3 builds (DigitalOcean).
pub fn base_image(platform: Platform) -> Option<String> {
    (platform == Platform::DigitalOcean).then(|| format!("base-image-{}", platform.as_str()))
}

/// A Nix string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The tinc node name of a host: tinc allows `[A-Za-z0-9_]` only.
pub fn tinc_name(host: &str) -> String {
    host.replace('-', "_")
}

/// The attribute path of a platform's image build in a NixOS system, if it
/// has one.
fn image_attr(platform: Platform) -> Option<&'static [&'static str]> {
    match platform {
        Platform::DigitalOcean => Some(&["config", "system", "build", "images", "digital-ocean"]),
        // modules/README.md: the sd-image module is imported into the host,
        // so the image is `sdImage`, not `images.sd-card`.
        Platform::RaspberryPi => Some(&["config", "system", "build", "sdImage"]),
        Platform::Hetzner | Platform::Existing => None,
    }
}

/// `flake.nix`: the flake's inputs must be literal, so this one file names
/// the scenario; its outputs are `modules/scenario/outputs.nix`'s.
fn flake_nix(plan: &Plan) -> String {
    format!(
        "\
# The pinned flake of the e3 scenario `{name}`. Rendered by e3: do not edit;
# change the scenario and run `e3 render {name}` again. Its outputs are built
# by modules/scenario/outputs.nix from data/.
{{
  description = {description};

  inputs.nixpkgs.url = {url};

  outputs =
    {{ self, nixpkgs }}:
    import ./modules/scenario/outputs.nix {{
      inherit self nixpkgs;
      root = ./.;
    }};
}}
",
        name = plan.name,
        description = string(&format!("e3 scenario {}", plan.name)),
        url = string(NIXPKGS_URL),
    )
}

/// `data/e3.json`.
fn scenario_data(plan: &Plan) -> Value {
    let cloud = crate::cloud::cloud(plan);
    let hive = nodes(plan);
    let mut bases: Vec<(Platform, bool)> = cloud
        .hosts
        .iter()
        .map(|c| {
            (
                c.platform,
                c.platform == Platform::Hetzner
                    && matches!(c.host.role, Role::Router | Role::Carrier),
            )
        })
        .collect();
    bases.extend(cloud.hosts.iter().map(|c| (c.platform, false)));
    bases.sort_unstable();
    bases.dedup();
    let mut images = Vec::new();
    for (p, router) in &bases {
        if let (Some(image), Some(path), false) = (base_image(*p), image_attr(*p), router) {
            images.push(json!({
                "system": p.facts().system,
                "name": image,
                "configuration": base_configuration(*p, false),
                "path": path,
            }));
        }
    }
    for h in hive
        .iter()
        .filter(|h| h.platform == Some(Platform::RaspberryPi))
    {
        if let (Some(p), Some(sys)) = (h.platform, h.system) {
            if let Some(path) = image_attr(p) {
                images.push(json!({
                    "system": sys,
                    "name": format!("image-{}", h.name),
                    "configuration": h.name,
                    "path": path,
                }));
            }
        }
    }
    let addresses: Map<String, Value> = hive
        .iter()
        .map(|h| (h.name.to_string(), json!(h.address.map(|a| a.to_string()))))
        .collect();
    let private: Map<String, Value> = cloud
        .hosts
        .iter()
        .filter(|c| !c.networks.is_empty())
        .map(|c| {
            (
                c.host.name.to_string(),
                json!(c
                    .networks
                    .last()
                    .and_then(|(_, ip)| *ip)
                    .map(|a| a.to_string())),
            )
        })
        .collect();
    json!({
        "scenario": plan.name,
        "secretsEnv": SECRETS_ENV,
        "systems": SYSTEMS,
        "hosts": plan.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        "nodes": hive.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        "bases": bases.iter().map(|(p, router)| json!({
            "name": base_configuration(*p, *router),
            "module": p.facts().nixos_module,
            "router": router,
        })).collect::<Vec<_>>(),
        "images": images,
        "addresses": addresses,
        "privateAddresses": private,
        "common": common_settings(plan, Target::Deploy),
        "vmtest": super::vmtest::test_data(plan),
    })
}

/// One line on what a host is, for people reading its data.
fn description(plan: &Plan, cloud: &crate::cloud::Cloud, h: &Host) -> String {
    if let (Some(c), Some(nat)) = (
        cloud
            .host(&h.name)
            .filter(|_| matches!(h.role, Role::Router | Role::Carrier)),
        crate::nat::router(plan, h),
    ) {
        return format!(
            "{}: {} of the e3 scenario `{}` ({}, {}, `{}` rules of nat.rs).",
            h.name,
            h.role.as_str(),
            plan.name,
            c.platform.as_str(),
            c.region,
            nat.nat
        );
    }
    let what = match (h.role, h.index) {
        (Role::Party, Some(i)) => format!("party {i}"),
        (r, _) => r.as_str().to_string(),
    };
    let mut facts = Vec::new();
    if let Some(p) = h.platform {
        facts.push(p.as_str().to_string());
    }
    if let Some(r) = &h.region {
        facts.push(r.clone());
    }
    if h.nat.filters_inbound() {
        facts.push(format!("behind `{}` NAT", h.nat.as_str()));
    }
    if facts.is_empty() {
        format!("{}: {} of the e3 scenario `{}`.", h.name, what, plan.name)
    } else {
        format!(
            "{}: {} of the e3 scenario `{}` ({}).",
            h.name,
            what,
            plan.name,
            facts.join(", ")
        )
    }
}

/// The Colmena deployment keys of a host: (key name, file under the secrets
/// directory).
pub fn deployment_keys(plan: &Plan, h: &Host) -> Vec<(String, String)> {
    let overlay =
        h.role == Role::Party || matches!(h.role, Role::Lighthouse | Role::Hub | Role::Bootstrap);
    match plan.connectivity.backend {
        Backend::Nebula if overlay => vec![
            ("nebula-ca.crt".into(), "nebula/ca.crt".into()),
            ("nebula-host.crt".into(), format!("nebula/{}.crt", h.name)),
            ("nebula-host.key".into(), format!("nebula/{}.key", h.name)),
        ],
        Backend::Wireguard if overlay => {
            vec![("wireguard.key".into(), format!("wireguard/{}.key", h.name))]
        }
        Backend::Tinc if overlay => vec![("tinc-rsa.priv".into(), format!("tinc/{}.priv", h.name))],
        Backend::Openvpn if overlay => vec![
            ("openvpn-ca.crt".into(), "openvpn/ca.crt".into()),
            ("openvpn-host.crt".into(), format!("openvpn/{}.crt", h.name)),
            ("openvpn-host.key".into(), format!("openvpn/{}.key", h.name)),
        ],
        // Auth keys are made at deploy time (Tailscale admin console or the
        // Terraform tailscale module; `e3-headscale-authkey` on the control
        // server) and uploaded as this key.
        Backend::Tailscale | Backend::Headscale if h.role == Role::Party => {
            vec![("tailscale-authkey".into(), "tailscale-authkey".into())]
        }
        _ => Vec::new(),
    }
}

/// The `deploy` part of a hive node's data: its NixOS configuration (the
/// platform module, e3's settings) and its Colmena deployment.
fn deploy_data(plan: &Plan, cloud: &crate::cloud::Cloud, h: &Host) -> Value {
    let c = cloud.host(&h.name);
    let platform = c.map(|c| c.platform).or(h.platform);
    let mut settings = if matches!(h.role, Role::Router | Role::Carrier) {
        router_settings(plan, cloud, h)
    } else {
        host_settings(plan, h, Target::Deploy)
    };
    if let Some(party) = cloud_nat_party(cloud, h) {
        set(&mut settings, &["e3", "cloudNat", "party"], party);
    }
    let mut hive = Map::new();
    let user = platform.map(|p| p.facts().target_user).unwrap_or("root");
    hive.insert("targetUser".into(), json!(user));
    if let Some(c) = c.filter(|c| !c.jump.is_empty()) {
        // Behind NAT: reached at its private address through its router
        // (and, behind a carrier, through the carrier first).
        hive.insert("jump".into(), json!(c.jump));
    }
    if platform == Some(Platform::RaspberryPi) {
        // aarch64: built on the Pi itself, not on the x86_64 deployer (no
        // emulation needed; see modules/platforms/raspberry-pi.nix).
        hive.insert("buildOnTarget".into(), json!(true));
    }
    let mut tags = Vec::new();
    if let Some(r) = c.map(|c| &c.region).or(h.region.as_ref()) {
        tags.push(format!("region-{r}"));
    }
    if let Some(p) = platform {
        tags.push(format!("platform-{}", p.as_str()));
    }
    tags.push(format!("backend-{}", plan.connectivity.backend));
    tags.push(format!("role-{}", h.role.as_str()));
    hive.insert("tags".into(), json!(tags));
    let keys: Map<String, Value> = deployment_keys(plan, h)
        .into_iter()
        .map(|(k, f)| (k, json!(f)))
        .collect();
    hive.insert("keys".into(), Value::Object(keys));
    let system = h.system.filter(|s| *s != "x86_64-linux");
    json!({
        "platformModule": platform.map(|p| p.facts().nixos_module),
        "hardware": h.platform == Some(Platform::Existing),
        "system": system,
        "settings": settings,
        "hive": hive,
    })
}

/// The settings of a NAT router (or carrier) a cloud deployment creates:
/// the `nat.rs` rules of the plan's router between eth0 (way out) and eth1
/// (the site's network), plus SSH to the router itself.
fn router_settings(plan: &Plan, cloud: &crate::cloud::Cloud, h: &Host) -> Value {
    let c = cloud
        .host(&h.name)
        .expect("routers of the hive are cloud hosts");
    let nat = crate::nat::router(plan, h).expect("a router of the plan has rules");
    let rules = crate::cloud::router_rules(plan, h).expect("a router of the plan has rules");
    let rules = super::vmtest::dedent(&rules);
    let one2one = nat.nat == crate::catalogue::Nat::OneToOne;
    let lan_static = c.platform != Platform::Hetzner;
    let mut router = Map::new();
    router.insert("enable".into(), json!(true));
    router.insert("rules".into(), json!(rules));
    if one2one {
        // Known only after Terraform: the router's public address, and on
        // DigitalOcean the party's VPC address (Hetzner keeps the plan's).
        let mut substitute = Map::new();
        substitute.insert("0.0.0.0".into(), address_ref("", &h.name, ""));
        if lan_static {
            for inside in &nat.inside {
                if let Some(party) = plan
                    .hosts
                    .iter()
                    .find(|p| p.interfaces.iter().any(|i| i.address == *inside) && p.name != h.name)
                {
                    substitute.insert(inside.to_string(), private_ref(&party.name));
                }
            }
        }
        router.insert("substitute".into(), Value::Object(substitute));
    }
    if lan_static {
        let prefix: u8 = c
            .networks
            .last()
            .and_then(|(n, _)| cloud.network(n))
            .and_then(|n| n.cidr.split_once('/').and_then(|(_, p)| p.parse().ok()))
            .unwrap_or(24);
        router.insert(
            "lan".into(),
            json!({ "address": private_ref(&h.name), "prefixLength": prefix }),
        );
    }
    json!({ "e3": { "cloudNat": { "router": router } } })
}

/// The `e3.cloudNat.party` settings of a host behind a cloud NAT router;
/// `None` for other hosts.
fn cloud_nat_party(cloud: &crate::cloud::Cloud, h: &Host) -> Option<Value> {
    let c = cloud.host(&h.name).filter(|c| !c.public)?;
    let (net, _) = c.networks.last()?;
    let network = cloud.network(net).expect("attached networks exist");
    let prefix: u8 = network
        .cidr
        .split_once('/')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(24);
    Some(match c.platform {
        Platform::Hetzner => {
            // No public interface at all; the network's gateway routes
            // 0.0.0.0/0 to the router. Behind a carrier the home router's
            // first network is the carrier's.
            let first = c.networks.first().map(|(n, _)| n).unwrap_or(net);
            let gateway = cloud
                .network(first)
                .map(|n| n.first_address())
                .expect("attached networks exist");
            json!({ "enable": true, "interface": "eth0", "gateway": gateway.to_string() })
        }
        _ => {
            let router = c.gateway.as_deref().unwrap_or_default();
            json!({
                "enable": true,
                "interface": "eth1",
                "address": { "address": private_ref(&h.name), "prefixLength": prefix },
                "gateway": private_ref(router),
                "disablePublic": true,
            })
        }
    })
}

/// The backend and party settings of a host.
pub(crate) fn host_settings(plan: &Plan, h: &Host, target: Target) -> Value {
    let c = &plan.connectivity;
    let mut s = json!({});
    let overlay_hosts: Vec<&Host> = deployed(plan)
        .filter(|x| x.overlay_address.is_some())
        .collect();
    // The VM test also runs the `tailscale` backend's local control server.
    let coordinator = c
        .coordinator
        .as_deref()
        .and_then(|n| plan.host(n))
        .filter(|x| x.deploy || target == Target::VmTest);
    match c.backend {
        Backend::Tailscale | Backend::Headscale if target == Target::VmTest => {
            let control = coordinator.map(|x| x.name.as_str()).unwrap_or("control");
            if h.role == Role::Control {
                // Plain HTTP behind the test's TLS front end (`headscaleTls`).
                set(
                    &mut s,
                    &["e3", "headscale"],
                    json!({ "enable": true, "domain": control, "tls": "none" }),
                );
            } else if h.role == Role::Party {
                set(
                    &mut s,
                    &["e3", "tailscale"],
                    json!({ "enable": true, "loginServer": format!("https://{control}") }),
                );
            }
        }
        Backend::Tailscale => {
            if h.role == Role::Party {
                set(&mut s, &["e3", "tailscale", "enable"], json!(true));
            }
        }
        Backend::Headscale => {
            let control = coordinator.map(|x| x.name.as_str()).unwrap_or("control");
            if h.role == Role::Control {
                // Plain HTTP on the public address: a closed test network.
                // For the embedded DERP relay (needs TLS), give this host a
                // DNS name and set `domain`, `tls = "acme"`, `acmeEmail` and
                // `security.acme.acceptTerms`.
                set(
                    &mut s,
                    &["e3", "headscale"],
                    json!({ "enable": true, "domain": address_ref("", control, ""), "tls": "none" }),
                );
            } else {
                set(
                    &mut s,
                    &["e3", "tailscale"],
                    json!({ "enable": true, "loginServer": address_ref("http://", control, ":8080") }),
                );
            }
        }
        Backend::Nebula => {
            let mut n = Map::new();
            n.insert("enable".into(), json!(true));
            let relays: Vec<String> = c
                .relays
                .iter()
                .filter_map(|r| plan.host(r))
                .filter_map(|r| r.overlay_address)
                .map(|a| a.to_string())
                .collect();
            if h.role == Role::Lighthouse {
                n.insert("isLighthouse".into(), json!(true));
                if !relays.is_empty() {
                    n.insert("isRelay".into(), json!(true));
                }
            } else if let Some(lh) = coordinator {
                let port = c.port.unwrap_or(crate::catalogue::ports::NEBULA);
                let key = lh
                    .overlay_address
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                n.insert(
                    "lighthouses".into(),
                    json!({ key: [target.address_in("", lh, &format!(":{port}"))] }),
                );
                if !relays.is_empty() {
                    n.insert("relays".into(), json!(relays));
                }
            }
            if let Some(p) = c.port.filter(|p| *p != crate::catalogue::ports::NEBULA) {
                n.insert("listenPort".into(), json!(p));
            }
            set(&mut s, &["e3", "nebula"], Value::Object(n));
        }
        Backend::Wireguard => {
            let port = c.port.unwrap_or(crate::catalogue::ports::WIREGUARD);
            let prefix = c.overlay_prefix();
            let addr = h
                .overlay_address
                .map(|a| format!("{a}/{prefix}"))
                .unwrap_or_default();
            let role = match (c.topology, h.role) {
                (Topology::Hub, Role::Hub) => "hub",
                (Topology::Hub, _) => "spoke",
                (Topology::Mesh, _) => "mesh",
            };
            let mut w = Map::new();
            w.insert("enable".into(), json!(true));
            w.insert("role".into(), json!(role));
            w.insert("address".into(), json!(addr));
            if port != crate::catalogue::ports::WIREGUARD {
                w.insert("listenPort".into(), json!(port));
            }
            let suffix = format!(":{port}");
            if role == "spoke" {
                if let Some(hub) = coordinator {
                    w.insert(
                        "peers".into(),
                        json!({ hub.name.clone(): {
                            "publicKey": target.public_key("wireguard", hub),
                            "allowedIPs": [c.overlay_network.as_deref().unwrap_or_default()],
                            "endpoint": target.address_in("", hub, &suffix),
                        }}),
                    );
                }
            } else {
                let mut peers = Map::new();
                for p in overlay_hosts.iter().filter(|p| p.name != h.name) {
                    let mut peer = Map::new();
                    peer.insert("publicKey".into(), target.public_key("wireguard", p));
                    peer.insert(
                        "allowedIPs".into(),
                        json!([format!(
                            "{}/32",
                            p.overlay_address.map(|a| a.to_string()).unwrap_or_default()
                        )]),
                    );
                    if role == "mesh" {
                        peer.insert("endpoint".into(), target.address_in("", p, &suffix));
                    }
                    peers.insert(p.name.to_string(), Value::Object(peer));
                }
                w.insert("peers".into(), Value::Object(peers));
            }
            set(&mut s, &["e3", "wireguard"], Value::Object(w));
        }
        Backend::Tinc => {
            let mut t = Map::new();
            t.insert("enable".into(), json!(true));
            t.insert("name".into(), json!(tinc_name(&h.name)));
            if let Some(b) = coordinator.filter(|b| b.name != h.name) {
                t.insert("connectTo".into(), json!([tinc_name(&b.name)]));
            }
            set(&mut s, &["e3", "tinc"], Value::Object(t));
        }
        Backend::Openvpn => {
            let port = c.port.unwrap_or(crate::catalogue::ports::OPENVPN);
            let mut o = Map::new();
            o.insert("enable".into(), json!(true));
            if h.role == Role::Hub {
                o.insert("role".into(), json!("server"));
                let address = h.overlay_address.map(|a| a.to_string()).unwrap_or_default();
                o.insert("address".into(), json!(address));
                let clients: Map<String, Value> = overlay_hosts
                    .iter()
                    .filter(|p| p.role == Role::Party)
                    .map(|p| {
                        (
                            p.name.to_string(),
                            json!(p.overlay_address.map(|a| a.to_string()).unwrap_or_default()),
                        )
                    })
                    .collect();
                o.insert("clients".into(), Value::Object(clients));
            } else {
                o.insert("role".into(), json!("client"));
                if let Some(server) = coordinator {
                    o.insert("server".into(), target.address(server));
                    if server.name != "server" {
                        o.insert("serverName".into(), json!(server.name));
                    }
                }
            }
            let mask = crate::plan::netmask(c.overlay_prefix()).to_string();
            if mask != "255.255.0.0" {
                o.insert("netmask".into(), json!(mask));
            }
            if port != crate::catalogue::ports::OPENVPN {
                o.insert("port".into(), json!(port));
            }
            set(&mut s, &["e3", "openvpn"], Value::Object(o));
        }
        Backend::Direct => {
            if h.role == Role::Party {
                set(&mut s, &["e3", "direct", "enable"], json!(true));
            }
        }
    }
    if h.role == Role::Party {
        set(
            &mut s,
            &["e3", "party"],
            json!({ "enable": true, "index": h.index.unwrap_or_default() }),
        );
    }
    s
}

/// The settings every host shares: the tinc host table (the same on every
/// member), and the computation (every party runs the same program with the
/// same ordered party list; each party's own settings enable it and set its
/// index). Tailnet addresses are assigned by the control server: parties are
/// named by host name and resolved at run time (`tailscale ip -4`). The
/// `direct` baseline is plain TCP to the parties' public addresses, which
/// fails for a party behind NAT.
pub(crate) fn common_settings(plan: &Plan, target: Target) -> Value {
    let c = &plan.connectivity;
    let mut s = json!({});
    let coordinator = c
        .coordinator
        .as_deref()
        .and_then(|n| plan.host(n))
        .filter(|x| x.deploy);
    if c.backend == Backend::Tinc {
        let port = c.port.unwrap_or(crate::catalogue::ports::TINC);
        let mut hosts = Map::new();
        for p in deployed(plan).filter(|x| x.overlay_address.is_some()) {
            let mut t = Map::new();
            t.insert(
                "address".into(),
                json!(p.overlay_address.map(|a| a.to_string()).unwrap_or_default()),
            );
            if coordinator.is_some_and(|x| x.name == p.name) {
                t.insert("endpoint".into(), target.address(p));
            }
            if port != crate::catalogue::ports::TINC {
                t.insert("port".into(), json!(port));
            }
            t.insert("publicKey".into(), target.public_key("tinc", p));
            hosts.insert(tinc_name(&p.name), Value::Object(t));
        }
        set(
            &mut s,
            &["e3", "tinc"],
            json!({ "prefixLength": c.overlay_prefix(), "hosts": hosts }),
        );
    }
    let p = &plan.program;
    let parties: Vec<Value> = p
        .parties
        .iter()
        .map(|e| match c.backend {
            Backend::Direct => match (target, plan.host(&e.host)) {
                (Target::VmTest, Some(h)) => json!(format!("{}:{}", sim_address(h), p.port)),
                _ => address_ref("", &e.host, &format!(":{}", p.port)),
            },
            _ => json!(format!("{}:{}", e.address, p.port)),
        })
        .collect();
    let program = match &p.path {
        // Rendered into programs/user/ with its files (render::Inputs).
        Some(path) => {
            let path = std::path::Path::new(path);
            let place = crate::files::program_place(path, path, p.workdir.as_deref());
            format!("{}/{}", crate::files::USER_PROGRAMS, place.display())
        }
        None => p.name.clone(),
    };
    let mut party = Map::new();
    party.insert("parties".into(), json!(parties));
    party.insert("program".into(), json!(program));
    if !p.args.is_empty() {
        party.insert("args".into(), json!(p.args));
    }
    set(&mut s, &["e3", "party"], Value::Object(party));
    s
}
