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
pub mod nat;
pub mod netem;
pub mod plan;
pub mod render;
pub mod scenario;
pub mod sim;
pub mod source;
pub mod tools;
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

/// Loads and validates a scenario from bytes, as [`check`] does for a
/// file but without `extends` (for the fuzzer and tests).
pub fn check_text(name: &str, bytes: &[u8]) -> Checked {
    let mut sources = Sources::default();
    let parsed = load::decode(name.to_string(), None, bytes.to_vec(), &mut sources)
        .and_then(|(file, text)| load::document(file, &text, &sources).map(|root| (file, root)));
    match parsed {
        Err(items) => {
            let mut diagnostics = Diagnostics { items };
            diagnostics.sort();
            Checked { scenario: None, diagnostics, sources }
        }
        Ok((file, root)) => {
            let loaded = load::Loaded { root, sources, file, stem: "scenario".into() };
            let (scenario, diagnostics) = scenario::validate(&loaded);
            Checked { scenario, diagnostics, sources: loaded.sources }
        }
    }
}
