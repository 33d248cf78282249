//! `berth build`: Dockerfile steps, the cache, .dockerignore, stages, errors.

mod support;

use std::fs;
use std::path::Path;

use support::{unique, Berth};

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (p, c) in files {
        let p = d.path().join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, c).unwrap();
    }
    d
}

fn build(b: &Berth, ctx: &Path, extra: &[&str]) -> String {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    let c = ctx.to_str().unwrap().to_string();
    args.push(&c);
    b.ok(&args)
}

#[test]
fn build_run_copy_and_cache() {
    let b = Berth::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox AS base\nENV APP=/srv\nWORKDIR $APP\nRUN echo built > /built\nCOPY src/ ./src/\nCOPY --chown=nobody src/a.txt /data/\nCMD [\"cat\", \"/srv/src/a.txt\"]\n",
        ),
        ("src/a.txt", "hello\n"),
        ("src/sub/b.txt", "world\n"),
        ("src/skip.log", "secret\n"),
        (".dockerignore", "**/*.log\n"),
    ]);
    let tag = unique("app");
    let out = build(&b, ctx.path(), &["-t", &tag]);
    assert!(out.contains("Step 4/7 : RUN echo built > /built"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(
        out.contains(&format!("Successfully tagged {tag}:latest")),
        "{out}"
    );
    assert_eq!(b.ok(&["run", "--rm", &tag]), "hello\n");
    let ls = b.ok(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "cat /built; ls /srv/src; stat -c %U /data/a.txt; pwd; echo $APP",
    ]);
    assert_eq!(ls, "built\na.txt\nsub\nnobody\n/srv\n/srv\n");
    // Everything from the cache the second time.
    let out = build(&b, ctx.path(), &["-t", &tag]);
    assert_eq!(out.matches("Using cache").count(), 6, "{out}");
    assert!(!out.contains("Running in"), "{out}");
    // An ignored file changing does not invalidate; a copied one does, from its step on.
    fs::write(ctx.path().join("src/skip.log"), "changed").unwrap();
    let out = build(&b, ctx.path(), &["-t", &tag]);
    assert_eq!(out.matches("Using cache").count(), 6, "{out}");
    fs::write(ctx.path().join("src/a.txt"), "changed\n").unwrap();
    let out = build(&b, ctx.path(), &["-t", &tag]);
    assert_eq!(out.matches("Using cache").count(), 3, "{out}");
    assert_eq!(b.ok(&["run", "--rm", &tag]), "changed\n");
    // --no-cache runs everything again; intermediate images are hidden.
    let out = build(&b, ctx.path(), &["--no-cache", "-t", &tag]);
    assert!(!out.contains("Using cache"), "{out}");
    // Earlier builds' images lost the tag and show as dangling, as in
    // docker; the RUN steps' intermediate images show with -a only.
    let images = b.ok(&["images", "-q"]).lines().count();
    let all = b.ok(&["images", "-a", "-q"]).lines().count();
    assert!(all > images, "{all} {images}");
    let hist = b.ok(&["history", "--format", "{{.CreatedBy}}", "--no-trunc", &tag]);
    assert!(hist.contains("/bin/sh -c #(nop)  WORKDIR /srv"), "{hist}");
    assert!(hist.contains("/bin/sh -c echo built > /built"), "{hist}");
    b.ok(&["builder", "prune", "-f"]);
    let out = build(&b, ctx.path(), &["-t", &tag]);
    assert!(!out.contains("Using cache"), "{out}");
    assert!(b.ps_all().is_empty());
}

#[test]
fn multi_stage_target_args_heredocs_and_add() {
    let b = Berth::new();
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    tar.append_data(&mut h, "inner/file", &b"abc"[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let ctx = context(&[(
        "Dockerfile",
        "ARG BASE=busybox\nFROM $BASE AS one\nARG WHO=world\nRUN <<EOT\necho \"hello $WHO\" > /greeting\nEOT\nCOPY <<EOF /motd\nmotd for ${WHO}\nEOF\n\nFROM busybox AS two\nRUN echo two > /two\n\nFROM busybox AS final\nCOPY --from=one /greeting /motd /out/\nADD arch.tar /unpacked/\nCMD [\"sh\", \"-c\", \"cat /out/greeting /out/motd /unpacked/inner/file\"]\n",
    )]);
    fs::write(ctx.path().join("arch.tar"), tar).unwrap();
    let tag = unique("ms");
    let out = build(&b, ctx.path(), &["--build-arg", "WHO=berth", "-t", &tag]);
    assert!(!out.contains("echo two"), "stage two is not needed: {out}");
    assert_eq!(
        b.ok(&["run", "--rm", &tag]),
        "hello berth\nmotd for berth\nabc"
    );
    let t1 = unique("t1");
    build(&b, ctx.path(), &["--target", "one", "-q", "-t", &t1]);
    assert_eq!(
        b.ok(&["run", "--rm", &t1, "cat", "/greeting"]),
        "hello world\n"
    );
    let err = b.fails(
        &["build", "--target", "nope", ctx.path().to_str().unwrap()],
        1,
    );
    assert!(
        err.contains("target stage \"nope\" could not be found"),
        "{err}"
    );
}

#[test]
fn failures_leave_no_tag_and_no_container() {
    let b = Berth::new();
    let tag = unique("keep");
    let ok = context(&[(
        "Dockerfile",
        "FROM busybox\nCMD [\"echo\", \"v1\"]\nRUN true\n",
    )]);
    build(&b, ok.path(), &["-t", &tag]);
    let before = b.ok(&["images", "-q", &tag]);
    let bad = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo about to fail && exit 3\n",
    )]);
    let err = b.fails(&["build", "-t", &tag, bad.path().to_str().unwrap()], 1);
    assert!(
        err.contains(
            "The command '/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3"
        ),
        "{err}"
    );
    assert_eq!(b.ok(&["images", "-q", &tag]), before);
    assert!(b.ps_all().is_empty());
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
    let syntax = context(&[("Dockerfile", "FROM busybox\nFROBNICATE x\n")]);
    let err = b.fails(&["build", syntax.path().to_str().unwrap()], 1);
    assert!(
        err.contains("dockerfile parse error on line 2: unknown instruction: FROBNICATE"),
        "{err}"
    );
    let missing = context(&[("Dockerfile", "FROM busybox\nCOPY nope /x\n")]);
    let err = b.fails(&["build", missing.path().to_str().unwrap()], 1);
    assert!(err.contains("nope"), "{err}");
    // A Dockerfile alone on stdin.
    let out = b
        .command()
        .args(["build", "-q", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"FROM busybox\nRUN echo x > /x\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sha256:"));
}

#[test]
fn source_date_epoch_makes_builds_reproducible() {
    let b = Berth::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY f /f\nRUN echo run > /r && mkdir /d && touch /d/x\nENV X=1\n",
        ),
        ("f", "content\n"),
    ]);
    let id = |b: &Berth| {
        let out = b
            .command()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["build", "-q", "--no-cache", ctx.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let first = id(&b);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // The context file touched: content is the same, so is the digest.
    let f = fs::File::options()
        .append(true)
        .open(ctx.path().join("f"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now()).unwrap();
    assert_eq!(id(&b), first);
    let created = b.ok(&["image", "inspect", "-f", "{{.Created}}", &first]);
    assert!(created.starts_with("2023-11-14T22:13:20"), "{created}");
}

#[test]
fn run_mounts_cache_bind_tmpfs_secret() {
    let b = Berth::new();
    let secret = tempfile::NamedTempFile::new().unwrap();
    fs::write(secret.path(), "s3cr3t\n").unwrap();
    let ctx = context(&[
        ("data/f", "ctxfile\n"),
        (
            "Dockerfile",
            "FROM busybox AS helper\nRUN echo from-stage > /hello\nFROM busybox\n\
             RUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count\n\
             RUN --mount=type=bind,source=data,target=/mnt cat /mnt/f > /bound\n\
             RUN --mount=type=bind,from=helper,source=/hello,target=/h cat /h > /fromstage\n\
             RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && ls /scratch > /tmpfs\n\
             RUN --mount=type=secret,id=tok cat /run/secrets/tok > /secret\n",
        ),
    ]);
    let sec = format!("id=tok,src={}", secret.path().display());
    let tag = unique("mounts");
    build(&b, ctx.path(), &["--secret", &sec, "-t", &tag]);
    let out = b.ok(&[
        "run", "--rm", &tag, "sh", "-c",
        "cat /count /bound /fromstage /tmpfs /secret; ls -d /cache /mnt /h /scratch /run/secrets 2>/dev/null | wc -l",
    ]);
    assert_eq!(out, "1\nctxfile\nfrom-stage\nx\ns3cr3t\n0\n");
    // The cache mount keeps its content across builds.
    build(
        &b,
        ctx.path(),
        &["--no-cache", "--secret", &sec, "-t", &tag],
    );
    let out = b.ok(&["run", "--rm", &tag, "cat", "/count"]);
    assert_eq!(out, "2\n");
    assert!(b.mounts().is_empty(), "{:?}", b.mounts());
    // A bind source outside the context is refused.
    let bad = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=bind,source=../../etc,target=/e ls /e\n",
    )]);
    b.fails(&["build", bad.path().to_str().unwrap()], 1);
}

/// Serves `body` over HTTP on a loopback port for `n` requests.
fn serve(body: &'static [u8], n: usize) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(n) {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body);
        }
    });
    port
}

#[test]
fn add_from_a_url() {
    let b = Berth::new();
    let port = serve(b"remote content\n", 4);
    let df = format!(
        "FROM busybox\nADD http://127.0.0.1:{port}/files/remote.txt /dl/\nADD --chmod=644 http://127.0.0.1:{port}/other /named\n"
    );
    let ctx = context(&[("Dockerfile", Box::leak(df.into_boxed_str()))]);
    let tag = unique("url");
    build(&b, ctx.path(), &["-t", &tag]);
    let out = b.ok(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "cat /dl/remote.txt /named; stat -c '%a %Y' /dl/remote.txt /named",
    ]);
    assert_eq!(
        out,
        "remote content\nremote content\n600 1700000000\n644 1700000000\n"
    );
    let df = format!(
        "FROM busybox\nADD --checksum=sha256:{} http://127.0.0.1:{port}/x /x\n",
        "0".repeat(64)
    );
    let bad = context(&[("Dockerfile", Box::leak(df.into_boxed_str()))]);
    let err = b.fails(&["build", bad.path().to_str().unwrap()], 1);
    assert!(err.contains("digest mismatch"), "{err}");
}

#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let b = Berth::new();
    let parent = unique("parent");
    let p = context(&[(
        "Dockerfile",
        "FROM busybox\nONBUILD COPY app.txt /app/\nONBUILD RUN cat /app/app.txt > /app/seen\n",
    )]);
    build(&b, p.path(), &["-t", &parent]);
    let df = format!("FROM {parent}\nCMD [\"cat\", \"/app/seen\"]\n");
    let c = context(&[
        ("Dockerfile", Box::leak(df.into_boxed_str())),
        ("app.txt", "from child\n"),
    ]);
    let child = unique("child");
    let out = build(&b, c.path(), &["-t", &child]);
    assert!(out.contains("# Executing 2 build triggers"), "{out}");
    assert_eq!(b.ok(&["run", "--rm", &child]), "from child\n");
    let ob = b.ok(&["image", "inspect", "-f", "{{json .Config.OnBuild}}", &child]);
    assert_eq!(ob.trim(), "null");
}

#[test]
fn independent_stages_build_at_the_same_time() {
    let b = Berth::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS a\nRUN sleep 1 && echo a > /a\nFROM busybox AS b\nRUN sleep 1 && echo b > /b\nFROM busybox AS unused\nRUN echo never > /x\nFROM busybox\nCOPY --from=a /a /\nCOPY --from=b /b /\nCMD [\"cat\", \"/a\", \"/b\"]\n",
    )]);
    let tag = unique("ab");
    let out = build(&b, ctx.path(), &["-t", &tag]);
    assert!(
        out.contains("Building stages a, b at the same time"),
        "{out}"
    );
    assert!(!out.contains("echo never"), "{out}");
    assert_eq!(b.ok(&["run", "--rm", &tag]), "a\nb\n");
    // The main build found both stages in the cache the children filled.
    assert_eq!(out.matches("Using cache").count(), 2, "{out}");
    assert!(b.ps_all().is_empty());
}
