//! `e3 deploy` / `e3 destroy`: the dry-run sequence of every bundled
//! scenario against its golden copy (`E3_BLESS=1` rewrites), and a real run
//! without the tools names what is missing before running anything.

use std::path::Path;
use std::process::Command;

#[path = "support/golden.rs"]
mod golden;

fn e3(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_e3"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn dry_run_sequences() {
    let mut golden = golden::Golden::new();
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
        golden.check(
            Path::new("tests/golden-deploy").join(format!("{name}.txt")),
            &text,
        );
        // Order: keys before render before terraform before colmena before results.
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
        // The phases, in order: base image, Terraform, hosts.json, Colmena.
        let deploy_text = String::from_utf8_lossy(&deploy.stdout);
        let phase = |p: &str| {
            deploy_text
                .find(&format!("## phase {p}"))
                .unwrap_or_else(|| panic!("{name}: no phase `{p}`\n{deploy_text}"))
        };
        assert!(
            phase("1: base image") < phase("1: Terraform")
                && phase("1: Terraform") < phase("1: hosts.json")
                && phase("1: hosts.json") < phase("2: Colmena"),
            "{name}: phases out of order\n{deploy_text}"
        );
        assert!(
            pos("e3 keys") < pos("e3 render") && pos("e3 render") < pos("nix build"),
            "{name}: keys and render come before anything is built\n{text}"
        );
        for line in deploy_text.lines().filter(|l| l.contains("colmena ")) {
            assert!(
                line.starts_with(&format!("E3_SECRETS=secrets/{name} colmena ")),
                "{name}: colmena without E3_SECRETS: {line}"
            );
        }
        let cost = deploy_text
            .lines()
            .find(|l| l.starts_with("# estimated cost: "))
            .unwrap_or_else(|| panic!("{name}: no cost line"));
        assert!(cost.contains(" per hour for "), "{cost}");
        // Control servers (and NAT routers) before the parties.
        let all = deploy_text
            .lines()
            .find(|l| l.contains(" colmena apply ") && !l.contains("--on"))
            .and_then(|l| text.find(&format!("{l}\n")))
            .unwrap_or(usize::MAX);
        assert!(all < usize::MAX, "{name}: no full deploy\n{text}");
        if text.contains("@role-control") {
            assert!(
                pos("--on @role-control") < pos("e3-headscale-authkey")
                    && pos("e3-headscale-authkey") < all,
                "{name}: control server, key, then parties\n{text}"
            );
        }
        if text.contains("@role-router") {
            assert!(pos("@role-router") < all, "{name}\n{text}");
        }
    }
    golden.finish();
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

/// Stand-ins for every program a deployment runs: each records its
/// arguments in `calls` and succeeds (`terraform output` prints `{}`).
fn fake_tools(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in [
        "terraform",
        "colmena",
        "ssh",
        "nix",
        "nebula-cert",
        "nixos-anywhere",
    ] {
        let path = bin.join(tool);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"{tool} $*\" >> '{}'\ncase \"$*\" in *output*) echo '{{}}';; esac\n",
                dir.join("calls").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(
        dir.join("id.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVzZXJrZXlleGFtcGxlb25seQ me@laptop\n",
    )
    .unwrap();
}

fn e3_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_e3"));
    c.args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir)
        .stdin(std::process::Stdio::null());
    for v in [
        "DIGITALOCEAN_TOKEN",
        "DIGITALOCEAN_ACCESS_TOKEN",
        "SPACES_ACCESS_KEY_ID",
        "SPACES_SECRET_ACCESS_KEY",
        "HCLOUD_TOKEN",
    ] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn missing_credentials_are_named_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    fake_tools(tmp.path());
    let out = e3_in(
        tmp.path(),
        &["deploy", "nebula-nat", "--ssh-key", "id.pub", "--yes"],
        &[("SPACES_ACCESS_KEY_ID", "x")],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for v in [
        "`DIGITALOCEAN_TOKEN` or `DIGITALOCEAN_ACCESS_TOKEN`",
        "`SPACES_SECRET_ACCESS_KEY`",
    ] {
        assert!(stderr.contains(v), "{v} not named:\n{stderr}");
    }
    assert!(!stderr.contains("`SPACES_ACCESS_KEY_ID`"), "{stderr}");
    assert!(!tmp.path().join("calls").exists(), "nothing may run");
}

#[test]
fn deploy_asks_before_spending_and_refuses_without_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    fake_tools(tmp.path());
    let creds = [
        ("DIGITALOCEAN_TOKEN", "x"),
        ("SPACES_ACCESS_KEY_ID", "x"),
        ("SPACES_SECRET_ACCESS_KEY", "x"),
    ];
    let out = e3_in(
        tmp.path(),
        &["deploy", "nebula-nat", "--ssh-key", "id.pub"],
        &creds,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("estimated cost: "), "{stderr}");
    assert!(
        stderr.contains("stdin is not a terminal") && stderr.contains("--yes"),
        "{stderr}"
    );
    assert!(!tmp.path().join("calls").exists(), "nothing may run");
}

#[test]
fn a_failed_step_says_how_to_destroy_and_destroy_works_on_a_partial_deployment() {
    let tmp = tempfile::tempdir().unwrap();
    fake_tools(tmp.path());
    // Nothing provisioned yet: nothing to destroy, nothing run.
    let out = e3_in(
        tmp.path(),
        &["destroy", "headscale-nat", "--ssh-key", "id.pub"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to destroy"));
    assert!(!tmp.path().join("calls").exists());

    std::fs::create_dir_all(tmp.path().join(".ssh")).unwrap();
    std::fs::copy(
        tmp.path().join("id.pub"),
        tmp.path().join(".ssh/id_ed25519.pub"),
    )
    .unwrap();
    // A deploy that fails after Terraform ran (the stand-in `nix build`
    // makes no image) says how to destroy what exists.
    let creds = [
        ("DIGITALOCEAN_TOKEN", "x"),
        ("SPACES_ACCESS_KEY_ID", "x"),
        ("SPACES_SECRET_ACCESS_KEY", "x"),
    ];
    let out = e3_in(
        tmp.path(),
        &["deploy", "headscale-nat", "--ssh-key", "id.pub", "--yes"],
        &creds,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("provision the machines"), "{stderr}");
    // root's key came from --ssh-key, before anything was built.
    let authorized = tmp
        .path()
        .join("secrets/headscale-nat/public/authorized_keys");
    assert_eq!(
        std::fs::read_to_string(&authorized).unwrap(),
        std::fs::read_to_string(tmp.path().join("id.pub")).unwrap()
    );
    assert!(
        tmp.path()
            .join("out/headscale-nat/public-keys/authorized_keys")
            .is_file(),
        "render copied it"
    );
    assert!(stderr.contains("`e3 destroy headscale-nat`"), "{stderr}");

    // With state but without the image, destroy runs with an empty image path.
    let state = tmp
        .path()
        .join("out/headscale-nat/terraform/terraform.tfstate");
    std::fs::write(&state, "{}").unwrap();
    let out = e3_in(
        tmp.path(),
        &["destroy", "headscale-nat", "--ssh-key", "id.pub"],
        &creds,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(tmp.path().join("calls")).unwrap();
    let destroy = calls
        .lines()
        .find(|l| l.contains(" destroy "))
        .expect(&calls);
    assert!(
        destroy.contains("digitalocean_image_path= ")
            || destroy.ends_with("digitalocean_image_path="),
        "{destroy}"
    );
}
