//! `e3 new`: a new scenario file from an existing one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use e3::fork;
use e3::load::ScenarioRef;

use super::{print_diagnostics, Error};

pub fn run(
    name: &str,
    from: &str,
    copy: bool,
    output: Option<PathBuf>,
    force: bool,
) -> Result<ExitCode, Error> {
    if !e3::scenario::valid_name(name) {
        return Err(Error::InvalidName {
            name: name.to_string(),
        });
    }
    let base = ScenarioRef::from_arg(from);
    let checked = e3::check(&base);
    if !checked.is_valid() {
        print_diagnostics(&checked.diagnostics, &checked.sources);
        return Err(Error::InvalidBase {
            from: from.to_string(),
        });
    }
    let path = output.unwrap_or_else(|| PathBuf::from(format!("{name}.yaml")));
    if path.exists() && !force {
        return Err(Error::Exists { path });
    }
    let text = if copy {
        fork::copy(&checked.sources.file(0).text, name)
    } else {
        let dir = path.parent().unwrap_or(Path::new("."));
        fork::fork(name, from, &fork::extends_value(&base, dir))
    };
    std::fs::write(&path, text).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    // The new file must itself be valid.
    let again = e3::check(&ScenarioRef::File(path.clone()));
    print_diagnostics(&again.diagnostics, &again.sources);
    if !again.is_valid() {
        let _ = std::fs::remove_file(&path);
        return Err(Error::ForkInvalid);
    }
    println!("wrote {} (from {from})", path.display());
    Ok(ExitCode::SUCCESS)
}
