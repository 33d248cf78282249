//! `berth run`: isolation, flags, exit codes and signals, as docker does them.

mod support;

use std::io::Write;

use support::{unique, Berth};

fn sh(b: &Berth, extra: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    b.ok(&args)
}

fn status_field(b: &Berth, extra: &[&str], field: &str) -> String {
    sh(
        b,
        extra,
        &format!("grep '^{field}:' /proc/self/status | cut -f2"),
    )
    .trim()
    .to_string()
}

#[test]
fn echo_hello_and_rm_leaves_nothing() {
    let b = Berth::new();
    assert_eq!(
        b.ok(&["run", "--rm", "busybox", "echo", "hello"]),
        "hello\n"
    );
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
}

#[test]
fn exit_codes_follow_docker() {
    let b = Berth::new();
    b.fails(&["run", "--rm", "busybox", "sh", "-c", "exit 3"], 3);
    let err = b.fails(&["run", "--rm", "busybox", "echo hello"], 127);
    assert!(err.contains("executable file not found"), "{err}");
    b.fails(&["run", "--rm", "busybox", "/no/such"], 127);
    b.fails(&["run", "--rm", "busybox", "/etc/passwd"], 126);
    // pid 1 ignores SIGKILL from inside its namespace; a child does not.
    b.fails(
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "sleep 10 & kill -9 $!; wait $!",
        ],
        137,
    );
    b.fails(
        &["run", "--rm", "--init", "busybox", "sh", "-c", "kill -9 $$"],
        137,
    );
    let err = b.fails(&["run", "--rm", "nosuch"], 125);
    assert!(
        err.contains("Unable to find image 'nosuch:latest' locally"),
        "{err}"
    );
    b.fails(&["run", "--bogus-flag", "busybox", "true"], 125);
    // Failed starts leave no container behind.
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

#[test]
fn no_command_is_125() {
    let b = Berth::empty();
    b.ok(&["import", support::busybox_tar().to_str().unwrap(), "nocmd"]);
    let err = b.fails(&["run", "--rm", "nocmd"], 125);
    assert!(err.contains("No command specified"), "{err}");
}

#[test]
fn isolation_like_docker() {
    let b = Berth::new();
    let name = unique("iso");
    let out = b.ok(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; echo $$; ls /etc/hosts /etc/resolv.conf; cat /proc/net/dev | tail -n +3 | cut -d: -f1",
    ]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let id = b.ok(&["inspect", "-f", "{{.Id}}", &name]);
    assert_eq!(lines[0], &id[..12], "hostname is the short id");
    assert_eq!(lines[1], &id[..12]);
    assert_eq!(lines[2], "1", "the command is pid 1");
    assert_eq!(lines[3..5], ["/etc/hosts", "/etc/resolv.conf"]);
    assert_eq!(lines[5..], ["lo"], "--network none has only lo");
    b.ok(&["rm", &name]);
}

#[test]
fn capabilities_seccomp_and_nnp() {
    let b = Berth::new();
    assert_eq!(status_field(&b, &[], "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&b, &[], "Seccomp"), "2");
    assert_eq!(status_field(&b, &[], "NoNewPrivs"), "0");
    assert_eq!(
        status_field(&b, &["--security-opt", "no-new-privileges"], "NoNewPrivs"),
        "1"
    );
    assert_eq!(
        status_field(&b, &["--security-opt", "seccomp=unconfined"], "Seccomp"),
        "0"
    );
    assert_eq!(
        status_field(&b, &["--cap-drop", "ALL"], "CapEff"),
        "0000000000000000"
    );
    assert_eq!(
        status_field(&b, &["--cap-drop", "ALL", "--cap-add", "NET_RAW"], "CapEff"),
        "0000000000002000"
    );
    // --privileged: every capability berth itself holds.
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let host_bnd = host
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim();
    assert_eq!(status_field(&b, &["--privileged"], "CapEff"), host_bnd);
    assert_eq!(status_field(&b, &["--privileged"], "Seccomp"), "0");
    // The filter really filters: unshare needs CAP_SYS_ADMIN and is refused.
    let o = b.run(&["run", "--rm", "busybox", "unshare", "-m", "true"]);
    assert_ne!(o.status.code(), Some(0));
    b.fails(
        &["run", "--rm", "--cap-add", "NOPE", "busybox", "true"],
        125,
    );
}

#[test]
fn masked_and_readonly_paths() {
    let b = Berth::new();
    let out = sh(
        &b,
        &[],
        "wc -c < /proc/keys; echo 1 > /proc/sys/kernel/ostype 2>/dev/null && echo rw || echo ro",
    );
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines, ["0", "ro"]);
}

#[test]
fn env_workdir_user_entrypoint_hostname() {
    let b = Berth::new();
    let out = b
        .command()
        .args([
            "run",
            "--rm",
            "-e",
            "A=1",
            "-e",
            "FROM_HOST",
            "-e",
            "UNSET_ON_HOST_X",
            "busybox",
            "env",
        ])
        .env("FROM_HOST", "yes")
        .env_remove("UNSET_ON_HOST_X")
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(env.lines().any(|l| l == "A=1"), "{env}");
    assert!(env.lines().any(|l| l == "FROM_HOST=yes"), "{env}");
    assert!(!env.contains("UNSET_ON_HOST_X"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");

    assert_eq!(
        b.ok(&["run", "--rm", "-w", "/tmp", "busybox", "pwd"])
            .trim(),
        "/tmp"
    );
    assert_eq!(
        b.ok(&["run", "--rm", "-u", "nobody", "busybox", "id", "-u"])
            .trim(),
        "65534"
    );
    assert_eq!(
        b.ok(&["run", "--rm", "-u", "1234:1234", "busybox", "id"])
            .trim(),
        "uid=1234 gid=1234"
    );
    let err = b.fails(&["run", "--rm", "-u", "nosuchuser", "busybox", "id"], 125);
    assert!(err.contains("nosuchuser"), "{err}");
    assert_eq!(
        b.ok(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"])
            .trim(),
        "a b"
    );
    assert_eq!(
        b.ok(&["run", "--rm", "--hostname", "web", "busybox", "hostname"])
            .trim(),
        "web"
    );
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--ulimit",
            "nofile=512:512",
            "busybox",
            "sh",
            "-c",
            "ulimit -n"
        ])
        .trim(),
        "512"
    );
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

#[test]
fn env_file_rules_are_dockers() {
    let b = Berth::new();
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        "# a comment\nQUOTED=\"kept\"\n  SPACED=a b \nPASS_ME\nEMPTY="
    )
    .unwrap();
    let out = b
        .command()
        .args([
            "run",
            "--rm",
            "--env-file",
            f.path().to_str().unwrap(),
            "busybox",
            "env",
        ])
        .env("PASS_ME", "passed")
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(env.lines().any(|l| l == "QUOTED=\"kept\""), "{env}");
    assert!(env.lines().any(|l| l == "SPACED=a b "), "{env}");
    assert!(env.lines().any(|l| l == "PASS_ME=passed"), "{env}");
    assert!(env.lines().any(|l| l == "EMPTY="), "{env}");
    assert!(!env.contains("comment"));
    let mut bad = tempfile::NamedTempFile::new().unwrap();
    writeln!(bad, "MY VAR=1").unwrap();
    let err = b.fails(
        &[
            "run",
            "--rm",
            "--env-file",
            bad.path().to_str().unwrap(),
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("whitespace"), "{err}");
    b.fails(
        &[
            "run",
            "--rm",
            "--env-file",
            "/no/such/file",
            "busybox",
            "true",
        ],
        125,
    );
}

#[test]
fn init_reaps_and_forwards() {
    let b = Berth::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "echo $$; (sleep 0.1 &) ; sleep 0.3; ps -o stat | grep -c Z || true",
    ]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_ne!(lines[0], "1", "with --init the command is not pid 1");
    assert_eq!(lines[1], "0", "no zombies with --init: {out}");
}

#[test]
fn signals_reach_the_container() {
    let b = Berth::new();
    let mut child = b
        .command()
        .args([
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while true; do sleep 0.05; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

#[test]
fn stdin_with_i() {
    let b = Berth::new();
    let mut child = b
        .command()
        .args(["run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO\n");
}

#[test]
fn tty_gives_a_terminal() {
    let b = Berth::new();
    // `script` gives berth a terminal of its own.
    let cmd = format!(
        "{} --root {} --runroot {} run --rm -t busybox sh -c 'tty; echo $TERM'",
        support::berth_bin().display(),
        b.root().display(),
        b.runroot().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("xterm"), "{text}");
}

#[test]
fn host_network_sees_host_interfaces() {
    let b = Berth::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "cat",
        "/proc/net/dev",
    ]);
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    assert_eq!(out.lines().count(), host.lines().count());
}

#[test]
fn read_only_rootfs() {
    let b = Berth::new();
    let o = b.run(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_eq!(o.status.code(), Some(1));
    b.ok(&["run", "--rm", "busybox", "touch", "/x"]);
}

#[test]
fn parallel_runs_share_one_root() {
    let b = std::sync::Arc::new(Berth::new());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let b = b.clone();
            std::thread::spawn(move || b.ok(&["run", "--rm", "busybox", "echo", &i.to_string()]))
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().trim(), i.to_string());
    }
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert!(b.mounts().is_empty());
}

#[test]
fn sigpipe_has_its_default_action() {
    let b = Berth::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "yes | head -c 3; echo; grep SigIgn /proc/self/status",
    ]);
    assert!(out.starts_with("y\ny\n"), "{out}");
    let ign = u64::from_str_radix(
        out.lines()
            .last()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap(),
        16,
    )
    .unwrap();
    assert_eq!(ign & (1 << 12), 0, "SIGPIPE ignored in the container");
}
