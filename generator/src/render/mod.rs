//! Renderers: each output format is one module that turns a [`Plan`] into
//! files. Rendering is deterministic (files are kept in a sorted map and
//! contain nothing that depends on time or machine) and atomic
//! ([`write_atomic`]: a temporary directory renamed into place).

pub mod hcl;
pub mod nix;
mod readme;
pub mod terraform;
pub mod vmtest;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::plan::Plan;

/// Why a render's inputs were not read or its output not written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target is or contains the working directory (`what` says which).
    #[error("refusing to render into `{}`: it {what}, which a render would replace", dir.display())]
    HoldsWorkingDir { dir: PathBuf, what: &'static str },
    /// The target is or is inside a `secrets` directory, or holds the keys.
    #[error("refusing to render into `{}`: it {what}", dir.display())]
    Secrets { dir: PathBuf, what: &'static str },
    /// The target exists and is no directory: `what` it is.
    #[error("refusing to render into `{}`: it is {what}, not a directory", dir.display())]
    NotADirectory { dir: PathBuf, what: String },
    #[error("refusing to render into `{shown}`: `{shown}` is not empty and was not rendered by e3 (it has no `{MARKER}`)", shown = .0.display())]
    NotRendered(PathBuf),
    #[error("cannot create `{}`: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot lock `{}`: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("cannot remove what an earlier render left next to `{}`: {source}", dir.display())]
    Recover { dir: PathBuf, source: io::Error },
    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// A public input (`secrets/NAME/public/…`).
    #[error("cannot read `{}`: {source}", path.display())]
    ReadInput {
        path: PathBuf,
        source: crate::files::ReadError,
    },
    #[error("cannot read `{}`: {source}", path.display())]
    ReadDir { path: PathBuf, source: io::Error },
    /// The program given by path, or one of its files.
    #[error(transparent)]
    Program(#[from] crate::files::Error),
}

/// What the refusals suggest instead.
const HINT_OTHER: &str = "render into a directory of its own, such as the default `out/NAME`";

impl crate::error::Hinted for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::HoldsWorkingDir { .. } => Some(HINT_OTHER.into()),
            Error::Secrets { .. } => Some(format!(
                "key material never enters a rendered directory, and a render never writes where keys are: {HINT_OTHER}"
            )),
            Error::NotADirectory { dir, .. } => Some(format!(
                "e3 renders into a directory and replaces only one it rendered itself: remove `{}` or choose another `-o`",
                dir.display()
            )),
            Error::NotRendered(_) => Some(
                "e3 replaces only directories it rendered itself: choose a new or empty directory with `-o`, or empty this one yourself".into(),
            ),
            _ => None,
        }
    }
}

/// Rendered files: path relative to the output directory → contents.
pub type Files = BTreeMap<PathBuf, Vec<u8>>;

/// Files from outside the plan that a render copies in: the public halves
/// of the key material `e3 keys` wrote (`secrets/NAME/public/`), keyed by
/// their path relative to that directory (never private keys: only the
/// names [`is_public_input`] accepts are read), and the program's source
/// when the scenario names a program by path.
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    pub public: BTreeMap<PathBuf, Vec<u8>>,
    /// A program given by path and its `program.files`: their places under
    /// `programs/user/` and contents ([`crate::files::program_tree`]); the
    /// program first.
    pub program: Vec<(PathBuf, Vec<u8>)>,
}

/// Whether a file under `secrets/NAME/public/` is copied into the rendered
/// `public-keys/`: `authorized_keys`, `*.pub` and `hardware/*.nix`.
pub fn is_public_input(rel: &Path) -> bool {
    let name = rel.to_string_lossy();
    name == "authorized_keys"
        || name.ends_with(".pub")
        || (name.starts_with("hardware/") && name.ends_with(".nix"))
}

/// Reads the [`Inputs`]: the public key material in `public_dir`
/// (`secrets/NAME/public`; a missing directory gives none) and the program
/// file of a scenario that names its program by path.
pub fn read_inputs(plan: &Plan, public_dir: &Path) -> Result<Inputs, Error> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) -> Result<(), Error> {
        let read_dir = |source| Error::ReadDir {
            path: dir.to_path_buf(),
            source,
        };
        for entry in std::fs::read_dir(dir).map_err(read_dir)? {
            let entry = entry.map_err(read_dir)?;
            let path = entry.path();
            let kind = entry.file_type().map_err(read_dir)?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .expect("walked from root")
                    .to_path_buf();
                if is_public_input(&rel) {
                    out.insert(rel, read_limited(&path, crate::files::TEXT_LIMIT)?);
                }
            }
        }
        Ok(())
    }
    let mut inputs = Inputs::default();
    if let Some(path) = &plan.program.path {
        inputs.program = crate::files::program_tree(
            Path::new(path),
            &plan.program.files,
            plan.program.workdir.as_deref(),
        )?;
    }
    if public_dir.is_dir() {
        walk(public_dir, public_dir, &mut inputs.public)?;
    }
    Ok(inputs)
}

/// [`crate::files::read_regular`] as an [`Error`] that names the file.
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    crate::files::read_regular(path, limit).map_err(|source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    })
}

/// Renders every output of a plan. Cannot fail on a valid plan.
pub fn render(plan: &Plan) -> Files {
    render_with(plan, &Inputs::default())
}

/// [`render`], copying `inputs` into `public-keys/`.
pub fn render_with(plan: &Plan, inputs: &Inputs) -> Files {
    let mut files = Files::new();
    files.insert("scenario.json".into(), plan.to_json().into_bytes());
    files.insert("README.md".into(), readme::render(plan).into_bytes());
    terraform::render(plan, &mut files);
    nix::render(plan, &mut files);
    vmtest::render(plan, &mut files);
    for (rel, contents) in &inputs.public {
        files.insert(Path::new(nix::PUBLIC_KEYS_DIR).join(rel), contents.clone());
    }
    for (rel, contents) in &inputs.program {
        files.insert(
            Path::new("programs")
                .join(crate::files::USER_PROGRAMS)
                .join(rel),
            contents.clone(),
        );
    }
    files
}

/// One variant of a matrix scenario to render.
pub struct VariantRender<'a> {
    pub label: &'a str,
    pub settings: &'a [(String, String)],
    pub plan: &'a Plan,
    pub inputs: &'a Inputs,
}

/// Renders every variant of a matrix scenario into `<label>/`, with an
/// index (`README.md`, `variants.json`) at the top.
pub fn render_matrix(base: &str, description: &str, variants: &[VariantRender]) -> Files {
    use std::fmt::Write as _;
    let mut files = Files::new();
    let keys: Vec<&str> = variants
        .first()
        .map(|v| v.settings.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let mut md = String::new();
    let _ = writeln!(md, "# {base}: {} variants\n", variants.len());
    if !description.is_empty() {
        let _ = writeln!(md, "{description}\n");
    }
    let _ = writeln!(
        md,
        "Rendered by e3 from the scenario's `matrix:`. Each directory is a complete,"
    );
    let _ = writeln!(
        md,
        "standalone rendering of one variant (its own README says how to test and"
    );
    let _ = writeln!(
        md,
        "deploy it). Run every variant in the local NAT lab with `e3 grid {base}`,"
    );
    let _ = writeln!(md, "or one with `e3 sim '<variant>'`.\n");
    let _ = writeln!(md, "| variant | {} | directory |", keys.join(" | "));
    let _ = writeln!(md, "|---|{}---|", "---|".repeat(keys.len()));
    let mut index = Vec::new();
    for v in variants {
        let values: Vec<&str> = v.settings.iter().map(|(_, x)| x.as_str()).collect();
        let dir = crate::matrix::dir_name(v.label);
        let _ = writeln!(
            md,
            "| `{}` | {} | [`{dir}/`]({dir}/) |",
            v.plan.name,
            values.join(" | ")
        );
        index.push(serde_json::json!({
            "name": v.plan.name,
            "label": v.label,
            "settings": v.settings.iter().map(|(k, x)| (k.clone(), serde_json::Value::from(x.as_str()))).collect::<serde_json::Map<_, _>>(),
            "directory": crate::matrix::dir_name(v.label),
        }));
        for (path, contents) in render_with(v.plan, v.inputs) {
            files.insert(
                Path::new(&crate::matrix::dir_name(v.label)).join(path),
                contents,
            );
        }
    }
    files.insert("README.md".into(), md.into_bytes());
    let json = serde_json::json!({ "scenario": base, "variants": index });
    files.insert(
        "variants.json".into(),
        (serde_json::to_string_pretty(&json).expect("json") + "\n").into_bytes(),
    );
    files
}

/// What a deployment keeps in a rendered directory that e3 does not render:
/// Terraform's local state and working directory, the addresses Terraform
/// reported, the image link. A new render carries them over (in every
/// variant directory of a matrix render too); losing the state would make
/// the next `terraform apply` create the machines a second time.
pub const KEPT: &[&str] = &[
    "hosts.json",
    "result-image",
    "terraform/.terraform",
    "terraform/.terraform.lock.hcl",
    "terraform/terraform.tfstate",
    "terraform/terraform.tfstate.backup",
];

/// The file that marks a directory as rendered by e3: only such a
/// directory is ever replaced by a render.
pub const MARKER: &str = ".e3-rendered";

fn marker_text() -> Vec<u8> {
    format!(
        "Rendered by e3 {}. The next `e3 render` replaces this whole directory\n(keeping Terraform's state, `hosts.json` and `result-image`).\n",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

/// `dir`'s parent (`.` for a bare name) and its last component.
fn parent_and_base(dir: &Path) -> (PathBuf, String) {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    (parent, base)
}

/// An absolute form of `p` with symbolic links of its existing part
/// resolved and `.`/`..` removed.
fn resolve(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out = std::fs::canonicalize(&out).unwrap_or(out);
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    // Resolve the longest existing prefix.
    let mut tail = Vec::new();
    let mut head = out.clone();
    loop {
        if let Ok(real) = std::fs::canonicalize(&head) {
            let mut r = real;
            for t in tail.iter().rev() {
                r.push(t);
            }
            return r;
        }
        match (head.file_name().map(|n| n.to_os_string()), head.parent()) {
            (Some(name), Some(parent)) => {
                tail.push(name);
                head = parent.to_path_buf();
            }
            _ => return out,
        }
    }
}

/// Whether `dir` may be (re)placed by a render, with a precise reason if
/// not: e3 replaces only a directory it rendered itself (one holding
/// [`MARKER`]) or an empty one, never a file, the working directory or one
/// of its parents, and never writes inside a `secrets` directory (nor into
/// `secrets`, the key material of this scenario).
pub fn check_target(dir: &Path, secrets: Option<&Path>) -> Result<(), Error> {
    let abs = resolve(dir);
    let cwd = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .unwrap_or_default();
    if cwd.starts_with(&abs) {
        let what = if cwd == abs {
            "is the working directory"
        } else {
            "contains the working directory"
        };
        return Err(Error::HoldsWorkingDir {
            dir: dir.to_path_buf(),
            what,
        });
    }
    // Below the working directory only the part inside it counts (a project
    // may itself live in a directory named `secrets`).
    let judged = abs.strip_prefix(&cwd).unwrap_or(&abs);
    let in_secrets = judged.components().any(|c| c.as_os_str() == "secrets")
        || secrets
            .map(resolve)
            .is_some_and(|s| abs.starts_with(&s) || s.starts_with(&abs));
    if in_secrets {
        let what = if abs.file_name().is_some_and(|n| n == "secrets") {
            "is a `secrets` directory"
        } else {
            "is inside a `secrets` directory or holds the key material"
        };
        return Err(Error::Secrets {
            dir: dir.to_path_buf(),
            what,
        });
    }
    // The name itself, before symbolic links are resolved: a link is
    // neither replaced nor followed.
    let meta = std::fs::symlink_metadata(dir).or_else(|_| std::fs::symlink_metadata(&abs));
    match meta {
        Err(_) => Ok(()),
        Ok(m) if !m.is_dir() => Err(Error::NotADirectory {
            dir: dir.to_path_buf(),
            what: if m.file_type().is_symlink() {
                "a symbolic link".to_string()
            } else if m.is_file() {
                "a file".to_string()
            } else {
                crate::files::kind(m.file_type()).to_string()
            },
        }),
        Ok(_) => {
            let marked = std::fs::symlink_metadata(abs.join(MARKER)).is_ok_and(|m| m.is_file());
            let empty = std::fs::read_dir(&abs)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if marked || empty {
                Ok(())
            } else {
                Err(Error::NotRendered(dir.to_path_buf()))
            }
        }
    }
}

/// Renders into `dir` as `e3 render` does: [`check_target`], then
/// [`write_atomic`], under a lock on `dir` (concurrent renders wait for
/// each other).
pub fn write_output(dir: &Path, files: &Files, secrets: Option<&Path>) -> Result<(), Error> {
    let (parent, base) = parent_and_base(dir);
    crate::files::create_dir_all(&parent, 0o755).map_err(|source| Error::Create {
        path: parent.clone(),
        source,
    })?;
    let _lock = crate::files::lock(&parent.join(format!(".{base}.e3-lock"))).map_err(|source| {
        Error::Lock {
            path: dir.to_path_buf(),
            source,
        }
    })?;
    recover_stale(dir).map_err(|source| Error::Recover {
        dir: dir.to_path_buf(),
        source,
    })?;
    check_target(dir, secrets)?;
    write_locked(dir, files).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// What a killed render left next to `dir`: its staging directories
/// (`.<dir>.e3-tmp-PID`, `.<dir>.e3-old-PID` of processes that are gone).
/// An old output that never got replaced (killed between the two renames)
/// is put back first.
fn recover_stale(dir: &Path) -> io::Result<()> {
    let (parent, base) = parent_and_base(dir);
    for (path, infix) in crate::files::stale_staging(&parent, &base, &[".e3-tmp-", ".e3-old-"]) {
        if infix == ".e3-old-" && std::fs::symlink_metadata(dir).is_err() {
            std::fs::rename(&path, dir)?;
            continue;
        }
        crate::files::remove_staged(&path)?;
    }
    Ok(())
}

/// Writes `files` as the complete contents of `dir`: into a temporary
/// sibling directory first, which then replaces `dir`. What [`KEPT`] lists
/// moves from the old `dir` into the new one. A failure leaves `dir` as it
/// was. Takes the same lock as [`write_output`] but does not judge `dir`.
pub fn write_atomic(dir: &Path, files: &Files) -> io::Result<()> {
    let (parent, base) = parent_and_base(dir);
    crate::files::create_dir_all(&parent, 0o755)?;
    let _lock = crate::files::lock(&parent.join(format!(".{base}.e3-lock")))?;
    recover_stale(dir)?;
    write_locked(dir, files)
}

fn write_locked(dir: &Path, files: &Files) -> io::Result<()> {
    let (parent, base) = parent_and_base(dir);
    let tmp = parent.join(format!(".{base}.e3-tmp-{}", std::process::id()));
    let old = parent.join(format!(".{base}.e3-old-{}", std::process::id()));
    // (from, to) of what was carried over, to undo on failure.
    let mut carried: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| {
        crate::files::remove_staged(&tmp)?;
        crate::files::remove_staged(&old)?;
        std::fs::create_dir(&tmp)?;
        std::fs::write(tmp.join(MARKER), marker_text())?;
        for (path, contents) in files {
            let target = tmp.join(path);
            if let Some(p) = target.parent() {
                std::fs::create_dir_all(p)?;
            }
            std::fs::write(&target, contents)?;
        }
        // The rendered directory itself, and each variant directory.
        let mut roots = vec![PathBuf::new()];
        roots.extend(
            files
                .keys()
                .filter(|p| p.file_name().is_some_and(|n| n == "scenario.json"))
                .filter_map(|p| p.parent())
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf),
        );
        for root in &roots {
            for kept in KEPT {
                let from = dir.join(root).join(kept);
                let to = tmp.join(root).join(kept);
                if std::fs::symlink_metadata(&from).is_ok()
                    && std::fs::symlink_metadata(&to).is_err()
                {
                    if let Some(p) = to.parent() {
                        std::fs::create_dir_all(p)?;
                    }
                    std::fs::rename(&from, &to)?;
                    carried.push((from, to));
                }
            }
        }
        if dir.exists() {
            std::fs::rename(dir, &old)?;
        }
        if let Err(e) = std::fs::rename(&tmp, dir) {
            // Put the previous output back.
            if old.exists() {
                let _ = std::fs::rename(&old, dir);
            }
            return Err(e);
        }
        carried.clear();
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        Ok(())
    })();
    if result.is_err() {
        for (from, to) in carried.iter().rev() {
            let _ = std::fs::rename(to, from);
        }
        if tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    result
}
