//! `--env-file` and `-e`: docker/cli's `opts/envfile.go`, `opts/parse.go`
//! and `opts.ValidateEnv` rules, plus moby's merge of the image's `Env` with
//! the container's (`ReplaceOrAppendEnvValues`).

/// Characters that may not appear in a variable name (docker's `whiteSpaces`).
const WHITESPACE: &[char] = &[' ', '\t'];

/// Why an env file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvFileError {
    /// A line whose variable name is empty or contains whitespace.
    #[error("poorly formatted environment: {0}")]
    BadKey(String),
    /// A line that is not valid UTF-8 (1-based line number).
    #[error("env file contains invalid utf8 bytes at line {line}")]
    InvalidUtf8 {
        /// The 1-based line number.
        line: usize,
    },
}

/// Parses the contents of an `--env-file`:
///
/// * a UTF-8 BOM at the start is dropped;
/// * leading whitespace is trimmed; empty lines and lines starting with `#`
///   are skipped;
/// * `K=V` is taken literally (no quote stripping, the value keeps any
///   trailing whitespace);
/// * a bare `K` takes the host's value (`lookup`) as `K=value`, and is
///   dropped when the host has no such variable;
/// * a name containing a space or tab fails with
///   `poorly formatted environment: variable 'my var' contains whitespaces`,
///   an empty one with `poorly formatted environment: no variable name on
///   line '=x'`.
pub fn parse_env_file(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, EnvFileError> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    for raw in content.lines() {
        if let Some(v) = parse_line(raw, lookup)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// Like [`parse_env_file`] for raw file bytes: a line that is not valid
/// UTF-8 fails with [`EnvFileError::InvalidUtf8`] naming its line number
/// (docker's `env file <name> contains invalid utf8 bytes at line N`; the
/// caller adds the file name).
pub fn parse_env_file_bytes(
    content: &[u8],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, EnvFileError> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    let mut out = Vec::new();
    // Split like Go's bufio.ScanLines: on '\n', dropping one trailing '\r',
    // with no empty final line for a trailing newline.
    let content = content.strip_suffix(b"\n").unwrap_or(content);
    if content.is_empty() {
        return Ok(out);
    }
    for (i, raw) in content.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line =
            std::str::from_utf8(raw).map_err(|_| EnvFileError::InvalidUtf8 { line: i + 1 })?;
        if let Some(v) = parse_line(line, lookup)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// One env-file line: `Ok(None)` for skipped lines.
fn parse_line(
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, EnvFileError> {
    let line = raw.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (name, value) = match line.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (line, None),
    };
    let name = name.trim_start_matches(WHITESPACE);
    if name.contains(WHITESPACE) {
        return Err(EnvFileError::BadKey(format!(
            "variable '{name}' contains whitespaces"
        )));
    }
    if name.is_empty() {
        return Err(EnvFileError::BadKey(format!(
            "no variable name on line '{line}'"
        )));
    }
    Ok(match value {
        Some(v) => Some(format!("{name}={v}")),
        None => lookup(name).map(|v| format!("{name}={v}")),
    })
}

/// One `-e` value, as docker's CLI passes it on:
///
/// * `K=V` as is (`K=` sets an empty value);
/// * `K` with `K` set on the host (`lookup`) becomes `K=value`;
/// * `K` with `K` unset on the host stays a bare `K`, which docker treats as
///   "remove `K` from the image's environment" — [`merge_env`] does that and
///   never lets a bare name through;
/// * an empty name (`=x`, or an empty value) gives `None` (docker refuses it
///   with `invalid environment variable: =x`).
pub fn parse_env_flag(v: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let (name, has_value) = match v.split_once('=') {
        Some((n, _)) => (n, true),
        None => (v, false),
    };
    if name.is_empty() {
        return None;
    }
    if has_value {
        return Some(v.to_string());
    }
    Some(match lookup(name) {
        Some(val) => format!("{name}={val}"),
        None => name.to_string(),
    })
}

/// The error docker gives for an `-e` value [`parse_env_flag`] refuses.
pub fn invalid_env_flag_message(v: &str) -> String {
    format!("invalid environment variable: {v}")
}

fn key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// Merges the container's variables over the image's, like moby's
/// `ReplaceOrAppendEnvValues`: the image's entries keep their order, an
/// override of an existing key replaces it in place, new keys are appended
/// in order (a later override of the same key wins), and a bare `K` (no `=`)
/// removes `K` (a later `K=v` puts it back in its old place). Bare names are
/// never part of the result.
pub fn merge_env(image_env: &[String], overrides: &[String]) -> Vec<String> {
    // (key, entry); a `None` entry is a removed variable that keeps its slot.
    let mut out: Vec<(String, Option<String>)> = image_env
        .iter()
        .filter(|e| e.contains('='))
        .map(|e| (key(e).to_string(), Some(e.clone())))
        .collect();
    for o in overrides {
        let k = key(o);
        let pos = out.iter().position(|(ek, _)| ek == k);
        match (o.contains('='), pos) {
            (true, Some(i)) => out[i].1 = Some(o.clone()),
            (true, None) => out.push((k.to_string(), Some(o.clone()))),
            (false, Some(i)) => out[i].1 = None,
            (false, None) => {}
        }
    }
    out.into_iter().filter_map(|(_, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(k: &str) -> Option<String> {
        match k {
            "HOME" => Some("/home/me".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_string()).collect()
    }

    #[test]
    fn env_file_basics() {
        let content = "\u{feff}# comment\n\nA=1\n   B=two words  \nC=\"quoted\"\n  # indented comment\nHOME\nUNSET\nEMPTY\nD==x=\r\nE=\n\tF=tab\n";
        assert_eq!(
            parse_env_file(content, &host).unwrap(),
            s(&[
                "A=1",
                "B=two words  ",
                "C=\"quoted\"",
                "HOME=/home/me",
                "EMPTY=",
                "D==x=",
                "E=",
                "F=tab"
            ])
        );
    }

    #[test]
    fn env_file_errors() {
        let e = parse_env_file("OK=1\nmy var=1\n", &host).unwrap_err();
        assert_eq!(
            e.to_string(),
            "poorly formatted environment: variable 'my var' contains whitespaces"
        );
        let e = parse_env_file("=x\n", &host).unwrap_err();
        assert_eq!(
            e.to_string(),
            "poorly formatted environment: no variable name on line '=x'"
        );
        // Trailing whitespace on a bare name is part of the name.
        assert!(parse_env_file("HOME \n", &host).is_err());
        let e = parse_env_file_bytes(b"A=1\nB=\xff\n", &host).unwrap_err();
        assert_eq!(e, EnvFileError::InvalidUtf8 { line: 2 });
        assert_eq!(
            e.to_string(),
            "env file contains invalid utf8 bytes at line 2"
        );
    }

    #[test]
    fn env_file_bytes() {
        assert_eq!(
            parse_env_file_bytes(b"\xEF\xBB\xBFA=1\r\nHOME\nB=2", &host).unwrap(),
            s(&["A=1", "HOME=/home/me", "B=2"])
        );
        assert!(parse_env_file_bytes(b"", &host).unwrap().is_empty());
    }

    #[test]
    fn env_flag() {
        assert_eq!(parse_env_flag("A=1", &host).as_deref(), Some("A=1"));
        assert_eq!(parse_env_flag("A=", &host).as_deref(), Some("A="));
        assert_eq!(parse_env_flag("A=b=c", &host).as_deref(), Some("A=b=c"));
        assert_eq!(
            parse_env_flag("HOME", &host).as_deref(),
            Some("HOME=/home/me")
        );
        assert_eq!(parse_env_flag("EMPTY", &host).as_deref(), Some("EMPTY="));
        assert_eq!(parse_env_flag("UNSET", &host).as_deref(), Some("UNSET"));
        assert_eq!(parse_env_flag("=x", &host), None);
        assert_eq!(parse_env_flag("", &host), None);
        assert_eq!(
            invalid_env_flag_message("=x"),
            "invalid environment variable: =x"
        );
    }

    #[test]
    fn merge() {
        let image = s(&["PATH=/usr/bin", "LANG=C", "GOPATH=/go"]);
        assert_eq!(
            merge_env(&image, &s(&["LANG=en_US.UTF-8", "NEW=1", "NEW=2", "X="])),
            s(&[
                "PATH=/usr/bin",
                "LANG=en_US.UTF-8",
                "GOPATH=/go",
                "NEW=2",
                "X="
            ])
        );
        // Bare names remove and never leak through.
        assert_eq!(
            merge_env(&image, &s(&["GOPATH", "UNSET"])),
            s(&["PATH=/usr/bin", "LANG=C"])
        );
        assert_eq!(merge_env(&[], &[]), Vec::<String>::new());
        // Remove then set again: back in its old place, as in moby.
        assert_eq!(
            merge_env(&image, &s(&["LANG", "LANG=fr"])),
            s(&["PATH=/usr/bin", "LANG=fr", "GOPATH=/go"])
        );
    }
}
