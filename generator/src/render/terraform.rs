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
        name: "external",
        source: "hashicorp/external",
        version: "2.3.5",
        env: &[],
    },
    Provider {
        name: "hcloud",
        source: "hetznercloud/hcloud",
        version: "1.62.0",
        env: &["HCLOUD_TOKEN"],
    },
    Provider {
        name: "null",
        source: "hashicorp/null",
        version: "3.2.4",
        env: &[],
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

/// Deployed cloud hosts grouped by platform, in plan order.
pub fn groups(plan: &Plan) -> BTreeMap<Platform, Vec<&Host>> {
    let mut groups: BTreeMap<Platform, Vec<&Host>> = BTreeMap::new();
    for h in plan.hosts.iter().filter(|h| h.deploy && h.region.is_some()) {
        if let Some(p) = h.platform.filter(|p| p.is_cloud()) {
            groups.entry(p).or_default().push(h);
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
        provider_names.extend(["hcloud", "null", "external"]);
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
            .map(|h| {
                let size = h.size.clone().unwrap_or_default();
                let region = h.region.as_deref().unwrap_or_default();
                let fields = match platform {
                    Platform::Hetzner => vec![
                        ("location".into(), Expr::str(region)),
                        ("server_type".into(), Expr::str(&size)),
                        ("tags".into(), tags(plan, h)),
                    ],
                    _ => vec![
                        ("region".into(), Expr::str(region)),
                        ("size".into(), Expr::str(&size)),
                        ("tags".into(), tags(plan, h)),
                    ],
                };
                (hcl::quote(&h.name), Expr::Object(fields))
            })
            .collect();
        b = b.attr("hosts", Expr::Object(host_entries));
        let first_region = hosts[0].region.as_deref().unwrap_or_default();
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
    let mut outputs = vec![Block::new("output", &["hosts"])
        .attr("description", Expr::str("Public IPv4 address of every provisioned host, by host name (`e3 deploy` writes it to hosts.json)."))
        .attr("value", Expr::raw(format!("merge({merged})")))];
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
