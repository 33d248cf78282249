//! Resource limits through the container's cgroup (v1 or v2).

mod support;

use support::{unique, Berth};

/// Reads a cgroup file inside the container, v1 path first, then v2.
fn cg(b: &Berth, flags: &[&str], v1: &str, v2: &str) -> String {
    let script = format!("cat /sys/fs/cgroup/{v1} 2>/dev/null || cat /sys/fs/cgroup/{v2}");
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    b.ok(&args).trim().to_string()
}

#[test]
fn memory_cpu_pids_limits_reach_the_cgroup() {
    let b = Berth::new();
    assert_eq!(
        cg(
            &b,
            &["-m", "64m"],
            "memory/memory.limit_in_bytes",
            "memory.max"
        ),
        "67108864"
    );
    let quota = cg(&b, &["--cpus", "0.5"], "cpu/cpu.cfs_quota_us", "cpu.max");
    assert!(quota == "50000" || quota.starts_with("50000 "), "{quota}");
    assert_eq!(
        cg(&b, &["--pids-limit", "50"], "pids/pids.max", "pids.max"),
        "50"
    );
    assert_eq!(
        cg(
            &b,
            &["--cpuset-cpus", "0"],
            "cpuset/cpuset.cpus",
            "cpuset.cpus"
        ),
        "0"
    );
    let shares = cg(&b, &["--cpu-shares", "512"], "cpu/cpu.shares", "cpu.weight");
    assert!(!shares.is_empty());
}

#[test]
fn oom_kill_shows_137_and_oomkilled() {
    let b = Berth::new();
    let name = unique("oom");
    b.fails(
        &[
            "run",
            "--name",
            &name,
            "-m",
            "8m",
            "--memory-swap",
            "8m",
            "busybox",
            "sh",
            "-c",
            "x=a; while true; do x=\"$x$x\"; done",
        ],
        137,
    );
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.State.OOMKilled}} {{.State.ExitCode}}",
            &name
        ])
        .trim(),
        "true 137"
    );
}

#[test]
fn bad_limits_are_refused() {
    let b = Berth::new();
    assert!(b
        .fails(&["run", "--rm", "-m", "1m", "busybox", "true"], 125)
        .contains("Minimum memory limit"));
    b.fails(&["run", "--rm", "-m", "lots", "busybox", "true"], 125);
    b.fails(&["run", "--rm", "--cpus", "999", "busybox", "true"], 125);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

#[test]
fn stats_no_stream_reads_the_cgroup() {
    let b = Berth::new();
    let name = unique("busy");
    b.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while true; do :; done",
    ]);
    let out = b.ok(&["stats", "--no-stream"]);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    for col in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().unwrap();
    assert!(row.contains(&name) && row.contains("/ 64MiB"), "{row}");
    let cpu = b.ok(&["stats", "--no-stream", "--format", "{{.CPUPerc}}", &name]);
    let pct: f64 = cpu.trim().trim_end_matches('%').parse().unwrap();
    assert!(pct > 10.0, "a busy loop uses CPU: {cpu}");
    b.ok(&["rm", "-f", &name]);
}

#[test]
fn update_changes_a_running_containers_cgroup() {
    let b = Berth::new();
    let name = unique("upd");
    b.ok(&[
        "run", "-d", "--name", &name, "-m", "64m", "busybox", "sleep", "100",
    ]);
    let out = b.ok(&[
        "update",
        "-m",
        "96m",
        "--memory-swap",
        "192m",
        "--pids-limit",
        "40",
        "--cpus",
        "0.25",
        "--restart",
        "on-failure:3",
        &name,
    ]);
    assert_eq!(out.trim(), name);
    let read = |v1: &str, v2: &str| {
        b.ok(&[
            "exec",
            &name,
            "sh",
            "-c",
            &format!("cat /sys/fs/cgroup/{v1} 2>/dev/null || cat /sys/fs/cgroup/{v2}"),
        ])
        .trim()
        .to_string()
    };
    assert_eq!(
        read("memory/memory.limit_in_bytes", "memory.max"),
        "100663296"
    );
    assert_eq!(read("pids/pids.max", "pids.max"), "40");
    let quota = read("cpu/cpu.cfs_quota_us", "cpu.max");
    assert!(quota == "25000" || quota.starts_with("25000 "), "{quota}");
    let v = b.ok(&[
        "inspect", "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        &name,
    ]);
    assert_eq!(v.trim(), "100663296 40 250000000 on-failure:3");
    // docker's rule: memory above the memory+swap limit needs both.
    let err = b.fails(&["update", "-m", "1g", &name], 1);
    assert!(
        err.contains("update the memoryswap at the same time"),
        "{err}"
    );
    let err = b.fails(&["update", "-m", "1g", "nosuch-container"], 1);
    assert!(err.contains("No such container: nosuch-container"), "{err}");
    b.ok(&["rm", "-f", &name]);
}
