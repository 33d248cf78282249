//! The [`Runtime`] backed by youki's libcontainer.

use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::signal::Signal as LcSignal;
use libcontainer::syscall::syscall::SyscallType;

use oci_spec::runtime::{Capability, Spec};

use crate::executor::{parse_exec_error, BerthExecutor, ExecProblem, SeccompLoad};
use crate::{Error, Result, Runtime, TaskIo};

/// A created task: the container's process, waiting for or past `start`.
#[derive(Debug)]
pub struct Task {
    container: Container,
}

impl Task {
    /// The host pid of the task's pid 1.
    pub fn pid(&self) -> i32 {
        self.container.pid().map(|p| p.as_raw()).unwrap_or(0)
    }
}

/// Runs containers with libcontainer, keeping its state under `state_root`.
#[derive(Debug, Clone)]
pub struct Libcontainer {
    state_root: PathBuf,
}

impl Libcontainer {
    /// A runtime whose per-task state lives in `state_root` (under the runroot).
    pub fn new(state_root: impl Into<PathBuf>) -> Self {
        Self {
            state_root: state_root.into(),
        }
    }

    /// Moves the spec's seccomp profile out of libcontainer's hands: the
    /// profile is compiled once into cached BPF and loaded by berth's
    /// executor. The spec libcontainer reads goes to `bundle/.runtime/`
    /// (the bundle's own config.json stays as the engine wrote it) and keeps
    /// CAP_SYS_ADMIN and CAP_SETPCAP in the bounding and permitted sets
    /// until the filter is loaded. Returns the bundle to hand libcontainer.
    fn prepare_seccomp(&self, bundle: &Path) -> Result<(PathBuf, Option<SeccompLoad>)> {
        let path = bundle.join("config.json");
        let mut spec = Spec::load(&path)
            .map_err(|e| Error::Create(format!("loading {}: {e}", path.display())))?;
        let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
            return Ok((bundle.to_path_buf(), None));
        };
        if !crate::seccomp::precompilable(&seccomp) {
            return Ok((bundle.to_path_buf(), None));
        }
        let cache = self.state_root.with_file_name("seccomp");
        let bpf = crate::seccomp::cached_bpf(&cache, &seccomp)?;
        if let Some(l) = spec.linux_mut() {
            l.set_seccomp(None);
        }
        let mut extra = Vec::new();
        let process = spec.process_mut().as_mut();
        let mut capabilities = process.as_ref().and_then(|p| p.capabilities().clone());
        if let Some(c) = capabilities.as_mut() {
            extra = keep_caps_for_seccomp(c);
        }
        if let Some(p) = process {
            p.set_capabilities(capabilities);
        }
        let rootfs = spec
            .root()
            .as_ref()
            .map(|r| bundle.join(r.path()))
            .unwrap_or_else(|| bundle.join("rootfs"));
        if let Some(r) = spec.root_mut().as_mut() {
            r.set_path(rootfs);
        }
        let lc_bundle = bundle.join(".runtime");
        std::fs::create_dir_all(&lc_bundle)
            .map_err(|e| Error::sys("creating the runtime bundle", e))?;
        spec.save(lc_bundle.join("config.json"))
            .map_err(|e| Error::Create(format!("writing the runtime spec: {e}")))?;
        Ok((
            lc_bundle,
            Some(SeccompLoad {
                bpf: std::sync::Arc::new(bpf),
                extra_caps: extra,
            }),
        ))
    }

    /// A libcontainer builder for `id` with berth's executor and `io`.
    fn builder(
        &self,
        id: &str,
        seccomp: Option<SeccompLoad>,
        io: TaskIo,
    ) -> Result<ContainerBuilder> {
        let mut b = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_root_path(&self.state_root)
            .map_err(|e| create_error(&e))?
            .with_executor(BerthExecutor { seccomp })
            .with_console_socket(io.console_socket.as_ref());
        if let Some(fd) = io.stdin {
            b = b.with_stdin(fd);
        }
        if let Some(fd) = io.stdout {
            b = b.with_stdout(fd);
        }
        if let Some(fd) = io.stderr {
            b = b.with_stderr(fd);
        }
        Ok(b)
    }

    fn load(&self, id: &str) -> Option<Container> {
        let dir = self.state_root.join(id);
        if !dir.exists() {
            return None;
        }
        Container::load(dir).ok()
    }
}

/// Adds CAP_SYS_ADMIN and CAP_SETPCAP to the bounding and permitted sets
/// (not effective) so the init can load a seccomp filter without
/// no_new_privs; returns the ones it added, which the executor drops again.
fn keep_caps_for_seccomp(c: &mut oci_spec::runtime::LinuxCapabilities) -> Vec<caps::Capability> {
    let mut extra = Vec::new();
    for (cap, lc) in [
        (Capability::SysAdmin, caps::Capability::CAP_SYS_ADMIN),
        (Capability::Setpcap, caps::Capability::CAP_SETPCAP),
    ] {
        let bounding = c.bounding().clone().unwrap_or_default();
        if !bounding.contains(&cap) {
            extra.push(lc);
            let mut b = bounding;
            b.insert(cap);
            c.set_bounding(Some(b));
            let mut p = c.permitted().clone().unwrap_or_default();
            p.insert(cap);
            c.set_permitted(Some(p));
        }
    }
    extra
}

/// The whole chain of an error's messages, joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn create_error(e: &libcontainer::error::LibcontainerError) -> Error {
    let msg = chain(e);
    match parse_exec_error(&msg) {
        Some(ExecProblem::NotFoundInPath(c)) => Error::CommandNotFound(c),
        Some(ExecProblem::NoSuchFile(c)) => Error::NoSuchFile(c),
        Some(ExecProblem::NotExecutable(c)) => Error::NotExecutable(c),
        None => Error::Create(msg),
    }
}

impl Runtime for Libcontainer {
    fn create(&self, id: &str, bundle: &Path, io: TaskIo) -> Result<Task> {
        std::fs::create_dir_all(&self.state_root)
            .map_err(|e| Error::sys(format!("creating {}", self.state_root.display()), e))?;
        let (bundle, seccomp) = self.prepare_seccomp(bundle)?;
        let bundle = bundle.as_path();
        let b = self.builder(id, seccomp, io)?;
        let container = b
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| {
                // libcontainer leaves its state dir behind on a failed build.
                let _ = self.delete(id);
                create_error(&e)
            })?;
        Ok(Task { container })
    }

    fn start(&self, task: &mut Task) -> Result<()> {
        task.container.start().map_err(|e| Error::Op {
            op: "start",
            msg: chain(&e),
        })
    }

    fn exec(
        &self,
        id: &str,
        bundle: &Path,
        mut process: oci_spec::runtime::Process,
        io: TaskIo,
    ) -> Result<i32> {
        let spec_path = bundle.join("config.json");
        let spec = Spec::load(&spec_path)
            .map_err(|e| Error::Create(format!("loading {}: {e}", spec_path.display())))?;
        let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().clone()) {
            Some(s) if crate::seccomp::precompilable(&s) => {
                let bpf =
                    crate::seccomp::cached_bpf(&self.state_root.with_file_name("seccomp"), &s)?;
                let mut caps = process.capabilities().clone().unwrap_or_default();
                let extra = keep_caps_for_seccomp(&mut caps);
                process.set_capabilities(Some(caps));
                Some(SeccompLoad {
                    bpf: std::sync::Arc::new(bpf),
                    extra_caps: extra,
                })
            }
            _ => None,
        };
        let file = bundle.join(format!("exec-{}.json", std::process::id()));
        let bytes = serde_json::to_vec(&process).map_err(|e| Error::Create(e.to_string()))?;
        std::fs::write(&file, bytes).map_err(|e| Error::sys("writing the exec process", e))?;
        let tty = io.console_socket.is_some();
        let b = self.builder(id, seccomp, io)?;
        let res = b
            .as_tenant()
            .with_process(Some(&file))
            .with_detach(tty)
            .build();
        let _ = std::fs::remove_file(&file);
        res.map(|pid| pid.as_raw()).map_err(|e| create_error(&e))
    }

    fn freeze(&self, id: &str, frozen: bool) -> Result<()> {
        let op = if frozen { "pause" } else { "resume" };
        let mut c = self.load(id).ok_or_else(|| Error::Op {
            op,
            msg: format!("container {id} has no task"),
        })?;
        let res = if frozen { c.pause() } else { c.resume() };
        res.map_err(|e| Error::Op { op, msg: chain(&e) })
    }

    fn kill(&self, id: &str, signal: i32) -> Result<()> {
        let mut c = self.load(id).ok_or_else(|| Error::Op {
            op: "kill",
            msg: format!("container {id} has no task"),
        })?;
        let sig = LcSignal::try_from(signal).map_err(|e| Error::Op {
            op: "kill",
            msg: e.to_string(),
        })?;
        c.kill(sig, false).map_err(|e| Error::Op {
            op: "kill",
            msg: chain(&e),
        })
    }

    fn update(
        &self,
        id: &str,
        cgroups_path: &str,
        resources: &oci_spec::runtime::LinuxResources,
    ) -> Result<()> {
        use libcgroups::common::{CgroupConfig, CgroupManager, ControllerOpt};
        let op = "update";
        let manager = libcgroups::common::create_cgroup_manager(CgroupConfig {
            cgroup_path: PathBuf::from(cgroups_path),
            systemd_cgroup: false,
            container_name: id.to_string(),
        })
        .map_err(|e| Error::Op {
            op,
            msg: e.to_string(),
        })?;
        let disable_oom_killer = resources
            .memory()
            .as_ref()
            .and_then(|m| m.disable_oom_killer())
            .unwrap_or(false);
        manager
            .apply(&ControllerOpt {
                resources,
                disable_oom_killer,
                oom_score_adj: None,
                freezer_state: None,
            })
            .map_err(|e| Error::Op {
                op,
                msg: e.to_string(),
            })
    }

    fn delete(&self, id: &str) -> Result<()> {
        let dir = self.state_root.join(id);
        if let Some(mut c) = self.load(id) {
            if let Err(e) = c.delete(true) {
                tracing::debug!(id, error = %chain(&e), "libcontainer delete failed");
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| Error::sys(format!("removing {}", dir.display()), e))?;
        }
        Ok(())
    }
}
