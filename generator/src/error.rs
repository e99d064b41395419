//! Errors outside input validation. Every layer has its own error type, a
//! `thiserror` enum whose `Display` is the one-line message; [`Hinted`]
//! adds what to do about it and further facts. Only `main` renders them, once,
//! in the diagnostics' layout ([`render`]). This module knows no layer: the
//! aggregate of the layers' errors is [`crate::Error`], in the crate root.
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

    #[derive(Debug, thiserror::Error)]
    #[error("interrupted")]
    struct Plain;

    impl Hinted for Plain {}

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
        assert_eq!(Plain.hint(), None);
        assert_eq!(render(&Plain), "error: interrupted\n");
    }
}
