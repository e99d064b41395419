//! `e3 keys NAME`: the backend's key material, generated into
//! `secrets/NAME/` with the real tools (`nebula-cert`, `wg`, `openssl`).
//!
//! Layout of `secrets/NAME/` (directories 0700, files 0600):
//!
//! | file | what | reaches hosts as (Colmena key) |
//! |---|---|---|
//! | `nebula/ca.{crt,key}` | Nebula CA (the key never leaves this directory) | `nebula-ca.crt` |
//! | `nebula/<host>.{crt,key}` | host certificate for its overlay address (/16) | `nebula-host.crt`, `nebula-host.key` |
//! | `wireguard/<host>.key`, `public/wireguard/<host>.pub` | WireGuard key pair | `wireguard.key` |
//! | `tinc/<host>.priv`, `public/tinc/<host>.pub` | tinc RSA key pair (PKCS#1 PEM, tinc 1.0 format) | `tinc-rsa.priv` |
//! | `openvpn/ca.{crt,key}` | OpenVPN CA, ECDSA P-256 (the key never leaves this directory) | `openvpn-ca.crt` |
//! | `openvpn/<host>.{crt,key}` | the server's (`serverAuth`) or a client's (`clientAuth`) certificate, CN = host name | `openvpn-host.crt`, `openvpn-host.key` |
//! | `public/authorized_keys` | root's SSH keys on every host (yours: copied from `~/.ssh/id_*.pub` when missing) | |
//! | `tailscale-authkey` | Tailscale/Headscale auth key, written at deploy time | `tailscale-authkey` |
//!
//! `public/` holds only public halves: `e3 render` copies it into the
//! rendered directory's `public-keys/`.
//!
//! Material is generated in units (a key pair, a certificate and its key).
//! A complete unit is kept; a missing one is generated; a partial one is an
//! error unless `--rotate`, which regenerates every unit. New material is
//! generated into a staging directory inside `secrets/NAME/` (0700 from the
//! start; one a killed run left is removed by the next), then each file is
//! moved into place with Ctrl-C held back, so an interrupted run leaves the
//! old material intact. Files e3 did not create are never deleted or
//! re-moded; what e3 creates gets explicit modes (0700/0600), whatever the
//! umask. Runs on one directory take a lock (`.e3-keys.lock`).

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::catalogue::Backend;
use crate::files;
use crate::plan::{Host, Plan};
use crate::render::nix::deployed;
use crate::tools::on_path;

/// Why `e3 keys` failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Some files of a unit exist, others do not.
    #[error("incomplete key material in `{}`: `{}` is missing", dir.display(), missing.join("`, `"))]
    Incomplete {
        dir: PathBuf,
        missing: Vec<String>,
        scenario: String,
    },
    /// A CA would be generated while certificates it did not sign stay.
    #[error("`{}` has {what} host certificates but no CA", dir.display())]
    NoCa {
        dir: PathBuf,
        what: &'static str,
        scenario: String,
    },
    /// A key tool is not on `PATH`; `how`: how to install it.
    #[error("`{tool}` not found")]
    ToolMissing {
        tool: &'static str,
        how: &'static str,
    },
    #[error("cannot create `{}`: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot lock `{}`: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("cannot remove `{}`: {source}", path.display())]
    Remove { path: PathBuf, source: io::Error },
    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot chmod `{file}`: {source}")]
    Chmod { file: String, source: io::Error },
    #[error("cannot run `{tool}`: {source}")]
    Spawn { tool: String, source: io::Error },
    #[error("cannot write to `{tool}`: {source}")]
    Stdin { tool: String, source: io::Error },
    #[error("`{tool}` failed: {source}")]
    Wait { tool: String, source: io::Error },
    /// The tool ran and failed; its stderr (which carries no key material).
    #[error("`{tool} {command}` failed: {stderr}")]
    Failed {
        tool: String,
        command: String,
        stderr: String,
    },
}

impl crate::error::Hinted for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Incomplete { scenario, .. } | Error::NoCa { scenario, .. } => Some(format!(
                "run `e3 keys {scenario} --rotate` to regenerate all key material"
            )),
            Error::ToolMissing { how, .. } => Some(format!(
                "install it ({how}; Nix: `nix develop` in the e3 repository)"
            )),
            _ => None,
        }
    }
}

/// What one `e3 keys` run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Files written (relative to the secrets directory).
    pub generated: Vec<String>,
    /// Files that were complete and kept.
    pub kept: Vec<String>,
    /// Things the user should know (never key material).
    pub notes: Vec<String>,
}

impl Report {
    pub fn up_to_date(&self) -> bool {
        self.generated.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Unit {
    NebulaCa,
    NebulaHost {
        host: String,
        ip: String,
    },
    Wireguard {
        host: String,
    },
    Tinc {
        host: String,
    },
    OpenvpnCa,
    OpenvpnHost {
        host: String,
        server: bool,
        serial: u32,
    },
}

impl Unit {
    fn files(&self) -> Vec<String> {
        match self {
            Unit::NebulaCa => vec!["nebula/ca.crt".into(), "nebula/ca.key".into()],
            Unit::NebulaHost { host, .. } => {
                vec![format!("nebula/{host}.crt"), format!("nebula/{host}.key")]
            }
            Unit::Wireguard { host } => vec![
                format!("wireguard/{host}.key"),
                format!("public/wireguard/{host}.pub"),
            ],
            Unit::Tinc { host } => vec![
                format!("tinc/{host}.priv"),
                format!("public/tinc/{host}.pub"),
            ],
            Unit::OpenvpnCa => vec!["openvpn/ca.crt".into(), "openvpn/ca.key".into()],
            Unit::OpenvpnHost { host, .. } => {
                vec![format!("openvpn/{host}.crt"), format!("openvpn/{host}.key")]
            }
        }
    }
}

/// Hosts that carry overlay key material.
fn overlay_hosts(plan: &Plan) -> Vec<&Host> {
    deployed(plan)
        .filter(|h| h.overlay_address.is_some())
        .collect()
}

fn units(plan: &Plan) -> Vec<Unit> {
    let prefix = plan
        .connectivity
        .overlay_network
        .as_deref()
        .and_then(|n| n.split_once('/'))
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| "16".into());
    let hosts = overlay_hosts(plan);
    match plan.connectivity.backend {
        Backend::Nebula => std::iter::once(Unit::NebulaCa)
            .chain(hosts.iter().map(|h| Unit::NebulaHost {
                host: h.name.to_string(),
                ip: format!("{}/{prefix}", h.overlay_address.expect("overlay host")),
            }))
            .collect(),
        Backend::Wireguard => hosts
            .iter()
            .map(|h| Unit::Wireguard {
                host: h.name.to_string(),
            })
            .collect(),
        Backend::Tinc => hosts
            .iter()
            .map(|h| Unit::Tinc {
                host: h.name.to_string(),
            })
            .collect(),
        Backend::Openvpn => std::iter::once(Unit::OpenvpnCa)
            .chain(hosts.iter().enumerate().map(|(i, h)| Unit::OpenvpnHost {
                host: h.name.to_string(),
                server: h.role == crate::plan::Role::Hub,
                serial: i as u32 + 2,
            }))
            .collect(),
        Backend::Tailscale | Backend::Headscale | Backend::Direct => Vec::new(),
    }
}

/// Tools `e3 keys` runs for this plan's backend.
pub fn tools(plan: &Plan) -> &'static [&'static str] {
    match plan.connectivity.backend {
        Backend::Nebula => &["nebula-cert"],
        Backend::Wireguard => &["wg"],
        Backend::Tinc | Backend::Openvpn => &["openssl"],
        _ => &[],
    }
}

/// How the Tailscale/Headscale auth keys reach the parties.
pub fn auth_key_note(plan: &Plan) -> Option<String> {
    let name = &plan.name;
    match plan.connectivity.backend {
        Backend::Tailscale => Some(format!(
            "Tailscale: no keys to generate. Auth keys come at deploy time: create a reusable, pre-approved auth key in the Tailscale admin console (or with the Terraform `tailscale` module) and write it to `secrets/{name}/tailscale-authkey` (mode 0600); Colmena uploads it to every party as the key `tailscale-authkey`"
        )),
        Backend::Headscale => Some(format!(
            "Headscale: no keys to generate. Auth keys come at deploy time: after the control server is deployed, run `ssh root@<control> e3-headscale-authkey > secrets/{name}/tailscale-authkey` (mode 0600), then deploy the parties; Colmena uploads it as the key `tailscale-authkey`"
        )),
        _ => None,
    }
}

/// Generates (or checks) the key material of `plan` in `dir`.
pub fn keys(plan: &Plan, dir: &Path, rotate: bool) -> Result<Report, Error> {
    let mut report = Report::default();
    let all = units(plan);
    let exists = |f: &str| fs::symlink_metadata(dir.join(f)).is_ok_and(|m| m.is_file());
    let mut todo: Vec<Unit> = Vec::new();
    for u in &all {
        let files = u.files();
        let present = files.iter().filter(|f| exists(f)).count();
        if rotate || present == 0 {
            todo.push(u.clone());
        } else if present < files.len() {
            let missing: Vec<&String> = files.iter().filter(|f| !exists(f)).collect();
            return Err(Error::Incomplete {
                dir: dir.to_path_buf(),
                missing: missing.into_iter().cloned().collect(),
                scenario: plan.name.clone(),
            });
        } else {
            report.kept.extend(files);
        }
    }
    // A new CA invalidates the certificates signed by the old one.
    for (ca, what) in [(Unit::NebulaCa, "Nebula"), (Unit::OpenvpnCa, "OpenVPN")] {
        let signed_by_old = all.iter().any(|u| {
            matches!(u, Unit::NebulaHost { .. } | Unit::OpenvpnHost { .. })
                && u.files()[0].split('/').next() == ca.files()[0].split('/').next()
                && !todo.contains(u)
        });
        if todo.contains(&ca) && signed_by_old {
            return Err(Error::NoCa {
                dir: dir.to_path_buf(),
                what,
                scenario: plan.name.clone(),
            });
        }
    }
    let authorized = dir.join("public/authorized_keys");
    let ssh_key = if authorized.is_file() {
        None
    } else {
        own_ssh_key()
    };
    if !authorized.is_file() && ssh_key.is_none() {
        report.notes.push(format!(
            "no SSH key for root on the hosts: put your public SSH key(s) in `{}`, then run `e3 render {}`",
            authorized.display(),
            plan.name
        ));
    }
    if let Some(n) = auth_key_note(plan) {
        report.notes.push(n);
    }
    if todo.is_empty() && ssh_key.is_none() {
        return Ok(report);
    }
    for tool in tools(plan) {
        if !todo.is_empty() && !on_path(tool) {
            let how = match *tool {
                "nebula-cert" => {
                    "`ci/install-deps` in the e3 checkout builds it into `.tools/bin/`"
                }
                "wg" => "Debian: `apt-get install wireguard-tools`",
                _ => "Debian: `apt-get install openssl`",
            };
            return Err(Error::ToolMissing { tool, how });
        }
    }

    // Stage the new material in a private directory inside `dir`, then
    // move each file into place. Nothing else in `dir` is touched: files
    // e3 did not create keep their contents and modes.
    mkdir_private(dir)?;
    let _lock = files::lock(&dir.join(".e3-keys.lock")).map_err(|source| Error::Lock {
        path: dir.to_path_buf(),
        source,
    })?;
    for (stale, _) in files::stale_staging(dir, "", &["e3-keys-tmp-"]) {
        files::remove_staged(&stale).map_err(|source| Error::Remove {
            path: stale.clone(),
            source,
        })?;
    }
    let tmp = dir.join(format!(".e3-keys-tmp-{}", std::process::id()));
    let _ = files::remove_staged(&tmp);
    let result = (|| -> Result<Vec<String>, Error> {
        files::create_dir(&tmp, 0o700).map_err(|source| Error::Create {
            path: tmp.clone(),
            source,
        })?;
        let mut staged = Vec::new();
        if let Some((from, text)) = &ssh_key {
            write_private(&tmp.join("public/authorized_keys"), text.as_bytes())?;
            report.notes.push(format!(
                "root's SSH key on the hosts: copied from `{}` to `public/authorized_keys`",
                from.display()
            ));
            staged.push("public/authorized_keys".to_string());
        }
        for u in &todo {
            generate(plan, u, &tmp)?;
            staged.extend(u.files());
        }
        install(&tmp, dir, &staged)?;
        Ok(staged)
    })();
    let _ = files::remove_staged(&tmp);
    report.generated.extend(result?);
    report.generated.sort();
    Ok(report)
}

/// Moves the staged files into `dir` (creating missing directories 0700),
/// with SIGINT, SIGTERM, SIGHUP and SIGQUIT held back meanwhile, so that
/// Ctrl-C cannot leave half of a rotation in place.
fn install(tmp: &Path, dir: &Path, staged: &[String]) -> Result<(), Error> {
    struct Held(libc::sigset_t);
    impl Drop for Held {
        fn drop(&mut self) {
            // SAFETY: restores the mask saved below.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
        }
    }
    // SAFETY: plain signal-mask calls on sets owned here.
    let _held = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        Held(old)
    };
    for rel in staged {
        let to = dir.join(rel);
        if let Some(p) = to.parent() {
            mkdir_private(p)?;
        }
        fs::rename(tmp.join(rel), &to).map_err(|source| Error::Write { path: to, source })?;
    }
    Ok(())
}

/// The user's own SSH public key: the first of `~/.ssh/id_{ed25519,ecdsa,rsa}.pub`.
fn own_ssh_key() -> Option<(PathBuf, String)> {
    let home = std::env::var_os("HOME")?;
    ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"]
        .iter()
        .find_map(|n| {
            let p = Path::new(&home).join(".ssh").join(n);
            let text = String::from_utf8(files::read_regular(&p, files::TEXT_LIMIT).ok()?).ok()?;
            let text = text.trim();
            (!text.is_empty() && !text.contains("PRIVATE KEY"))
                .then(|| (p.clone(), format!("{text}\n")))
        })
}

fn mkdir_private(d: &Path) -> Result<(), Error> {
    files::create_dir_all(d, 0o700).map_err(|source| Error::Create {
        path: d.to_path_buf(),
        source,
    })
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), Error> {
    if let Some(p) = path.parent() {
        mkdir_private(p)?;
    }
    let _ = fs::remove_file(path);
    files::write_new(path, contents, 0o600).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs a tool; its output is returned, never printed (it may be a key).
fn run(tool: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            tool: tool.into(),
            source,
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).map_err(|source| Error::Stdin {
            tool: tool.into(),
            source,
        })?;
    }
    let out = child.wait_with_output().map_err(|source| Error::Wait {
        tool: tool.into(),
        source,
    })?;
    if !out.status.success() {
        // stderr of these tools carries no key material.
        return Err(Error::Failed {
            tool: tool.into(),
            command: args.first().unwrap_or(&"").to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

fn run_args(tool: &str, args: &[String]) -> Result<Vec<u8>, Error> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(tool, &refs, None)
}

fn generate(plan: &Plan, unit: &Unit, dir: &Path) -> Result<(), Error> {
    let p = |f: &str| dir.join(f);
    let s = |f: &str| p(f).display().to_string();
    match unit {
        Unit::NebulaCa => {
            mkdir_private(&p("nebula"))?;
            let _ = fs::remove_file(p("nebula/ca.crt"));
            let _ = fs::remove_file(p("nebula/ca.key"));
            run(
                "nebula-cert",
                &[
                    "ca",
                    "-name",
                    &format!("e3 {}", plan.name),
                    "-out-crt",
                    &s("nebula/ca.crt"),
                    "-out-key",
                    &s("nebula/ca.key"),
                ],
                None,
            )?;
        }
        Unit::NebulaHost { host, ip } => {
            mkdir_private(&p("nebula"))?;
            let (crt, key) = (format!("nebula/{host}.crt"), format!("nebula/{host}.key"));
            let _ = fs::remove_file(p(&crt));
            let _ = fs::remove_file(p(&key));
            run(
                "nebula-cert",
                &[
                    "sign",
                    "-name",
                    host,
                    "-ip",
                    ip,
                    "-ca-crt",
                    &s("nebula/ca.crt"),
                    "-ca-key",
                    &s("nebula/ca.key"),
                    "-out-crt",
                    &s(&crt),
                    "-out-key",
                    &s(&key),
                ],
                None,
            )?;
        }
        Unit::Wireguard { host } => {
            let private = run("wg", &["genkey"], None)?;
            let public = run("wg", &["pubkey"], Some(&private))?;
            write_private(&p(&format!("wireguard/{host}.key")), &private)?;
            write_private(&p(&format!("public/wireguard/{host}.pub")), &public)?;
        }
        Unit::Tinc { host } => {
            // PKCS#1 PEM ("RSA PRIVATE KEY" / "RSA PUBLIC KEY"): tinc 1.0's format.
            let private = run("openssl", &["genrsa", "-traditional", "2048"], None)?;
            let public = run("openssl", &["rsa", "-RSAPublicKey_out"], Some(&private))?;
            write_private(&p(&format!("tinc/{host}.priv")), &private)?;
            write_private(&p(&format!("public/tinc/{host}.pub")), &public)?;
        }
        Unit::OpenvpnCa => {
            mkdir_private(&p("openvpn"))?;
            let _ = fs::remove_file(p("openvpn/ca.crt"));
            let _ = fs::remove_file(p("openvpn/ca.key"));
            let cn = format!("e3 {} OpenVPN CA", plan.name);
            let args =
                crate::pki::ca_command(&p("openvpn/ca.key"), &p("openvpn/ca.crt"), &cn, 3650);
            run_args("openssl", &args)?;
        }
        Unit::OpenvpnHost {
            host,
            server,
            serial,
        } => {
            mkdir_private(&p("openvpn"))?;
            let usage = if *server {
                crate::pki::Usage::Server
            } else {
                crate::pki::Usage::Client
            };
            let (key, crt) = (
                p(&format!("openvpn/{host}.key")),
                p(&format!("openvpn/{host}.crt")),
            );
            let (csr, ext) = (
                p(&format!("openvpn/{host}.csr")),
                p(&format!("openvpn/{host}.ext")),
            );
            let _ = fs::remove_file(&key);
            let _ = fs::remove_file(&crt);
            write_private(&ext, crate::pki::extensions(usage, None).as_bytes())?;
            let leaf = crate::pki::Leaf {
                key: &key,
                csr: &csr,
                crt: &crt,
                ext: &ext,
            };
            let (ca_key, ca_crt) = (p("openvpn/ca.key"), p("openvpn/ca.crt"));
            let result = crate::pki::leaf_commands(&ca_key, &ca_crt, leaf, host, *serial, 3650)
                .iter()
                .try_for_each(|c| run_args("openssl", c).map(drop));
            let _ = fs::remove_file(&csr);
            let _ = fs::remove_file(&ext);
            result?;
        }
    }
    for f in unit.files() {
        fs::set_permissions(p(&f), fs::Permissions::from_mode(0o600))
            .map_err(|source| Error::Chmod { file: f, source })?;
    }
    Ok(())
}
