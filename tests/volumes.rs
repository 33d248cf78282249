//! Bind mounts, named and anonymous volumes, tmpfs, and `volume` commands.

mod support;

use support::{busybox_tar, unique, Berth};

#[test]
fn bind_mounts_like_the_lessons() {
    let b = Berth::new();
    let host = tempfile::tempdir_in("/tmp").unwrap();
    std::fs::write(host.path().join("f"), "from host\n").unwrap();
    let src = host.path().to_str().unwrap();
    let spec = format!("type=bind,source={src},target=/example");
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--mount",
            &spec,
            "busybox",
            "cat",
            "/example/f"
        ]),
        "from host\n"
    );
    // Writes go to the host.
    b.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{src}:/ex"),
        "busybox",
        "sh",
        "-c",
        "echo back > /ex/g",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("g")).unwrap(),
        "back\n"
    );
    // :ro and readonly refuse writes.
    let o = b.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{src}:/ex:ro"),
        "busybox",
        "touch",
        "/ex/x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = b.run(&[
        "run",
        "--rm",
        "--mount",
        &format!("{spec},readonly"),
        "busybox",
        "touch",
        "/example/x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    // --mount refuses a missing source; -v creates it, as docker does.
    let missing = format!("/tmp/{}", unique("berth-missing-"));
    let err = b.fails(
        &[
            "run",
            "--rm",
            "--mount",
            &format!("type=bind,source={missing},target=/m"),
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("bind source path does not exist"), "{err}");
    b.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{missing}:/m"),
        "busybox",
        "true",
    ]);
    assert!(std::path::Path::new(&missing).is_dir());
    std::fs::remove_dir(&missing).unwrap();
    b.fails(
        &["run", "--rm", "-v", "/a:relative", "busybox", "true"],
        125,
    );
}

#[test]
fn named_volumes_persist_and_take_image_content() {
    let b = Berth::new();
    let vol = unique("vol");
    assert_eq!(b.ok(&["volume", "create", &vol]).trim(), vol);
    b.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/v"),
        "busybox",
        "sh",
        "-c",
        "echo kept > /v/f",
    ]);
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/v"),
            "busybox",
            "cat",
            "/v/f"
        ]),
        "kept\n"
    );
    // A new volume is filled from the image at its path.
    let etc = unique("etc");
    let ls = b.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{etc}:/etc"),
        "busybox",
        "ls",
        "/etc",
    ]);
    assert!(ls.contains("passwd") && ls.contains("hosts"), "{ls}");
    let list = b.ok(&["volume", "ls", "--format", "{{.Driver}} {{.Name}}"]);
    assert!(
        list.contains(&format!("local {vol}")) && list.contains(&format!("local {etc}")),
        "{list}"
    );
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["volume", "inspect", &vol])).unwrap();
    assert_eq!(v[0]["Name"], vol.as_str());
    assert!(v[0]["Mountpoint"].as_str().unwrap().ends_with("/_data"));
    // In use: rm refused.
    let user = unique("user");
    b.ok(&[
        "create",
        "--name",
        &user,
        "-v",
        &format!("{vol}:/v"),
        "busybox",
        "true",
    ]);
    let err = b.fails(&["volume", "rm", &vol], 1);
    assert!(err.contains("volume is in use"), "{err}");
    b.ok(&["rm", &user]);
    b.ok(&["volume", "rm", &vol, &etc]);
    assert!(b
        .fails(&["volume", "inspect", &vol], 1)
        .contains("no such volume"));
}

#[test]
fn anonymous_volumes_tmpfs_and_volumes_from() {
    let b = Berth::empty();
    b.ok(&[
        "import",
        "--change",
        "VOLUME /data",
        busybox_tar().to_str().unwrap(),
        "withvol",
    ]);
    let name = unique("anon");
    b.ok(&[
        "run",
        "--name",
        &name,
        "-v",
        "/scratch",
        "withvol",
        "sh",
        "-c",
        "echo a > /data/a; echo s > /scratch/s",
    ]);
    let mounts = b.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}",
        &name,
    ]);
    assert!(
        mounts.contains("volume:/data") && mounts.contains("volume:/scratch"),
        "{mounts}"
    );
    assert_eq!(b.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    // --volumes-from sees the same data.
    let out = b.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        &name,
        "withvol",
        "cat",
        "/data/a",
        "/scratch/s",
    ]);
    assert_eq!(out, "a\ns\n");
    b.ok(&["rm", "-v", &name]);
    assert_eq!(
        b.ok(&["volume", "ls", "-q"]),
        "",
        "rm -v removes anonymous volumes"
    );
    // --rm removes them too.
    b.ok(&["run", "--rm", "withvol", "true"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
    let tmpfs = b.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=1m",
        "withvol",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts",
    ]);
    assert!(
        tmpfs.starts_with("tmpfs /t tmpfs") && tmpfs.contains("size=1024k"),
        "{tmpfs}"
    );
}

#[test]
fn volume_prune() {
    let b = Berth::new();
    let named = unique("keep");
    b.ok(&["volume", "create", "--label", "x=y", &named]);
    b.ok(&["create", "-v", "/anon", "busybox", "true"]);
    b.ok(&["container", "prune", "-f"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    assert_eq!(
        b.ok(&["volume", "ls", "-q", "--filter", "label=x=y"])
            .trim(),
        named
    );
    b.ok(&["volume", "prune", "-f"]);
    assert_eq!(
        b.ok(&["volume", "ls", "-q"]).trim(),
        named,
        "prune keeps named volumes"
    );
    b.ok(&["volume", "prune", "-f", "-a"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn system_df_counts_shared_layers_once_and_prune_cleans() {
    let b = Berth::new();
    b.ok(&["import", busybox_tar().to_str().unwrap(), "other"]);
    let name = unique("df");
    b.ok(&[
        "run",
        "--name",
        &name,
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "echo hi > /tmp/x",
    ]);
    let df = b.ok(&["system", "df"]);
    let row = |t: &str| {
        df.lines()
            .find(|l| l.starts_with(t))
            .unwrap_or_else(|| panic!("{t}: {df}"))
            .to_string()
    };
    let images: Vec<String> = row("Images").split_whitespace().map(String::from).collect();
    assert_eq!(&images[1..3], ["2", "1"], "{df}");
    // Two images share one layer: the size is one layer's.
    let single = b.ok(&["images", "--format", "{{.Size}}", "busybox"]);
    assert_eq!(images[3], single.trim(), "{df}");
    assert!(
        row("Containers").split_whitespace().nth(1) == Some("1"),
        "{df}"
    );
    assert!(
        row("Local Volumes").split_whitespace().nth(2) == Some("1"),
        "{df}"
    );
    assert!(row("Build Cache").contains("0B"));
    let out = b.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(
        out.contains("Deleted Containers:") && out.contains("Deleted Volumes:"),
        "{out}"
    );
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
    b.ok(&["system", "prune", "-f", "-a"]);
    assert_eq!(b.ok(&["images", "-q"]), "");
}
