//! The report's route of every pair, read once per party and in parallel.
//!
//! What a route needs from the lab is per party, not per pair: the party's
//! conntrack table (its answered underlay flows) and its backend's view of
//! every peer (Nebula's hostmap over its debug SSH server, the OpenVPN
//! server's status file, Tailscale's pings and status). Reading them once
//! per party and `WORKERS` parties at a time makes this phase grow with the
//! parties, not with the pairs (before: one `ssh` and two `conntrack` per
//! pair, one after another — 16 parties took 17 s, 40 parties minutes). The
//! same read of the backend gives what it holds of its peers' underlay
//! addresses where it shows them ([`super::BackendView::told`]: Nebula's
//! hostmap, Tailscale's status), for the report's exposure. Every command is
//! bounded ([`ns_run_bounded`]) and the phase announces its progress every
//! [`PROGRESS_EVERY`].

use std::io::Read as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::netns::{self, Lab};
use super::{Error, Route};
use crate::plan::Host;

/// Parties read at once. The work is mostly waiting on other processes
/// (`ssh`, `conntrack`), so more than the cores.
pub const WORKERS: usize = 8;
/// Bound of each command of this phase.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a long phase says how far it got.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// `program args` in the namespace `ns` (through `ip netns exec`), killed
/// after `timeout` or when a signal arrives; its stdout, or `Err` with its
/// status and stderr.
pub fn ns_run_bounded(
    ns: &str,
    program: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<String, Error> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]).args(args);
    run_bounded(cmd, program, timeout)
}

/// Runs `cmd` (`program` in messages), killed after `timeout` or when a
/// signal arrives; its stdout, or `Err` with its status and stderr.
pub fn run_bounded(mut cmd: Command, program: &str, timeout: Duration) -> Result<String, Error> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::CannotRun {
            program: program.to_string(),
            source,
        })?;
    // Readers, so that a full pipe never stalls the child.
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline && !netns::interrupted() => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    match status {
        Some(s) if s.success() => Ok(out),
        Some(s) => Err(Error::Command {
            command: format!("`{program}`"),
            status: s.to_string(),
            stderr: err.trim().to_string(),
        }),
        None => Err(Error::Timeout {
            command: format!("`{program}`"),
            within: timeout,
        }),
    }
}

/// UDP/TCP flows a party's namespace saw that were answered, as (peer
/// address, protocol): its conntrack table, read once.
pub fn answered_flows(ns: &str) -> Vec<(Ipv4Addr, String)> {
    parse_answered(&ns_run_bounded(ns, "conntrack", &["-L"], COMMAND_TIMEOUT).unwrap_or_default())
}

/// The answered flows of `conntrack -L` output (entries not `[UNREPLIED]`):
/// the original direction's destination and the protocol.
pub fn parse_answered(text: &str) -> Vec<(Ipv4Addr, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.contains("[UNREPLIED]") {
            continue;
        }
        let proto = line.split_whitespace().next().unwrap_or("").to_string();
        if let Some(dst) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("dst="))
            .and_then(|d| d.parse().ok())
        {
            out.push((dst, proto));
        }
    }
    out
}

/// What one party's namespace and backend say about its peers.
#[derive(Debug, Default)]
pub struct PartyView {
    /// Its answered underlay flows (conntrack).
    pub flows: Vec<(Ipv4Addr, String)>,
    /// The backend's route to each later peer, in the order asked; empty
    /// when the backend does not report routes.
    pub routes: Vec<Option<Route>>,
    /// The underlay addresses its backend holds for its peers, when the
    /// same read showed them ([`super::BackendView::told`]).
    pub told: Option<Vec<Ipv4Addr>>,
}

/// Reads every party's [`PartyView`]: conntrack for all, and
/// `read(lab, party, later peers' overlay addresses)` where the backend
/// reports routes (also for the last party, asked about no peers, for what
/// its backend was told); [`WORKERS`] parties at a time. `say` gets a progress line
/// every [`PROGRESS_EVERY`] while it runs.
pub fn read_views(
    lab: &Lab,
    parties: &[&Host],
    peers: &[Vec<Ipv4Addr>],
    read: Option<super::RouteReader>,
    say: &dyn Fn(&str),
) -> Vec<PartyView> {
    let n = parties.len();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, PartyView)>();
    let mut views: Vec<Option<PartyView>> = (0..n).map(|_| None).collect();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..WORKERS.min(n) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || netns::interrupted() {
                    break;
                }
                let a = parties[i];
                let flows = answered_flows(&lab.ns(&a.name));
                let asked = read.map(|read| read(lab, a, &peers[i])).unwrap_or_default();
                let view = PartyView {
                    flows,
                    routes: asked.routes,
                    told: asked.told,
                };
                if tx.send((i, view)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut done = 0;
        let mut said = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok((i, v)) => {
                    views[i] = Some(v);
                    done += 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if said.elapsed() >= PROGRESS_EVERY && done < n {
                say(&format!(
                    "routes: {done} of {n} parties read ({:.1} s)",
                    start.elapsed().as_secs_f64()
                ));
                said = Instant::now();
            }
        }
    });
    views.into_iter().map(Option::unwrap_or_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answered_flows_skip_unreplied_entries() {
        let text = "\
udp      17 29 src=10.0.0.2 dst=198.18.0.3 sport=4242 dport=4242 src=198.18.0.3 dst=198.18.1.1 sport=4242 dport=4242 mark=0 use=1
tcp      6 118 SYN_SENT src=10.0.0.2 dst=198.18.2.1 sport=40000 dport=11365 [UNREPLIED] src=198.18.2.1 dst=198.18.1.1 sport=11365 dport=40000 mark=0 use=1
tcp      6 431999 ESTABLISHED src=10.0.0.2 dst=198.18.0.9 sport=40002 dport=11365 src=198.18.0.9 dst=198.18.1.1 sport=11365 dport=40002 [ASSURED] mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.
";
        assert_eq!(
            parse_answered(text),
            vec![
                (Ipv4Addr::new(198, 18, 0, 3), "udp".to_string()),
                (Ipv4Addr::new(198, 18, 0, 9), "tcp".to_string()),
            ]
        );
    }

    #[test]
    fn bounded_commands_are_killed_at_their_bound() {
        let t = Instant::now();
        let mut cmd = Command::new("sleep");
        cmd.arg("5");
        let r = run_bounded(cmd, "sleep", Duration::from_millis(200));
        assert_eq!(
            r.map_err(|e| e.to_string()),
            Err("`sleep` did not finish within 0.2 s".to_string())
        );
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let r = run_bounded(cmd, "sh", Duration::from_secs(5));
        assert!(
            r.as_ref().is_err_and(|e| e.to_string().ends_with(": err")),
            "{r:?}"
        );
        let mut cmd = Command::new("echo");
        cmd.arg("fine");
        assert_eq!(
            run_bounded(cmd, "echo", Duration::from_secs(5)).ok(),
            Some("fine\n".to_string())
        );
    }
}
