//! WireGuard with wireguard-go (the kernel module is absent here) and `wg`:
//! a hub with a public endpoint and spokes with keepalive, or a full mesh
//! when every party is public.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::plan::{Host, Plan, Role, Topology};
use crate::sim::netns::{ns_run, run, Lab};
use crate::sim::{Error, Started};

pub const PROGRAMS: &[&str] = &["wireguard-go", "wg"];

fn pubkey(private: &str) -> Result<String, Error> {
    let mut child = Command::new("wg")
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::CannotRun {
            program: "wg".into(),
            source,
        })?;
    let talk = |e: std::io::Error| Error::CannotRun {
        program: "wg pubkey".into(),
        source: e,
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(private.as_bytes()).map_err(talk)?;
    }
    let out = child.wait_with_output().map_err(talk)?;
    if !out.status.success() {
        return Err(Error::Command {
            command: "`wg pubkey`".into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Writes a new file readable by root only (0600), refusing to overwrite.
pub(crate) fn write_secret(path: &Path, text: &str) -> Result<(), Error> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(Error::io("write", path))
}

pub fn start(lab: &mut Lab, plan: &Plan, fault: Option<&str>) -> Result<Started, Error> {
    let dir = lab.dir.join("wireguard");
    super::create_dir_all(&dir)?;
    let port = plan.connectivity.port.unwrap_or(51820);
    let hub = plan.hosts.iter().find(|h| h.role == Role::Hub);
    let mut nodes: Vec<&crate::plan::Host> = hub.into_iter().collect();
    nodes.extend(plan.parties());
    struct Node {
        name: String,
        ns: String,
        iface: String,
        key: PathBuf,
        public: String,
        overlay: std::net::Ipv4Addr,
        endpoint: Option<std::net::Ipv4Addr>,
        is_hub: bool,
    }
    let mut v = Vec::new();
    for (i, h) in nodes.iter().enumerate() {
        let private = run("wg", &["genkey"])?.trim().to_string();
        let key = dir.join(format!("{}.key", h.name));
        write_secret(&key, &private)?;
        v.push(Node {
            name: h.name.to_string(),
            ns: lab.ns(&h.name),
            iface: format!("w{}{i}", lab.hex),
            key,
            public: pubkey(&private)?,
            overlay: h
                .overlay_address
                .ok_or_else(|| Error::Plan(format!("host `{}` has no overlay address", h.name)))?,
            endpoint: h.public_address,
            is_hub: h.role == Role::Hub,
        });
    }
    let mut started = Started::default();
    for (i, n) in v.iter().enumerate() {
        let sock = PathBuf::from(format!("/var/run/wireguard/{}.sock", n.iface));
        lab.add_file(sock.clone())?;
        let log = lab.dir.join(format!("{}.wireguard.log", n.name));
        lab.spawn(
            &n.name,
            &n.ns,
            "wireguard-go",
            &["-f", &n.iface],
            &log,
            &log,
        )?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !sock.exists() {
            if let Some(status) = lab.exited(&n.name) {
                return Err(Error::Daemon {
                    what: format!("`wireguard-go` on `{}` exited ({status})", n.name,),
                    log_tail: Some(crate::sim::tail(&log)),
                });
            }
            if Instant::now() > deadline {
                return Err(Error::Daemon {
                    what: format!(
                        "`wireguard-go` on `{}` did not create `{}` within 5 s",
                        n.name,
                        sock.display(),
                    ),
                    log_tail: None,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut args: Vec<String> = vec![
            "set".into(),
            n.iface.clone(),
            "private-key".into(),
            n.key.display().to_string(),
            "listen-port".into(),
            port.to_string(),
        ];
        let peers: Vec<&Node> = match plan.connectivity.topology {
            Topology::Hub if n.is_hub => v.iter().filter(|o| !o.is_hub).collect(),
            Topology::Hub => v.iter().filter(|o| o.is_hub).collect(),
            Topology::Mesh => v.iter().filter(|o| o.name != n.name).collect(),
        };
        for o in peers {
            args.extend(["peer".into(), o.public.clone()]);
            let allowed = if plan.connectivity.topology == Topology::Hub && o.is_hub {
                "10.9.0.0/16".to_string()
            } else {
                format!("{}/32", o.overlay)
            };
            args.extend(["allowed-ips".into(), allowed]);
            let reachable = o.is_hub || plan.connectivity.topology == Topology::Mesh;
            // In a mesh only the first of two peers keeps their tunnel alive.
            // Two peers that both start a handshake within one one-way delay
            // of each other each drop the other's response, and wireguard-go's
            // limit (one initiation per 5 s since the last handshake message
            // it sent) keeps them in step ever after: with region latency
            // (88 ms round trip) no session came up in 60 s.
            let keepalive = plan.connectivity.topology != Topology::Mesh
                || v.iter().position(|x| x.name == o.name) > Some(i);
            if let (true, Some(ep)) = (reachable, o.endpoint) {
                args.extend(["endpoint".into(), format!("{ep}:{port}")]);
                if keepalive {
                    args.extend(["persistent-keepalive".into(), "5".into()]);
                }
            }
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ns_run(&n.ns, "wg", &refs)?;
        run(
            "ip",
            &[
                "-n",
                &n.ns,
                "addr",
                "add",
                &format!("{}/16", n.overlay),
                "dev",
                &n.iface,
            ],
        )?;
        run(
            "ip",
            &["-n", &n.ns, "link", "set", &n.iface, "mtu", "1380", "up"],
        )?;
        if n.is_hub {
            ns_run(&n.ns, "sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
        }
        started.logs.push((n.name.clone(), log));
        if i == 0 && n.is_hub {
            crate::sim::check_coordinator(lab, &n.name, "wireguard-go", fault)?;
        }
    }
    started.relay = hub.map(|h| h.name.to_string());
    started.read_told = Some(told);
    started.relayed_by_construction = plan.connectivity.topology == Topology::Hub;
    Ok(started)
}

/// The peers' endpoints in `wg show IFACE endpoints` (`KEY\tIP:PORT`,
/// `(none)` for a peer without one).
pub fn endpoints(text: &str) -> Vec<std::net::Ipv4Addr> {
    let mut out: Vec<std::net::Ipv4Addr> = text
        .lines()
        .filter_map(|l| l.split('\t').nth(1)?.parse::<std::net::SocketAddrV4>().ok())
        .map(|s| *s.ip())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The endpoints party `h`'s WireGuard holds for its peers: configured, or
/// learnt from where their authenticated packets came from. (`wg show all`
/// would not do: wireguard-go's control sockets are files in
/// `/var/run/wireguard`, which every namespace sees, so it lists every
/// lab's interfaces; the party's own is the lab's one in its namespace.)
pub fn told(lab: &Lab, h: &Host) -> Option<Vec<std::net::Ipv4Addr>> {
    let ns = lab.ns(&h.name);
    let bounded = |program: &str, args: &[&str]| {
        crate::sim::routes::ns_run_bounded(&ns, program, args, crate::sim::routes::COMMAND_TIMEOUT)
            .ok()
    };
    let links = bounded("ip", &["-o", "link", "show"])?;
    let own = format!("w{}", lab.hex);
    let iface = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .find(|n| n.starts_with(&own))?;
    let text = bounded("wg", &["show", iface, "endpoints"])?;
    Some(endpoints(&text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoints_of_wg_show() {
        let text = "AAA=\t198.18.0.1:51820\nBBB=\t(none)\nCCC=\t198.18.128.3:1024\n";
        assert_eq!(
            super::endpoints(text),
            [
                "198.18.0.1".parse::<std::net::Ipv4Addr>().unwrap(),
                "198.18.128.3".parse().unwrap()
            ]
        );
    }
}
