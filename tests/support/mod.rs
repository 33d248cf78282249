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

/// The busybox image tar, built once (per target dir) with
/// `scripts/mkimage-busybox.sh` from Debian's busybox-static.
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let out = dir.join("busybox.tar");
        if !out.exists() {
            // Several test binaries may race: each writes its own file and
            // renames it into place.
            let mine = dir.join(format!("busybox.{}.tar", std::process::id()));
            let st = Command::new("bash")
                .arg(repo_root().join("scripts/mkimage-busybox.sh"))
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

    /// Mount points under this berth's dirs that are still mounted.
    pub fn mounts(&self) -> Vec<String> {
        mounts_under(self.dir.path())
    }

    /// cgroup directories left for `id` in any hierarchy.
    pub fn cgroups_of(id: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
            return out;
        };
        let mut bases: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        bases.push(PathBuf::from("/sys/fs/cgroup"));
        for b in bases {
            let p = b.join("berth").join(id);
            if p.exists() {
                out.push(p);
            }
        }
        out
    }
}

/// Mount points at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = dir.to_string_lossy().to_string();
    let mut v: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| m.replace("\\040", " "))
        .filter(|m| m.starts_with(&want))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v
}

impl Drop for Berth {
    fn drop(&mut self) {
        if self.root().exists() {
            let ids = self.run(&["ps", "-aq", "--no-trunc"]);
            let ids = String::from_utf8_lossy(&ids.stdout).to_string();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.run(&args);
            }
        }
        for m in mounts_under(self.dir.path()) {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
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
