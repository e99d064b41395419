//! Any bytes as a scenario file: loading and validation must never panic,
//! every diagnostic must render, and a scenario that validates must plan
//! and render (renderers cannot fail on a valid plan).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checked = e3::check_text("fuzz.yaml", data);
    for d in &checked.diagnostics.items {
        let _ = d.render(&checked.sources);
        let _ = d.render_short(&checked.sources);
        let _ = d.to_json(&checked.sources);
    }
    if let Some(scenario) = &checked.scenario {
        assert!(!checked.diagnostics.has_errors(), "a scenario came back together with errors");
        let plan = e3::plan::plan(scenario);
        let _ = plan.to_json();
        let _ = e3::render::render(&plan);
    }
    // A matrix: its variants are valid scenarios too (the first and the last
    // are planned and rendered, which keeps a run fast).
    if let Some(m) = &checked.matrix {
        assert!(!checked.diagnostics.has_errors(), "a matrix came back together with errors");
        for v in [m.variants.first(), m.variants.last()].into_iter().flatten() {
            let _ = e3::render::render(&e3::plan::plan(&v.scenario));
        }
    }
});
