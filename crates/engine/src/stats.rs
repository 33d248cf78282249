//! Resource usage of a running container, read from its cgroup (v1 or v2)
//! and its network namespace (`docker stats`).

use std::path::{Path, PathBuf};

/// One sample of a container's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    /// CPU time used by the container, in nanoseconds.
    pub cpu_ns: u64,
    /// CPU time of the whole host, in nanoseconds (from /proc/stat).
    pub system_ns: u64,
    /// Memory in use, without the inactive page cache (as docker shows it).
    pub mem_usage: u64,
    /// Memory limit (the host's memory when unlimited).
    pub mem_limit: u64,
    /// Bytes received and sent on the container's interfaces.
    pub net_rx: u64,
    /// See `net_rx`.
    pub net_tx: u64,
    /// Bytes read from and written to block devices.
    pub blk_read: u64,
    /// See `blk_read`.
    pub blk_write: u64,
    /// Number of tasks.
    pub pids: u64,
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn num(p: &Path) -> Option<u64> {
    read(p)?.trim().parse().ok()
}

fn stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some(key))
            .then(|| w.next()?.parse().ok())
            .flatten()
    })
}

fn host_memory() -> u64 {
    read(Path::new("/proc/meminfo"))
        .and_then(|m| stat_field(&m, "MemTotal:"))
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Total CPU time of the host in ns, as docker computes it from /proc/stat.
fn system_ns() -> u64 {
    let ticks_per_sec = 100u64; // USER_HZ on Linux
    read(Path::new("/proc/stat"))
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("cpu "))?.to_string();
            Some(
                line.split_whitespace()
                    .skip(1)
                    .take(7)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>(),
            )
        })
        .map(|t| t * 1_000_000_000 / ticks_per_sec)
        .unwrap_or(0)
}

fn net(pid: i32) -> (u64, u64) {
    let Some(dev) = read(Path::new(&format!("/proc/{pid}/net/dev"))) else {
        return (0, 0);
    };
    dev.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            if name.trim() == "lo" {
                return None;
            }
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            Some((*f.first()?, *f.get(8)?))
        })
        .fold((0, 0), |(a, b), (r, t)| (a + r, b + t))
}

/// A sample of the container whose cgroup is `cgroup` (e.g. `berth/ID`)
/// and whose pid 1 is `pid`.
pub fn sample(cgroup: &str, pid: i32) -> Sample {
    let cg = cgroup.trim_start_matches('/');
    let v2: PathBuf = Path::new("/sys/fs/cgroup").join(cg);
    let mut s = Sample {
        system_ns: system_ns(),
        ..Default::default()
    };
    if v2.join("cgroup.controllers").exists() {
        let cpu = read(&v2.join("cpu.stat")).unwrap_or_default();
        s.cpu_ns = stat_field(&cpu, "usage_usec").unwrap_or(0) * 1000;
        let stat = read(&v2.join("memory.stat")).unwrap_or_default();
        let cur = num(&v2.join("memory.current")).unwrap_or(0);
        s.mem_usage = cur.saturating_sub(stat_field(&stat, "inactive_file").unwrap_or(0));
        s.mem_limit = num(&v2.join("memory.max")).unwrap_or_else(host_memory);
        for l in read(&v2.join("io.stat")).unwrap_or_default().lines() {
            for kv in l.split_whitespace().skip(1) {
                match kv.split_once('=') {
                    Some(("rbytes", v)) => s.blk_read += v.parse::<u64>().unwrap_or(0),
                    Some(("wbytes", v)) => s.blk_write += v.parse::<u64>().unwrap_or(0),
                    _ => {}
                }
            }
        }
        s.pids = num(&v2.join("pids.current")).unwrap_or(0);
    } else {
        let v1 =
            |ctrl: &str, file: &str| Path::new("/sys/fs/cgroup").join(ctrl).join(cg).join(file);
        s.cpu_ns = num(&v1("cpuacct", "cpuacct.usage")).unwrap_or(0);
        let stat = read(&v1("memory", "memory.stat")).unwrap_or_default();
        let usage = num(&v1("memory", "memory.usage_in_bytes")).unwrap_or(0);
        s.mem_usage = usage.saturating_sub(stat_field(&stat, "total_inactive_file").unwrap_or(0));
        let limit = num(&v1("memory", "memory.limit_in_bytes")).unwrap_or(u64::MAX);
        let host = host_memory();
        s.mem_limit = if host > 0 && limit > host {
            host
        } else {
            limit
        };
        for l in read(&v1("blkio", "blkio.throttle.io_service_bytes_recursive"))
            .unwrap_or_default()
            .lines()
        {
            let w: Vec<&str> = l.split_whitespace().collect();
            if let [_, op, v] = w.as_slice() {
                match *op {
                    "Read" => s.blk_read += v.parse::<u64>().unwrap_or(0),
                    "Write" => s.blk_write += v.parse::<u64>().unwrap_or(0),
                    _ => {}
                }
            }
        }
        s.pids = num(&v1("pids", "pids.current")).unwrap_or(0);
    }
    let (rx, tx) = net(pid);
    s.net_rx = rx;
    s.net_tx = tx;
    s
}

/// Docker's CPU %: container CPU delta over host CPU delta, times CPUs.
pub fn cpu_percent(prev: &Sample, cur: &Sample, ncpu: u64) -> f64 {
    let cpu = cur.cpu_ns.saturating_sub(prev.cpu_ns) as f64;
    let sys = cur.system_ns.saturating_sub(prev.system_ns) as f64;
    if sys > 0.0 && cpu > 0.0 {
        cpu / sys * ncpu as f64 * 100.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_like_docker() {
        let a = Sample {
            cpu_ns: 0,
            system_ns: 0,
            ..Default::default()
        };
        let b = Sample {
            cpu_ns: 500_000_000,
            system_ns: 2_000_000_000,
            ..Default::default()
        };
        assert!((cpu_percent(&a, &b, 2) - 50.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&b, &b, 2), 0.0);
        assert_eq!(stat_field("a 1\nusage_usec 42\n", "usage_usec"), Some(42));
    }

    #[test]
    fn host_counters_are_readable() {
        assert!(system_ns() > 0);
        assert!(host_memory() > 0);
    }
}
