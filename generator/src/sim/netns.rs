//! Namespaces, links and processes of one lab, and their guaranteed
//! teardown.
//!
//! Every lab has a unique prefix `e3-XXXX` (4 hex digits). Whatever it creates
//! — namespaces, daemons, its temporary directory, wireguard-go sockets — is
//! listed in a state file `/run/e3/e3-XXXX.state` before it is created, so
//! that teardown (on success, failure, Ctrl-C, SIGTERM via [`install_signal_handler`])
//! or a later `e3 sim --cleanup` (after a crash) finds all of it. Nothing is
//! created in the root namespace: links are created directly inside the lab's
//! namespaces (`ip -n NS link add … peer … netns OTHER`).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where state files live.
pub const STATE_DIR: &str = "/run/e3";

/// State files of the labs of this process, for the signal handler.
static ACTIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Set by the signal handler; from then on the handler owns teardown.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Serialises teardowns (signal handler against the main thread).
static TEARDOWN: Mutex<()> = Mutex::new(());

/// After a signal, the handler tears down and exits; any other thread that
/// would touch the lab waits here for that instead.
pub fn park_if_interrupted() {
    while INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a command, returning stdout; the error names the command and carries stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs a command inside a namespace.
pub fn ns_run(ns: &str, program: &str, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run("ip", &all)
}

fn random_hex4() -> String {
    let mut b = [0u8; 2];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        use std::io::Read as _;
        let _ = f.read_exact(&mut b);
    }
    if b == [0, 0] {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        b = [(t >> 8) as u8 ^ std::process::id() as u8, t as u8];
    }
    format!("{:02x}{:02x}", b[0], b[1])
}

/// What one lab owns. Dropping it tears everything down.
pub struct Lab {
    /// `e3-XXXX`
    pub prefix: String,
    /// `XXXX`
    pub hex: String,
    /// Temporary directory (mode 0700) for configs, keys and logs.
    pub dir: PathBuf,
    state_path: PathBuf,
    namespaces: Vec<String>,
    pids: Vec<u32>,
    files: Vec<PathBuf>,
    /// iptables rules in lab namespaces: (namespace, table, chain, rule).
    rules: Vec<(String, String, String, Vec<String>)>,
    children: Vec<(String, Child)>,
    torn_down: bool,
}

impl Lab {
    /// Reserves a fresh prefix and creates the state file and temp dir.
    pub fn new() -> Result<Lab, String> {
        fs::create_dir_all(STATE_DIR).map_err(|e| format!("cannot create `{STATE_DIR}`: {e}"))?;
        let mut hex = random_hex4();
        for _ in 0..64 {
            let busy = Path::new(STATE_DIR)
                .join(format!("e3-{hex}.state"))
                .exists()
                || Path::new("/run/netns")
                    .join(format!("e3-{hex}-internet"))
                    .exists();
            if !busy {
                break;
            }
            hex = random_hex4();
        }
        let prefix = format!("e3-{hex}");
        let dir = std::env::temp_dir().join(format!("{prefix}-lab"));
        let lab = Lab {
            state_path: Path::new(STATE_DIR).join(format!("{prefix}.state")),
            prefix,
            hex,
            dir: dir.clone(),
            namespaces: Vec::new(),
            pids: Vec::new(),
            files: Vec::new(),
            rules: Vec::new(),
            children: Vec::new(),
            torn_down: false,
        };
        ACTIVE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(lab.state_path.clone());
        lab.save()?;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
        Ok(lab)
    }

    fn save(&self) -> Result<(), String> {
        let mut s = format!("owner {}\ndir {}\n", std::process::id(), self.dir.display());
        for n in &self.namespaces {
            s += &format!("ns {n}\n");
        }
        for p in &self.pids {
            s += &format!("pid {p}\n");
        }
        for f in &self.files {
            s += &format!("file {}\n", f.display());
        }
        for (ns, table, chain, rule) in &self.rules {
            s += &format!("iptables {ns} {table} {chain} {}\n", rule.join(" "));
        }
        let tmp = self.state_path.with_extension("tmp");
        fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(s.as_bytes()))
            .and_then(|_| fs::rename(&tmp, &self.state_path))
            .map_err(|e| format!("cannot write `{}`: {e}", self.state_path.display()))
    }

    /// Namespace name of a host (`e3-XXXX-host`).
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// Creates a namespace (registered first) with `lo` up.
    pub fn add_namespace(&mut self, host: &str) -> Result<String, String> {
        let ns = self.ns(host);
        self.namespaces.push(ns.clone());
        self.save()?;
        run("ip", &["netns", "add", &ns])?;
        run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A file outside the temp dir that teardown removes.
    pub fn add_file(&mut self, path: PathBuf) -> Result<(), String> {
        self.files.push(path);
        self.save()
    }

    /// Appends an iptables rule to `chain` of `table` in `host`'s namespace,
    /// registered first: teardown and `e3 sim --cleanup` delete it. The
    /// rule's words must contain no spaces (the state file keeps them as one line).
    pub fn add_iptables(
        &mut self,
        host: &str,
        table: &str,
        chain: &str,
        rule: &[String],
    ) -> Result<(), String> {
        let ns = self.ns(host);
        self.rules
            .push((ns.clone(), table.into(), chain.into(), rule.to_vec()));
        self.save()?;
        let mut args = vec!["-w", "-t", table, "-A", chain];
        args.extend(rule.iter().map(String::as_str));
        ns_run(&ns, "iptables", &args).map(|_| ())
    }

    /// Starts `program args` inside `ns`, output to `log`.
    pub fn spawn(
        &mut self,
        name: &str,
        ns: &str,
        program: &str,
        args: &[&str],
        stdout: &Path,
        stderr: &Path,
    ) -> Result<u32, String> {
        park_if_interrupted();
        let create = |p: &Path| {
            fs::File::create(p).map_err(|e| format!("cannot create `{}`: {e}", p.display()))
        };
        let out = create(stdout)?;
        let err = if stdout == stderr {
            out.try_clone().map_err(|e| e.to_string())?
        } else {
            create(stderr)?
        };
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            // wireguard-go refuses to start without it when a kernel module exists
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start `{program}`: {e}"))?;
        let pid = child.id();
        self.pids.push(pid);
        self.children.push((name.to_string(), child));
        self.save()?;
        Ok(pid)
    }

    /// The child started under `name`: `Some(status)` if it has exited.
    pub fn exited(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        self.children
            .iter_mut()
            .find(|(n, _)| n == name)
            .and_then(|(_, c)| c.try_wait().ok().flatten())
    }

    /// Waits until the child `name` exits or `deadline` passes.
    pub fn wait_child(
        &mut self,
        name: &str,
        deadline: Instant,
    ) -> Option<std::process::ExitStatus> {
        loop {
            if let Some(s) = self.exited(name) {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops a child started with [`Lab::spawn`] (SIGKILL), for fault injection.
    pub fn kill_child(&mut self, name: &str) {
        if let Some((_, c)) = self.children.iter_mut().find(|(n, _)| n == name) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Tears the lab down; also done on drop.
    pub fn teardown(&mut self) -> Vec<String> {
        park_if_interrupted();
        if self.torn_down {
            return Vec::new();
        }
        self.torn_down = true;
        let problems = cleanup_state(&self.state_path);
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        ACTIVE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != &self.state_path);
        problems
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in self.teardown() {
            eprintln!("warning: teardown: {p}");
        }
    }
}

fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // state is the field after the parenthesised command name
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Processes inside a namespace.
fn ns_pids(ns: &str) -> Vec<u32> {
    run("ip", &["netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Kills processes (TERM, then KILL after a grace period) and waits for them.
fn kill_all(pids: &[u32]) {
    let live: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    for p in &live {
        signal(*p, "-TERM");
    }
    let deadline = Instant::now() + Duration::from_millis(1500);
    while live.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(30));
    }
    for p in live.iter().filter(|p| alive(**p)) {
        signal(*p, "-KILL");
    }
}

/// Removes everything a state file lists, then the file. Idempotent.
pub fn cleanup_state(state: &Path) -> Vec<String> {
    let _guard = TEARDOWN.lock().unwrap_or_else(|e| e.into_inner());
    let mut problems = Vec::new();
    let Ok(text) = fs::read_to_string(state) else {
        return problems;
    };
    let (mut namespaces, mut pids, mut files, mut dirs, mut rules) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("ns", n)) => namespaces.push(n.to_string()),
            Some(("pid", p)) => pids.extend(p.parse::<u32>().ok()),
            Some(("file", f)) => files.push(PathBuf::from(f)),
            Some(("dir", d)) => dirs.push(PathBuf::from(d)),
            Some(("iptables", r)) => rules.push(r.split_whitespace().collect::<Vec<&str>>()),
            _ => {}
        }
    }
    // The delay line's rules first (its NFQUEUE rules would send a dead
    // listener's packets nowhere); only in the lab's own namespaces.
    for r in rules.iter().rev() {
        let [ns, table, chain, rule @ ..] = r.as_slice() else {
            continue;
        };
        if !namespaces.iter().any(|n| n == ns) || !Path::new("/run/netns").join(ns).exists() {
            continue;
        }
        let mut args = vec!["-w", "-t", table, "-D", chain];
        args.extend(rule.iter().copied());
        if let Err(e) = ns_run(ns, "iptables", &args) {
            problems.push(e);
        }
    }
    let mut all: Vec<u32> = pids;
    for n in &namespaces {
        all.extend(ns_pids(n));
    }
    kill_all(&all);
    for n in namespaces.iter().rev() {
        if Path::new("/run/netns").join(n).exists() {
            // processes started meanwhile (none expected)
            kill_all(&ns_pids(n));
            if let Err(e) = run("ip", &["netns", "del", n]) {
                problems.push(e);
            }
        }
    }
    for f in files {
        let _ = fs::remove_file(&f);
        // `/etc/netns/<ns>/` holds per-namespace files (`ip netns exec`
        // mounts them over `/etc`): remove the directory once it is empty.
        if let Some(dir) = f
            .parent()
            .filter(|d| d.parent() == Some(Path::new("/etc/netns")))
        {
            let _ = fs::remove_dir(dir);
        }
    }
    for d in dirs {
        // only our own temp dirs
        if d.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("e3-") && n.ends_with("-lab"))
        {
            if let Err(e) = fs::remove_dir_all(&d) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    problems.push(format!("cannot remove `{}`: {e}", d.display()));
                }
            }
        }
    }
    let _ = fs::remove_file(state);
    problems
}

/// Tears down the labs of this process; for the signal handler.
pub fn cleanup_active() {
    let states: Vec<PathBuf> = ACTIVE.lock().map(|v| v.clone()).unwrap_or_default();
    for s in states {
        cleanup_state(&s);
    }
}

/// Whether [`install_signal_handler`] has run in this process.
static HANDLER: Mutex<bool> = Mutex::new(false);

/// On SIGINT, SIGTERM or SIGHUP: tear down this process's labs and exit 130.
/// Installed once per process; later calls do nothing.
pub fn install_signal_handler() -> Result<(), String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut installed = HANDLER.lock().unwrap_or_else(|e| e.into_inner());
    if *installed {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| format!("cannot install signal handler: {e}"))?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            eprintln!("\ninterrupted (signal {sig}): tearing the lab down");
            cleanup_active();
            eprintln!("lab removed");
            std::process::exit(130);
        }
    });
    *installed = true;
    Ok(())
}

/// Is `name` a lab namespace name (`e3-XXXX-…`)? Returns the prefix.
pub fn lab_prefix(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("e3-")?;
    let hex = rest.get(..4)?;
    (hex.bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && rest[4..].starts_with('-'))
    .then(|| &name[..7])
}

/// Lab namespaces that exist now.
pub fn lab_namespaces() -> Vec<String> {
    run("ip", &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| lab_prefix(n).is_some())
        .map(str::to_string)
        .collect()
}

/// `e3 sim --cleanup`: removes what crashed labs left. Labs whose owner
/// process still runs are left alone. Returns lines for the user.
pub fn cleanup_leftovers() -> Vec<String> {
    let mut out = Vec::new();
    let mut live_prefixes = Vec::new();
    if let Ok(entries) = fs::read_dir(STATE_DIR) {
        for e in entries.flatten() {
            let path = e.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".state"))
                .map(str::to_string)
            else {
                continue;
            };
            let owner = fs::read_to_string(&path).ok().and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("owner ").and_then(|p| p.parse::<u32>().ok()))
            });
            if let Some(o) = owner.filter(|o| alive(*o) && *o != std::process::id()) {
                out.push(format!("kept {name}: its lab is still running (pid {o})"));
                live_prefixes.push(name);
                continue;
            }
            for p in cleanup_state(&path) {
                out.push(format!("warning: {p}"));
            }
            out.push(format!("removed lab {name}"));
        }
    }
    for ns in lab_namespaces() {
        let prefix = lab_prefix(&ns).unwrap_or_default().to_string();
        // a lab that started after the scan above has a state file by now
        if live_prefixes.contains(&prefix)
            || Path::new(STATE_DIR)
                .join(format!("{prefix}.state"))
                .exists()
        {
            continue;
        }
        kill_all(&ns_pids(&ns));
        match run("ip", &["netns", "del", &ns]) {
            Ok(_) => out.push(format!("removed namespace {ns} (no state file)")),
            Err(e) => out.push(format!("warning: {e}")),
        }
    }
    out
}
