//! Tailscale clients on a local Headscale, for the `tailscale` and
//! `headscale` backends (a `tailscale` simulation stands a local Headscale
//! in for Tailscale's control plane).
//!
//! The daemons are built from their Go modules at the versions the pinned
//! nixpkgs ships (`ci/go-tools.txt`, `ci/install-deps` puts them in
//! `.tools/bin/`), so the lab runs what a deployment runs. The pure pieces
//! (Headscale's configuration, the certificate commands, the command lines,
//! the parsers of Headscale's JSON, `tailscale status --json` and
//! `tailscale ping`) have unit tests; the lab tests in `tests/sim.rs` run
//! the whole backend.
//!
//! The lab, all under `<lab dir>/tailscale/` (the lab dir is 0700):
//! - the control host runs `headscale serve` on its public address over
//!   HTTPS (port 443), with the embedded DERP relay and STUN server (3478);
//! - `ca.crt`/`ca.key` is a CA made for this lab, `tls.crt`/`tls.key`
//!   Headscale's certificate for the control host's IP address;
//! - a user `e3` and one reusable pre-auth key, written to `authkey` (0600)
//!   and handed to `tailscale up` as `--auth-key=file:…`: the key is in no
//!   argv, log or report;
//! - every party runs `tailscaled` (state and socket in `n<index>/`, a TUN
//!   device `tailscale0`, UDP port 41641) and logs in with `tailscale up`;
//!   its tailnet address is read back from `tailscale status --json` and
//!   used for the probes and the MPyC party list (the plan names Tailscale
//!   parties by host name, resolved at run time); `TS_LOGS_DIR` keeps
//!   tailscaled's log configuration in that directory too (by default it
//!   writes `/var/lib/tailscale/tailscaled.log.conf` on the machine);
//! - routes come from Tailscale itself: once the program has run, every
//!   party runs `tailscale ping` to every later one, in parallel, which
//!   stops at the first pong over a direct path or after ten pongs through
//!   DERP (Tailscale's own definition of "no direct connection"); the last
//!   pong says which path, `tailscale status --json` is the fallback;
//! - each party namespace gets its own `/etc/netns/<ns>/resolv.conf`, which
//!   `ip netns exec` mounts over `/etc/resolv.conf`: with `--accept-dns=false`
//!   tailscaled should not touch DNS, and if it did, it would touch that
//!   file, never the machine's.
//!
//! TLS: Tailscale clients speak to DERP servers over TLS only (tailscale
//! `derp/derphttp/derphttp_client.go`, `useHTTPS` is true unless the DERP URL
//! is `http://` or the debug knob `TS_DEBUG_USE_DERP_HTTP` is set), and
//! Headscale's embedded DERP node is its `server_url` host and port
//! (headscale `hscontrol/derp/server/derp_server.go`, `GenerateRegion`). So
//! Headscale serves HTTPS itself (`tls_cert_path`), and every `tailscaled`
//! runs with `SSL_CERT_FILE` naming the lab CA: tailscale's `net/tlsdial`
//! verifies against the system roots first, which Go's `crypto/x509` reads
//! from `SSL_CERT_FILE` on Linux. This is how nixpkgs' own Headscale VM test
//! works too (a self-made certificate the peers trust).
//!
//! `relay: never` cannot switch DERP off here: Headscale refuses to start
//! without a DERP map, and Tailscale clients coordinate hole punching over
//! DERP. A pair that ends up relayed is reported as relayed.
//!
//! Versions: the configuration uses the keys of Headscale 0.23 and later
//! (`prefixes`, `database`, `dns`), and `preauthkeys create --user` takes the
//! numeric user ID, as since Headscale 0.26.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::catalogue::ports;
use crate::plan::{Host, HostName, Plan, Role};
use crate::sim::netns::{run_strings, Lab};
use crate::sim::{BackendView, Error, Route, RouteKind, Started};

pub const PROGRAMS: &[&str] = &["tailscaled", "tailscale", "headscale", "openssl"];

/// Tailnet addresses Headscale hands out. Inside Tailscale's 100.64.0.0/10
/// (the clients expect it), but away from the carrier segments the plan
/// numbers upward from 100.64.0.0/24 for `cgnat` sites.
pub const TAILNET_V4: &str = "100.127.0.0/16";
/// Tailscale's IPv6 range (the clients expect it).
pub const TAILNET_V6: &str = "fd7a:115c:a1e0::/48";
/// The Headscale user the parties join as.
pub const USER: &str = "e3";
/// Region of the embedded DERP relay (900–999 are free for private use).
pub const DERP_REGION_ID: u16 = 999;
pub const DERP_REGION_CODE: &str = "e3";
/// Name of the TUN device in each party namespace.
pub const TUN: &str = "tailscale0";

/// Where this backend keeps its files.
#[derive(Debug, Clone)]
pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    pub fn new(lab_dir: &Path) -> Files {
        Files {
            dir: lab_dir.join("tailscale"),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    pub fn config(&self) -> PathBuf {
        self.path("headscale.yaml")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.path("ca.key")
    }
    pub fn ca_crt(&self) -> PathBuf {
        self.path("ca.crt")
    }
    pub fn tls_key(&self) -> PathBuf {
        self.path("tls.key")
    }
    pub fn tls_csr(&self) -> PathBuf {
        self.path("tls.csr")
    }
    pub fn tls_crt(&self) -> PathBuf {
        self.path("tls.crt")
    }
    pub fn tls_ext(&self) -> PathBuf {
        self.path("tls.ext")
    }
    pub fn authkey(&self) -> PathBuf {
        self.path("authkey")
    }
    /// Headscale's CLI socket.
    pub fn headscale_socket(&self) -> PathBuf {
        self.path("headscale.sock")
    }
    /// A party's state directory (by MPyC index: short, so that socket
    /// paths stay within the 108 bytes of a Unix socket address).
    pub fn party_dir(&self, index: usize) -> PathBuf {
        self.path(&format!("n{index}"))
    }
    pub fn party_socket(&self, index: usize) -> PathBuf {
        self.party_dir(index).join("ts.sock")
    }
}

/// A string as a YAML double-quoted scalar (JSON strings are valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The URL clients log in with: HTTPS on the control host's public address.
pub fn server_url(control: Ipv4Addr) -> String {
    format!("https://{control}:{}", ports::HEADSCALE_HTTPS)
}

/// Headscale's configuration for the lab. Keys as in headscale's
/// `config-example.yaml` and `hscontrol/types/config.go` (0.23+):
/// `derp.urls: []` keeps Tailscale's public relays out (there is no
/// internet in the lab), `derp.server.ipv4` spares the clients a DNS lookup,
/// `override_local_dns: false` needs no nameservers, and no policy file
/// means every node may reach every other.
pub fn headscale_config(f: &Files, control: Ipv4Addr, lab: &str) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# Headscale of the e3 lab {lab} (generated; removed with the lab)"
    );
    let _ = writeln!(c, "server_url: {}", q(&server_url(control)));
    let _ = writeln!(
        c,
        "listen_addr: {}",
        q(&format!("0.0.0.0:{}", ports::HEADSCALE_HTTPS))
    );
    let _ = writeln!(c, "metrics_listen_addr: \"127.0.0.1:9090\"");
    let _ = writeln!(c, "grpc_listen_addr: \"127.0.0.1:50443\"");
    let _ = writeln!(c, "grpc_allow_insecure: false");
    let _ = writeln!(c, "tls_cert_path: {}", q(&p(&f.tls_crt())));
    let _ = writeln!(c, "tls_key_path: {}", q(&p(&f.tls_key())));
    let _ = writeln!(
        c,
        "noise:\n  private_key_path: {}",
        q(&p(&f.path("noise_private.key")))
    );
    let _ = writeln!(
        c,
        "prefixes:\n  v4: {}\n  v6: {}\n  allocation: sequential",
        q(TAILNET_V4),
        q(TAILNET_V6)
    );
    let _ = writeln!(c, "derp:\n  server:\n    enabled: true\n    region_id: {DERP_REGION_ID}\n    region_code: {}\n    region_name: \"e3 lab DERP\"", q(DERP_REGION_CODE));
    let _ = writeln!(
        c,
        "    stun_listen_addr: {}",
        q(&format!("0.0.0.0:{}", ports::STUN))
    );
    let _ = writeln!(
        c,
        "    private_key_path: {}",
        q(&p(&f.path("derp_server_private.key")))
    );
    let _ = writeln!(
        c,
        "    automatically_add_embedded_derp_region: true\n    ipv4: {}",
        q(&control.to_string())
    );
    let _ = writeln!(c, "  urls: []\n  paths: []\n  auto_update_enabled: false");
    let _ = writeln!(c, "disable_check_updates: true");
    let _ = writeln!(
        c,
        "database:\n  type: sqlite\n  sqlite:\n    path: {}",
        q(&p(&f.path("db.sqlite")))
    );
    let _ = writeln!(c, "dns:\n  magic_dns: false\n  base_domain: \"e3.internal\"\n  override_local_dns: false\n  nameservers:\n    global: []");
    let _ = writeln!(
        c,
        "unix_socket: {}\nunix_socket_permission: \"0770\"",
        q(&p(&f.headscale_socket()))
    );
    let _ = writeln!(c, "log:\n  level: info\n  format: text\nlogtail:\n  enabled: false\nrandomize_client_port: false");
    c
}

/// `openssl` argument lists that make the lab CA and Headscale's
/// certificate for `control` (an IP subject alternative name: Go matches an
/// IP host against IP SANs only), valid for two days. Run in order; they
/// need `Files::tls_ext` written with [`tls_extensions`] first.
pub fn certificate_commands(f: &Files, control: Ipv4Addr, lab: &str) -> Vec<Vec<String>> {
    let mut v = vec![crate::pki::ca_command(
        &f.ca_key(),
        &f.ca_crt(),
        &format!("e3 lab {lab} CA"),
        2,
    )];
    let (key, csr, crt, ext) = (f.tls_key(), f.tls_csr(), f.tls_crt(), f.tls_ext());
    let leaf = crate::pki::Leaf {
        key: &key,
        csr: &csr,
        crt: &crt,
        ext: &ext,
    };
    v.extend(crate::pki::leaf_commands(
        &f.ca_key(),
        &f.ca_crt(),
        leaf,
        &control.to_string(),
        2,
        2,
    ));
    v
}

/// X.509 v3 extensions of Headscale's certificate.
pub fn tls_extensions(control: Ipv4Addr) -> String {
    crate::pki::extensions(crate::pki::Usage::Server, Some(control))
}

/// `headscale` arguments for the server (`headscale serve`, with `-c`).
pub fn serve_args(f: &Files) -> Vec<String> {
    vec!["-c".into(), p(&f.config()), "serve".into()]
}

/// `headscale` CLI arguments: `-c CONFIG`, the command, `--output json`
/// (headscale `cmd/headscale/cli/root.go`: `--config/-c`, `--output/-o`).
pub fn cli_args(f: &Files, command: &[&str]) -> Vec<String> {
    let mut v = vec!["-c".into(), p(&f.config())];
    v.extend(command.iter().map(|s| s.to_string()));
    v.extend(["--output".into(), "json".into()]);
    v
}

/// `headscale preauthkeys create` for user `id`: reusable, for two hours
/// (headscale `cmd/headscale/cli/preauthkeys.go`: `--user` is the numeric ID
/// since 0.26, `--reusable`, `--expiration`).
pub fn preauthkey_command(id: u64) -> Vec<String> {
    [
        "preauthkeys",
        "create",
        "--user",
        &id.to_string(),
        "--reusable",
        "--expiration",
        "2h",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The program and arguments that start a party's `tailscaled` (tailscale
/// `cmd/tailscaled/tailscaled.go`: `--state`, `--statedir`, `--socket`,
/// `--tun`, `--port`, `--no-logs-no-support`), under `env` so that it
/// trusts the lab CA and keeps its log configuration in its own directory
/// (tailscale `logpolicy`: `TS_LOGS_DIR` comes first).
pub fn tailscaled_command(f: &Files, index: usize, port: u16) -> (String, Vec<String>) {
    let d = f.party_dir(index);
    let args = vec![
        format!("SSL_CERT_FILE={}", p(&f.ca_crt())),
        format!("TS_LOGS_DIR={}", p(&d)),
        "tailscaled".into(),
        format!("--state={}", p(&d.join("tailscaled.state"))),
        format!("--statedir={}", p(&d)),
        format!("--socket={}", p(&f.party_socket(index))),
        format!("--tun={TUN}"),
        format!("--port={port}"),
        "--no-logs-no-support".into(),
    ];
    ("env".into(), args)
}

/// `tailscale` arguments that log a party in (tailscale
/// `cmd/tailscale/cli/up.go`: `--auth-key` reads the key from a file when it
/// starts with `file:`; `--netfilter-mode=off` leaves the namespace's
/// firewall to e3, `--accept-dns=false` leaves DNS alone, `--timeout` bounds
/// the wait for the Running state).
pub fn up_args(
    f: &Files,
    index: usize,
    control: Ipv4Addr,
    hostname: &str,
    timeout: Duration,
) -> Vec<String> {
    vec![
        format!("--socket={}", p(&f.party_socket(index))),
        "up".into(),
        format!("--login-server={}", server_url(control)),
        format!("--auth-key=file:{}", p(&f.authkey())),
        format!("--hostname={hostname}"),
        "--accept-dns=false".into(),
        "--netfilter-mode=off".into(),
        format!("--timeout={}s", timeout.as_secs().max(1)),
    ]
}

/// `tailscale` arguments for a party's status as JSON.
pub fn status_args(f: &Files, index: usize) -> Vec<String> {
    vec![
        format!("--socket={}", p(&f.party_socket(index))),
        "status".into(),
        "--json".into(),
    ]
}

/// How many disco pings `tailscale ping` sends at most before it gives up
/// on a direct path (its default), and how long it waits for each pong.
pub const PINGS: u32 = 10;
pub const PING_TIMEOUT_S: u32 = 2;

/// `tailscale ping` from party `index` to `peer` (tailscale
/// `cmd/tailscale/cli/ping.go`: disco pings, `-c` at most, stops at the
/// first pong over a direct path since `--until-direct` is the default).
pub fn ping_args(f: &Files, index: usize, peer: Ipv4Addr) -> Vec<String> {
    vec![
        format!("--socket={}", p(&f.party_socket(index))),
        "ping".into(),
        "-c".into(),
        PINGS.to_string(),
        format!("--timeout={PING_TIMEOUT_S}s"),
        peer.to_string(),
    ]
}

/// The path of the last pong `tailscale ping` printed: an `ip:port` (a
/// direct path), `DERP(code)` or `peer-relay(ip:port:vni:N)`. Lines look
/// like `pong from bob (100.127.0.2) via 198.18.1.2:41641 in 1ms`.
pub fn parse_ping(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .filter(|l| l.starts_with("pong from "))
        .find_map(|l| {
            let via = l.split(" via ").nth(1)?;
            let via = via.rsplit_once(" in ").map_or(via, |(v, _)| v);
            Some(via.trim().to_string())
        })
}

/// What the last pong says of the route (the DERP relay is on the control
/// host, `relay_host`).
pub fn classify_ping(via: &str, relay_host: &str, pongs: usize) -> Route {
    if let Some(code) = via.strip_prefix("DERP(").and_then(|v| v.strip_suffix(')')) {
        Route {
            route: RouteKind::Relayed,
            via: Some(relay_host.to_string()),
            evidence: format!(
                "tailscale ping: {pongs} pong(s), all through DERP region `{code}`; no direct path"
            ),
        }
    } else if let Some(relay) = via
        .strip_prefix("peer-relay(")
        .and_then(|v| v.strip_suffix(')'))
    {
        Route {
            route: RouteKind::Relayed,
            via: Some(relay.split(":vni:").next().unwrap_or(relay).to_string()),
            evidence: format!("tailscale ping: pong through peer relay {relay}"),
        }
    } else {
        Route {
            route: RouteKind::Direct,
            via: None,
            evidence: format!("tailscale ping: pong direct from {via}"),
        }
    }
}

fn ping_file(lab_dir: &Path, from: &str, to: Ipv4Addr) -> PathBuf {
    lab_dir.join(format!("ping-{from}-{to}.txt"))
}

/// Runs `tailscale ping` from every party to every later one, all at once,
/// and waits for them (at most `PINGS` rounds of a pong or a time-out and a
/// second's pause). [`route`] reads what they printed.
pub fn settle(lab: &mut Lab, parties: &[&Host], addresses: &BTreeMap<HostName, Ipv4Addr>) {
    let files = Files::new(&lab.dir);
    let mut names = Vec::new();
    for (i, a) in parties.iter().enumerate() {
        let Some(index) = a.index else { continue };
        for b in &parties[i + 1..] {
            let Some(&to) = addresses.get(&b.name) else {
                continue;
            };
            let args = ping_args(&files, index, to);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = ping_file(&lab.dir, &a.name, to);
            // Unique per call: settle may run twice in one lab.
            static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("ping-{}-{}-{n}", a.name, b.name);
            if lab
                .spawn(&name, &lab.ns(&a.name), "tailscale", &refs, &out, &out)
                .is_ok()
            {
                names.push(name);
            }
        }
    }
    let bound = Duration::from_secs(u64::from(PINGS * (PING_TIMEOUT_S + 1) + 5));
    let deadline = Instant::now() + bound;
    for name in names {
        if crate::sim::netns::interrupted() || lab.wait_child(&name, deadline).is_none() {
            lab.kill_child(&name);
        }
    }
}

fn json(text: &str, what: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(text.trim())
        .map_err(|e| Error::Output(format!("cannot read {what} (not JSON: {e})")))
}

/// A numeric ID that may be printed as a number or as a string (protobuf's
/// JSON mapping writes 64-bit integers as strings).
fn id_of(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// The ID of a user from `headscale users create NAME --output json` (the
/// user object) or `users list --output json` (a list of them).
pub fn parse_user_id(text: &str, name: &str) -> Result<u64, Error> {
    let v = json(text, "Headscale's user")?;
    let users: Vec<&serde_json::Value> = match &v {
        serde_json::Value::Array(a) => a.iter().collect(),
        o => vec![o],
    };
    users
        .iter()
        .find(|u| u.get("name").and_then(|n| n.as_str()) == Some(name))
        .and_then(|u| u.get("id"))
        .and_then(id_of)
        .ok_or_else(|| Error::Output(format!("Headscale listed no user `{name}` with an ID")))
}

/// The key from `headscale preauthkeys create --output json`. The error
/// never quotes the text: it holds the secret.
pub fn parse_preauth_key(text: &str) -> Result<String, Error> {
    let v: serde_json::Value = serde_json::from_str(text.trim()).map_err(|_| {
        Error::Output("cannot read the pre-auth key Headscale printed (not JSON)".into())
    })?;
    v.get("key")
        .and_then(|k| k.as_str())
        .filter(|k| !k.is_empty() && !k.contains(char::is_whitespace))
        .map(str::to_string)
        .ok_or_else(|| Error::Output("Headscale printed no pre-auth key (`key`)".into()))
}

/// What e3 reads of `tailscale status --json` (tailscale
/// `ipn/ipnstate/ipnstate.go`: `Status` and `PeerStatus`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    /// `BackendState`: `Running` once logged in and connected.
    pub backend_state: String,
    /// `TailscaleIPs` (or `Self.TailscaleIPs`): this node's tailnet addresses.
    pub ips: Vec<IpAddr>,
    /// `Peer` (a map keyed by node key), in key order.
    pub peers: Vec<Peer>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Peer {
    /// `HostName`
    pub host_name: String,
    /// `TailscaleIPs`
    pub ips: Vec<IpAddr>,
    /// `CurAddr`: the `ip:port` packets go to directly; empty when they do not.
    pub cur_addr: String,
    /// `Relay`: the peer's home DERP region code (set even when direct).
    pub relay: String,
    /// `PeerRelay`: `ip:port:vni:N` when a Tailscale peer relay carries the
    /// traffic (newer clients; absent in older ones).
    pub peer_relay: String,
    /// `Active`: traffic in the last two minutes or so.
    pub active: bool,
    /// `RxBytes`, `TxBytes`
    pub rx_bytes: i64,
    pub tx_bytes: i64,
}

fn ips(v: Option<&serde_json::Value>) -> Vec<IpAddr> {
    v.and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|i| i.as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

fn text_of(v: &serde_json::Value, k: &str) -> String {
    v.get(k).and_then(|s| s.as_str()).unwrap_or("").to_string()
}

pub fn parse_status(text: &str) -> Result<Status, Error> {
    let v = json(text, "`tailscale status --json`")?;
    if !v.is_object() {
        return Err(Error::Output(
            "`tailscale status --json` printed no object".into(),
        ));
    }
    let mut own = ips(v.get("TailscaleIPs"));
    if own.is_empty() {
        own = ips(v.get("Self").and_then(|s| s.get("TailscaleIPs")));
    }
    let mut peers = Vec::new();
    if let Some(map) = v.get("Peer").and_then(|p| p.as_object()) {
        for ps in map.values() {
            peers.push(Peer {
                host_name: text_of(ps, "HostName"),
                ips: ips(ps.get("TailscaleIPs")),
                cur_addr: text_of(ps, "CurAddr"),
                relay: text_of(ps, "Relay"),
                peer_relay: text_of(ps, "PeerRelay"),
                active: ps.get("Active").and_then(|a| a.as_bool()).unwrap_or(false),
                rx_bytes: ps.get("RxBytes").and_then(|n| n.as_i64()).unwrap_or(0),
                tx_bytes: ps.get("TxBytes").and_then(|n| n.as_i64()).unwrap_or(0),
            });
        }
    }
    Ok(Status {
        backend_state: text_of(&v, "BackendState"),
        ips: own,
        peers,
    })
}

impl Status {
    /// This node's tailnet IPv4 address.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.ips.iter().find_map(|i| match i {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
    }

    /// The peer with tailnet address `addr`.
    pub fn peer(&self, addr: Ipv4Addr) -> Option<&Peer> {
        self.peers
            .iter()
            .find(|p| p.ips.contains(&IpAddr::V4(addr)))
    }
}

/// The route to a peer as `tailscale status` shows it: a current direct
/// address means direct; otherwise a peer relay or the DERP relay (on the
/// control host, `relay_host`) carries the traffic if the peer has seen
/// any; a peer with no traffic has no route.
pub fn classify(peer: Option<&Peer>, relay_host: &str) -> Route {
    let Some(p) = peer else {
        return Route {
            route: RouteKind::None,
            via: None,
            evidence: "tailscale status: the peer is not in the network map".into(),
        };
    };
    let traffic = p.active || p.rx_bytes > 0;
    if !p.cur_addr.is_empty() {
        Route {
            route: RouteKind::Direct,
            via: None,
            evidence: format!("tailscale status: direct to {}", p.cur_addr),
        }
    } else if !p.peer_relay.is_empty() && traffic {
        Route {
            route: RouteKind::Relayed,
            via: Some(
                p.peer_relay
                    .split(":vni:")
                    .next()
                    .unwrap_or(&p.peer_relay)
                    .to_string(),
            ),
            evidence: format!("tailscale status: through peer relay {}", p.peer_relay),
        }
    } else if !p.relay.is_empty() && traffic {
        Route {
            route: RouteKind::Relayed,
            via: Some(relay_host.to_string()),
            evidence: format!(
                "tailscale status: no direct address, DERP region `{}`",
                p.relay
            ),
        }
    } else {
        Route {
            route: RouteKind::None,
            via: None,
            evidence: "tailscale status: no traffic with the peer".into(),
        }
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    super::wireguard::write_secret(path, text)
}

fn make_private(path: &Path) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(Error::io("restrict", path))
}

/// Waits until `ready` or the deadline; fails early if the lab child `name` exited.
fn wait_for(
    lab: &mut Lab,
    name: &str,
    what: &str,
    log: &Path,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), Error> {
    let deadline = Instant::now() + limit;
    loop {
        crate::sim::netns::check_interrupted()?;
        if ready() {
            return Ok(());
        }
        if let Some(status) = lab.exited(name) {
            return Err(Error::Daemon {
                what: format!("`{name}` exited ({status}) before {what}"),
                log_tail: Some(crate::sim::tail(log)),
            });
        }
        if Instant::now() > deadline {
            return Err(Error::Daemon {
                what: format!("{what} did not happen within {} s", limit.as_secs()),
                log_tail: Some(crate::sim::tail(log)),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts Headscale on the control host and `tailscaled` on every party,
/// logs the parties in, and reads their tailnet addresses. Not run on e3's
/// development machines (see the module documentation).
pub fn start(
    lab: &mut Lab,
    plan: &Plan,
    fault: Option<&str>,
    timeout: Duration,
) -> Result<Started, Error> {
    let control = plan
        .hosts
        .iter()
        .find(|h| h.role == Role::Control)
        .ok_or_else(|| Error::Plan("the plan has no control host".into()))?;
    let public = control
        .public_address
        .ok_or_else(|| Error::Plan("the control host has no public address".into()))?;
    let files = Files::new(&lab.dir);
    super::create_dir_all(&files.dir)?;

    // Certificates.
    super::write(files.tls_ext(), tls_extensions(public))?;
    for c in certificate_commands(&files, public, &lab.prefix) {
        run_strings("openssl", &c)?;
    }
    make_private(&files.ca_key())?;
    make_private(&files.tls_key())?;

    // Headscale.
    super::write(
        files.config(),
        headscale_config(&files, public, &lab.prefix),
    )?;
    let log = lab.dir.join(format!("{}.headscale.log", control.name));
    let serve = serve_args(&files);
    let refs: Vec<&str> = serve.iter().map(String::as_str).collect();
    lab.spawn(
        &control.name,
        &lab.ns(&control.name),
        "headscale",
        &refs,
        &log,
        &log,
    )?;
    crate::sim::check_coordinator(lab, &control.name, "headscale", fault)?;
    let list = cli_args(&files, &["users", "list"]);
    wait_for(
        lab,
        &control.name,
        "Headscale answered on its socket",
        &log,
        Duration::from_secs(20),
        || run_strings("headscale", &list).is_ok(),
    )?;
    let created = run_strings("headscale", &cli_args(&files, &["users", "create", USER]))?;
    let id = parse_user_id(&created, USER)?;
    // stdout holds the key: not kept, not quoted in any error.
    let command = preauthkey_command(id);
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    let key = run_strings("headscale", &cli_args(&files, &command))
        .and_then(|out| parse_preauth_key(&out))?;
    write_private(&files.authkey(), &key)?;

    // tailscaled on every party.
    let port = plan.connectivity.port.unwrap_or(ports::TAILSCALE);
    let parties: Vec<&Host> = plan.parties().collect();
    let mut started = Started::default();
    started.logs.push((control.name.to_string(), log));
    for h in &parties {
        let index = h.index.unwrap_or_default();
        let ns = lab.ns(&h.name);
        let dir = files.party_dir(index);
        super::create_dir_all(&dir)?;
        super::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let sock = files.party_socket(index);
        if sock.as_os_str().len() > 107 {
            return Err(Error::SocketPath(sock));
        }
        let etc = PathBuf::from("/etc/netns").join(&ns);
        let resolv = etc.join("resolv.conf");
        lab.add_file(resolv.clone())?;
        super::create_dir_all(&etc)?;
        super::write(
            &resolv,
            format!(
                "# e3 lab {}: /etc/resolv.conf of namespace {ns} (no DNS in the lab)\n",
                lab.prefix
            ),
        )?;
        let (program, args) = tailscaled_command(&files, index, port);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let log = lab.dir.join(format!("{}.tailscaled.log", h.name));
        lab.spawn(&h.name, &ns, &program, &refs, &log, &log)?;
        started.logs.push((h.name.to_string(), log.clone()));
        wait_for(
            lab,
            &h.name,
            "tailscaled opened its socket",
            &log,
            Duration::from_secs(10),
            || sock.exists(),
        )?;
    }
    // Log every party in at once, then wait for each.
    let mut ups = Vec::new();
    for h in &parties {
        let index = h.index.unwrap_or_default();
        let args = up_args(&files, index, public, &h.name, timeout);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let name = format!("up-{}", h.name);
        let out = lab.dir.join(format!("{name}.log"));
        lab.spawn(&name, &lab.ns(&h.name), "tailscale", &refs, &out, &out)?;
        ups.push((h, name, out));
    }
    for (h, name, out) in ups {
        let status = lab.wait_child(&name, Instant::now() + timeout + Duration::from_secs(5));
        crate::sim::netns::check_interrupted()?;
        match status {
            Some(s) if s.success() => {}
            Some(s) => {
                return Err(Error::Command {
                    command: format!("`tailscale up` on `{}`", h.name),
                    status: s.to_string(),
                    stderr: crate::sim::tail(&out),
                })
            }
            None => {
                return Err(Error::Timeout {
                    command: format!("`tailscale up` on `{}`", h.name),
                    within: Duration::from_secs(timeout.as_secs()),
                })
            }
        }
        let status = run_strings(
            "tailscale",
            &status_args(&files, h.index.unwrap_or_default()),
        )
        .and_then(|t| parse_status(&t))?;
        let addr = status.ipv4().ok_or_else(|| Error::Daemon {
            what: format!(
                "`{}` has no tailnet IPv4 address after `tailscale up` (state `{}`)",
                h.name, status.backend_state
            ),
            log_tail: None,
        })?;
        started.addresses.insert(h.name.clone(), addr);
    }
    started.relay = Some(control.name.to_string());
    started.read_route = Some(route);
    started.settle = Some(settle);
    Ok(started)
}

/// Every underlay address `tailscale status --json` holds for the peers:
/// their `Addrs` (the endpoints the control server told) and `CurAddr`.
pub fn status_addresses(text: &str) -> Result<Vec<Ipv4Addr>, Error> {
    let v = json(text, "`tailscale status --json`")?;
    let endpoint = |s: &str| s.parse::<std::net::SocketAddrV4>().ok().map(|s| *s.ip());
    let mut out = Vec::new();
    for ps in v
        .get("Peer")
        .and_then(|p| p.as_object())
        .into_iter()
        .flat_map(|m| m.values())
    {
        let addrs = ps.get("Addrs").and_then(|a| a.as_array());
        out.extend(
            addrs
                .into_iter()
                .flatten()
                .filter_map(|a| endpoint(a.as_str()?)),
        );
        out.extend(endpoint(&text_of(ps, "CurAddr")));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The routes from party `a` to the peers with tailnet addresses `peers`:
/// the last pong of [`settle`]'s `tailscale ping` to each, else `a`'s
/// `tailscale status --json`, read once (bounded), which also gives the
/// underlay addresses its tailscaled holds for its peers.
pub fn route(lab: &Lab, a: &Host, peers: &[Ipv4Addr]) -> BackendView {
    let files = Files::new(&lab.dir);
    let text = a.index.and_then(|index| {
        let mut cmd = std::process::Command::new("tailscale");
        cmd.args(status_args(&files, index));
        crate::sim::routes::run_bounded(cmd, "tailscale", crate::sim::routes::COMMAND_TIMEOUT).ok()
    });
    let status = text.as_deref().and_then(|t| parse_status(t).ok());
    let routes = peers
        .iter()
        .map(|b| {
            let pinged = fs::read_to_string(ping_file(&lab.dir, &a.name, *b)).unwrap_or_default();
            if let Some(via) = parse_ping(&pinged) {
                let pongs = pinged
                    .lines()
                    .filter(|l| l.starts_with("pong from "))
                    .count();
                return Some(classify_ping(&via, "control", pongs));
            }
            status.as_ref().map(|s| classify(s.peer(*b), "control"))
        })
        .collect();
    BackendView {
        routes,
        told: text.as_deref().and_then(|t| status_addresses(t).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Node;

    fn files() -> Files {
        Files::new(Path::new("/tmp/e3-1a2b-lab"))
    }

    const CONTROL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    fn yaml(text: &str) -> Node {
        crate::yaml::parse(0, text)
            .expect("valid YAML")
            .expect("a document")
    }

    fn at<'a>(n: &'a Node, path: &str) -> &'a Node {
        path.split('.').fold(n, |n, k| {
            n.get(k).unwrap_or_else(|| panic!("no `{path}` (at `{k}`)"))
        })
    }

    fn s<'a>(n: &'a Node, path: &str) -> &'a str {
        at(n, path)
            .as_scalar()
            .unwrap_or_else(|| panic!("`{path}` is not a scalar"))
    }

    #[test]
    fn headscale_config_has_what_headscale_requires() {
        let text = headscale_config(&files(), CONTROL, "e3-1a2b");
        let c = yaml(&text);
        assert_eq!(s(&c, "server_url"), "https://198.18.0.1:443");
        assert_eq!(s(&c, "listen_addr"), "0.0.0.0:443");
        assert_eq!(s(&c, "tls_cert_path"), "/tmp/e3-1a2b-lab/tailscale/tls.crt");
        assert_eq!(s(&c, "tls_key_path"), "/tmp/e3-1a2b-lab/tailscale/tls.key");
        // config.go: fatal without noise.private_key_path
        assert_eq!(
            s(&c, "noise.private_key_path"),
            "/tmp/e3-1a2b-lab/tailscale/noise_private.key"
        );
        // prefixes inside Tailscale's ranges, clear of the plan's carrier segments
        assert_eq!(s(&c, "prefixes.v4"), "100.127.0.0/16");
        assert_eq!(s(&c, "prefixes.v6"), "fd7a:115c:a1e0::/48");
        // embedded DERP: a STUN address is required when enabled; no outside DERP maps
        assert_eq!(s(&c, "derp.server.enabled"), "true");
        assert_eq!(s(&c, "derp.server.stun_listen_addr"), "0.0.0.0:3478");
        assert_eq!(s(&c, "derp.server.region_id"), "999");
        assert_eq!(s(&c, "derp.server.ipv4"), "198.18.0.1");
        assert_eq!(
            s(&c, "derp.server.automatically_add_embedded_derp_region"),
            "true"
        );
        assert_eq!(at(&c, "derp.urls").as_seq().map(<[Node]>::len), Some(0));
        assert_eq!(at(&c, "derp.paths").as_seq().map(<[Node]>::len), Some(0));
        assert_eq!(s(&c, "database.type"), "sqlite");
        assert_eq!(
            s(&c, "database.sqlite.path"),
            "/tmp/e3-1a2b-lab/tailscale/db.sqlite"
        );
        // config.go: override_local_dns needs global nameservers; base_domain must not contain the server's host
        assert_eq!(s(&c, "dns.override_local_dns"), "false");
        assert!(!s(&c, "server_url").contains(s(&c, "dns.base_domain")));
        assert_eq!(
            s(&c, "unix_socket"),
            "/tmp/e3-1a2b-lab/tailscale/headscale.sock"
        );
        assert_eq!(s(&c, "disable_check_updates"), "true");
        assert_eq!(s(&c, "logtail.enabled"), "false");
        // no keys of the pre-0.23 format (headscale refuses them)
        for old in [
            "ip_prefixes",
            "db_type",
            "db_path",
            "dns_config",
            "acl_policy_path",
        ] {
            assert!(c.get(old).is_none(), "{old}");
        }
        // every path lies in the lab's directory
        let paths: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("path: \"") || l.contains("socket: \""))
            .collect();
        assert_eq!(paths.len(), 6, "{text}");
        assert!(
            paths
                .iter()
                .all(|l| l.contains("\"/tmp/e3-1a2b-lab/tailscale/")),
            "{text}"
        );
    }

    #[test]
    fn config_quotes_odd_paths() {
        let f = Files::new(Path::new("/tmp/a \"b\": #c"));
        let c = yaml(&headscale_config(&f, CONTROL, "e3-0000"));
        assert_eq!(
            s(&c, "database.sqlite.path"),
            "/tmp/a \"b\": #c/tailscale/db.sqlite"
        );
    }

    #[test]
    fn daemon_and_cli_command_lines() {
        let f = files();
        let (program, args) = tailscaled_command(&f, 3, 41641);
        assert_eq!(program, "env");
        assert_eq!(
            args,
            [
                "SSL_CERT_FILE=/tmp/e3-1a2b-lab/tailscale/ca.crt",
                "TS_LOGS_DIR=/tmp/e3-1a2b-lab/tailscale/n3",
                "tailscaled",
                "--state=/tmp/e3-1a2b-lab/tailscale/n3/tailscaled.state",
                "--statedir=/tmp/e3-1a2b-lab/tailscale/n3",
                "--socket=/tmp/e3-1a2b-lab/tailscale/n3/ts.sock",
                "--tun=tailscale0",
                "--port=41641",
                "--no-logs-no-support",
            ]
        );
        let up = up_args(&f, 3, CONTROL, "home", Duration::from_secs(60));
        assert_eq!(
            up,
            [
                "--socket=/tmp/e3-1a2b-lab/tailscale/n3/ts.sock",
                "up",
                "--login-server=https://198.18.0.1:443",
                "--auth-key=file:/tmp/e3-1a2b-lab/tailscale/authkey",
                "--hostname=home",
                "--accept-dns=false",
                "--netfilter-mode=off",
                "--timeout=60s",
            ]
        );
        assert_eq!(
            status_args(&f, 3),
            [
                "--socket=/tmp/e3-1a2b-lab/tailscale/n3/ts.sock",
                "status",
                "--json"
            ]
        );
        assert_eq!(
            serve_args(&f),
            ["-c", "/tmp/e3-1a2b-lab/tailscale/headscale.yaml", "serve"]
        );
        assert_eq!(
            cli_args(&f, &["users", "create", USER]),
            [
                "-c",
                "/tmp/e3-1a2b-lab/tailscale/headscale.yaml",
                "users",
                "create",
                "e3",
                "--output",
                "json"
            ]
        );
        assert_eq!(
            preauthkey_command(7),
            [
                "preauthkeys",
                "create",
                "--user",
                "7",
                "--reusable",
                "--expiration",
                "2h"
            ]
        );
        // the key itself is never an argument
        assert!(up
            .iter()
            .chain(args.iter())
            .all(|a| !a.starts_with("--auth-key=") || a.starts_with("--auth-key=file:")));
    }

    #[test]
    fn headscale_json_outputs() {
        // users create prints the user; protobuf JSON may write the 64-bit ID as a string
        assert_eq!(
            parse_user_id(
                r#"{"id": 1, "name": "e3", "created_at": "2025-01-01T00:00:00Z"}"#,
                "e3"
            )
            .ok(),
            Some(1)
        );
        assert_eq!(
            parse_user_id(
                r#"[{"id": "4", "name": "other"}, {"id": "5", "name": "e3"}]"#,
                "e3"
            )
            .ok(),
            Some(5)
        );
        assert!(parse_user_id(r#"[{"id": 4, "name": "other"}]"#, "e3").is_err());
        assert!(parse_user_id("Error: user exists", "e3").is_err());
        let key = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";
        let out = format!(
            r#"{{"user": {{"id": "1", "name": "e3"}}, "id": "1", "key": "{key}", "reusable": true, "ephemeral": false, "used": false}}"#
        );
        assert_eq!(parse_preauth_key(&out).ok().as_deref(), Some(key));
        // errors never quote the secret
        let bad = format!(r#"{{"key": "{key} "#);
        let e = parse_preauth_key(&bad).unwrap_err().to_string();
        assert!(!e.contains(key), "{e}");
        assert!(parse_preauth_key(r#"{"key": ""}"#).is_err());
    }

    /// A `tailscale status --json` as tailscaled prints it: field names of
    /// `ipnstate.Status` and `ipnstate.PeerStatus` (tailscale
    /// `ipn/ipnstate/ipnstate.go`), `Peer` keyed by node key, addresses as
    /// strings, times in RFC 3339. `alice` sees `bob` directly (`CurAddr`
    /// set), `carol` only through DERP (`Relay`, no `CurAddr`), and `dave`
    /// has never exchanged a packet.
    const STATUS: &str = r#"{
  "Version": "1.82.5-t1234abcd-gdeadbeef",
  "TUN": true,
  "BackendState": "Running",
  "HaveNodeKey": true,
  "AuthURL": "",
  "TailscaleIPs": ["100.127.0.1", "fd7a:115c:a1e0::1"],
  "Self": {
    "ID": "1",
    "PublicKey": "nodekey:1111111111111111111111111111111111111111111111111111111111111111",
    "HostName": "alice",
    "DNSName": "alice.e3.internal.",
    "OS": "linux",
    "UserID": 1,
    "TailscaleIPs": ["100.127.0.1", "fd7a:115c:a1e0::1"],
    "Addrs": ["198.18.128.1:41641", "10.128.0.2:41641"],
    "CurAddr": "",
    "Relay": "e3",
    "RxBytes": 0,
    "TxBytes": 0,
    "Created": "2025-01-01T00:00:00Z",
    "LastWrite": "0001-01-01T00:00:00Z",
    "LastSeen": "0001-01-01T00:00:00Z",
    "LastHandshake": "0001-01-01T00:00:00Z",
    "Online": true,
    "ExitNode": false,
    "ExitNodeOption": false,
    "Active": false,
    "PeerAPIURL": ["http://100.127.0.1:45678"],
    "InNetworkMap": true,
    "InMagicSock": false,
    "InEngine": false
  },
  "Health": [],
  "MagicDNSSuffix": "e3.internal",
  "CurrentTailnet": {"Name": "e3", "MagicDNSSuffix": "e3.internal", "MagicDNSEnabled": false},
  "CertDomains": null,
  "Peer": {
    "nodekey:2222222222222222222222222222222222222222222222222222222222222222": {
      "ID": "2", "PublicKey": "nodekey:2222222222222222222222222222222222222222222222222222222222222222",
      "HostName": "bob", "DNSName": "bob.e3.internal.", "OS": "linux", "UserID": 1,
      "TailscaleIPs": ["100.127.0.2", "fd7a:115c:a1e0::2"],
      "Addrs": ["198.18.128.2:41641", "10.128.1.2:41641"],
      "CurAddr": "198.18.128.2:41641", "Relay": "e3",
      "RxBytes": 5120, "TxBytes": 4096,
      "Created": "2025-01-01T00:00:01Z", "LastWrite": "2025-01-01T00:00:09Z",
      "LastSeen": "0001-01-01T00:00:00Z", "LastHandshake": "2025-01-01T00:00:05Z",
      "Online": true, "ExitNode": false, "ExitNodeOption": false, "Active": true,
      "PeerAPIURL": ["http://100.127.0.2:45678"],
      "InNetworkMap": true, "InMagicSock": true, "InEngine": true
    },
    "nodekey:3333333333333333333333333333333333333333333333333333333333333333": {
      "ID": "3", "PublicKey": "nodekey:3333333333333333333333333333333333333333333333333333333333333333",
      "HostName": "carol", "DNSName": "carol.e3.internal.", "OS": "linux", "UserID": 1,
      "TailscaleIPs": ["100.127.0.3", "fd7a:115c:a1e0::3"],
      "Addrs": ["198.18.128.3:61234"],
      "CurAddr": "", "Relay": "e3",
      "RxBytes": 2048, "TxBytes": 2048,
      "Created": "2025-01-01T00:00:02Z", "LastWrite": "2025-01-01T00:00:09Z",
      "LastSeen": "0001-01-01T00:00:00Z", "LastHandshake": "2025-01-01T00:00:06Z",
      "Online": true, "ExitNode": false, "ExitNodeOption": false, "Active": true,
      "PeerAPIURL": ["http://100.127.0.3:45678"],
      "InNetworkMap": true, "InMagicSock": true, "InEngine": true
    },
    "nodekey:4444444444444444444444444444444444444444444444444444444444444444": {
      "ID": "4", "PublicKey": "nodekey:4444444444444444444444444444444444444444444444444444444444444444",
      "HostName": "dave", "DNSName": "dave.e3.internal.", "OS": "linux", "UserID": 1,
      "TailscaleIPs": ["100.127.0.4", "fd7a:115c:a1e0::4"],
      "Addrs": null, "CurAddr": "", "Relay": "e3",
      "RxBytes": 0, "TxBytes": 0,
      "Created": "2025-01-01T00:00:03Z", "LastWrite": "0001-01-01T00:00:00Z",
      "LastSeen": "0001-01-01T00:00:00Z", "LastHandshake": "0001-01-01T00:00:00Z",
      "Online": true, "ExitNode": false, "ExitNodeOption": false, "Active": false,
      "PeerAPIURL": null,
      "InNetworkMap": true, "InMagicSock": true, "InEngine": false
    }
  },
  "User": {"1": {"ID": 1, "LoginName": "e3", "DisplayName": "e3", "ProfilePicURL": ""}},
  "ClientVersion": null
}"#;

    #[test]
    fn status_gives_addresses_and_routes() {
        let st = parse_status(STATUS).expect("parses");
        assert_eq!(st.backend_state, "Running");
        assert_eq!(st.ipv4(), Some(Ipv4Addr::new(100, 127, 0, 1)));
        assert_eq!(st.peers.len(), 3);
        let route = |last: u8| classify(st.peer(Ipv4Addr::new(100, 127, 0, last)), "control");
        let bob = route(2);
        assert_eq!((bob.route, bob.via.as_deref()), (RouteKind::Direct, None));
        assert!(
            bob.evidence.contains("198.18.128.2:41641"),
            "{}",
            bob.evidence
        );
        let carol = route(3);
        assert_eq!(
            (carol.route, carol.via.as_deref()),
            (RouteKind::Relayed, Some("control"))
        );
        assert!(
            carol.evidence.contains("DERP region `e3`"),
            "{}",
            carol.evidence
        );
        assert_eq!(route(4).route, RouteKind::None);
        assert_eq!(route(9).route, RouteKind::None); // not in the map

        // a peer relay (newer clients) is a relayed route through that host
        let mut st2 = st.clone();
        st2.peers[1].peer_relay = "198.18.1.9:7777:vni:1".into();
        let pr = classify(st2.peer(Ipv4Addr::new(100, 127, 0, 3)), "control");
        assert_eq!(
            (pr.route, pr.via.as_deref()),
            (RouteKind::Relayed, Some("198.18.1.9:7777"))
        );
        // older clients print the own addresses only under Self
        let old = STATUS.replacen(
            r#""TailscaleIPs": ["100.127.0.1", "fd7a:115c:a1e0::1"],"#,
            "",
            1,
        );
        assert_eq!(
            parse_status(&old).expect("parses").ipv4(),
            Some(Ipv4Addr::new(100, 127, 0, 1))
        );
        assert!(parse_status("tailscaled is not running").is_err());
        assert!(parse_status("[]").is_err());
    }

    #[test]
    fn ping_output_gives_the_route() {
        // as cmd/tailscale/cli/ping.go prints: DERP first, then direct
        let direct = "pong from bob (100.127.0.2, 45678) via DERP(e3) in 3ms\npong from bob (100.127.0.2, 45678) via 198.18.1.2:41641 in 1ms\n";
        assert_eq!(parse_ping(direct).as_deref(), Some("198.18.1.2:41641"));
        let r = classify_ping(&parse_ping(direct).unwrap(), "control", 2);
        assert_eq!((r.route, r.via.as_deref()), (RouteKind::Direct, None));
        assert!(r.evidence.contains("198.18.1.2:41641"), "{}", r.evidence);
        let derp = "pong from carol (100.127.0.3) via DERP(e3) in 2ms\nping \"100.127.0.3\" timed out\npong from carol (100.127.0.3) via DERP(e3) in 2ms\ndirect connection not established\n";
        assert_eq!(parse_ping(derp).as_deref(), Some("DERP(e3)"));
        let r = classify_ping("DERP(e3)", "control", 2);
        assert_eq!(
            (r.route, r.via.as_deref()),
            (RouteKind::Relayed, Some("control"))
        );
        assert!(r.evidence.contains("DERP region `e3`"), "{}", r.evidence);
        let pr = classify_ping("peer-relay(198.18.1.9:7777:vni:1)", "control", 1);
        assert_eq!(
            (pr.route, pr.via.as_deref()),
            (RouteKind::Relayed, Some("198.18.1.9:7777"))
        );
        assert_eq!(parse_ping("no reply\n"), None);
        assert_eq!(parse_ping(""), None);
        assert_eq!(
            ping_args(&files(), 1, Ipv4Addr::new(100, 127, 0, 2)),
            [
                "--socket=/tmp/e3-1a2b-lab/tailscale/n1/ts.sock",
                "ping",
                "-c",
                "10",
                "--timeout=2s",
                "100.127.0.2"
            ]
        );
    }

    /// The certificate commands run with the real `openssl`: the chain
    /// verifies, the certificate names the control host's IP address and is
    /// for TLS servers.
    #[test]
    fn certificates_verify_with_openssl() {
        if !crate::tools::on_path("openssl") {
            if std::env::var_os("E3_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
                panic!("openssl is missing, and E3_REQUIRE_TOOLS=1");
            }
            eprintln!("skipped: needs openssl");
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let f = Files::new(tmp.path());
        fs::create_dir_all(&f.dir).expect("dir");
        fs::write(f.tls_ext(), tls_extensions(CONTROL)).expect("ext");
        for c in certificate_commands(&f, CONTROL, "e3-1a2b") {
            run_strings("openssl", &c).unwrap_or_else(|e| panic!("openssl {}: {e}", c.join(" ")));
        }
        let verify = run_strings(
            "openssl",
            &[
                "verify".into(),
                "-purpose".into(),
                "sslserver".into(),
                "-CAfile".into(),
                p(&f.ca_crt()),
                p(&f.tls_crt()),
            ],
        )
        .expect("chain verifies");
        assert!(verify.contains(": OK"), "{verify}");
        let text = run_strings(
            "openssl",
            &[
                "x509".into(),
                "-in".into(),
                p(&f.tls_crt()),
                "-noout".into(),
                "-text".into(),
            ],
        )
        .expect("x509");
        assert!(text.contains("IP Address:198.18.0.1"), "{text}");
        assert!(text.contains("TLS Web Server Authentication"), "{text}");
        let ca = run_strings(
            "openssl",
            &[
                "x509".into(),
                "-in".into(),
                p(&f.ca_crt()),
                "-noout".into(),
                "-text".into(),
            ],
        )
        .expect("x509");
        assert!(ca.contains("CA:TRUE"), "{ca}");
        // another address does not verify
        let other = run_strings(
            "openssl",
            &[
                "verify".into(),
                "-verify_ip".into(),
                "198.18.0.2".into(),
                "-CAfile".into(),
                p(&f.ca_crt()),
                p(&f.tls_crt()),
            ],
        );
        assert!(other.is_err(), "{other:?}");
    }
}
