//! `tests/nat.nix`: the NixOS VM test of a scenario's simulated topology
//! (`pkgs.testers.runNixOSTest`), exposed by the rendered flake as
//! `checks.<system>.nat`.
//!
//! One VM per plan host: parties and control hosts import the rendered
//! `modules/` and are configured by the same writer as `hosts/<host>.nix`
//! ([`nix::host_body`], [`nix::common_body`] with [`Target::VmTest`]), with
//! the plan's simulation addresses and throwaway test keys; routers and
//! carriers load the NAT rules of [`crate::nat`] (the lab's) as
//! `networking.nftables.tables.e3`. VLAN 1 is the internet segment, then one
//! VLAN per plan segment in plan order ([`vlans`]); interfaces are named as
//! in the lab (`wan`, `lan`, `cgn`) on routers and `eth1` elsewhere (`eth0`
//! is QEMU's user-mode network, unused). Latency and loss are shaped with
//! netem as [`crate::netem`] places them (each host on the internet segment,
//! as it sends there), by a oneshot unit per shaped host.
//!
//! The test script (`generator/templates/vmtest.py`) is the same for every
//! scenario; what it checks comes from the rendered `facts` attrset.
//!
//! Secrets: none of the scenario's. WireGuard and tinc keys are made by a
//! derivation at build time for the test alone (their public halves are read
//! during evaluation: import from derivation), Nebula certificates by the
//! test script, the Headscale pre-auth key by the control server during the
//! test, the TLS certificate of `control` by a derivation (as in nixpkgs'
//! headscale test).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::nix::{common_body, host_body, string, Target};
use super::Files;
use crate::catalogue::{Backend, Nat};
use crate::netem::Loss;
use crate::plan::{Host, Plan, Role, Segment, Topology};

/// The test script, the same for every scenario; `tests/nat.nix` fills in
/// `@FACTS_FILE@`, `@NEBULA_CERT@` and `@OPENSSL@` when it reads it.
pub const SCRIPT: &str = include_str!("../../templates/vmtest.py");

/// Where the test is written in the rendered directory.
pub const PATH: &str = "tests/nat.nix";
/// Where its script is written, beside it.
pub const SCRIPT_PATH: &str = "tests/nat.py";

pub fn render(plan: &Plan, files: &mut Files) {
    files.insert(PATH.into(), nat_nix(plan).into_bytes());
    files.insert(SCRIPT_PATH.into(), SCRIPT.as_bytes().to_vec());
}

/// The VLAN of each plan segment: the internet segment is VLAN 1, the others
/// follow in plan order.
pub fn vlans(plan: &Plan) -> Vec<(&Segment, u32)> {
    let mut out: Vec<(&Segment, u32)> = plan
        .segments
        .iter()
        .filter(|s| s.name == "internet")
        .map(|s| (s, 1))
        .collect();
    out.extend(
        plan.segments
            .iter()
            .filter(|s| s.name != "internet")
            .zip(2..),
    );
    out
}

fn vlan_of(plan: &Plan, segment: &str) -> u32 {
    vlans(plan)
        .into_iter()
        .find(|(s, _)| s.name == segment)
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
    Some((edge, reason))
}

/// Nix indented-string text: `''` and `${` escaped, every line indented by
/// `indent` spaces (empty lines stay empty).
fn indented_string(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let escaped = text.replace("''", "'''").replace("${", "''${");
    let mut out = String::new();
    for line in escaped.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{pad}{line}");
        }
    }
    out
}

/// Re-indents rendered Nix lines by `extra` spaces.
fn reindent(text: &str, extra: usize) -> String {
    let pad = " ".repeat(extra);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

/// A small Nix value, printed as nixfmt prints it.
enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
    List(Vec<Value>),
    Attrs(Vec<(&'static str, Value)>),
}

impl Value {
    fn opt(s: Option<String>) -> Value {
        s.map_or(Value::Null, Value::Str)
    }

    fn strs<I: IntoIterator<Item = String>>(items: I) -> Value {
        Value::List(items.into_iter().map(Value::Str).collect())
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent);
        match self {
            Value::Str(s) => out.push_str(&string(s)),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Null => out.push_str("null"),
            Value::List(items) if items.is_empty() => out.push_str("[ ]"),
            Value::List(items)
                if items.len() == 1 && !matches!(items[0], Value::Attrs(_) | Value::List(_)) =>
            {
                out.push_str("[ ");
                items[0].write(out, indent);
                out.push_str(" ]");
            }
            Value::List(items) => {
                out.push_str("[\n");
                for item in items {
                    out.push_str(&pad);
                    out.push_str("  ");
                    item.write(out, indent + 2);
                    out.push('\n');
                }
                out.push_str(&pad);
                out.push(']');
            }
            Value::Attrs(items) if items.is_empty() => out.push_str("{ }"),
            Value::Attrs(items) => {
                out.push_str("{\n");
                for (k, v) in items {
                    let _ = write!(out, "{pad}  {k} = ");
                    v.write(out, indent + 2);
                    out.push_str(";\n");
                }
                out.push_str(&pad);
                out.push('}');
            }
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
                ("host", Value::Str(p.name.clone())),
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
                ("name", Value::Str(s.name.clone())),
                ("nat", Value::Str(s.nat.to_string())),
                ("router", Value::Str(s.router.clone())),
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
                ("host", Value::Str(h.name.clone())),
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
                    ("host", Value::Str(h.name.clone())),
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
fn test_key(plan: &Plan, h: &Host) -> Option<(&'static str, &'static str)> {
    h.overlay_address?;
    match plan.connectivity.backend {
        Backend::Wireguard => Some(("/run/keys/wireguard.key", "wireguard")),
        Backend::Tinc => Some(("/run/keys/tinc-rsa.priv", "tinc")),
        _ => None,
    }
}

fn header(plan: &Plan, s: &mut String) {
    let c = &plan.connectivity;
    let _ = writeln!(
        s,
        "# The NixOS VM test of the e3 scenario `{}`: its NAT topology with real",
        plan.name
    );
    let what = match c.backend {
        Backend::Direct => {
            "plain TCP between the parties (expected to fail across NAT)".to_string()
        }
        Backend::Tailscale => "Tailscale clients on a local Headscale".to_string(),
        b => format!("the `{b}` overlay"),
    };
    let _ = writeln!(
        s,
        "# routers, {what}, and a run of `{}` on every party.",
        plan.program.name
    );
    let _ = writeln!(
        s,
        "# Rendered by e3: do not edit; change the scenario and run `e3 render {}` again.",
        plan.name
    );
    s.push_str("#\n");
    s.push_str("#   nix build .#checks.x86_64-linux.nat -L    # or `nix flake check`; needs KVM\n");
    s.push_str("#\n");
    s.push_str("# The result holds e3-summary.json: each site's NAT mapping and filtering,\n");
    s.push_str("# each pair's path (direct or relayed), each party's result.\n");
}

fn nat_nix(plan: &Plan) -> String {
    let c = &plan.connectivity;
    let tailnet = matches!(c.backend, Backend::Tailscale | Backend::Headscale);
    let control = c.coordinator.as_deref().and_then(|n| plan.host(n));
    let shaping = crate::netem::shaping(plan, Loss::Netem);
    let keyed: Vec<&Host> = plan
        .hosts
        .iter()
        .filter(|h| test_key(plan, h).is_some())
        .collect();
    let mut s = String::new();
    header(plan, &mut s);
    s.push_str("{ pkgs }:\nlet\n  inherit (pkgs) lib;\n\n");

    let _ = writeln!(
        s,
        "  # What the test script checks, from the plan (`e3 show {}`); also",
        plan.name
    );
    s.push_str("  # `passthru.e3` of the check.\n  facts = ");
    facts(plan).write(&mut s, 2);
    s.push_str(";\n");

    if !keyed.is_empty() {
        let kind = if c.backend == Backend::Tinc {
            "tinc"
        } else {
            "wireguard"
        };
        s.push_str(
            "\n  # Throwaway overlay keys, made at build time for this test alone (never the\n",
        );
        s.push_str(
            "  # scenario's secrets/). The hosts' configurations need the public halves, so\n",
        );
        s.push_str("  # they are read during evaluation (import from derivation).\n");
        s.push_str("  testKeys =\n    let\n");
        let tool = if kind == "tinc" {
            "openssl"
        } else {
            "wireguard-tools"
        };
        let _ = writeln!(s, "      keys = pkgs.runCommand \"e3-test-keys\" {{ nativeBuildInputs = [ pkgs.{tool} ]; }} ''");
        let _ = writeln!(s, "        mkdir -p $out/{kind}");
        let names: Vec<String> = keyed.iter().map(|h| h.name.clone()).collect();
        let _ = writeln!(s, "        for host in {}; do", names.join(" "));
        if kind == "tinc" {
            s.push_str("          openssl genrsa -traditional -out $out/tinc/$host.priv 2048\n");
            s.push_str("          openssl rsa -in $out/tinc/$host.priv -RSAPublicKey_out -out $out/tinc/$host.pub\n");
        } else {
            s.push_str("          wg genkey | tee $out/wireguard/$host.key | wg pubkey > $out/wireguard/$host.pub\n");
        }
        s.push_str("        done\n      '';\n    in\n    {\n");
        if kind == "tinc" {
            s.push_str("      tinc = host: builtins.readFile \"${keys}/tinc/${host}.pub\";\n");
            s.push_str("      private = host: \"${keys}/tinc/${host}.priv\";\n");
        } else {
            s.push_str(
                "      wireguard = host: lib.fileContents \"${keys}/wireguard/${host}.pub\";\n",
            );
            s.push_str("      private = host: \"${keys}/wireguard/${host}.key\";\n");
        }
        s.push_str("    };\n\n");
        s.push_str("  # Colmena uploads a host's keys before activation; here the throwaway key\n");
        s.push_str("  # is installed before the overlay's units start.\n");
        s.push_str("  installKey =\n    path: source:\n    { config, ... }:\n    {\n      systemd.services.e3-test-key = {\n");
        s.push_str("        description = \"Install the VM test's throwaway overlay key\";\n");
        s.push_str("        before = config.e3.overlay.units;\n        requiredBy = config.e3.overlay.units;\n");
        s.push_str("        serviceConfig = {\n          Type = \"oneshot\";\n          RemainAfterExit = true;\n        };\n");
        s.push_str(
            "        script = \"install -D -m 0600 ${source} ${path}\";\n      };\n    };\n",
        );
    }

    if tailnet {
        let name = control.map_or("control", |h| h.name.as_str());
        s.push_str("\n  # Tailscale clients need TLS for Headscale's embedded DERP relay. As in\n");
        let _ = writeln!(
            s,
            "  # nixpkgs' headscale test: a self-signed certificate for the name `{name}`,"
        );
        s.push_str(
            "  # made at build time for this test alone, and nginx in front of Headscale's\n",
        );
        s.push_str(
            "  # plain-HTTP listener (e3's `tls = \"none\"` behind a TLS-terminating proxy).\n",
        );
        s.push_str("  tlsCert = pkgs.runCommand \"e3-test-tls\" { nativeBuildInputs = [ pkgs.openssl ]; } ''\n");
        s.push_str("    openssl req -x509 -newkey rsa:2048 -sha256 -days 30 -nodes \\\n");
        let _ = writeln!(
            s,
            "      -subj /CN={name} -addext subjectAltName=DNS:{name} \\"
        );
        s.push_str("      -keyout key.pem -out cert.pem\n    mkdir -p $out\n    cp key.pem cert.pem $out\n  '';\n\n");
        s.push_str("  headscaleTls =\n    { config, ... }:\n    {\n      services.nginx = {\n        enable = true;\n");
        let _ = writeln!(s, "        virtualHosts.{} = {{", super::nix::attr(name));
        s.push_str("          onlySSL = true;\n");
        s.push_str("          sslCertificate = \"${tlsCert}/cert.pem\";\n          sslCertificateKey = \"${tlsCert}/key.pem\";\n");
        s.push_str("          locations.\"/\" = {\n            proxyPass = \"http://127.0.0.1:${toString config.e3.headscale.port}\";\n");
        s.push_str("            proxyWebsockets = true;\n          };\n        };\n      };\n");
        let _ = writeln!(
            s,
            "      services.headscale.settings.server_url = lib.mkForce {};",
            string(&format!("https://{name}"))
        );
        s.push_str("      networking.firewall.allowedTCPPorts = [ 443 ];\n    };\n\n");
        let _ = writeln!(
            s,
            "  # Parties trust the certificate and find `{name}` without DNS."
        );
        s.push_str("  tailnetClient = {\n    security.pki.certificateFiles = [ \"${tlsCert}/cert.pem\" ];\n");
        if let Some(a) = control.and_then(|h| h.public_address) {
            let _ = writeln!(
                s,
                "    networking.hosts.{} = [ {} ];",
                string(&a.to_string()),
                string(name)
            );
        }
        s.push_str("  };\n");
    }

    // e3Host: what every host running e3's modules shares.
    s.push_str("\n  # Every host that runs e3's NixOS modules, as hosts/common.nix deploys it,\n");
    s.push_str("  # with nixpkgs' throwaway test SSH key (the driver reaches the VMs through\n");
    s.push_str("  # its backdoor shell, not SSH).\n");
    s.push_str("  e3Host = {\n    imports = [ ../modules ];\n\n    e3.common.enable = true;\n");
    s.push_str("    e3.sshKeys = [ (import \"${pkgs.path}/nixos/tests/ssh-keys.nix\" pkgs).snakeOilPublicKey ];\n");
    s.push_str(&reindent(&common_body(plan, Target::VmTest), 2));
    s.push_str("  };\n\n");
    s.push_str("  # A party: e3's modules, and the tools the script probes NAT mappings and\n  # paths with.\n");
    s.push_str("  party =\n    { pkgs, ... }:\n    {\n      imports = [ e3Host ];\n");
    s.push_str("      environment.systemPackages = [\n        pkgs.conntrack-tools\n        pkgs.socat\n      ];\n    };\n");

    if !plan.sites.is_empty() {
        s.push_str(
            "\n  # A home router or carrier: forwarding, and its NAT as nftables rules (the\n",
        );
        s.push_str("  # rules `e3 sim` loads), which are its whole filter: no NixOS firewall.\n");
        s.push_str("  router =\n    { pkgs, ... }:\n    {\n      boot.kernel.sysctl.\"net.ipv4.ip_forward\" = 1;\n");
        s.push_str(
            "      networking.firewall.enable = false;\n      networking.nftables.enable = true;\n",
        );
        s.push_str("      environment.systemPackages = [ pkgs.conntrack-tools ];\n      virtualisation.memorySize = 512;\n    };\n");
    }

    if !shaping.is_empty() {
        s.push_str(
            "\n  # The plan's one-way delays (simulation.latency) and loss (simulation.loss),\n",
        );
        s.push_str(
            "  # applied by each host on the internet segment (a site's router or carrier\n",
        );
        s.push_str("  # for its parties) to what it sends there, per destination.\n");
        s.push_str("  netem = interface: script: {\n");
        s.push_str("    description = \"Latency and loss towards the internet segment\";\n");
        s.push_str("    wantedBy = [ \"multi-user.target\" ];\n");
        s.push_str("    after = [ \"network-addresses-${interface}.service\" ];\n");
        s.push_str("    wants = [ \"network-addresses-${interface}.service\" ];\n");
        s.push_str("    path = [ pkgs.iproute2 ];\n");
        s.push_str("    serviceConfig = {\n      Type = \"oneshot\";\n      RemainAfterExit = true;\n    };\n");
        s.push_str("    inherit script;\n  };\n");
    }

    s.push_str("in\npkgs.testers.runNixOSTest {\n");
    let _ = writeln!(
        s,
        "  name = {};",
        string(&format!("e3-{}", crate::matrix::store_name(&plan.name)))
    );
    s.push_str(
        "\n  # Addresses, gateways and routes are the plan's, set per node below; no DHCP\n",
    );
    s.push_str("  # on QEMU's user-mode network.\n  defaults.networking.useDHCP = false;\n\n");
    s.push_str("  nodes = {\n");
    let mut first = true;
    for h in &plan.hosts {
        if !first {
            s.push('\n');
        }
        first = false;
        node(plan, h, &shaping, &mut s);
    }
    s.push_str("  };\n\n  passthru.e3 = facts;\n\n");

    s.push_str("  testScript =\n    { nodes, ... }:\n    let\n");
    s.push_str(
        "      # The facts above, and each host's overlay units as e3's modules set them.\n",
    );
    s.push_str("      factsFile = pkgs.writeText \"e3-facts.json\" (\n");
    s.push_str("        builtins.toJSON (facts // { units = lib.mapAttrs (_: node: node.e3.overlay.units or [ ]) nodes; })\n");
    s.push_str("      );\n    in\n");
    s.push_str("    # The script is the same for every scenario; the facts tell it this one.\n");
    s.push_str("    builtins.replaceStrings\n      [\n        \"@FACTS_FILE@\"\n        \"@NEBULA_CERT@\"\n        \"@OPENSSL@\"\n      ]\n      [\n        \"${factsFile}\"\n");
    let nebula_cert = if c.backend == Backend::Nebula {
        "(lib.getExe' pkgs.nebula \"nebula-cert\")"
    } else {
        "\"nebula-cert\""
    };
    let _ = writeln!(s, "        {nebula_cert}");
    let openssl = if c.backend == Backend::Openvpn {
        "(lib.getExe pkgs.openssl)"
    } else {
        "\"openssl\""
    };
    let _ = writeln!(s, "        {openssl}");
    s.push_str("      ]\n      (builtins.readFile ./nat.py);\n}\n");
    s
}

fn addresses_value(address: Ipv4Addr, prefix: u8) -> Value {
    Value::List(vec![Value::Attrs(vec![
        ("address", Value::Str(address.to_string())),
        ("prefixLength", Value::Int(prefix as i64)),
    ])])
}

fn node(plan: &Plan, h: &Host, shaping: &[crate::netem::Shaping], s: &mut String) {
    let c = &plan.connectivity;
    let tailnet = matches!(c.backend, Backend::Tailscale | Backend::Headscale);
    let names = interface_names(h);
    let _ = writeln!(s, "    {} = {{", super::nix::attr(&h.name));
    // imports
    let mut imports: Vec<String> = Vec::new();
    match h.role {
        Role::Router | Role::Carrier => imports.push("router".into()),
        Role::Party => imports.push("party".into()),
        _ => imports.push("e3Host".into()),
    }
    if tailnet {
        match h.role {
            Role::Control => imports.push("headscaleTls".into()),
            Role::Party => imports.push("tailnetClient".into()),
            _ => {}
        }
    }
    if let Some((path, _)) = test_key(plan, h) {
        imports.push(format!(
            "(installKey {} (testKeys.private {}))",
            string(path),
            string(&h.name)
        ));
    }
    if imports.len() == 1 {
        let _ = writeln!(s, "      imports = [ {} ];", imports[0]);
    } else {
        s.push_str("      imports = [\n");
        for i in &imports {
            let _ = writeln!(s, "        {i}");
        }
        s.push_str("      ];\n");
    }
    // VLANs and addresses
    s.push_str("      virtualisation.interfaces = {\n");
    for (i, name) in h.interfaces.iter().zip(&names) {
        let _ = writeln!(s, "        {name}.vlan = {};", vlan_of(plan, &i.segment));
    }
    s.push_str("      };\n");
    let firewall_routes: Vec<(String, Ipv4Addr)> = plan
        .sites
        .iter()
        .filter(|site| site.nat == Nat::Firewall && Some(&site.router) != Some(&h.name))
        .map(|site| (site.lan.clone(), site.public_address))
        .collect();
    s.push_str("      networking.interfaces = {\n");
    for (i, name) in h.interfaces.iter().zip(&names) {
        let _ = write!(s, "        {name}.ipv4.addresses = ");
        addresses_value(i.address, i.prefix).write(s, 8);
        s.push_str(";\n");
        if i.segment == "internet" && !firewall_routes.is_empty() {
            let routes = firewall_routes
                .iter()
                .map(|(lan, via)| {
                    let (net, prefix) = lan.split_once('/').unwrap_or((lan.as_str(), "24"));
                    Value::Attrs(vec![
                        ("address", Value::Str(net.to_string())),
                        ("prefixLength", Value::Int(prefix.parse().unwrap_or(24))),
                        ("via", Value::Str(via.to_string())),
                    ])
                })
                .collect();
            let _ = write!(s, "        {name}.ipv4.routes = ");
            Value::List(routes).write(s, 8);
            s.push_str(";\n");
        }
    }
    s.push_str("      };\n");
    if let Some((i, name)) = h
        .interfaces
        .iter()
        .zip(&names)
        .find(|(i, _)| i.gateway.is_some())
    {
        s.push_str("      networking.defaultGateway = {\n");
        let _ = writeln!(
            s,
            "        address = {};",
            string(&i.gateway.map(|g| g.to_string()).unwrap_or_default())
        );
        let _ = writeln!(s, "        interface = {};", string(name));
        s.push_str("      };\n");
    }
    if let Some(shape) = shaping.iter().find(|x| x.host == h.name) {
        let dev = h
            .interfaces
            .iter()
            .zip(&names)
            .find(|(i, _)| i.segment == "internet")
            .map_or("eth1", |(_, n)| n.as_str());
        let _ = writeln!(
            s,
            "      systemd.services.e3-netem = netem {} ''",
            string(dev)
        );
        for command in shape.commands(dev) {
            let _ = writeln!(s, "        {}", command.join(" "));
        }
        s.push_str("      '';\n");
    }
    if let Some(r) = crate::nat::router(plan, h) {
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
        let _ = writeln!(s, "\n      # {what}.");
        s.push_str("      networking.nftables.tables.e3 = {\n        family = \"ip\";\n        content = ''\n");
        s.push_str(&indented_string(&r.body(), 8));
        s.push_str("        '';\n      };\n");
    }
    if matches!(
        h.role,
        Role::Party | Role::Control | Role::Lighthouse | Role::Hub | Role::Bootstrap
    ) {
        s.push_str(&reindent(&host_body(plan, h, Target::VmTest), 4));
    }
    s.push_str("    };\n");
}
