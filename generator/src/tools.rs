//! External programs e3 calls (terraform, colmena, nebula, wg, ...).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Whether `program` is an executable file in a directory of `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Where `ci/install-deps` puts the daemons it builds from their Go
/// modules, relative to a project checkout.
pub const TOOLS_BIN: &str = ".tools/bin";

/// The `.tools/bin` directories that exist in the current directory or one
/// of its parents, next to the `e3` binary (or a parent: `target/debug/e3`
/// of a checkout), or in e3's source tree; nearest first, each once. The
/// same places as the Python venv (`sim::find_python`).
pub fn tool_dirs() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().map(Path::to_path_buf));
    }
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let mut dirs: Vec<PathBuf> = Vec::new();
    for r in roots {
        let d = r.join(TOOLS_BIN);
        if d.is_dir() {
            let d = d.canonicalize().unwrap_or(d);
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}

/// Whether `program` is on `PATH` or in one of [`tool_dirs`]: what `e3`
/// finds, whose `main` puts those directories in front of `PATH`.
pub fn available(program: &str) -> bool {
    on_path(program) || tool_dirs().iter().any(|d| d.join(program).is_file())
}

/// `PATH` with `dirs` in front (those not already in it), for the process
/// and every program it starts: `ip netns exec NS tailscaled` then finds
/// the project's daemons before the system's. `None` when nothing changes.
pub fn path_with(dirs: &[PathBuf], path: Option<OsString>) -> Option<OsString> {
    let current: Vec<PathBuf> = path
        .as_ref()
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let new: Vec<PathBuf> = dirs
        .iter()
        .filter(|d| !current.contains(d))
        .cloned()
        .collect();
    if new.is_empty() {
        return None;
    }
    std::env::join_paths(new.into_iter().chain(current)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_dirs_go_first_once() {
        let dirs = vec![PathBuf::from("/p/.tools/bin")];
        let path = path_with(&dirs, Some("/usr/bin:/bin".into())).expect("changed");
        assert_eq!(path, OsString::from("/p/.tools/bin:/usr/bin:/bin"));
        assert_eq!(path_with(&dirs, Some(path)), None);
        assert_eq!(path_with(&[], Some("/usr/bin".into())), None);
        assert_eq!(
            path_with(&dirs, None),
            Some(OsString::from("/p/.tools/bin"))
        );
    }
}
