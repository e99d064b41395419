//! Renderers: each output format is one module that turns a [`Plan`] into
//! files. Rendering is deterministic (files are kept in a sorted map and
//! contain nothing that depends on time or machine) and atomic
//! ([`write_atomic`]: a temporary directory renamed into place).

mod readme;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::plan::Plan;

/// Rendered files: path relative to the output directory → contents.
pub type Files = BTreeMap<PathBuf, Vec<u8>>;

/// Renders every output of a plan. Cannot fail on a valid plan.
pub fn render(plan: &Plan) -> Files {
    let mut files = Files::new();
    files.insert("scenario.json".into(), plan.to_json().into_bytes());
    files.insert("README.md".into(), readme::render(plan).into_bytes());
    files
}

/// Writes `files` as the complete contents of `dir`: into a temporary
/// sibling directory first, which then replaces `dir`. A failure leaves
/// `dir` as it was.
pub fn write_atomic(dir: &Path, files: &Files) -> io::Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let base = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = parent.join(format!(".{base}.e3-tmp-{}", std::process::id()));
    let old = parent.join(format!(".{base}.e3-old-{}", std::process::id()));
    let result = (|| {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        for (path, contents) in files {
            let target = tmp.join(path);
            if let Some(p) = target.parent() {
                std::fs::create_dir_all(p)?;
            }
            std::fs::write(&target, contents)?;
        }
        if dir.exists() {
            std::fs::rename(dir, &old)?;
        }
        if let Err(e) = std::fs::rename(&tmp, dir) {
            // Put the previous output back.
            if old.exists() {
                let _ = std::fs::rename(&old, dir);
            }
            return Err(e);
        }
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        Ok(())
    })();
    if result.is_err() && tmp.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
