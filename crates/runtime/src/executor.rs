//! What runs inside the container's init process once it is set up: checks
//! that the command exists (so `run` can exit 126/127 like docker) and execs
//! it, or, with `--init`, forks it and stays as a tiny pid 1.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::signal::{self, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{self, ForkResult, Pid};
use oci_spec::runtime::Spec;

use crate::ANNOTATION_INIT;

/// Prefix of validation errors; the host side parses it back (see
/// [`parse_exec_error`]) because libcontainer passes errors across the fork
/// as strings.
const MARK: &str = "berth-exec:";

/// The outcome of looking the command up inside the container.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ExecProblem {
    NotFoundInPath(String),
    NoSuchFile(String),
    NotExecutable(String),
}

/// A precompiled seccomp filter for the init to load just before exec, and
/// the capabilities it kept only to be able to load it.
#[derive(Clone, Debug)]
pub(crate) struct SeccompLoad {
    pub bpf: std::sync::Arc<Vec<u8>>,
    pub extra_caps: Vec<caps::Capability>,
}

/// berth's executor for libcontainer.
#[derive(Clone, Debug, Default)]
pub(crate) struct BerthExecutor {
    pub seccomp: Option<SeccompLoad>,
}

impl SeccompLoad {
    /// Loads the filter, then gives up the capabilities that were kept for
    /// it: raise them in the effective set, drop them from the bounding set
    /// (CAP_SETPCAP is dropped last), load, then drop them from the
    /// effective and permitted sets.
    fn apply(&self) -> Result<(), ExecutorError> {
        use caps::{CapSet, Capability};
        let e = |what: &str, err: &dyn std::fmt::Display| {
            ExecutorError::Other(format!("seccomp: {what}: {err}"))
        };
        for c in &self.extra_caps {
            caps::raise(None, CapSet::Effective, *c).map_err(|x| e("raising a capability", &x))?;
        }
        let mut order = self.extra_caps.clone();
        order.sort_by_key(|c| *c == Capability::CAP_SETPCAP);
        for c in &order {
            caps::drop(None, CapSet::Bounding, *c)
                .map_err(|x| e("dropping a bounding capability", &x))?;
        }
        crate::seccomp::load_bpf(&self.bpf).map_err(|x| e("loading the filter", &x))?;
        for c in &self.extra_caps {
            caps::drop(None, CapSet::Effective, *c).map_err(|x| e("dropping a capability", &x))?;
            caps::drop(None, CapSet::Permitted, *c).map_err(|x| e("dropping a capability", &x))?;
        }
        Ok(())
    }
}

fn spec_args(spec: &Spec) -> Option<&Vec<String>> {
    spec.process().as_ref().and_then(|p| p.args().as_ref())
}

fn spec_path_var(spec: &Spec) -> String {
    spec.process()
        .as_ref()
        .and_then(|p| p.env().as_ref())
        .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string()
}

/// Finds `cmd` like execvp would, in the current root.
pub(crate) fn lookup(cmd: &str, path_var: &str) -> Result<PathBuf, ExecProblem> {
    let check = |p: &Path| -> Result<(), ExecProblem> {
        match std::fs::metadata(p) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
            Ok(_) => Err(ExecProblem::NotExecutable(cmd.to_string())),
            Err(_) => Err(ExecProblem::NoSuchFile(cmd.to_string())),
        }
    };
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        check(&p)?;
        return Ok(p);
    }
    if cmd.is_empty() {
        return Err(ExecProblem::NotFoundInPath(cmd.to_string()));
    }
    let mut denied = false;
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(cmd);
        match check(&p) {
            Ok(()) => return Ok(p),
            Err(ExecProblem::NotExecutable(_)) => denied = true,
            Err(_) => {}
        }
    }
    if denied {
        Err(ExecProblem::NotExecutable(cmd.to_string()))
    } else {
        Err(ExecProblem::NotFoundInPath(cmd.to_string()))
    }
}

fn encode(problem: &ExecProblem) -> String {
    let (code, cmd) = match problem {
        ExecProblem::NotFoundInPath(c) => ("path", c),
        ExecProblem::NoSuchFile(c) => ("nofile", c),
        ExecProblem::NotExecutable(c) => ("noexec", c),
    };
    format!("{MARK}{code}:{cmd}")
}

/// Recovers an [`ExecProblem`] from an error message that crossed the fork.
pub(crate) fn parse_exec_error(msg: &str) -> Option<ExecProblem> {
    let rest = &msg[msg.find(MARK)? + MARK.len()..];
    let (code, cmd) = rest.split_once(':')?;
    // The message may be wrapped by libcontainer; the command ends at the
    // end of our own text, which is the end of the line we produced.
    let cmd = cmd.trim_end_matches([')', '"']).to_string();
    Some(match code {
        "path" => ExecProblem::NotFoundInPath(cmd),
        "nofile" => ExecProblem::NoSuchFile(cmd),
        _ => ExecProblem::NotExecutable(cmd),
    })
}

fn wants_init(spec: &Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_INIT))
        .is_some_and(|v| v == "true")
}

impl Executor for BerthExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let args = spec_args(spec).ok_or_else(|| {
            ExecutorValidationError::ArgValidationError("no command specified".into())
        })?;
        let cmd = args.first().map(String::as_str).unwrap_or("");
        lookup(cmd, &spec_path_var(spec))
            .map(|_| ())
            .map_err(|p| ExecutorValidationError::ArgValidationError(encode(&p)))
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let args = spec_args(spec).ok_or(ExecutorError::InvalidArg)?;
        let path =
            lookup(&args[0], &spec_path_var(spec)).map_err(|p| ExecutorError::Other(encode(&p)))?;
        let path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| ExecutorError::InvalidArg)?;
        let argv: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| ExecutorError::InvalidArg))
            .collect::<Result<_, _>>()?;
        // berth (a Rust program) ignores SIGPIPE; the container's command
        // must start with the default, or `yes | head` never ends.
        // SAFETY: restoring the default disposition installs no handler.
        let _ = unsafe { signal::signal(Signal::SIGPIPE, signal::SigHandler::SigDfl) };
        if let Some(s) = &self.seccomp {
            s.apply()?;
        }
        if wants_init(spec) {
            run_init(&path, &argv);
        }
        unistd::execv(&path, &argv)
            .map_err(|e| ExecutorError::Other(format!("exec {:?}: {e}", args[0])))?;
        unreachable!("execv returned without an error")
    }
}

/// `--init`: stay as pid 1, run the command as a child, forward signals to
/// it, reap every zombie, and exit with the command's status.
fn run_init(path: &CString, argv: &[CString]) -> ! {
    let mut all = SigSet::all();
    // SIGKILL and SIGSTOP cannot be blocked; the set simply ignores them.
    all.remove(Signal::SIGKILL);
    all.remove(Signal::SIGSTOP);
    let _ = all.thread_block();
    let _ = libcontainer_prctl_name("init");
    // SAFETY: the container's init process is single-threaded (libcontainer
    // forks it from a single-threaded parent and starts no threads), so fork
    // is safe; the child only resets its signal mask and execs.
    match unsafe { unistd::fork() } {
        Ok(ForkResult::Child) => {
            let _ = all.thread_unblock();
            let _ = unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            let _ = unistd::execv(path, argv);
            std::process::exit(127);
        }
        Ok(ForkResult::Parent { child }) => {
            let code = init_loop(child, &all);
            std::process::exit(code)
        }
        Err(_) => std::process::exit(125),
    }
}

fn libcontainer_prctl_name(name: &str) -> std::io::Result<()> {
    let c = CString::new(name).map_err(std::io::Error::other)?;
    rustix::thread::set_name(&c).map_err(std::io::Error::from)
}

fn init_loop(child: Pid, set: &SigSet) -> i32 {
    loop {
        let Ok(sig) = set.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = signal::kill(child, sig);
            continue;
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => return code,
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => return 128 + s as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_in_path_and_reports_problems() {
        assert_eq!(
            lookup("sh", "/nonexistent:/bin").unwrap(),
            PathBuf::from("/bin/sh")
        );
        assert_eq!(
            lookup("no-such-cmd-x", "/bin"),
            Err(ExecProblem::NotFoundInPath("no-such-cmd-x".into()))
        );
        assert_eq!(
            lookup("/no/such", "/bin"),
            Err(ExecProblem::NoSuchFile("/no/such".into()))
        );
        assert_eq!(
            lookup("/etc/passwd", "/bin"),
            Err(ExecProblem::NotExecutable("/etc/passwd".into()))
        );
        assert_eq!(
            lookup("/etc", "/bin"),
            Err(ExecProblem::NotExecutable("/etc".into()))
        );
    }

    #[test]
    fn exec_errors_survive_wrapping() {
        let e = encode(&ExecProblem::NotFoundInPath("echo hello".into()));
        let wrapped = format!("exec process failed with error {e}");
        assert_eq!(
            parse_exec_error(&wrapped),
            Some(ExecProblem::NotFoundInPath("echo hello".into()))
        );
        assert_eq!(parse_exec_error("other"), None);
    }
}
