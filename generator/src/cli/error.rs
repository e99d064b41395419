//! The command line's own errors: what `main` reports about the arguments
//! and the state around a command (a matrix where one scenario is needed,
//! a file that exists, a missing credential), each with its hint as data
//! and its exit status. The library's errors pass through as
//! [`Error::Library`].

use std::path::PathBuf;

use e3::error::Hinted;

/// Exit status for invalid scenarios and bad usage.
pub const EXIT_INVALID: u8 = 2;
/// Exit status for a failure of the environment (IO, a tool, the lab).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status after SIGINT, SIGTERM or SIGHUP (128 + SIGINT, as shells use).
pub const EXIT_INTERRUPTED: u8 = 130;

/// `N error` or `N errors`.
fn count_errors(n: usize) -> String {
    format!("{n} error{}", if n == 1 { "" } else { "s" })
}

/// `` `a`, `b` ``.
fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|x| format!("`{x}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // Exit status 2: the scenario or the arguments.
    /// A matrix scenario where a command needs one scenario.
    #[error("`{name}` is a matrix of {variants} variants; name one, e.g. `{example}`")]
    Matrix {
        name: String,
        variants: usize,
        example: String,
    },
    /// The scenario has errors (its diagnostics are printed before).
    #[error("`{name}` is not a valid scenario ({})", count_errors(*errors))]
    InvalidScenario { name: String, errors: usize },
    /// `e3 list --variants` of an invalid scenario.
    #[error("`{name}` is not a valid scenario")]
    NotValid { name: String },
    /// `e3 list --variants NAME@VARIANT`.
    #[error("`{name}` is one variant")]
    OneVariant { name: String, base: String },
    /// `e3 list --variants` of a scenario without `matrix:`.
    #[error("`{name}` has no `matrix:`, so it has no variants")]
    NoVariants { name: String },
    /// `e3 grid NAME@VARIANT`.
    #[error("`{name}` is one variant, not a grid")]
    GridOfOneVariant {
        name: String,
        base: String,
        /// One of the variant's settings, for the `--only` example.
        setting: String,
    },
    /// `e3 grid` of a scenario without `matrix:`.
    #[error("`{name}` has no `matrix:`, so there is no grid to run")]
    NoGrid { name: String },
    /// `e3 grid --only …`.
    #[error(transparent)]
    Only(e3::matrix::OnlyError),
    /// `e3 new` with a name that is not a scenario name.
    #[error("invalid scenario name `{name}`")]
    InvalidName { name: String },
    /// `e3 new --from` an invalid scenario.
    #[error("cannot start from `{from}`: it is not a valid scenario")]
    InvalidBase { from: String },
    /// `e3 new` onto an existing file without `--force`.
    #[error("`{}` already exists", path.display())]
    Exists { path: PathBuf },
    /// `e3 lab capture --duration` out of range.
    #[error("`--duration {seconds}`: give seconds between 0 and 86400")]
    Duration { seconds: f64 },
    /// A library error about the arguments (an unknown fault action).
    #[error(transparent)]
    Usage(e3::Error),

    // Exit status 1: the environment.
    /// `e3 sim --cleanup` without root.
    #[error("`e3 sim --cleanup` needs root: the labs' namespaces, processes and state files (`/run/e3`) belong to root")]
    CleanupNeedsRoot,
    /// `e3 lab` without root.
    #[error("`e3 lab` needs root (network namespaces, nftables, `/run/e3`)")]
    LabNeedsRoot,
    /// `e3 sim --expect-failure` of a run that succeeded.
    #[error("the run succeeded, but `--expect-failure` was given")]
    UnexpectedSuccess,
    /// `e3 lab up`: the overlay did not come up; the lab stays up.
    #[error("the overlay did not come up between {} within {timeout} s; the lab stays up to be looked into (`e3 lab down {lab}` removes it)", missing.join(", "))]
    OverlayDown {
        missing: Vec<String>,
        timeout: u64,
        lab: String,
    },
    /// `e3 grid`: cells the lab could not run.
    #[error("the lab could not run {cells} cell{}; see `reason` in grid.json", if *cells == 1 { "" } else { "s" })]
    CellsFailed { cells: usize },
    /// `e3 grid --json`: grid.json could not be read back.
    #[error("{0}")]
    ReadGrid(std::io::Error),
    /// `e3 render`: the key material's public halves could not be read.
    #[error("cannot read the inputs of `{scenario}`: {source}")]
    ReadInputs {
        scenario: String,
        source: e3::render::Error,
    },
    /// `e3 new`: the scenario file could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `e3 new` wrote a scenario that does not validate (a bug).
    #[error("the new scenario did not validate; nothing was written (please report this)")]
    ForkInvalid,
    /// `e3 deploy`/`e3 destroy`: programs the steps need are not on PATH.
    #[error("{} not found on PATH", quoted(programs))]
    MissingPrograms { programs: Vec<String> },
    /// `e3 deploy`/`e3 destroy`: credentials or the SSH key are missing.
    #[error("missing before anything is created: {}", missing.join(", "))]
    MissingInputs { missing: Vec<String> },
    /// `e3 deploy` without `--yes` and without a terminal to ask on.
    #[error("refusing to create machines without confirmation: stdin is not a terminal")]
    Unconfirmed,
    /// Any error of the library.
    #[error(transparent)]
    Library(e3::Error),
}

/// Whatever becomes an [`e3::Error`] (a layer's error, for now a
/// message) becomes a failure of the command: `?` works on the library's
/// calls as it would in a function returning `e3::Error`.
impl<E> From<E> for Error
where
    e3::Error: From<E>,
{
    fn from(e: E) -> Self {
        Error::Library(e3::Error::from(e))
    }
}

impl Error {
    /// The process's exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Matrix { .. }
            | Error::InvalidScenario { .. }
            | Error::NotValid { .. }
            | Error::OneVariant { .. }
            | Error::NoVariants { .. }
            | Error::GridOfOneVariant { .. }
            | Error::NoGrid { .. }
            | Error::Only(_)
            | Error::InvalidName { .. }
            | Error::InvalidBase { .. }
            | Error::Exists { .. }
            | Error::Duration { .. }
            | Error::Usage(_) => EXIT_INVALID,
            Error::CleanupNeedsRoot
            | Error::LabNeedsRoot
            | Error::UnexpectedSuccess
            | Error::OverlayDown { .. }
            | Error::CellsFailed { .. }
            | Error::ReadGrid(_)
            | Error::ReadInputs { .. }
            | Error::Write { .. }
            | Error::ForkInvalid
            | Error::MissingPrograms { .. }
            | Error::MissingInputs { .. }
            | Error::Unconfirmed
            | Error::Library(_) => EXIT_FAILURE,
        }
    }
}

impl Hinted for Error {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Error::Matrix { name, .. } => format!("`e3 list --variants {name}` lists them; `e3 grid {name}` runs them all in the lab; `e3 render {name}` renders them all"),
            Error::OneVariant { base, .. } => format!("`e3 list --variants {base}` lists them all"),
            Error::NoVariants { .. } => "`matrix:` lists values of `backend`, `relay`, `loss` and `nat` to sweep; see the README's scenario reference".into(),
            Error::GridOfOneVariant { name, base, setting } => format!("`e3 sim '{name}'` runs it; `e3 grid {base} --only …` runs part of the grid (e.g. `--only {setting}`)"),
            Error::NoGrid { name } => format!("`e3 sim {name}` runs one scenario; add `matrix:` (e.g. `matrix: {{ backend: [nebula, tinc] }}`) to sweep values"),
            Error::Only(e) => return e.hint(),
            Error::InvalidName { .. } => "use lower-case letters, digits and `-`, starting with a letter".into(),
            Error::Exists { .. } => "pass `--force` to overwrite it, or `-o` to write elsewhere".into(),
            Error::Usage(e) | Error::Library(e) => return e.hint(),
            Error::CleanupNeedsRoot | Error::LabNeedsRoot => "run it with `sudo`".into(),
            Error::MissingPrograms { .. } => "`nix develop` in the e3 repository provides them (terraform via `nix develop .#terraform`; `tofu` works too); ssh comes with OpenSSH".into(),
            Error::MissingInputs { .. } => "credentials come from the environment only (see `e3 deploy --help`)".into(),
            Error::Unconfirmed => "pass `--yes` to create them without asking".into(),
            Error::ReadInputs { source, .. } => return source.hint(),
            Error::InvalidScenario { .. }
            | Error::NotValid { .. }
            | Error::InvalidBase { .. }
            | Error::Duration { .. }
            | Error::UnexpectedSuccess
            | Error::OverlayDown { .. }
            | Error::CellsFailed { .. }
            | Error::ReadGrid(_)
            | Error::Write { .. }
            | Error::ForkInvalid => return None,
        })
    }

    fn notes(&self) -> Vec<String> {
        match self {
            Error::Only(e) => e.notes(),
            Error::Usage(e) | Error::Library(e) => e.notes(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use e3::error::render;

    #[test]
    fn renders_once_with_the_hint_as_data() {
        let e = Error::Matrix {
            name: "connectivity-grid".into(),
            variants: 2,
            example: "connectivity-grid@backend=nebula".into(),
        };
        assert_eq!(e.exit_code(), EXIT_INVALID);
        assert_eq!(
            render(&e),
            "error: `connectivity-grid` is a matrix of 2 variants; name one, e.g. `connectivity-grid@backend=nebula`\n   = hint: `e3 list --variants connectivity-grid` lists them; `e3 grid connectivity-grid` runs them all in the lab; `e3 render connectivity-grid` renders them all\n"
        );
        let e = Error::InvalidScenario {
            name: "x".into(),
            errors: 1,
        };
        assert_eq!(render(&e), "error: `x` is not a valid scenario (1 error)\n");
        let e = Error::MissingPrograms {
            programs: vec!["terraform".into(), "colmena".into()],
        };
        assert_eq!(e.exit_code(), EXIT_FAILURE);
        assert!(render(&e).starts_with(
            "error: `terraform`, `colmena` not found on PATH\n   = hint: `nix develop`"
        ));
    }

    #[test]
    fn library_errors_pass_through_with_status_1() {
        let e: Error = e3::sim::Error::NotRoot.into();
        assert_eq!(e.exit_code(), EXIT_FAILURE);
        assert_eq!(
            render(&e),
            "error: `e3 sim` needs root (network namespaces, nftables)\n   = hint: run it with `sudo`\n"
        );
        let unknown = "x".parse::<e3::sim::fault::Action>().unwrap_err();
        let usage = Error::Usage(unknown.into());
        assert_eq!(usage.exit_code(), EXIT_INVALID);
        assert!(usage.hint().is_some_and(|h| h.starts_with("one of ")));
    }
}
