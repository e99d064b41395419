//! Hostile inputs and paths from the user's side (issue 13): what `e3`
//! reads, what it quotes, what it replaces, and how it fails. Each test
//! runs the binary.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn e3_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("e3 runs")
}

/// Runs `e3` and kills it after `limit`: `None` if it had to be killed.
fn e3_bounded(dir: &Path, args: &[&str], limit: Duration) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("e3 runs");
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const SCENARIO: &str = "connectivity:\n  backend: nebula\nprogram:\n  name: secure-sum\nparties:\n  - { name: alice, region: ams3 }\n  - { name: bob, region: fra1, nat: easy }\n";

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

// ---- 1. render -o replaces only what e3 rendered --------------------------

#[test]
fn render_refuses_a_directory_it_did_not_render() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("v");
    std::fs::create_dir(&v).unwrap();
    std::fs::write(v.join("thesis.tex"), "my thesis").unwrap();
    let out = e3_in(tmp.path(), &["render", "nebula-nat", "-o", "v"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("`v` is not empty and was not rendered by e3"),
        "{err}"
    );
    assert!(err.contains("= hint:"), "{err}");
    assert_eq!(
        std::fs::read_to_string(v.join("thesis.tex")).unwrap(),
        "my thesis"
    );
    // An empty directory is fine, and once rendered it is e3's to replace.
    let out = e3_in(tmp.path(), &["render", "nebula-nat", "-o", "w"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(tmp.path().join("w/.e3-rendered").is_file());
    let out = e3_in(tmp.path(), &["render", "nebula-nat", "-o", "w"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = e3_in(tmp.path(), &["render", "nebula-nat", "-o", "v"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn render_refuses_the_working_directory_its_parents_files_and_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(work.join(".git")).unwrap();
    std::fs::write(work.join(".git/HEAD"), "ref").unwrap();
    // Even a directory that carries e3's mark is not replaced when it is
    // where the user works.
    std::fs::write(work.join(".e3-rendered"), "").unwrap();
    std::fs::create_dir_all(work.join("secrets/nebula-nat/nebula")).unwrap();
    std::fs::write(work.join("secrets/nebula-nat/nebula/ca.key"), "KEY").unwrap();
    std::fs::write(work.join("file"), "data").unwrap();
    std::fs::create_dir(tmp.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("elsewhere"), work.join("link")).unwrap();
    let abs = work.display().to_string();
    for (target, why) in [
        (abs.as_str(), "the working directory"),
        (".", "the working directory"),
        ("..", "contains the working directory"),
        ("secrets", "`secrets` directory"),
        ("secrets/nebula-nat", "`secrets` directory"),
        ("secrets/new", "`secrets` directory"),
        ("file", "is a file"),
        ("link", "is a symbolic link"),
    ] {
        let out = e3_in(&work, &["render", "nebula-nat", "-o", target]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "-o {target}: {err}");
        assert!(err.contains(why), "-o {target}: {err}");
        assert!(err.contains("= hint:"), "-o {target}: {err}");
    }
    assert_eq!(
        std::fs::read_to_string(work.join(".git/HEAD")).unwrap(),
        "ref"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("secrets/nebula-nat/nebula/ca.key")).unwrap(),
        "KEY"
    );
    assert_eq!(std::fs::read_to_string(work.join("file")).unwrap(), "data");
    assert!(!work.join("secrets/new").exists());
}

// ---- 8. concurrent and killed renders --------------------------------------

#[test]
fn concurrent_renders_serialise_and_stale_staging_is_removed() {
    let tmp = tempfile::tempdir().unwrap();
    // What a killed render left: staging directories of a dead process.
    let dead = {
        let mut c = Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    };
    std::fs::create_dir(tmp.path().join(format!(".out.e3-tmp-{dead}"))).unwrap();
    std::fs::create_dir(tmp.path().join(format!(".out.e3-old-{dead}"))).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_e3"))
                .args(["render", "roaming", "-o", "out"])
                .current_dir(tmp.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let mut left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [".out.e3-lock", "out"], "staging left behind");
}

// ---- 1, 8, 11. e3 keys -----------------------------------------------------

fn umask_zero(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: umask is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        })
    }
}

#[test]
fn keys_under_umask_000_are_private_and_foreign_files_survive() {
    if !e3::tools::on_path("wg") {
        eprintln!("skipped: needs wg");
        assert!(std::env::var_os("E3_REQUIRE_TOOLS").is_none_or(|v| v != "1"));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = umask_zero(
            Command::new(env!("CARGO_BIN_EXE_e3"))
                .args(args)
                .current_dir(tmp.path())
                .env("HOME", tmp.path()),
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    run(&["keys", "wireguard-hub"]);
    let walk = |root: &Path| {
        let mut all = vec![root.to_path_buf()];
        let mut i = 0;
        while i < all.len() {
            if all[i].is_dir() {
                let mut more: Vec<_> = std::fs::read_dir(&all[i])
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                more.sort();
                all.extend(more);
            }
            i += 1;
        }
        all
    };
    for p in walk(&tmp.path().join("secrets")) {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&p), want, "{}", p.display());
    }
    // An existing directory of the user's: e3 adds its files, deletes
    // and re-modes nothing it did not create.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::write(mine.join("notes.txt"), "mine").unwrap();
    std::fs::set_permissions(
        mine.join("notes.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::os::unix::fs::symlink("notes.txt", mine.join("link")).unwrap();
    // What a killed `e3 keys --rotate` left: its staging, with fresh keys.
    let dead = {
        let mut c = Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    };
    let stale = mine.join(format!(".e3-keys-tmp-{dead}"));
    std::fs::create_dir_all(stale.join("wireguard")).unwrap();
    std::fs::write(stale.join("wireguard/hub.key"), "fresh private key").unwrap();
    run(&["keys", "wireguard-hub", "--secrets", "mine"]);
    assert!(!stale.exists(), "a dead run's staging is left");
    run(&["keys", "wireguard-hub", "--secrets", "mine", "--rotate"]);
    assert_eq!(
        std::fs::read_to_string(mine.join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(mode(&mine.join("notes.txt")), 0o644);
    assert_eq!(mode(&mine), 0o750);
    assert!(std::fs::symlink_metadata(mine.join("link"))
        .unwrap()
        .is_symlink());
    assert_eq!(mode(&mine.join("wireguard")), 0o700);
    assert_eq!(mode(&mine.join("wireguard/hub.key")), 0o600);
    // Nothing staged is left next to it or in it.
    for dir in [tmp.path(), mine.as_path()] {
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains("e3-keys-tmp"),
                "{name} left in {}",
                dir.display()
            );
        }
    }
}

// ---- 2. paths a scenario names ---------------------------------------------

#[test]
fn render_and_sim_never_see_a_file_outside_the_scenario() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside.py");
    std::fs::write(&outside, "SECRET = 'do not copy'\n").unwrap();
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dir = tmp.path().join("exp");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("prog.py")).unwrap();
    std::fs::write(
        dir.join("exp.yaml"),
        SCENARIO.replace("secure-sum", "prog.py"),
    )
    .unwrap();
    for cmd in [
        &["render", "exp.yaml", "-o", "out"][..],
        &["check", "exp.yaml"],
    ] {
        let out = e3_in(&dir, cmd);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("error[E071]") && err.contains("exp.yaml:4:9"),
            "{err}"
        );
        assert!(!err.contains("do not copy"), "{err}");
    }
    assert!(!dir.join("out").exists());
    // A program of more than 8 MiB.
    let big = dir.join("big.py");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((8 << 20) + 1)
        .unwrap();
    std::fs::write(
        dir.join("big.yaml"),
        SCENARIO.replace("secure-sum", "big.py"),
    )
    .unwrap();
    let out = e3_in(&dir, &["check", "big.yaml"]);
    assert!(
        text(&out.stderr).contains("error[E005]"),
        "{}",
        text(&out.stderr)
    );
}

// ---- 3. unbounded and blocking reads ----------------------------------------

#[test]
fn check_refuses_devices_fifos_and_huge_files_promptly() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("f.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::fs::File::create(tmp.path().join("big.yaml"))
        .unwrap()
        .set_len(2 << 20)
        .unwrap();
    for (arg, what) in [
        ("/dev/zero", "it is a character device, not a regular file"),
        ("f.yaml", "it is a FIFO, not a regular file"),
        ("big.yaml", "it is larger than 1 MiB"),
    ] {
        let out = e3_bounded(tmp.path(), &["check", arg], Duration::from_secs(20))
            .unwrap_or_else(|| panic!("`e3 check {arg}` hangs"));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{arg}: {err}");
        assert!(err.contains(what), "{arg}: {err}");
    }
}

// ---- 4. diagnostics never echo secrets ---------------------------------------

#[test]
fn check_of_a_key_file_quotes_nothing_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    let wg = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    std::fs::write(tmp.path().join("hub.key"), format!("{wg}\n")).unwrap();
    let pem = "-----BEGIN NEBULA ED25519 PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\n-----END NEBULA ED25519 PRIVATE KEY-----\n";
    std::fs::write(tmp.path().join("ca.key"), pem).unwrap();
    for (file, secret) in [("hub.key", wg), ("ca.key", "QUJDREVGR0hJSktM")] {
        for json in [false, true] {
            let mut args = vec!["check", file];
            if json {
                args.push("--json");
            }
            let out = e3_in(tmp.path(), &args);
            let all = text(&out.stdout) + &text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{all}");
            assert!(
                all.contains("does not look like a scenario YAML file"),
                "{all}"
            );
            assert!(!all.contains(&secret[..12]), "{file} quoted:\n{all}");
            assert!(!all.contains("PRIVATE KEY"), "{file} quoted:\n{all}");
        }
    }
    // Named like a scenario, a file of one value is still not quoted.
    std::fs::write(tmp.path().join("hub.yaml"), format!("{wg}\n")).unwrap();
    let out = e3_in(tmp.path(), &["check", "hub.yaml"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("hub.yaml:1:1") && err.contains("found a single value"),
        "{err}"
    );
    assert!(!err.contains(&wg[..12]), "quoted:\n{err}");
}

#[test]
fn a_huge_scalar_gives_a_bounded_message() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = "k".repeat(10_000_000);
    std::fs::write(
        tmp.path().join("s.yaml"),
        format!("name: {huge}\nconnectivity: {{ backend: {huge} }}\n"),
    )
    .unwrap();
    // Over the 1 MiB limit: refused before parsing.
    let out = e3_in(tmp.path(), &["check", "s.yaml"]);
    assert!(
        out.stderr.len() < 2_000,
        "{} bytes of stderr",
        out.stderr.len()
    );
    // Under it, the values are quoted by a short prefix only.
    let big = "k".repeat(400_000);
    std::fs::write(
        tmp.path().join("s.yaml"),
        format!("name: {big}\nconnectivity: {{ backend: {big} }}\n"),
    )
    .unwrap();
    for json in [false, true] {
        let mut args = vec!["check", "s.yaml"];
        if json {
            args.push("--json");
        }
        let out = e3_in(tmp.path(), &args);
        assert_eq!(out.status.code(), Some(2));
        let n = out.stderr.len() + out.stdout.len();
        assert!(n < 8_000, "{n} bytes of output:\n{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("(400000 characters)") || json);
    }
}

// ---- 5. extends chains --------------------------------------------------------

#[test]
fn a_long_extends_chain_is_a_diagnostic_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..6500 {
        std::fs::write(
            tmp.path().join(format!("s{i}.yaml")),
            format!("extends: s{}\n", i + 1),
        )
        .unwrap();
    }
    std::fs::write(tmp.path().join("s6500.yaml"), SCENARIO).unwrap();
    let out = e3_in(tmp.path(), &["check", "s0.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error[E082]: `extends` chain is longer than 64 files"),
        "{err}"
    );
}

// ---- 6. names from file names --------------------------------------------------

#[test]
fn a_file_name_that_is_not_a_valid_name_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    for file in ["Foo Bar.yaml", "...yaml"] {
        std::fs::write(tmp.path().join(file), SCENARIO).unwrap();
        let out = e3_in(tmp.path(), &["render", file]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(
            err.contains("is not a valid scenario name"),
            "{file}: {err}"
        );
        assert!(err.contains(&format!("{file}:1:1")), "{file}: {err}");
    }
    assert!(!tmp.path().join("out").exists());
    let out = e3_in(tmp.path(), &["check", "Foo Bar.yaml"]);
    assert!(
        text(&out.stderr).contains("add `name: foo-bar`"),
        "{}",
        text(&out.stderr)
    );
}

// ---- 7. --timeout ------------------------------------------------------------------

#[test]
fn a_huge_timeout_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    for cmd in ["sim", "grid"] {
        let name = if cmd == "sim" {
            "nebula-nat"
        } else {
            "connectivity-grid"
        };
        let out = e3_in(
            tmp.path(),
            &[cmd, name, "--timeout", "18446744073709551615"],
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert!(!err.contains("panicked"), "{cmd}: {err}");
        assert!(err.contains("--timeout"), "{cmd}: {err}");
        assert!(err.contains("1..=86400"), "{cmd}: {err}");
    }
}

// ---- 10. --cleanup as non-root --------------------------------------------------------

#[test]
fn cleanup_as_a_normal_user_says_it_needs_root() {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    let mut cmd = if root && e3::tools::on_path("setpriv") {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(env!("CARGO_BIN_EXE_e3"));
        c
    } else if !root {
        Command::new(env!("CARGO_BIN_EXE_e3"))
    } else {
        eprintln!("skipped: root without setpriv");
        return;
    };
    let out = cmd
        .args(["sim", "--cleanup"])
        .current_dir("/")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}{}", text(&out.stdout));
    assert!(err.contains("`e3 sim --cleanup` needs root"), "{err}");
    assert!(
        !text(&out.stdout).contains("removed"),
        "{}",
        text(&out.stdout)
    );
}

/// `e3 lab` refuses to work without root, before it reads any lab record
/// or touches a lab (nothing is listed, nothing torn down).
#[test]
fn lab_commands_need_root() {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    for args in [
        &["lab", "status"][..],
        &["lab", "down", "--all"],
        &["lab", "exec", "nebula-nat", "alice", "--", "id"],
    ] {
        let mut cmd = if root && e3::tools::on_path("setpriv") {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
            c.arg(env!("CARGO_BIN_EXE_e3"));
            c
        } else if !root {
            Command::new(env!("CARGO_BIN_EXE_e3"))
        } else {
            eprintln!("skipped: root without setpriv");
            return;
        };
        let out = cmd.args(args).current_dir("/").output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("`e3 lab` needs root"), "{err}");
        assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    }
}
