//! The scenario's Terraform root (`terraform/` of the rendered directory):
//! one module call per provider (covering all its regions: both DigitalOcean
//! and Hetzner refuse to register the same SSH key twice in an account, so
//! one call per region would fail), the reusable modules copied next
//! to it, providers pinned exactly and configured only from the environment,
//! and an output `hosts` (host → IPv4) that `e3 deploy` writes to `hosts.json`.

use std::collections::BTreeMap;

use super::hcl::{self, Block, Expr};
use super::Files;
use crate::catalogue::{Backend, Platform};
use crate::cloud::{self, Cloud};
use crate::plan::{Host, Plan};

/// A provider the rendered roots pin, exactly.
pub struct Provider {
    pub name: &'static str,
    pub source: &'static str,
    pub version: &'static str,
    /// Environment variables the provider reads its credentials from.
    pub env: &'static [&'static str],
}

/// Exact pins (see terraform/README.md for where each was confirmed).
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "digitalocean",
        source: "digitalocean/digitalocean",
        version: "2.78.0",
        env: &[
            "DIGITALOCEAN_TOKEN",
            "SPACES_ACCESS_KEY_ID",
            "SPACES_SECRET_ACCESS_KEY",
        ],
    },
    Provider {
        name: "hcloud",
        source: "hetznercloud/hcloud",
        version: "1.62.0",
        env: &["HCLOUD_TOKEN"],
    },
    Provider {
        name: "tailscale",
        source: "tailscale/tailscale",
        version: "0.29.2",
        env: &["TAILSCALE_API_KEY", "TAILSCALE_TAILNET"],
    },
];

pub const REQUIRED_VERSION: &str = ">= 1.5.0";

fn provider(name: &str) -> &'static Provider {
    PROVIDERS
        .iter()
        .find(|p| p.name == name)
        .expect("known provider")
}

/// DigitalOcean regions with Spaces; the image of hosts elsewhere is
/// uploaded to `nyc3` (custom images are then transferred to every region).
const SPACES_REGIONS: &[&str] = &[
    "ams3", "blr1", "fra1", "lon1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1",
];

fn spaces_region(region: &str) -> &str {
    if SPACES_REGIONS.contains(&region) {
        region
    } else {
        "nyc3"
    }
}

/// The machines Terraform creates (parties, control hosts and the NAT
/// routers of [`cloud::cloud`]) grouped by platform, in plan order.
pub fn groups(plan: &Plan) -> BTreeMap<Platform, Vec<&Host>> {
    let cloud = cloud::cloud(plan);
    let mut groups: BTreeMap<Platform, Vec<&Host>> = BTreeMap::new();
    for h in &plan.hosts {
        if let Some(c) = cloud.host(&h.name) {
            groups.entry(c.platform).or_default().push(h);
        }
    }
    groups
}

/// The module call's name for a platform, e.g. `digitalocean`.
pub fn module_name(platform: Platform) -> String {
    platform.as_str().replace('-', "_")
}

/// Prefix of the SSH key names a module registers (at most 32 characters).
/// A matrix variant's name (`grid@backend=nebula,nat=easy+hard`) is made
/// of cloud-safe characters; one too long to fit ends in a hash of the whole
/// name, so that two variants never share a prefix.
fn name_prefix(plan: &Plan) -> String {
    let full = format!("e3-{}", cloud_safe(&plan.name));
    if full.len() <= 32 {
        return full;
    }
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(plan.name.as_bytes());
    let head: String = full.chars().take(23).collect();
    format!(
        "{}-{:02x}{:02x}{:02x}{:02x}",
        head.trim_end_matches('-'),
        hash[0],
        hash[1],
        hash[2],
        hash[3]
    )
}

/// `name` with every character outside `[a-z0-9-]` as `-` (runs collapsed):
/// what cloud names and tags accept.
fn cloud_safe(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_string()
}

fn tags(plan: &Plan, h: &Host) -> Expr {
    let mut t = vec![
        "e3".to_string(),
        format!("scenario-{}", cloud_safe(&plan.name)),
        format!("role-{}", h.role.as_str()),
        format!("backend-{}", plan.connectivity.backend),
    ];
    if let Some(r) = &h.region {
        t.push(format!("region-{r}"));
    }
    Expr::strings(t.iter().map(String::as_str))
}

/// A host's entry in its module's `hosts`.
fn host_entry(plan: &Plan, cloud: &Cloud, h: &Host) -> Expr {
    let c = cloud.host(&h.name).expect("grouped hosts are cloud hosts");
    let mut fields: Vec<(String, Expr)> = match c.platform {
        Platform::Hetzner => vec![
            ("location".into(), Expr::str(&c.region)),
            ("server_type".into(), Expr::str(&c.size)),
            ("tags".into(), tags(plan, h)),
        ],
        _ => vec![
            ("region".into(), Expr::str(&c.region)),
            ("size".into(), Expr::str(&c.size)),
            ("tags".into(), tags(plan, h)),
        ],
    };
    let router = matches!(
        h.role,
        crate::plan::Role::Router | crate::plan::Role::Carrier
    );
    match c.platform {
        Platform::Hetzner => {
            if router {
                fields.push((
                    "base_configuration".into(),
                    Expr::str(&super::nix::base_configuration(c.platform, true)),
                ));
            }
            if !c.public {
                fields.push(("public".into(), Expr::raw("false")));
            }
            if !c.networks.is_empty() {
                let nets = c
                    .networks
                    .iter()
                    .map(|(name, ip)| {
                        Expr::Object(vec![
                            ("name".into(), Expr::str(&name.to_string())),
                            (
                                "ip".into(),
                                Expr::str(&ip.map(|a| a.to_string()).unwrap_or_default()),
                            ),
                        ])
                    })
                    .collect();
                fields.push(("networks".into(), Expr::List(nets)));
            }
            if !c.jump.is_empty() {
                fields.push((
                    "jump".into(),
                    Expr::strings(c.jump.iter().map(|h| h.as_str())),
                ));
            }
        }
        _ => {
            if let Some((net, _)) = c.networks.last() {
                fields.push(("network".into(), Expr::str(&net.to_string())));
            }
            if !c.public {
                fields.push(("public".into(), Expr::raw("false")));
            }
        }
    }
    Expr::Object(fields)
}

/// The module's `networks`, when the platform has NAT sites.
fn network_entries(cloud: &Cloud, platform: Platform) -> Option<Expr> {
    let entries: Vec<(String, Expr)> = cloud
        .networks
        .iter()
        .filter(|n| n.platform == platform)
        .map(|n| {
            let fields = match platform {
                Platform::Hetzner => vec![
                    ("location".into(), Expr::str(&n.region)),
                    ("ip_range".into(), Expr::str(&n.cidr)),
                    (
                        "gateway".into(),
                        Expr::str(&n.router_address.map(|a| a.to_string()).unwrap_or_default()),
                    ),
                ],
                _ => vec![
                    ("region".into(), Expr::str(&n.region)),
                    ("ip_range".into(), Expr::str(&n.cidr)),
                ],
            };
            (hcl::quote(&n.name.to_string()), Expr::Object(fields))
        })
        .collect();
    (!entries.is_empty()).then_some(Expr::Object(entries))
}

/// Whether the scenario provisions anything with Terraform.
pub fn has_terraform(plan: &Plan) -> bool {
    !groups(plan).is_empty()
}

pub fn render(plan: &Plan, files: &mut Files) {
    let groups = groups(plan);
    if groups.is_empty() {
        return;
    }
    let platforms: Vec<Platform> = { groups.keys().copied().collect() };
    let has_do = platforms.contains(&Platform::DigitalOcean);
    let has_hetzner = platforms.contains(&Platform::Hetzner);
    let tailscale = plan.connectivity.backend == Backend::Tailscale;

    // versions.tf
    let mut provider_names: Vec<&str> = Vec::new();
    if has_do {
        provider_names.push("digitalocean");
    }
    if has_hetzner {
        provider_names.push("hcloud");
    }
    if tailscale {
        provider_names.push("tailscale");
    }
    provider_names.sort_unstable();
    let required = provider_names
        .iter()
        .fold(Block::new("required_providers", &[]), |b, name| {
            let p = provider(name);
            b.attr(
                name,
                Expr::Object(vec![
                    ("source".into(), Expr::str(p.source)),
                    ("version".into(), Expr::str(p.version)),
                ]),
            )
        });
    let versions = Block::new("terraform", &[])
        .attr("required_version", Expr::str(REQUIRED_VERSION))
        .blank()
        .block(required);
    files.insert(
        "terraform/versions.tf".into(),
        hcl::file(
            "Providers are pinned exactly: `terraform init` installs these versions and no others.",
            &[versions],
        )
        .into_bytes(),
    );

    // providers.tf: no credentials, ever. Each provider reads them from the
    // environment.
    let providers: Vec<Block> = provider_names
        .iter()
        .filter(|n| !provider(n).env.is_empty())
        .map(|n| {
            Block::new("provider", &[n]).comment(&format!(
                "Credentials from the environment: {}.",
                provider(n).env.join(", ")
            ))
        })
        .collect();
    files.insert(
        "terraform/providers.tf".into(),
        hcl::file("Providers take credentials only from environment variables; nothing secret is written here.", &providers).into_bytes(),
    );

    // variables.tf
    let mut vars = vec![Block::new("variable", &["ssh_public_keys"])
        .attr("description", Expr::str("SSH public keys authorised for root on every host, by name (name → OpenSSH public key line)."))
        .attr("type", Expr::raw("map(string)"))
        .blank()
        .block(
            Block::new("validation", &[])
                .attr("condition", Expr::raw("length(var.ssh_public_keys) > 0"))
                .attr("error_message", Expr::str("Give at least one SSH public key: Colmena deploys over SSH as root.")),
        )];
    if has_do {
        vars.push(
            Block::new("variable", &["digitalocean_image_path"])
                .attr("description", Expr::str("Path of the NixOS DigitalOcean image (`nix build .#image-<host>` in the rendered directory; `e3 deploy` builds it)."))
                .attr("type", Expr::raw("string")),
        );
        vars.push(
            Block::new("variable", &["spaces_bucket_name"])
                .attr("description", Expr::str("Name of the Spaces bucket that holds the image. Bucket names are global: change it if taken."))
                .attr("type", Expr::raw("string"))
                .attr("default", Expr::str(&format!("{}-image", name_prefix(plan)))),
        );
    }
    if has_hetzner {
        vars.push(
            Block::new("variable", &["ssh_private_key_file"])
                .attr("description", Expr::str("Path of the SSH private key nixos-anywhere installs with; null uses the SSH agent. A path, never key content."))
                .attr("type", Expr::raw("string"))
                .attr("default", Expr::raw("null")),
        );
    }
    if tailscale {
        vars.push(
            Block::new("variable", &["tailscale_tags"])
                .attr("description", Expr::str("ACL tags (`tag:name`) the parties' auth key applies; they must be owned in the tailnet's policy."))
                .attr("type", Expr::raw("set(string)"))
                .attr("default", Expr::raw("[]")),
        );
    }
    files.insert(
        "terraform/variables.tf".into(),
        hcl::file("", &vars).into_bytes(),
    );

    // main.tf: one module call per provider.
    let cloud = cloud::cloud(plan);
    let mut modules = Vec::new();
    for (platform, hosts) in &groups {
        let name = module_name(*platform);
        let module = platform
            .facts()
            .terraform_module
            .expect("cloud platforms have a Terraform module");
        let mut b = Block::new("module", &[&name])
            .attr("source", Expr::str(&format!("./modules/{module}")))
            .blank();
        let host_entries: Vec<(String, Expr)> = hosts
            .iter()
            .map(|h| (hcl::quote(&h.name), host_entry(plan, &cloud, h)))
            .collect();
        b = b.attr("hosts", Expr::Object(host_entries));
        if let Some(networks) = network_entries(&cloud, *platform) {
            b = b.attr("networks", networks);
        }
        let first_region = cloud
            .host(&hosts[0].name)
            .map(|c| c.region.as_str())
            .unwrap_or_default();
        b = match platform {
            Platform::DigitalOcean => b
                .attr("image_path", Expr::raw("var.digitalocean_image_path"))
                .attr("image_name", Expr::str(&name_prefix(plan)))
                .attr("spaces_region", Expr::str(spaces_region(first_region)))
                .attr("bucket_name", Expr::raw("var.spaces_bucket_name"))
                .attr("ssh_public_keys", Expr::raw("var.ssh_public_keys"))
                .attr("name_prefix", Expr::str(&name_prefix(plan))),
            _ => b
                .attr("flake", Expr::raw("abspath(\"${path.root}/..\")"))
                .attr("ssh_public_keys", Expr::raw("var.ssh_public_keys"))
                .attr(
                    "ssh_private_key_file",
                    Expr::raw("var.ssh_private_key_file"),
                )
                .attr("name_prefix", Expr::str(&name_prefix(plan))),
        };
        modules.push(b);
    }
    if tailscale {
        modules.push(
            Block::new("module", &["tailscale_authkey"])
                .attr("source", Expr::str("./modules/tailscale-authkey"))
                .blank()
                .attr("tags", Expr::raw("var.tailscale_tags"))
                .attr(
                    "description",
                    Expr::str(
                        &format!("e3 {}", plan.name)
                            .chars()
                            .take(50)
                            .collect::<String>(),
                    ),
                ),
        );
    }
    files.insert(
        "terraform/main.tf".into(),
        hcl::file(
            &format!(
                "Machines of the scenario `{}`: one module call per provider.",
                plan.name
            ),
            &modules,
        )
        .into_bytes(),
    );

    // outputs.tf
    let merged = groups
        .keys()
        .map(|p| format!("module.{}.hosts", module_name(*p)))
        .collect::<Vec<_>>()
        .join(", ");
    let private = groups
        .keys()
        .map(|p| format!("module.{}.private_addresses", module_name(*p)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut outputs = vec![
        Block::new("output", &["hosts"])
            .attr("description", Expr::str("The address Colmena reaches every provisioned host at, by host name: its public IPv4, or behind a NAT router its private address (reached through the router). `e3 deploy` writes it to hosts.json."))
            .attr("value", Expr::raw(format!("merge({merged})"))),
        Block::new("output", &["private_addresses"])
            .attr("description", Expr::str("Private-network address of every router and NATed host, by host name. `e3 deploy` writes it to private-addresses.json."))
            .attr("value", Expr::raw(format!("merge({private})"))),
    ];
    if tailscale {
        outputs.push(
            Block::new("output", &["tailscale_authkey"])
                .attr("description", Expr::str("Auth key for the parties. Sensitive: `e3 deploy` reads it into a deployment key, never into a file of this directory."))
                .attr("value", Expr::raw("module.tailscale_authkey.key"))
                .attr("sensitive", Expr::raw("true")),
        );
    }
    files.insert(
        "terraform/outputs.tf".into(),
        hcl::file("", &outputs).into_bytes(),
    );

    files.insert(
        "terraform/.gitignore".into(),
        b"# Local state holds machine addresses and, for Tailscale, the auth key: never commit it.\n*.tfstate\n*.tfstate.*\n.terraform/\n.terraform.lock.hcl.bak\ncrash.log\n".to_vec(),
    );

    // The reusable modules this root calls.
    let mut used: Vec<&str> = groups
        .keys()
        .filter_map(|p| p.facts().terraform_module)
        .collect();
    if tailscale {
        used.push("tailscale-authkey");
    }
    used.sort_unstable();
    used.dedup();
    for (path, contents) in crate::bundled::terraform_files() {
        if used.iter().any(|m| path.starts_with(&format!("{m}/"))) {
            files.insert(
                format!("terraform/modules/{path}").into(),
                contents.to_vec(),
            );
        }
    }
}
