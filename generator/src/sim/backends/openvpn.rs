//! OpenVPN 2.6 (Debian's `openvpn`): the centralised VPN. The `server`
//! host (role hub) runs OpenVPN in server mode on its public address; every
//! party is a client over UDP and gets its plan overlay address pushed by
//! the server (`client-config-dir`, one `ifconfig-push` per certificate
//! name, `ccd-exclusive`). The server forwards between clients
//! (`client-to-client`), so every pair is relayed through it.
//!
//! The directives are those of `modules/backends/openvpn.nix` (what a
//! deployment runs), plus a status file the lab reads the routes from.
//! Keys are throw-away: a lab CA and one certificate per host, made with
//! `openssl` ([`crate::pki`]) in the lab directory (0700) and removed with it.

use std::fmt::Write as _;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::plan::{Host, Plan, Role};
use crate::sim::netns::{run_strings, Lab};
use crate::sim::{BackendView, Error, Route, RouteKind, Started};

pub const PROGRAMS: &[&str] = &["openvpn", "openssl"];

/// The tun device in each namespace (the module's default).
pub const TUN: &str = "tun-e3";
/// The data channel's ciphers (as in the module).
pub const CIPHERS: &str = "AES-256-GCM:CHACHA20-POLY1305";
/// What a client logs once its tunnel is up.
const READY: &str = "Initialization Sequence Completed";

/// Where this backend keeps its files.
#[derive(Debug, Clone)]
pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    pub fn new(lab_dir: &Path) -> Files {
        Files {
            dir: lab_dir.join("openvpn"),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    pub fn ccd(&self) -> PathBuf {
        self.path("ccd")
    }
    pub fn status(&self) -> PathBuf {
        self.path("status.txt")
    }
    pub fn config(&self, host: &str) -> PathBuf {
        self.path(&format!("{host}.conf"))
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// A prefix length as a dotted netmask.
pub fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    )
}

/// Directives server and clients share (`common` in the module).
fn common(f: &Files, host: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "dev {TUN}\ndev-type tun\nproto udp\ntopology subnet");
    let _ = writeln!(s, "ca {}", p(&f.path("ca.crt")));
    let _ = writeln!(s, "cert {}", p(&f.path(&format!("{host}.crt"))));
    let _ = writeln!(s, "key {}", p(&f.path(&format!("{host}.key"))));
    let _ = writeln!(
        s,
        "data-ciphers {CIPHERS}\ntls-version-min 1.2\npersist-key\npersist-tun"
    );
    s.push_str("verb 3\n");
    s
}

/// The server's configuration: `serverConfig` of the module, with the
/// lab's paths and a status file rewritten every second.
pub fn server_config(
    f: &Files,
    server: &str,
    address: Ipv4Addr,
    mask: Ipv4Addr,
    port: u16,
) -> String {
    let mut s =
        format!("# OpenVPN server `{server}` of an e3 lab (generated; removed with the lab)\n");
    s.push_str(&common(f, server));
    let _ = writeln!(
        s,
        "mode server\ntls-server\nport {port}\nifconfig {address} {mask}"
    );
    let _ = writeln!(
        s,
        "push \"topology subnet\"\npush \"route-gateway {address}\""
    );
    let _ = writeln!(
        s,
        "client-config-dir {}\nccd-exclusive\nclient-to-client",
        p(&f.ccd())
    );
    s.push_str("dh none\nkeepalive 10 60\nverify-client-cert require\nremote-cert-tls client\n");
    let _ = writeln!(s, "status {} 1\nstatus-version 2", p(&f.status()));
    s
}

/// A client's configuration: `clientConfig` of the module.
pub fn client_config(f: &Files, host: &str, server: &str, remote: Ipv4Addr, port: u16) -> String {
    let mut s =
        format!("# OpenVPN client `{host}` of an e3 lab (generated; removed with the lab)\n");
    s.push_str(&common(f, host));
    let _ = writeln!(
        s,
        "client\nnobind\nremote {remote} {port}\nremote-cert-tls server"
    );
    let _ = writeln!(s, "verify-x509-name {server} name\nexplicit-exit-notify 1");
    s
}

/// A client's entry in the server's `client-config-dir`.
pub fn ccd_entry(address: Ipv4Addr, mask: Ipv4Addr) -> String {
    format!("ifconfig-push {address} {mask}\n")
}

/// A client the server lists in its status file (`status-version 2`:
/// `CLIENT_LIST,<common name>,<real address>,<virtual address>,…`).
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub name: String,
    pub real: String,
    pub virtual_address: Option<Ipv4Addr>,
}

pub fn parse_status(text: &str) -> Vec<Client> {
    text.lines()
        .filter_map(|l| l.strip_prefix("CLIENT_LIST,"))
        .filter_map(|rest| {
            let f: Vec<&str> = rest.split(',').collect();
            Some(Client {
                name: f.first()?.to_string(),
                real: f.get(1)?.to_string(),
                virtual_address: f.get(2).and_then(|a| a.parse().ok()),
            })
        })
        .collect()
}

/// The route between client `a` and the client with overlay address `b`
/// as the server's status file shows it: relayed through the server when
/// both are connected to it.
pub fn classify(clients: &[Client], a: &str, b: Ipv4Addr, server: &str) -> Route {
    let ca = clients.iter().find(|c| c.name == a);
    let cb = clients.iter().find(|c| c.virtual_address == Some(b));
    match (ca, cb) {
        (Some(ca), Some(cb)) => Route {
            route: RouteKind::Relayed,
            via: Some(server.to_string()),
            evidence: format!(
                "openvpn server status: `{}` connected from {}, `{}` from {}; the server forwards client-to-client",
                ca.name, ca.real, cb.name, cb.real
            ),
        },
        _ => Route {
            route: RouteKind::None,
            via: None,
            evidence: "openvpn server status: not both clients connected".into(),
        },
    }
}

/// Waits (at most 3 s) until the server has rewritten its status file
/// since this call: it does so every second, and one written before the last
/// client connected would not list it.
pub fn settle(
    lab: &mut Lab,
    _parties: &[&Host],
    _addresses: &std::collections::BTreeMap<crate::plan::HostName, Ipv4Addr>,
) {
    let status = Files::new(&lab.dir).status();
    let since = std::time::SystemTime::now();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let fresh = fs::metadata(&status)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > since);
        if fresh {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads the routes from the server's status file, once for all `peers`
/// (it holds nothing a party was told).
pub fn route(lab: &Lab, a: &Host, peers: &[Ipv4Addr]) -> BackendView {
    if peers.is_empty() {
        return BackendView::default();
    }
    // OpenVPN rewrites the file in place: a read may catch it half written,
    // so read until it is complete (`END`), a few times at most.
    let path = Files::new(&lab.dir).status();
    let mut text = None;
    for _ in 0..20 {
        text = fs::read_to_string(&path).ok();
        match &text {
            Some(t) if !t.lines().any(|l| l == "END") => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => break,
        }
    }
    let clients = text.map(|t| parse_status(&t));
    BackendView {
        routes: peers
            .iter()
            .map(|b| clients.as_ref().map(|c| classify(c, &a.name, *b, "server")))
            .collect(),
        told: None,
    }
}

/// The lab's CA and a certificate per host (the server's for `serverAuth`).
fn make_pki(f: &Files, hosts: &[&Host], lab: &str) -> Result<(), Error> {
    let (ca_key, ca_crt) = (f.path("ca.key"), f.path("ca.crt"));
    run_strings(
        "openssl",
        &crate::pki::ca_command(&ca_key, &ca_crt, &format!("e3 lab {lab} OpenVPN CA"), 2),
    )?;
    for (i, h) in hosts.iter().enumerate() {
        let usage = if h.role == Role::Hub {
            crate::pki::Usage::Server
        } else {
            crate::pki::Usage::Client
        };
        let (key, csr, crt, ext) = (
            f.path(&format!("{}.key", h.name)),
            f.path(&format!("{}.csr", h.name)),
            f.path(&format!("{}.crt", h.name)),
            f.path(&format!("{}.ext", h.name)),
        );
        super::write(&ext, crate::pki::extensions(usage, None))?;
        let leaf = crate::pki::Leaf {
            key: &key,
            csr: &csr,
            crt: &crt,
            ext: &ext,
        };
        for c in crate::pki::leaf_commands(&ca_key, &ca_crt, leaf, &h.name, i as u32 + 2, 2) {
            run_strings("openssl", &c)?;
        }
    }
    Ok(())
}

pub fn start(
    lab: &mut Lab,
    plan: &Plan,
    fault: Option<&str>,
    timeout: Duration,
) -> Result<Started, Error> {
    let server = plan
        .hosts
        .iter()
        .find(|h| h.role == Role::Hub)
        .ok_or_else(|| Error::Plan("the plan has no OpenVPN server".into()))?;
    let public = server
        .public_address
        .ok_or_else(|| Error::Plan("the OpenVPN server has no public address".into()))?;
    let address = server
        .overlay_address
        .ok_or_else(|| Error::Plan("the OpenVPN server has no overlay address".into()))?;
    let mask = netmask(plan.connectivity.overlay_prefix());
    let port = plan
        .connectivity
        .port
        .unwrap_or(crate::catalogue::ports::OPENVPN);
    let files = Files::new(&lab.dir);
    super::create_dir_all(files.ccd())?;
    let parties: Vec<&Host> = plan.parties().collect();
    let mut hosts = vec![server];
    hosts.extend(parties.iter().copied());
    make_pki(&files, &hosts, &lab.prefix)?;
    for h in &parties {
        let a = h
            .overlay_address
            .ok_or_else(|| Error::Plan(format!("party `{}` has no overlay address", h.name)))?;
        super::write(files.ccd().join(&h.name), ccd_entry(a, mask))?;
        super::write(
            files.config(&h.name),
            client_config(&files, &h.name, &server.name, public, port),
        )?;
    }
    super::write(
        files.config(&server.name),
        server_config(&files, &server.name, address, mask, port),
    )?;

    let mut started = Started::default();
    let log = lab.dir.join(format!("{}.openvpn.log", server.name));
    let conf = p(&files.config(&server.name));
    lab.spawn(
        &server.name,
        &lab.ns(&server.name),
        "openvpn",
        &["--config", &conf],
        &log,
        &log,
    )?;
    started.logs.push((server.name.to_string(), log));
    crate::sim::check_coordinator(lab, &server.name, "openvpn", fault)?;
    let mut clients = Vec::new();
    for h in &parties {
        let log = lab.dir.join(format!("{}.openvpn.log", h.name));
        let conf = p(&files.config(&h.name));
        lab.spawn(
            &h.name,
            &lab.ns(&h.name),
            "openvpn",
            &["--config", &conf],
            &log,
            &log,
        )?;
        started.logs.push((h.name.to_string(), log.clone()));
        clients.push((h, log));
    }
    // Every client's tunnel up (its log says so), or a clear error.
    let deadline = Instant::now() + timeout;
    for (h, log) in clients {
        loop {
            crate::sim::netns::check_interrupted()?;
            if fs::read_to_string(&log).unwrap_or_default().contains(READY) {
                break;
            }
            if let Some(status) = lab.exited(&h.name) {
                return Err(Error::Daemon {
                    what: format!("`openvpn` on `{}` exited ({status})", h.name,),
                    log_tail: Some(crate::sim::tail(&log)),
                });
            }
            if let Some(status) = lab.exited(&server.name) {
                return Err(Error::Daemon {
                    what: format!(
                        "the OpenVPN server exited ({status}) while `{}` connected",
                        h.name,
                    ),
                    log_tail: None,
                });
            }
            if Instant::now() > deadline {
                return Err(Error::Daemon {
                    what: format!(
                        "the OpenVPN client `{}` did not connect to the server within {} s",
                        h.name,
                        timeout.as_secs(),
                    ),
                    log_tail: Some(crate::sim::tail(&log)),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    started.relay = Some(server.name.to_string());
    started.relayed_by_construction = true;
    started.read_route = Some(route);
    started.settle = Some(settle);
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netmasks() {
        assert_eq!(netmask(16), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(0), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(netmask(32), Ipv4Addr::new(255, 255, 255, 255));
    }

    #[test]
    fn status_gives_routes() {
        let text = "TITLE,OpenVPN 2.6.14\nTIME,2026-12-01 09:00:00,1764579600\nHEADER,CLIENT_LIST,Common Name,Real Address,Virtual Address,Virtual IPv6 Address,Bytes Received,Bytes Sent,Connected Since,Connected Since (time_t),Username,Client ID,Peer ID,Data Channel Cipher\nCLIENT_LIST,alice,198.18.128.1:41000,10.9.0.1,,4000,4000,2026-12-01 09:00:00,1764579600,UNDEF,0,0,AES-256-GCM\nCLIENT_LIST,bob,198.18.128.2:52000,10.9.0.2,,4000,4000,2026-12-01 09:00:00,1764579600,UNDEF,1,1,AES-256-GCM\nHEADER,ROUTING_TABLE,Virtual Address,Common Name,Real Address,Last Ref,Last Ref (time_t)\nROUTING_TABLE,10.9.0.1,alice,198.18.128.1:41000,2026-12-01 09:00:01,1764579601\nEND\n";
        let clients = parse_status(text);
        assert_eq!(clients.len(), 2);
        assert_eq!(clients[1].name, "bob");
        assert_eq!(clients[1].virtual_address, Some(Ipv4Addr::new(10, 9, 0, 2)));
        let r = classify(&clients, "alice", Ipv4Addr::new(10, 9, 0, 2), "server");
        assert_eq!(
            (r.route, r.via.as_deref()),
            (RouteKind::Relayed, Some("server"))
        );
        assert!(r.evidence.contains("198.18.128.2:52000"), "{}", r.evidence);
        assert_eq!(
            classify(&clients, "alice", Ipv4Addr::new(10, 9, 0, 3), "server").route,
            RouteKind::None
        );
        assert!(parse_status("").is_empty());
    }

    #[test]
    fn configs_carry_the_modules_directives() {
        let f = Files::new(Path::new("/tmp/e3-1a2b-lab"));
        let mask = netmask(16);
        let s = server_config(&f, "server", Ipv4Addr::new(10, 9, 255, 1), mask, 1194);
        for d in [
            "dev tun-e3",
            "proto udp",
            "topology subnet",
            "mode server",
            "tls-server",
            "port 1194",
            "ifconfig 10.9.255.1 255.255.0.0",
            "push \"route-gateway 10.9.255.1\"",
            "ccd-exclusive",
            "client-to-client",
            "dh none",
            "verify-client-cert require",
            "remote-cert-tls client",
            "data-ciphers AES-256-GCM:CHACHA20-POLY1305",
            "tls-version-min 1.2",
            "ca /tmp/e3-1a2b-lab/openvpn/ca.crt",
            "key /tmp/e3-1a2b-lab/openvpn/server.key",
            "client-config-dir /tmp/e3-1a2b-lab/openvpn/ccd",
        ] {
            assert!(s.lines().any(|l| l == d), "server config lacks `{d}`:\n{s}");
        }
        let c = client_config(&f, "alice", "server", Ipv4Addr::new(198, 18, 0, 1), 1194);
        for d in [
            "client",
            "nobind",
            "remote 198.18.0.1 1194",
            "remote-cert-tls server",
            "verify-x509-name server name",
            "cert /tmp/e3-1a2b-lab/openvpn/alice.crt",
        ] {
            assert!(c.lines().any(|l| l == d), "client config lacks `{d}`:\n{c}");
        }
        assert_eq!(
            ccd_entry(Ipv4Addr::new(10, 9, 0, 1), mask),
            "ifconfig-push 10.9.0.1 255.255.0.0\n"
        );
        // The NixOS module has the same directives.
        let module = crate::bundled::module_files()
            .into_iter()
            .find(|(p, _)| p.ends_with("backends/openvpn.nix"))
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .expect("modules/backends/openvpn.nix is bundled");
        for d in [
            "mode server",
            "tls-server",
            "ccd-exclusive",
            "client-to-client",
            "dh none",
            "keepalive 10 60",
            "verify-client-cert require",
            "remote-cert-tls client",
            "remote-cert-tls server",
            "nobind",
            "explicit-exit-notify 1",
            "tls-version-min 1.2",
            "persist-key",
            "persist-tun",
            "topology subnet",
            "push \"topology subnet\"",
            "dev-type tun",
            "proto udp",
        ] {
            assert!(
                module.lines().any(|l| l.trim() == d),
                "the module lacks `{d}`"
            );
            assert!(s.contains(d) || c.contains(d), "the lab lacks `{d}`");
        }
        assert!(module.contains(&format!("ciphers = \"{CIPHERS}\"")));
    }
}
