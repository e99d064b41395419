//! `e3 keys`: the backend's key material into `secrets/NAME`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{load_plan, Error};

pub fn run(name: &str, rotate: bool, secrets: Option<PathBuf>) -> Result<ExitCode, Error> {
    let plan = load_plan(name)?;
    let dir = secrets.unwrap_or_else(|| Path::new("secrets").join(&plan.name));
    let report = e3::keys::keys(&plan, &dir, rotate)?;
    for n in &report.notes {
        println!("note: {n}");
    }
    if report.up_to_date() {
        println!(
            "{}: key material up to date ({} files)",
            dir.display(),
            report.kept.len()
        );
    } else {
        for f in &report.generated {
            println!("wrote {}", dir.join(f).display());
        }
        println!("next: `e3 render {name}` copies the public keys into the rendered directory");
    }
    Ok(ExitCode::SUCCESS)
}
