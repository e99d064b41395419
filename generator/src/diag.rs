//! Diagnostics: a closed set of kinds, each with a stable code, rendered the
//! way rustc and uv do (`error[E0xx]: message`, location, source line, caret,
//! hint, notes). Readable without colour; colour is never emitted.

use std::fmt::Write as _;

use crate::source::{Location, Sources};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($( $variant:ident = $code:literal, $name:literal, $sev:ident; )*) => {
        /// Every kind of diagnostic e3 reports. Codes are stable: never reuse
        /// or renumber one; add new kinds at the end of their block.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $( $variant, )* }

        impl Code {
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];
            /// The stable code, e.g. `E020`.
            pub fn code(self) -> &'static str { match self { $( Code::$variant => $code, )* } }
            /// A short kebab-case name, e.g. `unknown-key`.
            pub fn name(self) -> &'static str { match self { $( Code::$variant => $name, )* } }
            pub fn severity(self) -> Severity { match self { $( Code::$variant => Severity::$sev, )* } }
        }
    };
}

codes! {
    // Reading the file.
    Io = "E001", "io", Error;
    NotUtf8 = "E002", "not-utf8", Error;
    Empty = "E003", "empty", Error;
    NotRegularFile = "E004", "not-a-regular-file", Error;
    FileTooLarge = "E005", "file-too-large", Error;
    NotAScenario = "E006", "not-a-scenario", Error;
    // YAML.
    YamlSyntax = "E010", "yaml-syntax", Error;
    TabIndent = "E011", "tab-indentation", Error;
    DuplicateKey = "E012", "duplicate-key", Error;
    MultipleDocuments = "E013", "multiple-documents", Error;
    UnsupportedYaml = "E014", "unsupported-yaml", Error;
    // Shape of the scenario.
    WrongType = "E020", "wrong-type", Error;
    UnknownKey = "E021", "unknown-key", Error;
    MissingField = "E022", "missing-field", Error;
    InvalidValue = "E023", "invalid-value", Error;
    // Catalogue look-ups.
    UnknownBackend = "E030", "unknown-backend", Error;
    UnknownRelay = "E031", "unknown-relay", Error;
    UnknownPlatform = "E032", "unknown-platform", Error;
    UnknownRegion = "E033", "unknown-region", Error;
    RegionNotOffered = "E034", "region-not-offered", Error;
    UnknownNat = "E035", "unknown-nat", Error;
    MissingRegion = "E036", "missing-region", Error;
    UnknownSize = "E037", "unknown-size", Error;
    // Parties.
    DuplicateParty = "E040", "duplicate-party", Error;
    InvalidPartyName = "E041", "invalid-party-name", Error;
    TooFewParties = "E042", "too-few-parties", Error;
    CountOutOfRange = "E043", "count-out-of-range", Error;
    AddressRequired = "E044", "address-required", Error;
    InvalidAddress = "E045", "invalid-address", Error;
    AddressWithCount = "E046", "address-with-count", Error;
    SiteNatMismatch = "E047", "site-nat-mismatch", Error;
    SiteWithoutNat = "E048", "site-without-nat", Error;
    HostNameCollision = "E049", "host-name-collision", Error;
    OneToOneSiteShared = "E050", "one2one-site-shared", Error;
    // Simulation.
    LossOutOfRange = "E060", "loss-out-of-range", Error;
    InvalidLatency = "E061", "invalid-latency", Error;
    InvalidFault = "E062", "invalid-fault", Error;
    // Program.
    UnknownProgram = "E070", "unknown-program", Error;
    PathOutsideScenario = "E071", "path-outside-scenario", Error;
    ProgramShadowsHelper = "E072", "program-shadows-helper", Error;
    // extends.
    ExtendsNotFound = "E080", "extends-not-found", Error;
    ExtendsCycle = "E081", "extends-cycle", Error;
    ExtendsTooDeep = "E082", "extends-too-deep", Error;
    // Plan.
    AddressPlanOverflow = "E090", "address-plan-overflow", Error;
    // Matrix (`matrix:`, variants).
    UnknownVariant = "E095", "unknown-variant", Error;
    MatrixTooLarge = "E096", "matrix-too-large", Error;
    MatrixUnknownParty = "E097", "matrix-unknown-party", Error;
    MatrixConflict = "E098", "matrix-conflict", Error;
    DuplicateMatrixValue = "E099", "duplicate-matrix-value", Error;
    // Warnings.
    DirectAcrossNat = "W101", "direct-across-nat", Warning;
    RelayIgnored = "W102", "relay-ignored", Warning;
    SizeIgnored = "W103", "size-ignored", Warning;
    MeshAcrossNat = "W104", "mesh-across-nat", Warning;
    FaultAfterProgram = "W105", "fault-after-program", Warning;
}

/// A secondary message, optionally pointing at another place.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub message: String,
    pub location: Option<Location>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// Where the problem is. `None` only for problems of a whole file that
    /// has no text to point into (unreadable, not UTF-8).
    pub location: Option<Location>,
    /// Label under the caret.
    pub label: Option<String>,
    pub hint: Option<String>,
    pub notes: Vec<Note>,
    /// The file a location-less diagnostic is about.
    pub file: Option<String>,
    /// Whether the source line is shown under the location (not for a file
    /// that may be anything but a scenario, such as a key).
    pub show_source: bool,
}

/// Longest quoted literal a diagnostic shows whole; a longer one (a value
/// from the file, which may be anything, even a key) is cut to its first
/// [`QUOTE_PREFIX`] characters.
pub const QUOTE_LIMIT: usize = 72;
/// What is shown of a longer literal.
pub const QUOTE_PREFIX: usize = 16;
/// Longest source line shown; longer lines are shown around the caret.
pub const LINE_LIMIT: usize = 120;

/// Bounds every `quoted` literal in a message and the message itself, so
/// that no diagnostic repeats a long value: "`aaaaaaaaaaaaaaaa…` (10000000
/// characters)".
pub fn bound(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else {
            rest = after;
            break;
        };
        let inner = &after[..close];
        let n = inner.chars().count();
        if n > QUOTE_LIMIT {
            out.extend(inner.chars().take(QUOTE_PREFIX));
            out.push_str(&format!("…` ({n} characters)"));
        } else {
            out.push_str(inner);
            out.push('`');
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    // An unquoted run of text cannot be long either.
    if out.chars().count() > 4 * LINE_LIMIT {
        let cut: String = out.chars().take(4 * LINE_LIMIT).collect();
        return cut + "…";
    }
    out
}

impl Diagnostic {
    pub fn new(code: Code, location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: bound(&message.into()),
            location: Some(location),
            label: None,
            hint: None,
            notes: Vec::new(),
            file: None,
            show_source: true,
        }
    }

    pub fn for_file(code: Code, file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: bound(&message.into()),
            location: None,
            label: None,
            hint: None,
            notes: Vec::new(),
            file: Some(file.into()),
            show_source: true,
        }
    }

    /// Shows the location but not the source line there.
    pub fn without_source(mut self) -> Self {
        self.show_source = false;
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(bound(&label.into()));
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(bound(&hint.into()));
        self
    }

    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint.map(|h| bound(&h)).or(self.hint);
        self
    }

    pub fn note(mut self, message: impl Into<String>, location: Option<Location>) -> Self {
        self.notes.push(Note {
            message: bound(&message.into()),
            location,
        });
        self
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }

    /// `file:line:col` of the primary location, or the file alone.
    pub fn position(&self, sources: &Sources) -> String {
        match &self.location {
            Some(loc) => sources.position(loc),
            None => self.file.clone().unwrap_or_default(),
        }
    }

    /// Renders the diagnostic as plain text, ending in a newline, laid out
    /// like rustc's (`-->` location, numbered source line, caret, `= hint`).
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = String::new();
        let kind = match self.severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{kind}[{}]: {}", self.code.code(), self.message);
        let gutter = self.location.map(|l| l.line.to_string().len()).unwrap_or(1);
        match &self.location {
            Some(loc) if self.show_source => {
                render_snippet(&mut out, sources, loc, self.label.as_deref(), gutter)
            }
            Some(loc) => {
                let _ = writeln!(out, "{}--> {}", " ".repeat(gutter), sources.position(loc));
            }
            None => {
                let _ = writeln!(
                    out,
                    "{}--> {}",
                    " ".repeat(gutter),
                    self.file.as_deref().unwrap_or("<input>")
                );
            }
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "{}= hint: {hint}", " ".repeat(gutter + 1));
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {}", note.message);
            if let Some(loc) = &note.location {
                render_snippet(&mut out, sources, loc, None, loc.line.to_string().len());
            }
        }
        out
    }

    /// One line: `file:line:col: error[E020]: message`.
    pub fn render_short(&self, sources: &Sources) -> String {
        let kind = match self.severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!(
            "{}: {kind}[{}]: {}",
            self.position(sources),
            self.code.code(),
            self.message
        )
    }

    pub fn to_json(&self, sources: &Sources) -> serde_json::Value {
        let loc = self.location.as_ref().map(|l| {
            let (line, col) = sources.line_col(l);
            serde_json::json!({ "file": sources.path(l.file), "line": line, "column": col })
        });
        serde_json::json!({
            "severity": match self.severity() { Severity::Error => "error", Severity::Warning => "warning" },
            "code": self.code.code(),
            "name": self.code.name(),
            "message": self.message,
            "location": loc,
            "file": self.file,
            "hint": self.hint,
            "notes": self.notes.iter().map(|n| serde_json::json!({
                "message": n.message,
                "location": n.location.as_ref().map(|l| sources.position(l)),
            })).collect::<Vec<_>>(),
        })
    }
}

fn render_snippet(
    out: &mut String,
    sources: &Sources,
    loc: &Location,
    label: Option<&str>,
    gutter: usize,
) {
    let (line, col) = sources.line_col(loc);
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, "{pad}--> {}", sources.position(loc));
    let Some(text) = sources.line_text(loc.file, line) else {
        return;
    };
    // Tabs would misalign the caret; show them as single spaces.
    let chars: Vec<char> = text
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    // A long line is shown around the caret only, marked with `…`.
    let (start, end) = if chars.len() <= LINE_LIMIT {
        (0, chars.len())
    } else {
        let start = (col - 1).saturating_sub(LINE_LIMIT / 3).min(chars.len());
        (start, (start + LINE_LIMIT).min(chars.len()))
    };
    let mut shown: String = chars[start..end].iter().collect();
    let mut caret_col = col - 1 - start.min(col - 1);
    if start > 0 {
        shown.insert(0, '…');
        caret_col += 1;
    }
    if end < chars.len() {
        shown.push('…');
    }
    let width = loc
        .len
        .max(1)
        .min(shown.chars().count().saturating_sub(caret_col).max(1))
        .min(LINE_LIMIT);
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{line} | {shown}");
    let caret = format!("{}{}", " ".repeat(caret_col), "^".repeat(width));
    match label {
        Some(label) => {
            let _ = writeln!(out, "{pad} | {caret} {label}");
        }
        None => {
            let _ = writeln!(out, "{pad} | {caret}");
        }
    }
}

/// Diagnostics collected while checking one scenario.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }
    /// Sorts by file, position, then code, so output order is stable.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            let ka = a.location.map(|l| (l.file, l.offset));
            let kb = b.location.map(|l| (l.file, l.offset));
            ka.cmp(&kb)
                .then(a.code.cmp(&b.code))
                .then(a.message.cmp(&b.message))
        });
        self.items.dedup();
    }
}

/// The closest candidate to `input` by edit distance, if close enough to be
/// a plausible typo: "did you mean `nyc3`?".
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let input_lower = input.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&input_lower, &c.to_ascii_lowercase());
        if score > 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

/// "expected one of `a`, `b`, `c`".
pub fn one_of<'a>(candidates: impl IntoIterator<Item = &'a str>) -> String {
    let list: Vec<String> = candidates.into_iter().map(|c| format!("`{c}`")).collect();
    format!("expected one of {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            let prefix = if c.severity() == Severity::Error {
                'E'
            } else {
                'W'
            };
            assert!(
                c.code().starts_with(prefix),
                "{} has the wrong prefix",
                c.code()
            );
        }
    }

    #[test]
    fn long_values_are_never_repeated() {
        let long = "k".repeat(10_000_000);
        let d = bound(&format!("invalid value `{long}` here"));
        assert!(d.len() < 100, "{d}");
        assert!(d.starts_with("invalid value `kkkkkkkkkkkkkkkk…` (10000000 characters) here"));
        let mut s = Sources::default();
        let f = s.add("x.yaml".into(), None, format!("name: {long}\n"));
        let loc = Location {
            file: f,
            offset: 6,
            line: 1,
            col: 7,
            len: long.len(),
        };
        let text = Diagnostic::new(Code::InvalidValue, loc, "bad").render(&s);
        assert!(text.len() < 600, "{} bytes", text.len());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("nyc9", ["nyc1", "ams3", "sfo3"]).as_deref(),
            Some("did you mean `nyc1`?")
        );
        assert_eq!(did_you_mean("zzzzzz", ["nyc1", "ams3"]), None);
        assert_eq!(
            did_you_mean("Nebula", ["nebula", "tinc"]).as_deref(),
            Some("did you mean `nebula`?")
        );
    }
}
