//! The OCI runtime spec a container runs with: docker's defaults plus the
//! container's own settings.

use std::path::Path;

use berth_runtime::defaults;
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::opts::SecurityOpt;
use crate::record::Container;
use crate::user::ExecUser;
use crate::{Error, Result};

/// Docker's default PATH, used when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Files berth provides inside every container (bind-mounted read-write,
/// as docker does).
#[derive(Debug)]
pub struct EtcFiles<'a> {
    /// Source for `/etc/hostname`.
    pub hostname: &'a Path,
    /// Source for `/etc/hosts`.
    pub hosts: &'a Path,
    /// Source for `/etc/resolv.conf`.
    pub resolv_conf: &'a Path,
    /// The network namespace to join (bridge, user networks, `container:`).
    pub netns: Option<&'a Path>,
}

/// This process's capability bounding set (`CapBnd` in /proc/self/status).
fn host_bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

/// Every capability berth itself may pass on (a host or sandbox can have a
/// smaller bounding set than the kernel knows): `--privileged`.
pub fn privileged_caps() -> Vec<String> {
    let bounding = host_bounding_set();
    defaults::all_caps()
        .into_iter()
        .filter(|c| defaults::cap_number(c).is_some_and(|n| bounding & (1u64 << n) != 0))
        .collect()
}

/// Builds the spec for `c`, whose rootfs is mounted at `bundle/rootfs`.
pub fn build(c: &Container, user: &ExecUser, etc: &EtcFiles<'_>) -> Result<Spec> {
    let hc = &c.host_config;
    let mut no_new_privs = false;
    let mut seccomp_unconfined = hc.privileged;
    let mut seccomp_file: Option<String> = None;
    for o in hc.security_opt.iter().flatten() {
        match crate::opts::parse_security_opt(o).map_err(Error::Invalid)? {
            SecurityOpt::NoNewPrivileges(v) => no_new_privs = v,
            SecurityOpt::SeccompUnconfined => seccomp_unconfined = true,
            SecurityOpt::SeccompProfile(p) => seccomp_file = Some(p),
            _ => {}
        }
    }

    let caps: Vec<String> = if hc.privileged {
        privileged_caps()
    } else {
        defaults::apply_cap_changes(
            defaults::DEFAULT_CAPS,
            hc.cap_add.as_deref().unwrap_or_default(),
            hc.cap_drop.as_deref().unwrap_or_default(),
        )
        .map_err(Error::Invalid)?
    };

    let mut env = c.config.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.insert(1.min(env.len()), format!("HOSTNAME={}", c.config.hostname));
    }
    if c.config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }

    let rlimits: Vec<Value> = hc
        .ulimits
        .iter()
        .flatten()
        .map(|u| {
            json!({"type": format!("RLIMIT_{}", u.name.trim_start_matches("RLIMIT_").to_uppercase()), "soft": u.soft, "hard": u.hard})
        })
        .collect();

    let mut mounts: Vec<Value> = defaults::default_mounts()
        .iter()
        .map(|m| serde_json::to_value(m).unwrap_or(Value::Null))
        .collect();
    if hc.privileged {
        // /sys read-write for privileged containers, as docker does.
        for m in &mut mounts {
            if m["destination"] == "/sys" {
                if let Some(opts) = m["options"].as_array_mut() {
                    opts.retain(|o| o != "ro");
                }
            }
        }
    }
    for (dst, src) in [
        ("/etc/resolv.conf", etc.resolv_conf),
        ("/etc/hostname", etc.hostname),
        ("/etc/hosts", etc.hosts),
    ] {
        mounts.push(json!({
            "destination": dst, "type": "bind", "source": src,
            "options": ["rbind", "rprivate"]
        }));
    }

    for m in &c.mounts {
        let mut options = vec![];
        let mount = match m.typ.as_str() {
            "tmpfs" => {
                options.extend(["nosuid", "nodev", "noexec"].map(String::from));
                options.extend(
                    m.tmpfs_options
                        .split(',')
                        .filter(|o| !o.is_empty())
                        .map(String::from),
                );
                if !m.rw && !options.iter().any(|o| o == "ro") {
                    options.push("ro".into());
                }
                json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": options})
            }
            _ => {
                options.extend(["rbind", if m.rw { "rw" } else { "ro" }].map(String::from));
                options.push(if m.propagation.is_empty() {
                    "rprivate".into()
                } else {
                    m.propagation.clone()
                });
                json!({"destination": m.destination, "type": "bind", "source": m.source, "options": options})
            }
        };
        mounts.push(mount);
    }

    // Parents before children (a volume on /etc before /etc/hosts), as
    // docker orders mounts; the sort is stable.
    mounts.sort_by_key(|m| {
        m["destination"]
            .as_str()
            .map(|d| d.split('/').filter(|p| !p.is_empty()).count())
            .unwrap_or(0)
    });

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    match (hc.network_mode.as_str(), etc.netns) {
        ("host", _) => {}
        (_, Some(path)) => namespaces.push(json!({"type": "network", "path": path})),
        _ => namespaces.push(json!({"type": "network"})),
    }

    let seccomp = if seccomp_unconfined {
        None
    } else if let Some(path) = seccomp_file {
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::Invalid(format!("opening seccomp profile ({path}) failed: {e}")))?;
        Some(
            defaults::seccomp_from_docker_json(&bytes, &caps)
                .map_err(|e| Error::Invalid(format!("Decoding seccomp profile failed: {e}")))?,
        )
    } else {
        Some(defaults::default_seccomp(&caps))
    };

    let devices = if hc.privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        json!([{"allow": false, "access": "rwm"}])
    };

    let mut annotations = serde_json::Map::new();
    if hc.init == Some(true) {
        annotations.insert(berth_runtime::ANNOTATION_INIT.into(), json!("true"));
    }

    let mut resources = resources_json(&hc.resources);
    resources["devices"] = devices;
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": crate::cgroup_path(&c.id),
        "resources": resources,
    });
    if !hc.privileged {
        linux["maskedPaths"] = json!(defaults::MASKED_PATHS);
        linux["readonlyPaths"] = json!(defaults::READONLY_PATHS);
    }
    if let Some(s) = seccomp {
        linux["seccomp"] = serde_json::to_value(s).unwrap_or(Value::Null);
    }

    let mut v = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": c.config.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": c.command(),
            "env": env,
            "cwd": if c.config.working_dir.is_empty() { "/" } else { c.config.working_dir.as_str() },
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
            },
            "rlimits": rlimits,
            "oomScoreAdj": 0,
        },
        "root": {"path": "rootfs", "readonly": hc.readonly_rootfs},
        "hostname": c.config.hostname,
        "mounts": mounts,
        "annotations": annotations,
        "linux": linux,
    });
    // libcontainer installs seccomp before dropping privileges only when
    // noNewPrivileges is absent, so leave it out unless it is asked for.
    if no_new_privs {
        v["process"]["noNewPrivileges"] = json!(true);
    }
    serde_json::from_value(v).map_err(|e| Error::Invalid(format!("building the OCI spec: {e}")))
}

/// The OCI `linux.resources` for docker's resource flags (without devices).
pub fn resources_json(r: &crate::record::Resources) -> Value {
    let mut resources = json!({});
    let mut memory = serde_json::Map::new();
    if r.memory > 0 {
        memory.insert("limit".into(), json!(r.memory));
    }
    if r.memory_swap != 0 {
        memory.insert("swap".into(), json!(r.memory_swap));
    }
    if r.memory_reservation > 0 {
        memory.insert("reservation".into(), json!(r.memory_reservation));
    }
    if r.oom_kill_disable == Some(true) {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if r.nano_cpus > 0 {
        cpu.insert("period".into(), json!(100_000u64));
        cpu.insert("quota".into(), json!(r.nano_cpus / 10_000));
    }
    if r.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(r.cpu_shares));
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(r.cpuset_cpus));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = r.pids_limit.filter(|p| *p != 0) {
        resources["pids"] = json!({"limit": p});
    }
    resources
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Config, HostConfig, State};

    fn container(hc: HostConfig) -> Container {
        Container {
            id: "a".repeat(64),
            created: chrono::Utc::now(),
            path: "sh".into(),
            args: vec!["-c".into(), "true".into()],
            state: State::default(),
            image: "sha256:x".into(),
            resolv_conf_path: String::new(),
            hostname_path: String::new(),
            hosts_path: String::new(),
            log_path: String::new(),
            name: "/t".into(),
            restart_count: 0,
            driver: "overlay2".into(),
            platform: "linux".into(),
            host_config: hc,
            mounts: vec![],
            config: Config {
                hostname: "aaaaaaaaaaaa".into(),
                env: vec!["A=1".into()],
                ..Default::default()
            },
        }
    }

    fn build_json(hc: HostConfig) -> Value {
        let user = ExecUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: "/root".into(),
        };
        let p = Path::new("/x");
        let etc = EtcFiles {
            hostname: p,
            hosts: p,
            resolv_conf: p,
            netns: None,
        };
        serde_json::to_value(build(&container(hc), &user, &etc).unwrap()).unwrap()
    }

    #[test]
    fn defaults_are_dockers() {
        let v = build_json(HostConfig {
            network_mode: "none".into(),
            ..Default::default()
        });
        let caps = v["process"]["capabilities"]["effective"]
            .as_array()
            .unwrap();
        assert_eq!(caps.len(), 14);
        assert!(v["process"].get("noNewPrivileges").is_none());
        assert!(v["linux"]["seccomp"].is_object());
        assert!(v["linux"]["maskedPaths"].as_array().unwrap().len() > 5);
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert!(ns.contains(&"network") && ns.contains(&"pid") && ns.contains(&"cgroup"));
        let env: Vec<&str> = v["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(env[0].starts_with("PATH="));
        assert!(env.contains(&"HOSTNAME=aaaaaaaaaaaa") && env.contains(&"A=1"));
        assert_eq!(v["process"]["args"][0], "sh");
    }

    #[test]
    fn privileged_host_network_and_options() {
        let v = build_json(HostConfig {
            network_mode: "host".into(),
            privileged: true,
            init: Some(true),
            security_opt: Some(vec!["no-new-privileges".into()]),
            ulimits: Some(vec![crate::record::Ulimit {
                name: "nofile".into(),
                soft: 10,
                hard: 20,
            }]),
            ..Default::default()
        });
        assert!(v["linux"].get("seccomp").is_none());
        assert!(v["linux"].get("maskedPaths").is_none());
        assert!(
            v["process"]["capabilities"]["effective"]
                .as_array()
                .unwrap()
                .len()
                > 30
        );
        assert_eq!(v["process"]["noNewPrivileges"], true);
        assert_eq!(v["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
        assert_eq!(v["annotations"][berth_runtime::ANNOTATION_INIT], "true");
        let ns = v["linux"]["namespaces"].as_array().unwrap();
        assert!(!ns.iter().any(|n| n["type"] == "network"));
    }
}
