//! Any bytes as a scenario file: loading and validation must never panic,
//! every diagnostic must render, and a scenario that validates must plan
//! and render (renderers cannot fail on a valid plan).
//!
//! The same bytes are also checked as a file `scenario.yaml` in a sandbox
//! directory that holds what the path rules judge (a program, a parent to
//! extend, a symbolic link out, a directory, a FIFO, an oversized program):
//! whatever the input names, nothing outside the sandbox may be read, no
//! read may block, and no diagnostic may quote more than a short prefix of
//! the secret the sandbox links to.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The outside file the sandbox links to; its contents must never appear.
const SECRET: &str = "e3-fuzz-secret-0123456789abcdef";

fn sandbox() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("e3-fuzz-{}", std::process::id()));
        let dir = root.join("exp");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(root.join("secret.py"), format!("{SECRET}\n")).unwrap();
        std::fs::write(dir.join("prog.py"), "print(1)\n").unwrap();
        std::fs::write(dir.join("sub/prog.py"), "print(2)\n").unwrap();
        std::fs::write(dir.join("e3_common.py"), "print(3)\n").unwrap();
        std::fs::write(
            dir.join("base.yaml"),
            "connectivity: { backend: nebula }\nprogram: { name: prog.py }\nparties:\n  - { name: a, region: ams3 }\n  - { name: b, region: fra1, nat: easy }\n",
        )
        .unwrap();
        std::fs::write(dir.join("loop.yaml"), "extends: loop\n").unwrap();
        let _ = std::os::unix::fs::symlink(root.join("secret.py"), dir.join("out.py"));
        let _ = std::os::unix::fs::symlink(root.join("secret.py"), dir.join("out.yaml"));
        std::fs::File::create(dir.join("big.py"))
            .unwrap()
            .set_len((8 << 20) + 1)
            .unwrap();
        let fifo = std::ffi::CString::new(dir.join("fifo.yaml").to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) };
        dir
    })
}

fn exercise(checked: &e3::Checked, data: &[u8]) {
    // The fuzzer may put the secret into the input itself (it learns the
    // bytes of comparisons): then quoting it proves nothing.
    let planted = data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
    for d in &checked.diagnostics.items {
        for text in [
            d.render(&checked.sources),
            d.render_short(&checked.sources),
            d.to_json(&checked.sources).to_string(),
        ] {
            assert!(
                planted || !text.contains(SECRET),
                "a diagnostic quotes the outside file: {text}"
            );
        }
    }
    if let Some(scenario) = checked.scenario() {
        assert!(
            !checked.diagnostics.has_errors(),
            "a scenario came back together with errors"
        );
        let plan = e3::plan::plan(scenario);
        let _ = plan.to_json();
        if let Some(p) = &plan.program.path {
            let real = std::fs::canonicalize(p).expect("a program that validated exists");
            assert!(
                real.starts_with(std::fs::canonicalize(sandbox()).unwrap()),
                "a program outside the sandbox validated: {}",
                real.display()
            );
        }
        let _ = e3::render::render(&plan);
    }
    // A matrix: its variants are valid scenarios too (the first and the last
    // are planned and rendered, which keeps a run fast).
    if let Some(m) = checked.matrix() {
        assert!(
            !checked.diagnostics.has_errors(),
            "a matrix came back together with errors"
        );
        for v in [m.variants.first(), m.variants.last()]
            .into_iter()
            .flatten()
        {
            let _ = e3::render::render(&e3::plan::plan(&v.scenario));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    exercise(&e3::check_text("fuzz.yaml", data), data);
    let file = sandbox().join("scenario.yaml");
    std::fs::write(&file, data).unwrap();
    exercise(&e3::check(&e3::load::ScenarioRef::File(file)), data);
});
