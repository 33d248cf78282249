//! Isolation details as docker has them (masked paths, pid 1 and signals)
//! and leak checks: containers that are gone leave no mount and no cgroup.

mod support;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{cgroups_matching, Berth};

/// docker's default masked paths (moby `oci/defaults.go`).
const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

#[test]
fn dockers_masked_paths_are_empty() {
    let b = Berth::new();
    // Only paths this kernel has say anything (no /proc/kcore without
    // CONFIG_PROC_KCORE): a masked file reads empty, a masked directory
    // lists nothing.
    let mut script = String::new();
    let mut expect = Vec::new();
    for p in MASKED {
        let path = std::path::Path::new(p);
        if path.is_dir() {
            if std::fs::read_dir(path)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
            {
                script.push_str(&format!("echo \"{p} $(ls -A {p} | wc -l)\"; "));
                expect.push(format!("{p} 0"));
            }
        } else if path.exists() {
            script.push_str(&format!("echo \"{p} $(cat {p} 2>/dev/null | wc -c)\"; "));
            expect.push(format!("{p} 0"));
        }
    }
    assert!(!expect.is_empty(), "no masked path exists on this host?");
    let out = b.ok(&["run", "--rm", "busybox", "sh", "-c", &script]);
    let got: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(got, expect, "masked paths inside the container");
    // --privileged unmasks (docker: no masked and no read-only paths).
    let out = b.ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep -c ' /proc/sys .* ro,' /proc/self/mounts; ls -A /sys/firmware | wc -l",
    ]);
    let host_fw = std::fs::read_dir("/sys/firmware")
        .map(|d| d.count())
        .unwrap_or(0);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        ["0", host_fw.to_string().as_str()],
        "--privileged: {out}"
    );
}

#[test]
fn proc_sys_is_read_only_but_proc_self_works() {
    let b = Berth::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "grep ' /proc/sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1; cat /proc/self/comm",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["ro", "cat"], "{out}");
}

#[test]
fn sigkill_from_inside_does_not_kill_pid_1() {
    // The kernel ignores signals without a handler sent to a pid
    // namespace's init from inside it, SIGKILL included: docker's
    // `run busybox sh -c 'kill -9 $$; echo alive'` prints alive and exits 0.
    let b = Berth::new();
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "kill -9 $$; echo alive"
        ]),
        "alive\n"
    );
    // With --init the shell is not pid 1, so the same kill kills it: 137.
    b.fails(
        &[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "kill -9 $$; echo alive",
        ],
        137,
    );
    // A child killed by a signal: the shell reports 128+n as its own code.
    b.fails(
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "sleep 10 & kill -TERM $!; wait $!",
        ],
        143,
    );
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

/// Starts `berth run --rm [extra] busybox sh -c SCRIPT` whose script prints
/// "ready" once its traps are set, sends `sig` to the berth process and
/// returns berth's exit code.
fn signal_run(b: &Berth, extra: &[&str], script: &str, sig: &str) -> Option<i32> {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    let mut child = b
        .command()
        .args(&args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    out.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    let st = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth run did not exit after {sig}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_to_berth_reaches_the_trap() {
    let b = Berth::new();
    // The plan's case: the shell waits on a background sleep.
    assert_eq!(
        signal_run(
            &b,
            &[],
            "trap 'exit 42' TERM; sleep 100 & echo ready; wait",
            "-TERM"
        ),
        Some(42)
    );
    // Through --init too: the init forwards the signal to the command.
    assert_eq!(
        signal_run(
            &b,
            &["--init"],
            "trap 'exit 43' TERM; sleep 100 & echo ready; wait",
            "-TERM"
        ),
        Some(43)
    );
    // Other signals are proxied as well.
    assert_eq!(
        signal_run(
            &b,
            &[],
            "trap 'exit 7' INT; sleep 100 & echo ready; wait",
            "-INT"
        ),
        Some(7)
    );
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
}

#[test]
fn rm_runs_leave_no_mount_and_no_cgroup() {
    let b = Berth::new();
    let mut ids = Vec::new();
    for extra in [
        &[][..],
        &["--init"][..],
        &["--privileged"][..],
        &["--memory", "64m", "--pids-limit", "50"][..],
    ] {
        ids.push(b.run_rm_short_id(extra));
    }
    // --network host shares the host's hostname (as docker), so no id here;
    // its mounts are checked below.
    b.ok(&["run", "--rm", "--network", "host", "busybox", "true"]);
    // A failing command and a command that is not found leave nothing either.
    b.fails(&["run", "--rm", "busybox", "sh", "-c", "exit 5"], 5);
    b.fails(&["run", "--rm", "busybox", "nosuchcmd"], 127);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    b.assert_no_leaks(&ids);
}

#[test]
fn rm_f_of_running_containers_leaves_no_cgroup() {
    let b = Berth::new();
    let ids: Vec<String> = (0..3)
        .map(|_| {
            b.ok(&["run", "-d", "busybox", "sleep", "100"])
                .trim()
                .to_string()
        })
        .collect();
    for id in &ids {
        assert!(
            !cgroups_matching(id).is_empty(),
            "a running container has a cgroup named after its id ({id})"
        );
    }
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    let out = b.ok(&args);
    assert_eq!(out.lines().collect::<Vec<_>>(), ids);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    b.assert_no_leaks(&ids);
}

#[test]
fn eight_parallel_rm_runs_of_true() {
    let b = std::sync::Arc::new(Berth::new());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || b.run(&["run", "--rm", "busybox", "true"]))
        })
        .collect();
    for h in handles {
        let o = h.join().unwrap();
        assert!(
            o.status.success(),
            "parallel run failed: {:?}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(b.ok(&["ps", "-a", "-q"]), "");
    // Again with the ids known: nothing is left behind.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || b.run_rm_short_id(&[]))
        })
        .collect();
    let ids: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut uniq = ids.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 8, "ids are unique: {ids:?}");
    assert_eq!(b.ok(&["ps", "-a", "-q"]), "");
    b.assert_no_leaks(&ids);
}
