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

#[test]
fn import_plain_stdin_and_gzip_file() {
    let b = Berth::empty();
    // A plain tar on stdin, with the plan's `--change 'CMD ["sh"]'`.
    let tar = std::fs::read(busybox_tar()).unwrap();
    let mut child = b
        .command()
        .args(["import", "--change", r#"CMD ["sh"]"#, "-", "plain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tar).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(
        b.ok(&["image", "inspect", "-f", "{{json .Config.Cmd}}", "plain"])
            .trim(),
        r#"["sh"]"#
    );
    // CMD ["sh"] with -i reads the script from stdin.
    let mut child = b
        .command()
        .args(["run", "--rm", "-i", "plain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo from-stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-stdin\n");

    // A .tar.gz by path, no tag: dangling, listed as <none>.
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("busybox.tar.gz");
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -c < '{}' > '{}'",
            busybox_tar().display(),
            gz.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let id = b.ok(&["import", gz.to_str().unwrap()]);
    let short = &id.trim()[7..19];
    let row = b.ok(&["images", "--format", "{{.ID}} {{.Repository}} {{.Tag}}"]);
    assert!(row.contains(&format!("{short} <none> <none>")), "{row}");
    assert_eq!(b.ok(&["run", "--rm", short, "echo", "ok"]), "ok\n");
    // A missing file is berth's error.
    let err = b.fails(&["import", "/no/such/file.tar"], 1);
    assert!(!err.is_empty());
}

#[test]
fn images_all_digests_and_multi_tag_rmi() {
    let b = Berth::new();
    let header = |args: &[&str]| b.ok(args).lines().next().unwrap_or("").to_string();
    let h = header(&["images", "-a"]);
    assert!(h.starts_with("REPOSITORY") && h.ends_with("SIZE"), "{h}");
    let h = header(&["images", "--digests"]);
    assert!(h.contains("DIGEST"), "{h}");
    let h = header(&["images", "--no-trunc"]);
    assert!(h.contains("IMAGE ID"), "{h}");
    let full = b.ok(&["images", "--no-trunc", "--format", "{{.ID}}"]);
    assert!(
        full.trim().starts_with("sha256:") && full.trim().len() == 71,
        "{full}"
    );

    // An image with two tags cannot be removed by id without -f (docker:
    // "image is referenced in multiple repositories", exit 1).
    b.ok(&["tag", "busybox", "second:tag"]);
    let id = b.ok(&["images", "-q", "busybox"]).trim().to_string();
    let err = b.fails(&["rmi", &id], 1);
    assert!(err.contains("referenced in multiple repositories"), "{err}");
    // With -f every tag goes, then the image.
    let out = b.ok(&["rmi", "-f", &id]);
    assert!(out.contains("Untagged: busybox:latest"), "{out}");
    assert!(out.contains("Untagged: second:tag"), "{out}");
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(b.ok(&["images", "-q"]), "");
}

#[test]
fn rmi_refused_while_a_running_container_uses_the_image() {
    let b = Berth::new();
    let id = b.ok(&["run", "-d", "busybox", "sleep", "100"]);
    let err = b.fails(&["rmi", "busybox"], 1);
    assert!(err.contains("conflict"), "{err}");
    assert_eq!(b.ok(&["images", "-q"]).lines().count(), 1);
    b.ok(&["rm", "-f", id.trim()]);
    b.ok(&["rmi", "busybox"]);
}

/// Files named `name` anywhere under `dir` (symlinks not followed).
fn find_named(dir: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_name() == name {
            out.push(p.clone());
        }
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.extend(find_named(&p, name));
        }
    }
    out
}

#[test]
fn dotdot_entry_is_refused_or_lands_inside() {
    let b = Berth::empty();
    let leaf = unique("berth-escape-");
    let target = format!("/tmp/{leaf}");
    let name = format!("../../../../tmp/{leaf}");
    let out = import_bytes(&b, &tar_of(&[entry(&name, b'0', "", b"pwned")]));
    assert!(
        !std::path::Path::new(&target).exists(),
        "escaped to {target}"
    );
    assert_refused_or_contained(&b, &out);
    if out.status.success() {
        let found = find_named(&b.root(), &leaf);
        assert!(
            !found.is_empty(),
            "contained, but the file is nowhere in the store"
        );
    }
}

#[test]
fn relative_symlink_escape_stays_inside() {
    let b = Berth::empty();
    let outside = tempfile::tempdir_in("/tmp").unwrap();
    let rel = format!(
        "{}{}",
        "../".repeat(12),
        outside.path().to_str().unwrap().trim_start_matches('/')
    );
    let leaf = unique("pwned-");
    let out = import_bytes(
        &b,
        &tar_of(&[
            entry("evil", b'2', &rel, b""),
            entry(&format!("evil/{leaf}"), b'0', "", b"pwned"),
        ]),
    );
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "a write through a relative ../ symlink escaped"
    );
    assert_refused_or_contained(&b, &out);
}

#[test]
fn absolute_symlink_write_lands_inside_if_accepted() {
    let b = Berth::empty();
    let outside = tempfile::tempdir_in("/tmp").unwrap();
    let leaf = unique("pwned-");
    let out = import_bytes(
        &b,
        &tar_of(&[
            entry("evil", b'2', outside.path().to_str().unwrap(), b""),
            entry(&format!("evil/{leaf}"), b'0', "", b"pwned"),
        ]),
    );
    assert!(
        !outside.path().join(&leaf).exists(),
        "escaped through evil/"
    );
    assert_refused_or_contained(&b, &out);
    if out.status.success() {
        assert!(
            !find_named(&b.root(), &leaf).is_empty(),
            "contained, but the file is nowhere in the store"
        );
    }
}

#[test]
fn hardlink_through_symlink_and_overwrite_never_touch_host_files() {
    use std::os::unix::fs::MetadataExt;
    // A decoy host file, never /etc/shadow: if the importer were vulnerable
    // to write-through-hardlink, this test must not damage the machine.
    let outside = tempfile::tempdir_in("/tmp").unwrap();
    let decoy = outside.path().join("secret");
    std::fs::write(&decoy, b"host secret\n").unwrap();
    let dir = outside.path().to_str().unwrap();
    let cases: Vec<Vec<Vec<u8>>> = vec![
        // a hardlink straight at the host file, then overwrite it
        vec![
            entry("h", b'1', &format!("{dir}/secret"), b""),
            entry("h", b'0', "", b"pwned\n"),
        ],
        // a symlink to the host dir, a hardlink through it, then overwrite
        vec![
            entry("lnk", b'2', dir, b""),
            entry("h", b'1', "lnk/secret", b""),
            entry("h", b'0', "", b"pwned\n"),
        ],
        // the same with ../
        vec![
            entry(
                "h",
                b'1',
                &format!("{}{}/secret", "../".repeat(12), dir.trim_start_matches('/')),
                b"",
            ),
            entry("h", b'0', "", b"pwned\n"),
        ],
        // a write through the symlink itself
        vec![
            entry("lnk", b'2', &format!("{dir}/secret"), b""),
            entry("lnk", b'0', "", b"pwned\n"),
        ],
    ];
    let shadow = shadow_state();
    for (i, c) in cases.iter().enumerate() {
        let b = Berth::empty();
        let out = import_bytes(&b, &tar_of(c));
        assert_eq!(
            std::fs::read(&decoy).unwrap(),
            b"host secret\n",
            "case {i} overwrote a host file"
        );
        assert_eq!(
            std::fs::metadata(&decoy).unwrap().nlink(),
            1,
            "case {i} made a hardlink to a host file"
        );
        assert_refused_or_contained(&b, &out);
    }
    assert_eq!(shadow_state(), shadow);
}
