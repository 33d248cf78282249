//! Shared helpers for the integration tests: find the built `berth`, make
//! the busybox test image offline, and give each test its own root and
//! runroot that are cleaned up even when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The `berth` binary under test: `BERTH_BIN`, else `target/<profile>/berth`.
pub fn berth_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("berth");
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo build --workspace` first (or set BERTH_BIN)",
        bin.display()
    );
    bin
}

/// Panics unless the tests run as root: they need namespaces, mounts and
/// cgroups, and must not pass by skipping.
pub fn assert_root() {
    assert!(
        rustix_is_root(),
        "berth's integration tests must run as root (they create namespaces, mounts and cgroups)"
    );
}

fn rustix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The busybox image tar, built once per test process (cached in a
/// `OnceLock`) with `scripts/mkimage-busybox.sh` from Debian's
/// busybox-static. The file lives in cargo's per-target temp dir under a name
/// keyed by the script's content and the host busybox, so test binaries
/// running at the same time share it and a changed script or busybox never
/// reuses a stale tar.
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        use std::os::unix::fs::MetadataExt;
        let script = repo_root().join("scripts/mkimage-busybox.sh");
        let bb = std::env::var_os("BUSYBOX").unwrap_or_else(|| "/bin/busybox".into());
        let meta = std::fs::metadata(&bb).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: the tests need Debian's busybox-static (apt-get install busybox-static)",
                Path::new(&bb).display()
            )
        });
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(&script)
            .expect("reading scripts/mkimage-busybox.sh")
            .hash(&mut h);
        (meta.len(), meta.mtime(), meta.ino()).hash(&mut h);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let out = dir.join(format!("busybox-{:016x}.tar", h.finish()));
        if !out.exists() {
            // Several test binaries may race: each writes its own file and
            // renames it into place (rename is atomic).
            let mine = dir.join(format!("busybox.{}.tar", std::process::id()));
            let st = Command::new("bash")
                .arg(&script)
                .arg(&mine)
                .status()
                .expect("running scripts/mkimage-busybox.sh");
            assert!(
                st.success(),
                "making the busybox image failed (apt-get install busybox-static)"
            );
            std::fs::rename(&mine, &out).expect("rename busybox tar");
        }
        out
    })
    .clone()
}

/// A berth with its own root and runroot.
pub struct Berth {
    pub dir: tempfile::TempDir,
}

impl Berth {
    /// An empty berth (no image).
    pub fn empty() -> Self {
        assert_root();
        let dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        Self { dir }
    }

    /// A berth with `busybox:latest` imported.
    pub fn new() -> Self {
        let b = Self::empty();
        let tar = busybox_tar();
        b.ok(&["import", tar.to_str().unwrap(), "busybox"]);
        b
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// A `berth --root … --runroot …` command ready for arguments.
    pub fn command(&self) -> Command {
        let mut c = Command::new(berth_bin());
        c.arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot());
        c.stdin(Stdio::null());
        c
    }

    /// Runs berth with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("running berth")
    }

    /// Same as [`Berth::run`] (the name the test plan uses).
    pub fn cmd(&self, args: &[&str]) -> Output {
        self.run(args)
    }

    /// Runs berth with `args`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs berth with `args`, asserts the exit code, returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "berth {args:?}: expected exit {code}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// The Linux bridges of this root's networks.
    pub fn bridges(&self) -> Vec<String> {
        std::fs::read_dir(self.root().join("networks"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .filter_map(|e| {
                        let v: serde_json::Value =
                            serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
                        v["bridge"].as_str().map(String::from)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The interfaces attached to this root's bridges.
    pub fn veths(&self) -> Vec<String> {
        self.bridges()
            .iter()
            .flat_map(|b| {
                std::fs::read_dir(format!("/sys/class/net/{b}/brif"))
                    .map(|rd| {
                        rd.flatten()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }

    /// berth's nftables table for this root.
    pub fn nft_table(&self) -> String {
        use sha2::Digest;
        let h = hex::encode(sha2::Sha256::digest(
            self.root().display().to_string().as_bytes(),
        ));
        format!("berth_{}", &h[..8])
    }

    /// Ids of every container (`ps -aq`).
    #[allow(dead_code)]
    pub fn ps_all(&self) -> Vec<String> {
        self.ok(&["ps", "-a", "-q"])
            .lines()
            .map(String::from)
            .collect()
    }

    /// Mount points under this berth's dirs that are still mounted.
    pub fn mounts(&self) -> Vec<String> {
        mounts_under(self.dir.path())
    }

    /// cgroup directories left for `id` (a full id or a prefix of at least
    /// 12 characters, e.g. the hostname a container saw) in any hierarchy:
    /// every cgroup v1 controller and the unified one.
    pub fn cgroups_of(id: &str) -> Vec<PathBuf> {
        cgroups_matching(id)
    }

    /// Runs `run --rm [extra] busybox hostname` and returns the container's
    /// short id (its hostname): the id of a container that no longer exists,
    /// to check that it left nothing behind.
    pub fn run_rm_short_id(&self, extra: &[&str]) -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "hostname"]);
        let id = self.ok(&args).trim().to_string();
        assert_eq!(id.len(), 12, "hostname should be the short id: {id:?}");
        id
    }

    /// Asserts nothing of this berth is still mounted and no cgroup is left
    /// for any of `ids` (full ids or 12-char prefixes).
    pub fn assert_no_leaks(&self, ids: &[String]) {
        let m = self.mounts();
        assert!(
            m.is_empty(),
            "mounts left under {}: {m:?}",
            self.dir.path().display()
        );
        for id in ids {
            let cg = cgroups_matching(id);
            assert!(cg.is_empty(), "cgroups left for container {id}: {cg:?}");
        }
    }
}

/// Directories whose name contains `prefix` in any cgroup hierarchy (v1
/// controllers and unified/v2), searched a few levels deep so that a `berth`
/// parent cgroup or a systemd slice in between is found too. A `prefix`
/// shorter than 12 characters matches nothing (too ambiguous).
pub fn cgroups_matching(prefix: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, prefix: &str, depth: u32, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            // Only real directories: v1 controllers are often symlinked
            // (cpu -> cpu,cpuacct) and would be seen twice.
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let p = e.path();
            if e.file_name().to_string_lossy().contains(prefix) {
                out.push(p.clone());
            }
            if depth > 0 {
                walk(&p, prefix, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    if prefix.len() < 12 {
        return out;
    }
    let root = Path::new("/sys/fs/cgroup");
    // Pure v2: /sys/fs/cgroup is the hierarchy; hybrid/v1: each entry is one.
    let depth = if root.join("cgroup.controllers").exists() {
        3
    } else {
        4
    };
    walk(root, prefix, depth, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Mount points at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = dir.to_string_lossy().to_string();
    let mut v: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|m| m == &want || m.starts_with(&format!("{want}/")))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v.dedup();
    v
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` (octal).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for Berth {
    /// Removes every container (`rm -f $(ps -aq)`), lazily unmounts whatever
    /// is still mounted under the temp dir (deepest first) and removes it;
    /// runs when the test panics too. When the test itself passed, a mount
    /// or cgroup that `rm -f` left behind fails it: that is a berth leak.
    fn drop(&mut self) {
        let mut ids: Vec<String> = Vec::new();
        if self.root().exists() {
            let out = self.run(&["ps", "-aq", "--no-trunc"]);
            ids = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(String::as_str));
                let _ = self.run(&args);
            }
        }
        // Networking: no veth left on this root's bridges; then the bridges,
        // the nft table and DNS servers go, and must be gone.
        let bridges = self.bridges();
        // A veth goes with its container's namespace, in the background.
        let mut leaked_veths = self.veths();
        for _ in 0..40 {
            if leaked_veths.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            leaked_veths = self.veths();
        }
        if self.root().exists() {
            let _ = self.run(&["__teardown-networks"]);
        }
        let leaked_bridges: Vec<&String> = bridges
            .iter()
            .filter(|b| Path::new(&format!("/sys/class/net/{b}")).exists())
            .collect();
        let table_left = Command::new("nft")
            .args(["list", "table", "ip", &self.nft_table()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let leaked_mounts = mounts_under(self.dir.path());
        for m in &leaked_mounts {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        let leaked_cgroups: Vec<PathBuf> = ids.iter().flat_map(|id| cgroups_matching(id)).collect();
        for cg in &leaked_cgroups {
            // Empty cgroups go with rmdir, children first.
            let mut dirs: Vec<PathBuf> = Vec::new();
            collect_dirs(cg, &mut dirs);
            dirs.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
            for d in dirs {
                let _ = std::fs::remove_dir(d);
            }
        }
        let _ = std::fs::remove_dir_all(self.dir.path());
        if !std::thread::panicking() {
            assert!(
                leaked_veths.is_empty(),
                "veths left on the bridges after `rm -f` of every container: {leaked_veths:?}"
            );
            assert!(
                leaked_bridges.is_empty(),
                "bridges left: {leaked_bridges:?}"
            );
            assert!(!table_left, "nft table {} left", self.nft_table());
            assert!(
                leaked_mounts.is_empty(),
                "still mounted after `rm -f` of every container: {leaked_mounts:?}"
            );
            assert!(
                leaked_cgroups.is_empty(),
                "cgroups left after `rm -f` of every container: {leaked_cgroups:?}"
            );
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// A unique name for containers and files of one test.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
