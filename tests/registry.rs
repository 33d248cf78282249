//! pull, push, login, save/load against a real registry (Debian's
//! `docker-registry`, distribution 2.8) started on a free loopback port, and
//! round trips with skopeo and podman.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::Berth;

/// A `docker-registry serve` on 127.0.0.1:<free port>, killed on drop.
struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// `htpasswd`: (user, password) for Basic auth.
    fn start(htpasswd: Option<(&str, &str)>) -> Registry {
        support::assert_root();
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir_in("/tmp")
            .unwrap();
        let mut auth = String::new();
        if let Some((u, p)) = htpasswd {
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .expect("htpasswd (apt-get install apache2-utils)");
            assert!(out.status.success());
            std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        for _ in 0..5 {
            let port = free_port();
            let cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            );
            std::fs::write(dir.path().join("config.yml"), cfg).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(dir.path().join("config.yml"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
                .spawn()
                .expect("docker-registry (apt-get install docker-registry)");
            let t = Instant::now();
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Registry { child, dir, port };
                }
                if child.try_wait().unwrap().is_some() || t.elapsed() > Duration::from_secs(20) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break; // port taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("could not start docker-registry");
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A berth whose docker config (credentials) is its own.
fn berth_env(b: &Berth, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut c = b.command();
    c.env("DOCKER_CONFIG", b.dir.path().join("docker"))
        .env(
            "BERTH_REGISTRIES_CONF",
            b.dir.path().join("registries.json"),
        )
        .args(args);
    if stdin.is_some() {
        c.stdin(Stdio::piped());
    }
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ok_env(b: &Berth, args: &[&str]) -> String {
    let out = berth_env(b, args, None);
    assert!(
        out.status.success(),
        "berth {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err_env(b: &Berth, args: &[&str]) -> String {
    let out = berth_env(b, args, None);
    assert!(!out.status.success(), "berth {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn dir_entries(p: &Path) -> Vec<String> {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn push_pull_run_round_trip() {
    let reg = Registry::start(None);
    let b = Berth::new();
    let name = format!("{}/{}:v1", reg.host(), support::unique("bb"));
    b.ok(&["tag", "busybox", &name]);
    // a small chunk size exercises the chunked upload
    let out = b
        .command()
        .env("BERTH_PUSH_CHUNK_SIZE", "300000")
        .args(["push", &name])
        .output()
        .unwrap();
    let push = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{push}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(push.contains("The push refers to repository ["), "{push}");
    assert!(push.contains(": Pushed"), "{push}");
    let line = push.lines().last().unwrap();
    assert!(line.starts_with("v1: digest: sha256:"), "{push}");
    let digest = line.split_whitespace().nth(2).unwrap().to_string();
    // again: nothing to send
    let again = b.ok(&["push", &name]);
    assert!(again.contains("Layer already exists"), "{again}");
    assert!(again.contains(&digest), "{again}");
    // the manifest berth stores is the one the registry has
    let skopeo = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{name}")])
        .output()
        .expect("skopeo");
    let v: serde_json::Value = serde_json::from_slice(&skopeo.stdout).unwrap();
    assert_eq!(v["Digest"], digest.as_str());
    let digests = b.ok(&["images", "--digests", "--format", "{{.Digest}}"]);
    assert!(digests.contains(&digest), "{digests}");

    // into a fresh root, then run it
    let b2 = Berth::empty();
    let pull = b2.ok(&["pull", &name]);
    assert!(pull.contains("Pulling fs layer"), "{pull}");
    assert!(pull.contains("Pull complete"), "{pull}");
    assert!(pull.contains(&format!("Digest: {digest}")), "{pull}");
    assert!(
        pull.contains("Status: Downloaded newer image for"),
        "{pull}"
    );
    assert_eq!(pull.lines().last().unwrap(), name);
    let again = b2.ok(&["pull", &name]);
    assert!(again.contains("Status: Image is up to date for"), "{again}");
    assert_eq!(b2.ok(&["run", "--rm", &name, "echo", "pulled"]), "pulled\n");
    let rd = b2.ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &name]);
    assert!(rd.contains(&digest), "{rd}");
    assert_eq!(
        b2.ok(&["image", "inspect", "-f", "{{.Id}}", &name]),
        b.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
    );
    // by digest, quiet
    let b3 = Berth::empty();
    let by_digest = format!("{}@{digest}", name.rsplit_once(':').unwrap().0);
    assert_eq!(b3.ok(&["pull", "-q", &by_digest]).trim(), by_digest);
    // run pulls what is missing (in a child process), --pull never does not
    let b4 = Berth::empty();
    b4.fails(&["run", "--rm", "--pull", "never", &name, "true"], 125);
    let out = b4.run(&["run", "--rm", &name, "echo", "auto"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "auto\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unable to find image"), "{err}");
    assert!(err.contains("Pull complete"), "{err}");
    // a missing tag
    let e = b4.fails(&["pull", &format!("{}/nothere:1", reg.host())], 1);
    assert!(e.contains("not found"), "{e}");
}

#[test]
fn peers_push_berth_pulls_and_berth_pushes_peers_copy() {
    let reg = Registry::start(None);
    let b = Berth::new();
    let save = b.dir.path().join("bb.tar");
    b.ok(&["save", "-o", save.to_str().unwrap(), "busybox"]);
    // skopeo pushes (gzip-compressed layers, docker schema2), berth pulls and runs
    let from_skopeo = format!("{}/from-skopeo:1", reg.host());
    let st = Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--dest-tls-verify=false",
            &format!("docker-archive:{}", save.display()),
            &format!("docker://{from_skopeo}"),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let b2 = Berth::empty();
    b2.ok(&["pull", &from_skopeo]);
    assert_eq!(b2.ok(&["run", "--rm", &from_skopeo, "echo", "ok"]), "ok\n");
    // skopeo with OCI manifests and zstd layers
    let zst = format!("{}/from-skopeo:zstd", reg.host());
    let st = Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--format",
            "oci",
            "--dest-compress-format",
            "zstd",
            &format!("docker-archive:{}", save.display()),
            &format!("docker://{zst}"),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    b2.ok(&["pull", &zst]);
    assert_eq!(b2.ok(&["run", "--rm", &zst, "echo", "zstd"]), "zstd\n");
    // berth pushes what it pulled to another repository (mounting blobs), skopeo copies it
    let again = format!("{}/again/bb:2", reg.host());
    b2.ok(&["tag", &from_skopeo, &again]);
    let push = b2.ok(&["push", &again]);
    assert!(push.contains("Mounted from from-skopeo"), "{push}");
    let oci = b2.dir.path().join("oci");
    let st = Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{again}"),
            &format!("oci:{}:x", oci.display()),
        ])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn htpasswd_login_logout_and_push() {
    let reg = Registry::start(Some(("alice", "s3cret")));
    let b = Berth::new();
    let name = format!("{}/private:1", reg.host());
    b.ok(&["tag", "busybox", &name]);
    let e = err_env(&b, &["push", &name]);
    assert!(e.contains("unauthorized"), "{e}");
    let e = err_env(&b, &["login", "-u", "alice", "-p", "wrong", &reg.host()]);
    assert!(e.contains("incorrect username or password"), "{e}");
    assert!(!b.dir.path().join("docker/config.json").exists());
    let out = berth_env(
        &b,
        &["login", "-u", "alice", "--password-stdin", &reg.host()],
        Some("s3cret\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.dir.path().join("docker/config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["auths"][reg.host()]["auth"], "YWxpY2U6czNjcmV0");
    ok_env(&b, &["push", &name]);
    let b2 = Berth::empty();
    // another berth with the same docker config pulls
    let out = b2
        .command()
        .env("DOCKER_CONFIG", b.dir.path().join("docker"))
        .args(["pull", "-q", &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ok_env(&b, &["logout", &reg.host()]).contains("Removing login credentials"));
    assert!(ok_env(&b, &["logout", &reg.host()]).contains("Not logged in"));
    let e = err_env(&b, &["pull", &name]);
    assert!(e.contains("unauthorized"), "{e}");
}

/// A registry front that asks for Bearer tokens (realm on itself, tokens
/// that expire after `ttl`, Basic credentials required at the realm) and
/// passes authorized requests through to a real registry.
struct TokenProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    tokens: Arc<AtomicU64>,
}

impl Drop for TokenProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_head(r: &mut BufReader<TcpStream>) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    if line.is_empty() {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Some((line.trim_end().to_string(), headers))
}

fn token_proxy(backend: u16, ttl: Duration) -> TokenProxy {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let tokens = Arc::new(AtomicU64::new(0));
    let (stop2, tokens2) = (stop.clone(), tokens.clone());
    std::thread::spawn(move || {
        let issued: Arc<std::sync::Mutex<Vec<(String, Instant)>>> = Default::default();
        for conn in l.incoming() {
            if stop2.load(Ordering::Relaxed) {
                return;
            }
            let Ok(conn) = conn else { continue };
            let issued = issued.clone();
            let tokens = tokens2.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut w = conn;
                while let Some((line, headers)) = read_head(&mut r) {
                    let get =
                        |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
                    let len: usize = get("content-length")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                    let head = line.starts_with("HEAD ");
                    let reply = |w: &mut TcpStream, status: &str, extra: &str, body: &str| {
                        // no body after a HEAD's headers
                        let shown = if head { "" } else { body };
                        let _ = write!(
                            w,
                            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\n{extra}\r\n{shown}",
                            body.len()
                        );
                    };
                    if path.starts_with("/token") {
                        // alice:s3cret
                        if get("authorization").as_deref() != Some("Basic YWxpY2U6czNjcmV0") {
                            reply(&mut w, "401 Unauthorized", "", "{}");
                            continue;
                        }
                        let n = tokens.fetch_add(1, Ordering::Relaxed);
                        let t = format!("tok{n}");
                        issued.lock().unwrap().push((t.clone(), Instant::now()));
                        reply(
                            &mut w,
                            "200 OK",
                            "",
                            &format!("{{\"token\":\"{t}\",\"expires_in\":{}}}", ttl.as_secs()),
                        );
                        continue;
                    }
                    let valid = get("authorization")
                        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
                        .is_some_and(|t| {
                            issued
                                .lock()
                                .unwrap()
                                .iter()
                                .any(|(x, at)| *x == t && at.elapsed() < ttl)
                        });
                    if !valid {
                        let ch = format!(
                            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test\",scope=\"repository:x:pull\"\r\n"
                        );
                        reply(
                            &mut w,
                            "401 Unauthorized",
                            &ch,
                            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                        );
                        continue;
                    }
                    // pass through, one backend connection per request
                    let mut be = TcpStream::connect(("127.0.0.1", backend)).unwrap();
                    let mut req = format!("{line}\r\n");
                    for (k, v) in &headers {
                        if k != "authorization" && k != "connection" {
                            req.push_str(&format!("{k}: {v}\r\n"));
                        }
                    }
                    req.push_str("Connection: close\r\n\r\n");
                    be.write_all(req.as_bytes()).unwrap();
                    be.write_all(&body).unwrap();
                    let mut resp = Vec::new();
                    let _ = be.read_to_end(&mut resp);
                    // the backend closes; so do we after answering
                    let _ = w.write_all(&resp);
                    return;
                }
            });
        }
    });
    TokenProxy { port, stop, tokens }
}

#[test]
fn bearer_token_auth_with_refresh() {
    let reg = Registry::start(None);
    let proxy = token_proxy(reg.port, Duration::from_secs(2));
    let b = Berth::new();
    let host = format!("127.0.0.1:{}", proxy.port);
    let e = err_env(&b, &["login", "-u", "alice", "-p", "nope", &host]);
    assert!(e.contains("incorrect username or password"), "{e}");
    ok_env(&b, &["login", "-u", "alice", "-p", "s3cret", &host]);
    let name = format!("{host}/tok/bb:1");
    b.ok(&["tag", "busybox", &name]);
    // small chunks and a slow-ish push outlive the 2 s token
    let out = b
        .command()
        .env("DOCKER_CONFIG", b.dir.path().join("docker"))
        .env("BERTH_PUSH_CHUNK_SIZE", "200000")
        .args(["push", &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b2 = Berth::empty();
    let out = b2
        .command()
        .env("DOCKER_CONFIG", b.dir.path().join("docker"))
        .args(["pull", &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b2.ok(&["run", "--rm", &name, "echo", "tok"]), "tok\n");
    std::thread::sleep(Duration::from_secs(3));
    let before = proxy.tokens.load(Ordering::Relaxed);
    let out = b2
        .command()
        .env("DOCKER_CONFIG", b.dir.path().join("docker"))
        .args(["pull", &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(proxy.tokens.load(Ordering::Relaxed) > before);
    // anonymous is refused at the realm
    let b3 = Berth::empty();
    let e = b3
        .command()
        .env("DOCKER_CONFIG", b3.dir.path().join("docker"))
        .args(["pull", &name])
        .output()
        .unwrap();
    assert!(!e.status.success());
}

#[test]
fn corrupted_blob_is_caught_and_nothing_is_stored() {
    let reg = Registry::start(None);
    let b = Berth::new();
    let name = format!("{}/corrupt:1", reg.host());
    b.ok(&["tag", "busybox", &name]);
    b.ok(&["push", &name]);
    let layer = b.ok(&[
        "image",
        "inspect",
        "-f",
        "{{index .RootFS.Layers 0}}",
        "busybox",
    ]);
    let p = reg.blob_path(layer.trim());
    let mut data = std::fs::read(&p).unwrap();
    let n = data.len();
    data[n / 2] ^= 0xff;
    std::fs::write(&p, &data).unwrap();
    let b2 = Berth::empty();
    let e = b2.fails(&["pull", &name], 1);
    assert!(
        e.contains("verification failed") || e.contains("digest"),
        "{e}"
    );
    assert_eq!(b2.ok(&["images", "-q"]), "");
    let root = b2.root();
    assert_eq!(dir_entries(&root.join("snapshots")), Vec::<String>::new());
    assert_eq!(
        dir_entries(&root.join("image/ingest")),
        Vec::<String>::new()
    );
    assert_eq!(
        dir_entries(&root.join("image/blobs/sha256")),
        Vec::<String>::new()
    );
}

#[test]
fn save_load_round_trip_with_peers() {
    let b = Berth::new();
    b.ok(&["tag", "busybox", "second:tag"]);
    let tar = b.dir.path().join("save.tar");
    b.ok(&["save", "-o", tar.to_str().unwrap(), "busybox", "second:tag"]);
    let out = Command::new("skopeo")
        .args([
            "inspect",
            &format!("docker-archive:{}:busybox:latest", tar.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // podman reads it (its own temp storage)
    let pd = b.dir.path().join("podman");
    let out = Command::new("podman")
        .arg("--root")
        .arg(pd.join("root"))
        .arg("--runroot")
        .arg(pd.join("run"))
        .args(["--storage-driver", "vfs", "load", "-i"])
        .arg(&tar)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // back into a fresh berth
    let b2 = Berth::empty();
    let out = b2.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert!(out.contains("Loaded image: second:tag"), "{out}");
    assert_eq!(
        b2.ok(&["run", "--rm", "second:tag", "echo", "loaded"]),
        "loaded\n"
    );
    // skopeo's oci-archive, and an archive on stdin
    let oci = b.dir.path().join("oci.tar");
    let st = Command::new("skopeo")
        .args([
            "copy",
            "-q",
            &format!("docker-archive:{}:busybox:latest", tar.display()),
            &format!("oci-archive:{}:example.com/x:9", oci.display()),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let b3 = Berth::empty();
    let out = b3
        .command()
        .arg("load")
        .stdin(std::fs::File::open(&oci).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Loaded image: example.com/x:9"));
    assert_eq!(
        b3.ok(&["run", "--rm", "example.com/x:9", "echo", "oci"]),
        "oci\n"
    );
}

#[test]
fn hostile_archive_is_refused() {
    let b = Berth::empty();
    let evil = b.dir.path().join("evil.tar");
    {
        let f = std::fs::File::create(&evil).unwrap();
        let mut t = tar_writer(f);
        t.entry("../../escape", b"x");
        t.entry(
            "manifest.json",
            br#"[{"Config":"../../etc/passwd","RepoTags":["e:1"],"Layers":[]}]"#,
        );
        t.finish();
    }
    b.fails(&["load", "-i", evil.to_str().unwrap()], 1);
    assert!(!b.dir.path().join("escape").exists());
    assert!(!Path::new("/escape").exists());
    assert_eq!(b.ok(&["images", "-q"]), "");
}

/// A minimal ustar writer (the tests have no tar dependency).
struct TarW<W: Write>(W);

fn tar_writer<W: Write>(w: W) -> TarW<W> {
    TarW(w)
}

impl<W: Write> TarW<W> {
    fn entry(&mut self, name: &str, data: &[u8]) {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        self.0.write_all(&h).unwrap();
        self.0.write_all(data).unwrap();
        let pad = (512 - data.len() % 512) % 512;
        self.0.write_all(&vec![0; pad]).unwrap();
    }
    fn finish(mut self) {
        self.0.write_all(&[0; 1024]).unwrap();
    }
}

#[test]
fn credential_helpers_store_and_supply_logins() {
    let reg = Registry::start(Some(("bob", "pa55")));
    let b = Berth::new();
    // A docker-credential helper that keeps its secrets in a directory.
    let bin = b.dir.path().join("bin");
    let store = b.dir.path().join("helper-store");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&store).unwrap();
    let script = format!(
        "#!/bin/sh\nset -e\nd={}\ncase \"$1\" in\n  store) cat > \"$d/last\"; sed -n 's/.*\"ServerURL\":\"\\([^\"]*\\)\".*/\\1/p' \"$d/last\" > \"$d/url\"; cp \"$d/last\" \"$d/$(cat $d/url | tr / _)\" ;;\n  get) key=$(cat); f=\"$d/$(echo $key | tr / _)\"; if [ -f \"$f\" ]; then cat \"$f\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n  erase) key=$(cat); rm -f \"$d/$(echo $key | tr / _)\" ;;\nesac\n",
        store.display()
    );
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let docker = b.dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("config.json"), r#"{"credsStore": "berthtest"}"#).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = b.command();
        c.env("DOCKER_CONFIG", &docker)
            .env("PATH", &path)
            .args(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
        drop(i);
        child.wait_with_output().unwrap()
    };
    let out = run(
        &["login", "-u", "bob", "--password-stdin", &reg.host()],
        Some("pa55\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The secret went to the helper, not into config.json.
    let cfg = std::fs::read_to_string(docker.join("config.json")).unwrap();
    assert!(!cfg.contains("pa55") && !cfg.contains("cGE1NQ"), "{cfg}");
    let stored = std::fs::read_to_string(store.join("last")).unwrap();
    assert!(stored.contains("\"Secret\":\"pa55\""), "{stored}");
    let name = format!("{}/helped:1", reg.host());
    b.ok(&["tag", "busybox", &name]);
    let out = run(&["push", &name], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["logout", &reg.host()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["push", &name], None);
    assert!(!out.status.success());
}
