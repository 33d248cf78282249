//! `berth attach` to detached containers, through their monitor.

mod support;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use support::{unique, Berth};

#[test]
fn attach_streams_output_and_returns_the_exit_code() {
    let b = Berth::new();
    let name = unique("att");
    b.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; echo out; echo err >&2; exit 7",
    ]);
    let out = b.command().args(["attach", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err\n"));
    let err = b.fails(&["attach", &name], 1);
    assert!(
        err.contains("You cannot attach to a stopped container, start it first"),
        "{err}"
    );
    b.ok(&["rm", &name]);
}

#[test]
fn attach_feeds_stdin_of_a_detached_interactive_container() {
    let b = Berth::new();
    let name = unique("atti");
    b.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "read x; echo got:$x; exit 3",
    ]);
    let mut child = b
        .command()
        .args(["attach", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got:hello\n");
    b.ok(&["rm", &name]);
}

#[test]
fn attach_to_a_terminal_and_detach_with_the_keys() {
    let b = Berth::new();
    let name = unique("attt");
    b.ok(&["run", "-d", "-i", "-t", "--name", &name, "busybox", "sh"]);
    let mut child = b
        .command()
        .args(["attach", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"echo marker-$((6*7))\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // ctrl-p ctrl-q
    stdin.write_all(&[16, 17]).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("marker-42"),
        "{out:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("read escape sequence"));
    // Still running after the detach.
    let st = b.ok(&["inspect", "-f", "{{.State.Running}}", &name]);
    assert_eq!(st.trim(), "true");
    // Custom keys, then the shell's exit code comes back.
    let mut child = b
        .command()
        .args(["attach", "--detach-keys", "ctrl-x", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"exit 5\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    b.ok(&["rm", &name]);
}
