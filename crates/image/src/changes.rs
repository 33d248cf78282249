//! `docker import --change` / `docker commit --change` Dockerfile instructions
//! applied to an image's container config.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::{Error, Result};

/// The runtime part of an image config that `--change` lines can set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    /// `USER`
    pub user: String,
    /// `ENV`, as `KEY=value`.
    pub env: Vec<String>,
    /// `CMD`
    pub cmd: Option<Vec<String>>,
    /// `ENTRYPOINT`
    pub entrypoint: Option<Vec<String>>,
    /// `WORKDIR`
    pub working_dir: String,
    /// `LABEL`
    pub labels: BTreeMap<String, String>,
    /// `VOLUME`
    pub volumes: BTreeSet<String>,
    /// `EXPOSE`, as `80/tcp`.
    pub exposed_ports: BTreeSet<String>,
    /// `ONBUILD`
    pub on_build: Vec<String>,
    /// `STOPSIGNAL`
    pub stop_signal: Option<String>,
}

fn set_map(items: impl Iterator<Item = String>) -> Value {
    let m: serde_json::Map<String, Value> = items.map(|k| (k, json!({}))).collect();
    if m.is_empty() {
        Value::Null
    } else {
        Value::Object(m)
    }
}

impl ContainerConfig {
    /// Docker's `config` object of an image config (Go's `container.Config`).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "Hostname": "",
            "Domainname": "",
            "User": self.user,
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
        });
        let m = v.as_object_mut().expect("object");
        if !self.exposed_ports.is_empty() {
            m.insert(
                "ExposedPorts".into(),
                set_map(self.exposed_ports.iter().cloned()),
            );
        }
        m.insert("Tty".into(), json!(false));
        m.insert("OpenStdin".into(), json!(false));
        m.insert("StdinOnce".into(), json!(false));
        m.insert(
            "Env".into(),
            if self.env.is_empty() {
                Value::Null
            } else {
                json!(self.env)
            },
        );
        m.insert("Cmd".into(), json!(self.cmd));
        m.insert("Image".into(), json!(""));
        m.insert("Volumes".into(), set_map(self.volumes.iter().cloned()));
        m.insert("WorkingDir".into(), json!(self.working_dir));
        m.insert("Entrypoint".into(), json!(self.entrypoint));
        m.insert(
            "OnBuild".into(),
            if self.on_build.is_empty() {
                Value::Null
            } else {
                json!(self.on_build)
            },
        );
        m.insert(
            "Labels".into(),
            if self.labels.is_empty() {
                Value::Null
            } else {
                json!(self.labels)
            },
        );
        if let Some(s) = &self.stop_signal {
            m.insert("StopSignal".into(), json!(s));
        }
        v
    }

    /// Apply `--change` lines in order.
    pub fn apply_changes(&mut self, changes: &[String]) -> Result<()> {
        for c in changes {
            self.apply_change(c)?;
        }
        Ok(())
    }

    /// Apply one `--change` line such as `CMD ["sh"]` or `ENV A=b`.
    pub fn apply_change(&mut self, line: &str) -> Result<()> {
        let line_t = line.trim();
        let (instr, rest) = match line_t.find(char::is_whitespace) {
            Some(i) => (&line_t[..i], line_t[i..].trim()),
            None => (line_t, ""),
        };
        let bad = |reason: &str| Error::InvalidChange {
            line: line.to_string(),
            reason: reason.to_string(),
        };
        let lower = instr.to_ascii_lowercase();
        let valid = [
            "cmd",
            "entrypoint",
            "env",
            "expose",
            "label",
            "onbuild",
            "user",
            "volume",
            "workdir",
            "stopsignal",
        ];
        if !valid.contains(&lower.as_str()) {
            return Err(Error::InvalidChangeCommand(lower));
        }
        if rest.is_empty() {
            return Err(bad(&format!(
                "{} requires at least one argument",
                instr.to_ascii_uppercase()
            )));
        }
        match lower.as_str() {
            "cmd" => self.cmd = Some(exec_or_shell(rest)),
            "entrypoint" => self.entrypoint = Some(exec_or_shell(rest)),
            "env" => {
                for (k, v) in name_values(rest).map_err(|r| bad(&r))? {
                    let prefix = format!("{k}=");
                    let kv = format!("{k}={v}");
                    match self
                        .env
                        .iter_mut()
                        .find(|e| e.starts_with(&prefix) || **e == k)
                    {
                        Some(e) => *e = kv,
                        None => self.env.push(kv),
                    }
                }
            }
            "label" => {
                for (k, v) in name_values(rest).map_err(|r| bad(&r))? {
                    self.labels.insert(k, v);
                }
            }
            "expose" => {
                for w in words(rest).map_err(|r| bad(&r))? {
                    for p in expand_port(&w).map_err(|r| bad(&r))? {
                        self.exposed_ports.insert(p);
                    }
                }
            }
            "volume" => {
                let vols = match json_array(rest) {
                    Some(v) => v,
                    None => words(rest).map_err(|r| bad(&r))?,
                };
                for v in vols {
                    if v.trim().is_empty() {
                        return Err(bad("VOLUME specified can not be an empty string"));
                    }
                    self.volumes.insert(v);
                }
            }
            "user" => self.user = rest.to_string(),
            "workdir" => {
                let w = if rest.starts_with('/') {
                    rest.to_string()
                } else {
                    let base = if self.working_dir.is_empty() {
                        "/"
                    } else {
                        &self.working_dir
                    };
                    format!("{}/{}", base.trim_end_matches('/'), rest)
                };
                self.working_dir = clean_abs(&w);
            }
            "stopsignal" => self.stop_signal = Some(rest.to_string()),
            "onbuild" => {
                let first = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                if matches!(first.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(bad(&format!("{first} isn't allowed as an ONBUILD trigger")));
                }
                self.on_build.push(rest.to_string());
            }
            _ => unreachable!("checked above"),
        }
        Ok(())
    }
}

fn clean_abs(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// JSON (exec) form, or shell form wrapped in `/bin/sh -c`.
fn exec_or_shell(s: &str) -> Vec<String> {
    json_array(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.to_string()])
}

/// Split on whitespace honouring quotes and backslashes, removing them.
fn words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            (_, c) => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if quote.is_some() {
        return Err("unmatched quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `KEY=value KEY2="v 2"` or the legacy `KEY value with spaces`.
fn name_values(s: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let first = s.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = match s.find(char::is_whitespace) {
            Some(i) => (&s[..i], s[i..].trim()),
            None => return Err(format!("{s} must have two arguments")),
        };
        return Ok(vec![(k.to_string(), v.to_string())]);
    }
    words(s)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err("key can not be blank".to_string()),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!(
                "key-value pair {w:?} must be of the form key=value"
            )),
        })
        .collect()
}

fn expand_port(spec: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {p}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!(
            "invalid range specified for container port: {ports}"
        ));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(lines: &[&str]) -> Result<ContainerConfig> {
        let mut c = ContainerConfig::default();
        c.apply_changes(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        Ok(c)
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let c = apply(&[r#"CMD ["echo", "hi"]"#, "entrypoint /bin/app --x"]).unwrap();
        assert_eq!(c.cmd, Some(vec!["echo".to_string(), "hi".to_string()]));
        assert_eq!(
            c.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "/bin/app --x".into()])
        );
        let c = apply(&["CMD echo \"a b\""]).unwrap();
        assert_eq!(c.cmd.unwrap()[2], "echo \"a b\"");
    }

    #[test]
    fn env_label_expose_volume() {
        let c = apply(&[
            "ENV A=1 B=\"two words\"",
            "ENV C three four",
            "ENV A=override",
            "LABEL maintainer=me version=\"1.0\"",
            "EXPOSE 80 53/udp 8000-8002",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /more",
            "USER 1000:1000",
            "WORKDIR /app",
            "WORKDIR sub/../dir",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN echo hi",
        ])
        .unwrap();
        assert_eq!(c.env, vec!["A=override", "B=two words", "C=three four"]);
        assert_eq!(c.labels.get("version").unwrap(), "1.0");
        assert_eq!(c.labels.get("maintainer").unwrap(), "me");
        let ports: Vec<_> = c.exposed_ports.iter().cloned().collect();
        assert_eq!(
            ports,
            vec!["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert_eq!(
            c.volumes.iter().cloned().collect::<Vec<_>>(),
            vec!["/data", "/logs", "/more"]
        );
        assert_eq!(c.user, "1000:1000");
        assert_eq!(c.working_dir, "/app/dir");
        assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(c.on_build, vec!["RUN echo hi"]);
        let j = c.to_json();
        assert_eq!(j["ExposedPorts"]["80/tcp"], json!({}));
        assert_eq!(j["Volumes"]["/data"], json!({}));
        assert_eq!(j["Cmd"], Value::Null);
    }

    #[test]
    fn bad_changes() {
        let e = apply(&["RUN echo"]).unwrap_err();
        assert_eq!(e.to_string(), "run is not a valid change command");
        assert_eq!(e.kind(), berth_kind::ErrorKind::Invalid);
        let e = apply(&["FROM scratch"]).unwrap_err();
        assert_eq!(e.to_string(), "from is not a valid change command");
        assert!(apply(&["CMD"])
            .unwrap_err()
            .to_string()
            .contains("CMD requires at least one argument"));
        assert!(apply(&["EXPOSE abc"])
            .unwrap_err()
            .to_string()
            .contains("invalid change \"EXPOSE abc\""));
        assert!(apply(&["LABEL =x"]).is_err());
        assert!(apply(&["ENV A=\"unterminated"]).is_err());
        assert!(apply(&["ONBUILD FROM x"]).is_err());
    }
}
