//! `e3 graph`: the simulated topology as Mermaid or Graphviz.

use std::process::ExitCode;

use super::args::GraphFormat;
use super::{load_plan, Error};

pub fn run(name: &str, format: GraphFormat) -> Result<ExitCode, Error> {
    let plan = load_plan(name)?;
    print!(
        "{}",
        match format {
            GraphFormat::Mermaid => e3::graph::mermaid(&plan),
            GraphFormat::Dot => e3::graph::dot(&plan),
        }
    );
    Ok(ExitCode::SUCCESS)
}
