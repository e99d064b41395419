//! The lab's errors ([`Error`]): what `e3 sim`, `e3 lab` and `e3 grid`'s
//! runs report when a lab cannot be built, run or reached. Each variant's
//! `Display` is its one-line message; what to do about it and further facts
//! are [`Hinted::hint`] and [`Hinted::notes`], never part of the message.
//!
//! An experiment that fails is not an error: it is a report with `ok: false`.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::capture::CaptureError;
use super::fault::Action;
use super::netns::STATE_DIR;
use super::wire::PcapError;
use crate::catalogue::{Backend, Nat};
use crate::error::Hinted;

/// Everything the lab layer reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A signal arrived (SIGINT, SIGTERM, SIGHUP): the lab was unwound.
    #[error("interrupted")]
    Interrupted,
    #[error("`e3 sim` needs root (network namespaces, nftables)")]
    NotRoot,
    /// [`super::session::LabSession::next_run`] with a plan the lab was not
    /// built for (a caller's mistake, not the user's).
    #[error("the lab of `{lab}` cannot run `{scenario}`: their topologies or backends differ")]
    LabMismatch { lab: String, scenario: String },
    /// Programs the backend's lab needs are not on PATH.
    #[error(
        "backend `{backend}` needs {} on PATH, which {} missing",
        ticked(tools),
        if tools.len() == 1 { "is" } else { "are" }
    )]
    MissingTools {
        backend: Backend,
        tools: Vec<String>,
    },
    #[error("no Python with MPyC found (looked at `$E3_PYTHON` and `.venv/bin/python` here, next to `e3` and in its source tree)")]
    NoPython,
    #[error("cannot run `setpriv`: {0}")]
    NoSetpriv(String),
    /// The unprivileged user cannot import MPyC with this Python.
    #[error("the lab runs the program as `nobody`, who cannot run `{}` with MPyC: {detail}", python.display())]
    NobodyCannotImport { python: PathBuf, detail: String },
    /// The unprivileged user cannot read the program.
    #[error("the lab runs the program as `nobody`, who cannot read `{}`", program.display())]
    NobodyCannotRead { program: PathBuf, tmpdir: PathBuf },
    #[error("`{STATE_DIR}` is not a directory owned by root: refusing to trust it")]
    UntrustedStateDir,
    /// A state file or record that root does not own alone.
    #[error(
        "ignored `{}`: not a regular file that only root can write (owner uid {uid}, mode {mode:o}); it may have been planted, so nothing it lists was touched",
        path.display()
    )]
    UntrustedState { path: PathBuf, uid: u32, mode: u32 },
    #[error("ignored `{}`: not named like a lab's state file", .0.display())]
    NotAStateFile(PathBuf),
    /// A state file or record that could not be read or parsed.
    #[error("ignored `{}`: {detail}", path.display())]
    BadState { path: PathBuf, detail: String },
    #[error("no free lab prefix: 256 random `e3-XXXX` were taken")]
    NoFreePrefix,
    /// A file or directory operation of the lab.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// `create`, `write`, `read`, …
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A program that could not be run at all.
    #[error("cannot run `{program}`: {source}")]
    CannotRun {
        program: String,
        #[source]
        source: io::Error,
    },
    /// A lab child that could not be started.
    #[error("cannot start `{program}`: {source}")]
    CannotStart {
        program: String,
        #[source]
        source: io::Error,
    },
    /// An external command that failed: `command` names it (in backticks,
    /// with where it ran), `stderr` is what it said.
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// An external command that outlived its bound and was killed.
    #[error("{command} did not finish within {} s", seconds(*within))]
    Timeout { command: String, within: Duration },
    /// A daemon that exited or did not get ready: what happened, and its
    /// last output when it has a log.
    #[error("{what}{}", log_tail.as_ref().map(|t| format!(": {t}")).unwrap_or_default())]
    Daemon {
        what: String,
        log_tail: Option<String>,
    },
    /// The coordinator's daemon died before the parties started.
    #[error("the {host}'s `{daemon}` exited ({status}) before the parties started; nothing can join the overlay without it")]
    CoordinatorExited {
        host: String,
        daemon: String,
        status: String,
        log_tail: String,
    },
    /// Output of a tool or daemon that e3 could not read.
    #[error("{0}")]
    Output(String),
    /// The plan lacks what the lab needs (validation rules it out).
    #[error("{0}")]
    Plan(String),
    /// A program given by path could not be read.
    #[error(transparent)]
    Program(#[from] crate::files::Error),
    #[error("the program's directory `{}` is not in the lab's public directory", .0.display())]
    NotPublic(PathBuf),
    #[error("nothing was started as `{name}` in lab {lab}")]
    NothingStarted { name: String, lab: String },
    #[error("`{0}` is not a lab prefix")]
    NotALabPrefix(String),
    #[error("lab {prefix} is gone (no `{}`)", path.display())]
    LabGone { prefix: String, path: PathBuf },
    #[error("lab {0} belongs to a running `e3 sim` or `e3 grid`, not to `e3 lab up`")]
    NotKept(String),
    #[error("lab {0} has no lab directory in its state file")]
    NoLabDir(String),
    #[error("cannot install signal handler: {0}")]
    SignalHandler(#[source] io::Error),
    #[error("the socket path `{}` is longer than a Unix socket address allows", .0.display())]
    SocketPath(PathBuf),
    /// A step of the build, and why it failed (its hint is the cause's).
    #[error("{what}: {source}")]
    Step {
        what: String,
        #[source]
        source: Box<Error>,
    },

    // `e3 lab`
    #[error("`{0}` cannot name a lab: use 1 to 100 of A-Z a-z 0-9 . _ @ = , + -")]
    BadLabName(String),
    #[error("no lab `{name}` is up")]
    LabNotUp { name: String, running: Vec<String> },
    #[error("lab `{name}` is already up ({prefix}, scenario {scenario})")]
    LabAlreadyUp {
        name: String,
        prefix: String,
        scenario: String,
    },
    #[error("scenario `{scenario}` is no longer what lab `{lab}` was built from (its hosts or addresses changed)")]
    LabChanged { scenario: String, lab: String },
    #[error("lab `{lab}` has no host `{host}`")]
    UnknownHost {
        lab: String,
        host: String,
        known: Vec<String>,
    },
    #[error("the namespace `{namespace}` of lab `{lab}` is gone")]
    NamespaceGone { lab: String, namespace: String },
    #[error("no command given")]
    NoCommand,

    // Faults
    #[error("unknown fault `{0}`")]
    UnknownFault(String),
    #[error("no host `{host}` in `{scenario}`")]
    NoSuchHost {
        scenario: String,
        host: String,
        known: Vec<String>,
    },
    /// `kill` or `restart` of a host without a (running) daemon.
    #[error(
        "`{target}` {what}{}",
        if daemons.is_empty() { format!(": the `{backend}` backend runs no daemons") } else { String::new() }
    )]
    NoDaemon {
        target: String,
        what: &'static str,
        daemons: Vec<String>,
        backend: Backend,
    },
    #[error("`restart` of a WireGuard daemon: `wg setconf` configures wireguard-go after it starts, which a restart would not redo")]
    WireguardRestart,
    #[error("`{host}` is not a router: `rebind` makes a router forget its NAT mappings")]
    NotARouter {
        host: String,
        /// The router it is behind, if any.
        behind: Option<String>,
    },
    #[error("`{host}` is a `{nat}` router, which translates no ports: nothing to rebind")]
    NothingToRebind { host: String, nat: Nat },
    #[error("no free outside port left to rebind to")]
    NoFreePort,
    #[error("`{host}` has no address on the internet segment")]
    NotOnInternet { host: String, hint: Option<String> },
    #[error("the internet segment has no free address left")]
    NoFreeAddress,

    // Latency
    #[error("`{0}` is no latency method")]
    UnknownLatency(String),
    #[error("`--latency nfqueue`: e3's delay line is a thread of the e3 process, and `e3 lab up` leaves no process behind")]
    NfqueueDetached,
    #[error("`--latency netem`: this kernel has no netem qdisc")]
    NoNetem,
    #[error("the delay line needs `iptables` (its `NFQUEUE` target) on PATH")]
    NoIptables,
    /// The delay line's own failures (netlink sockets, its thread).
    #[error("{0}")]
    DelayLine(String),
    #[error("NFQUEUE {queue} in `{ns}`: the kernel refused the configuration: {detail}")]
    NfqueueRefused {
        queue: u16,
        ns: String,
        detail: String,
    },
    /// An iptables rule of the delay line that could not be added.
    #[error("delay line on `{host}`: {source}")]
    DelayLineRule {
        host: String,
        #[source]
        source: Box<Error>,
    },

    // Captures
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("`{}`: {source}", path.display())]
    Pcap {
        path: PathBuf,
        #[source]
        source: PcapError,
    },
}

/// `a`, `b` as "`a`, `b`".
fn ticked(names: &[String]) -> String {
    names
        .iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whole seconds as `10`, others as `0.2`.
fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{:.1}", d.as_secs_f64())
    }
}

impl Error {
    /// A file operation's error: `cannot {action} `{path}`: …`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    /// This error as the cause of a step (`{what}: {self}`).
    pub fn during(self, what: impl Into<String>) -> Error {
        Error::Step {
            what: what.into(),
            source: Box::new(self),
        }
    }
}

impl Hinted for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Error::NotRoot => "run it with `sudo`".into(),
            Error::MissingTools { backend, .. } => match backend {
                Backend::Tailscale | Backend::Headscale | Backend::Nebula => "`ci/install-deps` builds them from their Go modules into `.tools/bin/` of the e3 checkout, where e3 finds them (the versions nixpkgs ships, pinned in `ci/go-tools.txt`)".into(),
                _ => "`ci/install-deps` installs them (Debian)".into(),
            },
            Error::NoPython => "`ci/install-deps` creates `.venv`, or set `E3_PYTHON`".into(),
            Error::NoSetpriv(_) => {
                "it comes with util-linux (Debian: `apt-get install util-linux`)".into()
            }
            Error::NobodyCannotImport { .. } => "put the venv where every user can read it (not under `/root`), or point `E3_PYTHON` at one".into(),
            Error::NobodyCannotRead { tmpdir, .. } => format!(
                "the lab lives in `$TMPDIR` (here `{}`): use a directory every user can enter, such as `/tmp`",
                tmpdir.display()
            ),
            Error::UntrustedStateDir => format!(
                "someone else created it; inspect and remove it (`sudo rm -r {STATE_DIR}`), then run e3 again"
            ),
            Error::NoFreePrefix => format!(
                "`sudo e3 sim --cleanup` removes labs that crashed; see `{STATE_DIR}`"
            ),
            Error::SocketPath(_) => "set TMPDIR to a shorter directory".into(),
            Error::Step { source, .. } => return source.hint(),
            Error::LabNotUp { name, running } if running.is_empty() => {
                format!("`sudo e3 lab up {name}` starts it")
            }
            Error::LabNotUp { running, .. } => format!("running labs: {}", running.join(", ")),
            Error::LabAlreadyUp { name, .. } => format!(
                "`e3 lab down {name}` first, or `--name` for a second lab of the scenario"
            ),
            Error::LabChanged { lab, .. } => {
                format!("`e3 lab down {lab}`, then `e3 lab up` again")
            }
            Error::UnknownHost { known, .. } | Error::NoSuchHost { known, .. } => {
                format!("its hosts: {}", known.join(", "))
            }
            Error::NamespaceGone { lab, .. } => format!("`e3 lab down {lab}` removes what is left"),
            Error::NoCommand => "`e3 lab exec NAME HOST -- CMD…`".into(),
            Error::UnknownFault(_) => {
                format!("one of {}", Action::ALL.map(|a| a.as_str()).join(", "))
            }
            Error::NoDaemon { daemons, .. } if !daemons.is_empty() => {
                format!("hosts with an overlay daemon: {}", daemons.join(", "))
            }
            Error::WireguardRestart => {
                "`kill` works; `e3 lab down` and `up` start it again".into()
            }
            Error::NotARouter {
                host,
                behind: Some(router),
            } => format!("`{host}` is behind `{router}`"),
            Error::NotOnInternet { hint, .. } => return hint.clone(),
            Error::UnknownLatency(_) => "one of `netem`, `nfqueue`, `none`".into(),
            Error::NfqueueDetached => {
                "`--latency netem` on a kernel with netem, or `--latency none`".into()
            }
            Error::NoNetem => {
                "`--latency nfqueue` applies the same delays with e3's delay line".into()
            }
            Error::NoIptables => {
                "`ci/install-deps` installs it (Debian's `iptables`, the nft-based one)".into()
            }
            Error::NfqueueRefused { .. } => "the delay line needs the kernel's `nfnetlink_queue` (CONFIG_NETFILTER_NETLINK_QUEUE)".into(),
            Error::DelayLineRule { .. } => "the delay line needs the kernel's `NFQUEUE` target (xt_NFQUEUE) through iptables-nft; `--latency none` runs without delays".into(),
            Error::Capture(e) => return e.hint(),
            _ => return None,
        })
    }

    fn notes(&self) -> Vec<String> {
        match self {
            Error::CoordinatorExited { log_tail, .. } => {
                vec![format!("its last output: {log_tail}")]
            }
            Error::Step { source, .. } => source.notes(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{one_line, render};

    /// The hint marker of [`render`]'s layout, built here so that this
    /// file does not contain it.
    fn marker() -> String {
        ["=", " hint:"].concat()
    }

    #[test]
    fn hints_are_data_not_part_of_the_message() {
        let e = Error::NotRoot;
        assert_eq!(
            render(&e),
            format!(
                "error: `e3 sim` needs root (network namespaces, nftables)\n   {} run it with `sudo`\n",
                marker()
            )
        );
        let e = Error::LabNotUp {
            name: "x".into(),
            running: Vec::new(),
        };
        assert_eq!(e.to_string(), "no lab `x` is up");
        assert_eq!(e.hint().as_deref(), Some("`sudo e3 lab up x` starts it"));
        let e = Error::LabNotUp {
            name: "x".into(),
            running: vec!["a".into(), "b".into()],
        };
        assert_eq!(e.hint().as_deref(), Some("running labs: a, b"));
        let e = Error::UnknownHost {
            lab: "nebula-nat".into(),
            host: "mallory".into(),
            known: vec!["alice".into(), "bob".into()],
        };
        assert_eq!(
            render(&e),
            format!(
                "error: lab `nebula-nat` has no host `mallory`\n   {} its hosts: alice, bob\n",
                marker()
            )
        );
        let e = Error::MissingTools {
            backend: Backend::Nebula,
            tools: vec!["nebula".into(), "nebula-cert".into()],
        };
        assert_eq!(
            e.to_string(),
            "backend `nebula` needs `nebula`, `nebula-cert` on PATH, which are missing"
        );
        assert!(e.hint().is_some_and(|h| h.contains("ci/go-tools.txt")));
        let e = Error::NoDaemon {
            target: "alice".into(),
            what: "has no daemon",
            daemons: Vec::new(),
            backend: Backend::Direct,
        };
        assert_eq!(
            (e.to_string(), e.hint()),
            (
                "`alice` has no daemon: the `direct` backend runs no daemons".into(),
                None
            )
        );
        for e in [
            Error::NotRoot,
            Error::NoPython,
            Error::NoFreePrefix,
            Error::UntrustedStateDir,
            Error::WireguardRestart,
            Error::NoNetem,
            Error::Capture(CaptureError::NoTcpdump),
        ] {
            let message = e.to_string();
            assert!(
                !message.contains(&marker()) && !message.contains('\n'),
                "{message}"
            );
            assert!(e.hint().is_some(), "{message}");
        }
    }

    #[test]
    fn notes_and_hints_of_causes_come_along() {
        let e = Error::CoordinatorExited {
            host: "lighthouse".into(),
            daemon: "nebula".into(),
            status: "exit status: 1".into(),
            log_tail: "level=fatal".into(),
        };
        assert!(render(&e).ends_with("\nnote: its last output: level=fatal\n"));
        // A step keeps its cause's hint; one line for a report field.
        let e = Error::NoIptables.during("latency on `alice`");
        assert_eq!(
            one_line(&e),
            "latency on `alice`: the delay line needs `iptables` (its `NFQUEUE` target) on PATH; `ci/install-deps` installs it (Debian's `iptables`, the nft-based one)"
        );
        // Through the top-level error too.
        let top = crate::Error::from(Error::NoCommand);
        assert_eq!(
            render(&top),
            format!(
                "error: no command given\n   {} `e3 lab exec NAME HOST -- CMD…`\n",
                marker()
            )
        );
    }
}
