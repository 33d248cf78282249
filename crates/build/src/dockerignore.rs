//! `.dockerignore`: docker's pattern rules and the build-context walk.
//!
//! The rules are moby/patternmatcher's (what `docker build` and BuildKit
//! use), not gitignore's:
//!
//! - lines starting with `#` are comments; each pattern is trimmed,
//!   cleaned like Go's `filepath.Clean` and a leading `/` is dropped, so
//!   every pattern is relative to the context root (`/a/../b` is `b`);
//! - `*` and `?` never match `/`; `[a-c]`/`[^a-c]` are classes; `\` escapes;
//!   `**` matches any number of directories (zero included);
//! - a pattern matching a directory matches everything below it;
//! - `!pattern` re-includes; the last matching pattern wins.
//!
//! Why not `globset`, the crate chosen for this: its `**` is gitignore's,
//! which only has meaning as a whole path component, while patternmatcher
//! gives `**` meaning anywhere (`a**/*.txt` matches `a/x/file.txt`, `foo**`
//! is a plain prefix match on `foo`, `**file` matches `dir/file`), and it
//! has no notion of "this pattern or one of the path's parent directories
//! matches", which docker's exceptions depend on. Translating every pattern
//! into a globset glob would change what these patterns mean, so this module
//! ports patternmatcher's compiled forms (exact, prefix, suffix and a small
//! regular language) and matches them itself.

use std::path::{Path, PathBuf};

use crate::Error;

/// Read a `.dockerignore` into patterns (moby/patternmatcher `ignorefile.ReadAll`).
pub fn read_dockerignore(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut pat = String::new();
        if !p.is_empty() {
            pat = clean(p);
            if pat.len() > 1 && pat.starts_with('/') {
                pat.remove(0);
            }
        }
        out.push(if invert { format!("!{pat}") } else { pat });
    }
    out
}

/// Go's `path.Clean`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `[^/]*`
    StarSeg,
    /// `[^/]`
    AnySeg,
    /// `(.*/)?`
    OptDirs,
    /// `.*`
    Any,
    /// `[...]`
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchType {
    Exact,
    Prefix,
    Suffix,
    Regexp,
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    dirs: Vec<String>,
    kind: MatchType,
    toks: Vec<Tok>,
}

impl Pattern {
    /// The pattern as cleaned, without its `!`.
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// Whether this is an exception (`!pattern`).
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn compile(cleaned: &str, exclusion: bool) -> Result<Pattern, String> {
        let chars: Vec<char> = cleaned.chars().collect();
        let mut toks = Vec::new();
        let mut kind = MatchType::Exact;
        let mut i = 0;
        let mut iter = 0;
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            match ch {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i == chars.len() {
                        if kind == MatchType::Exact {
                            kind = MatchType::Prefix;
                        } else {
                            toks.push(Tok::Any);
                            kind = MatchType::Regexp;
                        }
                    } else {
                        toks.push(Tok::OptDirs);
                        kind = MatchType::Regexp;
                    }
                    if iter == 0 {
                        kind = MatchType::Suffix;
                    }
                }
                '*' => {
                    toks.push(Tok::StarSeg);
                    kind = MatchType::Regexp;
                }
                '?' => {
                    toks.push(Tok::AnySeg);
                    kind = MatchType::Regexp;
                }
                '\\' => match chars.get(i) {
                    Some(c) => {
                        toks.push(Tok::Lit(*c));
                        i += 1;
                        kind = MatchType::Regexp;
                    }
                    None => toks.push(Tok::Lit('\\')),
                },
                '[' => {
                    let mut negated = false;
                    if chars.get(i) == Some(&'^') {
                        negated = true;
                        i += 1;
                    }
                    let mut items = Vec::new();
                    let mut closed = false;
                    while i < chars.len() {
                        let mut c = chars[i];
                        i += 1;
                        if c == ']' && !items.is_empty() {
                            closed = true;
                            break;
                        }
                        if c == '\\' {
                            c = *chars.get(i).ok_or("syntax error in pattern")?;
                            i += 1;
                        }
                        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|n| *n != ']')
                        {
                            let mut hi = chars[i + 1];
                            i += 2;
                            if hi == '\\' {
                                hi = *chars.get(i).ok_or("syntax error in pattern")?;
                                i += 1;
                            }
                            if hi < c {
                                return Err("syntax error in pattern".into());
                            }
                            items.push((c, hi));
                        } else {
                            items.push((c, c));
                        }
                    }
                    if !closed {
                        return Err("syntax error in pattern".into());
                    }
                    toks.push(Tok::Class { negated, items });
                    kind = MatchType::Regexp;
                }
                ']' => return Err("syntax error in pattern".into()),
                c => toks.push(Tok::Lit(c)),
            }
            iter += 1;
        }
        Ok(Pattern {
            cleaned: cleaned.to_string(),
            exclusion,
            dirs: cleaned.split('/').map(str::to_string).collect(),
            kind,
            toks,
        })
    }

    /// Whether `path` (clean, relative, `/`-separated) matches this pattern itself.
    fn matches(&self, path: &str) -> bool {
        match self.kind {
            MatchType::Exact => path == self.cleaned,
            MatchType::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            MatchType::Suffix => {
                let suffix = &self.cleaned[2..];
                path.ends_with(suffix)
                    || suffix
                        .strip_prefix('/')
                        .is_some_and(|s| !s.is_empty() && path == s)
            }
            MatchType::Regexp => {
                let s: Vec<char> = path.chars().collect();
                match_toks(&self.toks, &s)
            }
        }
    }
}

fn match_toks(t: &[Tok], s: &[char]) -> bool {
    match t.first() {
        None => s.is_empty(),
        Some(Tok::Lit(c)) => s.first() == Some(c) && match_toks(&t[1..], &s[1..]),
        Some(Tok::AnySeg) => s.first().is_some_and(|c| *c != '/') && match_toks(&t[1..], &s[1..]),
        Some(Tok::StarSeg) => {
            let max = s.iter().position(|c| *c == '/').unwrap_or(s.len());
            (0..=max).any(|k| match_toks(&t[1..], &s[k..]))
        }
        Some(Tok::Any) => (0..=s.len()).any(|k| match_toks(&t[1..], &s[k..])),
        Some(Tok::OptDirs) => {
            match_toks(&t[1..], s)
                || (0..s.len()).any(|k| s[k] == '/' && match_toks(&t[1..], &s[k + 1..]))
        }
        Some(Tok::Class { negated, items }) => match s.first() {
            Some(c) => {
                let hit = items.iter().any(|(lo, hi)| lo <= c && c <= hi);
                hit != *negated && match_toks(&t[1..], &s[1..])
            }
            None => false,
        },
    }
}

/// A set of `.dockerignore` patterns.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl Matcher {
    /// Compile patterns (as [`read_dockerignore`] returns them).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(patterns: I) -> Result<Matcher, Error> {
        let mut m = Matcher::default();
        for p in patterns {
            let raw = p.as_ref();
            let t = raw.trim();
            if t.is_empty() {
                continue;
            }
            let c = clean(t);
            let (exclusion, body) = match c.strip_prefix('!') {
                Some("") => {
                    return Err(Error::Pattern {
                        pattern: raw.to_string(),
                        reason: "illegal exclusion pattern: \"!\"".into(),
                    })
                }
                Some(b) => (true, b.to_string()),
                None => (false, c.clone()),
            };
            // Patterns are relative to the context root, as read_dockerignore makes them.
            let body = match body.strip_prefix('/') {
                Some(b) if !b.is_empty() => b.to_string(),
                _ => body,
            };
            let pat = Pattern::compile(&body, exclusion).map_err(|reason| Error::Pattern {
                pattern: raw.to_string(),
                reason,
            })?;
            m.exclusions |= exclusion;
            m.patterns.push(pat);
        }
        Ok(m)
    }

    /// Read `<root>/.dockerignore` (an absent file excludes nothing).
    pub fn from_context(root: &Path) -> Result<Matcher, Error> {
        let path = root.join(".dockerignore");
        match std::fs::read_to_string(&path) {
            Ok(text) => Matcher::new(read_dockerignore(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Matcher::default()),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// The compiled patterns in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any pattern is an exception.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `path` (relative to the context root, `/`-separated) is
    /// excluded: the last pattern matching it or one of its parent
    /// directories decides (patternmatcher's `MatchesOrParentMatches`).
    /// The root itself is never excluded.
    pub fn matches(&self, path: &str) -> bool {
        let file = clean(path.trim_start_matches('/'));
        if file == "." {
            return false;
        }
        let parent_dirs: Vec<&str> = match file.rfind('/') {
            Some(i) => file[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.matches(&file);
            if !hit {
                for i in 0..parent_dirs.len() {
                    if p.matches(&parent_dirs[..=i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether an exception could re-include something below the excluded
    /// directory `dir`, so that a walk must still descend into it.
    pub fn could_reinclude_below(&self, dir: &str) -> bool {
        let dir = clean(dir.trim_start_matches('/'));
        let comps: Vec<&str> = dir.split('/').collect();
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            if p.dirs.len() <= comps.len() {
                return p.dirs.iter().any(|d| d.contains("**"));
            }
            for (pc, dc) in p.dirs.iter().zip(&comps) {
                if pc.contains("**") {
                    return true;
                }
                match Pattern::compile(pc, false) {
                    Ok(cp) if cp.matches(dc) => {}
                    _ => return false,
                }
            }
            true
        })
    }
}

/// What a context entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// A device, socket or fifo.
    Other,
}

/// One entry of the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// Path relative to the context root, `/`-separated (`src/main.rs`).
    pub path: String,
    /// Its kind.
    pub kind: EntryKind,
}

impl ContextEntry {
    /// The entry's path under `root`.
    pub fn full_path(&self, root: &Path) -> PathBuf {
        root.join(&self.path)
    }
}

/// Walk the build context under `root` in lexical order and return what
/// `.dockerignore` keeps: excluded files are left out; an excluded directory
/// is left out with everything below it, unless an exception could match
/// below it, in which case the walk descends and keeps what is re-included
/// (the directory itself is then not listed, as docker does). Symlinks are
/// listed, not followed.
pub fn walk_context(root: &Path, matcher: &Matcher) -> Result<Vec<ContextEntry>, Error> {
    let mut out = Vec::new();
    walk_dir(root, "", matcher, &mut out)?;
    tracing::debug!(root = %root.display(), entries = out.len(), "walked build context");
    Ok(out)
}

fn walk_dir(
    root: &Path,
    rel: &str,
    matcher: &Matcher,
    out: &mut Vec<ContextEntry>,
) -> Result<(), Error> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut entries: Vec<(String, std::fs::FileType)> = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let e = e.map_err(io(&dir))?;
        let ft = e.file_type().map_err(io(&e.path()))?;
        entries.push((e.file_name().to_string_lossy().into_owned(), ft));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, ft) in entries {
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        if matcher.matches(&path) {
            if kind == EntryKind::Dir
                && matcher.has_exclusions()
                && matcher.could_reinclude_below(&path)
            {
                walk_dir(root, &path, matcher, out)?;
            }
            continue;
        }
        out.push(ContextEntry {
            path: path.clone(),
            kind,
        });
        if kind == EntryKind::Dir {
            walk_dir(root, &path, matcher, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &[&str]) -> Matcher {
        Matcher::new(patterns).unwrap()
    }

    /// moby/patternmatcher's `TestMatches` table (MatchesOrParentMatches).
    #[test]
    fn patternmatcher_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            // ("**", "/") and ("**/", "/") match in patternmatcher, but here
            // "/" is the context root, which is never excluded.
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**", "dir/file/", true),
            ("**/", "dir/file/", true),
            ("**/**", "dir/file", true),
            ("**/**", "dir/file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**", "dir/dir2/file/", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file/", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            ("a\\*b", "a*b", true),
        ];
        for (pat, path, want) in cases {
            assert_eq!(
                m(&[pat]).matches(path),
                *want,
                "pattern {pat:?} path {path:?}"
            );
        }
        assert!(!m(&["**", "!util/docker/web"]).matches("util/docker/web/foo"));
        assert!(
            m(&["**", "!util/docker/web", "util/docker/web/foo"]).matches("util/docker/web/foo")
        );
        assert!(!m(&["**", "!dist/*.whl"]).matches("dist/x-py3-none-any.whl"));
    }

    #[test]
    fn docker_documented_examples() {
        let pats = read_dockerignore("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        let mm = Matcher::new(&pats).unwrap();
        assert!(mm.matches("somedir/temporary.txt"));
        assert!(mm.matches("somedir/temp"));
        assert!(
            !mm.matches("temporary.txt"),
            "*/temp* needs one directory level"
        );
        assert!(mm.matches("somedir/subdir/temporary.txt"));
        assert!(mm.matches("tempa"));
        assert!(mm.matches("tempb"));
        assert!(!mm.matches("temp"));
        assert!(!mm.matches("tempab"));

        let go = m(&["**/*.go"]);
        assert!(go.matches("main.go"));
        assert!(go.matches("cmd/x/main.go"));
        assert!(!go.matches("main.gox"));

        // *.md excluded, README*.md re-included, README-secret.md excluded again
        let md = Matcher::new(read_dockerignore("*.md\n!README*.md\nREADME-secret.md\n")).unwrap();
        assert!(md.matches("CHANGES.md"));
        assert!(!md.matches("README.md"));
        assert!(!md.matches("README-dev.md"));
        assert!(md.matches("README-secret.md"));
        // order matters: the exception last wins
        let md = Matcher::new(read_dockerignore("*.md\nREADME-secret.md\n!README*.md\n")).unwrap();
        assert!(!md.matches("README-secret.md"));
        assert!(!m(&["!README.md"]).matches("README.md"));
    }

    #[test]
    fn reading_and_cleaning() {
        assert_eq!(
            read_dockerignore("\u{feff}# c\n /abs/path/ \n\n! /x/../y\n./a//b\n#!not\n"),
            ["abs/path", "!y", "a/b"]
        );
        assert!(m(&["/abs"]).matches("abs/file"));
        assert!(m(&["dir/"]).matches("dir/file"));
        assert!(!m(&["*"]).matches("."));
        assert!(Matcher::new(["!"]).is_err());
        let e = Matcher::new(["a[b"]).unwrap_err();
        assert!(e.to_string().contains("syntax error in pattern"), "{e}");
        assert_eq!(clean("a/../../b"), "../b");
        assert_eq!(clean("/../a/"), "/a");
    }

    #[test]
    fn excluded_directory_with_exception_inside() {
        let mm = m(&["docs", "!docs/keep.md"]);
        assert!(mm.matches("docs"));
        assert!(mm.matches("docs/other.md"));
        assert!(!mm.matches("docs/keep.md"));
        assert!(mm.could_reinclude_below("docs"));
        let mm = m(&["vendor", "!*/keep"]);
        assert!(mm.could_reinclude_below("vendor"));
        assert!(
            !mm.could_reinclude_below("vendor/a"),
            "*/keep only reaches one level down"
        );
        let mm = m(&["vendor", "!src/keep"]);
        assert!(!mm.could_reinclude_below("vendor"));
        assert!(m(&["x", "!**/keep"]).could_reinclude_below("x/y/z"));
    }

    #[test]
    fn walk() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in ["src/sub", "docs/api", "node_modules/pkg", "build"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        for f in [
            "Dockerfile",
            ".dockerignore",
            "README.md",
            "NOTES.md",
            "src/main.go",
            "src/sub/util.go",
            "src/sub/util_test.go",
            "docs/api/keep.md",
            "docs/api/drop.md",
            "docs/index.md",
            "node_modules/pkg/index.js",
            "build/out",
        ] {
            std::fs::write(r.join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("src/main.go", r.join("link")).unwrap();
        std::fs::write(
            r.join(".dockerignore"),
            "node_modules\n*.md\n!README.md\n**/*_test.go\ndocs\n!docs/api/keep.md\n/build/\n",
        )
        .unwrap();
        let mm = Matcher::from_context(r).unwrap();
        let got: Vec<String> = walk_context(r, &mm)
            .unwrap()
            .into_iter()
            .map(|e| match e.kind {
                EntryKind::Dir => format!("{}/", e.path),
                EntryKind::Symlink => format!("{}@", e.path),
                _ => e.path,
            })
            .collect();
        assert_eq!(
            got,
            [
                ".dockerignore",
                "Dockerfile",
                "README.md",
                "docs/api/keep.md",
                "link@",
                "src/",
                "src/main.go",
                "src/sub/",
                "src/sub/util.go",
            ]
        );
        let none = Matcher::from_context(&r.join("src")).unwrap();
        assert!(none.patterns().is_empty());
        let e = walk_context(&r.join("missing"), &none).unwrap_err();
        assert_eq!(e.kind(), berth_kind::ErrorKind::NotFound);
    }
}
