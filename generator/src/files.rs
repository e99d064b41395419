//! Careful file system access, shared by the loader, the renderers, `e3
//! keys` and the lab: reads of regular files only, bounded in size and
//! never blocking (a FIFO or a device is refused before it is opened);
//! directories and files created with explicit modes (never trusting the
//! umask); exclusive locks (`flock`) that serialise runs on one target; the
//! staging directories of dead processes.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};

/// Largest scenario file e3 reads (and any other small text input).
pub const TEXT_LIMIT: u64 = 1 << 20;
/// Largest program file a scenario may name.
pub const PROGRAM_LIMIT: u64 = 8 << 20;

/// Why a file was not read. Its `Display` is [`ReadError::reason`].
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// Not a regular file: what it is (`a FIFO`, `a directory`, …).
    NotRegular(&'static str),
    /// Larger than the limit (in bytes).
    TooLarge {
        limit: u64,
    },
}

impl ReadError {
    /// Lower-case reason without a trailing period, for messages.
    pub fn reason(&self) -> String {
        match self {
            ReadError::Io(e) => io_reason(e),
            ReadError::NotRegular(what) => format!("it is {what}, not a regular file"),
            ReadError::TooLarge { limit } => format!("it is larger than {}", size(*limit)),
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason())
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a program's files ([`program_tree`]) were not read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: ReadError },
    #[error("cannot read `{}`: {source}", path.display())]
    ReadDir { path: PathBuf, source: io::Error },
}

impl crate::error::Hinted for Error {}

/// `1 MiB`, `8 MiB`, `512 bytes`.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// A short, lower-case form of an IO error: "no such file", "permission
/// denied", "is a directory".
pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            // "Is a directory (os error 21)" -> "is a directory"
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                .unwrap_or(s)
        }
    }
}

/// What a file type is, as a noun phrase.
pub fn kind(ft: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if ft.is_file() {
        "a regular file"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Reads a regular file of at most `limit` bytes. The type is checked
/// before the file is opened (a FIFO would block, a device never end), the
/// open does not block (`O_NONBLOCK`), and the opened file is checked
/// again; files whose size the kernel does not report (`/proc`) are read
/// only up to the limit.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let meta = fs::metadata(path).map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// Creates one directory with exactly `mode` (the umask cannot widen or
/// narrow it). Fails if it exists.
/// Where a program given by path travels: its file and every file of its
/// `program.files` (directories walked, in order), each with its place
/// relative to `workdir` (the plan's common directory; the program's own
/// directory when it has no files), read (bounded) now. The program's own
/// place comes first.
pub fn program_tree(
    program: &Path,
    files: &[String],
    workdir: Option<&str>,
) -> Result<Vec<(PathBuf, Vec<u8>)>, Error> {
    let rel = |p: &Path| program_place(program, p, workdir);
    let read = |p: &Path| {
        read_regular(p, PROGRAM_LIMIT).map_err(|source| Error::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(p)
                .map_err(|source| Error::ReadDir {
                    path: p.to_path_buf(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            entries.iter().try_for_each(|e| walk(e, out))
        } else {
            out.push(p.to_path_buf());
            Ok(())
        }
    }
    let mut paths = Vec::new();
    for f in files {
        walk(Path::new(f), &mut paths)?;
    }
    let mut out = vec![(rel(program), read(program)?)];
    for p in paths {
        let r = rel(&p);
        if !out.iter().any(|(q, _)| *q == r) {
            out.push((r, read(&p)?));
        }
    }
    Ok(out)
}

/// Where `file` (the program or one of its files) goes below `user/`: its
/// path relative to `workdir`, or to the program's directory without one.
pub fn program_place(program: &Path, file: &Path, workdir: Option<&str>) -> PathBuf {
    let base = workdir
        .map(PathBuf::from)
        .or_else(|| program.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    file.strip_prefix(&base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| file.file_name().map(PathBuf::from).unwrap_or_default())
}

/// The directory below `programs/` where a program given by path and its
/// files go, in the lab and in a rendered directory alike.
pub const USER_PROGRAMS: &str = "user";

pub fn create_dir(path: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new().mode(mode).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Creates `path` and its missing ancestors, each new one with exactly
/// `mode`; existing directories keep theirs.
pub fn create_dir_all(path: &Path, mode: u32) -> io::Result<()> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        create_dir_all(parent, mode)?;
    }
    match create_dir(path, mode) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        r => r,
    }
}

/// Writes a new file (replacing none) with exactly `mode`.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(contents)
}

/// An exclusive lock on a lock file, held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: fs::File,
    pub path: PathBuf,
}

/// Takes an exclusive `flock` on `path` (created 0600 if missing), waiting
/// for another holder to finish.
pub fn lock(path: &Path) -> io::Result<Lock> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(Lock {
        _file: file,
        path: path.to_path_buf(),
    })
}

/// What `/proc/PID/stat` says of a process: its state (`R`, `S`, `Z` for a
/// zombie, …), its parent and its start time (clock ticks after boot: with
/// the PID, it names one process, even after the PID is used again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub ppid: u32,
    pub start: u64,
}

/// `/proc/PID/stat` parsed (pure): the fields after the parenthesised
/// command name (which may contain spaces and parentheses).
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let (_, rest) = text.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        // field 22 of proc(5); `rest` starts at field 3
        start: f.get(19)?.parse().ok()?,
    })
}

/// The process with this PID now, zombies included; `None` once it is
/// gone (reaped by its parent).
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    parse_proc_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The command name of a process (`/proc/PID/comm`), for messages.
pub fn proc_name(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Whether a process with this PID exists (zombies count as gone).
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // state is the field after the parenthesised command name
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Staging entries `.<base><infix><PID>` in `parent` whose process is gone,
/// for the given infixes (`.e3-tmp-`, `.e3-old-`): (path, infix).
pub fn stale_staging(parent: &Path, base: &str, infixes: &[&str]) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(parent) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix('.').and_then(|n| n.strip_prefix(base)) else {
            continue;
        };
        for infix in infixes {
            if let Some(pid) = rest.strip_prefix(infix).and_then(|p| p.parse::<u32>().ok()) {
                if pid != std::process::id() && !pid_alive(pid) {
                    out.push((e.path(), infix.to_string()));
                }
            }
        }
    }
    out.sort();
    out
}

/// Removes a directory tree that e3 staged: only a real directory (a
/// symbolic link in its place is removed as a link, never followed).
pub fn remove_staged(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sixteen random hex digits from the kernel.
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    let ok = fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        // getrandom(2) directly, should /dev/urandom be missing.
        // SAFETY: writes at most b.len() bytes into b.
        unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifos_devices_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f.yaml");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read_regular(&fifo, TEXT_LIMIT),
            Err(ReadError::NotRegular("a FIFO"))
        ));
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), TEXT_LIMIT),
            Err(ReadError::NotRegular("a character device"))
        ));
        let big = dir.path().join("big");
        fs::File::create(&big)
            .unwrap()
            .set_len(TEXT_LIMIT + 1)
            .unwrap();
        assert!(matches!(
            read_regular(&big, TEXT_LIMIT),
            Err(ReadError::TooLarge { .. })
        ));
        // /proc files report size 0: the read itself is bounded.
        assert!(read_regular(Path::new("/proc/self/status"), 16).is_err());
    }

    #[test]
    fn modes_ignore_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: umask is process-wide but only widens what this test creates.
        let old = unsafe { libc::umask(0) };
        let d = dir.path().join("a/b");
        create_dir_all(&d, 0o700).unwrap();
        write_new(&d.join("f"), b"x", 0o600).unwrap();
        unsafe { libc::umask(old) };
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&d.join("f")), 0o600);
    }

    #[test]
    fn proc_stat_is_read_after_the_command_name() {
        // a zombie nebula whose parent is init; a name with `) ` in it
        let z = "4242 (nebula) Z 1 4242 4242 0 -1 4227140 312 0 0 0 3 5 0 0 20 0 1 0 987654 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_proc_stat(z),
            Some(ProcStat {
                state: 'Z',
                ppid: 1,
                start: 987654
            })
        );
        let odd = "7 (a) S (b) S 3 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        assert_eq!(
            parse_proc_stat(odd).map(|s| (s.state, s.ppid, s.start)),
            Some(('S', 3, 55))
        );
        assert_eq!(parse_proc_stat("12 (short) S 1"), None);
        let me = proc_stat(std::process::id()).expect("this process");
        assert_ne!(me.state, 'Z');
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
    }
}
