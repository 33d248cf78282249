//! `berth exec` into running containers.

mod support;

use support::Berth;

fn running(b: &Berth) -> String {
    b.ok(&["run", "-d", "busybox", "sleep", "100"])
        .trim()
        .to_string()
}

#[test]
fn exec_joins_the_container() {
    let b = Berth::new();
    let id = running(&b);
    let out = b.ok(&["exec", &id[..6], "sh", "-c", "hostname; grep -E '^(CapEff|Seccomp):' /proc/self/status | cut -f2; tr '\\0' ' ' < /proc/1/cmdline"]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines, [&id[..12], "00000000a80425fb", "2", "sleep 100"]);
    b.fails(&["exec", &id, "sh", "-c", "exit 5"], 5);
    let err = b.fails(&["exec", &id, "nosuch"], 127);
    assert!(err.contains("executable file not found"), "{err}");
    let out = b.ok(&[
        "exec",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "FOO=bar",
        &id,
        "sh",
        "-c",
        "id -u; pwd; echo $FOO",
    ]);
    assert_eq!(out, "65534\n/tmp\nbar\n");
    let caps = b.ok(&[
        "exec",
        "--privileged",
        &id,
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert!(!caps.contains("00000000a80425fb"), "{caps}");
}

#[test]
fn exec_stdin_detach_and_stopped() {
    let b = Berth::new();
    let id = running(&b);
    let mut child = b
        .command()
        .args(["exec", "-i", &id, "tr", "a-z", "A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"abc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ABC\n", "{out:?}");
    b.ok(&["exec", "-d", &id, "sh", "-c", "echo detached > /tmp/marker"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if b.run(&["exec", &id, "cat", "/tmp/marker"]).status.success() {
            break;
        }
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    b.ok(&["stop", "-t", "0", &id]);
    let err = b.fails(&["exec", &id, "true"], 1);
    assert!(err.contains("is not running"), "{err}");
    b.fails(&["exec", "nosuch", "true"], 1);
}
