//! `e3 deploy` / `e3 destroy`: the dry-run sequence of every bundled
//! scenario against its golden copy (`E3_BLESS=1` rewrites), and a real run
//! without the tools names what is missing before running anything.

use std::path::Path;
use std::process::Command;

fn e3(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn dry_run_sequences() {
    let bless = std::env::var_os("E3_BLESS").is_some();
    let mut failures = Vec::new();
    for name in e3::bundled_examples() {
        let name = name.as_str();
        let deploy = e3(&["deploy", name, "--dry-run"]);
        let destroy = e3(&["destroy", name, "--dry-run"]);
        assert!(
            deploy.status.success() && destroy.status.success(),
            "{name}"
        );
        let text = format!(
            "$ e3 deploy {name} --dry-run\n{}\n$ e3 destroy {name} --dry-run\n{}",
            String::from_utf8_lossy(&deploy.stdout),
            String::from_utf8_lossy(&destroy.stdout)
        );
        let golden = Path::new("tests/golden-deploy").join(format!("{name}.txt"));
        if bless {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &text).unwrap();
        } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(text.as_str()) {
            failures.push(format!(
                "{name}: differs from {}:\n{text}",
                golden.display()
            ));
        }
        // Order: render before keys before terraform before colmena before results.
        let pos = |needle: &str| text.find(needle).unwrap_or(usize::MAX);
        assert!(
            pos("e3 render") < pos("terraform -chdir")
                && pos("terraform -chdir") < pos("colmena apply"),
            "{name}: wrong order\n{text}"
        );
        assert!(
            pos("colmena apply") < pos("systemctl start e3-party.service")
                && pos("systemctl start") < pos("result.json"),
            "{name}: wrong order\n{text}"
        );
        assert!(
            !text.contains("tskey-") && !text.contains("PRIVATE KEY"),
            "{name}: secret in dry-run output"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn missing_tools_are_named_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(["deploy", "nebula-nat"])
        .current_dir(tmp.path())
        .env("PATH", tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for tool in ["`terraform`", "`colmena`", "`ssh`"] {
        assert!(stderr.contains(tool), "{tool} not named:\n{stderr}");
    }
    assert!(stderr.contains("nix develop"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing may run or be written"
    );
}
