//! `e3 sim`: runs a [`Plan`] as a lab of Linux network namespaces on this
//! machine (root needed): an `internet` namespace with a bridge, a namespace
//! per router (NAT with nftables, [`nat`]), per party and per control host;
//! the real overlay daemons ([`backends`]); the scenario's MPyC program on
//! every party over the overlay addresses; a [`report::Report`].
//!
//! Everything the lab creates is registered in [`netns::Lab`] first and torn
//! down on success, failure, Ctrl-C and SIGTERM; `e3 sim --cleanup` removes
//! what a crashed run left.
//!
//! Test faults ([`Options::test_fault`], the hidden `--test-fault` of `e3
//! sim`): `kill-coordinator` kills the coordinator's daemon (lighthouse,
//! hub, bootstrap node, Headscale, the OpenVPN server) right after it
//! starts, before the parties start; `kill-coordinator-after-overlay` kills
//! it once the overlay is up, before the program runs (what survives
//! without it: Headscale's embedded DERP relay and Nebula's relay go with
//! it, direct tunnels stay); `different-program:HOST` gives one party a
//! program that differs by a comment. Faults of a running lab are
//! [`fault`]'s.

pub mod backends;
pub mod capture;
pub mod delay;
pub mod error;
pub mod fault;
pub mod latency;
pub mod live;
pub mod netns;
pub mod privacy;
pub mod report;
pub mod routes;
pub mod session;
pub mod versions;
pub mod wire;

pub use error::Error;

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::catalogue::{Backend, Nat};
use crate::nat;
use crate::plan::{Host, HostName, Plan, Role, SegmentName};
use crate::tools::on_path;
use netns::{ns_run, run, Lab};
use report::{PairReport, Report};

/// Options of one lab run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Limit for the overlay to come up, and separately for the MPyC run.
    pub timeout: Duration,
    /// Python with MPyC; found automatically when `None`.
    pub python: Option<PathBuf>,
    /// Progress lines on stderr.
    pub progress: bool,
    /// How to apply `simulation.latency` (`--latency`); `None`: netem where
    /// the kernel has it, else e3's delay line.
    pub latency: Option<latency::Method>,
    /// The lab outlives the process (`e3 lab up`): daemons in their own
    /// process groups, and no delay line (it is a thread of e3).
    pub detach: bool,
    /// A test fault (see the module documentation).
    pub test_fault: Option<String>,
    /// The versions of what the backend runs, when the caller asked them
    /// already ([`versions::collect`]; `e3 grid` asks once per backend).
    pub versions: Option<BTreeMap<String, String>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(60),
            python: None,
            progress: true,
            latency: None,
            detach: false,
            test_fault: None,
            versions: None,
        }
    }
}

/// What a backend started.
#[derive(Debug, Default)]
pub struct Started {
    /// (host, daemon log)
    pub logs: Vec<(String, PathBuf)>,
    /// The host that relays when a direct path fails.
    pub relay: Option<String>,
    /// Every pair goes through `relay` (WireGuard hub).
    pub relayed_by_construction: bool,
    /// Overlay addresses the backend learnt at run time, by host (Tailscale:
    /// what Headscale assigned); they take the place of the plan's.
    pub addresses: BTreeMap<HostName, Ipv4Addr>,
    /// Reads the routes from party `a` to the overlay addresses of its peers
    /// from the backend itself, and in the same read, where it shows them,
    /// the underlay addresses the backend holds for its peers (for
    /// [`privacy`]'s exposure; then [`Started::read_told`] is not asked);
    /// without it the report reads conntrack.
    pub read_route: Option<RouteReader>,
    /// Runs once before the routes are read, when the backend finds its
    /// paths over time (Tailscale: `tailscale ping` between every pair).
    pub settle: Option<Settle>,
    /// Reads the underlay addresses a party's backend holds for its peers
    /// (for [`privacy`]'s exposure) where [`Started::read_route`] did not;
    /// without either the report says it cannot be seen.
    pub read_told: Option<ToldReader>,
}

/// See [`Started::read_told`]: `None` when the backend cannot be asked.
pub type ToldReader = fn(&Lab, &Host) -> Option<Vec<Ipv4Addr>>;

/// See [`Started::settle`]: the lab, the parties, their overlay addresses.
pub type Settle = fn(&mut Lab, &[&Host], &BTreeMap<HostName, Ipv4Addr>);

/// Reads the routes from party `a` to its peers' overlay addresses from the
/// backend, once for all of them, and what the same read shows of the
/// underlay addresses it holds ([`BackendView`]). Called for every party,
/// several at once ([`routes::read_views`]); the last party is asked about
/// no peers (for what it was told).
pub type RouteReader = fn(&Lab, &Host, &[Ipv4Addr]) -> BackendView;

/// What one read of a party's backend says about its peers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackendView {
    /// The route to each peer asked about, in their order (`None` where the
    /// backend cannot say; the report then reads conntrack).
    pub routes: Vec<Option<Route>>,
    /// The underlay addresses the backend holds for its peers, when this
    /// read shows them; else [`Started::read_told`] is asked, if the backend
    /// has one. Nebula and Tailscale have none: their one read is bounded by
    /// [`routes::COMMAND_TIMEOUT`], and a read that did not answer in time
    /// leaves `told` unknown (`null` in the report's exposure).
    pub told: Option<Vec<Ipv4Addr>>,
}

/// How a pair of parties reaches each other: the `route` of a report's
/// pair (`report.json`, serialised as `direct`, `relayed` or `none`), the
/// grid's routes (`a-b: relayed`), and what the backends' route readers
/// classify. A grid cell's [`crate::grid::Outcome`] is `relayed` when the
/// program succeeded and some pair was [`RouteKind::Relayed`], else `direct`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    /// The two talk over the underlay directly (a hole punched, or public).
    Direct,
    /// Through a relay, or a hub every spoke peers with.
    Relayed,
    /// No path.
    None,
}

impl RouteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Direct => "direct",
            RouteKind::Relayed => "relayed",
            RouteKind::None => "none",
        }
    }
}

impl std::fmt::Display for RouteKind {
    /// The serialised name; honours width and alignment (the report's table pads it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A pair's route as a backend reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub route: RouteKind,
    pub via: Option<String>,
    pub evidence: String,
}

/// The last lines of a log, for error messages.
pub fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    let t = lines[start..].join(" | ");
    if t.is_empty() {
        "(no output)".into()
    } else {
        t
    }
}

/// Checks that the coordinator's daemon stayed up (and injects the
/// `kill-coordinator` fault).
pub fn check_coordinator(
    lab: &mut Lab,
    host: &str,
    daemon: &str,
    fault: Option<&str>,
) -> Result<(), Error> {
    if fault == Some("kill-coordinator") {
        lab.kill_child(host);
    }
    let deadline = Instant::now() + Duration::from_millis(400);
    while Instant::now() < deadline {
        if let Some(status) = lab.exited(host) {
            let log = lab.dir.join(format!(
                "{host}.{}.log",
                daemon
                    .split('-')
                    .next()
                    .unwrap_or(daemon)
                    .trim_end_matches('d')
            ));
            let log = if log.exists() {
                tail(&log)
            } else {
                String::from("(see the daemon log)")
            };
            return Err(Error::CoordinatorExited {
                host: host.to_string(),
                daemon: daemon.to_string(),
                status: status.to_string(),
                log_tail: log,
            });
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(())
}

/// Whether this process runs as root (effective user 0).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|u| u.split_whitespace().nth(1) == Some("0"))
            })
        })
        .unwrap_or(false)
}

/// Programs a backend needs on PATH.
pub fn required_programs(backend: Backend) -> Vec<&'static str> {
    let mut p = vec!["ip", "nft", "conntrack", "sysctl", "tcpdump"];
    p.extend_from_slice(match backend {
        Backend::Nebula => backends::nebula::PROGRAMS,
        Backend::Wireguard => backends::wireguard::PROGRAMS,
        Backend::Tinc => backends::tinc::PROGRAMS,
        Backend::Openvpn => backends::openvpn::PROGRAMS,
        Backend::Tailscale | Backend::Headscale => backends::headscale::PROGRAMS,
        Backend::Direct => &[],
    });
    p
}

/// Can this machine run a lab of `backend`? `Err` says what is missing.
pub fn preflight(backend: Backend) -> Result<(), Error> {
    if !is_root() {
        return Err(Error::NotRoot);
    }
    let missing: Vec<String> = required_programs(backend)
        .into_iter()
        .filter(|p| !on_path(p))
        .map(str::to_string)
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingTools {
            backend,
            tools: missing,
        });
    }
    Ok(())
}

/// Finds a Python with MPyC: `$E3_PYTHON`, or `.venv/bin/python` in the
/// current directory, next to the `e3` binary, or in the source tree.
pub fn find_python() -> Result<PathBuf, Error> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("E3_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().map(Path::to_path_buf));
    }
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    candidates.extend(roots.iter().map(|r| r.join(".venv/bin/python")));
    for c in &candidates {
        if c.is_file() && run(&c.display().to_string(), &["-c", "import mpyc"]).is_ok() {
            return Ok(c.clone());
        }
    }
    Err(Error::NoPython)
}

const PROBE: &str = r#"
import json, os, socket, struct, sys, time
def csum(b):
    s = sum((b[i] << 8) + b[i + 1] for i in range(0, len(b) - 1, 2))
    if len(b) % 2: s += b[-1] << 8
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
deadline = float(sys.argv[1]); targets = sys.argv[2:]
start = time.monotonic(); ident = os.getpid() & 0xffff; seq = 0
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(0.05)
pending = set(targets); up = {}
while pending and time.monotonic() - start < deadline:
    for t in list(pending):
        seq = (seq + 1) & 0xffff
        body = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + b'e3-probe'
        pkt = struct.pack('!BBHHH', 8, 0, csum(body), ident, seq) + b'e3-probe'
        try: s.sendto(pkt, (t, 0))
        except OSError: pass
    end = time.monotonic() + 0.2
    while time.monotonic() < end:
        try: d, a = s.recvfrom(2048)
        except (socket.timeout, OSError): continue
        h = (d[0] & 15) * 4
        if len(d) >= h + 8 and d[h] == 0 and struct.unpack('!H', d[h + 4:h + 6])[0] == ident and a[0] in pending:
            pending.discard(a[0]); up[a[0]] = round(time.monotonic() - start, 3)
print(json.dumps(up))
"#;

struct Progress {
    start: Instant,
    on: bool,
}

impl Progress {
    fn say(&self, msg: &str) {
        if self.on {
            crate::say!("[{:5.1}s] {msg}", self.start.elapsed().as_secs_f64());
        }
    }
}

/// Interface name of a host on a segment: routers' and carriers' as in
/// [`nat::router_interface`], `eth0` for the others.
fn ifname(host: &Host, segment: &SegmentName) -> &'static str {
    nat::router_interface(host.role, segment).unwrap_or("eth0")
}

/// Builds the namespaces, links, addresses, routes and NAT of a plan, in
/// batches: one `ip -batch` creates every namespace, then one per namespace
/// that owns links creates them (the internet's bridge and its veths,
/// each router's LAN bridge and veths, each carrier's veth to its home
/// router), then one per namespace sets its addresses, links and routes;
/// the NAT rules are one `nft -f` per router and party. Each `ip -batch`
/// stops at its first failing line and fails the build.
fn build_topology(lab: &mut Lab, plan: &Plan) -> Result<(), Error> {
    // Every object below is created by this thread, which checks for a
    // signal before each batch (`Lab`'s methods, and `check_interrupted`).
    let mut hosts: Vec<&str> = vec!["internet"];
    hosts.extend(plan.hosts.iter().map(|h| h.name.as_str()));
    lab.add_namespaces(&hosts)?;
    let inet = lab.ns("internet");
    // Links, by the namespace that creates them (veths created in place).
    let mut links: BTreeMap<String, Vec<String>> = BTreeMap::new();
    links.insert(
        inet.clone(),
        vec![
            "link set lo up".into(),
            "link add br0 type bridge".into(),
            "link set br0 up".into(),
        ],
    );
    for h in plan.hosts.iter().filter(|h| h.role == Role::Router) {
        links
            .entry(lab.ns(&h.name))
            .or_default()
            .push("link add lan type bridge".into());
    }
    let mut port = 0usize;
    for h in &plan.hosts {
        let ns = lab.ns(&h.name);
        for i in &h.interfaces {
            let name = ifname(h, &i.segment);
            if i.segment.is_internet() {
                let peer = format!("h{port}");
                port += 1;
                let l = links.entry(inet.clone()).or_default();
                l.push(format!(
                    "link add {peer} type veth peer name {name} netns {ns}"
                ));
                l.push(format!("link set {peer} master br0 up"));
            } else if let SegmentName::Lan(site) = &i.segment {
                if h.role == Role::Router {
                    continue; // the bridge itself
                }
                let router = &plan
                    .sites
                    .iter()
                    .find(|s| s.name == *site)
                    .ok_or_else(|| Error::Plan(format!("no site `{site}`")))?
                    .router;
                let peer = format!("p{port}");
                port += 1;
                let l = links.entry(lab.ns(router)).or_default();
                l.push(format!(
                    "link add {peer} type veth peer name {name} netns {ns}"
                ));
                l.push(format!("link set {peer} master lan up"));
            } else if let (Role::Carrier, SegmentName::Carrier(site)) = (h.role, &i.segment) {
                // carrier segment: one veth from the carrier (`cgn`) to the home router (`wan`)
                let router = &plan
                    .sites
                    .iter()
                    .find(|s| s.name == *site)
                    .ok_or_else(|| Error::Plan(format!("no site `{site}`")))?
                    .router;
                links.entry(ns.clone()).or_default().push(format!(
                    "link add cgn type veth peer name wan netns {}",
                    lab.ns(router)
                ));
            }
        }
    }
    for (ns, lines) in &links {
        netns::check_interrupted()?;
        netns::ip_batch(&lab.dir.join(format!("{ns}.links.ip")), Some(ns), lines)?;
    }
    // Addresses and routes, one batch per host.
    let firewall_lans: Vec<(String, Ipv4Addr)> = plan
        .sites
        .iter()
        .filter(|s| s.nat == Nat::Firewall)
        .map(|s| (s.lan.clone(), s.public_address))
        .collect();
    for h in &plan.hosts {
        netns::check_interrupted()?;
        let ns = lab.ns(&h.name);
        let mut lines = vec!["link set lo up".to_string()];
        for i in &h.interfaces {
            let name = ifname(h, &i.segment);
            lines.push(format!("addr add {}/{} dev {name}", i.address, i.prefix));
            lines.push(format!("link set {name} up"));
        }
        for i in &h.interfaces {
            if let Some(gw) = i.gateway {
                lines.push(format!("route add default via {gw}"));
            }
        }
        if h.interfaces.iter().any(|i| i.segment.is_internet()) {
            for (lan, router) in &firewall_lans {
                if h.public_address != Some(*router) {
                    lines.push(format!("route add {lan} via {router}"));
                }
            }
        }
        netns::ip_batch(&lab.dir.join(format!("{ns}.ip")), Some(&ns), &lines)?;
        if matches!(h.role, Role::Router | Role::Carrier) {
            ns_run(&ns, "sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
            let router = nat::router(plan, h)
                .ok_or_else(|| Error::Plan(format!("router `{}` has no site", h.name)))?;
            let file = lab.dir.join(format!("{}.nft", h.name));
            fs::write(&file, router.ruleset()).map_err(Error::io("write", &file))?;
            ns_run(&ns, "nft", &["-f", &file.display().to_string()])
                .map_err(|e| e.during(format!("NAT `{}` on `{}`", router.nat, h.name)))?;
        }
        if h.role == Role::Party {
            let file = lab.dir.join(format!("{}.nft", h.name));
            fs::write(&file, nat::tracking_ruleset()).map_err(Error::io("write", &file))?;
            ns_run(&ns, "nft", &["-f", &file.display().to_string()])?;
        }
    }
    if plan.loss_percent > 0.0 {
        let file = lab.dir.join("internet.nft");
        fs::write(&file, nat::loss_ruleset(plan.loss_percent))
            .map_err(Error::io("write", &file))?;
        ns_run(&inet, "nft", &["-f", &file.display().to_string()])
            .map_err(|e| e.during("packet loss on the internet bridge"))?;
    }
    Ok(())
}

/// Whether the netem qdisc works (probed inside the lab's internet namespace).
fn netem_available(lab: &Lab) -> bool {
    let ns = lab.ns("internet");
    let ok = run(
        "ip",
        &[
            "netns", "exec", &ns, "tc", "qdisc", "add", "dev", "br0", "root", "netem", "delay",
            "1ms",
        ],
    )
    .is_ok();
    if ok {
        let _ = run(
            "ip",
            &[
                "netns", "exec", &ns, "tc", "qdisc", "del", "dev", "br0", "root",
            ],
        );
    }
    ok
}

fn underlay_addresses(h: &Host) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = h.interfaces.iter().map(|i| i.address).collect();
    v.extend(h.public_address);
    v
}

/// The count of the router's `unsolicited` counter.
fn dropped(lab: &Lab, router: &str) -> u64 {
    run(
        "ip",
        &[
            "netns",
            "exec",
            &lab.ns(router),
            "nft",
            "list",
            "counter",
            "ip",
            nat::TABLE,
            "unsolicited",
        ],
    )
    .ok()
    .and_then(|t| {
        t.split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
    })
    .unwrap_or(0)
}

/// How long a filtering NAT must keep dropping the parties' connection
/// attempts before a `direct` run is given up: the handshake retries every
/// 2 s (and the kernel resends a SYN after 1 s), so drops spread over this
/// long are attempts that failed and were made again, not a stray packet.
pub const DROPS_FOR: Duration = Duration::from_secs(3);

/// `direct`: the routers in front of parties that others must open TCP
/// connections to (every party but #0 behind a filtering NAT; for a
/// carrier-grade NAT also the carrier), and their `unsolicited` drop
/// counters since the program started. Plain TCP never crosses such a NAT
/// (nothing inside opens the listening port outward), so drops that go on
/// for [`DROPS_FOR`] decide the run: it fails now, not at its time bound,
/// and a run that succeeds slowly never sees such drops.
struct DropWatch {
    routers: Vec<Watched>,
    port: u16,
}

/// One router [`DropWatch`] reads.
struct Watched {
    party: String,
    router: String,
    /// Its counter when the program started.
    base: u64,
    /// When drops began, and the counter then.
    began: Option<(Instant, u64)>,
}

impl DropWatch {
    fn new(lab: &Lab, plan: &Plan) -> DropWatch {
        let mut routers = Vec::new();
        if plan.connectivity.backend == Backend::Direct {
            for p in plan.parties() {
                if p.index.unwrap_or_default() == 0 || !p.nat.filters_inbound() {
                    continue;
                }
                let Some(site) = plan.sites.iter().find(|s| Some(&s.name) == p.site.as_ref())
                else {
                    continue;
                };
                for r in std::iter::once(&site.router).chain(site.carrier.as_ref()) {
                    routers.push(Watched {
                        party: p.name.to_string(),
                        router: r.to_string(),
                        base: dropped(lab, r),
                        began: None,
                    });
                }
            }
        }
        DropWatch {
            routers,
            port: plan.program.port,
        }
    }

    /// Why to give up, once drops at one router have gone on for [`DROPS_FOR`].
    fn poll(&mut self, lab: &Lab) -> Option<String> {
        let port = self.port;
        for w in &mut self.routers {
            let now = dropped(lab, &w.router);
            match w.began {
                None if now > w.base => w.began = Some((Instant::now(), now)),
                Some((t, first)) if now > first && t.elapsed() >= DROPS_FOR => {
                    return Some(format!(
                        "router `{}` in front of `{}` dropped {} unsolicited inbound packets over {:.1} s (the TCP connection attempts to its port {port}, which plain TCP cannot open through this NAT)",
                        w.router,
                        w.party,
                        now - w.base,
                        t.elapsed().as_secs_f64()
                    ));
                }
                _ => {}
            }
        }
        None
    }
}

fn nat_phrase(plan: &Plan, h: &Host) -> String {
    match plan.sites.iter().find(|s| Some(&s.name) == h.site.as_ref()) {
        Some(s) => format!(
            "`{}` is behind `{}` NAT ({}; router `{}`, public address {})",
            h.name,
            s.nat,
            s.nat.describe(),
            s.router,
            s.public_address
        ),
        None => format!("`{}` has a public address", h.name),
    }
}

/// Builds only the namespaces and NAT of a plan (no daemons, no MPyC), for
/// probing the NAT types. Dropping the [`Lab`] tears it down.
pub fn build_only(plan: &Plan) -> Result<Lab, Error> {
    if !is_root() {
        return Err(Error::NotRoot);
    }
    let mut lab = Lab::new()?;
    build_topology(&mut lab, plan)?;
    Ok(lab)
}

/// Starts the backend's daemons; `None` for `direct`, which has none.
/// `timeout` bounds the Tailscale clients' login.
fn start_backend(
    lab: &mut Lab,
    plan: &Plan,
    fault: Option<&str>,
    timeout: Duration,
) -> Result<Option<Started>, Error> {
    Ok(match plan.connectivity.backend {
        Backend::Nebula => Some(backends::nebula::start(lab, plan, fault)?),
        Backend::Wireguard => Some(backends::wireguard::start(lab, plan, fault)?),
        Backend::Tinc => Some(backends::tinc::start(lab, plan, fault)?),
        Backend::Openvpn => Some(backends::openvpn::start(lab, plan, fault, timeout)?),
        Backend::Tailscale | Backend::Headscale => {
            Some(backends::headscale::start(lab, plan, fault, timeout)?)
        }
        Backend::Direct => None,
    })
}

/// ICMP echoes per pair for its `rtt_ms`.
const RTT_PROBES: usize = 7;

/// Fills in each pair's `rtt_model_ms` (the model on the path it uses:
/// direct, or both legs through its relay) and `rtt_ms` (the median of
/// [`RTT_PROBES`] echoes on that path: to the peer's overlay address, or its
/// underlay address for `direct`). Pairs without a route get neither.
/// The measurement is the lab's (its delays and the pairs' routes): a later
/// run on a shared lab whose pairs have the routes they had when it was
/// measured takes it ([`session::LabSession::round_trips`]). Returns the
/// run on the lab that measured it.
fn measure_round_trips(
    session: &mut session::LabSession,
    pairs: &mut [PairReport],
) -> Result<u32, Error> {
    let plan = session.plan;
    let parties = session.parties();
    let positions = (0..parties.len()).flat_map(|i| (i + 1..parties.len()).map(move |j| (i, j)));
    let mut targets = Vec::new();
    for (pair, (i, j)) in pairs.iter_mut().zip(positions) {
        if pair.route == RouteKind::None {
            continue;
        }
        let (a, b) = (parties[i], parties[j]);
        let via = pair.via.as_deref().and_then(|v| plan.host(v)).or_else(|| {
            (pair.route == RouteKind::Relayed)
                .then_some(plan.connectivity.coordinator.as_deref())
                .flatten()
                .and_then(|c| plan.host(c))
        });
        pair.rtt_model_ms = Some(crate::netem::rtt_model_ms(plan, a, b, via));
        if session.started.is_some() {
            // Over an overlay either side can probe the other: half the
            // pairs from each side, so no party probes all its peers.
            let (from, to, host) = if (i + j) % 2 == 1 {
                (j, i, a)
            } else {
                (i, j, b)
            };
            targets.extend(session.overlay_address(host).map(|x| (from, to, x)));
        } else {
            let address = b
                .public_address
                .or_else(|| crate::netem::internet_address(b));
            targets.extend(address.map(|x| (i, j, x)));
        }
    }
    if targets.is_empty() {
        return Ok(session.run);
    }
    let routes: Vec<(RouteKind, Option<String>)> =
        pairs.iter().map(|p| (p.route, p.via.clone())).collect();
    if let Some(earlier) = session
        .round_trips
        .as_ref()
        .filter(|earlier| earlier.routes == routes)
    {
        session.say(&format!(
            "round trips as run {} on this lab measured them (the same routes)",
            earlier.run
        ));
        for (pair, rtt) in pairs.iter_mut().zip(&earlier.rtt_ms) {
            pair.rtt_ms = *rtt;
        }
        return Ok(earlier.run);
    }
    session.say(&format!(
        "measuring round trips ({RTT_PROBES} ICMP echoes per pair)"
    ));
    let rtts = session.measure_rtt(&targets, RTT_PROBES)?;
    let positions = (0..parties.len()).flat_map(|i| (i + 1..parties.len()).map(move |j| (i, j)));
    for (pair, ij) in pairs.iter_mut().zip(positions) {
        let ji = (ij.1, ij.0);
        pair.rtt_ms = rtts.get(&ij).or_else(|| rtts.get(&ji)).copied().flatten();
    }
    session.round_trips = Some(session::RoundTrips {
        run: session.run,
        routes,
        rtt_ms: pairs.iter().map(|p| p.rtt_ms).collect(),
    });
    Ok(session.run)
}

/// Lets a backend that finds its paths over time settle ([`Started::settle`]).
fn settle(session: &mut session::LabSession<'_>, parties: &[&Host]) {
    let Some(settle) = session.started.as_ref().and_then(|s| s.settle) else {
        return;
    };
    let addresses: BTreeMap<HostName, Ipv4Addr> = parties
        .iter()
        .filter_map(|h| Some((h.name.clone(), session.overlay_address(h)?)))
        .collect();
    settle(&mut session.lab, parties, &addresses);
}

/// The underlay addresses each party's backend holds for its peers: what
/// the routes' read of it showed (`views`, in party order), else
/// [`Started::read_told`], asked of [`routes::WORKERS`] parties at a time;
/// for `direct`, the program's party list, which names every party's
/// public address.
fn told(
    session: &session::LabSession<'_>,
    parties: &[&Host],
    views: &[routes::PartyView],
) -> BTreeMap<HostName, Option<Vec<Ipv4Addr>>> {
    let Some(started) = &session.started else {
        let listed: Vec<Ipv4Addr> = session
            .plan
            .program
            .parties
            .iter()
            .filter_map(|e| e.address.parse().ok())
            .collect();
        return parties
            .iter()
            .map(|p| (p.name.clone(), Some(listed.clone())))
            .collect();
    };
    let mut out = BTreeMap::new();
    let mut unasked = Vec::new();
    for (i, p) in parties.iter().enumerate() {
        match views.get(i).and_then(|v| v.told.clone()) {
            Some(t) => {
                out.insert(p.name.clone(), Some(t));
            }
            None => unasked.push(*p),
        }
    }
    let Some(read) = started.read_told else {
        out.extend(unasked.iter().map(|p| (p.name.clone(), None)));
        return out;
    };
    let lab = &session.lab;
    for chunk in unasked.chunks(routes::WORKERS) {
        std::thread::scope(|s| {
            let asks: Vec<_> = chunk
                .iter()
                .map(|p| (p.name.clone(), s.spawn(move || read(lab, p))))
                .collect();
            for (name, ask) in asks {
                out.insert(name, ask.join().ok().flatten());
            }
        });
    }
    out
}

/// Runs the lab. `Err` is a setup problem (not root, missing programs, a
/// daemon that died); an experiment that fails is an `Ok` report with `ok: false`.
pub fn run_lab(plan: &Plan, opts: &Options) -> Result<Report, Error> {
    let session = session::LabSession::start(plan, opts)?;
    run_session(session, opts)
}

/// [`run_lab`] on a started session (also a kept lab's, `e3 lab run`,
/// which is not torn down).
pub fn run_session(mut session: session::LabSession<'_>, opts: &Options) -> Result<Report, Error> {
    let report = run_on(&mut session, opts)?;
    Ok(tear_down(session, report))
}

/// Tears `session`'s lab down (not a kept lab) and completes `report`'s
/// phases with the teardown.
pub fn tear_down(mut session: session::LabSession<'_>, mut report: Report) -> Report {
    let before = session.elapsed_s();
    if !session.lab.is_kept() {
        session.say("tearing the lab down");
    }
    for p in session.teardown() {
        crate::say!("warning: teardown: {p}");
    }
    let end = session.elapsed_s();
    report.phases.teardown_s = ((end - before).max(0.0) * 100.0).round() / 100.0;
    report.total_s = ((end - session.run_started_s) * 10.0).round() / 10.0;
    session.say(&format!("lab torn down in {:.2} s", end - before));
    report
}

/// Runs the program of `session`'s plan on its lab and reads the report,
/// leaving the lab up: the first run waits for the overlay (unless the
/// caller did, [`session::LabSession::ensure_overlay`]); a later one
/// ([`session::LabSession::next_run`]) takes the overlay as the first
/// found it. The report's `total_s` and phases cover this run without the
/// teardown ([`tear_down`] adds it).
pub fn run_on(session: &mut session::LabSession<'_>, opts: &Options) -> Result<Report, Error> {
    let plan = session.plan;
    let backend = plan.connectivity.backend;
    let parties = session.parties();
    let first = session.run <= 1;
    let setup_end = if first {
        session.timings.daemons_s
    } else {
        session.run_started_s
    };
    let overlay = session.ensure_overlay(opts.timeout)?;
    netns::check_interrupted()?;
    let overlay_end = session.elapsed_s();
    let pair_up = &overlay.pairs;
    let overlay_up_s = overlay.up_s;
    let mut diagnosis = Vec::new();
    if !overlay.all_up() {
        for ((i, j), t) in pair_up {
            if t.is_none() {
                let (a, b) = (parties[*i], parties[*j]);
                let mut d = format!(
                    "no overlay path between `{}` and `{}` after {} s: {}; {}",
                    a.name,
                    b.name,
                    opts.timeout.as_secs(),
                    nat_phrase(plan, a),
                    nat_phrase(plan, b)
                );
                if a.nat == Nat::Hard && b.nat == Nat::Hard
                    || (a.nat == Nat::Hard || b.nat == Nat::Hard)
                        && (a.nat.filters_inbound() && b.nat.filters_inbound())
                {
                    d += "; hole punching cannot cross an endpoint-dependent (`hard`) NAT when the other side filters too";
                }
                if plan.connectivity.relay == crate::catalogue::Relay::Never {
                    d += ", and `relay: never` forbids the relay that would carry this pair";
                }
                diagnosis.push(d);
            }
        }
    }
    let overlay_ok = session.started.is_none() || overlay.all_up();
    if session.fault.as_deref() == Some("kill-coordinator-after-overlay") {
        if let Some(c) = plan.connectivity.coordinator.clone() {
            // Where the backend finds its paths over time (Tailscale moves
            // from DERP to a direct path), let it settle first: what is
            // tested is what outlives the coordinator once paths are set.
            settle(session, &parties);
            session.say(&format!("fault: killing the `{c}` daemon"));
            session.lab.kill_child(&c);
            diagnosis.push(format!(
                "fault injected: the daemon of `{c}` was killed once the overlay was up, before the program ran"
            ));
        }
    }

    // MPyC.
    let mut party_reports = Vec::new();
    let mut mpc_wall_s = None;
    let mut outputs_agree = None;
    let mut program_traffic = None;

    let mut faults = Vec::new();
    if overlay_ok {
        let mut watch = DropWatch::new(&session.lab, plan);
        let run = session.run_program_watched(opts.timeout, &mut |lab| watch.poll(lab))?;
        netns::check_interrupted()?;
        faults = run.faults;
        party_reports = run.parties;
        mpc_wall_s = Some(run.wall_s);
        outputs_agree = run.outputs_agree;
        program_traffic = run.sent.map(|sent| (sent, run.window));
    }
    let internet = session.observed();

    if !overlay_ok {
        faults = plan
            .faults
            .iter()
            .map(|f| report::FaultReport {
                at_s: f.at_s,
                applied_s: None,
                action: f.action.to_string(),
                target: f.target.clone(),
                outcome: "not applied: the overlay never came up, so the program did not run"
                    .into(),
                applied: false,
                program_ended_s: None,
                pairs: Vec::new(),
            })
            .collect();
    }
    let ok = overlay_ok && !party_reports.is_empty() && party_reports.iter().all(|p| p.ok);
    if session.started.as_ref().is_some_and(|s| s.settle.is_some()) {
        session.say("asking the backend for its route between every pair");
        settle(session, &parties);
    }
    let mpc_end = session.elapsed_s();
    let lab = &session.lab;
    let started = &session.started;

    // Routes: each party's conntrack and backend read once, in parallel.
    let t_routes = Instant::now();
    session.say(&format!(
        "reading the route of {} pairs ({} parties, {} at a time, each command bounded to {} s)",
        parties.len() * parties.len().saturating_sub(1) / 2,
        parties.len(),
        routes::WORKERS.min(parties.len()),
        routes::COMMAND_TIMEOUT.as_secs()
    ));
    let peers: Vec<Vec<Ipv4Addr>> = parties
        .iter()
        .enumerate()
        .map(|(i, _)| {
            parties[i + 1..]
                .iter()
                .filter_map(|b| session.overlay_address(b))
                .collect()
        })
        .collect();
    let read = started.as_ref().and_then(|s| s.read_route);
    let views = routes::read_views(lab, &parties, &peers, read, &|m| session.say(m));
    netns::check_interrupted()?;
    let mut pairs = Vec::new();
    for (i, a) in parties.iter().enumerate() {
        let mut asked = views[i].routes.iter();
        for b in &parties[i + 1..] {
            let j = b.index.unwrap_or_default();
            let up = pair_up.get(&(i, j)).copied().flatten();
            let reachable = match &started {
                Some(_) => up.is_some(),
                None => ok,
            };
            let a_sees = views[i]
                .flows
                .iter()
                .any(|(d, _)| underlay_addresses(b).contains(d));
            let b_sees = views.get(j).is_some_and(|v| {
                v.flows
                    .iter()
                    .any(|(d, _)| underlay_addresses(a).contains(d))
            });
            let relay = started.as_ref().and_then(|s| s.relay.clone());
            let by_construction = started.as_ref().is_some_and(|s| s.relayed_by_construction);
            // The backend was asked about the peers with an overlay address, in order.
            let from_backend = if session.overlay_address(b).is_some() {
                asked.next().cloned().flatten()
            } else {
                None
            };
            let (route, via, evidence) = if let Some(r) = from_backend {
                (r.route, r.via, r.evidence)
            } else if by_construction && reachable {
                (
                    RouteKind::Relayed,
                    relay,
                    "hub topology: spokes only peer with the hub".to_string(),
                )
            } else if a_sees || b_sees {
                (
                    RouteKind::Direct,
                    None,
                    "conntrack: answered underlay flow between the two".to_string(),
                )
            } else if reachable {
                (
                    RouteKind::Relayed,
                    relay,
                    "overlay answered, no direct underlay flow in conntrack".to_string(),
                )
            } else {
                (
                    RouteKind::None,
                    None,
                    if started.is_some() {
                        "no answer over the overlay".to_string()
                    } else {
                        "no answered flow".to_string()
                    },
                )
            };
            pairs.push(PairReport {
                a: a.name.clone(),
                b: b.name.clone(),
                route,
                via,
                evidence,
                up_s: up,
                rtt_model_ms: None,
                rtt_ms: None,
            });
        }
    }
    session.say(&format!(
        "routes read in {:.2} s",
        t_routes.elapsed().as_secs_f64()
    ));

    if !ok && overlay_ok {
        // Explain a failed run: which filtering NATs sit in front of a party others must connect to.
        for p in &parties {
            let idx = p.index.unwrap_or_default();
            if backend == Backend::Direct && idx > 0 && p.nat.filters_inbound() {
                let site = plan.sites.iter().find(|s| Some(&s.name) == p.site.as_ref());
                // Behind a carrier-grade NAT the carrier router drops them.
                let drops = site
                    .map(|s| {
                        dropped(lab, &s.router) + s.carrier.as_ref().map_or(0, |c| dropped(lab, c))
                    })
                    .unwrap_or(0);
                diagnosis.push(format!(
                    "party #{idx} {}: {} must open TCP connections to {}:{}, and the router dropped {drops} unsolicited inbound packets; plain TCP cannot cross this NAT — use an overlay backend",
                    nat_phrase(plan, p),
                    if idx == 1 { "party #0".to_string() } else { format!("parties #0 to #{}", idx - 1) },
                    p.public_address.map(|a| a.to_string()).unwrap_or_default(),
                    plan.program.port
                ));
            }
        }
        if diagnosis.is_empty() {
            for p in party_reports.iter().filter(|p| !p.ok) {
                diagnosis.push(format!(
                    "party `{}` failed: {}",
                    p.host,
                    p.error.as_deref().unwrap_or("see its exit status")
                ));
            }
        }
    }

    let verdict = if ok && party_reports.iter().all(|p| p.contract == "e3-json") {
        format!(
            "ok: `{}` gave the expected result on all {} parties",
            plan.program.name,
            parties.len()
        )
    } else if ok {
        format!(
            "ok: `{}` exited 0 on all {} parties{}",
            plan.program.name,
            parties.len(),
            match outputs_agree {
                Some(false) => " (their outputs differ)",
                _ => "",
            }
        )
    } else if !overlay_ok {
        "failed: the overlay did not connect every pair; MPyC not run".to_string()
    } else {
        let bad = party_reports.iter().filter(|p| !p.ok).count();
        format!(
            "failed: `{}` failed on {bad} of {} parties",
            plan.program.name,
            parties.len()
        )
    };
    let told = told(session, &parties, &views);
    let exposure = internet
        .as_ref()
        .map(|packets| privacy::exposure(plan, packets, &told))
        .unwrap_or_default();
    let wan = internet
        .as_ref()
        .map(|packets| privacy::wan(packets, plan.program.port));
    let wire = internet
        .as_ref()
        .zip(program_traffic.as_ref())
        .map(|(packets, (sent, window))| {
            privacy::wire_cost(packets, sent, plan.program.port, *window)
        });
    let rtt_lab_run = measure_round_trips(session, &mut pairs)?;
    let report_end = session.elapsed_s();
    let round = |x: f64| (x.max(0.0) * 100.0).round() / 100.0;
    let phases = report::Phases {
        setup_s: round(setup_end - session.run_started_s),
        overlay_s: round(overlay_end - setup_end),
        mpc_s: round(mpc_end - overlay_end),
        report_s: round(report_end - mpc_end),
        teardown_s: 0.0,
    };
    session.say(&format!(
        "report read in {:.2} s ({:.1} % of the run so far)",
        report_end - mpc_end,
        100.0 * (report_end - mpc_end) / (report_end - session.run_started_s).max(f64::EPSILON)
    ));
    Ok(Report {
        scenario: plan.name.clone(),
        backend: backend.to_string(),
        relay: plan.connectivity.relay.to_string(),
        lab: session.lab.prefix.clone(),
        lab_run: session.run,
        rtt_lab_run,
        latency: report::LatencyReport {
            applied: session.latency,
            text: session.latency_text.clone(),
            delay_line: session.delay_line_report(),
        },
        loss_percent: plan.loss_percent,
        overlay_up_s,
        pairs,
        mpc_ran: overlay_ok,
        mpc_wall_s,
        parties: party_reports,
        outputs_agree,
        ok,
        verdict,
        diagnosis,
        versions: session.versions.clone(),
        exposure,
        wan,
        wire,

        mpc_survived: (faults.iter().any(|f| f.applied) && overlay_ok).then_some(ok),
        faults,

        phases,
        total_s: ((report_end - session.run_started_s) * 10.0).round() / 10.0,
    })
}

#[cfg(test)]
mod tests {
    use super::RouteKind;

    #[test]
    fn route_kinds_serialise_as_the_report_names_them() {
        for (kind, name) in [
            (RouteKind::Direct, "direct"),
            (RouteKind::Relayed, "relayed"),
            (RouteKind::None, "none"),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
            assert_eq!(kind.to_string(), name);
            assert_eq!(kind.as_str(), name);
            let back: RouteKind = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(back, kind);
        }
        assert!(serde_json::from_str::<RouteKind>("\"Direct\"").is_err());
        // The report's table pads it.
        assert_eq!(format!("[{:<9}]", RouteKind::Relayed), "[relayed  ]");
    }
}
