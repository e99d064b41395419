//! Source files and positions. Every value loaded from a scenario remembers
//! where it came from, so a diagnostic can point at `file:line:col`.

use std::path::{Path, PathBuf};

/// Index of a file in [`Sources`].
pub type FileId = usize;

/// A place in a source file. Lines and columns are 1-based and count
/// characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: FileId,
    /// Character offset, used for ordering.
    pub offset: usize,
    pub line: usize,
    pub col: usize,
    /// Length in characters of the marked text (at least 1 when shown).
    pub len: usize,
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user should see it (relative when given relative).
    pub display: String,
    /// The path used to read the file and resolve relative references.
    /// `None` for bundled scenarios, which live inside the binary.
    pub path: Option<PathBuf>,
    pub text: String,
    /// Byte range of each line, without its line break. Breaks are `\n`,
    /// `\r\n` and a lone `\r`, as in YAML, so line numbers agree with the
    /// parser's.
    lines: Vec<(usize, usize)>,
}

fn line_ranges(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push((start, i));
                start = i + 1;
            }
            b'\r' => {
                lines.push((start, i));
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < bytes.len() {
        lines.push((start, bytes.len()));
    }
    lines
}

/// All files read while loading one scenario (a file and what it extends).
#[derive(Debug, Default, Clone)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, display: String, path: Option<PathBuf>, text: String) -> FileId {
        let lines = line_ranges(&text);
        self.files.push(SourceFile {
            display,
            path,
            text,
            lines,
        });
        self.files.len() - 1
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    pub fn path(&self, id: FileId) -> &str {
        &self.files[id].display
    }

    pub fn dir_of(&self, id: FileId) -> Option<&Path> {
        self.files[id].path.as_deref().and_then(Path::parent)
    }

    pub fn line_col(&self, loc: &Location) -> (usize, usize) {
        (loc.line, loc.col)
    }

    /// `file:line:col`.
    pub fn position(&self, loc: &Location) -> String {
        format!("{}:{}:{}", self.path(loc.file), loc.line, loc.col)
    }

    pub fn line_text(&self, file: FileId, line: usize) -> Option<&str> {
        let f = self.files.get(file)?;
        let &(start, end) = f.lines.get(line.checked_sub(1)?)?;
        f.text.get(start..end)
    }
}

/// A display form for a path: as given, with `./` removed.
pub fn display_path(path: &Path) -> String {
    let s = path.display().to_string();
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_break_like_yaml() {
        let mut s = Sources::default();
        let f = s.add("x".into(), None, "a\nb\r\nc\rd".into());
        let lines: Vec<_> = (1..=5).map(|l| s.line_text(f, l)).collect();
        assert_eq!(lines, [Some("a"), Some("b"), Some("c"), Some("d"), None]);
    }
}
