//! `e3-bench`'s errors. A failed run is [`Error::RunFailed`]: the figure
//! records it and the benchmark goes on; every other error stops it. Hints
//! are data ([`e3::error::Hinted`]); `main` renders them as `e3` does.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// e3's lab failed: its error, hint and notes.
    #[error(transparent)]
    Lab(#[from] e3::sim::Error),
    /// One run failed (the overlay never came up, a program failed, …):
    /// recorded among the figure's failures.
    #[error("{0}")]
    RunFailed(String),
    #[error("lab {prefix} did not tear down cleanly: {}", problems.join("; "))]
    Teardown {
        prefix: String,
        problems: Vec<String>,
    },
    /// A scenario the benchmark generated did not validate: the rendered
    /// diagnostics.
    #[error("generated scenario `{name}` is invalid:\n{diagnostics}")]
    InvalidScenario { name: String, diagnostics: String },
    /// The same, in the rendering child: its first error.
    #[error("the generated scenario `{}` is invalid:\n{diagnostic}", file.display())]
    ChildInvalidScenario { file: PathBuf, diagnostic: String },
    #[error("the lab, overlay, mininet and latency sections need root (network namespaces)")]
    NeedsRoot,
    #[error("`{option}`: `{value}` is not an overlay of the lab")]
    NotAnOverlay {
        option: &'static str,
        value: String,
        /// The overlays the option takes, as the hint lists them.
        choices: &'static str,
    },
    #[error("the {section} section needs `{tool}` on PATH")]
    SectionNeeds {
        section: &'static str,
        tool: &'static str,
    },
    /// An option's value is wrong: why (with its hint).
    #[error("`{option}`: {source}")]
    Option {
        option: &'static str,
        source: Box<Error>,
    },
    #[error("`{0}` is no region pair")]
    NoRegionPair(String),
    #[error("`{option}`: {value} is too small (at least {min})")]
    TooSmall {
        option: &'static str,
        value: usize,
        min: usize,
    },
    #[error("`--mininet-hosts`: at most 254 (one 192.168.i.0/24 LAN per host)")]
    TooManyMininetHosts,
    #[error("Mininet needs {} on PATH", .0.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "))]
    MininetPrograms(Vec<&'static str>),
    #[error("Mininet is not importable from `{python}`: {reason}")]
    MininetImport {
        python: &'static str,
        reason: e3::sim::Error,
    },
    #[error("links of an earlier Mininet run exist ({}); refusing to run beside them", .0.join(", "))]
    MininetLeftovers(Vec<String>),
    #[error("the Mininet run failed ({status}): {stderr}")]
    MininetFailed {
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("the peer plan has no public host")]
    NoPublicHost,
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
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
    #[error("cannot remove `{}`: {source}", path.display())]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot find this program: {0}")]
    CurrentExe(std::io::Error),
    #[error("cannot start the rendering child: {0}")]
    ChildSpawn(std::io::Error),
    #[error("cannot read the rendering child's output: {0}")]
    ChildOutput(std::io::Error),
    #[error("wait4 on the rendering child failed: {0}")]
    Wait4(std::io::Error),
    #[error("the rendering child failed (wait status {status}): {stderr}")]
    ChildFailed { status: i32, stderr: String },
    #[error("the rendering child printed no result ({source}): {stdout}")]
    ChildResult {
        source: serde_json::Error,
        stdout: String,
    },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("`--grid`: `{0}` is not SCENARIO[:KEY=VALUE,…][/RUNS] of a matrix scenario with 1 to 100 runs")]
    GridSpec(String),
    #[error("`--grid`: {0}")]
    GridOnly(String),
    #[error("`--grid-ways`: `{0}` is not a way (baseline, fresh, shared, jobs)")]
    GridWay(String),
    #[error("`--grid-ways baseline` needs `--grid-baseline PATH` (another e3 binary)")]
    NoGridBaseline,
}

impl e3::error::Hinted for Error {
    fn hint(&self) -> Option<String> {
        let install = "`ci/install-deps` installs it";
        match self {
            Error::NeedsRoot => Some("run as root, or `--only render`".into()),
            Error::NotAnOverlay { choices, .. } => Some(format!("choose from {choices}")),
            Error::SectionNeeds { .. } => Some(install.into()),
            Error::Option { source, .. } => source.hint(),
            Error::Lab(e) => e.hint(),
            Error::NoRegionPair(_) => {
                Some("two regions of the catalogue, such as `ams3-sgp1`".into())
            }
            Error::MininetPrograms(_) => Some(
                "`ci/install-deps` installs them (Debian: mininet bridge-utils iptables iputils-ping)"
                    .into(),
            ),
            Error::MininetImport { .. } => Some("`apt-get install mininet`".into()),
            Error::MininetLeftovers(_) => Some("`mn -c` removes them".into()),
            Error::GridSpec(_) | Error::GridOnly(_) => Some(
                "e.g. `mpc-sweep:count=3,placement=same/3` (`e3 list --variants NAME` lists the settings)".into(),
            ),
            _ => None,
        }
    }
    fn notes(&self) -> Vec<String> {
        match self {
            Error::Option { source, .. } => source.notes(),
            Error::Lab(e) => e.notes(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use e3::error::Hinted as _;

    #[test]
    fn hints_are_data_not_part_of_the_message() {
        let cases = [
            (Error::NeedsRoot, "run as root, or `--only render`"),
            (
                Error::NotAnOverlay {
                    option: "--overlays",
                    value: "zerotier".into(),
                    choices: "`nebula`, `wireguard`, `tinc`",
                },
                "choose from `nebula`, `wireguard`, `tinc`",
            ),
            (
                Error::Option {
                    option: "--latency-pairs",
                    source: Box::new(Error::NoRegionPair("ams3".into())),
                },
                "two regions of the catalogue, such as `ams3-sgp1`",
            ),
            (
                Error::MininetLeftovers(vec!["s0".into()]),
                "`mn -c` removes them",
            ),
        ];
        for (e, hint) in cases {
            assert_eq!(e.hint().as_deref(), Some(hint), "{e}");
            assert!(!e.to_string().contains("hint"), "{e}");
        }
        assert_eq!(
            e3::error::render(&Error::Option {
                option: "--latency-pairs",
                source: Box::new(Error::NoRegionPair("ams3".into())),
            }),
            "error: `--latency-pairs`: `ams3` is no region pair\n   = hint: two regions of the catalogue, such as `ams3-sgp1`\n"
        );
        assert_eq!(
            Error::RunFailed("no ICMP echo came back".into()).hint(),
            None
        );
    }
}
