//! `e3 render`: a scenario into a directory; a matrix scenario as every
//! variant and an index.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use e3::plan::{self, Plan};
use e3::{CheckedMatrix, Outcome};

use super::{plan_of, print_diagnostics, Error};

pub fn run(
    name: &str,
    output: Option<PathBuf>,
    secrets: Option<PathBuf>,
) -> Result<ExitCode, Error> {
    let checked = e3::check_arg(name);
    if let Outcome::Matrix(m) = &checked.outcome {
        print_diagnostics(&checked.diagnostics, &checked.sources);
        return render_matrix(m, output.as_deref(), secrets.as_deref());
    }
    let plan = plan_of(name, checked)?;
    let dir = output.unwrap_or_else(|| e3::matrix::output_dir(&plan.name));
    let secrets_dir = secrets.unwrap_or_else(|| Path::new("secrets").join(&plan.name));
    let public = secrets_dir.join("public");
    let inputs = read_inputs(&plan, &public)?;
    let files = e3::render::render_with(&plan, &inputs);
    e3::render::write_output(&dir, &files, Some(&secrets_dir))?;
    println!("rendered {} files into {}", files.len(), dir.display());
    Ok(ExitCode::SUCCESS)
}

fn read_inputs(plan: &Plan, public: &Path) -> Result<e3::render::Inputs, Error> {
    e3::render::read_inputs(plan, public).map_err(|source| Error::ReadInputs {
        scenario: plan.name.clone(),
        source,
    })
}

/// Every variant of a matrix scenario, and an index.
fn render_matrix(
    m: &CheckedMatrix,
    output: Option<&Path>,
    secrets: Option<&Path>,
) -> Result<ExitCode, Error> {
    let dir = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new("out").join(&m.base));
    let plans: Vec<Plan> = m.variants.iter().map(|v| plan::plan(&v.scenario)).collect();
    let mut inputs = Vec::new();
    for p in &plans {
        // One secrets directory per variant, as `e3 keys NAME@VARIANT` writes it.
        let public = secrets
            .map(|s| s.join(&p.name))
            .unwrap_or_else(|| Path::new("secrets").join(&p.name))
            .join("public");
        inputs.push(read_inputs(p, &public)?);
    }
    let variants: Vec<e3::render::VariantRender> = m
        .variants
        .iter()
        .zip(&plans)
        .zip(&inputs)
        .map(|((v, plan), inputs)| e3::render::VariantRender {
            label: &v.label,
            settings: &v.settings,
            plan,
            inputs,
        })
        .collect();
    let description = m.variants[0].scenario.description.as_str();
    let files = e3::render::render_matrix(&m.base, description, &variants);
    e3::render::write_output(&dir, &files, secrets)?;
    println!(
        "rendered {} variants ({} files) into {}",
        variants.len(),
        files.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
