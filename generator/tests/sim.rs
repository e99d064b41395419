//! Real NAT labs (`e3 sim`): namespaces, nftables, the real daemons and real
//! MPyC. They need root, the daemons and the Python venv, so they are
//! `#[ignore]`d: a plain `cargo test` lists them as ignored, and
//! `cargo test -- --include-ignored` (what `ci/test` runs) runs them; there,
//! under `E3_REQUIRE_TOOLS=1`, a missing tool or root fails the test, and
//! without it the test prints a "skipped" line. The labs of one test process
//! run one at a time (they are heavy on a 2-core machine; `ci/test` runs two
//! processes, see there which tests share one), and after each one no
//! namespace, process, state file or temp dir of the lab may survive.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

fn scenario(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sim-scenarios")
        .join(format!("{name}.yaml"));
    if p.exists() {
        p.display().to_string()
    } else {
        name.to_string() // bundled
    }
}

/// Why labs cannot run here, if they cannot. Under `E3_REQUIRE_TOOLS=1`
/// (set by `ci/test`) a lab that cannot run is a failure, not a skip.
fn unavailable(programs: &[&str]) -> Option<String> {
    let reason = why_unavailable(programs)?;
    if std::env::var_os("E3_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!("{reason}, and E3_REQUIRE_TOOLS=1: run ci/test as root after ci/install-deps");
    }
    Some(reason)
}

fn why_unavailable(programs: &[&str]) -> Option<String> {
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
        .filter(|p| !e3::tools::available(p))
        .collect();
    if !root || !missing.is_empty() {
        return Some(format!("skipped: needs root and {}", programs.join(", ")));
    }
    if e3::sim::find_python().is_err() {
        return Some("skipped: needs the Python venv with MPyC (ci/install-deps)".into());
    }
    None
}

fn e3(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("e3 runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The lab prefix (`e3-XXXX`) from the progress output.
fn lab_prefix(stderr: &str) -> String {
    let i = stderr.find("lab e3-").expect("progress names the lab");
    stderr[i + 4..i + 11].to_string()
}

fn assert_no_leftovers(prefix: &str) {
    let list = text(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip runs")
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
    let dirs: Vec<PathBuf> = std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{prefix}-lab")))
        })
        .collect();
    assert!(dirs.is_empty(), "lab directories left: {dirs:?}");
    let needle = format!("{prefix}-");
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            assert!(!cmd.contains(&needle), "process of {prefix} left: {cmd}");
        }
    }
}

/// Runs a lab; returns (exit code, report JSON or null, stderr).
fn sim(
    name: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, serde_json::Value, String) {
    let s = scenario(name);
    let mut args = vec!["sim", s.as_str(), "--json"];
    args.extend_from_slice(extra);
    let out = e3(&args, env);
    let stderr = text(&out.stderr);
    let report = serde_json::from_str(&text(&out.stdout)).unwrap_or(serde_json::Value::Null);
    assert_no_leftovers(&lab_prefix(&stderr));
    (out.status.code(), report, stderr)
}

/// What a failed run's report says: the verdict, the diagnosis, and each
/// failed party's error and output tails (for a failing assertion).
fn brief(report: &serde_json::Value) -> String {
    let mut s = format!(
        "verdict: {}\ndiagnosis: {}\n",
        report["verdict"], report["diagnosis"]
    );
    for p in report["parties"].as_array().into_iter().flatten() {
        if p["ok"] != true {
            s += &format!(
                "party {}: exit {}, error {}, stdout {}, stderr {}\n",
                p["host"], p["exit"], p["error"], p["stdout_tail"], p["stderr_tail"]
            );
        }
    }
    s
}

fn evidence(report: &serde_json::Value, a: &str, b: &str) -> String {
    report["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .find(|p| p["a"] == a && p["b"] == b)
        .map(|p| p["evidence"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn route(report: &serde_json::Value, a: &str, b: &str) -> String {
    report["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .find(|p| p["a"] == a && p["b"] == b)
        .map(|p| p["route"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn assert_correct(report: &serde_json::Value, stderr: &str) {
    assert_eq!(report["ok"], true, "{report:#}\n{stderr}");
    for p in report["parties"].as_array().expect("parties") {
        assert_eq!(p["ok"], true, "{p}");
        assert_eq!(p["result"], p["expected"], "{p}");
    }
}

/// What the captures of a run say about its privacy and cost: every party's
/// exposure is reported, the program's traffic crossed the internet segment
/// inside the overlay only (`plaintext`: `direct` sends it in the clear),
/// and the wire carried more than the payload.
fn assert_wire(report: &serde_json::Value, plaintext: bool) {
    let wan = &report["wan"];
    assert_eq!(wan["mpyc_plaintext"], plaintext, "{report:#}");
    assert!(wan["captured_packets"].as_u64() > Some(0), "{report:#}");
    let wire = &report["wire"];
    assert!(wire["payload_bytes"].as_u64() > Some(0), "{report:#}");
    assert!(wire["ratio"].as_f64() > Some(1.0), "{report:#}");
    for p in report["parties"].as_array().expect("parties") {
        let e = &report["exposure"][p["host"].as_str().expect("host")];
        assert!(
            e["address"].is_string() && e["peers"].is_array(),
            "{report:#}"
        );
    }
}

macro_rules! lab_test {
    ($programs:expr) => {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = unavailable($programs) {
            eprintln!("{why}");
            return;
        }
    };
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn nebula_easy_easy_is_direct_and_correct() {
    lab_test!(&["nebula", "nebula-cert", "ssh", "ssh-keygen"]);
    let (code, report, stderr) = sim("nebula-easy-easy", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    assert_eq!(route(&report, "alice", "bob"), "direct", "{report:#}");
    // read from Nebula's own hostmap (its debug SSH server), not guessed from conntrack
    assert!(
        evidence(&report, "alice", "bob").starts_with("nebula hostmap: current remote 198.18.128."),
        "{report:#}"
    );
    assert!(report["overlay_up_s"].as_f64().is_some());
    assert_wire(&report, false);
    // a direct tunnel: each side received the other's public address, and
    // each one's Nebula holds it
    for (a, b) in [("alice", "bob"), ("bob", "alice")] {
        assert_eq!(
            report["exposure"][a]["peers"],
            serde_json::json!([b]),
            "{report:#}"
        );
        assert_eq!(
            report["exposure"][a]["told"],
            serde_json::json!([b]),
            "{report:#}"
        );
    }
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn nebula_hard_hard_is_relayed_and_correct() {
    lab_test!(&["nebula", "nebula-cert", "ssh", "ssh-keygen"]);
    let (code, report, stderr) = sim("nebula-hard-hard", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    assert_eq!(route(&report, "alice", "bob"), "relayed", "{report:#}");
    assert_eq!(report["pairs"][0]["via"], "lighthouse");
    assert_eq!(
        evidence(&report, "alice", "bob"),
        "nebula hostmap: no current remote, relayed by 10.9.255.1",
        "{report:#}"
    );
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn nebula_hard_hard_without_relay_fails_clearly() {
    lab_test!(&["nebula", "nebula-cert"]);
    let (code, report, stderr) = sim("nebula-hard-hard-norelay", &["--timeout", "6"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["mpc_ran"], false);
    assert_eq!(route(&report, "alice", "bob"), "none");
    let diagnosis = report["diagnosis"].to_string();
    assert!(
        diagnosis.contains("`hard` NAT") && diagnosis.contains("relay: never"),
        "{diagnosis}"
    );
    // --expect-failure turns the same run into a success
    let (code, _, stderr) = sim(
        "nebula-hard-hard-norelay",
        &["--timeout", "4", "--expect-failure"],
        &[],
    );
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn nebula_nat_bundled() {
    lab_test!(&["nebula", "nebula-cert", "ssh", "ssh-keygen"]);
    let (code, report, stderr) = sim("nebula-nat", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    // Hard NAT: only the relay connects carol. Between the two easy NATs
    // Nebula races a relayed handshake against hole punching, and now and
    // then (1.10.3: 5 runs in 40) the relay wins and stays: the hostmap
    // reports what Nebula uses. `nebula_easy_easy_is_direct_and_correct` checks punching
    // itself, with no relay to fall back on.
    assert_eq!(route(&report, "alice", "carol"), "relayed", "{report:#}");
    assert_eq!(route(&report, "bob", "carol"), "relayed", "{report:#}");
    assert_ne!(route(&report, "alice", "bob"), "none", "{report:#}");
    for (a, b) in [("alice", "bob"), ("alice", "carol"), ("bob", "carol")] {
        assert!(
            evidence(&report, a, b).starts_with("nebula hostmap: "),
            "{report:#}"
        );
    }
    // `latency: regions`: netem where the kernel has it, else the delay line.
    assert!(
        report["latency"]["applied"] == "netem" || report["latency"]["applied"] == "nfqueue",
        "{report:#}"
    );
    assert_rtt_near_model(&report, 0.25);
    assert!(
        report["total_s"].as_f64().unwrap_or(99.0) < 30.0,
        "{report:#}"
    );
    assert_wire(&report, false);
    // Relayed, carol's address still reaches its peers: it punches towards
    // them when the lighthouse asks it to, and the lighthouse saw it.
    let carol = &report["exposure"]["carol"];
    assert_ne!(carol["peers"], serde_json::json!([]), "{report:#}");
    assert_eq!(
        carol["infrastructure"],
        serde_json::json!(["lighthouse"]),
        "{report:#}"
    );
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn wireguard_hub_is_correct() {
    lab_test!(&["wireguard-go", "wg"]);
    let (code, report, stderr) = sim("wireguard-hub", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    assert_eq!(route(&report, "fsn", "hel"), "relayed");
    assert_eq!(report["pairs"][0]["via"], "hub");
    assert_wire(&report, false);
    // spokes only know the hub: no party's address reaches another party
    for e in report["exposure"].as_object().expect("exposure").values() {
        assert_eq!(e["peers"], serde_json::json!([]), "{report:#}");
        assert_eq!(e["told"], serde_json::json!([]), "{report:#}");
        assert_eq!(
            e["infrastructure"],
            serde_json::json!(["hub"]),
            "{report:#}"
        );
    }
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn tinc_mesh_is_correct() {
    lab_test!(&["tincd"]);
    let (code, report, stderr) = sim("tinc-mesh", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    assert_wire(&report, false);
    // tinc does not show what it knows of its peers
    assert_eq!(report["exposure"]["ash"]["told"], serde_json::Value::Null);
    // the two parties behind one router share its public address
    assert_eq!(
        report["exposure"]["lab-0"]["address"],
        report["exposure"]["lab-1"]["address"]
    );
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn direct_lan_fails_naming_the_nat() {
    lab_test!(&["nft"]);
    // A generous bound: the run is given up once the home router has kept
    // dropping the cloud party's connection attempts for a few seconds,
    // and the party says so (not "killed at the deadline").
    let (code, report, stderr) = sim("direct-lan", &["--timeout", "60"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["ok"], false);
    let errors: Vec<String> = report["parties"]
        .as_array()
        .expect("parties")
        .iter()
        .filter_map(|p| p["error"].as_str().map(str::to_string))
        .collect();
    assert!(
        !errors.is_empty()
            && errors
                .iter()
                .all(|e| e.starts_with("stopped: router `home-router` in front of `home` dropped ")),
        "{errors:?}\n{stderr}"
    );
    assert!(
        stderr.contains("giving up on the run: router `home-router`"),
        "{stderr}"
    );
    let diagnosis = report["diagnosis"].to_string();
    assert!(
        diagnosis.contains("`easy` NAT") && diagnosis.contains("home-router"),
        "{diagnosis}"
    );
    let (code, _, stderr) = sim("direct-lan", &["--timeout", "3", "--expect-failure"], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn lighthouse_killed_before_parties_is_a_clear_error() {
    lab_test!(&["nebula", "nebula-cert"]);
    let (code, report, stderr) = sim(
        "nebula-easy-easy",
        &["--test-fault", "kill-coordinator"],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(report.is_null());
    assert!(
        stderr.contains("error: the lighthouse's `nebula` exited")
            && stderr.contains("before the parties started"),
        "{stderr}"
    );
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn cleanup_removes_what_a_killed_run_left() {
    lab_test!(&["nebula", "nebula-cert"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let err = dir.path().join("stderr");
    let s = scenario("nebula-hard-hard-norelay");
    let mut child = Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(["sim", &s, "--timeout", "30"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("e3 runs");
    // Wait until the daemons run, then kill e3 without a chance to clean up.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&err)
        .unwrap_or_default()
        .contains("waiting for the overlay")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "lab did not start: {}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let prefix = lab_prefix(&std::fs::read_to_string(&err).unwrap_or_default());
    let list = text(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip")
            .stdout,
    );
    assert!(
        list.contains(&format!("{prefix}-")),
        "a killed run leaves its lab behind:\n{list}"
    );
    let out = e3(&["sim", "--cleanup"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("removed lab {prefix}")),
        "{}",
        text(&out.stdout)
    );
    assert_no_leftovers(&prefix);
}

/// A closed pipe on e3's output (`e3 sim x 2>&1 | head -3`): SIGPIPE tears
/// the lab down as Ctrl-C does (exit 130), instead of killing e3 with the
/// lab still up.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn a_closed_output_pipe_tears_the_lab_down() {
    use std::io::BufRead as _;
    lab_test!(&["nebula", "nebula-cert"]);
    // A lab that goes on writing progress: the next line meets the closed pipe.
    let mut child = Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(["sim", "nebula-nat", "--timeout", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("e3 runs");
    // Read until the daemons run, then close the pipe, as `head` does.
    let mut seen = String::new();
    {
        let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        for line in lines.by_ref() {
            let line = line.expect("a line of progress");
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("waiting for the overlay") {
                break;
            }
        }
    }
    let prefix = lab_prefix(&seen);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{status:?} after:\n{seen}");
    assert_no_leftovers(&prefix);
}

/// Every pair has a model round trip and a measured one within `tolerance`
/// (a fraction) of it, or within 2 ms where the model is small (5 ms more
/// above it).
fn assert_rtt_near_model(report: &serde_json::Value, tolerance: f64) {
    for p in report["pairs"].as_array().expect("pairs") {
        let model = p["rtt_model_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("no model: {p}"));
        let rtt = p["rtt_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("no rtt: {p}"));
        // Below the model means the latency is missing; above it, a loaded
        // machine wakes the delay line late (measured up to 6.4 ms over a
        // 5.4 ms model on 2 busy cores), so it gets 5 ms more room.
        let room = (model * tolerance).max(2.0);
        assert!(
            rtt >= model - room && rtt <= model + room + 5.0,
            "{} – {}: measured {rtt} ms, model {model} ms\n{report:#}",
            p["a"],
            p["b"]
        );
    }
}

/// Far regions: the round trip that the lab measures over the overlay is
/// the model's (a wide tolerance: this checks correctness, not speed).
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn far_regions_take_the_models_round_trip() {
    lab_test!(&["nebula", "nebula-cert", "iptables"]);
    let (code, report, stderr) = sim("nebula-far-regions", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    let applied = report["latency"]["applied"].as_str().unwrap_or("");
    assert!(applied == "netem" || applied == "nfqueue", "{report:#}");
    let model = report["pairs"][0]["rtt_model_ms"].as_f64().unwrap_or(0.0);
    assert!(model > 100.0, "ams3–sgp1 is far: {model} ms\n{report:#}");
    assert_rtt_near_model(&report, 0.2);
    if applied == "nfqueue" {
        let d = &report["latency"]["delay_line"];
        assert!(d["delayed"].as_u64().unwrap_or(0) > 0, "{report:#}");
        assert_eq!(d["dropped"], 0, "{report:#}");
    }
    // `--latency none` leaves the same pair fast: the delays were the lab's.
    let (code, report, stderr) = sim("nebula-far-regions", &["--latency", "none"], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_eq!(report["latency"]["applied"], "none", "{report:#}");
    let rtt = report["pairs"][0]["rtt_ms"].as_f64().unwrap_or(99.0);
    assert!(rtt < 20.0, "{rtt} ms without delays\n{report:#}");
}

/// iptables rules of a lab namespace (`iptables -t raw -S`).
fn raw_rules(ns: &str) -> String {
    text(
        &Command::new("ip")
            .args(["netns", "exec", ns, "iptables", "-w", "-t", "raw", "-S"])
            .output()
            .expect("iptables runs")
            .stdout,
    )
}

/// A run killed with SIGKILL leaves its delay line's NFQUEUE rules (and
/// namespaces); `--cleanup` removes them with the lab.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn cleanup_removes_a_killed_delay_lines_rules() {
    lab_test!(&["nebula", "nebula-cert", "iptables"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let err = dir.path().join("stderr");
    let s = scenario("nebula-far-regions");
    let mut child = Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(["sim", &s, "--timeout", "30", "--latency", "nfqueue"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("e3 runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&err)
        .unwrap_or_default()
        .contains("waiting for the overlay")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "lab did not start: {}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(stderr.contains("latency: nfqueue"), "{stderr}");
    let prefix = lab_prefix(&stderr);
    let ns = format!("{prefix}-ams");
    assert!(
        raw_rules(&ns).contains("-j NFQUEUE --queue-num 16"),
        "the killed run's rules are there: {}",
        raw_rules(&ns)
    );
    let state = std::fs::read_to_string(format!("/run/e3/{prefix}.state")).unwrap_or_default();
    assert!(
        state
            .lines()
            .any(|l| l.starts_with(&format!("iptables {ns} raw PREROUTING "))),
        "registered in the state file:\n{state}"
    );
    let out = e3(&["sim", "--cleanup"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("removed lab {prefix}")),
        "{stdout}"
    );
    assert!(!stdout.contains("warning"), "{stdout}");
    assert_no_leftovers(&prefix);
}

/// The version `ci/go-tools.txt` pins for a tool (`v` dropped), which the
/// lab must run: `ci/install-deps` builds it into `.tools/bin/`.
fn pinned(tool: &str) -> String {
    let pins = include_str!("../../ci/go-tools.txt");
    pins.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&tool)).then(|| f[2].trim_start_matches('v').to_string())
        })
        .unwrap_or_else(|| panic!("`{tool}` is not pinned in ci/go-tools.txt"))
}

const TAILSCALE: &[&str] = &["tailscaled", "tailscale", "headscale", "openssl"];

/// tailscaled writes its log configuration to /var/lib/tailscale unless
/// told otherwise: the lab tells it otherwise.
fn assert_no_tailscale_state_outside(before: bool) {
    if !before {
        assert!(
            !Path::new("/var/lib/tailscale").exists(),
            "the lab left /var/lib/tailscale behind"
        );
    }
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn tailscale_3region_is_direct_with_the_pinned_versions() {
    lab_test!(TAILSCALE);
    let before = Path::new("/var/lib/tailscale").exists();
    let (code, report, stderr) = sim("tailscale-3region", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    for (a, b) in [("ams", "nyc"), ("ams", "sgp"), ("nyc", "sgp")] {
        assert_eq!(route(&report, a, b), "direct", "{report:#}");
        // from Tailscale itself: the last pong of `tailscale ping` came directly
        assert!(
            evidence(&report, a, b).starts_with("tailscale ping: pong direct from 198.18.1."),
            "{report:#}"
        );
    }
    let v = &report["versions"];
    assert_eq!(v["tailscale"], pinned("tailscale").as_str(), "{v}");
    assert_eq!(v["tailscaled"], pinned("tailscale").as_str(), "{v}");
    assert_eq!(v["headscale"], pinned("headscale").as_str(), "{v}");
    assert!(v["mpyc"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert_no_tailscale_state_outside(before);
    assert_wire(&report, false);
    // direct paths: the control server told every party every peer's endpoints
    assert_eq!(
        report["exposure"]["ams"]["told"],
        serde_json::json!(["nyc", "sgp"]),
        "{report:#}"
    );
    assert!(
        report["exposure"]["ams"]["infrastructure"] == serde_json::json!(["control"]),
        "{report:#}"
    );
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn headscale_hard_hard_is_relayed_by_derp() {
    lab_test!(TAILSCALE);
    let (code, report, stderr) = sim("headscale-hard-hard", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    assert_eq!(route(&report, "alice", "bob"), "relayed", "{report:#}");
    assert_eq!(report["pairs"][0]["via"], "control", "{report:#}");
    assert!(
        evidence(&report, "alice", "bob").contains("through DERP region `e3`"),
        "{report:#}"
    );
    assert_wire(&report, false);
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn headscale_nat_bundled() {
    lab_test!(TAILSCALE);
    let (code, report, stderr) = sim("headscale-nat", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    // easy NAT opposite a public party: hole punched
    assert_eq!(route(&report, "fra", "home"), "direct", "{report:#}");
    // easy against hard: the easy side's filter drops what the hard side
    // sends from its new port, so DERP carries it
    assert_eq!(route(&report, "home", "office"), "relayed", "{report:#}");
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn killing_headscale_keeps_direct_tunnels_and_drops_derp() {
    lab_test!(TAILSCALE);
    let fault = ["--test-fault", "kill-coordinator-after-overlay"];
    // Direct WireGuard tunnels outlive the control server.
    let (code, report, stderr) = sim("tailscale-3region", &fault, &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    assert!(
        report["diagnosis"].to_string().contains("killed"),
        "{report:#}"
    );
    // The embedded DERP relay dies with it, and so does a relayed pair.
    let (code, report, stderr) = sim(
        "headscale-hard-hard",
        &[&fault[..], &["--timeout", "8"]].concat(),
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["ok"], false, "{report:#}");
    assert_eq!(report["mpc_ran"], true, "{report:#}");
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn openvpn_relays_every_pair_through_its_server() {
    lab_test!(&["openvpn", "openssl"]);
    let (code, report, stderr) = sim("openvpn-nat", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    for (a, b) in [("fra", "home"), ("fra", "office"), ("home", "office")] {
        assert_eq!(route(&report, a, b), "relayed", "{report:#}");
        let e = evidence(&report, a, b);
        assert!(e.starts_with("openvpn server status: "), "{e}");
        assert!(e.contains(&format!("`{a}` connected from 198.18.")), "{e}");
    }
    assert_eq!(report["pairs"][0]["via"], "server");
    assert!(report["versions"]["openvpn"]
        .as_str()
        .is_some_and(|v| v.starts_with("2.")));
    assert_wire(&report, false);
    // every client talks only to the server
    for e in report["exposure"].as_object().expect("exposure").values() {
        assert_eq!(e["peers"], serde_json::json!([]), "{report:#}");
        assert_eq!(
            e["infrastructure"],
            serde_json::json!(["server"]),
            "{report:#}"
        );
    }
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn direct_sends_the_program_in_the_clear_over_the_wan() {
    lab_test!(&["nft", "tcpdump"]);
    let (code, report, stderr) = sim("connectivity-grid@backend=direct,nat=none+none", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_correct(&report, &stderr);
    assert_wire(&report, true);
    let wan = &report["wan"];
    assert!(
        wan["mpyc_plaintext_packets"].as_u64() > Some(0),
        "{report:#}"
    );
    // every program segment a party sent crossed the internet segment once
    assert_eq!(
        wan["mpyc_plaintext_packets"], report["wire"]["payload_packets"],
        "{report:#}"
    );
    assert_eq!(
        report["exposure"]["alice"]["peers"],
        serde_json::json!(["bob"])
    );
    assert_eq!(
        report["exposure"]["alice"]["told"],
        serde_json::json!(["bob"])
    );
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn killing_the_openvpn_server_cuts_every_pair() {
    lab_test!(&["openvpn", "openssl"]);
    let (code, report, stderr) = sim(
        "openvpn-nat",
        &[
            "--timeout",
            "6",
            "--test-fault",
            "kill-coordinator-after-overlay",
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["ok"], false, "{report:#}");
    for p in report["parties"].as_array().expect("parties") {
        assert_eq!(p["ok"], false, "{p}");
    }
    // before the parties start, it is a clear error
    let out = e3(
        &[
            "sim",
            &scenario("openvpn-nat"),
            "--test-fault",
            "kill-coordinator",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("`openvpn` exited"), "{err}");
    assert_no_leftovers(&lab_prefix(&err));
}

const UDP: &str = r#"
import socket, sys
mode = sys.argv[1]
if mode == 'recv':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', int(sys.argv[2]))); s.settimeout(float(sys.argv[3]))
    try:
        d, a = s.recvfrom(100); print(f'{a[0]}:{a[1]}')
    except socket.timeout:
        print('none')
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', int(sys.argv[2])))
    for t in sys.argv[3:]:
        h, p = t.split(':'); s.sendto(b'probe', (h, int(p)))
"#;

/// Sends one UDP packet from `from_ns` (source port `sport`) to each of
/// `targets`, with a receiver on `port` in each of `receivers`; returns what
/// each receiver saw (`ip:port` or `none`).
fn udp_probe(
    python: &str,
    script: &Path,
    from_ns: &str,
    sport: u16,
    targets: &[String],
    receivers: &[(&str, u16)],
) -> Vec<String> {
    let children: Vec<_> = receivers
        .iter()
        .map(|(ns, port)| {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    ns,
                    python,
                    &script.display().to_string(),
                    "recv",
                    &port.to_string(),
                    "2",
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("receiver")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut args = vec![
        "netns".to_string(),
        "exec".into(),
        from_ns.into(),
        python.into(),
        script.display().to_string(),
        "send".into(),
        sport.to_string(),
    ];
    args.extend(targets.iter().cloned());
    assert!(Command::new("ip")
        .args(&args)
        .status()
        .expect("sender")
        .success());
    children
        .into_iter()
        .map(|c| {
            text(&c.wait_with_output().expect("receiver output").stdout)
                .trim()
                .to_string()
        })
        .collect()
}

/// The NAT types behave as `catalogue::Nat` describes them: `hard` maps one source port to
/// different public ports per destination, `easy` keeps one; `easyaf`
/// admits a packet from a new port of an address it has sent to, `easy`
/// does not.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn nat_types_map_and_filter_as_designed() {
    lab_test!(&["nft"]);
    let python = e3::sim::find_python()
        .expect("python")
        .display()
        .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("udp.py");
    std::fs::write(&script, UDP).expect("script");
    for nat in ["easy", "hard", "easyaf"] {
        let yaml = format!("connectivity: {{ backend: direct }}\nprogram: {{ name: secure-sum }}\ndefaults: {{ platform: digitalocean, region: ams3 }}\nparties:\n  - {{ name: a, nat: {nat} }}\n  - {{ name: s1 }}\n  - {{ name: s2 }}\n");
        let file = dir.path().join(format!("nat-{nat}.yaml"));
        std::fs::write(&file, yaml).expect("scenario");
        let checked = e3::check(&e3::load::ScenarioRef::File(file.clone()));
        let plan = e3::plan::plan(checked.scenario().expect("valid probe scenario"));
        let public = |h: &str| {
            plan.host(h)
                .and_then(|h| h.public_address)
                .expect("public address")
                .to_string()
        };
        let lab = e3::sim::build_only(&plan).expect("lab");
        let (a, s1, s2) = (lab.ns("a"), lab.ns("s1"), lab.ns("s2"));
        // Mapping: one source port to two destinations.
        let seen = udp_probe(
            &python,
            &script,
            &a,
            5000,
            &[
                format!("{}:7000", public("s1")),
                format!("{}:7000", public("s2")),
            ],
            &[(&s1, 7000), (&s2, 7000)],
        );
        assert!(seen.iter().all(|s| s != "none"), "{nat}: {seen:?}");
        let ports: Vec<&str> = seen
            .iter()
            .map(|s| s.rsplit(':').next().unwrap_or(""))
            .collect();
        match nat {
            "hard" => assert_ne!(
                ports[0], ports[1],
                "hard NAT must map per destination: {seen:?}"
            ),
            _ => assert_eq!(
                ports,
                ["5000", "5000"],
                "{nat} NAT must keep one port-preserving mapping: {seen:?}"
            ),
        }
        // Filtering: s1 sends from a port `a` never sent to.
        let mapped = format!("{}:{}", public("a"), ports[0]);
        let from_known = udp_probe(
            &python,
            &script,
            &s1,
            7001,
            &[format!("{}:5000", public("a"))],
            &[(&a, 5000)],
        );
        match nat {
            "easyaf" => assert_ne!(
                from_known[0], "none",
                "easyaf must admit a new port of a known address"
            ),
            _ => assert_eq!(
                from_known[0], "none",
                "{nat} must drop a new port of a known address (mapping {mapped})"
            ),
        }
        drop(lab);
    }
}

/// `sim::capture`: tcpdump on the internet bridge and on a site's LAN
/// writes pcaps that `tcpdump -r` reads, with the public (NATed) and the
/// inside address respectively; a bad filter is a clear error; nothing of
/// tcpdump outlives the lab.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn captures_are_pcaps_that_tcpdump_reads() {
    lab_test!(&["nft", "tcpdump"]);
    use e3::sim::capture::{Capture, CaptureError, Where};
    let python = e3::sim::find_python()
        .expect("python")
        .display()
        .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("udp.py");
    std::fs::write(&script, UDP).expect("script");
    let yaml = "connectivity: { backend: direct }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean, region: ams3 }\nparties:\n  - { name: a, nat: easy }\n  - { name: s1 }\n";
    let file = dir.path().join("capture.yaml");
    std::fs::write(&file, yaml).expect("scenario");
    let checked = e3::check(&e3::load::ScenarioRef::File(file.clone()));
    let plan = e3::plan::plan(checked.scenario().expect("valid scenario"));
    let lab = e3::sim::build_only(&plan).expect("lab");
    let prefix = lab.prefix.clone();
    let s1 = plan.host("s1").and_then(|h| h.public_address).expect("s1");
    let a_public = plan.host("a").and_then(|h| h.public_address).expect("a");
    let a_inside = plan.host("a").expect("a").interfaces[0].address;
    let site = plan
        .host("a")
        .and_then(|h| h.site.clone())
        .expect("a's site");
    let inet = dir.path().join("internet.pcap");
    let lan = dir.path().join("lan.pcap");
    let c1 = Capture::start(&lab, &plan, &Where::Internet, Some("udp port 7000"), &inet)
        .expect("capture on the internet");
    let place = Where::parse(&plan, &site).expect("a site");
    assert_eq!(place, Where::Site(site.clone()));
    let c2 = Capture::start(&lab, &plan, &place, None, &lan).expect("capture on the site");
    let seen = udp_probe(
        &python,
        &script,
        &lab.ns("a"),
        5000,
        &[format!("{s1}:7000")],
        &[(&lab.ns("s1"), 7000)],
    );
    assert_ne!(seen[0], "none", "the probe got through: {seen:?}");
    let st1 = c1.stop().expect("stop");
    let st2 = c2.stop().expect("stop");
    assert!(st1.captured >= 1 && st2.captured >= 1, "{st1:?} {st2:?}");
    let read = |p: &Path| {
        let out = Command::new("tcpdump")
            .args(["-n", "-r", &p.display().to_string()])
            .output()
            .expect("tcpdump -r");
        assert!(
            out.status.success(),
            "tcpdump -r {}: {}",
            p.display(),
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    let on_inet = read(&inet);
    assert!(
        on_inet.contains(&format!("{a_public}.5000 > {s1}.7000")),
        "the internet sees the NATed address:\n{on_inet}"
    );
    assert!(!on_inet.contains(&a_inside.to_string()), "{on_inet}");
    let on_lan = read(&lan);
    assert!(
        on_lan.contains(&format!("{a_inside}.5000 > {s1}.7000")),
        "the site sees the inside address:\n{on_lan}"
    );
    // A bad filter and an unknown place are errors that say what is wrong.
    let bad = Capture::start(
        &lab,
        &plan,
        &Where::Internet,
        Some("port nonsense(("),
        &inet,
    );
    match bad {
        Err(CaptureError::Start { stderr, .. }) => assert!(stderr.contains("nonsense"), "{stderr}"),
        other => panic!(
            "a bad filter must not start: {:?}",
            other.map(|c| c.path.clone())
        ),
    }
    assert!(matches!(
        Where::parse(&plan, "nowhere"),
        Err(CaptureError::UnknownPlace { .. })
    ));
    // A capture dropped without stop is killed; teardown leaves nothing.
    let c3 = Capture::start(&lab, &plan, &Where::Host("s1".into()), None, &lan).expect("host");
    drop(c3);
    drop(lab);
    assert_no_leftovers(&prefix);
}

/// `e3 lab`: the issue's workbench session on `nebula-nat`, from the
/// command line. The lab stays up between commands (its daemons outlive
/// `e3 lab up`), `exec` passes exit statuses through, `capture` writes a
/// pcap `tcpdump -r` reads, `fault` rebinds, readdresses, takes links down
/// and up, kills and restarts daemons while the overlay keeps (or gets
/// back) its paths, `e3 sim --cleanup` leaves a kept lab alone, and `down`
/// leaves nothing: namespaces, processes, state and record files, temp dirs.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn lab_up_exec_capture_fault_down() {
    lab_test!(&["nebula", "nebula-cert", "tcpdump"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("nebula-nat-test-{}", std::process::id());
    let lab = |args: &[&str]| {
        let mut all = vec!["lab"];
        all.extend_from_slice(args);
        e3(&all, &[])
    };
    let out = lab(&["up", "nebula-nat", "--name", &name, "--json"]);
    let stderr = text(&out.stderr);
    let prefix = lab_prefix(&stderr);
    let teardown = |why: &str| {
        let _ = lab(&["down", &name]);
        panic!("{why}");
    };
    if out.status.code() != Some(0) {
        teardown(&format!("lab up failed: {stderr}"));
    }
    let up: serde_json::Value = serde_json::from_slice(&out.stdout).expect("up --json");
    assert_eq!(up["lab"], name.as_str());
    let hosts = up["hosts"].as_array().expect("hosts");
    let bob = hosts.iter().find(|h| h["name"] == "bob").expect("bob");
    assert_eq!(bob["namespace"], format!("{prefix}-bob").as_str());
    assert!(
        up["segments"].as_array().is_some_and(|s| s.len() == 4),
        "{up:#}"
    );
    let bob_overlay = bob["overlay"].as_str().expect("overlay").to_string();
    // The same name twice is refused.
    let again = lab(&["up", "nebula-nat", "--name", &name]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("is already up"));
    let ping = |timeout_s: u32| {
        // Paths may take a moment to come back after a fault.
        (0..timeout_s).any(|_| {
            lab(&[
                "exec",
                &name,
                "alice",
                "--",
                "ping",
                "-c1",
                "-W1",
                &bob_overlay,
            ])
            .status
            .success()
        })
    };
    if !ping(3) {
        teardown("alice cannot ping bob's overlay address after `lab up`");
    }
    let code = lab(&["exec", &name, "alice", "--", "sh", "-c", "exit 7"])
        .status
        .code();
    assert_eq!(code, Some(7), "exec passes the exit status through");
    let pcap = dir.path().join("x.pcap");
    let pcap_s = pcap.display().to_string();
    let out = lab(&[
        "capture",
        &name,
        "internet",
        "-w",
        &pcap_s,
        "--duration",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let read = Command::new("tcpdump")
        .args(["-n", "-r", &pcap_s])
        .output()
        .expect("tcpdump -r");
    assert!(read.status.success(), "{}", text(&read.stderr));
    // Nebula's lighthouse updates cross the internet every second.
    assert!(
        text(&read.stdout).contains(".4242: UDP"),
        "{}",
        text(&read.stdout)
    );
    // After each fault but the kill (a relayed pair goes with its relay)
    // alice reaches bob again.
    for (action, target, says, recovers) in [
        ("rebind", "alice-router", "forgot its", true),
        ("readdress", "bob-router", "moved from 198.18.", true),
        ("link-down", "carol", "is down", true),
        ("link-up", "carol", "is up", true),
        ("kill", "lighthouse", "was killed", false),
        ("restart", "lighthouse", "started again", true),
    ] {
        let out = lab(&["fault", &name, action, target]);
        let said = text(&out.stdout);
        if !out.status.success() || !said.contains(says) {
            teardown(&format!(
                "fault {action} {target}: {said}{}",
                text(&out.stderr)
            ));
        }
        if recovers && !ping(30) {
            teardown(&format!(
                "no overlay path alice–bob after {action} {target}"
            ));
        }
    }
    // A rebound mapping: alice's router now sends from a port of its rule.
    let rules = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{prefix}-alice-router"),
            "nft",
            "list",
            "chain",
            "ip",
            "e3",
            "post",
        ])
        .output()
        .expect("nft");
    assert!(
        text(&rules.stdout).contains("masquerade to :"),
        "{}",
        text(&rules.stdout)
    );
    // Bad faults are precise errors.
    let out = lab(&["fault", &name, "readdress", "alice"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("readdress `alice-router`"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        lab(&["fault", &name, "reboot", "alice"]).status.code(),
        Some(2)
    );
    let status = lab(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status --json");
    let mine = status
        .as_array()
        .and_then(|a| a.iter().find(|l| l["lab"] == name.as_str()).cloned())
        .expect("status lists the lab");
    assert_eq!(mine["faults"].as_array().map(Vec::len), Some(6), "{mine:#}");
    assert_eq!(mine["running"], mine["daemons"], "{mine:#}");
    // `e3 sim --cleanup` keeps a lab that `e3 lab up` keeps.
    let out = e3(&["sim", "--cleanup"], &[]);
    assert!(text(&out.stdout).contains(&format!("kept {prefix}: it was started by `e3 lab up`")));
    assert!(Path::new(&format!("/run/e3/{prefix}.state")).exists());
    let out = lab(&["down", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_no_leftovers(&prefix);
    assert!(!Path::new(&format!("/run/e3/{prefix}.lab")).exists());
    let out = lab(&["exec", &name, "alice", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("no lab `{name}` is up")));
}

/// `simulation.faults`: while the program runs the public party moves to a
/// new address and alice's NAT forgets its mappings; the report lists each
/// fault as applied, each pair's recovery (Nebula roams: it recovers), and
/// that MPyC survived.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn a_readdress_fault_reports_recovery_per_pair() {
    lab_test!(&["nebula", "nebula-cert"]);
    let (code, report, stderr) = sim("nebula-readdress", &["--timeout", "40"], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    let faults = report["faults"].as_array().expect("faults in the report");
    assert_eq!(faults.len(), 2, "{report:#}");
    assert_eq!(faults[0]["action"], "readdress");
    assert_eq!(faults[0]["target"], "bob");
    assert_eq!(faults[1]["action"], "rebind");
    for f in faults {
        assert_eq!(f["applied"], true, "{f:#}");
        let pairs = f["pairs"].as_array().expect("pairs");
        assert_eq!(pairs.len(), 1, "{f:#}");
        assert_eq!(pairs[0]["a"], "alice");
        assert_eq!(pairs[0]["recovered"], true, "{f:#}");
        assert!(pairs[0]["after_s"].as_f64().is_some(), "{f:#}");
    }
    assert!(faults[0]["outcome"]
        .as_str()
        .is_some_and(|o| o.contains("moved from 198.18.")));
    assert_eq!(report["mpc_survived"], true, "{report:#}");
    // Nebula's hostmap has bob at his new address.
    assert!(
        evidence(&report, "alice", "bob").contains("198.18.255.254")
            || route(&report, "alice", "bob") == "relayed",
        "{report:#}"
    );
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn faults_after_the_program_are_warned_about_with_their_line() {
    lab_test!(&["nebula", "nebula-cert"]);
    let (code, report, stderr) = sim("nebula-late-fault", &["--timeout", "20"], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    // before the run: the fault after the time bound
    assert!(
        stderr.contains("warning[W105]: fault `readdress alice-router` at 30 s will not be applied: the program is stopped after 20 s (`--timeout`)"),
        "{stderr}"
    );
    // after it: both, with how long the program ran, at their `at:`
    let ran = report["faults"][0]["program_ended_s"]
        .as_f64()
        .expect("how long the program ran");
    assert!(ran > 0.0 && ran < 8.0, "{report:#}");
    for (at, line) in [("8 s", 15), ("30 s", 16)] {
        assert!(
            stderr.contains(&format!(
                "at {at} was not applied: the program ran {ran:.2} s"
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("nebula-late-fault.yaml:{line}:13")),
            "{stderr}"
        );
    }
    for f in report["faults"].as_array().unwrap() {
        assert_eq!(f["applied"], false, "{f:#}");
    }
    // no fault was applied: nothing to have survived
    assert!(report.get("mpc_survived").is_none(), "{report:#}");
}

/// Runs `e3 lab down NAME` when dropped (unless disarmed): a failing kept-lab
/// test leaves no lab behind.
struct DownOnDrop {
    name: String,
    armed: bool,
}

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let _ = e3(&["lab", "down", &self.name], &[]);
        }
    }
}

/// `e3 lab up SCENARIO --name NAME --json`: (prefix, the summary).
fn kept_lab(scenario_name: &str, name: &str) -> (String, serde_json::Value, DownOnDrop) {
    let out = e3(
        &[
            "lab",
            "up",
            &scenario(scenario_name),
            "--name",
            name,
            "--json",
        ],
        &[],
    );
    let stderr = text(&out.stderr);
    let guard = DownOnDrop {
        name: name.to_string(),
        armed: stderr.contains("lab e3-"),
    };
    assert_eq!(out.status.code(), Some(0), "lab up failed: {stderr}");
    let up: serde_json::Value = serde_json::from_slice(&out.stdout).expect("up --json");
    (lab_prefix(&stderr), up, guard)
}

/// A host's first address of a kept lab's summary, or its overlay address.
fn lab_address(up: &serde_json::Value, host: &str, overlay: bool) -> String {
    let h = up["hosts"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h["name"] == host))
        .unwrap_or_else(|| panic!("no host {host}: {up:#}"));
    let a = if overlay {
        h["overlay"].as_str()
    } else {
        h["underlay"][0].as_str()
    };
    a.expect("an address")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Issue #25: `rebind` on a direct Nebula tunnel, ten times on one kept lab
/// (`nebula-easy-easy`: alice and bob behind `easy` NATs, `relay: never`).
/// alice's router forgets its mappings and hands out a new outside port;
/// bob's router filters by endpoint, so it drops alice's packets from the
/// new port until bob has sent there: the tunnel is dead until Nebula
/// notices (its connection manager), asks the lighthouse again and the
/// lighthouse has bob punch towards alice's new port. Every cycle must
/// answer over the overlay within `BOUND_S` (pinging from alice every
/// 0.2 s from the moment the fault returns; Nebula's default timers took
/// about 20 s) and directly through the new port: bob's router then holds
/// a flow from bob to alice's public address and that port that alice
/// answered. Prints
/// each cycle's recovery time and their minimum, median and maximum. (With
/// a relay, a pair may recover through the public lighthouse at once,
/// which would not test this.)
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn ten_rebinds_each_recover_a_direct_tunnel_within_the_bound() {
    lab_test!(&["nebula", "nebula-cert", "conntrack"]);
    const CYCLES: usize = 10;
    const BOUND_S: u32 = 10;
    let name = format!("rebind-test-{}", std::process::id());
    let (prefix, up, mut guard) = kept_lab("nebula-easy-easy", &name);
    let lab = |args: &[&str]| {
        let mut all = vec!["lab"];
        all.extend_from_slice(args);
        e3(&all, &[])
    };
    let bob = lab_address(&up, "bob", true);
    let alice_public = lab_address(&up, "alice-router", false);
    let ping = || {
        let start = std::time::Instant::now();
        let deadline = format!("-w{BOUND_S}");
        let out = lab(&[
            "exec", &name, "alice", "--", "ping", "-q", "-c1", "-i0.2", &deadline, &bob,
        ]);
        (out.status.success(), start.elapsed().as_secs_f64())
    };
    assert!(ping().0, "alice cannot ping bob after `lab up` ({prefix})");
    let mut times = Vec::new();
    let mut ports = Vec::new();
    for cycle in 1..=CYCLES {
        let out = lab(&["fault", &name, "rebind", "alice-router"]);
        let said = text(&out.stdout);
        assert!(out.status.success(), "{said}{}", text(&out.stderr));
        let port: u16 = said
            .rsplit('→')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("cycle {cycle}: no new port in `{said}`"));
        assert!(!ports.contains(&port), "cycle {cycle}: port {port} again");
        ports.push(port);
        let (ok, after) = ping();
        eprintln!("rebind cycle {cycle}: new port {port}, overlay answered after {after:.2} s");
        assert!(
            ok,
            "cycle {cycle}: no answer from bob within {BOUND_S} s of the rebind"
        );
        let flows = lab(&[
            "exec",
            &name,
            "bob-router",
            "--",
            "conntrack",
            "-L",
            "-p",
            "udp",
            "--dst",
            &alice_public,
            "--dport",
            &port.to_string(),
        ]);
        let flows = text(&flows.stdout);
        assert!(
            flows.contains(&format!("sport={port} dport=4242")) && !flows.contains("UNREPLIED"),
            "cycle {cycle}: no direct flow between bob and alice's new port {port}:\n{flows}"
        );
        times.push(after);
    }
    times.sort_by(f64::total_cmp);
    eprintln!(
        "rebind recovery over {CYCLES} cycles: min {:.2} s, median {:.2} s, max {:.2} s (bound {BOUND_S} s)",
        times[0],
        (times[CYCLES / 2 - 1] + times[CYCLES / 2]) / 2.0,
        times[CYCLES - 1]
    );
    let out = lab(&["down", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    guard.armed = false;
    assert_no_leftovers(&prefix);
}

/// A process's state and start time (`/proc/PID/stat`, fields 3 and 22);
/// `None` once it is gone, reaped.
fn process(pid: u32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
    Some((f.first()?.chars().next()?, f.get(19)?.parse().ok()?))
}

/// Issue #25: a kept lab's daemons outlive `e3 lab up`, so their parent is
/// init (or a subreaper), not the `e3 lab down` that kills them; `down`
/// must still return only when every process of the lab is gone, zombies
/// included (a zombie keeps `/proc/PID`, state `Z`, until its parent reaps
/// it). So must `fault kill` for the daemon it kills. Checked for every
/// PID the lab's state file records (the first daemons, the one `restart`
/// started), by PID and start time.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn lab_down_leaves_no_process_not_even_a_zombie() {
    lab_test!(&["nebula", "nebula-cert"]);
    let name = format!("reap-test-{}", std::process::id());
    let (prefix, _up, mut guard) = kept_lab("nebula-easy-easy", &name);
    let lab = |args: &[&str]| {
        let mut all = vec!["lab"];
        all.extend_from_slice(args);
        e3(&all, &[])
    };
    let state = || std::fs::read_to_string(format!("/run/e3/{prefix}.state")).expect("state file");
    let named = |who: &str| -> u32 {
        state()
            .lines()
            .filter_map(|l| l.strip_prefix("name "))
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, n)| *n == who)
            .find_map(|(p, _)| p.parse().ok())
            .unwrap_or_else(|| panic!("no pid of {who} in the state file:\n{}", state()))
    };
    let bob = named("bob");
    let before = process(bob).expect("bob's nebula runs");
    let out = lab(&["fault", &name, "kill", "bob"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let now = process(bob).filter(|p| p.1 == before.1);
    assert_eq!(
        now, None,
        "`fault kill` returned with bob's nebula ({bob}) still there"
    );
    let out = lab(&["fault", &name, "restart", "bob"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(named("bob"), bob, "restart records the new pid");
    let pids: Vec<(u32, (char, u64))> = state()
        .lines()
        .filter_map(|l| {
            let (kind, rest) = l.split_once(' ')?;
            let p = match kind {
                "pid" => rest,
                "name" => rest.split(' ').next()?,
                _ => return None,
            };
            p.parse().ok()
        })
        .collect::<std::collections::BTreeSet<u32>>()
        .into_iter()
        .filter_map(|p| process(p).map(|s| (p, s)))
        .collect();
    assert!(
        pids.len() >= 3,
        "the lighthouse's, alice's and bob's nebula: {pids:?}"
    );
    let out = lab(&["down", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    guard.armed = false;
    let left: Vec<String> = pids
        .iter()
        .filter_map(|(p, (_, start))| {
            let (state, s) = process(*p)?;
            (s == *start).then(|| format!("{p} (state {state})"))
        })
        .collect();
    assert!(
        left.is_empty(),
        "`lab down` returned with processes of the lab left: {left:?}"
    );
    assert_no_leftovers(&prefix);
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn a_shared_labs_later_run_reports_what_its_observer_saw_since_the_lab_came_up() {
    lab_test!(&["nebula", "nebula-cert"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let out = e3(
        &[
            "grid",
            "mpc-sweep",
            "--only",
            "backend=nebula",
            "--only",
            "count=2",
            "--only",
            "placement=same",
            "-o",
            dir.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let grid: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cell = |program: &str| {
        grid["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["settings"]["program"] == program)
            .cloned()
            .expect(program)
    };
    let (first, second) = (cell("max-chain"), cell("bulk"));
    assert_eq!(first["samples"][0]["lab_run"], 1, "{first}");
    assert_eq!(second["samples"][0]["lab_run"], 2, "{second}");
    // The second run's observer has seen the lab since it came up: the
    // parties' exchanges with the lighthouse at the start too.
    for party in ["p-0", "p-1"] {
        let infra = |c: &serde_json::Value| c["exposure"][party]["infrastructure"].clone();
        assert_eq!(infra(&first), serde_json::json!(["lighthouse"]), "{first}");
        assert_eq!(infra(&second), infra(&first), "{second}");
    }
    assert_eq!(orphan_labs(), Vec::<String>::new(), "lab namespaces left");
}

/// The README's table of expected `connectivity-grid` outcomes:
/// (NAT pair, backend) → outcome.
fn expected_grid_outcomes() -> std::collections::BTreeMap<(String, String), String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let start = readme
        .find("### Expected outcomes of `connectivity-grid`")
        .expect("the README has the table");
    let rows: Vec<Vec<String>> = readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    let backends = &rows[0][1..];
    let mut table = std::collections::BTreeMap::new();
    for row in &rows[2..] {
        let pair = row[0].replace(" + ", "+");
        for (b, outcome) in backends.iter().zip(&row[1..]) {
            table.insert((pair.clone(), b.clone()), outcome.clone());
        }
    }
    assert_eq!(table.len(), 90, "15 NAT pairs × 6 backends");
    table
}

/// Lab namespaces whose lab has no live owner: what a finished run left.
/// A kept lab (`e3 lab up`, whose owner exits at once: the lab tests of the
/// other test process keep some for a minute) is nobody's leftover.
fn orphan_labs() -> Vec<String> {
    e3::sim::netns::lab_namespaces()
        .into_iter()
        .filter(|ns| {
            let prefix = e3::sim::netns::lab_prefix(ns).unwrap_or_default();
            let state =
                std::fs::read_to_string(format!("/run/e3/{prefix}.state")).unwrap_or_default();
            let owner = state
                .lines()
                .find_map(|l| l.strip_prefix("owner "))
                .unwrap_or("0");
            let kept = state.lines().any(|l| l == "kept");
            !kept && (!Path::new(&format!("/proc/{owner}")).exists() || owner == "0")
        })
        .collect()
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn reduced_connectivity_grid_matches_the_readme_and_reruns_from_cache() {
    lab_test!(&[
        "nebula",
        "nebula-cert",
        "wireguard-go",
        "wg",
        "tincd",
        "openvpn",
        "tailscaled",
        "tailscale",
        "headscale",
    ]);
    let expected = expected_grid_outcomes();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("grid");
    let args = [
        "grid",
        "connectivity-grid",
        "--only",
        "nat=easy+easy",
        "--only",
        "nat=easyaf+hard",
        "--only",
        "nat=hard+hard",
        // Tailscale's overlay takes about 8 s here (log-in, network map, DERP)
        "--timeout",
        "15",
        "-o",
        dir.to_str().unwrap(),
        "--json",
    ];
    let out = e3(&args, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let grid: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("--json prints grid.json");
    let cells = grid["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 18, "6 backends × 3 NAT pairs");
    let mut wrong = Vec::new();
    for c in cells {
        let key = (
            c["settings"]["nat"].as_str().unwrap().to_string(),
            c["settings"]["backend"].as_str().unwrap().to_string(),
        );
        // `direct*`: direct, or relayed when the relay handshake won the race.
        let want = &expected[&key];
        let ok = match want.strip_suffix('*') {
            Some(w) => c["outcome"] == w || c["outcome"] == "relayed",
            None => c["outcome"] == want.as_str(),
        };
        if !ok {
            wrong.push(format!(
                "{}: {} (README: {want}); reason: {}",
                c["variant"], c["outcome"], c["reason"]
            ));
        }
        if c["outcome"] != "failed" {
            assert_eq!(c["result"], 948, "{c}");
            assert!(c["mpc_wall_s"].as_f64().is_some(), "{c}");
        } else {
            assert!(
                c["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "a failed cell says why: {c}"
            );
        }
        assert_eq!(c["cached"], false);
        // privacy and cost per cell: plaintext only for `direct`, an
        // exposure entry per party
        let direct = key.1 == "direct";
        assert_eq!(c["wan"]["mpyc_plaintext"], direct, "{c}");
        assert_eq!(c["exposure"].as_object().map(|e| e.len()), Some(2), "{c}");
        if c["outcome"] != "failed" {
            assert!(c["wire"]["ratio"].as_f64() > Some(1.0), "{c}");
        }
    }
    assert!(
        wrong.is_empty(),
        "outcomes differ from the README table:\n{}\n{stderr}",
        wrong.join("\n")
    );
    // The figure is self-contained.
    let svg = std::fs::read_to_string(dir.join("grid.svg")).unwrap();
    let html = std::fs::read_to_string(dir.join("grid.html")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("relayed") && svg.contains("failed"));
    // it fits a 1280-pixel-wide page
    let width: usize = svg
        .split("width=\"")
        .nth(1)
        .and_then(|w| w.split('"').next())
        .and_then(|w| w.parse().ok())
        .expect("the figure's width");
    assert!(width <= 1280, "{width} px wide");
    // markers: peers that learn addresses (every overlay but the hub designs
    // here), and `direct`'s plaintext (3 cells)
    assert!(svg.contains("<circle"), "{svg}");
    assert_eq!(
        svg.matches(r##"fill="#ffffff" stroke="#000000" stroke-width="1.5"/>"##)
            .count(),
        3 + 1,
        "a plaintext marker on each `direct` cell, and the legend's"
    );
    for page in [&svg, &html] {
        let without_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !without_ns.contains("http://")
                && !without_ns.contains("https://")
                && !without_ns.contains("src="),
            "external reference:\n{page}"
        );
    }
    assert!(html.contains(&svg) && html.contains("connectivity-grid@backend=tinc,nat=easyaf+hard"));
    // Nothing of the grid's labs survives (labs of other, live processes may run meanwhile).
    assert_eq!(orphan_labs(), Vec::<String>::new(), "lab namespaces left");
    // Nothing changed: every cell comes from the cache, with the same outcomes.
    let again = e3(&args, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let grid2: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    for (a, b) in cells.iter().zip(grid2["cells"].as_array().unwrap()) {
        assert_eq!(b["cached"], true, "{b}");
        assert_eq!(
            (&a["variant"], &a["outcome"], &a["hash"]),
            (&b["variant"], &b["outcome"], &b["hash"])
        );
    }
    assert!(
        text(&again.stderr).contains("18 of 18 runs from the cache"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn an_interrupted_grid_keeps_finished_cells_and_leaves_no_lab() {
    lab_test!(&["nebula", "nebula-cert"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("grid");
    let args = [
        "grid",
        "connectivity-grid",
        "--only",
        "backend=nebula",
        "--timeout",
        "10",
        "-o",
        dir.to_str().unwrap(),
    ];
    let child = Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("e3 runs");
    // Wait until two cells have finished, then press Ctrl-C.
    let finished = |dir: &Path| {
        std::fs::read_dir(dir.join("cells"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while finished(&dir) < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(finished(&dir) >= 2, "no cell finished within a minute");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("e3 exits");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    // The signal may land while a lab runs ("tearing the lab down") or
    // between two (then there is none to tear down); either way no lab is
    // left (checked below).
    assert!(stderr.contains("interrupted"), "{stderr}");
    let grid: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("grid.json")).unwrap()).unwrap();
    let cells = grid["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 15);
    let done: Vec<&serde_json::Value> =
        cells.iter().filter(|c| c["outcome"] != "pending").collect();
    assert!(done.len() >= 2 && done.len() < 15, "{grid:#}");
    assert!(
        done.iter()
            .all(|c| c["outcome"] == "direct" || c["outcome"] == "relayed"),
        "{grid:#}"
    );
    assert_eq!(orphan_labs(), Vec::<String>::new(), "lab namespaces left");
    // The next run starts from the finished cells.
    let again = e3(
        &[
            "grid",
            "connectivity-grid",
            "--only",
            "backend=nebula",
            "--only",
            "nat=none+none",
            "--timeout",
            "10",
            "-o",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("1 of 1 runs from the cache"),
        "{}",
        text(&again.stderr)
    );
}

/// The lab's latency commands (`e3::sim::latency`, the shared model of
/// `e3::netem` on the lab's interfaces) are accepted by the real `tc` in a
/// real lab, on a public party's and a control host's `eth0` and on a
/// router's and a carrier's `wan`: every HTB class and u32 filter is
/// created, and each netem command is either applied or refused by the
/// kernel alone ("unknown qdisc kind", on kernels without netem such as the
/// development machines'): the arguments passed tc's own parser. Where netem
/// exists, the delays show.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn latency_tree_is_accepted_by_tc() {
    lab_test!(&["nft", "tc"]);
    let yaml = "connectivity: { backend: nebula }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean }\nparties:\n  - { name: ams, region: ams3 }\n  - { name: nyc, region: nyc3, nat: easy }\n  - { name: sgp, region: sgp1, nat: cgnat }\nsimulation: { latency: regions }\n";
    let checked = e3::check_text("latency.yaml", yaml.as_bytes());
    let plan = e3::plan::plan(checked.scenario().expect("valid scenario"));
    let hosts = e3::sim::latency::commands(&plan);
    let shaped: Vec<(&str, &str)> = hosts.iter().map(|h| (h.host.as_str(), h.dev)).collect();
    assert_eq!(
        shaped,
        [
            ("ams", "eth0"),
            ("lighthouse", "eth0"),
            ("nyc-router", "wan"),
            ("sgp-carrier", "wan")
        ]
    );
    let lab = e3::sim::build_only(&plan).expect("lab");
    let mut netem = 0;
    let mut netem_missing = false;
    for h in &hosts {
        let ns = lab.ns(&h.host);
        for c in &h.commands {
            let out = Command::new("ip")
                .args(["netns", "exec", &ns])
                .args(c)
                .output()
                .expect("tc runs");
            let err = text(&out.stderr);
            if c.contains(&"netem".to_string()) {
                netem += 1;
                if !out.status.success() {
                    assert!(
                        err.contains("Specified qdisc kind is unknown"),
                        "tc rejected `{}`: {err}",
                        c.join(" ")
                    );
                    netem_missing = true;
                }
            } else {
                assert!(
                    out.status.success(),
                    "`{}` in {}: {err}",
                    c.join(" "),
                    h.host
                );
            }
        }
        let show = |what: &str| {
            text(
                &Command::new("ip")
                    .args(["netns", "exec", &ns, "tc", what, "show", "dev", h.dev])
                    .output()
                    .expect("tc")
                    .stdout,
            )
        };
        let filters = show("filter");
        assert!(h.destinations > 0, "{h:?}");
        assert_eq!(
            filters.matches("flowid").count(),
            h.destinations,
            "{}: {filters}",
            h.host
        );
        assert!(
            show("class").contains("htb 1:10"),
            "{}: no default class on {}",
            h.host,
            h.dev
        );
        if !netem_missing {
            let qdiscs = show("qdisc");
            assert!(
                qdiscs.contains("netem") && qdiscs.contains("delay"),
                "{}: {qdiscs}",
                h.host
            );
        }
    }
    assert!(netem > 0);
    eprintln!(
        "netem {}",
        if netem_missing {
            "absent: HTB classes and filters applied, netem arguments parsed by tc, refused by the kernel"
        } else {
            "present: delays applied"
        }
    );
    drop(lab);
}

/// Per-namespace files under `/etc/netns/<ns>/` (the Tailscale backends give
/// each party its own `resolv.conf` there) go with the lab, directory and all.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn teardown_removes_per_namespace_etc_files() {
    lab_test!(&["ip"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = format!("e3-{:04x}", std::process::id() & 0xffff);
    let etc = Path::new("/etc/netns").join(format!("{prefix}-party"));
    std::fs::create_dir_all(&etc).expect("create /etc/netns/<ns>");
    let file = etc.join("resolv.conf");
    std::fs::write(&file, "# test\n").expect("write");
    let state = dir.path().join(format!("{prefix}.state"));
    std::fs::write(&state, format!("owner 0\nfile {}\n", file.display())).expect("state");
    let problems = e3::sim::netns::cleanup_state(&state).expect("a trusted state file");
    assert!(problems.is_empty(), "{problems:?}");
    assert!(!file.exists() && !etc.exists(), "{} left", etc.display());
    assert!(!state.exists());
}

/// A pseudo-random number in `0..n` (no RNG crate for the tests).
fn random_below(n: u64) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (t ^ (t >> 7) ^ u64::from(std::process::id())) % n
}

/// SIGINT at random moments while a 12-party lab (20 namespaces) is being
/// built: every run ends 130 and leaves no namespace, process, state file
/// or directory. (Before, the signal handler tore down from the state file
/// while the main thread went on creating namespaces.)
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn sigint_during_namespace_creation_leaves_nothing() {
    lab_test!(&["nebula", "nebula-cert"]);
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario("twelve");
    for run in 0..14 {
        let err_path = tmp.path().join(format!("stderr-{run}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_e3"))
            .args(["sim", &s, "--timeout", "30"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .expect("e3 runs");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(&err_path)
            .unwrap_or_default()
            .contains("lab e3-")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the lab did not start"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        // 0 to 600 ms into building the namespaces (it takes about a second).
        std::thread::sleep(Duration::from_millis(random_below(600)));
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = child.wait().unwrap().code();
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        assert_eq!(code, Some(130), "run {run}:\n{stderr}");
        assert!(stderr.contains("interrupted"), "run {run}:\n{stderr}");
        assert_no_leftovers(&lab_prefix(&stderr));
    }
}

/// `e3 sim` under `umask 000`: `/run/e3` ends 0700 even when it was 0777,
/// the state file is 0600 and the lab directory 0700 while the lab runs.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn lab_state_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::CommandExt as _;
    lab_test!(&["nebula", "nebula-cert"]);
    let _ = std::fs::create_dir_all("/run/e3");
    std::fs::set_permissions("/run/e3", std::fs::Permissions::from_mode(0o777)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let err_path = tmp.path().join("stderr");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_e3"));
    cmd.args(["sim", &scenario("nebula-easy-easy"), "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap());
    // SAFETY: umask is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&err_path)
        .unwrap_or_default()
        .contains("waiting for the overlay")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the lab did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let prefix = lab_prefix(&std::fs::read_to_string(&err_path).unwrap());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(Path::new("/run/e3")), 0o700);
    assert_eq!(mode(Path::new(&format!("/run/e3/{prefix}.state"))), 0o600);
    let state = std::fs::read_to_string(format!("/run/e3/{prefix}.state")).unwrap();
    let dirs: Vec<&str> = state
        .lines()
        .filter_map(|l| l.strip_prefix("dir "))
        .collect();
    assert_eq!(dirs.len(), 2, "{state}");
    assert_eq!(mode(Path::new(dirs[0])), 0o700, "{}", dirs[0]);
    assert!(dirs[1].ends_with(".programs"), "{state}");
    assert_eq!(mode(Path::new(dirs[1])), 0o755, "{}", dirs[1]);
    let out = child.wait_with_output().unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_no_leftovers(&prefix);
}

/// A planted state file makes `e3 sim --cleanup` touch nothing that is not
/// the lab's own: one writable by others is ignored altogether; one that is
/// root's but lists foreign objects (another namespace, a process outside
/// the lab, files and directories elsewhere) leaves them all alone.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn cleanup_trusts_only_root_state_files_and_only_the_labs_own_objects() {
    use std::os::unix::fs::PermissionsExt as _;
    lab_test!(&["ip"]);
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let victim_dir = tmp.path().join("e3-notmine-lab");
    std::fs::create_dir(&victim_dir).unwrap();
    let victim_ns = format!("e3test-victim-{}", std::process::id());
    Command::new("ip")
        .args(["netns", "add", &victim_ns])
        .status()
        .unwrap();
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let _ = std::fs::create_dir_all("/run/e3");
    let dead = {
        let mut c = Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    };
    let list = format!(
        "owner {dead}\nns {victim_ns}\nns e3-0000-x\npid {}\nfile {}\ndir {}\ndir /\n",
        sleeper.id(),
        victim.display(),
        victim_dir.display()
    );
    // Two free prefixes, so that no running lab is touched.
    let free: Vec<String> = (0..0x10000u32)
        .rev()
        .map(|i| format!("e3-{i:04x}"))
        .filter(|p| !Path::new(&format!("/run/e3/{p}.state")).exists())
        .take(4)
        .collect();
    let writable = format!("/run/e3/{}.state", free[0]);
    let planted = format!("/run/e3/{}.state", free[1]);
    std::fs::write(&writable, &list).unwrap();
    std::fs::set_permissions(&writable, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::write(&planted, &list).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o600)).unwrap();
    // What a lab killed between writing its next state and the rename left:
    // root's alone, it goes; writable by others, it stays (and is named).
    let half = format!("/run/e3/{}.state-new", free[2]);
    let half_writable = format!("/run/e3/{}.state-new", free[3]);
    std::fs::write(&half, &list).unwrap();
    std::fs::set_permissions(&half, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&half_writable, &list).unwrap();
    std::fs::set_permissions(&half_writable, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = e3(&["sim", "--cleanup"], &[]);
    let half_left = Path::new(&half).exists();
    let half_writable_left = Path::new(&half_writable).exists();
    let _ = std::fs::remove_file(&half);
    let _ = std::fs::remove_file(&half_writable);
    let stdout = text(&out.stdout);
    let alive = sleeper.try_wait().unwrap().is_none();
    let ns_list = text(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = Command::new("ip")
        .args(["netns", "del", &victim_ns])
        .status();
    let _ = std::fs::remove_file(&writable);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("ignored `{writable}`")),
        "{stdout}"
    );
    assert!(alive, "the process outside the lab was killed:\n{stdout}");
    assert!(
        ns_list.contains(&victim_ns),
        "the foreign namespace was deleted:\n{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "keep me",
        "{stdout}"
    );
    assert!(victim_dir.is_dir(), "{stdout}");
    assert!(Path::new("/").is_dir());
    assert!(
        stdout.contains(&format!("left `{}` alone", victim.display())),
        "{stdout}"
    );
    assert!(!half_left, "a half-written state file was left:\n{stdout}");
    assert!(stdout.contains(&format!("removed `{half}`")), "{stdout}");
    assert!(
        half_writable_left,
        "an untrusted file was removed:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("ignored `{half_writable}`")),
        "{stdout}"
    );
}

/// Pre-created `$TMPDIR/e3-XXXX-lab` for every prefix (the old predictable
/// names) do not stop a lab: its directory has a random name.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn predictable_lab_directories_cannot_be_squatted() {
    lab_test!(&["nebula", "nebula-cert"]);
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..0x10000u32 {
        std::fs::create_dir(tmp.path().join(format!("e3-{i:04x}-lab"))).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(["sim", &scenario("nebula-easy-easy"), "--json"])
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_correct(&report, &stderr);
    assert_no_leftovers(&lab_prefix(&stderr));
}

/// The scenario's program runs as `nobody` in its namespace: it is not
/// root, reads no root-only file (`/etc/shadow`, `/run/e3`, `/root`, the
/// lab's own directory with its keys), and MPyC's TCP connections still
/// work (the secure sum is right).
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn the_program_runs_unprivileged() {
    lab_test!(&["nebula", "nebula-cert", "setpriv"]);
    let (code, report, stderr) = sim("unprivileged", &[], &[]);
    assert_eq!(code, Some(0), "{report:#}\n{stderr}");
    assert_correct(&report, &stderr);
    for p in report["parties"].as_array().unwrap() {
        assert_eq!(p["result"]["root"], false, "{p}");
        assert_eq!(p["result"]["reads"], serde_json::json!([]), "{p}");
    }
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn a_program_from_elsewhere_runs_with_its_files_unchanged() {
    lab_test!(&["nebula", "nebula-cert"]);
    let (code, report, stderr) = sim("external-program", &[], &[]);
    assert_eq!(code, Some(0), "{}\n{stderr}", brief(&report));
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["outputs_agree"], true, "{report:#}");
    for p in report["parties"].as_array().expect("parties") {
        // judged by its exit status: it prints no e3 JSON line
        assert_eq!(p["contract"], "exit-status", "{p}");
        assert_eq!(p["exit"], 0, "{p}");
        // its sibling module and its data file were there: 2 × (3 + 5)
        assert_eq!(
            p["stdout_tail"],
            serde_json::json!(["weighted total: 16"]),
            "{p}"
        );
        // e3 passed nothing but MPyC's options and the scenario's arguments
        // (a strict argparse rejects anything else)
        assert!(
            !p["stderr_tail"]
                .to_string()
                .contains("unrecognized arguments"),
            "{p}"
        );
    }
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn a_party_with_a_different_program_stops_every_party() {
    lab_test!(&["nebula", "nebula-cert"]);
    let (code, report, stderr) = sim(
        "external-program",
        &["--test-fault", "different-program:bob"],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["ok"], false);
    for p in report["parties"].as_array().expect("parties") {
        assert_eq!(p["exit"], 4, "{p}");
        assert!(
            p["stdout_tail"].as_array().is_some_and(|t| t.is_empty()),
            "nothing ran: {p}"
        );
        let e = p["error"].as_str().unwrap_or("");
        assert!(e.starts_with("incompatible programs: party "), "{e}");
        assert!(e.contains(" in files: "), "{e}");
    }
}

#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn any_program_is_judged_by_its_exit_status() {
    lab_test!(&[]);
    let (code, report, stderr) = sim("external-fails", &[], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let parties = report["parties"].as_array().expect("parties");
    assert_eq!(
        (parties[0]["ok"].clone(), parties[1]["ok"].clone()),
        (true.into(), false.into())
    );
    assert_eq!(parties[1]["exit"], 1);
    assert_eq!(
        parties[1]["error"],
        "exited with exit status: 1: tally: cannot open the input table"
    );
    assert_eq!(parties[0]["stdout_tail"], serde_json::json!(["done"]));
    assert!(report["outputs_agree"].is_null(), "{report:#}");
    assert!(
        report["diagnosis"]
            .to_string()
            .contains("cannot open the input table"),
        "{report:#}"
    );
}

/// `mpc-sweep` reduced to what runs in about two minutes: plain IP, three
/// parties, `same` and `far`, both workloads, two runs per cell. Checks the
/// samples in `grid.json`, the plot (rendered by a real SVG renderer), the
/// sample table and its downloads, that the placement put the parties where
/// it says (the pairs' model round trips), and that raising `--runs` runs
/// only the missing samples.
#[test]
#[ignore = "a real lab (root, the daemons, the venv): cargo test -- --include-ignored, as ci/test runs it"]
fn reduced_mpc_sweep_keeps_every_sample_plots_them_and_runs_only_missing_ones() {
    lab_test!(&["rsvg-convert"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let only = [
        "--only",
        "backend=direct",
        "--only",
        "count=3",
        "--only",
        "placement=same",
        "--only",
        "placement=far",
    ];
    let run = |runs: &str, extra: &[&str]| {
        let mut args = vec!["grid", "mpc-sweep", "-o", dir.to_str().unwrap(), "--json"];
        args.extend_from_slice(&only);
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--runs", runs]);
        e3(&args, &[])
    };
    let out = run("2", &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("8 runs to do"), "{stderr}");
    let grid: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(grid["runs"], 2);
    let cells = grid["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4, "2 programs × 2 placements");
    for c in cells {
        assert_eq!(c["outcome"], "direct", "{c}");
        let samples = c["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 2, "{c}");
        let walls: Vec<f64> = samples
            .iter()
            .map(|s| s["mpc_wall_s"].as_f64().expect("every sample has its time"))
            .collect();
        let (lo, hi) = (walls[0].min(walls[1]), walls[0].max(walls[1]));
        assert_eq!(c["mpc_wall_s_min"].as_f64(), Some(lo), "{c}");
        assert_eq!(c["mpc_wall_s_max"].as_f64(), Some(hi), "{c}");
        let median = c["mpc_wall_s"].as_f64().unwrap();
        assert!((median - (lo + hi) / 2.0).abs() < 1e-6, "{c}");
        assert_eq!(
            samples
                .iter()
                .map(|s| s["run"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [1, 2]
        );
        // Placement `far` deals ams3, nyc3, sgp1 to p-0, p-1, p-2: every pair
        // of the far cell has its distant model round trip, `same` none.
        let rtts: Vec<f64> = c["rtt"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["rtt_model_ms"].as_f64().unwrap())
            .collect();
        assert_eq!(rtts.len(), 3, "{c}");
        match c["settings"]["placement"].as_str().unwrap() {
            "far" => assert!(rtts.iter().all(|r| *r > 80.0), "{c}"),
            _ => assert!(rtts.iter().all(|r| *r == 0.0), "{c}"),
        }
        assert!(c["result"].is_number(), "{c}");
        // every run, on a fresh lab or a shared one, computed the result
        for s in samples {
            assert_eq!(s["result"], c["result"], "{c}");
        }
    }
    // One lab per placement, shared by both programs and both runs: runs
    // 1 to 4 on it, in the order run 1 of both programs, then run 2.
    for placement in ["same", "far"] {
        let mut lab_runs: Vec<(String, u64, u64)> = cells
            .iter()
            .filter(|c| c["settings"]["placement"] == placement)
            .flat_map(|c| {
                c["samples"].as_array().unwrap().iter().map(|s| {
                    (
                        c["settings"]["program"].as_str().unwrap().to_string(),
                        s["run"].as_u64().unwrap(),
                        s["lab_run"].as_u64().unwrap(),
                    )
                })
            })
            .collect();
        // The round trips are the lab's: measured by its first run, taken
        // by the later ones (the routes stayed the same).
        for c in cells
            .iter()
            .filter(|c| c["settings"]["placement"] == placement)
        {
            for s in c["samples"].as_array().unwrap() {
                assert_eq!(s["rtt_lab_run"], 1, "{c}");
            }
        }
        lab_runs.sort_by_key(|r| r.2);
        assert_eq!(
            lab_runs,
            [
                ("max-chain".into(), 1, 1),
                ("bulk".into(), 1, 2),
                ("max-chain".into(), 2, 3),
                ("bulk".into(), 2, 4)
            ],
            "{placement}"
        );
    }
    assert_eq!(grid["jobs"], 1);
    let svg = std::fs::read_to_string(dir.join("plot.svg")).unwrap();
    let html = std::fs::read_to_string(dir.join("plot.html")).unwrap();
    assert!(
        svg.contains("program=max-chain") && svg.contains("program=bulk"),
        "{svg}"
    );
    assert_eq!(
        svg.matches("<polyline").count(),
        2,
        "one line per panel: {svg}"
    );
    assert_eq!(svg.matches(" over 2 run(s)</title>").count(), 4, "{svg}");
    for page in [&svg, &html] {
        let without_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !without_ns.contains("http://")
                && !without_ns.contains("https://")
                && !without_ns.contains("src=")
                && !without_ns.contains("<script"),
            "external reference or script:\n{page}"
        );
    }
    assert!(html.contains(&svg));
    assert_eq!(
        html.matches("<tr><td><code>mpc-sweep@").count(),
        8,
        "one row per sample"
    );
    assert!(html.contains("href=\"data:text/csv;charset=utf-8,variant%2Cbackend%2Cprogram"));
    assert!(html.contains("href=\"data:application/json;charset=utf-8,"));
    // A real SVG renderer reads it.
    let png = tmp.path().join("plot.png");
    let status = std::process::Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png)
        .arg(dir.join("plot.svg"))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    assert_eq!(orphan_labs(), Vec::<String>::new(), "lab namespaces left");
    // A third run of the max-chain cells, two labs at a time: their two
    // runs come from the cache.
    let again = run("3", &["--only", "program=max-chain", "--jobs", "2"]);
    let stderr = text(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("4 of 6 runs from the cache; 2 to run"),
        "{stderr}"
    );
    let grid: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    for c in grid["cells"].as_array().unwrap() {
        let s = c["samples"].as_array().unwrap();
        assert_eq!(s.len(), 3, "{c}");
        assert_eq!(
            s.iter().map(|s| s["cached"] == true).collect::<Vec<_>>(),
            [true, true, false]
        );
        assert_eq!(s[2]["lab_run"], 1, "a lab of its own: {c}");
        assert_eq!(s[2]["result"], c["result"], "{c}");
    }
    assert_eq!(grid["jobs"], 2);
    assert_eq!(orphan_labs(), Vec::<String>::new(), "lab namespaces left");
}
