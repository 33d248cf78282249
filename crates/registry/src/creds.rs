//! Credentials as docker keeps them: `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`) with `auths` (base64 `user:password` in `auth`),
//! and `credsStore` / `credHelpers` naming `docker-credential-<helper>`
//! programs (`get`, `store`, `erase` over stdin/stdout).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::{Error, Result};

/// The key docker uses in `auths` for Docker Hub.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or identity token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// The directory of docker's client config: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

/// `config.json` in [`config_dir`].
pub fn config_path() -> PathBuf {
    config_dir().join("config.json")
}

/// The `auths` key of a registry host: Docker Hub's is its v1 URL.
pub fn server_key(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        h => h.to_string(),
    }
}

fn read_config() -> Result<Map<String, Value>> {
    let p = config_path();
    match std::fs::read(&p) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => serde_json::from_slice::<Value>(&b)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .ok_or_else(|| Error::Config(format!("{}: not a JSON object", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(Error::Config(format!("reading {}: {e}", p.display()))),
    }
}

fn write_config(cfg: &Map<String, Value>) -> Result<()> {
    let p = config_path();
    let dir = config_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Config(format!("creating {}: {e}", dir.display())))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let data = serde_json::to_vec_pretty(&Value::Object(cfg.clone()))
        .map_err(|e| Error::Config(e.to_string()))?;
    let res = (|| -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&data)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Config(format!("writing {}: {e}", p.display()))
    })
}

fn helper_for(cfg: &Map<String, Value>, key: &str) -> Option<String> {
    cfg.get("credHelpers")
        .and_then(|h| h.get(key))
        .and_then(Value::as_str)
        .or_else(|| cfg.get("credsStore").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<Vec<u8>> {
    let prog = format!("docker-credential-{helper}");
    let mut child = Command::new(&prog)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Config(format!("running {prog}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Config(format!("running {prog}: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        return Err(Error::Helper(format!("{prog} {action}: {msg}")));
    }
    Ok(out.stdout)
}

/// The stored credentials for registry `host` (`docker.io`, `localhost:5000`), if any.
pub fn get(host: &str) -> Result<Option<Credentials>> {
    let cfg = read_config()?;
    let key = server_key(host);
    if let Some(helper) = helper_for(&cfg, &key) {
        return match run_helper(&helper, "get", key.as_bytes()) {
            Ok(out) => {
                let v: Value = serde_json::from_slice(&out)
                    .map_err(|e| Error::Helper(format!("docker-credential-{helper}: {e}")))?;
                let username = v["Username"].as_str().unwrap_or_default().to_string();
                let password = v["Secret"].as_str().unwrap_or_default().to_string();
                Ok((!password.is_empty()).then_some(Credentials { username, password }))
            }
            // "credentials not found in native keychain"
            Err(Error::Helper(m)) if m.contains("not found") => Ok(None),
            Err(e) => Err(e),
        };
    }
    let Some(auths) = cfg.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let entry = auths.get(&key).or_else(|| {
        // docker also matches "https://host" and "http://host/…" keys
        auths.iter().find_map(|(k, v)| {
            let bare = k
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let bare = bare.split('/').next().unwrap_or(bare);
            (bare == key).then_some(v)
        })
    });
    let Some(entry) = entry else {
        return Ok(None);
    };
    if let Some(a) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.trim())
            .map_err(|e| Error::Config(format!("invalid auth for {key}: {e}")))?;
        let s = String::from_utf8_lossy(&raw);
        let (u, p) = s
            .split_once(':')
            .ok_or_else(|| Error::Config(format!("invalid auth for {key}")))?;
        return Ok(Some(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        }));
    }
    match (entry["username"].as_str(), entry["password"].as_str()) {
        (Some(u), Some(p)) => Ok(Some(Credentials {
            username: u.into(),
            password: p.into(),
        })),
        _ => Ok(None),
    }
}

/// Store credentials for `host` (a helper if configured, else `auths`).
pub fn store(host: &str, c: &Credentials) -> Result<()> {
    let mut cfg = read_config()?;
    let key = server_key(host);
    if let Some(helper) = helper_for(&cfg, &key) {
        let input = json!({"ServerURL": key, "Username": c.username, "Secret": c.password});
        run_helper(&helper, "store", input.to_string().as_bytes())?;
        // docker keeps an empty entry so `auths` lists the registry
        let auths = cfg
            .entry("auths")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| Error::Config("auths is not an object".into()))?;
        auths.insert(key, json!({}));
        return write_config(&cfg);
    }
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
    let auths = cfg
        .entry("auths")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| Error::Config("auths is not an object".into()))?;
    auths.insert(key, json!({ "auth": auth }));
    write_config(&cfg)
}

/// Remove the credentials of `host`; returns whether there were any.
pub fn erase(host: &str) -> Result<bool> {
    let mut cfg = read_config()?;
    let key = server_key(host);
    let mut found = false;
    if let Some(helper) = helper_for(&cfg, &key) {
        found = run_helper(&helper, "erase", key.as_bytes()).is_ok();
    }
    if let Some(auths) = cfg.get_mut("auths").and_then(Value::as_object_mut) {
        found |= auths.remove(&key).is_some();
    }
    if found {
        write_config(&cfg)?;
    }
    Ok(found)
}
