//! `berth commit`: a container's changes become an image.

mod support;

use support::{unique, Berth};

#[test]
fn commit_keeps_changes_deletions_and_config() {
    let b = Berth::new();
    let name = unique("commit");
    b.ok(&[
        "run",
        "--name",
        &name,
        "-e",
        "FROM_RUN=1",
        "-w",
        "/srv",
        "busybox",
        "sh",
        "-c",
        "echo hi > /hello; rm /bin/vi; mkdir -p /d/e; echo x > /d/e/x; rm -r /tmp",
    ]);
    let id = b.ok(&[
        "commit",
        "-a",
        "Jane <j@example.com>",
        "-m",
        "added hello",
        "-c",
        "CMD [\"cat\", \"/hello\"]",
        "-c",
        "ENV A=b",
        &name,
        "mine:v1",
    ]);
    assert!(
        id.trim().starts_with("sha256:") && id.trim().len() == 71,
        "{id}"
    );
    assert_eq!(b.ok(&["run", "--rm", "mine:v1"]), "hi\n");
    let out = b.ok(&[
        "run", "--rm", "mine:v1", "sh", "-c",
        "test -e /bin/vi || echo no-vi; test -e /tmp || echo no-tmp; cat /d/e/x; echo $A $FROM_RUN; pwd",
    ]);
    assert_eq!(out, "no-vi\nno-tmp\nx\nb 1\n/srv\n");
    let v = b.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}|{{len .RootFS.Layers}}",
        "mine:v1",
    ]);
    assert_eq!(
        v.trim(),
        "Jane <j@example.com>|added hello|[\"cat\",\"/hello\"]|2"
    );
    let hist = b.ok(&["history", "--format", "{{.Comment}}", "mine:v1"]);
    assert_eq!(hist.lines().next(), Some("added hello"));
    b.ok(&["rm", &name]);
    b.ok(&["rmi", "mine:v1"]);
}

#[test]
fn commit_a_running_container_pauses_and_resumes_it() {
    let b = Berth::new();
    let name = unique("commitrun");
    b.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    b.ok(&["exec", &name, "sh", "-c", "echo live > /live"]);
    b.ok(&["commit", &name, "live:1"]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Status}}", &name]).trim(),
        "running"
    );
    assert_eq!(b.ok(&["run", "--rm", "live:1", "cat", "/live"]), "live\n");
    // The committed image keeps the container's command.
    let cmd = b.ok(&["image", "inspect", "-f", "{{json .Config.Cmd}}", "live:1"]);
    assert_eq!(cmd.trim(), "[\"sleep\",\"100\"]");
    let err = b.fails(&["commit", "-c", "BOGUS x", &name], 1);
    assert!(err.contains("bogus is not a valid change command"), "{err}");
    let err = b.fails(&["commit", "nosuch-container-x"], 1);
    assert!(err.contains("No such container"), "{err}");
    b.ok(&["rm", "-f", &name]);
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
}
