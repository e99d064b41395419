//! Errors outside input validation. Every layer has its own error type, a
//! `thiserror` enum whose `Display` is the one-line message; [`Hinted`]
//! adds what to do about it and further facts. Only `main` renders them, once,
//! in the diagnostics' layout ([`render`]):
//!
//! ```text
//! error: `e3 sim` needs root (network namespaces, nftables)
//!    = hint: run it with `sudo`
//! note: …
//! ```
//!
//! Input problems are not errors of this kind: they are
//! [`Diagnostic`](crate::diag::Diagnostic)s with a source position.

use std::fmt::Write as _;

/// The hint and notes of an error, rendered by [`render`].
pub trait Hinted: std::error::Error {
    /// What to do about it, when e3 knows.
    fn hint(&self) -> Option<String> {
        None
    }
    /// Further facts: a daemon's last log lines, what was left behind.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Every error the library hands to `main`: one variant per layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Keys(#[from] crate::keys::Error),
    #[error(transparent)]
    Files(#[from] crate::files::Error),
    #[error(transparent)]
    Render(#[from] crate::render::Error),
    #[error(transparent)]
    Deploy(#[from] crate::deploy::Error),
    #[error(transparent)]
    Grid(#[from] crate::grid::Error),
    /// The lab's (`e3 sim`, `e3 lab`).
    #[error(transparent)]
    Sim(#[from] crate::sim::Error),
}

impl Error {
    /// The layer's error, to delegate to.
    fn layer(&self) -> &dyn Hinted {
        match self {
            Error::Keys(e) => e,
            Error::Files(e) => e,
            Error::Render(e) => e,
            Error::Deploy(e) => e,
            Error::Grid(e) => e,
            Error::Sim(e) => e,
        }
    }
}

impl Hinted for Error {
    fn hint(&self) -> Option<String> {
        self.layer().hint()
    }
    fn notes(&self) -> Vec<String> {
        self.layer().notes()
    }
}

/// `error: MESSAGE`, then `   = hint: …` and `note: …` lines, ending in a
/// newline: the layout of [`Diagnostic::render`](crate::diag::Diagnostic::render)
/// without a source snippet.
pub fn render(e: &dyn Hinted) -> String {
    let mut out = format!("error: {e}\n");
    if let Some(hint) = e.hint() {
        let _ = writeln!(out, "   = hint: {hint}");
    }
    for note in e.notes() {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// The message and hint on one line (`MESSAGE; HINT`), for a report field
/// or a progress line where an error is one fact among others.
pub fn one_line(e: &dyn Hinted) -> String {
    match e.hint() {
        Some(hint) => format!("{e}; {hint}"),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the lab needs root")]
    struct NeedsRoot;

    impl Hinted for NeedsRoot {
        fn hint(&self) -> Option<String> {
            Some("run it with `sudo`".into())
        }
        fn notes(&self) -> Vec<String> {
            vec!["nothing was started".into()]
        }
    }

    #[test]
    fn renders_like_a_diagnostic_without_a_snippet() {
        assert_eq!(
            render(&NeedsRoot),
            "error: the lab needs root\n   = hint: run it with `sudo`\nnote: nothing was started\n"
        );
        assert_eq!(
            one_line(&NeedsRoot),
            "the lab needs root; run it with `sudo`"
        );
        let plain = Error::from(crate::sim::Error::Interrupted);
        assert_eq!(plain.hint(), None);
        assert_eq!(render(&plain), format!("error: {plain}\n"));
    }

    /// The message of `e` as main prints it, and its hint.
    fn shown(e: impl Into<Error>) -> (String, Option<String>) {
        let e = e.into();
        let message = e.to_string();
        assert!(!message.contains("= hint:"), "{message}");
        assert!(render(&e).starts_with(&format!("error: {message}\n")));
        (message, e.hint())
    }

    #[test]
    fn layers_hand_their_hints_over_as_data() {
        let (message, hint) = shown(crate::keys::Error::Incomplete {
            dir: "secrets/two".into(),
            missing: vec!["nebula/ca.key".into(), "nebula/a.crt".into()],
            scenario: "two".into(),
        });
        assert_eq!(
            message,
            "incomplete key material in `secrets/two`: `nebula/ca.key`, `nebula/a.crt` is missing"
        );
        assert_eq!(
            hint.as_deref(),
            Some("run `e3 keys two --rotate` to regenerate all key material")
        );
        let (message, hint) = shown(crate::keys::Error::ToolMissing {
            tool: "wg",
            how: "Debian: `apt-get install wireguard-tools`",
        });
        assert_eq!(message, "`wg` not found");
        assert_eq!(
            hint.as_deref(),
            Some("install it (Debian: `apt-get install wireguard-tools`; Nix: `nix develop` in the e3 repository)")
        );
        let (message, hint) = shown(crate::render::Error::NotRendered("out/x".into()));
        assert_eq!(
            message,
            "refusing to render into `out/x`: `out/x` is not empty and was not rendered by e3 (it has no `.e3-rendered`)"
        );
        assert!(
            hint.is_some_and(|h| h.starts_with("e3 replaces only directories it rendered itself"))
        );
        let (_, hint) = shown(crate::render::Error::Secrets {
            dir: "secrets/x".into(),
            what: "is a `secrets` directory",
        });
        assert!(hint.is_some_and(|h| h.ends_with("such as the default `out/NAME`")));
        // Errors without advice have no hint, and none of a cause's.
        let (message, hint) = shown(crate::files::Error::ReadDir {
            path: "p".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        assert!(message.starts_with("cannot read `p`: "), "{message}");
        assert_eq!(hint, None);
    }

    #[test]
    fn a_failed_deployment_step_says_what_may_exist() {
        use crate::deploy::{Error as Deploy, Phase};
        let step = |phase, destroying| Deploy::Step {
            number: 3,
            total: 9,
            title: "terraform apply".into(),
            phase,
            destroying,
            scenario: "two".into(),
            terraform: "out/two/terraform".into(),
            cause: Box::new(Deploy::NoImage("out/two/result-image".into())),
        };
        let (message, hint) = shown(step(Phase::Prepare, false));
        assert_eq!(
            message,
            "step 3 of 9 failed: terraform apply\nno image file in `out/two/result-image`"
        );
        assert_eq!(
            hint.as_deref(),
            Some("nothing was created in the cloud yet")
        );
        let (_, hint) = shown(step(Phase::Terraform, false));
        assert!(hint.is_some_and(|h| h
            .starts_with("machines may exist and cost money until destroyed: `e3 destroy two`")));
        let (_, hint) = shown(step(Phase::Colmena, false));
        assert!(hint.is_some_and(|h| h.starts_with("machines may exist")));
        let (_, hint) = shown(step(Phase::Terraform, true));
        assert_eq!(
            hint.as_deref(),
            Some("fix the cause and run `e3 destroy two` again; `terraform -chdir=out/two/terraform state list` shows what still exists")
        );
    }
}
