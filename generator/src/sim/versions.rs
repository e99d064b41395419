//! The versions of what a lab runs: each daemon of the backend, and the
//! Python and MPyC the parties run. Recorded in every report and grid cell,
//! and part of a grid cell's cache key, so a result always says what
//! produced it and a new daemon version is measured anew.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::catalogue::Backend;

/// (name in the report, program, arguments) of the version commands of a
/// backend's programs.
pub fn commands(backend: Backend) -> Vec<(&'static str, &'static str, &'static [&'static str])> {
    match backend {
        Backend::Nebula => vec![("nebula", "nebula", &["-version"])],
        Backend::Wireguard => vec![
            ("wireguard-go", "wireguard-go", &["--version"]),
            ("wireguard-tools", "wg", &["--version"]),
        ],
        Backend::Tinc => vec![("tinc", "tincd", &["--version"])],
        Backend::Openvpn => vec![("openvpn", "openvpn", &["--version"])],
        Backend::Tailscale | Backend::Headscale => vec![
            ("tailscale", "tailscale", &["version"]),
            ("tailscaled", "tailscaled", &["--version"]),
            ("headscale", "headscale", &["version"]),
        ],
        Backend::Direct => Vec::new(),
    }
}

/// The first version number in a program's output: a word that starts with
/// a digit (after an optional `v`) and has a dot, e.g. `v1.10.3` in
/// `Version: 1.10.3` or `OpenVPN 2.6.14 x86_64-pc-linux-gnu` → `2.6.14`.
pub fn parse(text: &str) -> Option<String> {
    text.lines().take(3).find_map(|line| {
        line.split(|c: char| c.is_whitespace() || c == ',')
            .map(|w| w.strip_prefix('v').unwrap_or(w))
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))
            .map(|w| {
                w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                    .to_string()
            })
    })
}

/// Output of `program args`, stdout and stderr together, whatever its exit
/// status (`openvpn --version` exits 1).
fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s
        })
        .unwrap_or_default()
}

/// The versions of a backend's daemons and of `python`'s Python and MPyC
/// (and numpy and gmpy2, where installed). A program that prints no version
/// is recorded as `unknown`.
pub fn collect(backend: Backend, python: &Path) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    for (name, program, args) in commands(backend) {
        let found = parse(&output(program, args)).unwrap_or_else(|| "unknown".into());
        v.insert(name.to_string(), found);
    }
    let script = "import sys\nprint('python', sys.version.split()[0])\nfor m in ('mpyc', 'numpy', 'gmpy2'):\n    try:\n        print(m, __import__(m).__version__)\n    except Exception:\n        pass\n";
    let py = output(&python.display().to_string(), &["-c", script]);
    for line in py.lines() {
        if let Some((name, version)) = line.split_once(' ') {
            if matches!(name, "python" | "mpyc" | "numpy" | "gmpy2") {
                v.insert(name.to_string(), version.trim().to_string());
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lines_of_the_daemons() {
        // as each prints it
        assert_eq!(parse("Version: 1.10.3\n").as_deref(), Some("1.10.3"));
        assert_eq!(
            parse("1.90.9\n  tailscale commit: unknown\n  long version: 1.90.9\n").as_deref(),
            Some("1.90.9")
        );
        assert_eq!(
            parse("headscale version v0.27.1\ncommit: unknown\n").as_deref(),
            Some("0.27.1")
        );
        assert_eq!(
            parse("wireguard-go v0.0.20220316\n\nUserspace WireGuard daemon for linux-amd64.\n")
                .as_deref(),
            Some("0.0.20220316")
        );
        assert_eq!(
            parse("wireguard-tools v1.0.20210914 - https://git.zx2c4.com/wireguard-tools/\n")
                .as_deref(),
            Some("1.0.20210914")
        );
        assert_eq!(
            parse("tinc version 1.0.36 (built Mar  4 2023 11:34:00, protocol 17)\n").as_deref(),
            Some("1.0.36")
        );
        assert_eq!(
            parse("OpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL (OpenSSL)] [LZO]\nlibrary versions: OpenSSL 3.0.17\n")
                .as_deref(),
            Some("2.6.14")
        );
        assert_eq!(parse("no version here\n"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn every_backend_but_direct_names_its_daemons() {
        for b in Backend::ALL {
            assert_eq!(commands(*b).is_empty(), *b == Backend::Direct, "{b}");
        }
    }
}
