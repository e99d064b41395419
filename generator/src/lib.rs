//! e3: a declarative testbed generator for multiparty-computation
//! experiments. See ARCHITECTURE.md for the bird's-eye view.
//!
//! The pipeline: [`load`] (YAML with source positions, `extends:`) →
//! [`scenario::validate`] (every problem at once) → [`plan::plan`] (pure) →
//! [`render`] (files) or the lab.

pub mod bundled;
pub mod catalogue;
pub mod deploy;
pub mod diag;
pub mod graph;
pub mod keys;
pub mod load;
pub mod plan;
pub mod render;
pub mod scenario;
pub mod sim;
pub mod source;
pub mod yaml;

use diag::Diagnostics;
use load::ScenarioRef;
use source::Sources;

/// The outcome of loading and validating one scenario.
pub struct Checked {
    pub scenario: Option<scenario::Scenario>,
    pub diagnostics: Diagnostics,
    pub sources: Sources,
}

/// Loads and validates a scenario; never panics, whatever the input.
pub fn check(reference: &ScenarioRef) -> Checked {
    match load::load(reference) {
        Err((items, sources)) => {
            let mut diagnostics = Diagnostics { items };
            diagnostics.sort();
            Checked { scenario: None, diagnostics, sources }
        }
        Ok(loaded) => {
            let (scenario, diagnostics) = scenario::validate(&loaded);
            Checked { scenario, diagnostics, sources: loaded.sources }
        }
    }
}

/// Loads and validates a scenario from text (for the fuzzer and tests).
pub fn check_text(name: &str, text: &[u8]) -> Checked {
    let mut sources = Sources::default();
    let Ok(text) = std::str::from_utf8(text) else {
        let d = diag::Diagnostic::for_file(diag::Code::NotUtf8, name, "the file is not valid UTF-8");
        return Checked { scenario: None, diagnostics: Diagnostics { items: vec![d] }, sources };
    };
    let file = sources.add(name.to_string(), None, text.to_string());
    match yaml::parse(file, text) {
        Err(items) => Checked { scenario: None, diagnostics: Diagnostics { items }, sources },
        Ok(None) => {
            let d = diag::Diagnostic::for_file(diag::Code::Empty, name, "the scenario file is empty");
            Checked { scenario: None, diagnostics: Diagnostics { items: vec![d] }, sources }
        }
        Ok(Some(root)) => {
            let loaded = load::Loaded { root, sources, file, stem: "scenario".into() };
            let (scenario, diagnostics) = scenario::validate(&loaded);
            Checked { scenario, diagnostics, sources: loaded.sources }
        }
    }
}
