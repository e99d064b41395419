//! The Nix side of rendered scenarios: every `.nix` parses with the real
//! `nix-instantiate`, golden snapshots of the rendered Nix entry points and
//! data (`tests/golden/<scenario>/`, `E3_BLESS=1` rewrites them through
//! `support/golden.rs`), the rendered Nix and `modules/` are
//! nixfmt-formatted and deadnix-clean, the lock and modules are copies of
//! the project's, the directory references nothing outside itself, and no
//! key `e3 keys` generates leaks into it.
//!
//! Tests that need real tools (`nix-instantiate`, `nebula-cert`, `wg`,
//! `openssl`) skip with a message when a tool is missing, unless
//! `E3_REQUIRE_TOOLS=1` (set by `ci/test`), where a missing tool fails.
//! `ci/test` also runs `ci/flake-lock-check` on every rendered scenario.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/golden.rs"]
mod golden;

fn rendered(name: &str) -> e3::render::Files {
    let checked = e3::check_arg(name);
    let scenario = checked
        .into_scenario()
        .unwrap_or_else(|| panic!("bundled scenario `{name}` is valid"));
    e3::render::render(&e3::plan::plan(&scenario))
}

fn scenarios() -> Vec<String> {
    e3::bundled_examples()
}

/// Whether `tool` is on PATH; if not, fails under `E3_REQUIRE_TOOLS=1` and
/// otherwise tells why the test is skipped.
fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    if !found {
        if std::env::var_os("E3_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
            panic!("`{tool}` not found, and E3_REQUIRE_TOOLS=1 (run `ci/install-deps`)");
        }
        eprintln!("skipped: `{tool}` not found (ci/test requires it)");
    }
    found
}

fn write(dir: &Path, files: &e3::render::Files) {
    for (p, c) in files {
        let t = dir.join(p);
        std::fs::create_dir_all(t.parent().unwrap()).unwrap();
        std::fs::write(t, c).unwrap();
    }
}

/// What e3 generates for the Nix side (not the copied modules/programs):
/// the entry points (`flake.nix`, `hive.nix`, `tests/nat.nix`) and the data
/// they feed to `modules/scenario/`.
fn generated_nix(files: &e3::render::Files) -> BTreeMap<PathBuf, String> {
    files
        .iter()
        .filter(|(p, _)| {
            p.extension().is_some_and(|e| e == "nix")
                || (p.starts_with("data") && p.extension().is_some_and(|e| e == "json"))
        })
        .filter(|(p, _)| !p.starts_with("modules") && !p.starts_with("programs"))
        .map(|(p, c)| (p.clone(), String::from_utf8(c.clone()).unwrap()))
        .collect()
}

/// A rendered host's data (`data/hosts/<host>.json`).
fn host_data(files: &e3::render::Files, host: &str) -> serde_json::Value {
    serde_json::from_slice(&files[Path::new(&e3::render::nix::host_data_path(host))]).unwrap()
}

#[test]
fn every_rendered_nix_file_parses() {
    if !have("nix-instantiate") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    for name in scenarios() {
        let name = name.as_str();
        let dir = tmp.path().join(name);
        let files = rendered(name);
        write(&dir, &files);
        let nix: Vec<_> = files
            .keys()
            .filter(|p| p.extension().is_some_and(|e| e == "nix"))
            .map(|p| dir.join(p))
            .collect();
        let parse = |paths: &[std::path::PathBuf]| {
            Command::new("nix-instantiate")
                .args(["--store".as_ref(), store.as_os_str(), "--parse".as_ref()])
                .args(paths)
                .env("HOME", tmp.path())
                .env("NIX_CONFIG", "")
                .output()
                .unwrap()
        };
        // One nix-instantiate for all of a scenario's files; it stops at the
        // first that does not parse, so only then each alone, to name it.
        if parse(&nix).status.success() {
            continue;
        }
        for p in &nix {
            let out = parse(std::slice::from_ref(p));
            assert!(
                out.status.success(),
                "{name}/{}: nix-instantiate --parse failed:\n{}",
                p.strip_prefix(&dir).unwrap_or(p).display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        panic!("{name}: nix-instantiate --parse failed for the files together, but for none alone");
    }
}

#[test]
fn golden_nix() {
    let mut golden = golden::Golden::new();
    for name in scenarios() {
        let files = generated_nix(&rendered(&name));
        golden.check_dir(Path::new("tests/golden").join(&name), &files);
    }
    golden.finish();
}

/// The rendered Nix is a few small entry points: every scenario's
/// `hive.nix` and `tests/nat.nix` are the same, its `flake.nix` differs only
/// in the scenario's name, and none holds more than 20 lines.
#[test]
fn generated_nix_is_three_small_entry_points() {
    let first = rendered("nebula-nat");
    for name in scenarios() {
        let files = rendered(&name);
        let nix: Vec<&PathBuf> = files
            .keys()
            .filter(|p| p.extension().is_some_and(|e| e == "nix"))
            .filter(|p| !p.starts_with("modules") && !p.starts_with("programs"))
            .collect();
        assert_eq!(
            nix,
            [
                Path::new("flake.nix"),
                Path::new("hive.nix"),
                Path::new("tests/nat.nix")
            ],
            "{name}"
        );
        for p in nix {
            let text = String::from_utf8(files[p].clone()).unwrap();
            assert!(text.lines().count() <= 20, "{name}/{}", p.display());
            if p != Path::new("flake.nix") {
                assert_eq!(files[p], first[p], "{name}/{}", p.display());
            }
        }
    }
}

#[test]
fn lock_and_modules_are_the_projects() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lock = std::fs::read(repo.join("flake.lock")).unwrap();
    for name in scenarios() {
        let name = name.as_str();
        let files = rendered(name);
        assert_eq!(
            files[Path::new("flake.lock")],
            lock,
            "{name}: flake.lock is not the project's"
        );
        for (p, c) in files
            .iter()
            .filter(|(p, _)| p.starts_with("modules") || p.starts_with("programs"))
        {
            assert_eq!(
                &std::fs::read(repo.join(p)).unwrap(),
                c,
                "{name}/{}: not a copy of the repository's",
                p.display()
            );
        }
        let flake = String::from_utf8(files[Path::new("flake.nix")].clone()).unwrap();
        assert!(flake.contains(&format!(
            "inputs.nixpkgs.url = \"{}\";",
            e3::render::nix::NIXPKGS_URL
        )));
        let project_flake = std::fs::read_to_string(repo.join("flake.nix")).unwrap();
        assert!(
            project_flake.contains(&format!(
                "inputs.nixpkgs.url = \"{}\";",
                e3::render::nix::NIXPKGS_URL
            )),
            "the project flake's nixpkgs url changed"
        );
    }
}

/// Every `../` chain climbs at most to the rendered directory, and no file
/// names the store, a channel, or a path of the generating machine.
#[test]
fn rendered_directory_is_self_contained() {
    let forbidden = [
        "/nix/store",
        "<nixpkgs>",
        "/home/",
        "/root/",
        "/tmp/",
        "/work/",
        "NIX_PATH",
        "getFlake",
    ];
    for name in scenarios() {
        let name = name.as_str();
        for (p, c) in rendered(name) {
            let text = String::from_utf8_lossy(&c);
            for f in forbidden {
                // The modules may mention the store in their secret checks.
                if f == "/nix/store" && p.starts_with("modules") {
                    continue;
                }
                assert!(!text.contains(f), "{name}/{}: mentions `{f}`", p.display());
            }
            if p.extension().is_some_and(|e| e == "nix") {
                let depth = p.components().count() - 1;
                let bytes = text.as_bytes();
                let mut i = 0;
                while let Some(off) = text[i..].find("../") {
                    let start = i + off;
                    if start > 0 && matches!(bytes[start - 1], b'.' | b'/') {
                        i = start + 3;
                        continue;
                    }
                    let mut ups = 0;
                    let mut j = start;
                    while text[j..].starts_with("../") {
                        ups += 1;
                        j += 3;
                    }
                    assert!(
                        ups <= depth,
                        "{name}/{}: `{}` leaves the rendered directory",
                        p.display(),
                        &text[start..j]
                    );
                    i = j;
                }
            }
        }
    }
}

/// Runs `tool args… file` on each file; the failures, one per file.
fn run_on(tool: &str, args: &[&str], files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for f in files {
        let out = Command::new(tool).args(args).arg(f).output().unwrap();
        if !out.status.success() {
            failures.push(format!(
                "{} {}: {}{}",
                tool,
                f.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    failures
}

fn nix_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "nix") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The project's Nix (`flake.nix`, `modules/`) and every rendered `.nix`
/// file are formatted as nixfmt formats them (`nixfmt --check`, the Rust
/// port nixfmt-rs that `ci/install-deps` installs) and have no unused
/// binding or argument (`deadnix --fail`).
#[test]
fn nix_is_nixfmt_formatted_and_deadnix_clean() {
    if !(have("nixfmt") && have("deadnix")) {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = nix_files(&repo.join("modules"));
    files.push(repo.join("flake.nix"));
    let tmp = tempfile::tempdir().unwrap();
    for name in scenarios() {
        let dir = tmp.path().join(&name);
        let rendered = rendered(&name);
        write(&dir, &rendered);
        files.extend(
            rendered
                .keys()
                .filter(|p| p.extension().is_some_and(|e| e == "nix"))
                .filter(|p| !p.starts_with("modules") && !p.starts_with("programs"))
                .map(|p| dir.join(p)),
        );
    }
    assert!(files.len() > 40, "{} files", files.len());
    let mut failures = run_on("nixfmt", &["--check"], &files);
    failures.extend(run_on("deadnix", &["--fail"], &files));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The check can fail: a file nixfmt would change, an unused binding.
    let bad = tmp.path().join("bad.nix");
    std::fs::write(&bad, "{ a, b }:\nlet unused = 1; in a\n").unwrap();
    assert_eq!(
        run_on("nixfmt", &["--check"], std::slice::from_ref(&bad)).len(),
        1
    );
    assert_eq!(
        run_on("deadnix", &["--fail"], std::slice::from_ref(&bad)).len(),
        1
    );
}

/// `e3 keys`, then `e3 render`: the public halves arrive in public-keys/,
/// no private key (or any line of one) appears in any rendered file, and a
/// second `e3 keys` is a no-op.
#[test]
fn keys_never_leak_into_rendered_files() {
    if !(have("nebula-cert") && have("wg") && have("openssl")) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let e3 = env!("CARGO_BIN_EXE_e3");
    // `e3 keys` copies the user's SSH public key into public/authorized_keys.
    std::fs::create_dir_all(tmp.path().join(".ssh")).unwrap();
    let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVzZXJrZXlleGFtcGxlb25seQ researcher@laptop\n";
    std::fs::write(tmp.path().join(".ssh/id_ed25519.pub"), ssh).unwrap();
    for name in [
        "nebula-nat",
        "wireguard-hub",
        "tinc-mesh",
        "openvpn-nat",
        "headscale-nat",
    ] {
        let run = |args: &[&str]| {
            let out = Command::new(e3)
                .args(args)
                .current_dir(tmp.path())
                .env("HOME", tmp.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "e3 {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        run(&["keys", name]);
        let again = run(&["keys", name]);
        assert!(
            again.contains("up to date"),
            "{name}: second `e3 keys` was not a no-op:\n{again}"
        );
        run(&["render", name]);

        let secrets = tmp.path().join("secrets").join(name);
        let mut private: Vec<(PathBuf, String)> = Vec::new();
        let mut stack = vec![secrets.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let path = e.path();
                let meta = std::fs::metadata(&path).unwrap();
                use std::os::unix::fs::PermissionsExt as _;
                if meta.is_dir() {
                    assert_eq!(
                        meta.permissions().mode() & 0o777,
                        0o700,
                        "{}",
                        path.display()
                    );
                    stack.push(path);
                } else {
                    assert_eq!(
                        meta.permissions().mode() & 0o777,
                        0o600,
                        "{}",
                        path.display()
                    );
                    let rel = path.strip_prefix(&secrets).unwrap();
                    let is_secret =
                        !rel.starts_with("public") && !rel.to_string_lossy().ends_with(".crt");
                    if is_secret {
                        private.push((rel.to_path_buf(), std::fs::read_to_string(&path).unwrap()));
                    }
                }
            }
        }
        if name != "headscale-nat" {
            assert!(!private.is_empty(), "{name}: no key material generated");
        }
        if name == "openvpn-nat" {
            // One CA; the server's certificate for TLS servers, the parties'
            // for TLS clients, each named after its host.
            let dir = secrets.join("openvpn");
            for (host, purpose) in [
                ("server", "sslserver"),
                ("fra", "sslclient"),
                ("home", "sslclient"),
                ("office", "sslclient"),
            ] {
                let out = Command::new("openssl")
                    .args(["verify", "-purpose", purpose, "-CAfile"])
                    .arg(dir.join("ca.crt"))
                    .arg(dir.join(format!("{host}.crt")))
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{host}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let leftovers: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".csr") || n.ends_with(".ext"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
        // Every line of key material that could identify it.
        let needles: Vec<(String, &PathBuf)> = private
            .iter()
            .flat_map(|(p, text)| {
                text.lines()
                    .map(str::trim)
                    .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                    .map(move |l| (l.to_string(), p))
            })
            .collect();
        let out = tmp.path().join("out").join(name);
        let mut stack = vec![out.clone()];
        let mut seen = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                seen += 1;
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                for (needle, from) in &needles {
                    assert!(
                        !text.contains(needle.as_str()),
                        "{}: contains key material of secrets/{name}/{}",
                        path.display(),
                        from.display()
                    );
                }
            }
        }
        assert!(seen > 10, "{name}: rendered too few files");
        assert_eq!(
            std::fs::read_to_string(out.join("public-keys/authorized_keys")).unwrap(),
            ssh
        );
        match name {
            "wireguard-hub" => assert!(out.join("public-keys/wireguard/hub.pub").is_file()),
            "tinc-mesh" => assert!(out.join("public-keys/tinc/lab-0.pub").is_file()),
            _ => {}
        }
        // The hive names every key file, relative to $E3_SECRETS, and each exists.
        let data: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("data/e3.json")).unwrap())
                .unwrap();
        let mut named = 0;
        for host in data["nodes"].as_array().unwrap() {
            let host = host.as_str().unwrap();
            let text =
                std::fs::read_to_string(out.join(format!("data/hosts/{host}.json"))).unwrap();
            let h: serde_json::Value = serde_json::from_str(&text).unwrap();
            for file in h["deploy"]["hive"]["keys"].as_object().unwrap().values() {
                let file = file.as_str().unwrap();
                named += 1;
                if file != "tailscale-authkey" {
                    assert!(
                        secrets.join(file).is_file(),
                        "{name}: the hive names `{file}`, which e3 keys did not write"
                    );
                }
            }
        }
        assert!(named > 0, "{name}: no deployment keys");
    }
}

/// The project flake gives a check to each bundled scenario that is not a
/// matrix, telling them apart by a line `matrix:` in the file (so that the
/// check names need no build). That rule must agree with e3's.
#[test]
fn the_project_flake_tells_matrix_scenarios_apart_as_e3_does() {
    let flake = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../flake.nix"))
        .unwrap();
    assert!(flake.contains(r#"isMatrix = name: lib.hasInfix "\nmatrix:" ("\n" + builtins.readFile ./scenarios/${name}.yaml);"#), "the rule in flake.nix changed: update this test");
    for name in e3::bundled::scenario_names() {
        let text = e3::bundled::scenario(name).unwrap();
        let flake_says = format!("\n{text}").contains("\nmatrix:");
        let e3_says = e3::check(&e3::load::ScenarioRef::Bundled(name.to_string()))
            .matrix()
            .is_some();
        assert_eq!(
            flake_says, e3_says,
            "{name}: flake.nix and e3 disagree on whether it is a matrix"
        );
    }
}

/// `e3-party.service`'s script (modules/party.nix), run with bash against
/// stand-ins for `e3-run`: e3's JSON line is kept as it is; any other
/// program gets its exit status, wall time and output tails; the unit
/// fails with the program.
#[test]
fn party_service_writes_result_json_for_any_program() {
    if !(have("bash") && have("jq")) {
        return;
    }
    let module =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules/party.nix"))
            .unwrap();
    let start = module
        .find("        script = ''\n")
        .expect("the unit's script")
        + "        script = ''\n".len();
    let end = start + module[start..].find("\n        '';").expect("its end");
    let script: String = module[start..end]
        .lines()
        .map(|l| l.strip_prefix("          ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !script.contains("${"),
        "the script interpolates Nix: test it another way"
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("script.sh"), &script).unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cases = [
        (
            "echo 'weighted total: 16'; echo log >&2",
            0,
            r#"{"ok":true,"exit":0,"stdout_tail":["weighted total: 16"],"stderr_tail":["log"]}"#,
        ),
        (
            r#"echo '{"ok": true, "result": 5}'"#,
            0,
            r#"{"ok":true,"result":5}"#,
        ),
        (
            "echo boom >&2; exit 3",
            3,
            r#"{"ok":false,"exit":3,"stdout_tail":[],"stderr_tail":["boom"]}"#,
        ),
    ];
    for (body, code, want) in cases {
        use std::os::unix::fs::PermissionsExt as _;
        let run = bin.join("e3-run");
        std::fs::write(&run, format!("#!/bin/bash\n{body}\n")).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
        let state = tmp.path().join(format!("state-{code}-{}", body.len()));
        std::fs::create_dir_all(&state).unwrap();
        let out = Command::new("bash")
            .arg("-e")
            .arg(tmp.path().join("script.sh"))
            .env("STATE_DIRECTORY", &state)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{body}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(state.join("result.json")).unwrap())
                .unwrap();
        if let Some(o) = got.as_object_mut() {
            let t = o.remove("elapsed_s");
            assert!(
                t.is_none() || t.unwrap().as_f64().is_some_and(|t| t >= 0.0),
                "{body}"
            );
        }
        assert_eq!(
            got,
            serde_json::from_str::<serde_json::Value>(want).unwrap(),
            "{body}"
        );
        let left: Vec<_> = std::fs::read_dir(&state)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["result.json"], "{body}: temporary files left");
    }
}

/// Walks the module import closure of some of the rendered flake's
/// `nixosConfigurations` with the real Nix evaluator, nixpkgs standing in
/// only for itself (`lib.nixosSystem` returns its modules and
/// specialArgs, which module functions get, `modulesPath` is a marker
/// whose files are not followed), in a directory without
/// `hosts.json`, `private-addresses.json` and `public-keys/`. Every
/// `import`, `readFile` and `pathExists` of a file the deployment writes
/// later aborts the evaluation. Returns, per configuration, the e3 files
/// of its closure (relative paths).
const CLOSURE: &str = r#"
configurations:
let
  later = [
    "hosts.json"
    "private-addresses.json"
    "addresses.nix"
    "private-addresses.nix"
    "public-keys.nix"
    "public-keys"
  ];
  isLater =
    p:
    let
      s = toString p;
    in
    builtins.elem (baseNameOf s) later || builtins.match ".*/public-keys/.*" s != null;
  guard = what: p: if isLater p then abort "e3-closure: ${what} ${toString p}" else p;
  scope = {
    import = p: builtins.scopedImport scope (guard "imports" p);
    builtins = builtins // {
      readFile = p: builtins.readFile (guard "reads" p);
      pathExists = p: builtins.pathExists (guard "tests" p);
    };
  };
  modulesPath = "/nixpkgs-stand-in/nixos/modules";
  nixpkgs = {
    lib = {
      nixosSystem = args: args;
      genAttrs =
        names: f:
        builtins.listToAttrs (
          map (name: {
            inherit name;
            value = f name;
          }) names
        );
    };
  };
  flake = scope.import ./flake.nix;
  outputs = flake.outputs {
    self = outputs;
    inherit nixpkgs;
  };
  args = {
    config = throw "stand-in";
    lib = throw "stand-in";
    pkgs = throw "stand-in";
    options = throw "stand-in";
    inherit modulesPath;
  };
  root = toString ./.;
  isNixpkgs = m: builtins.isString m && builtins.substring 0 (builtins.stringLength modulesPath) m == modulesPath;
  load = m: if builtins.isPath m then scope.import m else m;
  # Module functions get the stand-ins and the configuration's specialArgs.
  body = margs: m: if builtins.isFunction m then m margs else m;
  importsOf =
    margs: item:
    let
      imports = (body margs (load item.module)).imports or [ ];
    in
    builtins.genList (
      i:
      let
        m = builtins.elemAt imports i;
      in
      {
        key = if builtins.isPath m then toString m else "${item.key}#${toString i}";
        module = m;
      }
    ) (builtins.length imports);
  closure =
    name:
    let
      configuration = outputs.nixosConfigurations.${name};
      margs = args // (configuration.specialArgs or { });
      items = builtins.genericClosure {
        startSet = importsOf margs {
          key = name;
          module = {
            imports = configuration.modules;
          };
        };
        operator = item: if isNixpkgs item.module then [ ] else importsOf margs item;
      };
    in
    map (item: builtins.substring (builtins.stringLength root + 1) (-1) item.key) (
      builtins.filter (item: builtins.isPath item.module) items
    );
in
builtins.listToAttrs (
  map (name: {
    inherit name;
    value = closure name;
  }) configurations
)
"#;

fn closure(
    files: &e3::render::Files,
    configurations: &[&str],
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    for (p, c) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    for later in ["hosts.json", "private-addresses.json", "public-keys"] {
        assert!(!dir.join(later).exists(), "{later} must be absent");
    }
    let list = format!(
        "[ {} ]",
        configurations
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = Command::new("nix-instantiate")
        .args(["--store".as_ref(), tmp.path().join("store").as_os_str()])
        .args(["--eval", "--strict", "--json", "-E"])
        .arg(format!("({CLOSURE}) {list}"))
        .current_dir(&dir)
        .env("HOME", tmp.path())
        .env("NIX_CONFIG", "")
        .env_remove("NIX_PATH")
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let closures: BTreeMap<String, Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    // What Nix followed must not name a later file either (a `let`-bound
    // import is only read when its value is used).
    for (name, paths) in &closures {
        for p in paths {
            let file = files
                .get(Path::new(p))
                .or_else(|| files.get(&Path::new(p).join("default.nix")))
                .unwrap_or_else(|| panic!("{name}: {p} is not a rendered file"));
            let text = String::from_utf8_lossy(file).into_owned();
            for later in ["hosts.json", "addresses.nix", "public-keys"] {
                if text.contains(later) {
                    return Err(format!("{name}: {p} names `{later}`"));
                }
            }
        }
    }
    Ok(closures)
}

/// Phase one needs nothing phase one produces: every base configuration of
/// every bundled scenario evaluates, with its whole e3 module closure, in a
/// directory without hosts.json, private-addresses.json and public-keys/,
/// and names none of them. The check fails on a host's full configuration
/// (it reads public-keys/ and addresses).
#[test]
fn base_configurations_need_no_deployment_output() {
    if !have("nix-instantiate") {
        return;
    }
    let mut seen = 0;
    for name in scenarios() {
        let files = rendered(&name);
        let data: serde_json::Value =
            serde_json::from_slice(&files[Path::new(e3::render::nix::SCENARIO_DATA)]).unwrap();
        let bases: Vec<&str> = data["bases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap())
            .collect();
        if bases.is_empty() {
            continue;
        }
        let closures = closure(&files, &bases).unwrap_or_else(|e| panic!("{name}: {e}"));
        for b in &bases {
            let c = &closures[*b];
            let platform = b.trim_start_matches("base-").trim_end_matches("-router");
            for needed in ["modules/base.nix", "modules/common.nix"] {
                assert!(
                    c.iter().any(|p| p == needed),
                    "{name}/{b}: {needed} not in {c:?}"
                );
            }
            assert!(
                c.iter()
                    .any(|p| p == &format!("modules/platforms/{platform}.nix")),
                "{name}/{b}: platform module not in {c:?}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 3, "base configurations checked: {seen}");

    // The same walk over full configurations fails: a party's reads
    // modules/scenario/host.nix (public keys, addresses), an existing host
    // imports its hardware file from public-keys/.
    let files = rendered("headscale-nat");
    let e = closure(&files, &["home"]).expect_err("a full configuration reads later files");
    assert!(e.contains("names"), "{e}");
    let checked = e3::check_arg("tests/fixtures/ok-mixed-platforms/scenario.yaml");
    let files = e3::render::render(&e3::plan::plan(checked.scenario().unwrap()));
    let e = closure(&files, &["box"]).expect_err("an existing host imports public-keys/");
    assert!(
        e.contains("e3-closure: imports") && e.contains("public-keys/hardware/box.nix"),
        "{e}"
    );
}

/// Every cloud router's nftables table (nat.rs's rules on eth0/eth1 plus
/// SSH to the router) is accepted by the real `nft -c`, with the public
/// address the Nix side substitutes for `0.0.0.0`; and the rendered
/// `data/hosts/<router>.json` carries exactly those rules. Needs root and nft.
#[test]
fn cloud_router_tables_pass_nft_check() {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|u| u.split_whitespace().nth(1) == Some("0"))
            })
        })
        .unwrap_or(false);
    if !have("nft") || !root {
        eprintln!("skipped: needs nft and root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut plans: Vec<(String, e3::plan::Plan)> = scenarios()
        .into_iter()
        .map(|n| {
            let s = e3::check_arg(&n).into_scenario().unwrap();
            (n, e3::plan::plan(&s))
        })
        .collect();
    for fixture in ["ok-one2one", "ok-cgnat", "ok-mixed-platforms"] {
        let s = e3::check_arg(&format!("tests/fixtures/{fixture}/scenario.yaml"))
            .into_scenario()
            .unwrap();
        plans.push((fixture.to_string(), e3::plan::plan(&s)));
    }
    let mut checked = 0;
    for (name, plan) in &plans {
        let cloud = e3::cloud::cloud(plan);
        let files = e3::render::render(plan);
        for r in cloud.routers() {
            let rules = e3::cloud::router_rules(plan, r.host).unwrap();
            let data = host_data(&files, &r.host.name);
            let rendered = data["deploy"]["settings"]["e3"]["cloudNat"]["router"]["rules"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}/{}: no rules rendered", r.host.name));
            let lines = |t: &str| -> Vec<String> {
                t.lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect()
            };
            assert_eq!(
                lines(rendered),
                lines(&rules),
                "{name}/{}: the rendered rules are not the router's",
                r.host.name
            );
            let file = tmp.path().join(format!("{name}-{}.nft", r.host.name));
            let table = format!("table ip e3 {{\n{rules}}}\n").replace("0.0.0.0", "203.0.113.7");
            std::fs::write(&file, table).unwrap();
            let out = Command::new("nft")
                .args(["-c", "-f"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}/{}: nft -c rejects the router's table:\n{}",
                r.host.name,
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "router tables checked: {checked}");
}
