//! `e3 deploy` and `e3 destroy`: render, keys, Terraform, hosts.json,
//! Colmena, run the program, fetch results. Each step is an external
//! command; `--dry-run` prints them in order without running anything.
//!
//! Secrets never pass through arguments, files of the rendered directory or
//! this process's output: the Tailscale auth key goes from `terraform output`
//! straight into `secrets/NAME/` (mode 0600), where the hive's deployment
//! keys read it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::catalogue::{Backend, Platform};
use crate::plan::{Plan, Role};
use crate::render::terraform;
use crate::tools::on_path;

/// One external command of a deployment.
#[derive(Debug, Clone)]
pub struct Step {
    pub title: String,
    pub program: String,
    pub args: Vec<String>,
    /// Write the command's stdout to this file (mode 0600 when `secret`).
    pub stdout_to: Option<PathBuf>,
    /// The stdout is secret: never shown, written with mode 0600.
    pub secret: bool,
    /// The host whose address replaces [`ADDRESS`] in the arguments, looked
    /// up when the step runs (in `hosts.json`, written by an earlier step).
    pub address_of: Option<String>,
}

/// Placeholders in [`Step::args`], resolved when the step runs, with what
/// `--dry-run` shows instead.
pub const ADDRESS: &str = "{address}";
pub const IMAGE: &str = "{image}";
pub const SSH_KEYS: &str = "{ssh_public_keys}";

impl Step {
    fn new(title: &str, program: &str, args: &[&str]) -> Step {
        Step {
            title: title.into(),
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            stdout_to: None,
            secret: false,
            address_of: None,
        }
    }

    fn to(mut self, path: PathBuf) -> Step {
        self.stdout_to = Some(path);
        self
    }

    /// The command as a shell line; an address not known yet is shown as
    /// `<address of HOST>`.
    pub fn display(&self) -> String {
        let shown = |a: &str| {
            if !a.contains('{') {
                return shell_quote(a);
            }
            let host = self.address_of.as_deref().unwrap_or("?");
            let a = a
                .replace(ADDRESS, &format!("<address of {host}>"))
                .replace(IMAGE, "<image file in result-image/>")
                .replace(SSH_KEYS, "{deployer=\"<your SSH public key>\"}");
            if a.contains(' ') || a.contains('"') {
                format!("'{a}'")
            } else {
                a
            }
        };
        let mut line = std::iter::once(shell_quote(&self.program))
            .chain(self.args.iter().map(|a| shown(a)))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(p) = &self.stdout_to {
            line.push_str(" > ");
            line.push_str(&shell_quote(&p.display().to_string()));
        }
        line
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Where a deployment keeps its files.
pub struct Layout {
    pub rendered: PathBuf,
    pub secrets: PathBuf,
    pub results: PathBuf,
}

impl Layout {
    pub fn new(plan: &Plan, rendered: Option<PathBuf>, timestamp: &str) -> Layout {
        Layout {
            rendered: rendered.unwrap_or_else(|| crate::matrix::output_dir(&plan.name)),
            secrets: Path::new("secrets").join(&plan.name),
            results: Path::new("results").join(&plan.name).join(timestamp),
        }
    }
}

/// A directory as a flake reference: Nix reads `out/x` as the registry
/// flake `out`, so a relative path must start with `./`.
fn flake_ref(dir: &Path) -> String {
    let d = dir.display().to_string();
    if dir.is_absolute() || d.starts_with("./") || d.starts_with("../") {
        d
    } else {
        format!("./{d}")
    }
}

fn needs_keys(backend: Backend) -> bool {
    matches!(
        backend,
        Backend::Nebula | Backend::Wireguard | Backend::Tinc | Backend::Openvpn
    )
}

/// The steps of `e3 deploy`, in order. `e3` is this program's own path.
pub fn deploy_steps(plan: &Plan, layout: &Layout, e3: &str, terraform_bin: &str) -> Vec<Step> {
    let out = layout.rendered.display().to_string();
    let tf_dir = layout.rendered.join("terraform").display().to_string();
    let chdir = format!("-chdir={tf_dir}");
    let hive = layout.rendered.join("hive.nix").display().to_string();
    let mut steps = vec![Step::new(
        "render the scenario",
        e3,
        &["render", &plan.name, "-o", &out],
    )];
    if needs_keys(plan.connectivity.backend) {
        steps.push(Step::new(
            "generate key material (kept when present)",
            e3,
            &["keys", &plan.name],
        ));
    }
    if terraform::has_terraform(plan) {
        let groups = terraform::groups(plan);
        if let Some(first) = groups.get(&Platform::DigitalOcean).and_then(|h| h.first()) {
            let link = layout.rendered.join("result-image").display().to_string();
            steps.push(Step::new(
                "build the DigitalOcean image",
                "nix",
                &[
                    "build",
                    &format!("{}#image-{}", flake_ref(&layout.rendered), first.name),
                    "--out-link",
                    &link,
                ],
            ));
        }
        steps.push(Step::new(
            "terraform init",
            terraform_bin,
            &[&chdir, "init", "-input=false"],
        ));
        let vars = terraform_vars(plan);
        let mut apply = vec![chdir.as_str(), "apply", "-input=false", "-auto-approve"];
        apply.extend(vars.iter().map(String::as_str));
        steps.push(Step::new("provision the machines", terraform_bin, &apply));
        steps.push(
            Step::new(
                "record their addresses",
                terraform_bin,
                &[&chdir, "output", "-json", "hosts"],
            )
            .to(layout.rendered.join("hosts.json")),
        );
        if plan.connectivity.backend == Backend::Tailscale {
            let mut s = Step::new(
                "fetch the Tailscale auth key (secret, never shown)",
                terraform_bin,
                &[&chdir, "output", "-raw", "tailscale_authkey"],
            )
            .to(layout.secrets.join("tailscale-authkey"));
            s.secret = true;
            steps.push(s);
        }
    }
    steps.push(Step::new(
        "deploy NixOS to every host",
        "colmena",
        &[
            "apply",
            "-f",
            &hive,
            "--on",
            &format!("@backend-{}", plan.connectivity.backend),
        ],
    ));
    steps.push(Step::new(
        "run the MPyC program on all parties",
        "colmena",
        &[
            "exec",
            "-f",
            &hive,
            "--on",
            "@role-party",
            "--",
            "systemctl",
            "start",
            "e3-party.service",
        ],
    ));
    for h in plan.hosts.iter().filter(|h| h.role == Role::Party) {
        let target = match h.address {
            Some(a) => format!("root@{a}"),
            None => format!("root@{ADDRESS}"),
        };
        let mut s = Step::new(
            &format!("fetch the result of {}", h.name),
            "ssh",
            &[
                "-o",
                "BatchMode=yes",
                &target,
                "cat",
                "/var/lib/e3/result.json",
            ],
        )
        .to(layout.results.join(format!("{}.json", h.name)));
        if h.address.is_none() {
            s.address_of = Some(h.name.clone());
        }
        steps.push(s);
    }
    steps
}

/// `-var` arguments for the root's variables without defaults (the same
/// for apply and destroy, which evaluates the configuration too).
fn terraform_vars(plan: &Plan) -> Vec<String> {
    let mut vars = vec!["-var".to_string(), format!("ssh_public_keys={SSH_KEYS}")];
    if terraform::groups(plan).contains_key(&Platform::DigitalOcean) {
        vars.extend([
            "-var".to_string(),
            format!("digitalocean_image_path={IMAGE}"),
        ]);
    }
    vars
}

/// The steps of `e3 destroy`.
pub fn destroy_steps(plan: &Plan, layout: &Layout, terraform_bin: &str) -> Vec<Step> {
    if !terraform::has_terraform(plan) {
        return Vec::new();
    }
    let tf_dir = layout.rendered.join("terraform").display().to_string();
    let chdir = format!("-chdir={tf_dir}");
    let mut args = vec![chdir.as_str(), "destroy", "-input=false", "-auto-approve"];
    let vars = terraform_vars(plan);
    args.extend(vars.iter().map(String::as_str));
    vec![Step::new("destroy the machines", terraform_bin, &args)]
}

/// Programs the steps need that are not on PATH.
pub fn missing_programs(steps: &[Step], e3: &str) -> Vec<String> {
    let mut missing: Vec<String> = steps
        .iter()
        .map(|s| s.program.clone())
        .filter(|p| p != e3 && !on_path(p))
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

/// `terraform`, or OpenTofu's `tofu` when only that is installed.
pub fn terraform_program() -> &'static str {
    if !on_path("terraform") && on_path("tofu") {
        "tofu"
    } else {
        "terraform"
    }
}

/// What the placeholders of a real run resolve to.
pub struct Context {
    /// `hosts.json` (host → address), written by an earlier step.
    pub hosts_json: PathBuf,
    /// Where `nix build` links the DigitalOcean image.
    pub image_link: PathBuf,
    /// The deployer's SSH public key file.
    pub ssh_key: PathBuf,
}

impl Context {
    fn resolve(&self, step: &Step, arg: &str) -> Result<String, String> {
        let mut a = arg.to_string();
        if a.contains(ADDRESS) {
            let host = step.address_of.as_deref().unwrap_or_default();
            a = a.replace(ADDRESS, &address_from_hosts_json(&self.hosts_json, host)?);
        }
        if a.contains(IMAGE) {
            let image = std::fs::read_dir(&self.image_link)
                .map_err(|e| format!("cannot read `{}`: {e}", self.image_link.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name().is_some_and(|n| {
                        n.to_string_lossy().contains(".qcow2")
                            || n.to_string_lossy().ends_with(".img")
                    })
                })
                .ok_or_else(|| format!("no image file in `{}`", self.image_link.display()))?;
            a = a.replace(IMAGE, &image.display().to_string());
        }
        if a.contains(SSH_KEYS) {
            let key = crate::files::read_regular(&self.ssh_key, crate::files::TEXT_LIMIT)
                .map_err(|e| e.reason())
                .and_then(|b| String::from_utf8(b).map_err(|_| "it is not UTF-8".to_string()))
                .map_err(|e| {
                    format!(
                        "cannot read the SSH public key `{}`: {e}",
                        self.ssh_key.display()
                    )
                })?;
            let key = key.trim();
            if key.contains("PRIVATE KEY") {
                return Err(format!(
                    "`{}` is a private key: give the `.pub` file",
                    self.ssh_key.display()
                ));
            }
            a = a.replace(
                SSH_KEYS,
                &format!(
                    "{{deployer={}}}",
                    serde_json::Value::String(key.to_string())
                ),
            );
        }
        Ok(a)
    }
}

/// Runs the steps in order, showing progress; stops at the first failure
/// with that command's output. Returns the failing step's index.
pub fn run(steps: &[Step], context: &Context) -> Result<(), (usize, String)> {
    let total = steps.len();
    for (i, step) in steps.iter().enumerate() {
        eprint!("[{}/{total}] {} ... ", i + 1, step.title);
        let _ = std::io::stderr().flush();
        let started = Instant::now();
        if let Some(parent) = step.stdout_to.as_deref().and_then(Path::parent) {
            if let Err(e) = std::fs::create_dir_all(parent) {
                return Err((i, format!("cannot create `{}`: {e}", parent.display())));
            }
        }
        let args: Result<Vec<String>, String> =
            step.args.iter().map(|a| context.resolve(step, a)).collect();
        let args = match args {
            Ok(a) => a,
            Err(e) => {
                eprintln!("failed");
                return Err((i, e));
            }
        };
        let output = Command::new(&step.program)
            .args(&args)
            .stdin(Stdio::null())
            .output();
        let output = match output {
            Ok(o) => o,
            Err(e) => {
                eprintln!("failed");
                return Err((i, format!("cannot run `{}`: {e}", step.program)));
            }
        };
        if !output.status.success() {
            eprintln!("failed");
            let mut text = String::new();
            if !step.secret {
                text.push_str(&String::from_utf8_lossy(&output.stdout));
            }
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            return Err((
                i,
                format!("`{}` exited with {}\n{text}", step.display(), output.status),
            ));
        }
        if let Some(path) = &step.stdout_to {
            if let Err(e) = write_file(path, &output.stdout, step.secret) {
                eprintln!("failed");
                return Err((i, format!("cannot write `{}`: {e}", path.display())));
            }
        }
        eprintln!("ok ({:.1}s)", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// A host's address from `hosts.json` (`terraform output -json hosts`).
fn address_from_hosts_json(hosts_json: &Path, host: &str) -> Result<String, String> {
    let text = crate::files::read_regular(hosts_json, crate::files::TEXT_LIMIT)
        .map_err(|e| e.reason())
        .and_then(|b| String::from_utf8(b).map_err(|_| "it is not UTF-8".to_string()))
        .map_err(|e| format!("cannot read `{}`: {e}", hosts_json.display()))?;
    let hosts: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("`{}` is not JSON: {e}", hosts_json.display()))?;
    hosts
        .get(host)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("`{}` has no address for `{host}`", hosts_json.display()))
}

fn write_file(path: &Path, contents: &[u8], secret: bool) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("e3-tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}
