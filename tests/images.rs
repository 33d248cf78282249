//! Image commands against the real binary: import, images, tag, rmi,
//! history, inspect, prune, and hostile tars.

mod support;

use std::io::Write;
use std::process::Stdio;

use support::{busybox_tar, unique, Berth};

#[test]
fn import_prints_id_and_lists_image() {
    let b = Berth::empty();
    let out = b.ok(&["import", busybox_tar().to_str().unwrap(), "bb:1"]);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let table = b.ok(&["images"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("bb ") && row.contains(" 1 ") && row.contains(&id[7..19]),
        "{row}"
    );
    assert_eq!(b.ok(&["images", "-q"]).trim(), &id[7..19]);
    assert_eq!(b.ok(&["image", "ls", "-q", "--no-trunc"]).trim(), id);
    assert_eq!(
        b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        "bb:1"
    );
}

#[test]
fn import_gzip_stdin_and_changes() {
    let b = Berth::empty();
    let tar = std::fs::read(busybox_tar()).unwrap();
    let mut gz = Vec::new();
    {
        let mut enc = std::process::Command::new("gzip")
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = enc.stdin.take().unwrap();
        let t = std::thread::spawn(move || stdin.write_all(&tar));
        std::io::Read::read_to_end(enc.stdout.as_mut().unwrap(), &mut gz).unwrap();
        t.join().unwrap().unwrap();
        enc.wait().unwrap();
    }
    let mut child = b
        .command()
        .args([
            "import",
            "--change",
            "CMD [\"echo\", \"from-cmd\"]",
            "--change",
            "ENV GREETING=hi",
            "--message",
            "made by a test",
            "-",
            "gz:latest",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&gz).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(b.ok(&["run", "--rm", "gz"]).trim(), "from-cmd");
    assert_eq!(
        b.ok(&["run", "--rm", "gz", "sh", "-c", "echo $GREETING"])
            .trim(),
        "hi"
    );
    let cmd = b.ok(&["image", "inspect", "-f", "{{json .Config.Cmd}}", "gz"]);
    assert_eq!(cmd.trim(), r#"["echo","from-cmd"]"#);
    let hist = b.ok(&["history", "gz"]);
    assert!(hist.contains("made by a test"), "{hist}");
    assert!(hist.lines().next().unwrap().contains("CREATED BY"));
}

#[test]
fn tag_and_rmi_follow_docker() {
    let b = Berth::new();
    b.ok(&["tag", "busybox", "mine:v2"]);
    let list = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        list.contains("busybox:latest") && list.contains("mine:v2"),
        "{list}"
    );
    assert_eq!(b.ok(&["rmi", "mine:v2"]).trim(), "Untagged: mine:v2");
    let name = unique("user");
    b.ok(&["create", "--name", &name, "busybox", "true"]);
    let err = b.fails(&["rmi", "busybox"], 1);
    assert!(
        err.contains("conflict") && err.contains("is using its referenced image"),
        "{err}"
    );
    b.ok(&["rm", &name]);
    let out = b.ok(&["rmi", "busybox"]);
    assert!(
        out.starts_with("Untagged: busybox:latest\nDeleted: sha256:"),
        "{out}"
    );
    assert_eq!(b.ok(&["images", "-q"]), "");
    assert!(b
        .fails(&["rmi", "nosuch"], 1)
        .contains("No such image: nosuch:latest"));
    assert!(std::fs::read_dir(b.root().join("snapshots"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn filters_dangling_and_prune() {
    let b = Berth::new();
    b.ok(&["import", busybox_tar().to_str().unwrap(), "busybox"]);
    // Re-importing moved the tag: the first image is dangling now.
    let dangling = b.ok(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.lines().count(), 1, "{dangling}");
    let none = b.ok(&[
        "images",
        "--format",
        "{{.Repository}} {{.Tag}}",
        "--filter",
        "dangling=true",
    ]);
    assert_eq!(none.trim(), "<none> <none>");
    assert_eq!(
        b.ok(&["images", "-q", "--filter", "reference=busy*"])
            .lines()
            .count(),
        1
    );
    let out = b.ok(&["image", "prune", "-f"]);
    assert!(
        out.contains("Deleted Images:") && out.contains("Total reclaimed space:"),
        "{out}"
    );
    assert_eq!(b.ok(&["images", "-q", "--filter", "dangling=true"]), "");
    b.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(b.ok(&["images", "-q"]), "");
}

#[test]
fn image_inspect_is_docker_shaped() {
    let b = Berth::new();
    let out = b.ok(&["image", "inspect", "busybox"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let img = &v[0];
    assert!(img["Id"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(img["RepoTags"][0], "busybox:latest");
    assert_eq!(img["Os"], "linux");
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert!(img["Size"].as_u64().unwrap() > 1_000_000);
    // `inspect` without a type finds images too.
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "busybox"]);
    assert_eq!(id.trim(), img["Id"].as_str().unwrap());
    assert!(b
        .fails(&["inspect", "nosuch"], 1)
        .contains("No such object: nosuch"));
}

#[test]
fn store_is_an_oci_layout() {
    let b = Berth::new();
    let layout = std::fs::read_to_string(b.root().join("image/oci-layout")).unwrap();
    assert!(layout.contains("imageLayoutVersion"));
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.root().join("image/index.json")).unwrap())
            .unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/busybox:latest"
    );
}

// ---- hostile tars: import refuses or contains them, nothing leaks ----

/// One raw ustar header + data, written by hand (the tar crate refuses `..`).
fn entry(name: &str, typ: u8, link: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = typ;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut v = h.to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

fn tar_of(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut v: Vec<u8> = entries.concat();
    v.extend_from_slice(&[0u8; 1024]);
    v
}

fn import_bytes(b: &Berth, bytes: &[u8]) -> std::process::Output {
    let mut child = b
        .command()
        .args(["import", "-", "evil:latest"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    child.wait_with_output().unwrap()
}

fn shadow_state() -> (Vec<u8>, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/etc/shadow").unwrap();
    (std::fs::read("/etc/shadow").unwrap(), m.nlink())
}

/// After a hostile import: either refused with nothing stored, or contained.
fn assert_refused_or_contained(b: &Berth, out: &std::process::Output) {
    if out.status.success() {
        // Contained: the image exists; whatever it holds stayed inside.
        assert_eq!(
            b.ok(&["images", "-q", "--filter", "reference=evil"])
                .lines()
                .count(),
            1
        );
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("Error: "), "{err}");
        assert_eq!(
            b.ok(&["images", "-q"]),
            "",
            "a refused import left an image"
        );
        let ingest = b.root().join("image/ingest");
        if ingest.exists() {
            assert_eq!(
                std::fs::read_dir(&ingest).unwrap().count(),
                0,
                "ingest not cleaned"
            );
        }
    }
}

#[test]
fn dotdot_entries_never_escape() {
    let b = Berth::empty();
    let target = format!("/tmp/{}", unique("berth-escape-"));
    let depth = "../".repeat(12);
    let name = format!("{depth}{}", target.trim_start_matches('/'));
    let out = import_bytes(&b, &tar_of(&[entry(&name, b'0', "", b"pwned")]));
    assert!(
        !std::path::Path::new(&target).exists(),
        "a ../ entry escaped to {target}"
    );
    assert_refused_or_contained(&b, &out);
}

#[test]
fn symlink_then_write_through_it_stays_inside() {
    let b = Berth::empty();
    let outside = tempfile::tempdir_in("/tmp").unwrap();
    let link_target = outside.path().to_str().unwrap().to_string();
    let out = import_bytes(
        &b,
        &tar_of(&[
            entry("evil", b'2', &link_target, b""),
            entry("evil/pwned", b'0', "", b"pwned"),
        ]),
    );
    assert!(
        !outside.path().join("pwned").exists(),
        "a write through an absolute symlink escaped"
    );
    assert_refused_or_contained(&b, &out);
}

#[test]
fn hardlinks_to_host_files_are_refused_or_contained() {
    let before = shadow_state();
    for link in ["/etc/shadow", "../../../../../../etc/shadow"] {
        let b = Berth::empty();
        let out = import_bytes(&b, &tar_of(&[entry("shadow", b'1', link, b"")]));
        assert_refused_or_contained(&b, &out);
        assert_eq!(
            shadow_state(),
            before,
            "/etc/shadow changed or gained a link via {link}"
        );
    }
}

#[test]
fn malformed_tar_is_a_clear_error_and_leaves_nothing() {
    let b = Berth::empty();
    let out = import_bytes(
        &b,
        b"this is not a tar archive at all, just some bytes.........",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty());
    assert_eq!(b.ok(&["images", "-q"]), "");
    let snaps = b.root().join("snapshots");
    if snaps.exists() {
        assert_eq!(std::fs::read_dir(snaps).unwrap().count(), 0);
    }
}
