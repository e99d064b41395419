//! The Nix side of a rendered scenario: `flake.nix`, `flake.lock`,
//! `hive.nix`, `addresses.nix`, `public-keys.nix`, `hosts/<host>.nix`, and
//! the copied `modules/` and `programs/`.
//!
//! Written by small Rust writers rather than templates: the output follows
//! nixfmt (RFC 166 style) exactly, which is easier to get right with code
//! that knows the nesting than with template whitespace control.
//!
//! What comes from where at evaluation time (see ARCHITECTURE.md, "Rendered
//! Nix"):
//! - deployed hosts' addresses: `addresses.nix`, from `hosts.json` (written
//!   by Terraform / `e3 deploy`) or the party's `address`;
//! - public keys (WireGuard, tinc) and root's SSH keys: `public-keys/`,
//!   copied by `e3 render` from `secrets/NAME/public/` (written by `e3 keys`);
//! - secrets: never in the directory; `hive.nix` has Colmena read them at
//!   upload time from `$E3_SECRETS` with `keyCommand`.

use std::fmt::Write as _;

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

/// Where a rendered host configuration runs. The deployed hosts
/// (`hosts/<host>.nix`) and the nodes of the NixOS VM test (`tests/nat.nix`)
/// are written by the same code, so the test configures e3's modules as a
/// deployment does; only the references differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Addresses from `addresses.nix`, public keys from `public-keys.nix`.
    Deploy,
    /// The plan's simulation addresses, the test's throwaway keys
    /// (`testKeys`), Headscale as the control server of both Tailscale
    /// backends, reached by name over TLS.
    VmTest,
}

impl Target {
    /// A Nix expression for the address `h` is reached at.
    fn address(self, h: &Host) -> String {
        match self {
            Target::Deploy => format!("addresses.{}", attr(&h.name)),
            Target::VmTest => string(&sim_address(h)),
        }
    }

    /// The same, inside a Nix string literal.
    fn address_in_string(self, h: &Host) -> String {
        match self {
            Target::Deploy => format!("${{addresses.{}}}", attr(&h.name)),
            Target::VmTest => sim_address(h),
        }
    }

    /// A Nix expression for a host's public key of a backend (`wireguard`, `tinc`).
    fn public_key(self, backend: &str, h: &Host) -> String {
        match self {
            Target::Deploy => format!("publicKeys.{backend} {}", string(&h.name)),
            Target::VmTest => format!("testKeys.{backend} {}", string(&h.name)),
        }
    }
}

/// The address others reach `h` at in a simulation: its own on the internet
/// segment, or its NAT's public address.
fn sim_address(h: &Host) -> String {
    h.public_address.map(|a| a.to_string()).unwrap_or_default()
}

pub fn render(plan: &Plan, files: &mut Files) {
    files.insert("flake.nix".into(), flake_nix(plan).into_bytes());
    files.insert("flake.lock".into(), PROJECT_FLAKE_LOCK.as_bytes().to_vec());
    files.insert("hive.nix".into(), hive_nix(plan).into_bytes());
    files.insert("addresses.nix".into(), addresses_nix(plan).into_bytes());
    files.insert("public-keys.nix".into(), public_keys_nix(plan).into_bytes());
    if let Some(text) = private_addresses_nix(plan) {
        files.insert("private-addresses.nix".into(), text.into_bytes());
    }
    files.insert("hosts/common.nix".into(), common_nix(plan).into_bytes());
    let cloud = crate::cloud::cloud(plan);
    for h in nodes(plan) {
        let text = if matches!(h.role, Role::Router | Role::Carrier) {
            router_nix(plan, &cloud, h)
        } else {
            host_nix(plan, &cloud, h)
        };
        files.insert(format!("hosts/{}.nix", h.name).into(), text.into_bytes());
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

/// An attribute name: bare when it is a plain identifier, quoted otherwise.
pub(crate) fn attr(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '\'')
        && !matches!(
            name,
            "if" | "then" | "else" | "let" | "in" | "with" | "rec" | "inherit" | "assert" | "or"
        );
    if plain {
        name.to_string()
    } else {
        string(name)
    }
}

/// `name = [ a b ];` on one line when it has at most one element, else one
/// element per line (nixfmt's layout), at `indent` spaces.
fn list(out: &mut String, indent: usize, name: &str, items: &[String]) {
    let pad = " ".repeat(indent);
    match items {
        [] => {
            let _ = writeln!(out, "{pad}{name} = [ ];");
        }
        [one] => {
            let _ = writeln!(out, "{pad}{name} = [ {one} ];");
        }
        _ => {
            let _ = writeln!(out, "{pad}{name} = [");
            for i in items {
                let _ = writeln!(out, "{pad}  {i}");
            }
            let _ = writeln!(out, "{pad}];");
        }
    }
}

/// The tinc node name of a host: tinc allows `[A-Za-z0-9_]` only.
pub fn tinc_name(host: &str) -> String {
    host.replace('-', "_")
}

/// The path of a image build attribute for a platform, if it has one.
fn image_attr(platform: Platform) -> Option<&'static str> {
    match platform {
        Platform::DigitalOcean => Some("config.system.build.images.digital-ocean"),
        // modules/README.md: the sd-image module is imported into the host,
        // so the image is `sdImage`, not `images.sd-card`.
        Platform::RaspberryPi => Some("config.system.build.sdImage"),
        Platform::Hetzner | Platform::Existing => None,
    }
}

fn flake_nix(plan: &Plan) -> String {
    let hosts: Vec<&Host> = nodes(plan);
    let cloud = crate::cloud::cloud(plan);
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
    let mut base_block = String::new();
    if !bases.is_empty() {
        base_block.push('\n');
        base_block
            .push_str("      # Phase one: the generic base configuration of each cloud platform\n");
        base_block.push_str(
            "      # (modules/base.nix). No scenario data (addresses, keys, backend), so it\n",
        );
        base_block.push_str(
            "      # evaluates before Terraform has run and is the same for every scenario\n",
        );
        base_block.push_str(
            "      # of this nixpkgs pin. Colmena deploys the full systems below over it.\n",
        );
        base_block.push_str("      baseConfigurations = {\n");
        for (p, router) in &bases {
            let _ = writeln!(
                base_block,
                "        {} = lib.nixosSystem {{",
                attr(&base_configuration(*p, *router))
            );
            base_block.push_str("          modules = [\n            ./modules\n");
            let _ = writeln!(
                base_block,
                "            ./modules/{}",
                p.facts().nixos_module
            );
            if *router {
                base_block.push_str("            {\n              e3.base.enable = true;\n              e3.base.router = true;\n            }\n");
            } else {
                base_block.push_str("            { e3.base.enable = true; }\n");
            }
            base_block.push_str("          ];\n        };\n");
        }
        base_block.push_str("      };\n");
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# The pinned flake of the e3 scenario `{}`. Rendered by e3: do not edit;",
        plan.name
    );
    let _ = writeln!(
        s,
        "# change the scenario and run `e3 render {}` again.",
        plan.name
    );
    s.push_str("{\n");
    let _ = writeln!(
        s,
        "  description = {};",
        string(&format!("e3 scenario {}", plan.name))
    );
    s.push('\n');
    let _ = writeln!(s, "  inputs.nixpkgs.url = {};", string(NIXPKGS_URL));
    s.push('\n');
    s.push_str("  outputs =\n    { self, nixpkgs }:\n    let\n      inherit (nixpkgs) lib;\n\n");
    s.push_str("      forAllSystems = lib.genAttrs [\n");
    for sys in SYSTEMS {
        let _ = writeln!(s, "        {}", string(sys));
    }
    s.push_str("      ];\n");
    s.push_str(&base_block);
    s.push_str("    in\n    {\n");
    // nixosConfigurations
    s.push_str("      # Phase two: one NixOS system per host of the hive (and the base\n");
    s.push_str("      # configurations); the platform module sets `nixpkgs.hostPlatform`, so\n");
    s.push_str("      # no `system` is passed here.\n");
    if hosts.is_empty() {
        s.push_str("      nixosConfigurations = { };\n");
    } else {
        if !bases.is_empty() {
            s.push_str("      nixosConfigurations = baseConfigurations // lib.genAttrs [\n");
        } else {
            s.push_str("      nixosConfigurations = lib.genAttrs [\n");
        }
        for h in &hosts {
            let _ = writeln!(s, "        {}", string(&h.name));
        }
        s.push_str("      ] (host: lib.nixosSystem { modules = [ ./hosts/${host}.nix ]; });\n");
    }
    s.push('\n');
    s.push_str("      # The raw Colmena hive (the same as `colmena apply -f hive.nix`); see\n");
    s.push_str("      # README.md for the two lines that turn it into `colmenaHive`.\n");
    s.push_str("      colmena = import ./hive.nix { inherit nixpkgs; };\n");
    s.push('\n');
    // packages: images per system
    let mut images: Vec<(&str, String)> = Vec::new();
    for (p, router) in &bases {
        if let (Some(image), Some(a), false) = (base_image(*p), image_attr(*p), router) {
            images.push((
                p.facts().system,
                format!(
                    "{image} = self.nixosConfigurations.{}.{a};",
                    attr(&base_configuration(*p, false))
                ),
            ));
        }
    }
    for h in hosts
        .iter()
        .filter(|h| h.platform == Some(Platform::RaspberryPi))
    {
        if let (Some(p), Some(sys)) = (h.platform, h.system) {
            if let Some(a) = image_attr(p) {
                images.push((
                    sys,
                    format!(
                        "image-{} = self.nixosConfigurations.{}.{a};",
                        h.name,
                        attr(&h.name)
                    ),
                ));
            }
        }
    }
    s.push_str("      # Boot images: a cloud platform's base image (the same for every scenario\n");
    s.push_str("      # of this nixpkgs pin), a Raspberry Pi's SD card with its full system.\n");
    if images.is_empty() {
        s.push_str("      packages = { };\n");
    } else {
        s.push_str("      packages = {\n");
        let mut systems: Vec<&str> = images.iter().map(|(sys, _)| *sys).collect();
        systems.sort_unstable();
        systems.dedup();
        for sys in systems {
            let _ = writeln!(s, "        {} = {{", attr(sys));
            for (_, line) in images.iter().filter(|(x, _)| *x == sys) {
                let _ = writeln!(s, "          {line}");
            }
            s.push_str("        };\n");
        }
        s.push_str("      };\n");
    }
    s.push('\n');
    s.push_str("      devShells = forAllSystems (system: {\n");
    s.push_str("        default = nixpkgs.legacyPackages.${system}.mkShell {\n");
    s.push_str("          packages = [ nixpkgs.legacyPackages.${system}.colmena ];\n");
    s.push_str("        };\n");
    s.push_str("      });\n");
    s.push('\n');
    s.push_str("      # The NixOS VM test of this topology (tests/nat.nix): `nix flake check`,\n");
    s.push_str("      # or `nix build .#checks.x86_64-linux.nat -L` (needs KVM).\n");
    s.push_str("      checks = forAllSystems (system: {\n");
    s.push_str(
        "        nat = import ./tests/nat.nix { pkgs = nixpkgs.legacyPackages.${system}; };\n",
    );
    s.push_str("      });\n");
    s.push_str("    };\n}\n");
    s
}

/// Parses the project's lock: (rev, narHash) of the nixpkgs node.
pub fn nixpkgs_lock() -> (String, String) {
    let v: serde_json::Value =
        serde_json::from_str(PROJECT_FLAKE_LOCK).expect("the project's flake.lock is JSON");
    let locked = &v["nodes"]["nixpkgs"]["locked"];
    let get = |k: &str| {
        locked[k]
            .as_str()
            .expect("the nixpkgs node is locked")
            .to_string()
    };
    (get("rev"), get("narHash"))
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

fn hive_nix(plan: &Plan) -> String {
    let (rev, nar_hash) = nixpkgs_lock();
    let mut s = String::new();
    let _ = writeln!(s, "# Colmena hive of the e3 scenario `{}`:", plan.name);
    s.push_str("#\n#   E3_SECRETS=/path/to/secrets/NAME colmena apply -f hive.nix\n#\n");
    s.push_str("# A plain (non-flake) hive: it fetches the nixpkgs pinned in flake.lock\n");
    s.push_str("# itself, and reads hosts.json from the working tree (untracked files are\n");
    s.push_str("# fine here; flakes only see files added to git). The flake passes its own\n");
    s.push_str("# nixpkgs input instead (`outputs.colmena`).\n");
    s.push_str("#\n# Secrets never enter this directory or the Nix store: Colmena runs each\n");
    let _ = writeln!(
        s,
        "# key's command on the deploying machine at upload time, reading the file"
    );
    let _ = writeln!(
        s,
        "# from ${SECRETS_ENV}: the directory `e3 keys {}` wrote,",
        plan.name
    );
    let _ = writeln!(
        s,
        "# secrets/{} under the directory it was run in.",
        plan.name
    );
    s.push_str("{\n  nixpkgs ? fetchTarball {\n");
    let _ = writeln!(
        s,
        "    url = {};",
        string(&format!(
            "https://github.com/NixOS/nixpkgs/archive/{rev}.tar.gz"
        ))
    );
    let _ = writeln!(s, "    sha256 = {};", string(&nar_hash));
    s.push_str("  },\n}:\nlet\n  addresses = import ./addresses.nix;\n\n");
    s.push_str("  secret = file: {\n    keyCommand = [\n      \"sh\"\n      \"-c\"\n");
    let cmd = format!(
        "exec cat -- \"${{{SECRETS_ENV}:?set {SECRETS_ENV} to the secrets directory of this scenario (e3 keys {} writes secrets/{})}}/$0\"",
        plan.name, plan.name
    );
    let _ = writeln!(s, "      {}", string(&cmd));
    s.push_str("      file\n    ];\n  };\nin\n{\n  meta = {\n");
    let _ = writeln!(
        s,
        "    description = {};",
        string(&format!("e3 scenario {}", plan.name))
    );
    s.push_str("    nixpkgs = import nixpkgs { system = \"x86_64-linux\"; };\n");
    let other: Vec<&Host> = deployed(plan)
        .filter(|h| h.system.is_some_and(|x| x != "x86_64-linux"))
        .collect();
    let cloud = crate::cloud::cloud(plan);
    if !other.is_empty() {
        s.push_str("    nodeNixpkgs = {\n");
        for h in other {
            let _ = writeln!(
                s,
                "      {} = import nixpkgs {{ system = {}; }};",
                attr(&h.name),
                string(h.system.unwrap_or_default())
            );
        }
        s.push_str("    };\n");
    }
    s.push_str("  };\n");
    for h in nodes(plan) {
        let c = cloud.host(&h.name);
        let platform = c.map(|c| c.platform).or(h.platform);
        s.push('\n');
        let _ = writeln!(s, "  {} = {{", attr(&h.name));
        let _ = writeln!(s, "    imports = [ ./hosts/{}.nix ];", h.name);
        s.push('\n');
        s.push_str("    deployment = {\n");
        let _ = writeln!(s, "      targetHost = addresses.{};", attr(&h.name));
        let user = platform.map(|p| p.facts().target_user).unwrap_or("root");
        let _ = writeln!(s, "      targetUser = {};", string(user));
        if let Some(c) = c.filter(|c| !c.jump.is_empty()) {
            // Behind NAT: reached at its private address through its router
            // (and, behind a carrier, through the carrier first).
            let chain = c
                .jump
                .iter()
                .map(|j| format!("root@${{addresses.{}}}", attr(j)))
                .collect::<Vec<_>>()
                .join(",");
            let _ = writeln!(
                s,
                "      sshOptions = [\n        \"-o\"\n        \"ProxyJump={chain}\"\n      ];"
            );
        }
        if platform == Some(Platform::RaspberryPi) {
            s.push_str("      # aarch64: built on the Pi itself, not on the x86_64 deployer (no\n");
            s.push_str("      # emulation needed; see modules/platforms/raspberry-pi.nix).\n");
            s.push_str("      buildOnTarget = true;\n");
        }
        let mut tags = Vec::new();
        if let Some(r) = c.map(|c| &c.region).or(h.region.as_ref()) {
            tags.push(string(&format!("region-{r}")));
        }
        if let Some(p) = platform {
            tags.push(string(&format!("platform-{}", p.as_str())));
        }
        tags.push(string(&format!("backend-{}", plan.connectivity.backend)));
        tags.push(string(&format!("role-{}", h.role.as_str())));
        list(&mut s, 6, "tags", &tags);
        let keys = deployment_keys(plan, h);
        if !keys.is_empty() {
            s.push_str("      keys = {\n");
            for (name, file) in keys {
                let _ = writeln!(s, "        {} = secret {};", attr(&name), string(&file));
            }
            s.push_str("      };\n");
        }
        s.push_str("    };\n  };\n");
    }
    s.push_str("}\n");
    s
}

fn addresses_nix(plan: &Plan) -> String {
    let mut s = String::new();
    s.push_str("# Where each deployed host is reached (Colmena's targetHost, and the public\n");
    s.push_str("# endpoints of lighthouses, hubs and control servers): the address the\n");
    s.push_str("# scenario gives, or the one Terraform writes to hosts.json\n");
    s.push_str("# ({ \"<host>\": \"<ip>\", ... }) when it provisions the machines.\n");
    s.push_str("# In flake mode, `git add hosts.json` first: flakes only see tracked files.\n");
    s.push_str("let\n  file = ./hosts.json;\n");
    s.push_str("  provisioned = if builtins.pathExists file then builtins.fromJSON (builtins.readFile file) else { };\n");
    s.push_str("  fromTerraform =\n    host:\n    provisioned.${host}\n      or (throw \"e3: no address for host `${host}`: hosts.json is missing or has no entry for it (run `terraform apply` in terraform/, or `e3 deploy`; with flakes also `git add hosts.json`)\");\n");
    s.push_str("in\n{\n");
    for h in nodes(plan) {
        match h.address {
            Some(a) => {
                let _ = writeln!(s, "  {} = {};", attr(&h.name), string(&a.to_string()));
            }
            None => {
                let _ = writeln!(
                    s,
                    "  {} = fromTerraform {};",
                    attr(&h.name),
                    string(&h.name)
                );
            }
        }
    }
    s.push_str("}\n");
    s
}

/// `private-addresses.nix`: each router's and NATed host's address on its
/// (innermost) private network: chosen by e3 on Hetzner, reported by
/// Terraform on DigitalOcean (`private-addresses.json`). `None` without
/// cloud NAT.
fn private_addresses_nix(plan: &Plan) -> Option<String> {
    let cloud = crate::cloud::cloud(plan);
    let hosts: Vec<_> = cloud
        .hosts
        .iter()
        .filter(|c| !c.networks.is_empty())
        .collect();
    if hosts.is_empty() {
        return None;
    }
    let mut s = String::new();
    s.push_str("# Addresses on the private networks of the cloud NAT sites: fixed by e3 where\n");
    s.push_str("# the cloud lets it choose (Hetzner), else from private-addresses.json\n");
    s.push_str("# ({ \"<host>\": \"<ip>\", ... }), which `e3 deploy` writes from Terraform.\n");
    s.push_str("let\n  file = ./private-addresses.json;\n");
    s.push_str("  provisioned = if builtins.pathExists file then builtins.fromJSON (builtins.readFile file) else { };\n");
    s.push_str("  fromTerraform =\n    host:\n    provisioned.${host}\n      or (throw \"e3: no private address for host `${host}`: private-addresses.json is missing or has no entry for it (run `e3 deploy`; with flakes also `git add private-addresses.json`)\");\n");
    s.push_str("in\n{\n");
    for c in hosts {
        match c.networks.last().and_then(|(_, ip)| *ip) {
            Some(ip) => {
                let _ = writeln!(s, "  {} = {};", attr(&c.host.name), string(&ip.to_string()));
            }
            None => {
                let _ = writeln!(
                    s,
                    "  {} = fromTerraform {};",
                    attr(&c.host.name),
                    string(&c.host.name)
                );
            }
        }
    }
    s.push_str("}\n");
    Some(s)
}

fn public_keys_nix(plan: &Plan) -> String {
    let mut s = String::new();
    s.push_str("# Public key material of this scenario, read from public-keys/. `e3 keys`\n");
    s.push_str("# writes it to secrets/NAME/public/ (next to the private halves, which never\n");
    s.push_str("# leave secrets/NAME/), and `e3 render` copies it here.\n");
    s.push_str(
        "let\n  read =\n    name:\n    let\n      file = ./public-keys + \"/${name}\";\n    in\n",
    );
    s.push_str("    if builtins.pathExists file then\n      builtins.readFile file\n    else\n");
    let _ = writeln!(
        s,
        "      throw \"e3: public-keys/${{name}} is missing: run `e3 keys {n}`, then `e3 render {n}`\";",
        n = plan.name
    );
    s.push_str("\n  # Non-empty lines, without the line ends.\n");
    s.push_str("  lines =\n    text: builtins.filter (line: builtins.isString line && line != \"\") (builtins.split \"\\n\" text);\n");
    s.push_str("in\n{\n");
    s.push_str("  # Root's authorized SSH keys on every host (put yours in\n");
    let _ = writeln!(
        s,
        "  # secrets/{}/public/authorized_keys; `e3 keys` copies ~/.ssh/id_*.pub there).",
        plan.name
    );
    s.push_str("  sshKeys = lines (read \"authorized_keys\");\n\n");
    s.push_str("  # A host's public key for a backend, e.g. `wireguard \"ams\"`.\n");
    s.push_str("  wireguard = host: builtins.head (lines (read \"wireguard/${host}.pub\"));\n");
    s.push_str("  tinc = host: read \"tinc/${host}.pub\";\n");
    s.push_str("}\n");
    s
}

/// `hosts/common.nix`: what every host of the scenario shares (SSH keys, the
/// tinc host table, the ordered MPyC party list), so each `hosts/<host>.nix`
/// holds only what is particular to that host.
fn common_nix(plan: &Plan) -> String {
    let body = common_body(plan, Target::Deploy);
    let mut s = String::from("# What every host of this scenario shares; hosts/<host>.nix adds what is\n# particular to one host.\n");
    s.push_str("let\n");
    if body.contains("addresses.") {
        s.push_str("  addresses = import ../addresses.nix;\n");
    }
    s.push_str("  publicKeys = import ../public-keys.nix;\nin\n{\n");
    s.push_str("  e3.common.enable = true;\n  e3.sshKeys = publicKeys.sshKeys;\n");
    s.push_str(&body);
    s.push_str("}\n");
    s
}

/// The settings every host shares (the tinc host table, the MPyC party
/// list), at two spaces of indentation, starting with a blank line.
pub(crate) fn common_body(plan: &Plan, target: Target) -> String {
    let c = &plan.connectivity;
    let mut s = String::new();
    let coordinator = c
        .coordinator
        .as_deref()
        .and_then(|n| plan.host(n))
        .filter(|x| x.deploy);
    if c.backend == Backend::Tinc {
        let port = c.port.unwrap_or(crate::catalogue::ports::TINC);
        s.push_str("\n  # The tinc network: the same host table on every member.\n");
        s.push_str("  e3.tinc = {\n");
        let _ = writeln!(s, "    prefixLength = {};", overlay_prefix(plan));
        s.push_str("    hosts = {\n");
        for p in deployed(plan).filter(|x| x.overlay_address.is_some()) {
            let _ = writeln!(s, "      {} = {{", attr(&tinc_name(&p.name)));
            let _ = writeln!(
                s,
                "        address = {};",
                string(&p.overlay_address.map(|a| a.to_string()).unwrap_or_default())
            );
            if coordinator.is_some_and(|x| x.name == p.name) {
                let _ = writeln!(s, "        endpoint = {};", target.address(p));
            }
            if port != crate::catalogue::ports::TINC {
                let _ = writeln!(s, "        port = {port};");
            }
            let _ = writeln!(s, "        publicKey = {};", target.public_key("tinc", p));
            s.push_str("      };\n");
        }
        s.push_str("    };\n  };\n");
    }
    let p = &plan.program;
    s.push_str("\n  # The computation: every party runs the same program with the same ordered\n");
    s.push_str(match target {
        Target::Deploy => {
            "  # party list; hosts/<party>.nix enables it and sets the party's index.\n"
        }
        Target::VmTest => {
            "  # party list; each party's node enables it and sets the party's index.\n"
        }
    });
    match c.backend {
        Backend::Tailscale | Backend::Headscale => {
            s.push_str("  # Tailnet addresses are assigned by the control server: parties are\n");
            s.push_str("  # named by host name and resolved at run time (`tailscale ip -4`).\n");
        }
        Backend::Direct => {
            s.push_str("  # Plain TCP to the parties' public addresses: fails for a party\n");
            s.push_str("  # behind NAT, which is the point of this baseline.\n");
        }
        _ => {}
    }
    s.push_str("  e3.party = {\n");
    let parties: Vec<String> = p
        .parties
        .iter()
        .map(|e| match c.backend {
            Backend::Direct => match (target, plan.host(&e.host)) {
                (Target::Deploy, _) | (_, None) => {
                    format!("\"${{addresses.{}}}:{}\"", attr(&e.host), p.port)
                }
                (Target::VmTest, Some(h)) => string(&format!("{}:{}", sim_address(h), p.port)),
            },
            _ => string(&format!("{}:{}", e.address, p.port)),
        })
        .collect();
    list(&mut s, 4, "parties", &parties);
    let program = match &p.path {
        // Rendered into programs/user/ with its files (render::Inputs).
        Some(path) => {
            let path = std::path::Path::new(path);
            let place = crate::files::program_place(path, path, p.workdir.as_deref());
            format!("{}/{}", crate::files::USER_PROGRAMS, place.display())
        }
        None => p.name.clone(),
    };
    let _ = writeln!(s, "    program = {};", string(&program));
    if !p.args.is_empty() {
        let args: Vec<String> = p.args.iter().map(|a| string(a)).collect();
        list(&mut s, 4, "args", &args);
    }
    s.push_str("  };\n");
    s
}

/// The `e3.cloudNat.party` block of a host behind a cloud NAT router, at
/// two spaces, after a blank line; empty for other hosts.
fn cloud_nat_party(cloud: &crate::cloud::Cloud, h: &Host) -> String {
    let Some(c) = cloud.host(&h.name).filter(|c| !c.public) else {
        return String::new();
    };
    let Some((net, _)) = c.networks.last() else {
        return String::new();
    };
    let network = cloud.network(net).expect("attached networks exist");
    let prefix = network.cidr.split_once('/').map(|(_, p)| p).unwrap_or("24");
    let mut s = String::new();
    s.push_str("\n  # Behind the cloud NAT router of its site: its only way out.\n");
    s.push_str("  e3.cloudNat.party = {\n    enable = true;\n");
    match c.platform {
        Platform::Hetzner => {
            // No public interface at all; the network's gateway routes
            // 0.0.0.0/0 to the router. Behind a carrier the home router's
            // first network is the carrier's.
            let first = c.networks.first().map(|(n, _)| n.as_str()).unwrap_or(net);
            let gateway = cloud
                .network(first)
                .map(|n| n.first_address())
                .expect("attached networks exist");
            s.push_str("    interface = \"eth0\";\n");
            let _ = writeln!(s, "    gateway = {};", string(&gateway.to_string()));
        }
        _ => {
            let router = c.gateway.as_deref().unwrap_or_default();
            s.push_str("    interface = \"eth1\";\n");
            let _ = writeln!(
                s,
                "    address = {{\n      address = privateAddresses.{};\n      prefixLength = {prefix};\n    }};",
                attr(&h.name)
            );
            let _ = writeln!(s, "    gateway = privateAddresses.{};", attr(router));
            s.push_str("    disablePublic = true;\n");
        }
    }
    s.push_str("  };\n");
    s
}

/// `hosts/<router>.nix`: a NAT router (or carrier) a cloud deployment
/// creates, with the `nat.rs` rules of the plan's router.
fn router_nix(plan: &Plan, cloud: &crate::cloud::Cloud, h: &Host) -> String {
    let c = cloud
        .host(&h.name)
        .expect("routers of the hive are cloud hosts");
    let mut s = String::new();
    let nat = crate::nat::router(plan, h).expect("a router of the plan has rules");
    let _ = writeln!(
        s,
        "# {}: {} of the e3 scenario `{}` ({}, {}, `{}` rules of nat.rs).",
        h.name,
        h.role.as_str(),
        plan.name,
        c.platform.as_str(),
        c.region,
        nat.nat
    );
    let rules = crate::cloud::router_rules(plan, h).expect("a router of the plan has rules");
    let one2one = nat.nat == crate::catalogue::Nat::OneToOne;
    let lan_static = c.platform != Platform::Hetzner;
    let behind = cloud_nat_party(cloud, h);
    let uses_private = lan_static || behind.contains("privateAddresses.");
    if one2one || uses_private {
        s.push_str("let\n");
        if one2one {
            s.push_str("  addresses = import ../addresses.nix;\n");
        }
        if uses_private {
            s.push_str("  privateAddresses = import ../private-addresses.nix;\n");
        }
        s.push_str("in\n");
    }
    s.push_str("{\n  imports = [\n    ../modules\n");
    let _ = writeln!(s, "    ../modules/{}", c.platform.facts().nixos_module);
    s.push_str("    ./common.nix\n  ];\n\n");
    let _ = writeln!(s, "  networking.hostName = {};", string(&h.name));
    s.push_str("\n  # The same rules as the lab and the VM test (generator/src/nat.rs) between\n");
    s.push_str(
        "  # eth0 (way out) and eth1 (the site's network), plus SSH to the router itself.\n",
    );
    s.push_str("  e3.cloudNat.router = {\n    enable = true;\n    rules = ''\n");
    for line in rules.lines() {
        if line.is_empty() {
            s.push('\n');
        } else {
            let _ = writeln!(s, "    {line}");
        }
    }
    s.push_str("    '';\n");
    if one2one {
        // Known only after Terraform: the router's public address, and on
        // DigitalOcean the party's VPC address (Hetzner keeps the plan's).
        s.push_str("    substitute = {\n");
        let _ = writeln!(s, "      \"0.0.0.0\" = addresses.{};", attr(&h.name));
        if lan_static {
            for inside in &nat.inside {
                if let Some(party) = plan
                    .hosts
                    .iter()
                    .find(|p| p.interfaces.iter().any(|i| i.address == *inside) && p.name != h.name)
                {
                    let _ = writeln!(
                        s,
                        "      {} = privateAddresses.{};",
                        string(&inside.to_string()),
                        attr(&party.name)
                    );
                }
            }
        }
        s.push_str("    };\n");
    }
    if lan_static {
        let prefix = c
            .networks
            .last()
            .and_then(|(n, _)| cloud.network(n))
            .and_then(|n| n.cidr.split_once('/').map(|(_, p)| p.to_string()))
            .unwrap_or_else(|| "24".into());
        let _ = writeln!(
            s,
            "    lan = {{\n      address = privateAddresses.{};\n      prefixLength = {prefix};\n    }};",
            attr(&h.name)
        );
    }
    s.push_str("  };\n");
    s.push_str(&behind);
    s.push_str("}\n");
    s
}

fn host_nix(plan: &Plan, cloud: &crate::cloud::Cloud, h: &Host) -> String {
    let c = &plan.connectivity;
    let mut s = String::new();
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
    let _ = writeln!(
        s,
        "# {}: {} of the e3 scenario `{}` ({}).",
        h.name,
        what,
        plan.name,
        facts.join(", ")
    );
    let body = host_body(plan, h, Target::Deploy);
    let behind = cloud_nat_party(cloud, h);
    let uses_addresses = body.contains("addresses.");
    let uses_keys = body.contains("publicKeys.");
    let uses_private = behind.contains("privateAddresses.");
    if uses_addresses || uses_keys || uses_private {
        s.push_str("let\n");
        if uses_addresses {
            s.push_str("  addresses = import ../addresses.nix;\n");
        }
        if uses_private {
            s.push_str("  privateAddresses = import ../private-addresses.nix;\n");
        }
        if uses_keys {
            s.push_str("  publicKeys = import ../public-keys.nix;\n");
        }
        s.push_str("in\n");
    }
    s.push_str("{\n  imports = [\n    ../modules\n");
    if let Some(p) = h.platform {
        let _ = writeln!(s, "    ../modules/{}", p.facts().nixos_module);
    }
    s.push_str("    ./common.nix\n");
    if h.platform == Some(Platform::Existing) {
        let _ = writeln!(
            s,
            "    # The machine's own hardware configuration (/etc/nixos/hardware-configuration.nix):\n    # put it in secrets/{n}/public/hardware/{h}.nix and run `e3 render {n}`.\n    ../{PUBLIC_KEYS_DIR}/hardware/{h}.nix",
            n = plan.name,
            h = h.name
        );
    }
    s.push_str("  ];\n\n");
    let _ = writeln!(s, "  networking.hostName = {};", string(&h.name));
    let _ = c;
    s.push_str(&body);
    s.push_str(&behind);
    s.push_str("}\n");
    s
}

/// The backend and party settings of a host (after `networking.hostName`),
/// at two spaces of indentation, each block after a blank line.
pub(crate) fn host_body(plan: &Plan, h: &Host, target: Target) -> String {
    let c = &plan.connectivity;
    let mut s = String::new();
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
                s.push_str("\n  # Plain HTTP behind the test's TLS front end (`headscaleTls`).\n");
                s.push_str("  e3.headscale = {\n    enable = true;\n");
                let _ = writeln!(s, "    domain = {};", string(control));
                s.push_str("    tls = \"none\";\n  };\n");
            } else if h.role == Role::Party {
                s.push_str("\n  e3.tailscale = {\n    enable = true;\n");
                let _ = writeln!(
                    s,
                    "    loginServer = {};",
                    string(&format!("https://{control}"))
                );
                s.push_str("  };\n");
            }
        }
        Backend::Tailscale => {
            if h.role == Role::Party {
                s.push_str("\n  e3.tailscale.enable = true;\n");
            }
        }
        Backend::Headscale => {
            let control = coordinator.map(|x| x.name.as_str()).unwrap_or("control");
            if h.role == Role::Control {
                s.push_str(
                    "\n  # Plain HTTP on the public address: a closed test network. For the\n",
                );
                s.push_str(
                    "  # embedded DERP relay (needs TLS), give this host a DNS name and set\n",
                );
                s.push_str("  # `domain`, `tls = \"acme\"`, `acmeEmail` and `security.acme.acceptTerms`.\n");
                s.push_str("  e3.headscale = {\n    enable = true;\n");
                let _ = writeln!(s, "    domain = addresses.{};", attr(control));
                s.push_str("    tls = \"none\";\n  };\n");
            } else {
                s.push_str("\n  e3.tailscale = {\n    enable = true;\n");
                let _ = writeln!(
                    s,
                    "    loginServer = \"http://${{addresses.{}}}:8080\";",
                    attr(control)
                );
                s.push_str("  };\n");
            }
        }
        Backend::Nebula => {
            s.push_str("\n  e3.nebula = {\n    enable = true;\n");
            let relays: Vec<String> = c
                .relays
                .iter()
                .filter_map(|r| plan.host(r))
                .filter_map(|r| r.overlay_address)
                .map(|a| string(&a.to_string()))
                .collect();
            if h.role == Role::Lighthouse {
                s.push_str("    isLighthouse = true;\n");
                if !relays.is_empty() {
                    s.push_str("    isRelay = true;\n");
                }
            } else if let Some(lh) = coordinator {
                s.push_str("    lighthouses = {\n");
                let _ = writeln!(
                    s,
                    "      {} = [ \"{}:{}\" ];",
                    string(
                        &lh.overlay_address
                            .map(|a| a.to_string())
                            .unwrap_or_default()
                    ),
                    target.address_in_string(lh),
                    c.port.unwrap_or(crate::catalogue::ports::NEBULA)
                );
                s.push_str("    };\n");
                if !relays.is_empty() {
                    list(&mut s, 4, "relays", &relays);
                }
            }
            if let Some(p) = c.port.filter(|p| *p != crate::catalogue::ports::NEBULA) {
                let _ = writeln!(s, "    listenPort = {p};");
            }
            s.push_str("  };\n");
        }
        Backend::Wireguard => {
            let port = c.port.unwrap_or(crate::catalogue::ports::WIREGUARD);
            let prefix = overlay_prefix(plan);
            let addr = h
                .overlay_address
                .map(|a| format!("{a}/{prefix}"))
                .unwrap_or_default();
            s.push_str("\n  e3.wireguard = {\n    enable = true;\n");
            let role = match (c.topology, h.role) {
                (Topology::Hub, Role::Hub) => "hub",
                (Topology::Hub, _) => "spoke",
                (Topology::Mesh, _) => "mesh",
            };
            let _ = writeln!(s, "    role = {};", string(role));
            let _ = writeln!(s, "    address = {};", string(&addr));
            if port != crate::catalogue::ports::WIREGUARD {
                let _ = writeln!(s, "    listenPort = {port};");
            }
            match role {
                "spoke" => {
                    if let Some(hub) = coordinator {
                        let _ = writeln!(s, "    peers.{} = {{", attr(&hub.name));
                        let _ = writeln!(
                            s,
                            "      publicKey = {};",
                            target.public_key("wireguard", hub)
                        );
                        let _ = writeln!(
                            s,
                            "      allowedIPs = [ {} ];",
                            string(c.overlay_network.as_deref().unwrap_or_default())
                        );
                        let _ = writeln!(
                            s,
                            "      endpoint = \"{}:{port}\";",
                            target.address_in_string(hub)
                        );
                        s.push_str("    };\n");
                    }
                }
                _ => {
                    s.push_str("    peers = {\n");
                    for p in overlay_hosts.iter().filter(|p| p.name != h.name) {
                        let _ = writeln!(s, "      {} = {{", attr(&p.name));
                        let _ = writeln!(
                            s,
                            "        publicKey = {};",
                            target.public_key("wireguard", p)
                        );
                        let _ = writeln!(
                            s,
                            "        allowedIPs = [ {} ];",
                            string(&format!(
                                "{}/32",
                                p.overlay_address.map(|a| a.to_string()).unwrap_or_default()
                            ))
                        );
                        if role == "mesh" {
                            let _ = writeln!(
                                s,
                                "        endpoint = \"{}:{port}\";",
                                target.address_in_string(p)
                            );
                        }
                        s.push_str("      };\n");
                    }
                    s.push_str("    };\n");
                }
            }
            s.push_str("  };\n");
        }
        Backend::Tinc => {
            s.push_str("\n  e3.tinc = {\n    enable = true;\n");
            let _ = writeln!(s, "    name = {};", string(&tinc_name(&h.name)));
            if let Some(b) = coordinator.filter(|b| b.name != h.name) {
                let _ = writeln!(s, "    connectTo = [ {} ];", string(&tinc_name(&b.name)));
            }
            s.push_str("  };\n");
        }
        Backend::Openvpn => {
            let port = c.port.unwrap_or(crate::catalogue::ports::OPENVPN);
            s.push_str("\n  e3.openvpn = {\n    enable = true;\n");
            if h.role == Role::Hub {
                s.push_str("    role = \"server\";\n");
                let address = h.overlay_address.map(|a| a.to_string()).unwrap_or_default();
                let _ = writeln!(s, "    address = {};", string(&address));
                s.push_str("    clients = {\n");
                for p in overlay_hosts.iter().filter(|p| p.role == Role::Party) {
                    let a = p.overlay_address.map(|a| a.to_string()).unwrap_or_default();
                    let _ = writeln!(s, "      {} = {};", attr(&p.name), string(&a));
                }
                s.push_str("    };\n");
            } else {
                s.push_str("    role = \"client\";\n");
                if let Some(server) = coordinator {
                    let _ = writeln!(s, "    server = \"{}\";", target.address_in_string(server));
                    if server.name != "server" {
                        let _ = writeln!(s, "    serverName = {};", string(&server.name));
                    }
                }
            }
            let mask = crate::plan::netmask(overlay_prefix(plan)).to_string();
            if mask != "255.255.0.0" {
                let _ = writeln!(s, "    netmask = {};", string(&mask));
            }
            if port != crate::catalogue::ports::OPENVPN {
                let _ = writeln!(s, "    port = {port};");
            }
            s.push_str("  };\n");
        }
        Backend::Direct => {
            if h.role == Role::Party {
                s.push_str("\n  e3.direct.enable = true;\n");
            }
        }
    }
    if h.role == Role::Party {
        s.push_str("\n  e3.party = {\n    enable = true;\n");
        let _ = writeln!(s, "    index = {};", h.index.unwrap_or_default());
        s.push_str("  };\n");
    }
    s
}

fn overlay_prefix(plan: &Plan) -> u8 {
    plan.connectivity.overlay_prefix()
}
