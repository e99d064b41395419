//! Namespaces, links and processes of one lab, and their guaranteed
//! teardown.
//!
//! Every lab has a unique prefix `e3-XXXX` (4 hex digits), reserved by
//! creating its state file `/run/e3/e3-XXXX.state` (exclusively, 0600, in a
//! root-owned 0700 `/run/e3`). Whatever the lab creates — namespaces,
//! daemons, its directories (`$TMPDIR/e3-XXXX-lab-<random>`, 0700, and
//! `….programs`, 0755, what unprivileged programs may read), wireguard-go
//! sockets, files under `/etc/netns/` — is listed in the state file before
//! it is created, so that teardown (on success, failure, Ctrl-C, SIGTERM)
//! or a later `e3 sim --cleanup` (after a crash) finds all of it. Nothing is
//! created in the root namespace: links are created directly inside the
//! lab's namespaces (`ip -n NS link add … peer … netns OTHER`).
//!
//! Kept labs (`e3 lab up`): [`Lab::keep`] writes `kept` into the state
//! file, lets the children go (they were started in their own process
//! groups, [`Lab::set_detachable`]) and makes dropping the `Lab` leave the
//! lab up; `--cleanup` leaves such a lab alone. [`Lab::attach`] reopens one
//! from its trusted state file (by the names of its processes, `name PID
//! NAME` lines), and [`Lab::teardown`] removes it as any other.
//!
//! Signals: [`install_signal_handler`] makes SIGINT, SIGTERM and SIGHUP set
//! a flag and nothing else. The thread that builds and runs the lab checks
//! it before every object it creates and while it waits ([`Lab`]'s methods
//! return [`INTERRUPTED`] as their error), unwinds, and tears the lab down
//! itself; `main` then exits 130. The library never exits the process.
//!
//! Trust: `--cleanup` acts on a state file only when root owns it and
//! nobody else can write it, and then only on objects of that lab's own
//! prefix: its namespaces, its directories, files inside them or under
//! `/etc/netns/<its namespace>/` and its wireguard-go sockets, and
//! processes that run in one of its namespaces.

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::Error;
use crate::files;

/// Where state files live.
pub const STATE_DIR: &str = "/run/e3";

/// The message of every lab operation's error after a signal
/// ([`Error::Interrupted`]).
pub const INTERRUPTED: &str = "interrupted";

/// Set by the signal handler, and only by it.
fn flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Whether SIGINT, SIGTERM or SIGHUP arrived since
/// [`install_signal_handler`].
pub fn interrupted() -> bool {
    flag().load(Ordering::SeqCst)
}

/// `Err(Error::Interrupted)` after a signal: the caller stops and unwinds.
pub fn check_interrupted() -> Result<(), Error> {
    if interrupted() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// How an unprivileged program runs: its working directory and extra
/// environment.
#[derive(Debug, Clone, Copy)]
pub struct RunAs<'a> {
    pub cwd: &'a Path,
    pub env: &'a [(&'a str, &'a str)],
}

/// Serialises teardowns within this process.
static TEARDOWN: Mutex<()> = Mutex::new(());

/// [`run`] with owned arguments (argument vectors built by pure functions).
pub fn run_strings(program: &str, args: &[String]) -> Result<String, Error> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(program, &refs)
}

/// Runs a command, returning stdout; the error names the command and carries stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, Error> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::CannotRun {
            program: program.to_string(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            command: format!("`{program} {}`", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Runs `lines` as one `ip -batch FILE` (written to `file`), inside the
/// namespace `ns` when given (`ip -n NS`); stops at the first failing line.
pub fn ip_batch(file: &Path, ns: Option<&str>, lines: &[String]) -> Result<(), Error> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(file, text).map_err(Error::io("write", file))?;
    let f = file.display().to_string();
    let mut args = Vec::new();
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["-batch", &f]);
    run("ip", &args).map(|_| ())
}

/// Runs a command inside a namespace.
pub fn ns_run(ns: &str, program: &str, args: &[&str]) -> Result<String, Error> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// The uid and gid unprivileged lab programs run as: `nobody`'s.
pub fn unprivileged_ids() -> (u32, u32) {
    static IDS: OnceLock<(u32, u32)> = OnceLock::new();
    *IDS.get_or_init(|| {
        let name = c"nobody";
        // SAFETY: getpwnam returns NULL or a pointer to a static record,
        // read at once (before any other call could overwrite it).
        unsafe {
            let pw = libc::getpwnam(name.as_ptr());
            if pw.is_null() {
                (65534, 65534)
            } else {
                ((*pw).pw_uid, (*pw).pw_gid)
            }
        }
    })
}

/// Checks that the unprivileged user can run `python` with MPyC and read
/// `program` (the venv must not sit where only root can read it, such as
/// under `/root`, nor the lab under a private `$TMPDIR`); the import is
/// checked once per process.
pub fn check_unprivileged_python(python: &Path, program: &Path) -> Result<(), Error> {
    /// Why `nobody` cannot run a command: `setpriv` is missing (its
    /// error), or the command's last line of stderr.
    enum Refused {
        NoSetpriv(String),
        Said(String),
    }
    static IMPORT: OnceLock<Result<(), Refused>> = OnceLock::new();
    let (uid, gid) = unprivileged_ids();
    let as_nobody = |args: &[&str]| -> Result<(), Refused> {
        let out = Command::new("setpriv")
            .args([
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
                "--no-new-privs",
                "--",
            ])
            .args(args)
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Refused::NoSetpriv(e.to_string()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Refused::Said(
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
                    .to_string(),
            ))
        }
    };
    let py = python.display().to_string();
    match IMPORT.get_or_init(|| as_nobody(&[&py, "-c", "import mpyc"])) {
        Ok(()) => {}
        Err(Refused::NoSetpriv(e)) => return Err(Error::NoSetpriv(e.clone())),
        Err(Refused::Said(detail)) => {
            return Err(Error::NobodyCannotImport {
                python: python.to_path_buf(),
                detail: detail.clone(),
            })
        }
    }
    let prog = program.display().to_string();
    match as_nobody(&["test", "-r", &prog]) {
        Ok(()) => Ok(()),
        Err(Refused::NoSetpriv(e)) => Err(Error::NoSetpriv(e)),
        Err(Refused::Said(_)) => Err(Error::NobodyCannotRead {
            program: program.to_path_buf(),
            tmpdir: std::env::temp_dir(),
        }),
    }
}

/// Makes sure `/run/e3` is a directory (not a link) that root owns and
/// only root can enter: creates it 0700, fixes a wrong mode, refuses one
/// that someone else owns.
pub fn state_dir() -> Result<&'static Path, Error> {
    let dir = Path::new(STATE_DIR);
    if fs::symlink_metadata(dir).is_err() {
        if let Err(e) = files::create_dir(dir, 0o700) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(Error::io("create", dir)(e));
            }
        }
    }
    let m = fs::symlink_metadata(dir).map_err(Error::io("read", dir))?;
    if !m.is_dir() || m.uid() != 0 {
        return Err(Error::UntrustedStateDir);
    }
    if m.mode() & 0o7777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(Error::io("chmod", dir))?;
    }
    Ok(dir)
}

/// What one lab owns. Dropping it tears everything down.
pub struct Lab {
    /// `e3-XXXX`
    pub prefix: String,
    /// `XXXX`
    pub hex: String,
    /// Its directory (mode 0700, name unpredictable) for configs, keys and logs.
    pub dir: PathBuf,
    /// `<dir>.programs` (0755), made by [`Lab::public_dir`]: the only lab
    /// directory unprivileged programs can read.
    public: Option<PathBuf>,
    state_path: PathBuf,
    dirs: Vec<PathBuf>,
    namespaces: Vec<String>,
    pids: Vec<u32>,
    files: Vec<PathBuf>,
    /// iptables rules in lab namespaces: (namespace, table, chain, rule).
    rules: Vec<(String, String, String, Vec<String>)>,
    children: Vec<(String, Child)>,
    torn_down: bool,
    /// Kept running past this process (`e3 lab up`, [`Lab::keep`], or a
    /// lab reopened by [`Lab::attach`]): dropping it leaves it up; only an
    /// explicit [`Lab::teardown`] removes it.
    kept: bool,
    /// Children start in their own process group, so they outlive this
    /// process and its terminal's signals ([`Lab::set_detachable`]).
    detachable: bool,
    /// (name, pid) of every child started by name, including reopened labs'.
    names: Vec<(String, u32)>,
    /// How each root child was started, to start it again ([`Lab::respawn`]).
    specs: Vec<Spawn>,
}

/// How a root child of the lab was started (see [`Lab::respawn`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spawn {
    pub name: String,
    pub ns: String,
    pub program: String,
    pub args: Vec<String>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// Opens a state file for writing: exclusively when `create_new`, never
/// through a symbolic link, 0600 whatever the umask.
fn open_state(path: &Path, create_new: bool) -> std::io::Result<fs::File> {
    let mut o = fs::OpenOptions::new();
    o.write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    let f = o.open(path)?;
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

impl Lab {
    /// Reserves a fresh prefix (by creating its state file exclusively) and
    /// creates the lab directory under a random name, retrying on
    /// collisions.
    pub fn new() -> Result<Lab, Error> {
        check_interrupted()?;
        let state_dir = state_dir()?;
        let mut reserved = None;
        for _ in 0..256 {
            let hex = files::random_hex(2);
            if Path::new("/run/netns")
                .join(format!("e3-{hex}-internet"))
                .exists()
            {
                continue;
            }
            let path = state_dir.join(format!("e3-{hex}.state"));
            match open_state(&path, true) {
                Ok(_) => {
                    reserved = Some((hex, path));
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("create", &path)(e)),
            }
        }
        let Some((hex, state_path)) = reserved else {
            return Err(Error::NoFreePrefix);
        };
        let prefix = format!("e3-{hex}");
        let mut lab = Lab {
            state_path,
            prefix,
            hex,
            dir: PathBuf::new(),
            public: None,
            dirs: Vec::new(),
            namespaces: Vec::new(),
            pids: Vec::new(),
            files: Vec::new(),
            rules: Vec::new(),
            children: Vec::new(),
            torn_down: false,
            kept: false,
            detachable: false,
            names: Vec::new(),
            specs: Vec::new(),
        };
        // From here on dropping `lab` removes what it recorded.
        let tmp = std::env::temp_dir();
        for attempt in 0.. {
            let dir = tmp.join(format!("{}-lab-{}", lab.prefix, files::random_hex(4)));
            lab.dirs.push(dir.clone());
            lab.save()?;
            match files::create_dir(&dir, 0o700) {
                Ok(()) => {
                    lab.dir = dir;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 64 => {
                    lab.dirs.pop();
                }
                Err(e) => {
                    lab.dirs.pop();
                    return Err(Error::io("create", &dir)(e));
                }
            }
        }
        lab.save()?;
        Ok(lab)
    }

    fn save(&self) -> Result<(), Error> {
        let mut s = format!("owner {}\n", std::process::id());
        for d in &self.dirs {
            s += &format!("dir {}\n", d.display());
        }
        for n in &self.namespaces {
            s += &format!("ns {n}\n");
        }
        for p in &self.pids {
            s += &format!("pid {p}\n");
        }
        for (n, p) in &self.names {
            s += &format!("name {p} {n}\n");
        }
        if self.kept {
            s += "kept\n";
        }
        for f in &self.files {
            s += &format!("file {}\n", f.display());
        }
        for (ns, table, chain, rule) in &self.rules {
            s += &format!("iptables {ns} {table} {chain} {}\n", rule.join(" "));
        }
        let tmp = self.state_path.with_extension("state-new");
        open_state(&tmp, false)
            .and_then(|mut f| f.write_all(s.as_bytes()))
            .and_then(|_| fs::rename(&tmp, &self.state_path))
            .map_err(Error::io("write", &self.state_path))
    }

    /// Namespace name of a host (`e3-XXXX-host`).
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// Creates a namespace (registered first) with `lo` up.
    pub fn add_namespace(&mut self, host: &str) -> Result<String, Error> {
        check_interrupted()?;
        let ns = self.ns(host);
        self.namespaces.push(ns.clone());
        self.save()?;
        run("ip", &["netns", "add", &ns])?;
        run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Creates several namespaces at once: all registered (one save of the
    /// state file), then one `ip -batch` of `netns add` lines. `lo` is left
    /// down: the caller brings it up with the namespace's own batch.
    pub fn add_namespaces(&mut self, hosts: &[&str]) -> Result<Vec<String>, Error> {
        check_interrupted()?;
        let names: Vec<String> = hosts.iter().map(|h| self.ns(h)).collect();
        self.namespaces.extend(names.iter().cloned());
        self.save()?;
        let lines: Vec<String> = names.iter().map(|n| format!("netns add {n}")).collect();
        ip_batch(&self.dir.join("namespaces.ip"), None, &lines)?;
        Ok(names)
    }

    /// A file outside the lab directory that teardown removes.
    pub fn add_file(&mut self, path: PathBuf) -> Result<(), Error> {
        check_interrupted()?;
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
    ) -> Result<(), Error> {
        let ns = self.ns(host);
        self.rules
            .push((ns.clone(), table.into(), chain.into(), rule.to_vec()));
        self.save()?;
        let mut args = vec!["-w", "-t", table, "-A", chain];
        args.extend(rule.iter().map(String::as_str));
        ns_run(&ns, "iptables", &args).map(|_| ())
    }

    /// `<dir>.programs`, created (0755, recorded first) on first use: what
    /// programs run by [`Lab::spawn_unprivileged`] read. Nothing secret
    /// belongs there.
    pub fn public_dir(&mut self) -> Result<PathBuf, Error> {
        if let Some(p) = &self.public {
            return Ok(p.clone());
        }
        check_interrupted()?;
        let mut name = self.dir.clone().into_os_string();
        name.push(".programs");
        let dir = PathBuf::from(name);
        self.dirs.push(dir.clone());
        self.save()?;
        files::create_dir(&dir, 0o755).map_err(Error::io("create", &dir))?;
        self.public = Some(dir.clone());
        Ok(dir)
    }

    /// Starts `program args` inside `ns` as root, output to `stdout` and
    /// `stderr` (files in the lab directory).
    pub fn spawn(
        &mut self,
        name: &str,
        ns: &str,
        program: &str,
        args: &[&str],
        stdout: &Path,
        stderr: &Path,
    ) -> Result<u32, Error> {
        self.spawn_inner(name, ns, program, args, stdout, stderr, None)
    }

    /// [`Lab::spawn`] as the unprivileged user (`nobody`, no supplementary
    /// groups, no new privileges), in `cwd` (the public directory or a
    /// directory below it) with `env` added: for the scenario's program,
    /// which needs no privileges.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_unprivileged(
        &mut self,
        name: &str,
        ns: &str,
        cwd: &Path,
        env: &[(&str, &str)],
        program: &str,
        args: &[&str],
        stdout: &Path,
        stderr: &Path,
    ) -> Result<u32, Error> {
        let public = self.public_dir()?;
        if !cwd.starts_with(&public) {
            return Err(Error::NotPublic(cwd.to_path_buf()));
        }
        let run_as = RunAs { cwd, env };
        self.spawn_inner(name, ns, program, args, stdout, stderr, Some(run_as))
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn_inner(
        &mut self,
        name: &str,
        ns: &str,
        program: &str,
        args: &[&str],
        stdout: &Path,
        stderr: &Path,
        unprivileged: Option<RunAs<'_>>,
    ) -> Result<u32, Error> {
        check_interrupted()?;
        let create = |p: &Path| {
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(p)
                .map_err(Error::io("create", p))
        };
        let out = create(stdout)?;
        let err = if stdout == stderr {
            out.try_clone().map_err(Error::io("reopen", stdout))?
        } else {
            create(stderr)?
        };
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]);
        if self.detachable {
            use std::os::unix::process::CommandExt as _;
            cmd.process_group(0);
        }
        if let Some(run_as) = &unprivileged {
            let (uid, gid) = unprivileged_ids();
            cmd.args([
                "setpriv",
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
                "--no-new-privs",
                "--",
            ]);
            cmd.current_dir(run_as.cwd).env("HOME", "/nonexistent");
            for (k, v) in run_as.env {
                cmd.env(k, v);
            }
        }
        let child = cmd
            .arg(program)
            .args(args)
            // wireguard-go refuses to start without it when a kernel module exists
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| Error::CannotStart {
                program: program.to_string(),
                source,
            })?;
        let pid = child.id();
        self.pids.push(pid);
        // A name started again (the next program run on a lab `e3 grid`
        // shares, its probes): the earlier child of that name is reaped and
        // forgotten, so that waiting for the name waits for the new one.
        if let Some(k) = self.children.iter().position(|(n, _)| n == name) {
            let (_, mut old) = self.children.remove(k);
            if old.try_wait().ok().flatten().is_none() {
                let _ = old.kill();
            }
            let _ = old.wait();
        }
        self.children.push((name.to_string(), child));
        self.names.retain(|(n, _)| n != name);
        self.names.push((name.to_string(), pid));
        if unprivileged.is_none() {
            self.specs.retain(|s| s.name != name);
            self.specs.push(Spawn {
                name: name.to_string(),
                ns: ns.to_string(),
                program: program.to_string(),
                args: args.iter().map(|a| a.to_string()).collect(),
                stdout: stdout.to_path_buf(),
                stderr: stderr.to_path_buf(),
            });
        }
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

    /// Waits until the child `name` exits or `deadline` passes, or a signal
    /// arrives (then `None`; see [`check_interrupted`]).
    pub fn wait_child(
        &mut self,
        name: &str,
        deadline: Instant,
    ) -> Option<std::process::ExitStatus> {
        loop {
            if let Some(s) = self.exited(name) {
                return Some(s);
            }
            if Instant::now() >= deadline || interrupted() {
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

    /// Children started from now on get their own process group: they
    /// keep running when this process exits (`e3 lab up`).
    pub fn set_detachable(&mut self) {
        self.detachable = true;
    }

    /// Keeps the lab running past this process: the state file says so
    /// (`e3 sim --cleanup` leaves it alone), dropping the `Lab` no longer
    /// tears it down, and its children are let go (not killed).
    pub fn keep(&mut self) -> Result<(), Error> {
        self.kept = true;
        self.save()?;
        self.children.clear();
        Ok(())
    }

    /// Whether the lab outlives this process ([`Lab::keep`], [`Lab::attach`]).
    pub fn is_kept(&self) -> bool {
        self.kept
    }

    /// How the root children were started (for `e3 lab`'s record).
    pub fn spawns(&self) -> &[Spawn] {
        &self.specs
    }

    /// Sets how the root children were started (a reopened lab's, from its record).
    pub fn set_spawns(&mut self, specs: Vec<Spawn>) {
        self.specs = specs;
    }

    /// The pid of the process started under `name`, when it still runs in
    /// one of the lab's namespaces.
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        let pid = self.names.iter().find(|(n, _)| n == name)?.1;
        let ns = ns_id(Path::new(&format!("/proc/{pid}/ns/net")))?;
        self.namespaces
            .iter()
            .filter_map(|n| ns_id(&Path::new("/run/netns").join(n)))
            .any(|id| id == ns)
            .then_some(pid)
    }

    /// Stops the process started under `name`, also in a reopened lab
    /// (by its pid, only while it runs in a namespace of the lab): SIGTERM,
    /// SIGKILL after 1.5 s. `false` when it was not running.
    pub fn stop_named(&mut self, name: &str) -> bool {
        if let Some((_, c)) = self.children.iter_mut().find(|(n, _)| n == name) {
            let running = c.try_wait().ok().flatten().is_none();
            let _ = c.kill();
            let _ = c.wait();
            return running;
        }
        match self.pid_of(name) {
            Some(pid) => {
                // A reopened lab's daemon is not this process's child: its
                // parent reaps it, and `kill_all` waits for that.
                for p in kill_all(&[pid]) {
                    crate::say!("warning: {p}");
                }
                true
            }
            None => false,
        }
    }

    /// Starts the root child `name` again as it was started first; its
    /// old log is kept as `<log>.1`.
    pub fn respawn(&mut self, name: &str) -> Result<u32, Error> {
        let spec = self
            .specs
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| Error::NothingStarted {
                name: name.to_string(),
                lab: self.prefix.clone(),
            })?;
        for log in [&spec.stdout, &spec.stderr] {
            let mut old = log.clone().into_os_string();
            old.push(".1");
            let _ = fs::rename(log, old);
        }
        self.children.retain(|(n, _)| n != name);
        let args: Vec<&str> = spec.args.iter().map(String::as_str).collect();
        self.spawn(
            name,
            &spec.ns,
            &spec.program,
            &args,
            &spec.stdout,
            &spec.stderr,
        )
    }

    /// Reopens a kept lab by its prefix (`e3-XXXX`) from its state file,
    /// which must be trusted (root's, not group/other-writable) and say
    /// `kept`. The `Lab` returned stays kept: dropping it leaves the lab
    /// up; [`Lab::teardown`] removes it.
    pub fn attach(prefix: &str) -> Result<Lab, Error> {
        let state_path = Path::new(STATE_DIR).join(format!("{prefix}.state"));
        if state_prefix(&state_path).as_deref() != Some(prefix) {
            return Err(Error::NotALabPrefix(prefix.to_string()));
        }
        let text = read_trusted_state(&state_path)?.ok_or_else(|| Error::LabGone {
            prefix: prefix.to_string(),
            path: state_path.clone(),
        })?;
        let mut lab = Lab {
            state_path,
            prefix: prefix.to_string(),
            hex: prefix.trim_start_matches("e3-").to_string(),
            dir: PathBuf::new(),
            public: None,
            dirs: Vec::new(),
            namespaces: Vec::new(),
            pids: Vec::new(),
            files: Vec::new(),
            rules: Vec::new(),
            children: Vec::new(),
            torn_down: false,
            kept: true,
            detachable: true,
            names: Vec::new(),
            specs: Vec::new(),
        };
        let mut kept = false;
        for line in text.lines() {
            match line.split_once(' ').unwrap_or((line, "")) {
                ("dir", d) => lab.dirs.push(PathBuf::from(d)),
                ("ns", n) => lab.namespaces.push(n.to_string()),
                ("pid", p) => lab.pids.extend(p.parse::<u32>().ok()),
                ("name", r) => {
                    if let Some((p, n)) = r.split_once(' ') {
                        if let Ok(p) = p.parse() {
                            lab.names.push((n.to_string(), p));
                        }
                    }
                }
                ("file", f) => lab.files.push(PathBuf::from(f)),
                ("iptables", r) => {
                    let w: Vec<&str> = r.split_whitespace().collect();
                    if let [ns, table, chain, rule @ ..] = w.as_slice() {
                        lab.rules.push((
                            ns.to_string(),
                            table.to_string(),
                            chain.to_string(),
                            rule.iter().map(|x| x.to_string()).collect(),
                        ));
                    }
                }
                ("kept", _) => kept = true,
                _ => {}
            }
        }
        if !kept {
            return Err(Error::NotKept(prefix.to_string()));
        }
        let own = format!("{prefix}-lab");
        lab.dir = lab
            .dirs
            .iter()
            .find(|d| {
                d.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&own) && !n.ends_with(".programs"))
            })
            .cloned()
            .ok_or_else(|| Error::NoLabDir(prefix.to_string()))?;
        lab.public = lab
            .dirs
            .iter()
            .find(|d| d.to_str().is_some_and(|n| n.ends_with(".programs")))
            .cloned();
        Ok(lab)
    }

    /// Tears the lab down; also done on drop.
    pub fn teardown(&mut self) -> Vec<String> {
        if self.torn_down {
            return Vec::new();
        }
        self.torn_down = true;
        let signalled = interrupted();
        if signalled {
            crate::say!("\ninterrupted: tearing the lab down ({})", self.prefix);
        }
        let problems = cleanup_state(&self.state_path).unwrap_or_else(|e| vec![e.to_string()]);
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if signalled {
            crate::say!("lab removed ({})", self.prefix);
        }
        problems
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for p in self.teardown() {
            crate::say!("warning: teardown: {p}");
        }
    }
}

fn alive(pid: u32) -> bool {
    files::pid_alive(pid)
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

/// How long [`kill_all`] waits for killed processes to be reaped by their
/// parent. A kept lab's daemons outlive the `e3 lab up` that started them,
/// so their parent is init (or the nearest subreaper), which reaps when it
/// gets to it: this machine's PID 1 does so every 2 s or so.
const REAP_WAIT: Duration = Duration::from_secs(5);

/// Kills processes (TERM, then KILL after a grace period of 1.5 s) and
/// waits until each is gone from `/proc`, zombies included: reaped by its
/// parent. Children of this process are not waited for (their `Child`
/// handles reap them: [`Lab::teardown`] right after [`cleanup_state`]).
/// A process is one PID and its start time, so a PID used again meanwhile
/// is not waited for. Returns a line for each process still there.
fn kill_all(pids: &[u32]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let targets: Vec<(u32, files::ProcStat)> = pids
        .iter()
        .copied()
        .filter(|p| seen.insert(*p))
        .filter_map(|p| files::proc_stat(p).map(|s| (p, s)))
        .collect();
    let same =
        |p: u32, s: &files::ProcStat| files::proc_stat(p).is_some_and(|n| n.start == s.start);
    let running = |p: u32, s: &files::ProcStat| {
        files::proc_stat(p).is_some_and(|n| n.start == s.start && n.state != 'Z')
    };
    for (p, s) in &targets {
        if s.state != 'Z' {
            signal(*p, "-TERM");
        }
    }
    let deadline = Instant::now() + Duration::from_millis(1500);
    while targets.iter().any(|(p, s)| running(*p, s)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for (p, s) in &targets {
        if running(*p, s) {
            signal(*p, "-KILL");
        }
    }
    let me = std::process::id();
    let waited = |p: u32, s: &files::ProcStat| {
        same(p, s) && files::proc_stat(p).is_some_and(|n| n.ppid != me)
    };
    let deadline = Instant::now() + REAP_WAIT;
    while targets.iter().any(|(p, s)| waited(*p, s)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    targets
        .iter()
        .filter(|(p, s)| waited(*p, s))
        .filter_map(|(p, s)| {
            let now = files::proc_stat(*p).filter(|n| n.start == s.start)?;
            Some(if now.state == 'Z' {
                format!(
                    "process {p} exited but is still a zombie after {} s: its parent (pid {}, {}) has not reaped it",
                    REAP_WAIT.as_secs(),
                    now.ppid,
                    files::proc_name(now.ppid)
                )
            } else {
                format!("process {p} ({}) survived SIGKILL", files::proc_name(*p))
            })
        })
        .collect()
}

/// Reads a state file only if it can be trusted: a regular file (not a
/// link) of at most 1 MiB that root owns and nobody else can write.
pub fn read_trusted_state(state: &Path) -> Result<Option<String>, Error> {
    let ignored = |e: std::io::Error| Error::BadState {
        path: state.to_path_buf(),
        detail: e.to_string(),
    };
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(state)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ignored(e)),
    };
    let m = file.metadata().map_err(ignored)?;
    if !m.is_file() || m.uid() != 0 || m.mode() & 0o022 != 0 || m.len() > files::TEXT_LIMIT {
        return Err(Error::UntrustedState {
            path: state.to_path_buf(),
            uid: m.uid(),
            mode: m.mode() & 0o7777,
        });
    }
    let mut text = String::new();
    file.take(files::TEXT_LIMIT)
        .read_to_string(&mut text)
        .map_err(ignored)?;
    Ok(Some(text))
}

/// The lab prefix a state file is named after (`/run/e3/e3-XXXX.state`).
fn state_prefix(state: &Path) -> Option<String> {
    let stem = state.file_name()?.to_str()?.strip_suffix(".state")?;
    (lab_prefix(&format!("{stem}-x")) == Some(stem)).then(|| stem.to_string())
}

/// (device, inode) of a namespace file.
fn ns_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Removes everything a state file lists that belongs to its lab, then the
/// file. Idempotent. `Err` when the state file is not trusted (then nothing
/// is touched).
pub fn cleanup_state(state: &Path) -> Result<Vec<String>, Error> {
    let _guard = TEARDOWN.lock().unwrap_or_else(|e| e.into_inner());
    let mut problems = Vec::new();
    let Some(prefix) = state_prefix(state) else {
        return Err(Error::NotAStateFile(state.to_path_buf()));
    };
    let Some(text) = read_trusted_state(state)? else {
        return Ok(problems);
    };
    let own = |name: &str| {
        name.strip_prefix(&prefix)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|r| {
                !r.is_empty()
                    && r.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    let (mut namespaces, mut pids, mut files_, mut dirs, mut rules) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("ns", n)) if own(n) => namespaces.push(n.to_string()),
            Some(("pid", p)) => pids.extend(p.parse::<u32>().ok()),
            Some(("name", r)) => {
                pids.extend(r.split(' ').next().and_then(|p| p.parse::<u32>().ok()))
            }
            Some(("file", f)) => files_.push(PathBuf::from(f)),
            Some(("dir", d)) => {
                let d = PathBuf::from(d);
                let named = d
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{prefix}-lab")));
                let real_dir = fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir() && m.uid() == 0);
                if d.is_absolute() && named && (real_dir || fs::symlink_metadata(&d).is_err()) {
                    dirs.push(d);
                } else {
                    problems.push(format!(
                        "left `{}` alone: not a directory of lab {prefix}",
                        d.display()
                    ));
                }
            }
            Some(("ns", n)) => {
                problems.push(format!("left namespace `{n}` alone: not of lab {prefix}"))
            }
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
            problems.push(e.to_string());
        }
    }
    // Processes: only those running in one of the lab's namespaces.
    let ns_ids: Vec<(u64, u64)> = namespaces
        .iter()
        .filter_map(|n| ns_id(&Path::new("/run/netns").join(n)))
        .collect();
    let mut all: Vec<u32> = Vec::new();
    for p in pids {
        match ns_id(Path::new(&format!("/proc/{p}/ns/net"))) {
            Some(id) if ns_ids.contains(&id) => all.push(p),
            Some(_) => problems.push(format!(
                "left process {p} alone: it does not run in a namespace of lab {prefix}"
            )),
            None => {}
        }
    }
    for n in &namespaces {
        all.extend(ns_pids(n));
    }
    problems.extend(kill_all(&all));
    for n in namespaces.iter().rev() {
        if Path::new("/run/netns").join(n).exists() {
            // processes started meanwhile (none expected)
            problems.extend(kill_all(&ns_pids(n)));
            if let Err(e) = run("ip", &["netns", "del", n]) {
                problems.push(e.to_string());
            }
        }
    }
    let hex = prefix.trim_start_matches("e3-");
    for f in files_ {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parent = f.parent().unwrap_or(Path::new(""));
        let in_dir = dirs.iter().any(|d| parent.starts_with(d));
        let netns_etc = parent.parent() == Some(Path::new("/etc/netns"))
            && parent.file_name().and_then(|n| n.to_str()).is_some_and(own);
        let wg_socket = matches!(
            parent.to_str(),
            Some("/var/run/wireguard" | "/run/wireguard")
        ) && name.starts_with(&format!("w{hex}"))
            && name.ends_with(".sock");
        let plain = !f.components().any(|c| c == std::path::Component::ParentDir);
        if !(plain && (in_dir || netns_etc || wg_socket)) {
            problems.push(format!(
                "left `{}` alone: not a file of lab {prefix}",
                f.display()
            ));
            continue;
        }
        let _ = fs::remove_file(&f);
        // `/etc/netns/<ns>/` holds per-namespace files (`ip netns exec`
        // mounts them over `/etc`): remove the directory once it is empty.
        if netns_etc {
            let _ = fs::remove_dir(parent);
        }
    }
    for d in dirs {
        if let Err(e) = files::remove_staged(&d) {
            if e.kind() != std::io::ErrorKind::NotFound {
                problems.push(format!("cannot remove `{}`: {e}", d.display()));
            }
        }
    }
    // `e3 lab`'s record of a kept lab goes with it.
    let _ = fs::remove_file(state.with_extension("lab"));
    let _ = fs::remove_file(state);
    Ok(problems)
}

/// Whether [`install_signal_handler`] has run in this process.
static HANDLER: Mutex<bool> = Mutex::new(false);

/// On SIGINT, SIGTERM, SIGHUP or SIGPIPE: set the flag [`interrupted`]
/// reads, and nothing else (the lab's own thread notices, tears down and
/// returns [`INTERRUPTED`]). SIGPIPE too: `main` restores its default action
/// (a closed pipe ends e3 quietly), which would kill e3 with the lab up when
/// whatever reads its progress goes away (`e3 sim x 2>&1 | head`); caught,
/// the write fails instead (the lab's messages, [`crate::say!`], ignore
/// that) and the lab is torn down. Installed once per process; later calls
/// do nothing.
pub fn install_signal_handler() -> Result<(), Error> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGPIPE, SIGTERM};
    let mut installed = HANDLER.lock().unwrap_or_else(|e| e.into_inner());
    if *installed {
        return Ok(());
    }
    for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] {
        signal_hook::flag::register(sig, Arc::clone(flag())).map_err(Error::SignalHandler)?;
    }
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
    if let Err(e) = state_dir() {
        out.push(format!("warning: {}", crate::error::one_line(&e)));
        return out;
    }
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
            if lab_prefix(&format!("{name}-x")) != Some(name.as_str()) {
                continue;
            }
            let text = match read_trusted_state(&path) {
                Ok(Some(t)) => t,
                Ok(None) => continue,
                Err(e) => {
                    out.push(format!("warning: {e}"));
                    live_prefixes.push(name);
                    continue;
                }
            };
            let owner = text
                .lines()
                .find_map(|l| l.strip_prefix("owner ").and_then(|p| p.parse::<u32>().ok()));
            if text.lines().any(|l| l == "kept") {
                out.push(format!(
                    "kept {name}: it was started by `e3 lab up` (`e3 lab status` lists it, `e3 lab down` removes it)"
                ));
                live_prefixes.push(name);
                continue;
            }
            if let Some(o) = owner.filter(|o| alive(*o) && *o != std::process::id()) {
                out.push(format!("kept {name}: its lab is still running (pid {o})"));
                live_prefixes.push(name);
                continue;
            }
            match cleanup_state(&path) {
                Ok(problems) => {
                    for p in problems {
                        out.push(format!("warning: {p}"));
                    }
                    out.push(format!("removed lab {name}"));
                }
                Err(e) => out.push(format!("warning: {e}")),
            }
        }
    }
    // A state file half written when e3 was killed: `save` writes
    // `e3-XXXX.state-new` and renames it over the state file (older e3
    // wrote `e3-XXXX.tmp`). It is only a copy of what the lab was about to
    // register, so it is removed once its lab is not running; like a state
    // file it must be root's alone, or it is left alone.
    if let Ok(entries) = fs::read_dir(STATE_DIR) {
        for e in entries.flatten() {
            let path = e.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| {
                n.strip_suffix(".state-new")
                    .or_else(|| n.strip_suffix(".tmp"))
            }) else {
                continue;
            };
            if lab_prefix(&format!("{name}-x")) != Some(name)
                || live_prefixes.iter().any(|p| p == name)
                || Path::new(STATE_DIR).join(format!("{name}.state")).exists()
            {
                continue;
            }
            match read_trusted_state(&path) {
                Ok(Some(_)) => match fs::remove_file(&path) {
                    Ok(()) => out.push(format!(
                        "removed `{}` (a state file half written when its lab was killed)",
                        path.display()
                    )),
                    Err(e) => out.push(format!("warning: cannot remove `{}`: {e}", path.display())),
                },
                Ok(None) => {}
                Err(e) => out.push(format!("warning: {e}")),
            }
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
        for p in kill_all(&ns_pids(&ns)) {
            out.push(format!("warning: {p}"));
        }
        match run("ip", &["netns", "del", &ns]) {
            Ok(_) => out.push(format!("removed namespace {ns} (no state file)")),
            Err(e) => out.push(format!("warning: {e}")),
        }
    }
    out
}
