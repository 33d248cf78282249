//! Variable substitution and word splitting with docker's rules.
//!
//! A port of BuildKit's `frontend/dockerfile/shell/lex.go`: `$v`, `${v}`,
//! `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v:?msg}`, `${v?msg}`,
//! `${v#pat}`, `${v##pat}`, `${v%pat}`, `${v%%pat}`, `${v/pat/repl}`,
//! `${v//pat/repl}`; the escape character (`\` or the `# escape=` one)
//! escapes the next character, single quotes are literal, double quotes
//! allow `$` and escape only `"`, `$` and the escape character. Positional
//! (`$1`) and special (`$@`, `$?`, …) parameters are never set. Patterns use
//! `*` and `?` (no bracket expressions), as in BuildKit.

use std::fmt;

/// An ordered environment (`KEY=value` pairs) used for substitution.
///
/// Setting an existing key replaces its value in place, as docker's env lists do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if set (case-sensitive, as on Linux).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Set `key` to `value`, replacing an earlier value in place.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.vars.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((key, value)),
        }
    }

    /// Remove `key`.
    pub fn remove(&mut self, key: &str) {
        self.vars.retain(|(k, _)| k != key);
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `KEY=value` strings, in order (docker's `Config.Env` form).
    pub fn to_vec(&self) -> Vec<String> {
        self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// Parse `KEY=value` strings (a missing `=` gives an empty value).
    pub fn from_pairs<I: IntoIterator<Item = S>, S: AsRef<str>>(pairs: I) -> Self {
        let mut env = Env::new();
        for p in pairs {
            let p = p.as_ref();
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            env.set(k, v);
        }
        env
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether no variable is set.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut env = Env::new();
        for (k, v) in iter {
            env.set(k, v);
        }
        env
    }
}

/// A substitution error; the message is BuildKit's
/// (`failed to process "<word>": <reason>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// The word being processed.
    pub word: String,
    /// What went wrong, e.g. `syntax error: bad substitution`.
    pub reason: String,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failed to process {}: {}",
            go_quote(&self.word),
            self.reason
        )
    }
}

impl std::error::Error for LexError {}

/// The lexer: escape token plus BuildKit's switches.
#[derive(Debug, Clone, Copy)]
pub struct Lex {
    escape: char,
    /// Keep quote characters in the output (used for heredoc detection).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as they were written.
    pub skip_unset_env: bool,
}

impl Lex {
    /// A lexer using `escape` (`\` or `` ` ``) as the escape character.
    pub fn new(escape: char) -> Self {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Substitute variables in `word`, keeping it one word (quotes removed,
    /// spaces kept): what docker does for WORKDIR, ENV values, COPY paths…
    pub fn process_word(&self, word: &str, env: &Env) -> Result<String, LexError> {
        self.process(word, env).map(|(w, _)| w)
    }

    /// Substitute variables then split into words on unquoted whitespace
    /// (used for EXPOSE and heredoc detection).
    pub fn process_words(&self, word: &str, env: &Env) -> Result<Vec<String>, LexError> {
        self.process(word, env).map(|(_, ws)| ws)
    }

    fn process(&self, word: &str, env: &Env) -> Result<(String, Vec<String>), LexError> {
        let mut sw = ShellWord {
            lex: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
        };
        let raw = sw.raw_escapes;
        sw.process_stop_on(None, raw).map_err(|reason| LexError {
            word: word.to_string(),
            reason,
        })
    }
}

struct ShellWord<'a> {
    lex: Lex,
    chars: Vec<char>,
    pos: usize,
    env: &'a Env,
    raw_escapes: bool,
}

#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

type LexResult<T> = Result<T, String>;

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> LexResult<(String, Vec<String>)> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> LexResult<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            let special = match ch {
                '$' => Some(self.process_dollar()?),
                '<' => Some(self.process_possible_heredoc()),
                '\'' if !self.lex.skip_process_quotes => Some(self.process_single_quote()?),
                '"' if !self.lex.skip_process_quotes => Some(self.process_double_quote()?),
                _ => None,
            };
            if let Some(tmp) = special {
                result.push_str(&tmp);
                if ch == '$' {
                    words.add_string(&tmp);
                } else {
                    words.add_raw_string(&tmp);
                }
                continue;
            }
            let mut ch = self.next().unwrap_or_default();
            if ch == self.lex.escape {
                if self.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                match self.next() {
                    None => break,
                    Some(c) => ch = c,
                }
                words.add_raw_char(ch);
            } else {
                words.add_char(ch);
            }
            result.push(ch);
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> LexResult<String> {
        let mut result = String::new();
        let q = self.next().unwrap_or('\'');
        if self.lex.raw_quotes {
            result.push(q);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> LexResult<String> {
        let mut result = String::new();
        let q = self.next().unwrap_or('"');
        if self.lex.raw_quotes {
            result.push(q);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                ch = c;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn get_env(&self, name: &str) -> Option<String> {
        self.env.get(name).map(str::to_string)
    }

    fn process_dollar(&mut self) -> LexResult<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{') | Some('}') | Some(':') => {
                return Err("syntax error: bad substitution".into())
            }
            _ => {}
        }
        let name = self.process_name();
        let ch = self.next();
        let mut chs: String = ch.map(String::from).unwrap_or_default();
        match ch {
            Some('}') => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') | Some('+') | Some('-') | Some('?') | Some('#') | Some('%') => {
                let mut op = ch;
                let null_is_unset = ch == Some(':');
                if null_is_unset {
                    op = self.next();
                    if let Some(c) = op {
                        chs.push(c);
                    }
                }
                let raw = matches!(op, Some('#') | Some('%'));
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let set = value.is_some();
                let value = value.unwrap_or_default();
                match op {
                    Some('-') => Ok(if !set || (null_is_unset && value.is_empty()) {
                        word
                    } else {
                        value
                    }),
                    Some('+') => Ok(if !set || (null_is_unset && value.is_empty()) {
                        String::new()
                    } else {
                        word
                    }),
                    Some('?') => {
                        if !set {
                            let m = if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {m}"));
                        }
                        if null_is_unset && value.is_empty() {
                            let m = if word.is_empty() {
                                "is not allowed to be empty".to_string()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {m}"));
                        }
                        Ok(value)
                    }
                    Some(c @ ('%' | '#')) => {
                        let (greedy, pat) = match word.strip_prefix(c) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let pat = Pattern::compile(&pat)
                            .map_err(|e| format!("invalid pattern ({pat}) in substitution: {e}"))?;
                        Ok(if c == '%' {
                            pat.trim_suffix(&value, greedy)
                        } else {
                            pat.trim_prefix(&value, greedy)
                        })
                    }
                    _ => Err(format!("unsupported modifier ({chs}) in substitution")),
                }
            }
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '/' in ${}".into());
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let pat = Pattern::compile(&pattern)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                Ok(pat.replace(&value.unwrap_or_default(), &replacement, all))
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(c) = self.peek() {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    name.push(c);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            result.push(c);
            self.next();
        }
        result
    }
}

/// A shell pattern for `${v#pat}` and friends: `*`, `?`, `\` escapes.
#[derive(Debug)]
struct Pattern {
    toks: Vec<Tok>,
}

#[derive(Debug, Clone, Copy)]
enum Tok {
    Star,
    Any,
    Lit(char),
}

impl Pattern {
    fn compile(p: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = p.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::Any),
                '\\' => {
                    // `\}` and `\/` inside ${} are escapes that are not part of the pattern.
                    match chars.get(i + 1) {
                        Some('}') | Some('/') => {}
                        Some(c @ ('*' | '?' | '\\')) => {
                            toks.push(Tok::Lit(*c));
                            i += 1;
                        }
                        Some(c) => return Err(format!("invalid escape '\\{c}'")),
                        None => return Err("invalid escape '\\'".into()),
                    }
                }
                c => toks.push(Tok::Lit(c)),
            }
            i += 1;
        }
        Ok(Pattern { toks })
    }

    fn matches(&self, s: &[char]) -> bool {
        fn m(t: &[Tok], s: &[char]) -> bool {
            match t.first() {
                None => s.is_empty(),
                Some(Tok::Star) => (0..=s.len()).any(|k| m(&t[1..], &s[k..])),
                Some(Tok::Any) => !s.is_empty() && m(&t[1..], &s[1..]),
                Some(Tok::Lit(c)) => s.first() == Some(c) && m(&t[1..], &s[1..]),
            }
        }
        m(&self.toks, s)
    }

    fn trim_prefix(&self, value: &str, greedy: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let lens: Box<dyn Iterator<Item = usize>> = if greedy {
            Box::new((0..=v.len()).rev())
        } else {
            Box::new(0..=v.len())
        };
        for n in lens {
            if self.matches(&v[..n]) {
                return v[n..].iter().collect();
            }
        }
        value.to_string()
    }

    fn trim_suffix(&self, value: &str, greedy: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let starts: Box<dyn Iterator<Item = usize>> = if greedy {
            Box::new(0..=v.len())
        } else {
            Box::new((0..=v.len()).rev())
        };
        for s in starts {
            if self.matches(&v[s..]) {
                return v[..s].iter().collect();
            }
        }
        value.to_string()
    }

    /// Leftmost, longest match from `from`.
    fn find(&self, v: &[char], from: usize) -> Option<(usize, usize)> {
        (from..=v.len()).find_map(|s| {
            (s..=v.len())
                .rev()
                .find(|&e| self.matches(&v[s..e]))
                .map(|e| (s, e))
        })
    }

    fn replace(&self, value: &str, repl: &str, all: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        while let Some((s, e)) = self.find(&v, pos) {
            out.extend(&v[pos..s]);
            out.push_str(repl);
            if e == s {
                if let Some(c) = v.get(s) {
                    out.push(*c);
                }
                pos = s + 1;
            } else {
                pos = e;
            }
            if !all || pos > v.len() {
                break;
            }
        }
        if pos <= v.len() {
            out.extend(&v[pos..]);
        }
        out
    }
}

/// Quote `s` as Go's `strconv.Quote` does (the form BuildKit's messages and
/// AST dumps use).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_pairs(["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="])
    }

    fn word(s: &str) -> Result<String, LexError> {
        Lex::new('\\').process_word(s, &env())
    }

    /// BuildKit's `shell/envVarTest`, run as its `TestShellParser4EnvVars` does (Unix lines).
    #[test]
    fn buildkit_env_var_test() {
        let data = include_str!("../tests/shell/envVarTest");
        let mut n = 0;
        for (i, line) in data.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.trim().split('|').collect();
            assert_eq!(parts.len(), 3, "line {}", i + 1);
            let (plat, src, want) = (parts[0].trim(), parts[1].trim(), parts[2].trim());
            if plat == "W" {
                continue;
            }
            let got = word(src);
            if want == "error" {
                assert!(got.is_err(), "line {}: {src:?} gave {got:?}", i + 1);
            } else {
                assert_eq!(got.as_deref(), Ok(want), "line {}: {src:?}", i + 1);
            }
            n += 1;
        }
        assert!(n > 200);
    }

    /// BuildKit's `shell/wordsTest`, run as its `TestShellParser4Words` does.
    #[test]
    fn buildkit_words_test() {
        let data = include_str!("../tests/shell/wordsTest");
        let mut envs: Vec<String> = Vec::new();
        for (i, line) in data.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("ENV ") {
                envs.push(rest.trim_start_matches(' ').to_string());
                continue;
            }
            let (test, expected) = line.split_once('|').expect("one |");
            let expected: Vec<&str> = expected.trim_start_matches(' ').split(',').collect();
            let got = Lex::new('\\')
                .process_words(test.trim(), &Env::from_pairs(&envs))
                .unwrap_or_else(|_| vec!["error".to_string()]);
            assert_eq!(got, expected, "line {}: {test:?}", i + 1);
        }
    }

    #[test]
    fn mandatory_vars() {
        let lex = Lex::new('\\');
        let set = Env::from_pairs(["VAR=plain", "ARG=x"]);
        let empty = Env::from_pairs(["VAR=", "ARG=x"]);
        let unset = Env::from_pairs(["ARG=x"]);
        let no_empty = "${VAR:?message here$ARG}";
        let no_unset = "${VAR?message here$ARG}";
        assert_eq!(lex.process_word(no_empty, &set).unwrap(), "plain");
        let e = lex.process_word(no_empty, &empty).unwrap_err();
        assert!(e.to_string().contains("message herex"), "{e}");
        assert!(lex.process_word(no_empty, &unset).is_err());
        assert_eq!(lex.process_word(no_unset, &set).unwrap(), "plain");
        assert_eq!(lex.process_word(no_unset, &empty).unwrap(), "");
        let e = lex.process_word(no_unset, &unset).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to process \"${VAR?message here$ARG}\": VAR: message herex"
        );
    }

    #[test]
    fn unset_and_empty_modifiers() {
        let lex = Lex::new('\\');
        let e = Env::from_pairs(["FOO=xxx", "BAR="]);
        let w = |s: &str| lex.process_word(s, &e).unwrap();
        assert_eq!(w("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}"), "xxx  ccc");
        assert_eq!(w("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}"), "xxx bbb ccc");
        assert_eq!(w("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}"), "aaa bbb ");
        assert_eq!(w("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}"), "aaa  ");
    }

    #[test]
    fn prefix_suffix_and_replace() {
        let lex = Lex::new('\\');
        let e = Env::from_pairs(["F=foo.tar.gz", "P=/usr/local/bin", "S=aXbXc"]);
        let w = |s: &str| lex.process_word(s, &e).unwrap();
        assert_eq!(w("${F%.*}"), "foo.tar");
        assert_eq!(w("${F%%.*}"), "foo");
        assert_eq!(w("${F#*.}"), "tar.gz");
        assert_eq!(w("${F##*.}"), "gz");
        assert_eq!(w("${P#/usr}"), "/local/bin");
        assert_eq!(w("${P%/bin}"), "/usr/local");
        assert_eq!(w("${F#nomatch}"), "foo.tar.gz");
        assert_eq!(w("${S/X/-}"), "a-bXc");
        assert_eq!(w("${S//X/-}"), "a-b-c");
        assert_eq!(w("${S/a?b/_}"), "_Xc");
        assert_eq!(w("${F%\\*}"), "foo.tar.gz");
        assert!(lex.process_word("${F:#x}", &e).is_err());
        assert!(lex.process_word("${F/x", &e).is_err());
    }

    #[test]
    fn backtick_escape() {
        let lex = Lex::new('`');
        let e = Env::from_pairs(["A=1"]);
        assert_eq!(lex.process_word("C:\\dir\\$A", &e).unwrap(), "C:\\dir\\1");
        assert_eq!(lex.process_word("`$A", &e).unwrap(), "$A");
        assert_eq!(lex.process_word("\"a`\"b\"", &e).unwrap(), "a\"b");
    }

    #[test]
    fn skip_unset_keeps_references() {
        let mut lex = Lex::new('\\');
        lex.skip_unset_env = true;
        let e = Env::from_pairs(["A=1"]);
        assert_eq!(
            lex.process_word("$A $B ${C} ${D:-x}", &e).unwrap(),
            "1 $B ${C} ${D:-x}"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(go_quote("a\"b\\c\n\u{0}♥"), "\"a\\\"b\\\\c\\n\\x00♥\"");
    }
}
