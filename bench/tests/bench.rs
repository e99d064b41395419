//! `e3-bench` in a tiny mode: it must run, print its table and write JSON
//! with every field. Nothing here asserts a time: figures are checked for
//! presence and sanity (positive, as many samples as runs), never for speed.
//!
//! The lab sections need root, the overlay daemons, iperf3 and Mininet;
//! without them that test prints "skipped" and passes, except under
//! `E3_REQUIRE_TOOLS=1` (set by `ci/test`), where it fails.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_e3-bench"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("e3-bench runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("JSON written"))
        .expect("well-formed JSON")
}

/// A median/min/max figure over `runs` samples.
fn assert_stat(v: &Value, runs: usize, what: &str) {
    let (median, min, max) = (v["median"].as_f64(), v["min"].as_f64(), v["max"].as_f64());
    let (Some(median), Some(min), Some(max)) = (median, min, max) else {
        panic!("{what}: not a figure: {v}")
    };
    assert!(min >= 0.0 && min <= median && median <= max, "{what}: {v}");
    assert_eq!(
        v["samples"].as_array().map(Vec::len),
        Some(runs),
        "{what}: {v}"
    );
}

/// `v[key]` for each of `keys` (a path: `e3.bringup_s`) is a figure over
/// `runs` samples.
fn assert_stats(v: &Value, runs: usize, keys: &[&str]) {
    for k in keys {
        let figure = k.split('.').fold(v, |v, part| &v[part]);
        assert_stat(figure, runs, k);
    }
}

/// Every row of a section: no failed run, and every one of `keys` a
/// figure over `runs` samples.
fn assert_rows<'a>(rows: impl IntoIterator<Item = &'a Value>, runs: usize, keys: &[&str]) {
    for row in rows {
        assert_eq!(row["failures"].as_array().map(Vec::len), Some(0), "{row}");
        assert_stats(row, runs, keys);
    }
}

fn assert_common(j: &Value, runs: usize) {
    assert_eq!(j["e3_bench"], 1);
    assert_eq!(j["runs"], runs);
    for k in ["cpu", "kernel", "loadavg_start", "loadavg_end"] {
        assert!(j["machine"][k].is_string(), "machine.{k}: {j}");
    }
    assert!(j["machine"]["cpus"].as_u64().is_some_and(|n| n >= 1));
    assert!(j["total_s"].as_f64().is_some());
}

#[test]
fn render_section_writes_every_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("out/bench.json");
    let out = bench(&[
        "--only",
        "render",
        "--runs",
        "2",
        "--render-sizes",
        "3,12",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("1. Render") && table.contains("PEAK RSS"),
        "{table}"
    );
    let j = read_json(&json);
    assert_common(&j, 2);
    for k in ["lab", "overlay", "mininet"] {
        assert!(j[k].is_null(), "{k} ran: {j}");
    }
    let sizes = j["render"]["sizes"].as_array().expect("sizes");
    assert_eq!(
        sizes
            .iter()
            .map(|s| s["parties"].as_u64().unwrap_or(0))
            .collect::<Vec<_>>(),
        [3, 12]
    );
    for s in sizes {
        assert_stats(
            s,
            2,
            &[
                "pipeline_s",
                "load_validate_s",
                "plan_s",
                "render_s",
                "write_s",
                "peak_rss_kib",
            ],
        );
        assert!(
            s["peak_rss_kib"]["min"].as_f64().unwrap_or(0.0) > 0.0,
            "{s}"
        );
        for k in ["hosts", "files", "bytes", "yaml_bytes"] {
            assert!(s[k].as_u64().is_some_and(|n| n > 0), "{k}: {s}");
        }
        assert!(s["per_party_us"].as_f64().is_some());
    }
    // the larger scenario has more hosts and renders more
    assert!(sizes[1]["hosts"].as_u64() > sizes[0]["hosts"].as_u64());
    assert!(sizes[1]["bytes"].as_u64() > sizes[0]["bytes"].as_u64());
    let growth = &j["render"]["growth"][0];
    assert_eq!(
        (growth["from"].as_u64(), growth["to"].as_u64()),
        (Some(3), Some(12))
    );
    assert_eq!(growth["parties_ratio"], 4.0);
    for k in [
        "time_ratio",
        "memory_ratio",
        "time_us_per_added_party",
        "memory_kib_per_added_party",
    ] {
        assert!(growth[k].as_f64().is_some(), "{k}: {growth}");
    }
}

#[test]
fn bad_arguments_are_refused_before_any_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("b.json");
    let out = bench(&[
        "--only",
        "render",
        "--render-sizes",
        "1",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("`--render-sizes`: 1 is too small"),
        "{}",
        text(&out.stderr)
    );
    let out = bench(&["--runs", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = bench(&["--only", "everything"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!json.exists());
    let out = bench(&["__render-once"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Why the lab sections cannot run here, if they cannot.
fn labs_unavailable() -> Option<String> {
    let programs = [
        "nebula",
        "nebula-cert",
        "iperf3",
        "nft",
        "conntrack",
        "mnexec",
        "brctl",
        "iptables",
        "ifconfig",
        "ping",
    ];
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|u| u.split_whitespace().next() == Some("0"))
            })
        })
        .unwrap_or(false);
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !e3::tools::on_path(p))
        .collect();
    let mininet = Command::new("/usr/bin/python3")
        .args(["-c", "import mininet.net"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let reason = if !root || !missing.is_empty() || !mininet {
        Some(format!("skipped: needs root, {} and Mininet (missing: {missing:?}, mininet importable: {mininet})", programs.join(", ")))
    } else if e3::sim::find_python().is_err() {
        Some("skipped: needs the Python venv with MPyC (ci/install-deps)".into())
    } else {
        None
    }?;
    if std::env::var_os("E3_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!("{reason}, and E3_REQUIRE_TOOLS=1: run ci/test as root after ci/install-deps");
    }
    Some(reason)
}

fn assert_lab_gone(prefix: &str) {
    let list = text(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip")
            .stdout,
    );
    assert!(
        !list.contains(&format!("{prefix}-")),
        "namespaces of {prefix} left:\n{list}"
    );
    assert!(
        !Path::new(&format!("/run/e3/{prefix}.state")).exists(),
        "state file of {prefix} left"
    );
    assert!(
        !std::env::temp_dir().join(format!("{prefix}-lab")).exists(),
        "temp dir of {prefix} left"
    );
}

#[test]
fn lab_sections_write_every_field_and_leave_nothing() {
    if let Some(why) = labs_unavailable() {
        eprintln!("{why}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let out = bench(&[
        "--only",
        "lab,overlay,mininet,run",
        "--runs",
        "1",
        "--lab-sizes",
        "2,3",
        "--run-sizes",
        "3",
        "--overlays",
        "nebula",
        "--rounds",
        "20",
        "--iperf-seconds",
        "1",
        "--mininet-hosts",
        "2",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let table = text(&out.stdout);
    for heading in [
        "2. Lab bring-up",
        "3. Overlay overhead",
        "4. Peer",
        "6. Full run",
    ] {
        assert!(table.contains(heading), "{table}");
    }
    let j = read_json(&json);
    assert_common(&j, 1);
    assert!(j["render"].is_null());

    let run = &j["run"]["sizes"][0];
    assert_eq!(run["parties"], 3, "{run}");
    assert_eq!(run["pairs"], 3, "{run}");
    assert_rows(
        [run],
        1,
        &[
            "total_s",
            "setup_s",
            "overlay_s",
            "mpc_s",
            "report_s",
            "teardown_s",
            "report_percent",
        ],
    );
    // the phases add up to the whole run (each rounded to 10 ms, the total to 0.1 s)
    let sum: f64 = ["setup_s", "overlay_s", "mpc_s", "report_s", "teardown_s"]
        .iter()
        .map(|k| run[k]["median"].as_f64().unwrap_or(0.0))
        .sum();
    let total = run["total_s"]["median"].as_f64().unwrap_or(0.0);
    assert!((sum - total).abs() < 0.2, "{sum} vs {total}: {run}");
    let share = run["report_percent"]["median"].as_f64().unwrap_or(-1.0);
    assert!((0.0..100.0).contains(&share), "{run}");

    let lab = &j["lab"];
    let sizes = lab["sizes"].as_array().expect("sizes");
    assert_rows(
        sizes,
        1,
        &[
            "topology_s",
            "daemons_s",
            "overlay_s",
            "bringup_s",
            "teardown_s",
        ],
    );
    for (s, n) in sizes.iter().zip([2, 3]) {
        assert_eq!(s["parties"], n);
        assert_eq!(s["backend"], "nebula");
        // phases in order: the topology, then the daemons, then the overlay
        assert!(
            s["topology_s"]["median"].as_f64() <= s["daemons_s"]["median"].as_f64(),
            "{s}"
        );
        assert!(
            s["daemons_s"]["median"].as_f64() <= s["bringup_s"]["median"].as_f64(),
            "{s}"
        );
        assert!(s["bringup_per_party_s"].as_f64().is_some());
    }
    assert!(
        lab["bringup_s_per_added_party"].as_f64().is_some()
            && lab["teardown_s_per_added_party"].as_f64().is_some(),
        "{lab}"
    );

    let overlay = &j["overlay"];
    assert_eq!(overlay["rounds"], 20);
    let backends = overlay["backends"].as_array().expect("backends");
    assert_eq!(
        backends
            .iter()
            .map(|b| b["backend"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["direct", "nebula"]
    );
    assert_rows(
        backends,
        1,
        &["per_round_ms", "throughput_mbps", "wire_ratio"],
    );
    for b in backends {
        assert!(
            b["throughput_mbps"]["min"].as_f64().unwrap_or(0.0) > 0.0,
            "{b}"
        );
        assert!(
            b["round_time_ratio"].as_f64().is_some_and(|r| r > 0.0)
                && b["throughput_ratio"].as_f64().is_some_and(|r| r > 0.0),
            "{b}"
        );
        assert!(b["path"].as_str().is_some_and(|p| !p.is_empty()));
        // the internet segment carried more than the program's payload
        assert!(b["wire_ratio"]["min"].as_f64() > Some(1.0), "{b}");
    }
    assert_eq!(backends[0]["round_time_ratio"], 1.0);
    assert_eq!(backends[0]["wire_ratio_vs_direct"], 1.0);
    // Nebula's headers (and its lighthouse's traffic) cost bytes
    assert!(
        backends[1]["wire_ratio_vs_direct"].as_f64() > Some(1.0),
        "{overlay}"
    );
    assert_eq!(backends[0]["throughput_ratio"], 1.0);

    let peer = &j["mininet"];
    assert!(
        peer["mininet_version"].is_string()
            && peer["e3_method"].is_string()
            && peer["mininet_method"].is_string(),
        "{peer}"
    );
    let s = &peer["sizes"][0];
    assert_eq!(s["hosts"], 2);
    assert_rows(
        [s],
        1,
        &[
            "e3.bringup_s",
            "e3.build_s",
            "e3.reach_s",
            "e3.teardown_s",
            "mininet.bringup_s",
            "mininet.build_s",
            "mininet.reach_s",
            "mininet.teardown_s",
        ],
    );
    assert!(
        s["bringup_ratio"].as_f64().is_some() && s["teardown_ratio"].as_f64().is_some(),
        "{s}"
    );

    // Nothing left: every lab it used, and Mininet's links and shells.
    let labs = j["labs"].as_array().expect("labs");
    assert_eq!(
        labs.len(),
        2 + 2 + 1 + 1,
        "two bring-up labs, two overlay labs, one peer lab, one full run: {labs:?}"
    );
    for l in labs {
        assert_lab_gone(l.as_str().expect("prefix"));
    }
    let links = text(
        &Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
            .expect("ip")
            .stdout,
    );
    assert!(
        !links
            .lines()
            .any(|l| l.contains(": s0:") || l.contains(": nat1-eth")),
        "Mininet links left:\n{links}"
    );
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let cmd = String::from_utf8_lossy(
            &std::fs::read(entry.path().join("cmdline")).unwrap_or_default(),
        )
        .replace('\0', " ");
        assert!(
            !cmd.contains("mininet:h") && !cmd.contains("mininet:nat"),
            "Mininet shell left: {cmd}"
        );
    }
}

#[test]
fn latency_section_writes_every_field_and_leaves_nothing() {
    if let Some(why) = labs_unavailable() {
        eprintln!("{why}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let out = bench(&[
        "--only",
        "latency",
        "--runs",
        "1",
        "--latency-pairs",
        "ams3-fra1,ams3-sgp1",
        "--latency-overlays",
        "nebula",
        "--latency-rounds",
        "5",
        "--iperf-seconds",
        "1",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let table = text(&out.stdout);
    assert!(table.contains("5. Latency"), "{table}");
    let j = read_json(&json);
    assert_common(&j, 1);
    let f = &j["latency"];
    assert_eq!(f["rounds"], 5);
    let cells = f["cells"].as_array().expect("cells");
    // Each backend's `none` baseline, then each method this kernel has ×
    // backend × pair.
    let methods = if f["unavailable"].to_string().contains("netem") {
        1
    } else {
        2
    };
    assert_eq!(cells.len(), 2 + methods * 2 * 2, "{f}");
    assert_eq!(cells[0]["method"], "none");
    assert_eq!(cells[1]["method"], "none");
    assert_eq!(cells[1]["backend"], "nebula");
    assert_rows(
        cells,
        1,
        &["rtt_ms", "per_round_ms", "wall_s", "throughput_mbps"],
    );
    // Every cell's throughput beside its backend's without delays.
    for c in cells {
        let own = c["throughput_vs_none"].as_f64();
        assert!(own.is_some_and(|r| r > 0.0), "{c}");
        if c["method"] == "none" {
            assert_eq!(own, Some(1.0), "{c}");
        }
    }
    for c in cells {
        assert!(
            c["per_round_per_rtt"].as_f64().is_some_and(|r| r > 0.0),
            "{c}"
        );
        if c["method"] == "none" {
            continue;
        }
        // Correctness, not speed: the far pair is near its model.
        let model = c["rtt_model_ms"].as_f64().unwrap_or(0.0);
        if c["pair"] == "ams3-sgp1" {
            assert!(model > 100.0, "{c}");
            assert!(
                c["error_percent"].as_f64().is_some_and(|e| e.abs() < 25.0),
                "{c}"
            );
        }
        if c["method"] == "nfqueue" {
            assert_stats(c, 1, &["delay_line_cpu_percent"]);
        }
    }
    for prefix in j["labs"].as_array().expect("labs") {
        assert_lab_gone(prefix.as_str().unwrap_or(""));
    }
}
