//! Container records and lifecycle: create/start, ps, rm, inspect, prune,
//! detached containers with logs, stop/kill/wait, crashes and leaks.

mod support;

use std::time::Duration;

use support::{unique, Berth};

#[test]
fn ps_columns_status_and_filters() {
    let b = Berth::new();
    let ok_name = unique("ok");
    let bad_name = unique("bad");
    let new_name = unique("new");
    b.ok(&[
        "run", "--name", &ok_name, "--label", "team=a", "busybox", "true",
    ]);
    b.fails(
        &["run", "--name", &bad_name, "busybox", "sh", "-c", "exit 2"],
        2,
    );
    b.ok(&[
        "create",
        "--name",
        &new_name,
        "busybox",
        "echo",
        "hello world",
    ]);

    let header = b.ok(&["ps"]);
    let cols: Vec<&str> = header
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        cols,
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    assert_eq!(header.lines().count(), 1, "nothing runs: {header}");

    let all = b.ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}|{{.Status}}|{{.Command}}|{{.Image}}",
    ]);
    let row = |n: &str| {
        all.lines()
            .find(|l| l.starts_with(n))
            .unwrap_or_else(|| panic!("{n} in {all}"))
            .to_string()
    };
    assert!(row(&ok_name).contains("|Exited (0) "), "{all}");
    assert!(row(&bad_name).contains("|Exited (2) "), "{all}");
    assert!(
        row(&new_name).contains("|Created|\"echo hello world\"|busybox"),
        "{all}"
    );

    assert_eq!(b.ok(&["ps", "-aq"]).lines().count(), 3);
    assert_eq!(b.ok(&["container", "ls", "-a", "-q"]).lines().count(), 3);
    assert_eq!(b.ok(&["ps", "-q", "-l"]).lines().count(), 1);
    assert_eq!(
        b.ok(&["ps", "-n", "2", "--format", "{{.Names}}"])
            .lines()
            .count(),
        2
    );
    let latest = b.ok(&["ps", "-l", "--format", "{{.Names}}"]);
    assert_eq!(latest.trim(), new_name);
    let f = |filter: &str| b.ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]);
    assert_eq!(f("status=created").trim(), new_name);
    assert_eq!(f("exited=2").trim(), bad_name);
    assert_eq!(f(&format!("name={ok_name}")).trim(), ok_name);
    assert_eq!(f("label=team=a").trim(), ok_name);
    assert_eq!(f("ancestor=busybox").lines().count(), 3);
    let full = b.ok(&["ps", "-a", "-q", "--no-trunc"]);
    assert!(full.lines().all(|l| l.len() == 64));
    let id = b.ok(&["inspect", "-f", "{{.Id}}", &ok_name]);
    assert_eq!(f(&format!("id={}", &id[..6])).trim(), ok_name);
    b.fails(&["ps", "--filter", "bogus=1"], 1);
    let sized = b.ok(&["ps", "-a", "-s"]);
    assert!(sized.lines().next().unwrap().ends_with("SIZE"), "{sized}");
    let json = b.ok(&["ps", "-a", "-l", "--format", "{{json .}}"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Names"], new_name.as_str());
}

#[test]
fn create_start_attach_and_names() {
    let b = Berth::new();
    let name = unique("c");
    let id = b.ok(&[
        "create",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo started; exit 4",
    ]);
    assert_eq!(id.trim().len(), 64);
    let o = b.run(&["start", "-a", &name]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "started\n");
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.State.Status}} {{.Name}}",
            &name
        ])
        .trim(),
        format!("4 exited /{name}")
    );
    // Name in use.
    let err = b.fails(&["create", "--name", &name, "busybox", "true"], 125);
    assert!(err.contains("is already in use"), "{err}");
    b.fails(&["create", "--name", "-bad", "busybox", "true"], 125);
    // Generated names look like docker's.
    let gen = b.ok(&["create", "busybox", "true"]);
    let gname = b.ok(&["inspect", "-f", "{{.Name}}", gen.trim()]);
    assert!(
        gname.trim().trim_start_matches('/').contains('_'),
        "{gname}"
    );
}

#[test]
fn inspect_is_docker_shaped() {
    let b = Berth::new();
    let name = unique("i");
    b.ok(&["run", "--name", &name, "-e", "X=1", "busybox", "true"]);
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["inspect", &name])).unwrap();
    let c = &v[0];
    assert_eq!(c["Id"].as_str().unwrap().len(), 64);
    assert_eq!(c["Name"], format!("/{name}"));
    assert_eq!(c["Path"], "true");
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["ExitCode"], 0);
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(c["Config"]["Image"], "busybox");
    assert!(c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "X=1"));
    assert_eq!(c["HostConfig"]["NetworkMode"], "bridge");
    assert!(c["State"].get("BerthPidStart").is_none());
    let cv: serde_json::Value =
        serde_json::from_str(&b.ok(&["container", "inspect", &name])).unwrap();
    assert_eq!(cv[0]["Id"], c["Id"]);
    assert!(b
        .fails(&["container", "inspect", "nosuch"], 1)
        .contains("No such container: nosuch"));
}

#[test]
fn rm_prefixes_force_and_prune() {
    let b = Berth::new();
    let ids: Vec<String> = (0..3)
        .map(|_| b.ok(&["create", "busybox", "true"]).trim().to_string())
        .collect();
    // Any unique prefix works.
    assert_eq!(b.ok(&["rm", &ids[0][..8]]).trim(), &ids[0][..8]);
    // An ambiguous prefix is an error (all ids are hex: "" never matches, a
    // single shared first char usually does not exist, so craft one).
    let err = b.fails(&["rm", "nosuch"], 1);
    assert!(err.contains("No such container: nosuch"), "{err}");
    let running = b.ok(&["run", "-d", "busybox", "sleep", "100"]);
    let running = running.trim();
    let err = b.fails(&["rm", running], 1);
    assert!(err.contains("container is running"), "{err}");
    let out = b.ok(&["rm", "-f", running, &ids[1]]);
    assert_eq!(out.lines().count(), 2);
    let out = b.ok(&["container", "prune", "-f"]);
    assert!(
        out.contains(&ids[2]) && out.contains("Total reclaimed space"),
        "{out}"
    );
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
    for id in ids.iter().chain(std::iter::once(&running.to_string())) {
        assert!(Berth::cgroups_of(id).is_empty(), "cgroup left for {id}");
    }
}

#[test]
fn ambiguous_prefix_is_an_error() {
    let b = Berth::new();
    // Create containers until two share a first hex digit.
    let mut seen = std::collections::HashMap::new();
    let prefix = loop {
        let id = b.ok(&["create", "busybox", "true"]).trim().to_string();
        let first = id[..1].to_string();
        if seen.insert(first.clone(), id).is_some() {
            break first;
        }
    };
    let err = b.fails(&["inspect", "--type", "container", &prefix], 1);
    assert!(
        err.contains("multiple containers found") || err.contains("No such"),
        "{err}"
    );
    let err = b.fails(&["rm", &prefix], 1);
    assert!(err.contains("multiple containers found"), "{err}");
}

#[test]
fn detached_logs_stop_kill_wait() {
    let b = Berth::new();
    let id = b.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo line $i; echo err $i >&2; sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    std::thread::sleep(Duration::from_millis(600));
    let ps = b.ok(&["ps", "--format", "{{.ID}} {{.Status}}"]);
    assert!(ps.contains(&format!("{} Up ", &id[..12])), "{ps}");
    let o = b.run(&["logs", "--tail", "2", &id[..5]]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.lines().count(),
        1,
        "two entries, one on each stream: {out}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("err "));
    let stamped = b.ok(&["logs", "-t", "--tail", "2", id]);
    assert!(
        stamped.starts_with("20") && stamped.contains("Z "),
        "{stamped}"
    );
    // sh as pid 1 ignores SIGTERM: stop waits, then kills.
    let t = std::time::Instant::now();
    b.ok(&["stop", "-t", "1", &id[..6]]);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", id])
            .trim(),
        "exited 137"
    );
    assert_eq!(b.ok(&["wait", id]).trim(), "137");
    let all = b.ok(&["logs", id]);
    assert!(all.lines().count() >= 3, "{all}");

    let trapped = b.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' TERM; echo ready; while true; do sleep 0.05; done",
    ]);
    // Stop only once the trap is set (pid 1 ignores a TERM it does not trap).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.ok(&["logs", trapped.trim()]).trim() != "ready" {
        assert!(
            std::time::Instant::now() < deadline,
            "container never got ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    b.ok(&["stop", trapped.trim()]);
    assert_eq!(b.ok(&["wait", trapped.trim()]).trim(), "7");

    let k = b.ok(&["run", "-d", "busybox", "sleep", "100"]);
    b.ok(&["kill", k.trim()]);
    assert_eq!(b.ok(&["wait", k.trim()]).trim(), "137");
    let err = b.fails(&["kill", k.trim()], 1);
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn restart_policy_on_failure() {
    let b = Berth::new();
    let id = b.ok(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    let id = id.trim();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        // Between two runs berth may briefly show the new RestartCount with
        // Running=false before the next run has started (docker shows
        // "restarting" there), so wait for the third run's output as well.
        let v = b.ok(&["inspect", "-f", "{{.RestartCount}} {{.State.Running}}", id]);
        let logs = b.ok(&["logs", id]).lines().count();
        if v.trim() == "2 false" && logs == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "restarts: {v}, {logs} log lines"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // No fourth run: on-failure:2 means at most two restarts.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.ok(&["logs", id]).lines().count(), 3);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.RestartCount}} {{.State.ExitCode}}", id])
            .trim(),
        "2 3"
    );
    b.fails(
        &["run", "--rm", "--restart", "always", "busybox", "true"],
        125,
    );
}

#[test]
fn restarting_status_and_stop_cancels_the_restart() {
    let b = Berth::new();
    let id = b.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 4",
    ]);
    let id = id.trim();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let st = b.ok(&[
            "ps",
            "-a",
            "--format",
            "{{.Status}}",
            "--filter",
            &format!("id={id}"),
        ]);
        if st.starts_with("Restarting (4) ") {
            let v = b.ok(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.Restarting}}",
                id,
            ]);
            assert_eq!(v.trim(), "restarting true");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "status: {st}");
        std::thread::sleep(Duration::from_millis(20));
    }
    b.ok(&["stop", id]);
    let count = b.ok(&["inspect", "-f", "{{.RestartCount}}", id]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(b.ok(&["inspect", "-f", "{{.RestartCount}}", id]), count);
    let st = b.ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Status}}",
        "--filter",
        &format!("id={id}"),
    ]);
    assert!(st.starts_with("Exited (4) "), "{st}");
    b.ok(&["rm", id]);
}

#[test]
fn twenty_parallel_detached_runs() {
    let b = std::sync::Arc::new(Berth::new());
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                b.ok(&["run", "-d", "busybox", "sleep", "30"])
                    .trim()
                    .to_string()
            })
        })
        .collect();
    let ids: std::collections::HashSet<String> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(ids.len(), 20);
    let ps = b.ok(&["ps", "-q", "--no-trunc"]);
    let listed: std::collections::HashSet<String> = ps.lines().map(String::from).collect();
    assert_eq!(listed, ids);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    b.ok(&args);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
    for id in &ids {
        assert!(Berth::cgroups_of(id).is_empty(), "cgroup left for {id}");
    }
}

#[test]
fn killed_monitor_is_noticed_and_cleaned() {
    let b = Berth::new();
    let id = b.ok(&["run", "-d", "busybox", "sleep", "100"]);
    let id = id.trim().to_string();
    // Kill the monitor, then the container's process: nobody records the exit.
    let pid = b.ok(&["inspect", "-f", "{{.State.Pid}}", &id]);
    let out = std::process::Command::new("pgrep")
        .args(["-f", &format!("__monitor {id}")])
        .output()
        .unwrap();
    let monitor = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!monitor.is_empty(), "no monitor process");
    std::process::Command::new("kill")
        .args(["-9", &monitor])
        .status()
        .unwrap();
    std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let status = b.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(status.starts_with("Exited (137)"), "{status}");
    b.ok(&["rm", "-f", &id]);
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
    assert!(Berth::cgroups_of(&id).is_empty());
}

#[test]
fn killed_attached_run_keeps_container_consistent() {
    let b = Berth::new();
    let name = unique("att");
    let mut child = b
        .command()
        .args(["run", "--name", &name, "busybox", "sleep", "100"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !b.ok(&["ps", "--format", "{{.Names}}"]).contains(&name) {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The container itself still runs; rm -f ends it and cleans everything.
    b.ok(&["rm", "-f", &name]);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
}

#[test]
fn pause_unpause_rename_top() {
    let b = Berth::new();
    let name = unique("p");
    b.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "while true; do sleep 0.05; done",
    ]);
    b.ok(&["pause", &name]);
    let st = b.ok(&[
        "ps",
        "--format",
        "{{.Status}}|{{.State}}",
        "--filter",
        &format!("name={name}"),
    ]);
    assert!(st.contains("(Paused)|paused"), "{st}");
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Paused}}", &name]).trim(),
        "true"
    );
    assert!(b.fails(&["pause", &name], 1).contains("already paused"));
    b.ok(&["unpause", &name]);
    assert!(b.fails(&["unpause", &name], 1).contains("is not paused"));
    let top = b.ok(&["top", &name]);
    assert!(top.lines().next().unwrap().contains("PID"), "{top}");
    assert!(top.contains("sh -c while true"), "{top}");
    let renamed = unique("renamed");
    b.ok(&["rename", &name, &renamed]);
    assert_eq!(b.ok(&["ps", "--format", "{{.Names}}"]).trim(), renamed);
    assert!(b
        .fails(&["inspect", "--type", "container", &name], 1)
        .contains("No such object"));
    // A paused container still goes with rm -f.
    b.ok(&["pause", &renamed]);
    b.ok(&["rm", "-f", &renamed]);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    // The old name is free again.
    b.ok(&["create", "--name", &name, "busybox", "true"]);
}

#[test]
fn diff_and_export() {
    let b = Berth::new();
    let name = unique("d");
    b.ok(&[
        "run",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/new; rm /etc/group; mkdir -p /a/b; echo y >> /etc/passwd",
    ]);
    let diff = b.ok(&["diff", &name]);
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(
        lines,
        [
            "A /a",
            "A /a/b",
            "C /etc",
            "D /etc/group",
            "C /etc/passwd",
            "C /tmp",
            "A /tmp/new"
        ],
        "{diff}"
    );
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("out.tar");
    b.ok(&["export", "-o", tar.to_str().unwrap(), &name]);
    let list = std::process::Command::new("tar")
        .arg("tf")
        .arg(&tar)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.lines()
            .any(|l| l.trim_start_matches("./") == "tmp/new"),
        "{list}"
    );
    assert!(!list
        .lines()
        .any(|l| l.trim_start_matches("./") == "etc/group"));
    assert!(list
        .lines()
        .any(|l| l.trim_start_matches("./") == "bin/busybox"));
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
}

#[test]
fn status_text_hostname_and_name_conflict_wording() {
    let b = Berth::new();
    let name = unique("st");
    b.ok(&["run", "--name", &name, "busybox", "true"]);
    let status = b.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ]);
    let status = status.trim();
    assert!(
        status.starts_with("Exited (0) ") && status.ends_with(" ago"),
        "{status}"
    );
    let id = b.ok(&["inspect", "-f", "{{.Id}}", &name]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.Config.Hostname}}", &name])
            .trim(),
        &id.trim()[..12]
    );
    // docker's wording, with the leading slash, exit 125, nothing created.
    let err = b.fails(&["run", "--name", &name, "busybox", "true"], 125);
    assert!(
        err.contains(&format!(
            "Conflict. The container name \"/{name}\" is already in use"
        )),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert_eq!(b.ok(&["ps", "-aq"]).lines().count(), 1);

    let named = unique("h");
    b.ok(&[
        "create",
        "--name",
        &named,
        "--hostname",
        "web1",
        "busybox",
        "hostname",
    ]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.Config.Hostname}}", &named])
            .trim(),
        "web1"
    );
    assert_eq!(b.ok(&["start", "-a", &named]), "web1\n");
    let created = unique("cr");
    b.ok(&["create", "--name", &created, "busybox", "true"]);
    assert_eq!(
        b.ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={created}"),
            "--format",
            "{{.Status}}"
        ])
        .trim(),
        "Created"
    );
    let err = b.fails(&["start", "nosuch"], 1);
    assert!(err.contains("No such container: nosuch"), "{err}");
}

#[test]
fn start_attach_interactive() {
    use std::io::Write;
    let b = Berth::new();
    let name = unique("ai");
    b.ok(&[
        "create", "-i", "--name", &name, "busybox", "tr", "a-z", "A-Z",
    ]);
    let mut child = b
        .command()
        .args(["start", "-a", "-i", &name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            &name
        ])
        .trim(),
        "exited 0"
    );
}

#[test]
fn version_and_info() {
    let b = Berth::new();
    let v = b.ok(&["version"]);
    assert!(v.contains("Version"), "{v}");
    let info = b.ok(&["info"]);
    assert!(info.contains("Containers: 0"), "{info}");
    assert!(info.contains("Images: 1"), "{info}");
    b.ok(&["create", "busybox", "true"]);
    assert!(b.ok(&["info"]).contains("Containers: 1"));
    // Unknown commands fail; an unknown flag is a usage error: 125 (docker's
    // flag errors are StatusError 125 for every command).
    assert!(!b.run(&["nosuchcommand"]).status.success());
    b.fails(&["ps", "--nosuchflag"], 125);
}

#[test]
fn changes_made_while_running_survive_the_exit_and_starts_do_not_race() {
    let b = std::sync::Arc::new(Berth::new());
    let name = support::unique("racy");
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo run; sleep 1",
    ]);
    let id = id.trim().to_string();
    let renamed = support::unique("renamed");
    b.ok(&["rename", &name, &renamed]);
    b.ok(&["update", "--pids-limit", "33", &renamed]);
    assert_eq!(b.ok(&["wait", &id]).trim(), "0");
    let v = b.ok(&[
        "inspect",
        "-f",
        "{{.Name}} {{.HostConfig.PidsLimit}} {{.State.Status}}",
        &id,
    ]);
    assert_eq!(v.trim(), format!("/{renamed} 33 exited"));
    // Five starts at once: the container runs once.
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let b = b.clone();
            let id = id.clone();
            std::thread::spawn(move || b.run(&["start", &id]))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(b.ok(&["wait", &id]).trim(), "0");
    assert_eq!(b.ok(&["logs", &id]), "run\nrun\n");
    b.ok(&["rm", &id]);
    b.assert_no_leaks(&[id]);
}
