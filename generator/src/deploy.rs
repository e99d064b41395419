//! `e3 deploy` and `e3 destroy`: keys, render, then the two phases of a
//! cloud deployment. Each step is an external command; `--dry-run` prints
//! them in order, by phase, without running anything.
//!
//! 1. **Base image**: the generic configuration of each cloud platform
//!    (`modules/base.nix`: platform module, sshd, the cloud's own SSH-key
//!    injection; no addresses, keys or backend), so it builds before any
//!    machine exists. DigitalOcean boots it as a custom image; Hetzner gets
//!    it from nixos-anywhere, which Terraform runs once per new server.
//! 2. **Terraform** creates the machines (NAT routers and their private
//!    networks included, `cloud.rs`), then **hosts.json** (and
//!    `private-addresses.json`) records where they are.
//! 3. **Colmena** deploys the full configurations: NAT routers first (the
//!    parties behind them are reached through them), then a Headscale
//!    control server, then its pre-auth key into `secrets/NAME/`, then
//!    everything else; with `E3_SECRETS` set for the hive's key commands.
//!
//! Secrets never pass through arguments, files of the rendered directory or
//! this process's output: auth keys go from `terraform output` or the
//! control server straight into `secrets/NAME/` (mode 0600), where the
//! hive's deployment keys read them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::catalogue::{Backend, Platform};
use crate::plan::{Plan, Role};
use crate::render::{nix, terraform};
use crate::tools::on_path;

/// Why a deployment step, or what prepares one, failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unclosed address placeholder")]
    UnclosedPlaceholder,
    #[error("cannot read the SSH public key `{}`: {reason}", path.display())]
    ReadSshKey { path: PathBuf, reason: String },
    #[error("`{}` is a private key: give the `.pub` file", .0.display())]
    PrivateKey(PathBuf),
    #[error("cannot read `{}`: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("`{}` is not JSON: {source}", path.display())]
    NotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("`{}` has no address for `{host}`", path.display())]
    NoAddress { path: PathBuf, host: String },
    #[error("no image file in `{}`", .0.display())]
    NoImage(PathBuf),
    #[error("cannot create `{}`: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// The command failed; `output`: what it printed (stdout only when
    /// not secret).
    #[error("`{command}` exited with {status}\n{output}")]
    Exited {
        command: String,
        status: std::process::ExitStatus,
        output: String,
    },
    /// Step `number` (from 1) of [`run`] failed; the hint says what may
    /// exist in the cloud now.
    #[error("step {number} of {total} failed: {title}\n{cause}")]
    Step {
        number: usize,
        total: usize,
        title: String,
        phase: Phase,
        destroying: bool,
        scenario: String,
        terraform: PathBuf,
        cause: Box<Error>,
    },
}

impl crate::error::Hinted for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Step {
                destroying: true,
                scenario,
                terraform,
                ..
            } => Some(format!(
                "fix the cause and run `e3 destroy {scenario}` again; `terraform -chdir={} state list` shows what still exists",
                terraform.display()
            )),
            Error::Step {
                phase, scenario, ..
            } if *phase >= Phase::Terraform => Some(format!(
                "machines may exist and cost money until destroyed: `e3 destroy {scenario}` removes whatever was created (it works on a partial deployment)"
            )),
            Error::Step { .. } => Some("nothing was created in the cloud yet".into()),
            _ => None,
        }
    }
}

/// The phases of a deployment, in order (`--dry-run` prints them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Prepare,
    BaseImage,
    Terraform,
    Addresses,
    Colmena,
    Run,
}

impl Phase {
    pub fn title(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare: key material, rendered files",
            Phase::BaseImage => "phase 1: base image (generic, no scenario data)",
            Phase::Terraform => "phase 1: Terraform (machines, NAT routers, private networks)",
            Phase::Addresses => "phase 1: hosts.json (where the machines are)",
            Phase::Colmena => "phase 2: Colmena (full configurations)",
            Phase::Run => "run: the MPyC program and its results",
        }
    }
}

/// One external command of a deployment.
#[derive(Debug, Clone)]
pub struct Step {
    pub phase: Phase,
    pub title: String,
    pub program: String,
    pub args: Vec<String>,
    /// Environment variables set for the command (value: a path, relative
    /// to the working directory, made absolute when the step runs).
    pub env: Vec<(String, PathBuf)>,
    /// Write the command's stdout to this file (mode 0600 when `secret`).
    pub stdout_to: Option<PathBuf>,
    /// The stdout is secret: never shown, written with mode 0600.
    pub secret: bool,
}

/// Placeholders in [`Step::args`], resolved when the step runs, with what
/// `--dry-run` shows instead. An address is `{address:HOST}` (see
/// [`address`]), looked up in `hosts.json`, written by an earlier step.
pub const IMAGE: &str = "{image}";
pub const SSH_KEYS: &str = "{ssh_public_keys}";
const ADDRESS_OPEN: &str = "{address:";

/// The placeholder of a host's address.
pub fn address(host: &str) -> String {
    format!("{ADDRESS_OPEN}{host}}}")
}

/// `arg` with every `{address:HOST}` replaced by `f(HOST)`.
fn replace_addresses(
    arg: &str,
    mut f: impl FnMut(&str) -> Result<String, Error>,
) -> Result<String, Error> {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(i) = rest.find(ADDRESS_OPEN) {
        out.push_str(&rest[..i]);
        let tail = &rest[i + ADDRESS_OPEN.len()..];
        let end = tail.find('}').ok_or(Error::UnclosedPlaceholder)?;
        out.push_str(&f(&tail[..end])?);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Step {
    fn new(phase: Phase, title: &str, program: &str, args: &[&str]) -> Step {
        Step {
            phase,
            title: title.into(),
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            stdout_to: None,
            secret: false,
        }
    }

    fn to(mut self, path: PathBuf) -> Step {
        self.stdout_to = Some(path);
        self
    }

    fn env(mut self, name: &str, value: PathBuf) -> Step {
        self.env.push((name.into(), value));
        self
    }

    /// The command as a shell line; an address not known yet is shown as
    /// `<address of HOST>`.
    pub fn display(&self) -> String {
        let shown = |a: &str| {
            if !a.contains('{') {
                return shell_quote(a);
            }
            let a = replace_addresses(a, |h| Ok(format!("<address of {h}>")))
                .unwrap_or_else(|_| a.to_string())
                .replace(IMAGE, "<image file in result-image/>")
                .replace(SSH_KEYS, "{deployer=\"<your SSH public key>\"}");
            if a.contains(' ') || a.contains('"') {
                format!("'{a}'")
            } else {
                a
            }
        };
        let mut line = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(&v.display().to_string())))
            .chain(std::iter::once(shell_quote(&self.program)))
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

/// The steps of `e3 deploy`, in order. `e3` is this program's own path.
pub fn deploy_steps(plan: &Plan, layout: &Layout, e3: &str, terraform_bin: &str) -> Vec<Step> {
    let out = layout.rendered.display().to_string();
    let tf_dir = layout.rendered.join("terraform").display().to_string();
    let chdir = format!("-chdir={tf_dir}");
    let hive = layout.rendered.join("hive.nix").display().to_string();
    let cloud = crate::cloud::cloud(plan);
    // Keys first: `e3 render` copies their public halves (and
    // `authorized_keys`) into the rendered directory.
    let mut steps = vec![
        Step::new(
            Phase::Prepare,
            "create missing key material and authorized_keys (existing files are kept)",
            e3,
            &["keys", &plan.name],
        ),
        Step::new(
            Phase::Prepare,
            "render the scenario",
            e3,
            &["render", &plan.name, "-o", &out],
        ),
    ];
    let groups = terraform::groups(plan);
    if terraform::has_terraform(plan) {
        if groups.contains_key(&Platform::DigitalOcean) {
            let link = layout.rendered.join("result-image").display().to_string();
            let image =
                nix::base_image(Platform::DigitalOcean).expect("DigitalOcean boots an image");
            steps.push(Step::new(
                Phase::BaseImage,
                "build the DigitalOcean base image",
                "nix",
                &[
                    "build",
                    &format!("{}#{image}", flake_ref(&layout.rendered)),
                    "--out-link",
                    &link,
                ],
            ));
        }
        if groups.contains_key(&Platform::Hetzner) {
            // Hetzner boots no custom image: Terraform runs nixos-anywhere
            // with this configuration on each new server. Evaluating it
            // first names a problem before any server exists.
            let base = nix::base_configuration(Platform::Hetzner, false);
            steps.push(Step::new(
                Phase::BaseImage,
                "build the Hetzner base system (nixos-anywhere installs it on each new server)",
                "nix",
                &[
                    "build",
                    "--no-link",
                    &format!(
                        "{}#nixosConfigurations.{base}.config.system.build.toplevel",
                        flake_ref(&layout.rendered)
                    ),
                ],
            ));
        }
        steps.push(Step::new(
            Phase::Terraform,
            "terraform init",
            terraform_bin,
            &[&chdir, "init", "-input=false"],
        ));
        let vars = terraform_vars(plan);
        let mut apply = vec![chdir.as_str(), "apply", "-input=false", "-auto-approve"];
        apply.extend(vars.iter().map(String::as_str));
        steps.push(Step::new(
            Phase::Terraform,
            "provision the machines",
            terraform_bin,
            &apply,
        ));
        steps.push(
            Step::new(
                Phase::Addresses,
                "record their addresses",
                terraform_bin,
                &[&chdir, "output", "-json", "hosts"],
            )
            .to(layout.rendered.join("hosts.json")),
        );
        if cloud.hosts.iter().any(|c| !c.networks.is_empty()) {
            steps.push(
                Step::new(
                    Phase::Addresses,
                    "record the private-network addresses of routers and NATed hosts",
                    terraform_bin,
                    &[&chdir, "output", "-json", "private_addresses"],
                )
                .to(layout.rendered.join("private-addresses.json")),
            );
        }
        if plan.connectivity.backend == Backend::Tailscale {
            let mut s = Step::new(
                Phase::Addresses,
                "fetch the Tailscale auth key (secret, never shown)",
                terraform_bin,
                &[&chdir, "output", "-raw", "tailscale_authkey"],
            )
            .to(layout.secrets.join("tailscale-authkey"));
            s.secret = true;
            steps.push(s);
        }
    }
    let colmena = |title: &str, on: Option<&str>| {
        let mut args = vec!["apply", "-f", hive.as_str()];
        if let Some(on) = on {
            args.extend(["--on", on]);
        }
        Step::new(Phase::Colmena, title, "colmena", &args)
            .env(nix::SECRETS_ENV, layout.secrets.clone())
    };
    if cloud.routers().next().is_some() {
        let mut tags: Vec<&str> = Vec::new();
        if cloud.routers().any(|c| c.host.role == Role::Carrier) {
            tags.push("@role-carrier");
        }
        tags.push("@role-router");
        steps.push(colmena(
            "deploy the NAT routers (the hosts behind them are reached through them)",
            Some(&tags.join(",")),
        ));
    }
    let control = plan
        .hosts
        .iter()
        .find(|h| h.role == Role::Control && h.deploy);
    if let (Backend::Headscale, Some(control)) = (plan.connectivity.backend, control) {
        steps.push(colmena(
            "deploy the Headscale control server",
            Some("@role-control"),
        ));
        let mut s = Step::new(
            Phase::Colmena,
            "create the Headscale pre-auth key (secret, never shown)",
            "ssh",
            &[
                "-o",
                "BatchMode=yes",
                &format!("root@{}", target_of(control.address, &control.name)),
                "e3-headscale-authkey",
            ],
        )
        .to(layout.secrets.join("tailscale-authkey"));
        s.secret = true;
        steps.push(s);
    }
    steps.push(colmena("deploy NixOS to every host", None));
    steps.push(
        Step::new(
            Phase::Run,
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
        )
        .env(nix::SECRETS_ENV, layout.secrets.clone()),
    );
    for h in plan.hosts.iter().filter(|h| h.role == Role::Party) {
        let mut args = vec!["-o".to_string(), "BatchMode=yes".to_string()];
        if let Some(c) = cloud.host(&h.name).filter(|c| !c.jump.is_empty()) {
            let chain = c
                .jump
                .iter()
                .map(|j| format!("root@{}", address(j)))
                .collect::<Vec<_>>()
                .join(",");
            args.extend(["-o".to_string(), format!("ProxyJump={chain}")]);
        }
        args.push(format!("root@{}", target_of(h.address, &h.name)));
        args.extend(["cat".to_string(), "/var/lib/e3/result.json".to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        steps.push(
            Step::new(
                Phase::Run,
                &format!("fetch the result of {}", h.name),
                "ssh",
                &args,
            )
            .to(layout.results.join(format!("{}.json", h.name))),
        );
    }
    steps
}

/// A host's SSH address: given in the scenario, or from `hosts.json`.
fn target_of(given: Option<std::net::IpAddr>, host: &str) -> String {
    match given {
        Some(a) => a.to_string(),
        None => address(host),
    }
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

/// The steps of `e3 destroy`: they work on a partial deployment (any
/// subset of the machines, or a state without any); `init` again in case
/// the failed deploy stopped before it finished.
pub fn destroy_steps(plan: &Plan, layout: &Layout, terraform_bin: &str) -> Vec<Step> {
    if !terraform::has_terraform(plan) {
        return Vec::new();
    }
    let tf_dir = layout.rendered.join("terraform").display().to_string();
    let chdir = format!("-chdir={tf_dir}");
    let mut args = vec![chdir.as_str(), "destroy", "-input=false", "-auto-approve"];
    let vars = terraform_vars(plan);
    args.extend(vars.iter().map(String::as_str));
    vec![
        Step::new(
            Phase::Terraform,
            "terraform init",
            terraform_bin,
            &[&chdir, "init", "-input=false"],
        ),
        Step::new(
            Phase::Terraform,
            "destroy the machines",
            terraform_bin,
            &args,
        ),
    ]
}

/// One line of the cost estimate: machines of one size.
#[derive(Debug, Clone, PartialEq)]
pub struct CostLine {
    pub platform: Platform,
    pub size: String,
    pub count: usize,
    pub hourly: f64,
    pub currency: &'static str,
}

/// The list-price cost per hour of every machine Terraform creates
/// (routers included), by platform and size; taxes, traffic, images and
/// storage not included.
pub fn cost(plan: &Plan) -> Vec<CostLine> {
    let cloud = crate::cloud::cloud(plan);
    let mut lines: Vec<CostLine> = Vec::new();
    for c in &cloud.hosts {
        let Some(size) = c.platform.find_size(&c.size) else {
            continue;
        };
        match lines
            .iter_mut()
            .find(|l| l.platform == c.platform && l.size == c.size)
        {
            Some(l) => l.count += 1,
            None => lines.push(CostLine {
                platform: c.platform,
                size: c.size.clone(),
                count: 1,
                hourly: size.hourly,
                currency: size.currency,
            }),
        }
    }
    lines
}

/// `estimated cost: … per hour` for the dry run and the confirmation.
pub fn cost_summary(plan: &Plan) -> Option<String> {
    let lines = cost(plan);
    if lines.is_empty() {
        return None;
    }
    let machines: usize = lines.iter().map(|l| l.count).sum();
    let mut totals: Vec<(&str, f64)> = Vec::new();
    for l in &lines {
        match totals.iter_mut().find(|(c, _)| *c == l.currency) {
            Some((_, t)) => *t += l.hourly * l.count as f64,
            None => totals.push((l.currency, l.hourly * l.count as f64)),
        }
    }
    let total = totals
        .iter()
        .map(|(c, t)| format!("{t:.4} {c}"))
        .collect::<Vec<_>>()
        .join(" + ");
    let detail = lines
        .iter()
        .map(|l| {
            format!(
                "{} × {} {} at {} {}",
                l.count,
                l.platform.title(),
                l.size,
                l.hourly,
                l.currency
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "estimated cost: {total} per hour for {machines} machines ({detail}; list prices before tax, without traffic, images and snapshots)"
    ))
}

/// Environment variables a provider needs: every group must have one
/// variable set (alternatives within a group).
fn credentials(plan: &Plan) -> Vec<&'static [&'static str]> {
    let groups = terraform::groups(plan);
    let mut need: Vec<&'static [&'static str]> = Vec::new();
    if groups.contains_key(&Platform::DigitalOcean) {
        need.extend([
            &["DIGITALOCEAN_TOKEN", "DIGITALOCEAN_ACCESS_TOKEN"][..],
            &["SPACES_ACCESS_KEY_ID"][..],
            &["SPACES_SECRET_ACCESS_KEY"][..],
        ]);
    }
    if groups.contains_key(&Platform::Hetzner) {
        need.push(&["HCLOUD_TOKEN"]);
    }
    if plan.connectivity.backend == Backend::Tailscale && !groups.is_empty() {
        need.extend([
            &["TAILSCALE_API_KEY", "TAILSCALE_OAUTH_CLIENT_ID"][..],
            &["TAILSCALE_TAILNET"][..],
        ]);
    }
    need
}

/// Programs `e3 deploy` runs besides the steps' own: Terraform's
/// provisioners (nixos-anywhere for Hetzner) and `e3 keys`' tools.
pub fn extra_programs(plan: &Plan) -> Vec<&'static str> {
    let mut p: Vec<&'static str> = crate::keys::tools(plan).to_vec();
    if terraform::groups(plan).contains_key(&Platform::Hetzner) {
        p.push("nixos-anywhere");
    }
    p
}

/// Everything a deployment needs that is missing, named before anything
/// runs (and before any money is spent): credentials and the SSH key.
pub fn missing_inputs(plan: &Plan, is_set: impl Fn(&str) -> bool, ssh_key: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    for group in credentials(plan) {
        if !group.iter().any(|v| is_set(v)) {
            missing.push(format!(
                "the environment variable {}",
                group
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
    }
    if terraform::has_terraform(plan) && !ssh_key.is_file() {
        missing.push(format!(
            "the SSH public key `{}` (give another with `--ssh-key`)",
            ssh_key.display()
        ));
    }
    missing
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
    /// `e3 destroy`: a missing image is no error (nothing will be created).
    pub destroying: bool,
    /// The scenario's name and its Terraform root, for the hint of a
    /// failed step.
    pub scenario: String,
    pub terraform: PathBuf,
}

impl Context {
    fn resolve(&self, arg: &str) -> Result<String, Error> {
        let mut a = arg.to_string();
        if a.contains(ADDRESS_OPEN) {
            a = replace_addresses(&a, |host| address_from_hosts_json(&self.hosts_json, host))?;
        }
        if a.contains(IMAGE) && self.destroying && !self.image_link.exists() {
            // `terraform destroy` of a deployment that never built its
            // image: the module accepts an empty path for that.
            a = a.replace(IMAGE, "");
        }
        if a.contains(IMAGE) {
            let image = std::fs::read_dir(&self.image_link)
                .map_err(|e| Error::Read {
                    path: self.image_link.clone(),
                    reason: e.to_string(),
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name().is_some_and(|n| {
                        n.to_string_lossy().contains(".qcow2")
                            || n.to_string_lossy().ends_with(".img")
                    })
                })
                .ok_or_else(|| Error::NoImage(self.image_link.clone()))?;
            a = a.replace(IMAGE, &image.display().to_string());
        }
        if a.contains(SSH_KEYS) {
            let key = crate::files::read_regular(&self.ssh_key, crate::files::TEXT_LIMIT)
                .map_err(|e| e.reason())
                .and_then(|b| String::from_utf8(b).map_err(|_| "it is not UTF-8".to_string()))
                .map_err(|reason| Error::ReadSshKey {
                    path: self.ssh_key.clone(),
                    reason,
                })?;
            let key = key.trim();
            if key.contains("PRIVATE KEY") {
                return Err(Error::PrivateKey(self.ssh_key.clone()));
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

/// Creates `secrets/NAME/public/authorized_keys` from the deployer's SSH
/// public key when it is missing (`e3 keys` only finds `~/.ssh/id_*.pub`),
/// so that root's key is on every host whichever key `--ssh-key` named.
/// Returns whether it wrote the file.
pub fn ensure_authorized_keys(layout: &Layout, ssh_key: &Path) -> Result<bool, Error> {
    use std::os::unix::fs::DirBuilderExt as _;
    let public = layout.secrets.join("public");
    let file = public.join("authorized_keys");
    if file.is_file() {
        return Ok(false);
    }
    let key = std::fs::read_to_string(ssh_key).map_err(|e| Error::ReadSshKey {
        path: ssh_key.to_path_buf(),
        reason: e.to_string(),
    })?;
    if key.contains("PRIVATE KEY") {
        return Err(Error::PrivateKey(ssh_key.to_path_buf()));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&public)
        .map_err(|source| Error::Create {
            path: public.clone(),
            source,
        })?;
    write_file(&file, format!("{}\n", key.trim()).as_bytes(), true).map_err(|source| {
        Error::Write {
            path: file.clone(),
            source,
        }
    })?;
    Ok(true)
}

/// Runs the steps in order, showing progress; stops at the first failure
/// with that command's output ([`Error::Step`]).
pub fn run(steps: &[Step], context: &Context) -> Result<(), Error> {
    let total = steps.len();
    for (i, step) in steps.iter().enumerate() {
        eprint!("[{}/{total}] {} ... ", i + 1, step.title);
        let _ = std::io::stderr().flush();
        let started = Instant::now();
        run_step(step, context, started).map_err(|cause| {
            eprintln!("failed");
            Error::Step {
                number: i + 1,
                total,
                title: step.title.clone(),
                phase: step.phase,
                destroying: context.destroying,
                scenario: context.scenario.clone(),
                terraform: context.terraform.clone(),
                cause: Box::new(cause),
            }
        })?;
    }
    Ok(())
}

/// One step of [`run`]: its command, and its stdout where it goes.
fn run_step(step: &Step, context: &Context, started: Instant) -> Result<(), Error> {
    if let Some(parent) = step.stdout_to.as_deref().and_then(Path::parent) {
        std::fs::create_dir_all(parent).map_err(|source| Error::Create {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let args = step
        .args
        .iter()
        .map(|a| context.resolve(a))
        .collect::<Result<Vec<String>, Error>>()?;
    let mut command = Command::new(&step.program);
    command.args(&args).stdin(Stdio::null());
    for (k, v) in &step.env {
        let v = std::path::absolute(v).unwrap_or_else(|_| v.clone());
        command.env(k, v);
    }
    let output = command.output().map_err(|source| Error::Spawn {
        program: step.program.clone(),
        source,
    })?;
    if !output.status.success() {
        let mut text = String::new();
        if !step.secret {
            text.push_str(&String::from_utf8_lossy(&output.stdout));
        }
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(Error::Exited {
            command: step.display(),
            status: output.status,
            output: text.trim_end().to_string(),
        });
    }
    if let Some(path) = &step.stdout_to {
        write_file(path, &output.stdout, step.secret).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    }
    eprintln!("ok ({:.1}s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// A host's address from `hosts.json` (`terraform output -json hosts`).
fn address_from_hosts_json(hosts_json: &Path, host: &str) -> Result<String, Error> {
    let text = crate::files::read_regular(hosts_json, crate::files::TEXT_LIMIT)
        .map_err(|e| e.reason())
        .and_then(|b| String::from_utf8(b).map_err(|_| "it is not UTF-8".to_string()))
        .map_err(|reason| Error::Read {
            path: hosts_json.to_path_buf(),
            reason,
        })?;
    let hosts: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| Error::NotJson {
            path: hosts_json.to_path_buf(),
            source,
        })?;
    hosts
        .get(host)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::NoAddress {
            path: hosts_json.to_path_buf(),
            host: host.to_string(),
        })
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
