//! Seccomp filters compiled once and cached as BPF.
//!
//! libseccomp needs ~10 ms of CPU to turn docker's default profile (three
//! architectures, ~380 rules) into BPF, and libcontainer would do that in
//! every container's init. berth compiles a profile once, keeps the BPF under
//! `cache_dir/<sha256 of the profile>.bpf`, and has the container's init load
//! the ready program just before exec (see `executor.rs`).

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

fn err(msg: impl std::fmt::Display) -> Error {
    Error::Create(format!("seccomp: {msg}"))
}

/// Whether berth can precompile `s` (no notify listener, no flags that need
/// libseccomp at load time).
pub fn precompilable(s: &LinuxSeccomp) -> bool {
    let notify = s.default_action() == LinuxSeccompAction::ScmpActNotify
        || s.syscalls()
            .iter()
            .flatten()
            .any(|c| c.action() == LinuxSeccompAction::ScmpActNotify);
    !notify && s.flags().as_ref().is_none_or(|f| f.is_empty()) && s.listener_path().is_none()
}

fn arch(a: Arch) -> Option<ScmpArch> {
    Some(match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        _ => return None,
    })
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    }
}

fn op(o: LinuxSeccompOperator, b: Option<u64>) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(b.unwrap_or(0)),
    }
}

/// Builds the libseccomp filter for `s`, with the same rules libcontainer
/// (and runc) apply: rules equal to the default action are skipped, unknown
/// syscall names are skipped, repeated argument indexes become separate rules.
fn filter(s: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let default = action(s.default_action(), s.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(err)?;
    for a in s.architectures().iter().flatten() {
        let a = arch(*a).ok_or_else(|| err(format!("unsupported architecture {a:?}")))?;
        ctx.add_arch(a).map_err(err)?;
    }
    // Loading must not set no_new_privs: only the spec decides that.
    ctx.set_ctl_nnp(false).map_err(err)?;
    for rule in s.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret());
        if act == default {
            continue;
        }
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                tracing::debug!(name, "seccomp: syscall unknown to libseccomp, skipped");
                continue;
            };
            let cmps: Vec<ScmpArgCompare> = rule
                .args()
                .iter()
                .flatten()
                .map(|a| {
                    ScmpArgCompare::new(a.index() as u32, op(a.op(), a.value_two()), a.value())
                })
                .collect();
            let mut seen = HashSet::new();
            let dup = rule
                .args()
                .iter()
                .flatten()
                .any(|a| !seen.insert(a.index()));
            if cmps.is_empty() {
                ctx.add_rule(act, sc).map_err(err)?;
            } else if dup {
                for c in &cmps {
                    ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                        .map_err(err)?;
                }
            } else {
                ctx.add_rule_conditional(act, sc, &cmps).map_err(err)?;
            }
        }
    }
    Ok(ctx)
}

/// The BPF program for `s`, from `cache_dir` or compiled (and then cached).
pub fn cached_bpf(cache_dir: &Path, s: &LinuxSeccomp) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(s).map_err(err)?;
    let mut h = Sha256::new();
    h.update(libseccomp_version().as_bytes());
    h.update(&json);
    let key = hex::encode(h.finalize());
    let path = cache_dir.join(format!("{key}.bpf"));
    if let Ok(bytes) = std::fs::read(&path) {
        if !bytes.is_empty() && bytes.len() % 8 == 0 {
            return Ok(bytes);
        }
    }
    let ctx = filter(s)?;
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| Error::sys(format!("creating {}", cache_dir.display()), e))?;
    let tmp = cache_dir.join(format!(".{key}.{}.tmp", std::process::id()));
    let res = (|| -> Result<Vec<u8>> {
        let mut f =
            std::fs::File::create(&tmp).map_err(|e| Error::sys("creating the bpf cache", e))?;
        ctx.export_bpf(&f).map_err(err)?;
        f.flush()
            .map_err(|e| Error::sys("writing the bpf cache", e))?;
        f.sync_data()
            .map_err(|e| Error::sys("writing the bpf cache", e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::sys("writing the bpf cache", e))?;
        std::fs::read(&path).map_err(|e| Error::sys("reading the bpf cache", e))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default()
}

/// Installs a BPF program (as exported by libseccomp) on the calling thread.
/// Needs CAP_SYS_ADMIN in the effective set or no_new_privs.
pub(crate) fn load_bpf(bpf: &[u8]) -> std::io::Result<()> {
    // The export is an array of `struct sock_filter` (8 bytes each); copy it
    // into properly aligned structs.
    let filters: Vec<libc::sock_filter> = bpf
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog {
        len: u16::try_from(filters.len())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?,
        filter: filters.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `filters`, which outlives the call; the kernel
    // copies the program and keeps no pointer to it.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_compiles_and_caches() {
        let caps: Vec<String> = crate::defaults::DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = crate::defaults::default_seccomp(&caps);
        assert!(precompilable(&s));
        let dir = std::env::temp_dir().join(format!("berth-bpf-test-{}", std::process::id()));
        let a = cached_bpf(&dir, &s).unwrap();
        assert!(a.len() > 8 * 100);
        assert_eq!(a.len() % 8, 0);
        let b = cached_bpf(&dir, &s).unwrap();
        assert_eq!(a, b);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
