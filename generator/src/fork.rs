//! `e3 new`: the text of a new scenario file started from an existing one,
//! either a fork (`extends:` the base, overriding nothing yet) or a
//! standalone copy under the new name.

use std::path::Path;

use crate::load::ScenarioRef;

/// A fork of `from` named `name`: every key not set in it is inherited
/// from `extends` (the base as the new file names it, see [`extends_value`]).
pub fn fork(name: &str, from: &str, extends: &str) -> String {
    format!(
        "# A fork of `{from}`: every key not set here is inherited from it.\n\
         # `e3 show {from}` shows what it sets; override any key below\n\
         # (mappings merge key by key, lists such as `parties` replace).\n\
         name: {name}\n\
         extends: {extends}\n\
         description: Fork of {from}.\n"
    )
}

/// A standalone copy of a scenario's text, renamed to `name`: its own
/// `name:` lines are dropped and `name: NAME` comes first.
pub fn copy(original: &str, name: &str) -> String {
    let mut lines: Vec<String> = original
        .lines()
        .filter(|l| !l.starts_with("name:"))
        .map(str::to_string)
        .collect();
    lines.insert(0, format!("name: {name}"));
    lines.join("\n") + "\n"
}

/// What the new file in `dir` writes after `extends:` to name `base`: a
/// bundled name as it is, a file relative to `dir` when it lies inside
/// it, else absolute.
pub fn extends_value(base: &ScenarioRef, dir: &Path) -> String {
    match base {
        ScenarioRef::Bundled(n) => n.clone(),
        ScenarioRef::File(p) => relative_to(p, dir),
    }
}

/// `p` relative to `dir` when it lies inside it (after resolving both),
/// else `p` resolved.
fn relative_to(p: &Path, dir: &Path) -> String {
    let abs = |x: &Path| std::fs::canonicalize(x).unwrap_or_else(|_| x.to_path_buf());
    let (p, dir) = (abs(p), abs(dir));
    match p.strip_prefix(&dir) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => p.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fork_extends_its_base() {
        let text = fork("my-exp", "nebula-nat", "nebula-nat");
        assert!(text.starts_with("# A fork of `nebula-nat`"));
        assert!(
            text.ends_with("name: my-exp\nextends: nebula-nat\ndescription: Fork of nebula-nat.\n")
        );
    }

    #[test]
    fn a_copy_is_renamed() {
        let text = copy("# c\nname: old\nbackend: x\n", "new");
        assert_eq!(text, "name: new\n# c\nbackend: x\n");
    }

    #[test]
    fn extends_names_files_relative_to_the_new_file() {
        let dir = std::env::temp_dir().join(format!("e3-fork-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let base = dir.join("sub/base.yaml");
        std::fs::write(&base, "name: base\n").unwrap();
        let file = ScenarioRef::File(base.clone());
        assert_eq!(extends_value(&file, &dir), "sub/base.yaml");
        let elsewhere = dir.join("sub/other");
        std::fs::create_dir_all(&elsewhere).unwrap();
        assert_eq!(
            extends_value(&file, &elsewhere),
            std::fs::canonicalize(&base).unwrap().display().to_string()
        );
        assert_eq!(
            extends_value(&ScenarioRef::Bundled("nebula-nat".into()), &dir),
            "nebula-nat"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
