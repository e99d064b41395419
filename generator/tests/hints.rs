//! Hints are data ([`e3::error::Hinted`]), never text inside a message: no
//! string literal of e3 or e3-bench (outside their `#[cfg(test)]` modules)
//! spells `= hint:`; only `e3::error::render` and the diagnostics' renderer
//! lay hints out.

use std::path::{Path, PathBuf};

/// Every source of e3 and e3-bench except the two renderers that lay hints
/// out (`diag.rs` for diagnostics, `error.rs` for errors).
fn layer_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let renderers = [root.join("src/diag.rs"), root.join("src/error.rs")];
    let mut files = Vec::new();
    let mut dirs = vec![root.join("src"), root.join("../bench/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") && !renderers.contains(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The contents of the string literals of Rust source `text` (plain,
/// byte and raw strings), with the line each starts on; comments and
/// character literals skipped.
fn string_literals(text: &str) -> Vec<(usize, String)> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        match c[i] {
            '\n' => line += 1,
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
                i += 2;
                continue;
            }
            '\'' => {
                // 'x', '\n', '\'', '\u{..}'; otherwise a lifetime.
                if c.get(i + 1) == Some(&'\\') {
                    i += 3;
                    while i < c.len() && c[i] != '\'' {
                        i += 1;
                    }
                } else if c.get(i + 2) == Some(&'\'') {
                    i += 2;
                }
            }
            'r' if matches!(c.get(i + 1), Some('"' | '#'))
                && !c
                    .get(i.wrapping_sub(1))
                    .is_some_and(|p| p.is_alphanumeric() || *p == '_') =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while c.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if c.get(j) == Some(&'"') {
                    let start = line;
                    let mut s = String::new();
                    j += 1;
                    while j < c.len() {
                        if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                            break;
                        }
                        line += usize::from(c[j] == '\n');
                        s.push(c[j]);
                        j += 1;
                    }
                    out.push((start, s));
                    i = j + hashes + 1;
                    continue;
                }
            }
            '"' => {
                let start = line;
                let mut s = String::new();
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' && i + 1 < c.len() {
                        s.push(c[i]);
                        i += 1;
                    }
                    line += usize::from(c[i] == '\n');
                    s.push(c[i]);
                    i += 1;
                }
                out.push((start, s));
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[test]
fn the_scanner_finds_literals_and_skips_comments() {
    let src = r###"// "= hint: in a comment"
/* "= hint: in a block" */
let a = '"'; let b = ['\'', '"', '\u{22}']; fn f<'a>(x: &'a str) {}
let s = "error\n   = hint: inline";
let r = r#"raw "quoted" = hint: too"#;
let e = "escaped \" quote";
"###;
    let lits = string_literals(src);
    let texts: Vec<&str> = lits.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        texts,
        [
            "error\\n   = hint: inline",
            "raw \"quoted\" = hint: too",
            "escaped \\\" quote"
        ]
    );
    assert_eq!(lits[0].0, 4);
    assert_eq!(lits[1].0, 5);
}

#[test]
fn no_message_of_the_typed_layers_spells_out_a_hint() {
    let files = layer_sources();
    for f in [
        "keys.rs",
        "sim/error.rs",
        "sim/session.rs",
        "cli/error.rs",
        "bench/src/error.rs",
    ] {
        assert!(files.iter().any(|p| p.ends_with(f)), "{f} is not scanned");
    }
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        // Messages, not the tests' expected renderings.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (line, s) in string_literals(code) {
            if s.contains("= hint:") {
                found.push(format!("{}:{line}: {s:?}", f.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "hints belong in `Hinted::hint`, not in a message:\n{}",
        found.join("\n")
    );
}
