//! The one golden-file mechanism of the test suite: `nix.rs` (rendered Nix
//! and data), `terraform.rs` (Terraform roots), `deploy.rs` (dry-run
//! sequences) and `fixtures.rs` (diagnostics) compare their output with
//! files under `generator/tests/`, show a line diff of each difference, and
//! rewrite the files under `E3_BLESS=1`:
//!
//!   E3_BLESS=1 cargo test -p e3 --test nix golden_nix
//!
//! Included with `#[path = "support/golden.rs"] mod golden;`.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Collects the differences of one test; [`Golden::finish`] fails with all
/// of them.
pub struct Golden {
    bless: bool,
    failures: Vec<String>,
}

impl Default for Golden {
    fn default() -> Self {
        Self::new()
    }
}

impl Golden {
    pub fn new() -> Self {
        Golden {
            bless: std::env::var_os("E3_BLESS").is_some_and(|v| v == "1"),
            failures: Vec::new(),
        }
    }

    /// Whether this run rewrites the golden files.
    pub fn blessing(&self) -> bool {
        self.bless
    }

    /// `actual` against the golden file `path` (relative to the crate).
    pub fn check(&mut self, path: impl AsRef<Path>, actual: &str) {
        let path = root().join(path);
        if self.bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            if std::fs::read_to_string(&path).ok().as_deref() != Some(actual) {
                std::fs::write(&path, actual).unwrap();
            }
            return;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => self.failures.push(format!(
                "{} differs (- golden, + actual):\n{}",
                shown(&path),
                diff(&expected, actual)
            )),
            Err(_) => self
                .failures
                .push(format!("{}: no golden file", shown(&path))),
        }
    }

    /// Every file of `files` (paths relative to `dir`) against its golden
    /// copy under `dir`, and golden files under `dir` that are no longer
    /// produced (removed under `E3_BLESS=1`).
    pub fn check_dir(&mut self, dir: impl AsRef<Path>, files: &BTreeMap<PathBuf, String>) {
        let dir = dir.as_ref();
        for (p, text) in files {
            self.check(dir.join(p), text);
        }
        let abs = root().join(dir);
        let mut stack = vec![abs.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else if !files.contains_key(path.strip_prefix(&abs).unwrap()) {
                    if self.bless {
                        std::fs::remove_file(&path).unwrap();
                    } else {
                        self.failures
                            .push(format!("{}: golden file no longer produced", shown(&path)));
                    }
                }
            }
        }
        if self.bless {
            remove_empty_dirs(&abs);
        }
    }

    /// Fails with every difference found, and how to accept them.
    pub fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{}\n\n{} golden file(s) differ; if the new output is right, run the test with E3_BLESS=1 and review the diff",
            self.failures.join("\n\n"),
            self.failures.len()
        );
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn remove_empty_dirs(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            remove_empty_dirs(&e.path());
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

/// A line diff of two texts (longest common subsequence), changed lines
/// with up to two lines of context, at most 80 lines.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    let mut out = Vec::new();
    let mut skipped = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if near(k) {
            if skipped {
                out.push("  …".to_string());
                skipped = false;
            }
            out.push(format!("{c} {line}"));
        } else {
            skipped = true;
        }
    }
    if skipped {
        out.push("  …".to_string());
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push("(the final line end differs)".into());
    }
    if out.len() > 80 {
        let more = out.len() - 80;
        out.truncate(80);
        out.push(format!("… {more} more lines"));
    }
    out.join("\n")
}

#[test]
fn diff_shows_changed_lines_with_context() {
    let d = diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n");
    assert_eq!(d, "  …\n  b\n  c\n- d\n+ D\n  e\n  f\n  …");
}
