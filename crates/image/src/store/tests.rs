use super::*;
use crate::archive::tests::{assert_root, RawTar};
use berth_kind::ErrorKind;

fn rootfs(marker: &str) -> Vec<u8> {
    RawTar::default()
        .dir("bin/")
        .file("bin/sh", b"#!fake shell\n")
        .file("etc/marker", marker.as_bytes())
        .symlink("bin/ls", "sh")
        .finish()
}

fn opts(reference: Option<&str>) -> ImportOptions {
    ImportOptions {
        reference: reference.map(str::to_string),
        source_name: "-".into(),
        ..Default::default()
    }
}

fn import(s: &Store, data: &[u8], reference: Option<&str>) -> String {
    s.import(&mut &data[..], &opts(reference)).unwrap()
}

fn new_store() -> (tempfile::TempDir, Store) {
    assert_root();
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(tmp.path()).unwrap();
    (tmp, s)
}

fn index(s: &Store) -> Value {
    serde_json::from_slice(&fs::read(s.root().join("image/index.json")).unwrap()).unwrap()
}

fn dir_names(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn no_users(_: &str) -> Vec<String> {
    Vec::new()
}

#[test]
fn open_creates_an_oci_layout() {
    let (tmp, s) = new_store();
    let layout: Value =
        serde_json::from_slice(&fs::read(tmp.path().join("image/oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let idx = index(&s);
    assert_eq!(idx["schemaVersion"], 2);
    assert_eq!(idx["manifests"], json!([]));
    assert!(tmp.path().join("image/blobs/sha256").is_dir());
    assert!(tmp.path().join("snapshots").is_dir());
    // reopening keeps everything
    Store::open(tmp.path()).unwrap();
    assert!(s.list().unwrap().is_empty());
}

#[test]
fn import_stores_blobs_snapshot_and_tag() {
    let (tmp, s) = new_store();
    let tar = rootfs("one");
    let mut o = opts(Some("busybox"));
    o.changes = vec![
        r#"CMD ["/bin/sh"]"#.into(),
        "ENV PATH=/bin".into(),
        "LABEL a=b".into(),
        "EXPOSE 80".into(),
    ];
    let id = s.import(&mut &tar[..], &o).unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71);

    // id = sha256 of the exact config bytes
    let config_bytes = fs::read(tmp.path().join("image/blobs/sha256").join(&id[7..])).unwrap();
    assert_eq!(sha256_digest(&config_bytes), id);
    let config: Value = serde_json::from_slice(&config_bytes).unwrap();
    let diff_id = sha256_digest(&tar);
    assert_eq!(
        config["rootfs"],
        json!({"type": "layers", "diff_ids": [diff_id]})
    );
    assert_eq!(config["os"], "linux");
    assert_eq!(config["history"][0]["comment"], "Imported from -");
    assert_eq!(config["config"]["Cmd"], json!(["/bin/sh"]));
    assert!(config["created"].as_str().unwrap().ends_with('Z'));
    // layer blob is the uncompressed tar
    assert_eq!(
        fs::read(tmp.path().join("image/blobs/sha256").join(&diff_id[7..])).unwrap(),
        tar
    );

    // index.json
    let idx = index(&s);
    let m = &idx["manifests"];
    assert_eq!(m.as_array().unwrap().len(), 1);
    assert_eq!(
        m[0]["annotations"][REF_NAME],
        "docker.io/library/busybox:latest"
    );
    assert_eq!(m[0]["mediaType"], MT_MANIFEST);
    let manifest: Value = serde_json::from_slice(
        &fs::read(
            tmp.path()
                .join("image/blobs/sha256")
                .join(&m[0]["digest"].as_str().unwrap()[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["config"]["digest"], json!(id));
    assert_eq!(manifest["layers"][0]["mediaType"], MT_LAYER);
    assert_eq!(manifest["layers"][0]["digest"], json!(diff_id));
    assert_eq!(manifest["layers"][0]["size"], json!(tar.len()));

    // snapshot
    let snap = tmp.path().join("snapshots").join(&diff_id[7..]);
    assert_eq!(fs::read(snap.join("fs/etc/marker")).unwrap(), b"one");
    let meta: Value = serde_json::from_slice(&fs::read(snap.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["diff_id"], json!(diff_id));
    assert_eq!(meta["size"], json!(13 + 3));
    assert!(dir_names(&tmp.path().join("image/ingest")).is_empty());
    assert_eq!(
        dir_names(&tmp.path().join("snapshots")),
        vec![diff_id[7..].to_string()]
    );

    let imgs = s.list().unwrap();
    assert_eq!(imgs.len(), 1);
    let img = &imgs[0];
    assert_eq!(img.id, id);
    assert_eq!(img.repo_tags, vec!["busybox:latest"]);
    assert!(img.repo_digests.is_empty());
    assert_eq!(img.size, 16);
    assert_eq!(img.layers, vec![diff_id.clone()]);
    assert_eq!(img.diff_ids, vec![diff_id.clone()]);
    assert_eq!(img.labels.get("a").map(String::as_str), Some("b"));
    assert_eq!(img.config_bytes(), &config_bytes[..]);
    assert!((Utc::now() - img.created).num_seconds() < 60);

    let c = s.config(&id).unwrap();
    assert_eq!(c.cmd, Some(vec!["/bin/sh".to_string()]));
    assert_eq!(c.env, vec!["PATH=/bin"]);
    assert_eq!(c.exposed_ports, vec!["80/tcp"]);
    assert_eq!(c.os, "linux");
}

#[test]
fn compressed_imports_share_the_snapshot() {
    let (tmp, s) = new_store();
    let tar = rootfs("same");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let a = import(&s, &tar, Some("a"));
    let mut o = opts(Some("b"));
    o.source_name = "/tmp/rootfs.tar.gz".into();
    let b = s.import(&mut &gz[..], &o).unwrap();
    let mut o = opts(None);
    o.message = Some("my message".into());
    let c = s.import(&mut &zst[..], &o).unwrap();
    let diff = sha256_digest(&tar);
    for id in [&a, &b, &c] {
        assert_eq!(s.get(id).unwrap().diff_ids, vec![diff.clone()]);
    }
    assert_eq!(
        dir_names(&tmp.path().join("snapshots")),
        vec![diff[7..].to_string()]
    );
    assert_eq!(
        s.history(&b).unwrap()[0].comment,
        "Imported from /tmp/rootfs.tar.gz"
    );
    assert_eq!(s.history(&c).unwrap()[0].comment, "my message");
    assert!(s.get(&c).unwrap().repo_tags.is_empty());
    assert_eq!(s.list().unwrap().len(), 3);
    // removing two of them keeps the shared layer
    s.remove("a", false, &no_users).unwrap();
    s.remove(&c, false, &no_users).unwrap();
    assert!(tmp
        .path()
        .join("snapshots")
        .join(&diff[7..])
        .join("fs/bin/sh")
        .exists());
    let ev = s.remove("b", false, &no_users).unwrap();
    assert_eq!(
        ev,
        vec![
            RemoveEvent::Untagged("b:latest".into()),
            RemoveEvent::Deleted(b.clone()),
            RemoveEvent::Deleted(diff.clone())
        ]
    );
    assert!(dir_names(&tmp.path().join("snapshots")).is_empty());
    assert!(dir_names(&tmp.path().join("image/blobs/sha256")).is_empty());
    assert_eq!(index(&s)["manifests"], json!([]));
}

fn assert_nothing_left(tmp: &Path, s: &Store) {
    assert!(
        dir_names(&tmp.join("image/ingest")).is_empty(),
        "ingest: {:?}",
        dir_names(&tmp.join("image/ingest"))
    );
    assert!(
        dir_names(&tmp.join("snapshots")).is_empty(),
        "snapshots: {:?}",
        dir_names(&tmp.join("snapshots"))
    );
    assert!(dir_names(&tmp.join("image/blobs/sha256")).is_empty());
    assert_eq!(index(s)["manifests"], json!([]));
}

#[test]
fn failed_imports_leave_nothing_behind() {
    let (tmp, s) = new_store();
    let mut bad = rootfs("x");
    bad[148] ^= 0x55;
    let err = s.import(&mut &bad[..], &opts(Some("bad"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_nothing_left(tmp.path(), &s);

    let evil = RawTar::default()
        .file("ok", b"1")
        .file("../../evil", b"2")
        .finish();
    let err = s.import(&mut &evil[..], &opts(Some("evil"))).unwrap_err();
    assert!(err.to_string().contains("../../evil"), "{err}");
    assert_nothing_left(tmp.path(), &s);

    let evil = RawTar::default()
        .hardlink("hl", "../../../etc/passwd")
        .finish();
    assert!(s.import(&mut &evil[..], &opts(None)).is_err());
    assert_nothing_left(tmp.path(), &s);

    let mut o = opts(Some("x"));
    o.changes = vec!["RUN rm -rf /".into()];
    let err = s.import(&mut &rootfs("x")[..], &o).unwrap_err();
    assert_eq!(err.to_string(), "run is not a valid change command");
    assert_nothing_left(tmp.path(), &s);

    let err = s
        .import(&mut &rootfs("x")[..], &opts(Some("Bad:tag")))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_nothing_left(tmp.path(), &s);

    // truncated gzip
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&rootfs("x")).unwrap();
    let mut gz = gz.finish().unwrap();
    gz.truncate(gz.len() / 2);
    assert!(s.import(&mut &gz[..], &opts(None)).is_err());
    assert_nothing_left(tmp.path(), &s);
}

#[test]
fn get_resolves_names_ids_and_prefixes() {
    let (_tmp, s) = new_store();
    let id = import(&s, &rootfs("1"), Some("localhost:5000/foo:v1"));
    let id2 = import(&s, &rootfs("2"), Some("busybox:1.36"));
    assert_eq!(s.get("localhost:5000/foo:v1").unwrap().id, id);
    assert_eq!(
        s.get("localhost:5000/foo:v1").unwrap().repo_tags,
        vec!["localhost:5000/foo:v1"]
    );
    assert_eq!(s.get("busybox:1.36").unwrap().id, id2);
    assert_eq!(s.get("docker.io/library/busybox:1.36").unwrap().id, id2);
    assert_eq!(s.get(&id).unwrap().id, id);
    assert_eq!(s.get(&id[7..]).unwrap().id, id);
    assert_eq!(s.get(&id[7..19]).unwrap().id, id);
    assert_eq!(s.get(&format!("sha256:{}", &id[7..12])).unwrap().id, id);

    let e = s.get("busybox").unwrap_err();
    assert_eq!(e.to_string(), "No such image: busybox:latest");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        s.get(&format!("sha256:{}", "0".repeat(64)))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(s.get("Upper").unwrap_err().kind(), ErrorKind::Invalid);

    // ambiguous prefix: 17 images guarantee two share a first hex digit
    let mut ids = vec![id, id2];
    for i in 0..15 {
        ids.push(import(&s, &rootfs(&format!("n{i}")), None));
    }
    let mut by_first: HashMap<char, usize> = HashMap::new();
    for i in &ids {
        *by_first.entry(i.chars().nth(7).unwrap()).or_default() += 1;
    }
    let (c, _) = by_first.iter().find(|(_, n)| **n > 1).unwrap();
    let e = s.get(&c.to_string()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("multiple IDs found with provided prefix: {c}")
    );
    assert_eq!(s.list().unwrap().len(), 17);
}

#[test]
fn tag_moves_and_leaves_dangling() {
    let (_tmp, s) = new_store();
    let a = import(&s, &rootfs("a"), Some("app:1"));
    let b = import(&s, &rootfs("b"), None);
    s.tag(&a, "app:latest").unwrap();
    s.tag("app:1", "localhost:5000/app").unwrap();
    assert_eq!(
        s.get(&a).unwrap().repo_tags,
        vec!["app:1", "app:latest", "localhost:5000/app:latest"]
    );
    assert_eq!(
        s.get(&a).unwrap().references[0].to_string(),
        "docker.io/library/app:1"
    );
    // move app:1 and app:latest to b
    s.tag(&b[7..15], "app:1").unwrap();
    s.tag(&b, "app").unwrap();
    assert_eq!(s.get(&b).unwrap().repo_tags, vec!["app:1", "app:latest"]);
    assert_eq!(
        s.get(&a).unwrap().repo_tags,
        vec!["localhost:5000/app:latest"]
    );
    s.tag(&b, "localhost:5000/app:latest").unwrap();
    // a is now dangling but still listed, once
    let list = s.list().unwrap();
    assert_eq!(list.len(), 2);
    let da = list.iter().find(|i| i.id == a).unwrap();
    assert!(da.repo_tags.is_empty());
    let idx = index(&s);
    let descs = idx["manifests"].as_array().unwrap();
    assert_eq!(descs.len(), 4); // 3 tags of b + 1 untagged a
    assert_eq!(
        descs
            .iter()
            .filter(|d| d["annotations"][REF_NAME].is_null())
            .count(),
        1
    );
    // errors
    assert_eq!(
        s.tag("nope", "x").unwrap_err().to_string(),
        "No such image: nope:latest"
    );
    assert_eq!(
        s.tag(&a, &format!("x@sha256:{}", "a".repeat(64)))
            .unwrap_err()
            .to_string(),
        "refusing to create an ambiguous tag using digest reference"
    );
    assert_eq!(s.tag(&a, "X").unwrap_err().kind(), ErrorKind::Invalid);
    // the last-tag time is recorded
    assert!(s.get(&b).unwrap().last_tag_time.is_some());
}

#[test]
fn remove_follows_docker_rmi() {
    let (tmp, s) = new_store();
    let id = import(&s, &rootfs("r"), Some("busybox"));
    s.tag("busybox", "other:1").unwrap();
    let short = &id[7..19];

    let e = s.remove(&id, false, &no_users).unwrap_err();
    assert_eq!(e.to_string(), format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"));
    assert_eq!(e.kind(), ErrorKind::Conflict);

    assert_eq!(
        s.remove("busybox", false, &no_users).unwrap(),
        vec![RemoveEvent::Untagged("busybox:latest".into())]
    );
    assert_eq!(s.get(&id).unwrap().repo_tags, vec!["other:1"]);

    let cid = "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081".to_string();
    let users = |i: &str| if i == id { vec![cid.clone()] } else { vec![] };
    let e = s.remove("other:1", false, &users).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to remove repository reference \"other:1\" (must force) - container 3f2a1b4c5d6e is using its referenced image {short}")
    );
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let e = s.remove(short, false, &users).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "conflict: unable to delete {short} (must be forced) - image is being used by"
        )),
        "{e}"
    );
    // forced while in use: untagged, but kept (dangling) for the container
    assert_eq!(
        s.remove("other:1", true, &users).unwrap(),
        vec![RemoveEvent::Untagged("other:1".into())]
    );
    assert!(s.get(&id).unwrap().repo_tags.is_empty());
    assert!(s
        .rootfs_mounts(&id, Path::new("/u"), Path::new("/w"))
        .is_ok());

    // not in use any more: delete by prefix
    s.tag(&id, "again").unwrap();
    let ev = s.remove(short, false, &no_users).unwrap();
    let diff = s_diff(&tmp, &ev);
    assert_eq!(
        ev,
        vec![
            RemoveEvent::Untagged("again:latest".into()),
            RemoveEvent::Deleted(id.clone()),
            RemoveEvent::Deleted(diff)
        ]
    );
    assert_eq!(s.get(&id).unwrap_err().kind(), ErrorKind::NotFound);
    assert!(dir_names(&tmp.path().join("snapshots")).is_empty());
    assert!(dir_names(&tmp.path().join("image/blobs/sha256")).is_empty());

    // force by id with several tags
    let id = import(&s, &rootfs("f"), Some("f1"));
    s.tag("f1", "f2").unwrap();
    let ev = s.remove(&id, true, &no_users).unwrap();
    assert_eq!(
        ev[..3],
        [
            RemoveEvent::Untagged("f1:latest".into()),
            RemoveEvent::Untagged("f2:latest".into()),
            RemoveEvent::Deleted(id.clone())
        ]
    );
    assert_eq!(
        s.remove("f1", false, &no_users).unwrap_err().to_string(),
        "No such image: f1:latest"
    );
}

fn s_diff(_tmp: &tempfile::TempDir, ev: &[RemoveEvent]) -> String {
    match ev.last() {
        Some(RemoveEvent::Deleted(d)) => d.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn prune_dangling_and_all() {
    let (tmp, s) = new_store();
    let tagged = import(&s, &rootfs("t"), Some("keep"));
    let dangling = import(&s, &rootfs("d"), None);
    let used = import(&s, &rootfs("u"), Some("used"));
    let (ev, bytes) = s.prune(false, &|_| false).unwrap();
    assert_eq!(ev[0], RemoveEvent::Deleted(dangling.clone()));
    assert_eq!(ev.len(), 2);
    assert_eq!(bytes, 14);
    let (ev, _) = s.prune(true, &|i| i == used).unwrap();
    assert_eq!(
        ev[..2],
        [
            RemoveEvent::Untagged("keep:latest".into()),
            RemoveEvent::Deleted(tagged)
        ]
    );
    let left = s.list().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, used);
    assert_eq!(dir_names(&tmp.path().join("snapshots")).len(), 1);
    assert_eq!(s.prune(false, &|_| false).unwrap(), (vec![], 0));
}

#[test]
fn history_inspect_and_mounts() {
    let (tmp, s) = new_store();
    let mut o = opts(Some("busybox"));
    o.changes = vec!["WORKDIR /app".into(), "ENTRYPOINT /bin/sh".into()];
    let id = s.import(&mut &rootfs("h")[..], &o).unwrap();
    let h = s.history("busybox").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].id, id);
    assert_eq!(h[0].size, 14);
    assert_eq!(h[0].created_by, "");
    assert_eq!(h[0].comment, "Imported from -");
    assert_eq!(h[0].tags, vec!["busybox:latest"]);

    let v = s.inspect("busybox").unwrap();
    assert_eq!(v["Id"], json!(id));
    assert_eq!(v["RepoTags"], json!(["busybox:latest"]));
    assert_eq!(v["RepoDigests"], json!([]));
    assert_eq!(v["Parent"], "");
    assert_eq!(v["Comment"], "Imported from -");
    assert_eq!(v["Config"]["WorkingDir"], "/app");
    assert_eq!(
        v["Config"]["Entrypoint"],
        json!(["/bin/sh", "-c", "/bin/sh"])
    );
    assert_eq!(v["Config"]["Cmd"], Value::Null);
    assert_eq!(v["Config"]["AttachStdin"], false);
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Size"], 14);
    assert_eq!(v["GraphDriver"]["Name"], "overlay2");
    let diff = sha256_digest(&rootfs("h"));
    let fs_dir = tmp.path().join("snapshots").join(&diff[7..]).join("fs");
    assert_eq!(
        v["GraphDriver"]["Data"]["UpperDir"],
        json!(fs_dir.display().to_string())
    );
    assert_eq!(v["RootFS"], json!({"Type": "layers", "Layers": [diff]}));
    assert!(v["Metadata"]["LastTagTime"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert!(v["Created"].as_str().unwrap().contains('T'));
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created",
            "DockerVersion",
            "Author",
            "Config",
            "Architecture",
            "Os",
            "Size",
            "GraphDriver",
            "RootFS",
            "Metadata"
        ]
    );

    let m = s
        .rootfs_mounts(&id, Path::new("/c/upper"), Path::new("/c/work"))
        .unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].destination(), Path::new("/"));
    assert_eq!(m[0].typ().as_deref(), Some("overlay"));
    assert_eq!(m[0].source().as_deref(), Some(Path::new("overlay")));
    let opts = m[0].options().clone().unwrap();
    assert_eq!(opts[0], format!("lowerdir={}", fs_dir.display()));
    assert_eq!(opts[1], "upperdir=/c/upper");
    assert_eq!(opts[2], "workdir=/c/work");

    // the mount works
    let (up, work, merged) = (
        tmp.path().join("up"),
        tmp.path().join("work"),
        tmp.path().join("merged"),
    );
    for d in [&up, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let m = s.rootfs_mounts(&id, &up, &work).unwrap();
    let data = std::ffi::CString::new(m[0].options().clone().unwrap().join(",")).unwrap();
    rustix::mount::mount(
        "overlay",
        &merged,
        "overlay",
        rustix::mount::MountFlags::empty(),
        Some(data.as_c_str()),
    )
    .unwrap();
    let content = fs::read(merged.join("etc/marker"));
    rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH).unwrap();
    assert_eq!(content.unwrap(), b"h");
}

#[test]
fn chain_ids_follow_oci() {
    let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let ids = chain_ids(&[d('a'), d('b'), d('c')]);
    assert_eq!(ids[0], d('a'));
    assert_eq!(
        ids[1],
        sha256_digest(format!("{} {}", d('a'), d('b')).as_bytes())
    );
    assert_eq!(
        ids[2],
        sha256_digest(format!("{} {}", ids[1], d('c')).as_bytes())
    );
}

#[test]
fn concurrent_writers_keep_the_index_consistent() {
    let (tmp, _s) = new_store();
    let root = tmp.path().to_path_buf();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let root = root.clone();
            std::thread::spawn(move || {
                // each thread has its own Store, like separate processes
                let s = Store::open(&root).unwrap();
                let mut ids = Vec::new();
                for j in 0..5 {
                    let id = import(
                        &s,
                        &rootfs(&format!("{t}-{j}")),
                        Some(&format!("img{t}:{j}")),
                    );
                    s.tag(&id, &format!("shared:{t}")).unwrap();
                    s.tag(&id, "contended").unwrap();
                    ids.push(id);
                }
                s.remove(&format!("img{t}:0"), false, &no_users).unwrap();
                ids
            })
        })
        .collect();
    let ids: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let s = Store::open(&root).unwrap();
    let list = s.list().unwrap();
    // img{t}:0 lost its other tags to later imports, so removing it deleted it
    assert_eq!(list.len(), 16);
    let all_tags: Vec<String> = list.iter().flat_map(|i| i.repo_tags.clone()).collect();
    assert_eq!(
        all_tags.iter().filter(|t| *t == "contended:latest").count(),
        1
    );
    for t in 0..4 {
        assert_eq!(
            all_tags
                .iter()
                .filter(|x| **x == format!("shared:{t}"))
                .count(),
            1
        );
        for j in 1..5 {
            assert!(all_tags.contains(&format!("img{t}:{j}")));
        }
        assert!(!all_tags.contains(&format!("img{t}:0")));
    }
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(s.get(id).is_ok(), n % 5 != 0);
    }
    assert_eq!(dir_names(&root.join("snapshots")).len(), 16);
    assert_eq!(dir_names(&root.join("image/blobs/sha256")).len(), 16 * 3);
    assert!(dir_names(&root.join("image/ingest")).is_empty());
}

#[test]
fn stale_temporaries_are_cleaned_on_open() {
    let (tmp, s) = new_store();
    let old_ingest = tmp.path().join("image/ingest/123-old");
    let fresh_ingest = tmp.path().join("image/ingest/456-fresh");
    let old_snap = tmp.path().join("snapshots/.tmp-789-old");
    fs::write(&old_ingest, b"x").unwrap();
    fs::write(&fresh_ingest, b"x").unwrap();
    fs::create_dir_all(old_snap.join("fs/deep")).unwrap();
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    File::options()
        .write(true)
        .open(&old_ingest)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    File::open(&old_snap)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    drop(s);
    let s = Store::open(tmp.path()).unwrap();
    assert!(!old_ingest.exists());
    assert!(!old_snap.exists());
    assert!(fresh_ingest.exists());
    // a snapshot directory without meta.json (crash mid-rename) is replaced by the next import
    let tar = rootfs("c");
    let diff = sha256_digest(&tar);
    fs::create_dir_all(
        tmp.path()
            .join("snapshots")
            .join(&diff[7..])
            .join("fs/junk"),
    )
    .unwrap();
    let id = import(&s, &tar, None);
    let fs_dir = s.snapshot_fs(&diff).unwrap();
    assert!(!fs_dir.join("junk").exists());
    assert_eq!(fs::read(fs_dir.join("etc/marker")).unwrap(), b"c");
    assert_eq!(s.get(&id).unwrap().size, 14);
}

#[test]
fn prune_removes_orphans_left_by_a_crash() {
    let (tmp, s) = new_store();
    let keep = import(&s, &rootfs("keep"), Some("keep"));
    // an orphaned snapshot and blob, as after kill -9 between commit and index write
    let orphan = tmp.path().join("snapshots").join("ab".repeat(32));
    fs::create_dir_all(orphan.join("fs")).unwrap();
    fs::write(
        orphan.join("meta.json"),
        br#"{"chain_id":"x","diff_id":"x","parent":null,"size":5}"#,
    )
    .unwrap();
    let blob = tmp.path().join("image/blobs/sha256").join("cd".repeat(32));
    fs::write(&blob, b"orphan").unwrap();
    let (ev, bytes) = s.prune(false, &|_| false).unwrap();
    assert_eq!(
        ev,
        vec![RemoveEvent::Deleted(format!("sha256:{}", "ab".repeat(32)))]
    );
    assert_eq!(bytes, 5);
    assert!(!orphan.exists());
    assert!(!blob.exists());
    assert!(s
        .rootfs_mounts(&keep, Path::new("/u"), Path::new("/w"))
        .is_ok());
    assert_eq!(s.get("keep").unwrap().id, keep);
}

fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The layout is readable by skopeo and umoci (skipped when they are not installed).
#[test]
fn layout_is_readable_by_skopeo_and_umoci() {
    let (tmp, s) = new_store();
    let id = import(&s, &rootfs("interop"), Some("busybox"));
    import(&s, &rootfs("dangling"), None);
    let layout = tmp.path().join("image");
    let src = format!("oci:{}:docker.io/library/busybox:latest", layout.display());
    if let Some(skopeo) = tool("skopeo") {
        let out = std::process::Command::new(&skopeo)
            .args(["inspect", "--config", &src])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cfg: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            cfg["rootfs"]["diff_ids"][0],
            json!(sha256_digest(&rootfs("interop")))
        );
        let dest = format!("oci:{}:copied", tmp.path().join("copy").display());
        let out = std::process::Command::new(&skopeo)
            .args(["copy", &src, &dest])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // skopeo writes into our layout too; we still read it
        let back = format!("oci:{}:docker.io/library/copied:1", layout.display());
        let out = std::process::Command::new(&skopeo)
            .args(["copy", &src, &back])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(s.get("copied:1").unwrap().id, id);
        assert_eq!(s.list().unwrap().len(), 2);
    } else {
        eprintln!("skopeo not installed; skipping skopeo checks");
    }
    if let Some(umoci) = tool("umoci") {
        let bundle = tmp.path().join("bundle");
        let image = format!("{}:docker.io/library/busybox:latest", layout.display());
        let out = std::process::Command::new(&umoci)
            .args(["unpack", "--image", &image])
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            fs::read(bundle.join("rootfs/etc/marker")).unwrap(),
            b"interop"
        );
    } else {
        eprintln!("umoci not installed; skipping umoci checks");
    }
}

#[test]
fn history_created_comes_from_the_config() {
    let (_tmp, s) = new_store();
    let id = import(&s, &rootfs("t"), None);
    let h = s.history(&id).unwrap();
    assert_eq!(h[0].created, s.get(&id).unwrap().created);
    assert!(!h[0].empty_layer);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn add_layer_and_image_keep_registry_bytes() {
    let (tmp, s) = new_store();
    let l1 = rootfs("base");
    let l2 = RawTar::default().file("etc/top", b"top\n").finish();
    let gz1 = gzip(&l1);
    let d1 = sha256_digest(&gz1);
    let a = s
        .add_layer(None, &mut &gz1[..], Some((&d1, gz1.len() as u64)), "")
        .unwrap();
    assert_eq!(a.blob_digest, d1);
    assert_eq!(a.diff_id, sha256_digest(&l1));
    assert_eq!(a.chain_id, a.diff_id);
    assert_eq!(a.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert!(s.has_blob(&d1) && s.has_snapshot(&a.chain_id));
    let zst = zstd::encode_all(&l2[..], 3).unwrap();
    let b = s
        .add_layer(Some(&a.chain_id), &mut &zst[..], None, "x/y")
        .unwrap();
    assert_eq!(b.media_type, "x/y");
    assert_eq!(
        b.chain_id,
        chain_ids(&[a.diff_id.clone(), b.diff_id.clone()])[1]
    );
    assert!(tmp
        .path()
        .join("snapshots")
        .join(&b.chain_id[7..])
        .join("fs/etc/top")
        .exists());
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [a.diff_id, b.diff_id]},
    }))
    .unwrap();
    // a registry's manifest, spaced oddly: kept byte for byte
    let manifest = format!(
        "{{ \"schemaVersion\": 2, \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n \"config\": {{\"mediaType\": \"application/vnd.docker.container.image.v1+json\", \"digest\": \"{}\", \"size\": {}}},\n \"layers\": [{{\"digest\": \"{}\", \"size\": {}}}, {{\"digest\": \"{}\", \"size\": {}}}]}}",
        sha256_digest(&config), config.len(), a.blob_digest, a.blob_size, b.blob_digest, b.blob_size
    );
    let r = Reference::parse_tagged("localhost:5000/x:1").unwrap();
    let rd = Reference::parse_normalized(&format!(
        "localhost:5000/x@{}",
        sha256_digest(manifest.as_bytes())
    ))
    .unwrap();
    let wrong = s.add_image(&config, &[b.clone(), a.clone()], None, Some(&r), None);
    assert!(wrong.is_err());
    let id = s
        .add_image(
            &config,
            &[a.clone(), b.clone()],
            Some(manifest.as_bytes()),
            Some(&r),
            Some(&rd),
        )
        .unwrap();
    assert_eq!(id, sha256_digest(&config));
    let img = s.get("localhost:5000/x:1").unwrap();
    assert_eq!(img.manifest_digest, sha256_digest(manifest.as_bytes()));
    assert_eq!(img.repo_digests, vec![rd.familiar_string()]);
    let st = s.stored_image(&id).unwrap();
    assert_eq!(st.manifest, manifest.as_bytes());
    assert_eq!(st.config, config);
    assert_eq!(st.layers.len(), 2);
    assert_eq!(s.get(&rd.to_string()).unwrap().id, id);
    assert!(dir_names(&tmp.path().join("image/ingest")).is_empty());
}

#[test]
fn add_layer_mismatch_leaves_nothing() {
    let (tmp, s) = new_store();
    let gz = gzip(&rootfs("m"));
    let wrong = format!("sha256:{}", "0".repeat(64));
    let e = s
        .add_layer(None, &mut &gz[..], Some((&wrong, gz.len() as u64)), "")
        .unwrap_err();
    assert!(e.to_string().contains("verification failed"), "{e}");
    let right = sha256_digest(&gz);
    let e = s
        .add_layer(None, &mut &gz[..], Some((&right, gz.len() as u64 + 1)), "")
        .unwrap_err();
    assert!(e.to_string().contains("verification failed"), "{e}");
    // truncated stream
    let e = s.add_layer(None, &mut &gz[..gz.len() / 2], None, "");
    assert!(e.is_err());
    assert_nothing_left(tmp.path(), &s);
}
