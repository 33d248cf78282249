//! The container record: one JSON file per container, shaped like
//! `docker container inspect` so inspect is the record itself.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Docker's zero time, used for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A container's lifecycle status, as docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started.
    Created,
    /// Its process runs.
    Running,
    /// Paused (freezer).
    Paused,
    /// Being restarted.
    Restarting,
    /// Being removed.
    Removing,
    /// Its process ended.
    Exited,
    /// Broken beyond repair.
    Dead,
}

impl Status {
    /// The lowercase name docker uses (`status=` filter, `State.Status`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// `State` in docker's inspect output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub status: Status,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// The berth process that waits for the task and records its exit (the
    /// monitor, or an attached `run`), with its start time.
    #[serde(
        default,
        rename = "BerthMonitor",
        skip_serializing_if = "Option::is_none"
    )]
    pub monitor: Option<(i32, u64)>,
    /// Stopped by `stop`/`kill` through berth: restart policies leave it be.
    #[serde(
        default,
        rename = "BerthManuallyStopped",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub manually_stopped: bool,
    /// Start time of the process (from /proc/PID/stat), to tell a reused pid.
    #[serde(
        default,
        rename = "BerthPidStart",
        skip_serializing_if = "Option::is_none"
    )]
    pub pid_start: Option<u64>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            status: Status::Created,
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            pid_start: None,
            manually_stopped: false,
            monitor: None,
        }
    }
}

/// `Config` in docker's inspect output.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// One `--ulimit`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// Resource limits (part of `HostConfig`, docker's field names; 0 = unset).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    /// `--memory`, bytes.
    pub memory: i64,
    /// `--memory-swap`, bytes of memory plus swap (-1 = unlimited).
    pub memory_swap: i64,
    /// `--memory-reservation`, bytes.
    pub memory_reservation: i64,
    /// `--cpus`, in billionths of a CPU.
    pub nano_cpus: i64,
    /// `--cpu-shares`.
    pub cpu_shares: i64,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: String,
    /// `--pids-limit` (0 = unset, -1 = unlimited).
    pub pids_limit: Option<i64>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: Option<bool>,
}

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped` or `on-failure` (docker writes `no` as "").
    pub name: String,
    /// For `on-failure`: how many restarts at most (0 = no limit).
    pub maximum_retry_count: u32,
}

impl RestartPolicy {
    /// Parses `--restart` (`no`, `always`, `unless-stopped`, `on-failure[:N]`).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let (name, count) = s.split_once(':').unwrap_or((s, ""));
        let max = if count.is_empty() {
            0
        } else {
            count.parse().map_err(|_| {
                format!(
                    "invalid restart policy format: maximum retry count must be an integer: {s}"
                )
            })?
        };
        match name {
            "" | "no" => Ok(Self { name: "no".into(), maximum_retry_count: 0 }),
            "always" | "unless-stopped" if count.is_empty() => Ok(Self { name: name.into(), maximum_retry_count: 0 }),
            "always" | "unless-stopped" => Err(format!("invalid restart policy format: maximum retry count cannot be used with restart policy '{name}'")),
            "on-failure" => Ok(Self { name: name.into(), maximum_retry_count: max }),
            _ => Err(format!("invalid restart policy format: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")),
        }
    }

    /// Whether a container that exited with `code`, restarted `count`
    /// times so far, comes back.
    pub fn should_restart(&self, code: i32, count: i32, manually_stopped: bool) -> bool {
        match self.name.as_str() {
            "always" | "unless-stopped" => !manually_stopped,
            "on-failure" => {
                !manually_stopped
                    && code != 0
                    && (self.maximum_retry_count == 0 || (count as u32) < self.maximum_retry_count)
            }
            _ => false,
        }
    }
}

/// `HostConfig` in docker's inspect output (the parts berth honours).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    pub network_mode: String,
    pub auto_remove: bool,
    pub privileged: bool,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub security_opt: Option<Vec<String>>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub init: Option<bool>,
    pub readonly_rootfs: bool,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<String>,
    /// `-p`, as docker's `PortBindings`.
    #[serde(default)]
    pub port_bindings: BTreeMap<String, Vec<crate::net::HostPort>>,
    /// `-P`
    #[serde(default)]
    pub publish_all_ports: bool,
    /// `--add-host`
    #[serde(default)]
    pub extra_hosts: Option<Vec<String>>,
    /// `--dns`
    #[serde(default)]
    pub dns: Vec<String>,
    /// `--dns-search`
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `--dns-option`
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// `--network-alias` (berth keeps it here; docker in `NetworkingConfig`).
    #[serde(default, rename = "BerthNetworkAliases")]
    pub network_aliases: Vec<String>,
    /// `--ip`
    #[serde(default, rename = "BerthIPAddress")]
    pub ip_address: String,
    /// `--mac-address`
    #[serde(default, rename = "BerthMacAddress")]
    pub mac_address: String,
    /// Networks added by `network connect`, joined at every start.
    #[serde(default, rename = "BerthExtraNetworks")]
    pub extra_networks: Vec<crate::net::ExtraNetwork>,
}

/// A container record (`ROOT/containers/ID/container.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    pub id: String,
    pub created: DateTime<Utc>,
    pub path: String,
    pub args: Vec<String>,
    pub state: State,
    /// The image id (`sha256:…`).
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    /// `/name`, as docker shows it.
    pub name: String,
    pub restart_count: i32,
    pub driver: String,
    pub platform: String,
    pub host_config: HostConfig,
    pub config: Config,
    #[serde(default)]
    pub mounts: Vec<crate::volumes::MountPoint>,
}

impl Container {
    /// The name without docker's leading `/`.
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// The 12-character id docker shows.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The full command line: entrypoint then cmd.
    pub fn command(&self) -> Vec<String> {
        let mut v = vec![self.path.clone()];
        v.extend(self.args.iter().cloned());
        v
    }

    /// Loads a record from `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.display().to_string(),
            source: e,
        })
    }

    /// Saves the record atomically at `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Corrupt {
            path: path.display().to_string(),
            source: e,
        })?;
        write_atomic(path, &bytes)
    }
}

/// Writes `bytes` to a temp file beside `path`, fsyncs it and renames it
/// over `path`, so readers see the old or the new content, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
        std::process::id()
    ));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("writing {}", path.display()), e)
    })
}
