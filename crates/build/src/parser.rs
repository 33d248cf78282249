//! The Dockerfile syntax tree: lines, directives, continuations, heredocs.
//!
//! This is a hand-written port of BuildKit's `frontend/dockerfile/parser`
//! (`parser.go`, `line_parsers.go`, `split_command.go`, `directives.go`). The
//! `parse-dockerfile` crate was evaluated first against BuildKit's parser
//! corpus and failed 9 of its 37 cases (it requires `FROM` first, so JSON-form
//! and HEALTHCHECK-only files fail, rejects `HEALTHCHECK` without a type,
//! joins `ENV C trailing\\` with the next line, and accepts `ENV name` without
//! a value); matching BuildKit byte for byte needs BuildKit's own rules, so
//! berth has its own parser.
//!
//! Like BuildKit, this layer only splits lines into [`Node`]s and does not
//! reject unknown instructions or check arguments: [`crate::instructions`]
//! does that. [`Node::dump`] prints BuildKit's `Node.Dump()` form, which the
//! corpus test compares against.

use crate::shell::{go_quote, Env, Lex};
use crate::Error;

/// The default escape character.
pub const DEFAULT_ESCAPE: char = '\\';

/// A heredoc attached to an instruction (`RUN <<EOF`, `COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word with quotes removed (`EOF`); also the file name for COPY.
    pub name: String,
    /// File descriptor prefix (`3<<EOF`), 0 when absent.
    pub file_descriptor: u32,
    /// Whether variables in the content are expanded (delimiter not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the content and the delimiter line.
    pub chomp: bool,
    /// The body, each line with its newline, tabs not yet stripped (see [`Heredoc::text`]).
    pub content: String,
}

impl Heredoc {
    /// The body as the command or file sees it (leading tabs stripped for `<<-`).
    pub fn text(&self) -> String {
        if self.chomp {
            chomp_heredoc_content(&self.content)
        } else {
            self.content.clone()
        }
    }
}

/// One instruction of the syntax tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction keyword as written (`run`, `RUN`…).
    pub value: String,
    /// `--flag[=value]` words before the arguments.
    pub flags: Vec<String>,
    /// The arguments, split the way BuildKit's line parser for this
    /// instruction splits them (ENV and LABEL give key, value, separator triples).
    pub args: Vec<String>,
    /// The wrapped instruction of `ONBUILD`.
    pub sub: Option<Box<Node>>,
    /// Arguments were a JSON array (exec form).
    pub json: bool,
    /// Heredocs, in the order they appear on the line.
    pub heredocs: Vec<Heredoc>,
    /// The whole logical line after continuations were joined.
    pub original: String,
    /// First line of the instruction (1-based).
    pub start_line: usize,
    /// Last line of the instruction, heredoc bodies included.
    pub end_line: usize,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
}

impl Node {
    /// The keyword in lower case.
    pub fn keyword(&self) -> String {
        self.value.to_ascii_lowercase()
    }

    /// BuildKit's `Node.Dump()`: `(run ["--flag"] "arg" …)` without the outer parentheses.
    pub fn dump(&self) -> String {
        let mut s = self.value.to_lowercase();
        if !self.flags.is_empty() {
            let quoted: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            s.push_str(&format!(" [{}]", quoted.join(" ")));
        }
        if let Some(sub) = &self.sub {
            s.push_str(&format!(" ({})", sub.dump()));
        }
        for a in &self.args {
            s.push(' ');
            s.push_str(&go_quote(a));
        }
        s.trim().to_string()
    }

    fn can_contain_heredoc(&self) -> bool {
        let node = match (&self.sub, self.keyword().as_str()) {
            (Some(sub), "onbuild") => sub,
            _ => self,
        };
        matches!(node.keyword().as_str(), "add" | "copy" | "run") && !node.json
    }
}

/// A parser directive (`# syntax=…`, `# escape=…`, `# check=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lower-cased name.
    pub name: String,
    /// The value, trimmed.
    pub value: String,
    /// Its line (1-based).
    pub line: usize,
}

/// A parse warning (BuildKit warns about empty continuation lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The message.
    pub message: String,
    /// Where.
    pub line: usize,
}

/// A parsed Dockerfile: the instructions, directives and escape character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    /// The instructions in order.
    pub nodes: Vec<Node>,
    /// Parser directives found at the top of the file.
    pub directives: Vec<Directive>,
    /// The escape character in force (`\` or `` ` ``).
    pub escape: char,
    /// Warnings.
    pub warnings: Vec<Warning>,
}

impl Ast {
    /// The value of a directive (`syntax`, `escape`, `check`).
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
    }

    /// The whole tree in BuildKit's dump form, one instruction a line.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            s.push('(');
            s.push_str(&n.dump());
            s.push_str(")\n");
        }
        s
    }
}

struct Directives {
    escape: char,
    done: bool,
    line: usize,
    found: Vec<Directive>,
}

impl Directives {
    fn possible_directive(&mut self, line: &str) -> Result<bool, String> {
        self.line += 1;
        if self.done {
            return Ok(false);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let rest = rest.trim_start();
        // ^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$
        let name_len = rest
            .char_indices()
            .take_while(|(i, c)| {
                if *i == 0 {
                    c.is_ascii_alphabetic()
                } else {
                    c.is_ascii_alphanumeric()
                }
            })
            .count();
        let name = &rest[..name_len];
        let after = rest[name_len..].trim_start();
        let value = after.strip_prefix('=').map(|v| v.trim());
        let (name, value) = match value {
            Some(v) if !name.is_empty() && !v.is_empty() => (name.to_ascii_lowercase(), v),
            _ => {
                self.done = true;
                return Ok(false);
            }
        };
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.found.iter().any(|d| d.name == name) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        if name == "escape" {
            match value {
                "`" | "\\" => self.escape = value.chars().next().unwrap_or(DEFAULT_ESCAPE),
                _ => {
                    return Err(format!(
                        "invalid escape token '{value}' does not match ` or \\"
                    ))
                }
            }
        }
        self.found.push(Directive {
            name,
            value: value.to_string(),
            line: self.line,
        });
        Ok(true)
    }
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn is_empty_continuation_line(line: &str) -> bool {
    trim_newline(line).trim_start().is_empty()
}

/// BuildKit's continuation regex `([^E])E[ \t]*$|^E[ \t]*$` with `$1` as replacement.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(escape) {
        if before.is_empty() || !before.ends_with(escape) {
            return (before.to_string(), false);
        }
    }
    (line.to_string(), true)
}

/// Strip leading tabs from every line (`<<-`).
pub fn chomp_heredoc_content(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

/// Parse a heredoc word such as `<<EOF`, `<<-"EOF"`, `3<<EOF`; `None` if it is not one.
pub fn parse_heredoc(word: &str) -> Option<Heredoc> {
    // ^(\d*)<<(-?)\s*([^<]*)$
    let digits = word.chars().take_while(|c| c.is_ascii_digit()).count();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let fd = word[..digits].parse().unwrap_or(0);
    let mut lex = Lex::new('\\');
    lex.skip_unset_env = true;
    let words = lex.process_words(rest, &Env::new()).ok()?;
    if words.len() != 1 {
        return None;
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &Env::new()).ok()?;
    if raw.len() != 1 {
        return None;
    }
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Some(Heredoc {
        name: words[0].clone(),
        file_descriptor: fd,
        expand: quotes(&words[0]) == quotes(&raw[0]),
        chomp,
        content: String::new(),
    })
}

fn heredocs_from_line(line: &str) -> Vec<Heredoc> {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &Env::new()).unwrap_or_default();
    words.iter().filter_map(|w| parse_heredoc(w)).collect()
}

/// Split a text into lines keeping their `\n`.
fn scan_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn syntax(line: usize, message: impl Into<String>) -> Error {
    Error::Syntax {
        line,
        message: message.into(),
    }
}

/// Parse Dockerfile text into its syntax tree.
///
/// Errors name the line: `dockerfile parse error on line 3: …`.
pub fn parse(text: &str) -> Result<Ast, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = scan_lines(text);
    let mut d = Directives {
        escape: DEFAULT_ESCAPE,
        done: false,
        line: 0,
        found: Vec::new(),
    };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut current = 0usize;
    let mut i = 0usize;

    let process_line = |d: &mut Directives, raw: &str, strip_left: bool, at: usize| {
        let mut tok = trim_newline(raw);
        if strip_left {
            tok = tok.trim_start();
        }
        let ok = d.possible_directive(tok).map_err(|m| syntax(at, m))?;
        let out = if is_comment(tok) { "" } else { tok };
        Ok::<(String, bool), Error>((out.to_string(), ok))
    };

    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        if is_comment(raw) {
            let c = raw.trim_start()[1..].trim();
            if c.is_empty() {
                comments.clear();
            } else {
                comments.push(c.to_string());
            }
        }
        let (bytes, directive) = process_line(&mut d, raw, true, current + 1)?;
        if directive {
            comments.pop();
        }
        current += 1;
        let start = current;
        let (first, mut end_of_line) = trim_continuation(&bytes, d.escape);
        if end_of_line && first.is_empty() {
            continue;
        }
        let mut buf = first;
        let mut empty_continuation = false;
        while !end_of_line && i < lines.len() {
            let raw = lines[i];
            i += 1;
            let (bytes, _) = process_line(&mut d, raw, false, current + 1)?;
            current += 1;
            if is_comment(raw) {
                continue;
            }
            if is_empty_continuation_line(&bytes) {
                empty_continuation = true;
                continue;
            }
            let (part, eol) = trim_continuation(&bytes, d.escape);
            end_of_line = eol;
            buf.push_str(&part);
        }
        if empty_continuation {
            warnings.push(Warning {
                message: format!("Empty continuation line found in: {buf}"),
                line: current,
            });
        }
        let mut node = node_from_line(&buf, d.escape, std::mem::take(&mut comments))
            .map_err(|m| syntax(start, m))?;
        if node.can_contain_heredoc() && buf.contains("<<") {
            for mut heredoc in heredocs_from_line(&buf) {
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    current += 1;
                    let mut candidate = trim_newline(raw);
                    if heredoc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == heredoc.name {
                        terminated = true;
                        break;
                    }
                    heredoc.content.push_str(raw);
                }
                if !terminated {
                    return Err(syntax(start, "unterminated heredoc"));
                }
                node.heredocs.push(heredoc);
            }
        }
        node.start_line = start;
        node.end_line = current;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(syntax(current, "file with no instructions"));
    }
    tracing::debug!(instructions = nodes.len(), escape = %d.escape, "parsed Dockerfile");
    Ok(Ast {
        nodes,
        directives: d.found,
        escape: d.escape,
        warnings,
    })
}

fn is_reg_ws(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// `reWhitespace.Split(s, n)` with `[\t\v\f\r ]+`.
fn split_ws(s: &str, n: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if n == Some(out.len() + 1) {
            out.push(rest.to_string());
            return out;
        }
        match rest.find(is_reg_ws) {
            Some(p) => {
                out.push(rest[..p].to_string());
                rest = rest[p..].trim_start_matches(is_reg_ws);
            }
            None => {
                out.push(rest.to_string());
                return out;
            }
        }
    }
}

fn node_from_line(line: &str, escape: char, comments: Vec<String>) -> Result<Node, String> {
    let (cmd, flags, args) = split_command(line, escape);
    let mut node = Node {
        value: cmd.clone(),
        flags,
        args: Vec::new(),
        sub: None,
        json: false,
        heredocs: Vec::new(),
        original: line.to_string(),
        start_line: 0,
        end_line: 0,
        comments,
    };
    match cmd.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => {
            (node.args, node.json) = parse_maybe_json_to_list(&args)?;
        }
        "cmd" | "entrypoint" | "run" | "shell" => {
            (node.args, node.json) = parse_maybe_json(&args)?;
        }
        "arg" => node.args = parse_words(&args, escape),
        "env" => node.args = parse_name_val(&args, "ENV", escape)?,
        "label" => node.args = parse_name_val(&args, "LABEL", escape)?,
        "expose" | "from" => node.args = parse_strings_ws(&args),
        "healthcheck" => (node.args, node.json) = parse_health_config(&args)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if !args.is_empty() {
                node.args = vec![args];
            }
        }
        "onbuild" => {
            if !args.is_empty() {
                node.sub = Some(Box::new(node_from_line(&args, escape, Vec::new())?));
            }
        }
        // Unknown instructions parse (BuildKit's parseIgnore); the
        // instruction layer rejects them with their line.
        _ => node.args = vec![String::new()],
    }
    Ok(node)
}

fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let parts = split_ws(line.trim(), Some(2));
    let cmd = parts[0].clone();
    if parts.len() == 2 {
        let (args, flags) = extract_builder_flags(&parts[1], escape);
        (cmd, flags, args.trim().to_string())
    } else {
        (cmd, Vec::new(), String::new())
    }
}

fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let ch = if at_end { '\0' } else { chars[pos].1 };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || pos + 1 == chars.len() || chars[pos + 1].1 != '-' {
                return (line[chars[pos].0..].to_string(), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (line[chars[pos].0..].to_string(), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = chars[pos].1;
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // in quote
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut c = ch;
        if ch == escape {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = chars[pos].1;
        }
        word.push(c);
        pos += 1;
    }
    (String::new(), words)
}

/// BuildKit's `parseWords`: split on whitespace, keeping quotes and escapes.
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let mut ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // in quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if !words[0].contains('=') {
        let parts = split_ws(rest, Some(2));
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![parts[0].clone(), parts[1].clone(), String::new()]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(&w)
            ));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

fn parse_strings_ws(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_ws(rest, None)
}

enum JsonErr {
    NotArray,
    NotStrings,
}

fn parse_json(rest: &str) -> Result<Vec<String>, JsonErr> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Err(JsonErr::NotArray);
    }
    let v: serde_json::Value = serde_json::from_str(rest).map_err(|_| JsonErr::NotArray)?;
    let serde_json::Value::Array(items) = v else {
        return Err(JsonErr::NotArray);
    };
    items
        .into_iter()
        .map(|i| match i {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(JsonErr::NotStrings),
        })
        .collect()
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

fn parse_maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(rest) {
        Ok(v) => Ok((v, true)),
        Err(JsonErr::NotStrings) => Err(NOT_STRINGS.into()),
        Err(JsonErr::NotArray) => Ok((vec![rest.to_string()], false)),
    }
}

fn parse_maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json(rest) {
        Ok(v) => Ok((v, true)),
        Err(JsonErr::NotStrings) => Err(NOT_STRINGS.into()),
        Err(JsonErr::NotArray) => Ok((parse_strings_ws(rest), false)),
    }
}

fn parse_health_config(rest: &str) -> Result<(Vec<String>, bool), String> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let typ = rest[..sep].to_string();
    let after = rest[sep..].trim_start();
    let (mut cmd, json) = parse_maybe_json(after)?;
    let mut out = vec![typ];
    out.append(&mut cmd);
    Ok((out, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(s: &str) -> String {
        parse(s).unwrap().dump()
    }

    #[test]
    fn parse_words_like_buildkit() {
        let cases: &[(&str, &[&str])] = &[
            ("foo", &["foo"]),
            ("foo bar", &["foo", "bar"]),
            ("foo\\ bar", &["foo\\ bar"]),
            ("foo=bar", &["foo=bar"]),
            ("foo bar 'abc xyz'", &["foo", "bar", "'abc xyz'"]),
            ("foo bar \"abc xyz\"", &["foo", "bar", "\"abc xyz\""]),
            ("àöû", &["àöû"]),
            ("föo bàr \"âbc xÿz\"", &["föo", "bàr", "\"âbc xÿz\""]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_words(input, '\\'), *want, "{input}");
        }
    }

    #[test]
    fn heredoc_basic() {
        let ast = parse("FROM busybox\nRUN <<EOF\necho hello\necho $HOME\nEOF\nRUN ls\n").unwrap();
        let run = &ast.nodes[1];
        assert_eq!(run.args, ["<<EOF"]);
        assert_eq!(run.heredocs.len(), 1);
        let h = &run.heredocs[0];
        assert_eq!(h.name, "EOF");
        assert!(h.expand);
        assert!(!h.chomp);
        assert_eq!(h.content, "echo hello\necho $HOME\n");
        assert_eq!((run.start_line, run.end_line), (2, 5));
        assert_eq!(ast.nodes[2].start_line, 6);
    }

    #[test]
    fn heredoc_chomp_quoted_and_several() {
        let text = "FROM x\nRUN <<-'EOF' 3<<\"TWO\" cat /dev/fd/3\n\t\techo $A\n\tEOF\nsecond\nTWO\nCOPY <<one.txt <<two.txt /dest/\n1\none.txt\n2\ntwo.txt\n";
        let ast = parse(text).unwrap();
        let run = &ast.nodes[1];
        assert_eq!(run.heredocs.len(), 2);
        assert!(run.heredocs[0].chomp);
        assert!(!run.heredocs[0].expand);
        assert_eq!(run.heredocs[0].text(), "echo $A\n");
        assert_eq!(run.heredocs[1].name, "TWO");
        assert_eq!(run.heredocs[1].file_descriptor, 3);
        assert!(!run.heredocs[1].expand);
        assert_eq!(run.heredocs[1].content, "second\n");
        let copy = &ast.nodes[2];
        assert_eq!(copy.args, ["<<one.txt", "<<two.txt", "/dest/"]);
        assert_eq!(copy.heredocs[0].content, "1\n");
        assert_eq!(copy.heredocs[1].content, "2\n");
        assert_eq!(copy.end_line, 11);
    }

    #[test]
    fn heredoc_unterminated_and_json_form() {
        let e = parse("FROM x\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 2: unterminated heredoc"
        );
        // exec form has no heredocs
        let ast = parse("FROM x\nRUN [\"<<EOF\"]\nRUN ls\n").unwrap();
        assert!(ast.nodes[1].heredocs.is_empty());
        assert_eq!(ast.nodes.len(), 3);
        // ONBUILD wraps a heredoc-capable instruction
        let ast = parse("FROM x\nONBUILD RUN <<EOF\nhi\nEOF\n").unwrap();
        assert_eq!(ast.nodes[1].heredocs[0].content, "hi\n");
    }

    #[test]
    fn heredoc_parse_word() {
        assert!(parse_heredoc("<<EOF").unwrap().expand);
        assert!(!parse_heredoc("<<'EOF'").unwrap().expand);
        assert!(!parse_heredoc("<<E\"O\"F").unwrap().expand);
        assert_eq!(parse_heredoc("<<E\"O\"F").unwrap().name, "EOF");
        assert!(parse_heredoc("<<").is_none());
        assert!(parse_heredoc("a<<EOF").is_none());
        assert!(parse_heredoc("<<EOF<<").is_none());
    }

    #[test]
    fn escape_directive_backtick() {
        let text = "# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir c:\\ `\n    && echo done\nCOPY . C:\\app\\\nENV A=b`\nc\n";
        let ast = parse(text).unwrap();
        assert_eq!(ast.escape, '`');
        assert_eq!(ast.directive("escape"), Some("`"));
        assert_eq!(
            ast.dump(),
            "(from \"mcr.microsoft.com/windows\")\n(run \"dir c:\\\\     && echo done\")\n(copy \".\" \"C:\\\\app\\\\\")\n(env \"A\" \"bc\" \"=\")\n"
        );
    }

    #[test]
    fn directives() {
        let ast =
            parse("# syntax=docker/dockerfile:1\n# check=skip=all\n# escape=\\\nFROM a\n").unwrap();
        assert_eq!(ast.directive("syntax"), Some("docker/dockerfile:1"));
        assert_eq!(ast.directive("check"), Some("skip=all"));
        let e = parse("# escape=x\nFROM a\n").unwrap_err();
        assert!(e.to_string().contains("invalid escape token"), "{e}");
        let e = parse("# syntax=a\n# syntax=b\nFROM a\n").unwrap_err();
        assert!(
            e.to_string().contains("only one syntax parser directive"),
            "{e}"
        );
        // after a plain comment directives are plain comments
        let ast = parse("# hello\n# escape=`\nFROM a\nRUN a \\\n b\n").unwrap();
        assert_eq!(ast.escape, '\\');
        assert_eq!(ast.nodes[1].args, ["a  b"]);
        assert_eq!(ast.nodes[1].comments, Vec::<String>::new());
    }

    #[test]
    fn continuation_with_comments_and_empty_lines() {
        let text = "FROM a\nRUN one \\\n# comment\n\n  # indented comment\n    two\n";
        let ast = parse(text).unwrap();
        assert_eq!(ast.nodes[1].args, ["one     two"]);
        assert_eq!((ast.nodes[1].start_line, ast.nodes[1].end_line), (2, 6));
        assert_eq!(ast.warnings.len(), 1);
    }

    #[test]
    fn flags_and_onbuild_dump() {
        assert_eq!(
            dump("RUN --mount=type=cache,target=/root/.cache --network=none pip install x\n"),
            "(run [\"--mount=type=cache,target=/root/.cache\" \"--network=none\"] \"pip install x\")\n"
        );
        assert_eq!(
            dump("ONBUILD ADD . /app\n"),
            "(onbuild (add \".\" \"/app\"))\n"
        );
        assert_eq!(dump("frobnicate x\n"), "(frobnicate \"\")\n");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("FROM a\n\nENV x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 3: ENV must have two arguments"
        );
        let e = parse("FROM a\nCMD [\"a\", 1]\n").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("dockerfile parse error on line 2: when using JSON"));
        assert!(parse("# only a comment\n\n").is_err());
    }
}
