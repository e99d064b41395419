//! Packet capture in a running lab: `tcpdump` inside one of the lab's
//! namespaces, writing a pcap file that `tcpdump -r` and Wireshark read.
//!
//! ```text
//! let cap = Capture::start(&lab, &plan, &Where::Internet, None, Path::new("x.pcap"))?;
//! …                                  // the lab runs
//! let stats = cap.stop()?;           // flushed, tcpdump exited, file complete
//! ```
//!
//! [`Where::Internet`] is the internet bridge (`br0` of the `internet`
//! namespace: every packet between public addresses, i.e. what an observer
//! of the internet sees), [`Where::Site`] a site's LAN bridge (`lan` in its
//! router's namespace: the site's hosts before NAT), [`Where::Host`] every
//! interface of one host (`-i any`, Linux cooked capture v1).
//!
//! tcpdump runs as root (`-Z root`: Debian's tcpdump otherwise switches to
//! the `tcpdump` user and cannot create the file in most directories) and
//! only writes packets (`-w`), never dissects them. It takes each packet
//! from the kernel as it arrives (`--immediate-mode`: else packets of the
//! last ring block are still in the kernel when it stops) and writes it at
//! once (`-U`). [`Capture::stop`] sends SIGINT, which makes tcpdump
//! flush and print its counters, and waits for it; dropping a [`Capture`]
//! without `stop` kills it. tcpdump runs in a lab namespace, so a lab's
//! teardown (and `e3 sim --cleanup`) kills one that outlived its owner.

use std::fmt;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::Lab;
use crate::plan::{HostName, Plan, Role, SiteName};

/// Where to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Where {
    /// The internet bridge.
    Internet,
    /// A site's LAN.
    Site(SiteName),
    /// Every interface of a host.
    Host(HostName),
}

impl Where {
    /// `internet`, a site's name or a host's name (a name that is both a
    /// site and a host is the site: `Where::Host` is then unreachable by
    /// name, which the plan's naming rules rule out).
    pub fn parse(plan: &Plan, s: &str) -> Result<Where, CaptureError> {
        if s == "internet" {
            return Ok(Where::Internet);
        }
        if plan.sites.iter().any(|x| x.name == s) {
            return Ok(Where::Site(SiteName::from(s)));
        }
        if plan.host(s).is_some() {
            return Ok(Where::Host(HostName::from(s)));
        }
        let mut names: Vec<String> = vec!["internet".into()];
        names.extend(plan.sites.iter().map(|x| x.name.to_string()));
        names.extend(plan.hosts.iter().map(|h| h.name.to_string()));
        Err(CaptureError::UnknownPlace {
            name: s.to_string(),
            known: names,
        })
    }

    /// (host whose namespace, interface) of the capture.
    fn point(&self, plan: &Plan) -> Result<(String, &'static str), CaptureError> {
        match self {
            Where::Internet => Ok(("internet".into(), "br0")),
            Where::Site(s) => {
                let site = plan.sites.iter().find(|x| &x.name == s).ok_or_else(|| {
                    CaptureError::UnknownPlace {
                        name: s.to_string(),
                        known: Vec::new(),
                    }
                })?;
                Ok((site.router.to_string(), "lan"))
            }
            Where::Host(h) => {
                let host = plan.host(h).ok_or_else(|| CaptureError::UnknownPlace {
                    name: h.to_string(),
                    known: Vec::new(),
                })?;
                debug_assert!(host.role != Role::Router || !host.interfaces.is_empty());
                Ok((host.name.to_string(), "any"))
            }
        }
    }
}

impl fmt::Display for Where {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Where::Internet => f.write_str("the internet segment"),
            Where::Site(s) => write!(f, "site `{s}`"),
            Where::Host(h) => write!(f, "host `{h}`"),
        }
    }
}

/// What can go wrong with a capture.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaptureError {
    /// Not `internet`, a site or a host of the plan.
    #[error("nowhere to capture called `{name}`")]
    UnknownPlace { name: String, known: Vec<String> },
    /// tcpdump is not installed.
    #[error("`tcpdump` is not on PATH")]
    NoTcpdump,
    /// tcpdump could not start (a bad filter, an unwritable file): its words.
    #[error("cannot capture on {what}: {stderr}")]
    Start { what: String, stderr: String },
    /// tcpdump failed while stopping, or did not stop.
    #[error("capture: {0}")]
    Stop(String),
}

impl crate::error::Hinted for CaptureError {
    fn hint(&self) -> Option<String> {
        match self {
            CaptureError::UnknownPlace { known, .. } if !known.is_empty() => Some(format!(
                "`internet`, a site or a host: {}",
                known.join(", ")
            )),
            CaptureError::NoTcpdump => {
                Some("`ci/install-deps` installs it (Debian: `apt-get install tcpdump`)".into())
            }
            _ => None,
        }
    }
}

/// tcpdump's counters when it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureStats {
    /// Packets written to the file.
    pub captured: u64,
    /// Packets the filter accepted.
    pub received: u64,
    /// Packets the kernel dropped (buffer full).
    pub dropped: u64,
}

/// Reads tcpdump's closing counters (`N packets captured`, `N packets
/// received by filter`, `N packets dropped by kernel`).
pub fn parse_stats(stderr: &str) -> CaptureStats {
    let mut s = CaptureStats::default();
    for line in stderr.lines() {
        let mut words = line.split_whitespace();
        let (Some(n), Some("packets" | "packet")) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        let rest: Vec<&str> = words.collect();
        match rest.as_slice() {
            ["captured"] => s.captured = n,
            ["received", "by", "filter"] => s.received = n,
            ["dropped", "by", "kernel"] => s.dropped = n,
            _ => {}
        }
    }
    s
}

/// The argument vector of `ip netns exec NS tcpdump …` (pure).
/// `snap_len`: bytes kept of each packet (0: all of it).
pub fn tcpdump_args(
    ns: &str,
    dev: &str,
    path: &Path,
    filter: Option<&str>,
    snap_len: u32,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "netns",
        "exec",
        ns,
        "tcpdump",
        "-i",
        dev,
        "-n",
        "--immediate-mode",
        "-U",
        "-s",
        &snap_len.to_string(),
        "-Z",
        "root",
        "-w",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(path.display().to_string());
    if let Some(f) = filter.filter(|f| !f.trim().is_empty()) {
        a.push("--".into());
        a.push(f.to_string());
    }
    a
}

/// A running capture. See the module documentation.
pub struct Capture {
    child: Option<Child>,
    stderr_path: PathBuf,
    /// The pcap file.
    pub path: PathBuf,
    /// Where it captures.
    pub place: Where,
}

/// Bytes of each packet a [`Capture::headers`] keeps: the link, IPv4 and
/// TCP/UDP headers (what [`super::wire`] reads), not the payload.
pub const HEADERS: u32 = 128;

impl Capture {
    /// Starts tcpdump at `place` into `path` (created or truncated), whole
    /// packets, and waits until it listens (up to 5 s), so nothing sent
    /// after `start` returns is missed. `filter` is a pcap filter expression.
    pub fn start(
        lab: &Lab,
        plan: &Plan,
        place: &Where,
        filter: Option<&str>,
        path: &Path,
    ) -> Result<Capture, CaptureError> {
        Self::start_snap(lab, plan, place, filter, path, 0)
    }

    /// [`Capture::start`] keeping only the first [`HEADERS`] bytes of each
    /// packet (its original length stays in the file): the lab's own
    /// captures of every run, which need the headers only.
    pub fn headers(
        lab: &Lab,
        plan: &Plan,
        place: &Where,
        filter: Option<&str>,
        path: &Path,
    ) -> Result<Capture, CaptureError> {
        Self::start_snap(lab, plan, place, filter, path, HEADERS)
    }

    fn start_snap(
        lab: &Lab,
        plan: &Plan,
        place: &Where,
        filter: Option<&str>,
        path: &Path,
        snap_len: u32,
    ) -> Result<Capture, CaptureError> {
        let mut cap = Self::spawn_snap(lab, plan, place, filter, path, snap_len)?;
        cap.wait_listening(Instant::now() + Duration::from_secs(5))?;
        Ok(cap)
    }

    /// Starts tcpdump (not waiting for it to listen).
    fn spawn_snap(
        lab: &Lab,
        plan: &Plan,
        place: &Where,
        filter: Option<&str>,
        path: &Path,
        snap_len: u32,
    ) -> Result<Capture, CaptureError> {
        if !crate::tools::on_path("tcpdump") {
            return Err(CaptureError::NoTcpdump);
        }
        let (host, dev) = place.point(plan)?;
        let ns = lab.ns(&host);
        let start_err = |stderr: String| CaptureError::Start {
            what: place.to_string(),
            stderr,
        };
        let stderr_path = lab.dir.join(format!(
            "tcpdump-{}-{}.err",
            host,
            crate::files::random_hex(4)
        ));
        let err = fs::File::create(&stderr_path).map_err(|e| start_err(e.to_string()))?;
        let child = Command::new("ip")
            .args(tcpdump_args(&ns, dev, path, filter, snap_len))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| start_err(format!("cannot run tcpdump: {e}")))?;
        Ok(Capture {
            child: Some(child),
            stderr_path,
            path: path.to_path_buf(),
            place: place.clone(),
        })
    }

    /// [`Capture::headers`] at several places at once: every tcpdump is
    /// started, then all are waited for until they listen (started and
    /// waited for one after the other, their start-ups add up to a second
    /// at eight parties).
    pub fn headers_all(
        lab: &Lab,
        plan: &Plan,
        places: &[(Where, Option<String>, PathBuf)],
    ) -> Result<Vec<Capture>, CaptureError> {
        let mut caps = Vec::new();
        for (place, filter, path) in places {
            caps.push(Self::spawn_snap(
                lab,
                plan,
                place,
                filter.as_deref(),
                path,
                HEADERS,
            )?);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for cap in &mut caps {
            cap.wait_listening(deadline)?;
        }
        Ok(caps)
    }

    /// Until tcpdump says it listens (or exits, or `deadline` passes).
    fn wait_listening(&mut self, deadline: Instant) -> Result<(), CaptureError> {
        let cap = self;
        let start_err = |stderr: String| CaptureError::Start {
            what: cap.place.to_string(),
            stderr,
        };
        loop {
            let text = fs::read_to_string(&cap.stderr_path).unwrap_or_default();
            if text.contains("listening on") {
                return Ok(());
            }
            let exited = cap.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                cap.child = None;
                let words = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                let _ = fs::remove_file(&cap.stderr_path);
                return Err(start_err(if words.is_empty() {
                    format!("tcpdump exited ({status})")
                } else {
                    words
                }));
            }
            if Instant::now() >= deadline {
                return Err(start_err(
                    "tcpdump did not start listening within 5 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops tcpdump (SIGINT: it flushes and closes the file) and returns
    /// its counters; kills it if it has not exited after 5 s.
    pub fn stop(mut self) -> Result<CaptureStats, CaptureError> {
        self.interrupt();
        self.wait_stopped()
    }

    /// [`Capture::stop`] of several captures: every tcpdump is told to
    /// stop, then each waited for (in their order).
    pub fn stop_all(mut caps: Vec<Capture>) -> Vec<Result<CaptureStats, CaptureError>> {
        for c in &mut caps {
            c.interrupt();
        }
        caps.into_iter().map(Capture::wait_stopped).collect()
    }

    /// SIGINT to tcpdump, which then writes what it has and exits.
    fn interrupt(&mut self) {
        if let Some(child) = &self.child {
            // `ip netns exec` execs tcpdump, so the child's pid is tcpdump's.
            // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGINT);
            }
        }
    }

    /// Waits (up to 5 s) for an interrupted tcpdump to exit.
    fn wait_stopped(mut self) -> Result<CaptureStats, CaptureError> {
        let Some(mut child) = self.child.take() else {
            return Err(CaptureError::Stop("tcpdump is not running".into()));
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let mut text = String::new();
        if let Ok(f) = fs::File::open(&self.stderr_path) {
            let _ = f.take(1 << 16).read_to_string(&mut text);
        }
        let _ = fs::remove_file(&self.stderr_path);
        match status {
            None => Err(CaptureError::Stop("tcpdump did not stop within 5 s".into())),
            Some(s) if !s.success() => Err(CaptureError::Stop(format!(
                "tcpdump exited ({s}): {}",
                text.lines().last().unwrap_or("")
            ))),
            Some(_) => Ok(parse_stats(&text)),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            let _ = fs::remove_file(&self.stderr_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcpdumps_counters_are_read() {
        let text = "tcpdump: listening on br0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n\
                    12 packets captured\n14 packets received by filter\n1 packet dropped by kernel\n";
        assert_eq!(
            parse_stats(text),
            CaptureStats {
                captured: 12,
                received: 14,
                dropped: 1
            }
        );
        assert_eq!(parse_stats(""), CaptureStats::default());
    }

    #[test]
    fn the_filter_is_one_argument_after_the_options() {
        let a = tcpdump_args(
            "e3-abcd-internet",
            "br0",
            Path::new("/tmp/x.pcap"),
            Some("udp port 4242"),
            0,
        );
        assert_eq!(a[..4], ["netns", "exec", "e3-abcd-internet", "tcpdump"]);
        assert!(a.windows(2).any(|w| w == ["-w", "/tmp/x.pcap"]));
        assert_eq!(a[a.len() - 2..], ["--", "udp port 4242"]);
        assert!(a.windows(2).any(|w| w == ["-s", "0"]));
        let none = tcpdump_args("n", "any", Path::new("y.pcap"), Some("  "), HEADERS);
        assert!(none.windows(2).any(|w| w == ["-s", "128"]));
        assert_eq!(none.last().map(String::as_str), Some("y.pcap"));
    }
}
