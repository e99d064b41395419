//! The `e3` binary from the user's side: exit codes, stdout, stderr, files.

use std::path::Path;
use std::process::{Command, Output};

fn e3(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(args)
        .output()
        .expect("e3 runs")
}

fn e3_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("e3 runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn bundled() -> Vec<&'static str> {
    e3::bundled::scenario_names()
}

#[test]
fn version_and_help() {
    let out = e3(&["--version"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).starts_with("e3 "),
        "{}",
        text(&out.stdout)
    );
    let out = e3(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in ["render", "check", "show", "graph", "new", "Examples:"] {
        assert!(help.contains(word), "help lacks {word}:\n{help}");
    }
}

#[test]
fn bundled_scenarios_pass_check() {
    let out = e3(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for name in bundled() {
        assert!(
            stdout.contains(&format!("ok: {name} (")),
            "{name} not reported ok:\n{stdout}"
        );
    }
    let required = [
        "tailscale-3region",
        "headscale-nat",
        "nebula-nat",
        "wireguard-hub",
        "tinc-mesh",
        "direct-lan",
        "mixed-platform",
    ];
    for name in required {
        assert!(
            bundled().contains(&name),
            "bundled scenario {name} is missing"
        );
    }
}

#[test]
fn list_names_every_bundled_scenario() {
    let out = e3(&["list"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    for name in bundled() {
        assert!(
            stdout.lines().any(|l| l.starts_with(name)),
            "{name} missing from list"
        );
    }
    // columns aligned: every description starts at the same column, after
    // the name, the backend (or `matrix`) and the count
    let starts: std::collections::BTreeSet<usize> = stdout
        .lines()
        .map(|l| {
            // the column where the fifth whitespace-separated field starts
            let (mut fields, mut in_word) = (0, false);
            l.char_indices()
                .find(|(_, c)| {
                    let word = !c.is_whitespace();
                    if word && !in_word {
                        fields += 1;
                    }
                    in_word = word;
                    fields == 5
                })
                .map_or(0, |(i, _)| l[..i].chars().count())
        })
        .collect();
    assert_eq!(starts.len(), 1, "misaligned columns:\n{stdout}");
}

#[test]
fn invalid_scenarios_exit_2_with_positions_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "connectivity:\n  backend: nebul\nprogram: { name: secure-sum }\nparties:\n  - { name: a, region: nyc9 }\n  - { name: b, region: ams3 }\n",
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let out = e3(&[
        "render",
        bad.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[E030]: unknown backend `nebul`"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.yaml:2:12"), "{stderr}");
    assert!(stderr.contains("did you mean `nebula`?"), "{stderr}");
    assert!(
        stderr.contains("error[E033]: unknown region `nyc9`"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.yaml:5:24"), "{stderr}");
    assert!(
        !out_dir.exists(),
        "an invalid scenario must not write output"
    );
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().count() == 1,
        "nothing else was written"
    );
}

#[test]
fn empty_and_non_utf8_files_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let out = e3(&["check", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("empty.yaml"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("E003"));

    let binary = tmp.path().join("binary.yaml");
    std::fs::write(&binary, b"name: x\n\xff\xfe\x00garbage").unwrap();
    let out = e3(&["check", binary.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("binary.yaml:2:1"), "{stderr}");
    assert!(stderr.contains("E002"), "{stderr}");

    let missing = tmp.path().join("missing.yaml");
    let out = e3(&["check", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing.yaml`: no such file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unknown_bundled_name_suggests() {
    let out = e3(&["show", "nebula-nta"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `nebula-nat`?"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn render_is_deterministic_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    for name in bundled() {
        let a = tmp.path().join(format!("{name}-a"));
        let b = tmp.path().join(format!("{name}-b"));
        for dir in [&a, &b] {
            let out = e3(&["render", name, "-o", dir.to_str().unwrap()]);
            assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        }
        let files_a = walk(&a);
        let files_b = walk(&b);
        assert_eq!(files_a.len(), files_b.len(), "{name}");
        for ((pa, ca), (pb, cb)) in files_a.iter().zip(&files_b) {
            assert_eq!(pa, pb, "{name}: file lists differ");
            assert!(
                ca == cb,
                "{name}: {} differs between two renders",
                pa.display()
            );
        }
        let index = if a.join("variants.json").is_file() {
            "variants.json"
        } else {
            "scenario.json"
        };
        assert!(
            a.join(index).is_file() && a.join("README.md").is_file(),
            "{name}"
        );
        // No leftovers of the atomic write.
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains("e3-tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn render_replaces_previous_output() {
    // A directory e3 rendered (it holds `.e3-rendered`) is replaced whole;
    // one it did not render is refused (tests/security.rs).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let out = e3(&["render", "nebula-nat", "-o", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(dir.join("stale.txt"), "old").unwrap();
    let out = e3(&["render", "nebula-nat", "-o", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!dir.join("stale.txt").exists());
    assert!(dir.join(".e3-rendered").is_file());
}

#[test]
fn render_defaults_to_out_name() {
    let tmp = tempfile::tempdir().unwrap();
    let out = e3_in(tmp.path(), &["render", "nebula-nat"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(tmp.path().join("out/nebula-nat/scenario.json").is_file());
}

#[test]
fn show_json_is_the_plan() {
    let out = e3(&["show", "nebula-nat", "--json"]);
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(plan["name"], "nebula-nat");
    assert_eq!(plan["connectivity"]["backend"], "nebula");
    let hosts = plan["hosts"].as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "alice",
            "bob",
            "carol",
            "lighthouse",
            "alice-router",
            "bob-router",
            "carol-router"
        ]
    );
    let out = e3(&["show", "nebula-nat"]);
    assert!(text(&out.stdout).contains("lighthouse"));
}

#[test]
fn new_forks_and_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let out = e3_in(
        tmp.path(),
        &["new", "my-exp", "--from", "tailscale-3region"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fork = std::fs::read_to_string(tmp.path().join("my-exp.yaml")).unwrap();
    assert!(fork.contains("extends: tailscale-3region"), "{fork}");
    let out = e3_in(tmp.path(), &["show", "my-exp.yaml", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["name"], "my-exp");
    assert_eq!(plan["connectivity"]["backend"], "tailscale");

    // Refuses to overwrite.
    let out = e3_in(tmp.path(), &["new", "my-exp", "--from", "nebula-nat"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--force"));

    // A fork of a file extends it by relative path.
    let out = e3_in(tmp.path(), &["new", "second", "--from", "my-exp.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = e3_in(tmp.path(), &["check", "second.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = e3_in(
        tmp.path(),
        &["new", "copy", "--from", "nebula-nat", "--copy"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let copy = std::fs::read_to_string(tmp.path().join("copy.yaml")).unwrap();
    assert!(
        copy.starts_with("name: copy\n")
            && copy.contains("backend: nebula")
            && !copy.contains("extends"),
        "{copy}"
    );
}

#[test]
fn graph_formats() {
    let out = e3(&["graph", "wireguard-hub"]);
    assert!(out.status.success());
    let m = text(&out.stdout);
    assert!(
        m.starts_with("flowchart TB\n") && m.contains("nbg_carrier") && m.contains("-.-> hub"),
        "{m}"
    );
    let out = e3(&["graph", "wireguard-hub", "--format", "dot"]);
    let d = text(&out.stdout);
    assert!(
        d.starts_with("graph \"wireguard-hub\" {") && d.trim_end().ends_with('}'),
        "{d}"
    );
}

#[test]
fn completions() {
    for shell in ["bash", "zsh", "fish"] {
        let out = e3(&["completions", shell]);
        assert!(out.status.success() && out.stdout.len() > 100, "{shell}");
    }
}

fn walk(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_program_given_by_path_is_copied_into_the_rendered_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = e3(&[
        "render",
        "tests/fixtures/ok-program-path/scenario.yaml",
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Into programs/user/, where e3-run runs it (the lab lays it out alike).
    let copied = std::fs::read(out_dir.join("programs/user/my_sum.py")).expect("program copied");
    assert_eq!(
        copied,
        std::fs::read("tests/fixtures/ok-program-path/my_sum.py").unwrap()
    );
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("data/e3.json")).unwrap())
            .unwrap();
    assert_eq!(
        data["common"]["e3"]["party"]["program"], "user/my_sum.py",
        "{data}"
    );
}

#[test]
fn program_files_travel_with_the_program_into_the_rendered_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = e3(&[
        "render",
        "tests/fixtures/ok-program-files/scenario.yaml",
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Laid out relative to their common directory, `demo/`.
    for (rendered, source) in [
        ("user/tally.py", "demo/tally.py"),
        ("user/weights.py", "demo/weights.py"),
        ("user/data/w.txt", "demo/data/w.txt"),
    ] {
        assert_eq!(
            std::fs::read(out_dir.join("programs").join(rendered)).expect(rendered),
            std::fs::read(Path::new("tests/fixtures/ok-program-files").join(source)).unwrap(),
            "{rendered}"
        );
    }
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("data/e3.json")).unwrap())
            .unwrap();
    assert_eq!(
        data["common"]["e3"]["party"]["program"], "user/tally.py",
        "{data}"
    );
}

// Matrix scenarios and their variants.

const GRID: &str = "connectivity-grid";

#[test]
fn list_variants_names_every_variant_in_order() {
    let out = e3(&["list", "--variants", GRID]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    // 6 backends × 15 unordered pairs of 5 NAT types.
    assert_eq!(names.len(), 90);
    assert_eq!(names[0], "connectivity-grid@backend=nebula,nat=none+none");
    assert_eq!(names[1], "connectivity-grid@backend=nebula,nat=none+easy");
    assert_eq!(
        names[89],
        "connectivity-grid@backend=direct,nat=cgnat+cgnat"
    );
    assert!(
        !names.iter().any(|n| n.ends_with("nat=easy+none")),
        "pairs are unordered"
    );
    // Expansion is deterministic.
    assert_eq!(
        text(&e3(&["list", "--variants", GRID]).stdout),
        text(&out.stdout)
    );
    // A scenario without a matrix has no variants.
    let out = e3(&["list", "--variants", "nebula-nat"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no `matrix:`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_variant_is_an_ordinary_scenario() {
    let v = "connectivity-grid@backend=tinc,nat=easy+hard";
    let out = e3(&["check", v]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!("ok: {v} (")),
        "{}",
        text(&out.stdout)
    );
    let out = e3(&["show", v, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["name"], v);
    assert_eq!(plan["connectivity"]["backend"], "tinc");
    let nats: Vec<&str> = plan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["role"] == "party")
        .map(|h| h["nat"].as_str().unwrap())
        .collect();
    assert_eq!(nats, ["easy", "hard"]);
    // Settings may come in any order.
    let out = e3(&[
        "show",
        "connectivity-grid@nat=easy+hard,backend=tinc",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["name"],
        v
    );
}

#[test]
fn an_unknown_variant_points_at_the_matrix_and_suggests() {
    let out = e3(&["show", "connectivity-grid@backend=tinc,nat=hard+easy"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "error[E095]: `connectivity-grid` has no variant `backend=tinc,nat=hard+easy`"
        ),
        "{err}"
    );
    assert!(err.contains("scenarios/connectivity-grid.yaml:"), "{err}");
    assert!(
        err.contains("did you mean `backend=tinc,nat=easy+hard`?"),
        "{err}"
    );
    let out = e3(&["show", "nebula-nat@backend=tinc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no `matrix:`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn commands_that_need_one_scenario_ask_for_a_variant() {
    for args in [
        &["sim", GRID][..],
        &["graph", GRID],
        &["keys", GRID],
        &["deploy", GRID, "--dry-run"],
        &["show", GRID, "--json"],
    ] {
        let out = e3(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("is a matrix of 90 variants; name one, e.g. `connectivity-grid@backend=nebula,nat=none+none`"), "{args:?}: {err}");
        assert!(err.contains("e3 grid connectivity-grid"), "{err}");
    }
    // `show` without --json lists the variants.
    let out = e3(&["show", GRID]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("a matrix of 90 variants"));
}

#[test]
fn check_reports_a_shared_problem_once_with_the_variants_it_affects() {
    let out = e3(&["check", GRID]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ok: connectivity-grid (matrix of 90 variants"),
        "{}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert_eq!(err.matches("warning[W101]").count(), 1, "{err}");
    assert!(err.contains("in 14 of the 90 variants"), "{err}");
}

#[test]
fn render_of_a_matrix_renders_every_variant_and_an_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("grid");
    let out = e3(&[
        "render",
        "tests/fixtures/ok-matrix/scenario.yaml",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("variants.json")).unwrap()).unwrap();
    let variants = index["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 12);
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for v in variants {
        let sub = dir.join(v["directory"].as_str().unwrap());
        let plan: serde_json::Value =
            serde_json::from_slice(&std::fs::read(sub.join("scenario.json")).unwrap()).unwrap();
        assert_eq!(plan["name"], v["name"]);
        assert!(sub.join("flake.nix").is_file() && sub.join("flake.lock").is_file());
        assert!(readme.contains(v["name"].as_str().unwrap()));
        // Nix 2.8 reads neither `%` nor `@` in a path flake reference.
        assert!(
            !sub.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(['%', '@']),
            "{}",
            sub.display()
        );
    }
    assert_eq!(
        variants[0]["name"],
        "scenario@backend=nebula,loss=0%,nat=easy+easy"
    );
    assert_eq!(
        variants[0]["directory"],
        "backend=nebula,loss=0pct,nat=easy+easy"
    );
    // One variant alone goes where the matrix render puts it.
    let out = e3_in(
        tmp.path(),
        &[
            "render",
            &format!(
                "{}@backend=tinc,loss=2%,nat=hard+hard",
                std::fs::canonicalize("tests/fixtures/ok-matrix/scenario.yaml")
                    .unwrap()
                    .display()
            ),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(tmp
        .path()
        .join("out/scenario/backend=tinc,loss=2pct,nat=hard+hard/flake.nix")
        .is_file());
}

#[test]
fn grid_refuses_what_it_cannot_run_before_starting() {
    let out = e3(&["grid", "nebula-nat"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no `matrix:`"),
        "{}",
        text(&out.stderr)
    );
    let out = e3(&["grid", GRID, "--only", "backend=nebual"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `nebula`?"),
        "{}",
        text(&out.stderr)
    );
    let out = e3(&["grid", GRID, "--only", "relay=never"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("does not vary `relay`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sweep_matrix_keys_and_runs_from_the_command_line() {
    // The bundled sweep: readable names, and `--only` on the new keys.
    let out = e3(&["list", "--variants", "mpc-sweep"]);
    assert_eq!(out.status.code(), Some(0));
    let names = text(&out.stdout);
    assert_eq!(names.lines().count(), 128, "{names}");
    assert!(names.contains("mpc-sweep@backend=nebula,program=max-chain,count=5,placement=far\n"));
    let out = e3(&[
        "show",
        "mpc-sweep@placement=world,count=5,backend=direct,program=bulk",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for (host, region) in [
        ("p-0", "ams3"),
        ("p-1", "nyc3"),
        ("p-2", "sgp1"),
        ("p-3", "syd1"),
        ("p-4", "blr1"),
    ] {
        let line = plan
            .lines()
            .find(|l| l.starts_with(&format!("{host} ")))
            .expect(host);
        assert!(line.contains(region), "{line}");
    }
    let out = e3(&["grid", "mpc-sweep", "--only", "placement=moon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`moon` is not a value of `placement`"),
        "{}",
        text(&out.stderr)
    );
    for bad in ["0", "101", "x"] {
        let out = e3(&["grid", "mpc-sweep", "--runs", bad]);
        assert_eq!(out.status.code(), Some(2), "--runs {bad}");
        assert!(
            text(&out.stderr).contains("--runs"),
            "{}",
            text(&out.stderr)
        );
    }
    // A bad matrix entry: `e3 grid` names it at file:line:col and writes nothing.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("sweep.yaml");
    std::fs::write(
        &file,
        "connectivity: { backend: nebula }\nprogram: { name: max-chain }\ndefaults: { region: ams3 }\nparties:\n  - { name: p, count: 2 }\nmatrix:\n  count: { p: [2, 1001] }\n  placement: { far: [ams3, mars1] }\n",
    )
    .unwrap();
    let out_dir = tmp.path().join("results");
    let out = e3(&[
        "grid",
        file.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error[E043]: `count` must be between 1 and 1000, found 1001"),
        "{err}"
    );
    assert!(err.contains("sweep.yaml:7:19"), "{err}");
    assert!(err.contains("error[E033]: unknown region `mars1`"), "{err}");
    assert!(err.contains("sweep.yaml:8:28"), "{err}");
    assert!(!out_dir.exists(), "nothing written for an invalid grid");
}

#[test]
fn render_keeps_a_deployments_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    assert!(e3(&["render", "nebula-nat", "-o", dir.to_str().unwrap()])
        .status
        .success());
    std::fs::write(dir.join("hosts.json"), "{\"alice\": \"192.0.2.1\"}").unwrap();
    std::fs::write(dir.join("terraform/terraform.tfstate"), "state").unwrap();
    std::fs::create_dir_all(dir.join("terraform/.terraform/providers")).unwrap();
    std::fs::write(dir.join("terraform/.terraform/providers/x"), "provider").unwrap();
    std::fs::write(dir.join("stale.txt"), "old").unwrap();
    let out = e3(&["render", "nebula-nat", "-o", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.join("hosts.json")).unwrap(),
        "{\"alice\": \"192.0.2.1\"}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("terraform/terraform.tfstate")).unwrap(),
        "state"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("terraform/.terraform/providers/x")).unwrap(),
        "provider"
    );
    assert!(
        !dir.join("stale.txt").exists(),
        "what e3 does not keep goes"
    );
    // Variant directories of a matrix keep theirs too.
    let grid = tmp.path().join("grid");
    assert!(e3(&[
        "render",
        "tests/fixtures/ok-matrix/scenario.yaml",
        "-o",
        grid.to_str().unwrap()
    ])
    .status
    .success());
    let variant = grid.join("backend=tinc,loss=2pct,nat=hard+hard");
    std::fs::write(variant.join("terraform/terraform.tfstate"), "variant state").unwrap();
    assert!(e3(&[
        "render",
        "tests/fixtures/ok-matrix/scenario.yaml",
        "-o",
        grid.to_str().unwrap()
    ])
    .status
    .success());
    assert_eq!(
        std::fs::read_to_string(variant.join("terraform/terraform.tfstate")).unwrap(),
        "variant state"
    );
}
