//! The rendered Terraform roots: they parse, every reference resolves, every
//! module argument is a variable of that module (and every required variable
//! is passed), providers are pinned exactly, nothing secret-like is written,
//! and the root files match their golden copies (`E3_BLESS=1` rewrites them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[path = "support/golden.rs"]
mod golden;

fn rendered(name: &str) -> e3::render::Files {
    let checked = e3::check_arg(name);
    let scenario = checked
        .into_scenario()
        .unwrap_or_else(|| panic!("{name} is valid"));
    e3::render::render(&e3::plan::plan(&scenario))
}

fn tf_files(files: &e3::render::Files, dir: &str) -> BTreeMap<PathBuf, String> {
    files
        .iter()
        .filter(|(p, _)| {
            p.parent() == Some(Path::new(dir)) && p.extension().is_some_and(|e| e == "tf")
        })
        .map(|(p, c)| (p.clone(), String::from_utf8(c.clone()).unwrap()))
        .collect()
}

fn parse(path: &Path, text: &str) -> hcl::Body {
    hcl::parse(text).unwrap_or_else(|e| panic!("{} does not parse: {e}\n{text}", path.display()))
}

/// Names declared by blocks of a kind (`variable "x"` → `x`).
fn declared(bodies: &[hcl::Body], kind: &str) -> BTreeSet<String> {
    bodies
        .iter()
        .flat_map(|b| b.blocks())
        .filter(|b| b.identifier() == kind)
        .filter_map(|b| b.labels().first().map(|l| l.as_str().to_string()))
        .collect()
}

/// `var.x`, `module.x`, `local.x` references in the text.
fn references(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before_ok = i == 0
            || !rest.as_bytes()[i - 1].is_ascii_alphanumeric() && rest.as_bytes()[i - 1] != b'_';
        let tail = &rest[i + prefix.len()..];
        let name: String = tail
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if before_ok && !name.is_empty() {
            out.insert(name);
        }
        rest = &rest[i + prefix.len()..];
    }
    out
}

fn cloud_scenarios() -> Vec<String> {
    e3::bundled_examples()
        .into_iter()
        .filter(|n| rendered(n).keys().any(|p| p.starts_with("terraform")))
        .collect()
}

#[test]
fn every_cloud_scenario_renders_terraform() {
    let clouds = cloud_scenarios();
    for name in [
        "tailscale-3region",
        "headscale-nat",
        "nebula-nat",
        "wireguard-hub",
        "tinc-mesh",
        "direct-lan",
        "mixed-platform",
    ] {
        assert!(
            clouds.iter().any(|c| c == name),
            "{name} renders no Terraform"
        );
    }
}

#[test]
fn roots_parse_and_resolve() {
    for name in cloud_scenarios() {
        let name = name.as_str();
        let files = rendered(name);
        let root = tf_files(&files, "terraform");
        let bodies: Vec<hcl::Body> = root.iter().map(|(p, t)| parse(p, t)).collect();
        let all_text: String = root.values().cloned().collect::<Vec<_>>().join("\n");

        let vars = declared(&bodies, "variable");
        for v in references(&all_text, "var.") {
            assert!(vars.contains(&v), "{name}: `var.{v}` is not declared");
        }
        let locals: BTreeSet<String> = bodies
            .iter()
            .flat_map(|b| b.blocks())
            .filter(|b| b.identifier() == "locals")
            .flat_map(|b| b.body().attributes().map(|a| a.key().to_string()))
            .collect();
        for l in references(&all_text, "local.") {
            assert!(locals.contains(&l), "{name}: `local.{l}` is not defined");
        }
        let modules = declared(&bodies, "module");
        for m in references(&all_text, "module.") {
            assert!(modules.contains(&m), "{name}: `module.{m}` is not declared");
        }
        // Every module call: its source is copied, every argument is a
        // variable of the module, every variable without default is given,
        // and each `module.X.out` names an output of the module.
        for call in bodies
            .iter()
            .flat_map(|b| b.blocks())
            .filter(|b| b.identifier() == "module")
        {
            let label = call.labels()[0].as_str().to_string();
            let source = call
                .body()
                .attributes()
                .find(|a| a.key() == "source")
                .map(|a| a.expr().to_string())
                .unwrap();
            let dir = format!(
                "terraform/{}",
                source.trim_matches('"').trim_start_matches("./")
            );
            let module = tf_files(&files, &dir);
            assert!(!module.is_empty(), "{name}: module `{label}` source {source} is not copied into the rendered directory");
            let mbodies: Vec<hcl::Body> = module.iter().map(|(p, t)| parse(p, t)).collect();
            let mvars: BTreeMap<String, bool> = mbodies
                .iter()
                .flat_map(|b| b.blocks())
                .filter(|b| b.identifier() == "variable")
                .map(|b| {
                    (
                        b.labels()[0].as_str().to_string(),
                        b.body().attributes().any(|a| a.key() == "default"),
                    )
                })
                .collect();
            let args: BTreeSet<String> = call
                .body()
                .attributes()
                .map(|a| a.key().to_string())
                .filter(|k| k != "source")
                .collect();
            for a in &args {
                assert!(
                    mvars.contains_key(a),
                    "{name}: module `{label}` has no variable `{a}`"
                );
            }
            for (v, has_default) in &mvars {
                assert!(
                    *has_default || args.contains(v),
                    "{name}: module `{label}` needs `{v}`, which the call does not pass"
                );
            }
            let outputs = declared(&mbodies, "output");
            for r in references(&all_text, &format!("module.{label}.")) {
                assert!(
                    outputs.contains(&r),
                    "{name}: module `{label}` has no output `{r}`"
                );
            }
        }
        assert!(
            declared(&bodies, "output").contains("hosts"),
            "{name}: no `hosts` output"
        );
    }
}

#[test]
fn providers_are_pinned_exactly_and_configured_from_the_environment() {
    for name in cloud_scenarios() {
        let name = name.as_str();
        let files = rendered(name);
        let root = tf_files(&files, "terraform");
        let versions = &root[Path::new("terraform/versions.tf")];
        let body = parse(Path::new("versions.tf"), versions);
        let terraform = body
            .blocks()
            .find(|b| b.identifier() == "terraform")
            .unwrap();
        let required = terraform
            .body()
            .blocks()
            .find(|b| b.identifier() == "required_providers")
            .unwrap();
        for attr in required.body().attributes() {
            let text = attr.expr().to_string();
            let version = text.split("version").nth(1).unwrap_or_default();
            assert!(
                !version.contains('~') && !version.contains('>') && !version.contains('<'),
                "{name}: provider `{}` not pinned exactly: {text}",
                attr.key()
            );
        }
        // Provider blocks carry no attributes at all: credentials come from the environment.
        let providers = parse(
            Path::new("providers.tf"),
            &root[Path::new("terraform/providers.tf")],
        );
        for p in providers.blocks() {
            assert_eq!(
                p.body().attributes().count(),
                0,
                "{name}: provider `{}` is configured in a file",
                p.labels()[0].as_str()
            );
        }
    }
}

#[test]
fn no_secret_like_literals() {
    let patterns = [
        "token",
        "secret",
        "password",
        "private_key\"",
        "BEGIN ",
        "tskey-",
        "dop_v1_",
    ];
    for name in cloud_scenarios() {
        let name = name.as_str();
        for (path, text) in tf_files(&rendered(name), "terraform") {
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                let lower = line.to_ascii_lowercase();
                for p in patterns {
                    assert!(
                        !(lower.contains(&p.to_ascii_lowercase())
                            && lower.contains('=')
                            && !lower.contains("description")),
                        "{name}: {} has a secret-like line: {line}",
                        path.display()
                    );
                }
            }
            assert!(
                !text.contains("remote-exec"),
                "{name}: {} uses remote-exec",
                path.display()
            );
        }
    }
}

#[test]
fn static_modules_parse() {
    for (path, contents) in e3::bundled::terraform_files() {
        if path.ends_with(".tf") {
            parse(Path::new(&path), std::str::from_utf8(contents).unwrap());
        }
    }
}

#[test]
fn golden_roots() {
    let mut golden = golden::Golden::new();
    for name in cloud_scenarios() {
        let name = name.as_str();
        for (path, text) in tf_files(&rendered(name), "terraform") {
            let file = Path::new("tests/golden-terraform")
                .join(name)
                .join(path.file_name().unwrap());
            golden.check(file, &text);
        }
    }
    golden.finish();
}

/// Every machine size a rendered root names is one e3's catalogue offers
/// today (no removed `cx22`, no DigitalOcean slug on Hetzner).
#[test]
fn rendered_sizes_are_offered() {
    let mut checked = 0;
    for name in cloud_scenarios() {
        let files = rendered(&name);
        for (path, text) in tf_files(&files, "terraform") {
            let body = parse(&path, &text);
            for module in body.blocks().filter(|b| b.identifier() == "module") {
                let platform = match module.labels().first().map(|l| l.as_str()) {
                    Some("digitalocean") => e3::catalogue::Platform::DigitalOcean,
                    Some("hetzner") => e3::catalogue::Platform::Hetzner,
                    _ => continue,
                };
                let key = match platform {
                    e3::catalogue::Platform::Hetzner => "server_type",
                    _ => "size",
                };
                let hosts = module
                    .body()
                    .attributes()
                    .find(|a| a.key() == "hosts")
                    .expect("hosts");
                let hcl::Expression::Object(hosts) = hosts.expr() else {
                    panic!("{name}: hosts is not an object");
                };
                for (host, fields) in hosts {
                    let hcl::Expression::Object(fields) = fields else {
                        panic!("{name}: {host:?}");
                    };
                    let size = fields
                        .iter()
                        .find(|(k, _)| k.to_string().trim_matches('"') == key)
                        .map(|(_, v)| v.to_string())
                        .unwrap_or_else(|| panic!("{name}: {host:?} has no {key}"));
                    let size = size.trim_matches('"');
                    assert!(
                        platform.find_size(size).is_some(),
                        "{name}: {host:?} has `{size}`, not offered on {platform}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 40, "sizes checked: {checked}");
}

/// `headscale-nat` creates both NAT routers as machines, one private
/// network behind each, and puts its NATed parties on them without a
/// public address.
#[test]
fn headscale_nat_creates_its_routers_and_networks() {
    let files = rendered("headscale-nat");
    let main = String::from_utf8(files[Path::new("terraform/main.tf")].clone()).unwrap();
    for needle in [
        "\"home-router\" = {",
        "\"office-router\" = {",
        "\"lan-home\" = {",
        "\"lan-office\" = {",
        "network = \"lan-home\"",
        "network = \"lan-office\"",
        "public  = false",
    ] {
        assert!(main.contains(needle), "`{needle}` not in main.tf:\n{main}");
    }
    let module =
        String::from_utf8(files[Path::new("terraform/modules/digitalocean-nixos/main.tf")].clone())
            .unwrap();
    assert!(module.contains("resource \"digitalocean_vpc\" \"site\""));
    assert!(module.contains("vpc_uuid"));
    assert!(module.contains("ignore_changes = [image, ssh_keys]"));
    let hetzner =
        String::from_utf8(std::fs::read("../terraform/hetzner-nixos/main.tf").unwrap()).unwrap();
    for needle in [
        "resource \"hcloud_network_route\" \"default\"",
        "destination = \"0.0.0.0/0\"",
        "ipv4_enabled = each.value.public",
        "resource \"terraform_data\" \"install\"",
    ] {
        assert!(hetzner.contains(needle), "{needle}");
    }
    assert!(
        !hetzner.contains("data \"external\""),
        "nothing runs at plan time"
    );
}
