//! berth's runtime: an OCI runtime [`Spec`](oci_spec::runtime::Spec) plus the
//! rootfs mounts in, a running process out.
//!
//! The engine talks to this crate only through an OCI bundle (a directory
//! holding `config.json`) and the [`Runtime`] trait. The one implementation,
//! [`Libcontainer`], drives youki's libcontainer. Everything that needs raw
//! syscalls or `unsafe` for running a container lives here.
//!
//! **Fork safety:** [`Runtime::create`] clones processes; call it only from a
//! single-threaded process.

pub mod attach;
pub mod defaults;
mod error;
mod executor;
pub mod hub;
mod libcontainer_rt;
pub mod mount;
pub mod seccomp;

use std::os::fd::OwnedFd;
use std::path::Path;

pub use error::{Error, Result};
pub use libcontainer_rt::{Libcontainer, Task};

/// Removes the cgroup at `path` (relative to the cgroup root, e.g.
/// `berth/ID`) from every hierarchy, v1 and v2, retrying while the kernel
/// still counts exiting tasks in it. A cgroup that is not there is fine.
pub fn remove_cgroup(path: &str) {
    let path = path.trim_start_matches('/');
    let mut dirs = vec![std::path::PathBuf::from("/sys/fs/cgroup").join(path)];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            dirs.push(e.path().join(path));
        }
    }
    for d in dirs {
        for attempt in 0..50 {
            match std::fs::remove_dir(&d) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 49 => {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => {
                    tracing::warn!(cgroup = %d.display(), error = %e, "removing cgroup");
                    break;
                }
            }
        }
    }
}

/// Annotation that asks for berth's small init at pid 1 (`--init`).
pub const ANNOTATION_INIT: &str = "io.berth.init";

/// Where a new task's stdio comes from.
#[derive(Debug, Default)]
pub struct TaskIo {
    /// Stdin for the process; `None` inherits the caller's.
    pub stdin: Option<OwnedFd>,
    /// Stdout for the process; `None` inherits the caller's.
    pub stdout: Option<OwnedFd>,
    /// Stderr for the process; `None` inherits the caller's.
    pub stderr: Option<OwnedFd>,
    /// With a terminal: the unix socket path on which the pty master arrives.
    pub console_socket: Option<std::path::PathBuf>,
}

/// An OCI runtime: turns a bundle into a task and controls it.
///
/// A container is a record kept by the engine; a task is its running process.
pub trait Runtime {
    /// Creates the task from `bundle/config.json`: namespaces, cgroup,
    /// mounts and pivot_root done, the process waiting to exec.
    fn create(&self, id: &str, bundle: &Path, io: TaskIo) -> Result<Task>;
    /// Lets the created task exec its command.
    fn start(&self, task: &mut Task) -> Result<()>;
    /// Sends `signal` to the task's pid 1.
    fn kill(&self, id: &str, signal: i32) -> Result<()>;
    /// Starts `process` (an OCI process: args, env, cwd, user, caps,
    /// terminal) in the running task's namespaces and cgroup, with the
    /// task's seccomp profile, as read from `bundle/config.json`. Returns
    /// the new process's pid (a child of the caller).
    fn exec(
        &self,
        id: &str,
        bundle: &Path,
        process: oci_spec::runtime::Process,
        io: TaskIo,
    ) -> Result<i32>;
    /// Freezes (`true`) or thaws (`false`) every process of the task
    /// (the freezer cgroup, v1 or v2).
    fn freeze(&self, id: &str, frozen: bool) -> Result<()>;
    /// Removes the task's runtime state and cgroup, killing it if needed.
    /// Deleting a task that does not exist is not an error.
    fn delete(&self, id: &str) -> Result<()>;
    /// Applies new resource limits to the running task's cgroup
    /// (`cgroups_path` as in its spec), v1 or v2.
    fn update(
        &self,
        id: &str,
        cgroups_path: &str,
        resources: &oci_spec::runtime::LinuxResources,
    ) -> Result<()>;
}
