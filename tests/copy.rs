//! `berth cp` in both directions, running and stopped containers.

mod support;

use std::fs;
use std::io::Write;
use std::process::Stdio;

use support::Berth;

#[test]
fn cp_both_directions_on_a_running_container() {
    let b = Berth::new();
    let tmp = tempfile::tempdir().unwrap();
    let vol = tmp.path().join("vol");
    let id = b
        .ok(&[
            "run",
            "-d",
            "-v",
            &format!("{}:/vol", vol.display()),
            "--tmpfs",
            "/scratch",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /d/sub && echo one > /d/f && echo two > /d/sub/g && echo v > /vol/v && echo s > /scratch/s && ln -s /etc /up && touch /ready && sleep 100",
        ])
        .trim()
        .to_string();
    for _ in 0..100 {
        if b.run(&["exec", &id, "test", "-e", "/ready"])
            .status
            .success()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = tmp.path();
    // A directory to a new path, then into the now existing directory.
    b.ok(&["cp", &format!("{id}:/d"), out.join("d").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("d/sub/g")).unwrap(), "two\n");
    b.ok(&["cp", &format!("{id}:/d"), out.join("d").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("d/d/f")).unwrap(), "one\n");
    // Volumes and tmpfs mounts are seen as the container sees them.
    b.ok(&["cp", &format!("{}:/vol/v", &id[..8]), out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("v")).unwrap(), "v\n");
    b.ok(&["cp", &format!("{id}:/scratch/s"), out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("s")).unwrap(), "s\n");
    // A symlink to /etc resolves inside the container, never to the host's /etc.
    b.ok(&[
        "cp",
        &format!("{id}:/up/hostname"),
        out.join("h").to_str().unwrap(),
    ]);
    assert_eq!(fs::read_to_string(out.join("h")).unwrap().trim(), &id[..12]);
    // Host to container, owned by the container's root unless -a.
    fs::write(out.join("in"), "host\n").unwrap();
    std::os::unix::fs::chown(out.join("in"), Some(1234), Some(1234)).unwrap();
    b.ok(&[
        "cp",
        out.join("in").to_str().unwrap(),
        &format!("{id}:/tmp/"),
    ]);
    b.ok(&[
        "cp",
        "-a",
        out.join("in").to_str().unwrap(),
        &format!("{id}:/tmp/in-a"),
    ]);
    let got = b.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "cat /tmp/in; stat -c %u /tmp/in /tmp/in-a",
    ]);
    assert_eq!(got, "host\n0\n1234\n");
    // Into the container through its /up -> /etc symlink: lands in its /etc.
    b.ok(&[
        "cp",
        out.join("in").to_str().unwrap(),
        &format!("{id}:/up/"),
    ]);
    assert_eq!(b.ok(&["exec", &id, "cat", "/etc/in"]), "host\n");
    // Tar streams on stdio.
    let tar_out = b
        .command()
        .args(["cp", &format!("{id}:/d"), "-"])
        .output()
        .unwrap();
    assert!(tar_out.status.success());
    let mut child = b
        .command()
        .args(["cp", "-", &format!("{id}:/tmp")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&tar_out.stdout)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(b.ok(&["exec", &id, "cat", "/tmp/d/sub/g"]), "two\n");
    // Errors, with docker's wording and exit code 1.
    let err = b.fails(&["cp", &format!("{id}:/nope"), out.to_str().unwrap()], 1);
    assert!(
        err.contains(&format!("Could not find the file /nope in container {id}")),
        "{err}"
    );
    let err = b.fails(
        &["cp", &format!("{id}:/d"), out.join("v").to_str().unwrap()],
        1,
    );
    assert!(err.contains("cannot overwrite non-directory"), "{err}");
    let err = b.fails(&["cp", "/etc/hostname", "/tmp/x"], 1);
    assert!(
        err.contains("must specify at least one container source"),
        "{err}"
    );
    let err = b.fails(&["cp", &format!("{id}:/a"), &format!("{id}:/b")], 1);
    assert!(
        err.contains("copying between containers is not supported"),
        "{err}"
    );
    b.ok(&["rm", "-f", &id]);
    b.assert_no_leaks(&[id]);
}

#[test]
fn cp_on_a_stopped_container_leaves_no_mount() {
    let b = Berth::new();
    let tmp = tempfile::tempdir().unwrap();
    let name = support::unique("cpstop");
    b.ok(&[
        "create",
        "--name",
        &name,
        "-v",
        "cpvol:/data",
        "busybox",
        "cat",
        "/new",
        "/data/x",
    ]);
    fs::write(tmp.path().join("new"), "copied in\n").unwrap();
    b.ok(&[
        "cp",
        tmp.path().join("new").to_str().unwrap(),
        &format!("{name}:/"),
    ]);
    fs::write(tmp.path().join("x"), "in the volume\n").unwrap();
    b.ok(&[
        "cp",
        tmp.path().join("x").to_str().unwrap(),
        &format!("{name}:/data/x"),
    ]);
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
    let out = b.ok(&["start", "-a", &name]);
    assert_eq!(out, "copied in\nin the volume\n");
    b.ok(&[
        "cp",
        &format!("{name}:/new"),
        tmp.path().join("back").to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read_to_string(tmp.path().join("back")).unwrap(),
        "copied in\n"
    );
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
    b.ok(&["rm", "-v", &name]);
    b.ok(&["volume", "rm", "cpvol"]);
}

#[test]
fn cp_of_a_hostile_tar_stays_inside() {
    let b = Berth::new();
    let name = support::unique("cptar");
    b.ok(&["create", "--name", &name, "busybox", "true"]);
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    builder.append_link(&mut h, "esc", "/").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    let marker = support::unique("berth-cp-escape");
    builder
        .append_data(&mut h, format!("esc/tmp/{marker}"), &b"bad\n"[..])
        .unwrap();
    let data = builder.into_inner().unwrap();
    let mut child = b
        .command()
        .args(["cp", "-", &format!("{name}:/tmp")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let _ = child.wait_with_output().unwrap();
    assert!(!std::path::Path::new(&format!("/tmp/{marker}")).exists());
    b.ok(&["rm", &name]);
}
