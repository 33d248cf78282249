//! Persistent network namespaces (a bind mount of the namespace on a file,
//! like `ip netns add`), and running code inside one. The calling thread
//! moves into the namespace and back; call from single-threaded code.

use std::fs::File;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::{Error, Result};

fn sys(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Netns(format!("{what}: {e}"))
}

/// Runs `f`, then puts this thread back into `orig`; aborts if that fails,
/// since the process would otherwise go on in the wrong namespace.
fn restoring<T>(orig: &File, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let r = f();
    if let Err(e) = setns(orig, CloneFlags::CLONE_NEWNET) {
        eprintln!("berth: cannot return to the host network namespace: {e}");
        std::process::abort();
    }
    r
}

/// Creates a new network namespace kept alive by a bind mount on `path`.
pub fn create(path: &Path) -> Result<()> {
    let orig = File::open("/proc/thread-self/ns/net").map_err(|e| sys("opening our netns", e))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| sys("creating the netns dir", e))?;
    }
    File::create(path).map_err(|e| sys(&format!("creating {}", path.display()), e))?;
    let res = restoring(&orig, || {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| sys("unshare(CLONE_NEWNET)", e))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| sys(&format!("bind-mounting the netns on {}", path.display()), e))
    });
    if res.is_err() {
        let _ = std::fs::remove_file(path);
    }
    res
}

/// Unmounts and removes a namespace file. Missing is fine.
pub fn remove(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

/// Runs `f` with this thread in the namespace at `path`.
pub fn within<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let orig = File::open("/proc/thread-self/ns/net").map_err(|e| sys("opening our netns", e))?;
    let target = File::open(path).map_err(|e| sys(&format!("opening {}", path.display()), e))?;
    restoring(&orig, || {
        setns(&target, CloneFlags::CLONE_NEWNET).map_err(|e| sys("setns", e))?;
        f()
    })
}
