//! What docker gives a container by default: capabilities, mounts, masked
//! and read-only paths, and the default seccomp profile — all expressed as
//! `oci_spec::runtime` types — plus the rules for `--cap-add`/`--cap-drop`
//! and for reading a docker-format seccomp profile
//! (`--security-opt seccomp=<file>`).
//!
//! # Seccomp and libseccomp versions
//!
//! The runtime resolves syscall names with libseccomp. Every name in
//! [`default_seccomp`] is one that libseccomp 2.5.4 (Debian bookworm) knows
//! on some architecture (names that exist only on other architectures resolve
//! to libseccomp "pseudo syscall" numbers and are silently ignored on this
//! one). A name libseccomp does not know at all is skipped with a warning by
//! the runtime rather than failing the container, so newer profiles still
//! load; keep the built-in list to 2.5-era names all the same.

use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall, Mount,
};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------

/// Docker's default capability set (CapEff `00000000a80425fb`).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux knows, indexed by its number (0 ..= 40,
/// `CAP_CHECKPOINT_RESTORE`).
const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",              // 0
    "CAP_DAC_OVERRIDE",       // 1
    "CAP_DAC_READ_SEARCH",    // 2
    "CAP_FOWNER",             // 3
    "CAP_FSETID",             // 4
    "CAP_KILL",               // 5
    "CAP_SETGID",             // 6
    "CAP_SETUID",             // 7
    "CAP_SETPCAP",            // 8
    "CAP_LINUX_IMMUTABLE",    // 9
    "CAP_NET_BIND_SERVICE",   // 10
    "CAP_NET_BROADCAST",      // 11
    "CAP_NET_ADMIN",          // 12
    "CAP_NET_RAW",            // 13
    "CAP_IPC_LOCK",           // 14
    "CAP_IPC_OWNER",          // 15
    "CAP_SYS_MODULE",         // 16
    "CAP_SYS_RAWIO",          // 17
    "CAP_SYS_CHROOT",         // 18
    "CAP_SYS_PTRACE",         // 19
    "CAP_SYS_PACCT",          // 20
    "CAP_SYS_ADMIN",          // 21
    "CAP_SYS_BOOT",           // 22
    "CAP_SYS_NICE",           // 23
    "CAP_SYS_RESOURCE",       // 24
    "CAP_SYS_TIME",           // 25
    "CAP_SYS_TTY_CONFIG",     // 26
    "CAP_MKNOD",              // 27
    "CAP_LEASE",              // 28
    "CAP_AUDIT_WRITE",        // 29
    "CAP_AUDIT_CONTROL",      // 30
    "CAP_SETFCAP",            // 31
    "CAP_MAC_OVERRIDE",       // 32
    "CAP_MAC_ADMIN",          // 33
    "CAP_SYSLOG",             // 34
    "CAP_WAKE_ALARM",         // 35
    "CAP_BLOCK_SUSPEND",      // 36
    "CAP_AUDIT_READ",         // 37
    "CAP_PERFMON",            // 38
    "CAP_BPF",                // 39
    "CAP_CHECKPOINT_RESTORE", // 40
];

/// The kernel's number for a capability name (`CAP_` form, upper case).
pub fn cap_number(name: &str) -> Option<u32> {
    CAPABILITIES
        .iter()
        .position(|c| *c == name)
        .and_then(|i| u32::try_from(i).ok())
}

/// Every capability the kernel knows (for `--privileged`).
pub fn all_caps() -> Vec<String> {
    CAPABILITIES.iter().map(|c| (*c).to_string()).collect()
}

/// Normalizes a `--cap-add`/`--cap-drop` value the way docker does: upper
/// case, `CAP_` prefix added, `ALL` kept as is.
fn normalize_caps(list: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        let mut c = c.trim().to_ascii_uppercase();
        if c == "ALL" {
            out.push(c);
            continue;
        }
        if !c.starts_with("CAP_") {
            c = format!("CAP_{c}");
        }
        if cap_number(&c).is_none() {
            return Err(format!("unknown capability: {c:?}"));
        }
        out.push(c);
    }
    Ok(out)
}

fn push_unique(v: &mut Vec<String>, c: &str) {
    if !v.iter().any(|x| x == c) {
        v.push(c.to_string());
    }
}

/// Applies `--cap-add`/`--cap-drop` to `base`, following docker's rules:
///
/// * names are case-insensitive, with or without the `CAP_` prefix;
/// * `--cap-add ALL` gives every capability except the dropped ones;
/// * `--cap-drop ALL` gives exactly the added ones;
/// * otherwise the drops are removed from `base` and the adds appended.
///
/// An unknown name fails with docker's message, `unknown capability: "CAP_FOO"`.
pub fn apply_cap_changes(
    base: &[&str],
    add: &[String],
    drop: &[String],
) -> Result<Vec<String>, String> {
    let add = normalize_caps(add)?;
    let drop = normalize_caps(drop)?;
    let mut caps = Vec::new();
    if add.iter().any(|c| c == "ALL") {
        for c in CAPABILITIES {
            if !drop.iter().any(|d| d == c) {
                push_unique(&mut caps, c);
            }
        }
    } else if drop.iter().any(|c| c == "ALL") {
        for c in &add {
            push_unique(&mut caps, c);
        }
    } else {
        for c in base {
            if !drop.iter().any(|d| d == c) {
                push_unique(&mut caps, c);
            }
        }
        for c in &add {
            push_unique(&mut caps, c);
        }
    }
    Ok(caps)
}

// ---------------------------------------------------------------------------
// Mounts and paths
// ---------------------------------------------------------------------------

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest))
        .set_typ(Some(typ.to_string()))
        .set_source(Some(PathBuf::from(source)))
        .set_options(Some(options.iter().map(|o| (*o).to_string()).collect()));
    m
}

/// The mounts docker (via runc's defaults) gives every container.
pub fn default_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    ]
}

/// Paths docker masks (bind-mounts `/dev/null` or an empty read-only tmpfs
/// over) in non-privileged containers.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths docker makes read-only in non-privileged containers.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

// ---------------------------------------------------------------------------
// Seccomp
// ---------------------------------------------------------------------------

/// `EPERM`, the errno of the default profile's default action.
const EPERM: u32 = 1;
/// `ENOSYS`, what `clone3` returns without `CAP_SYS_ADMIN` (so that libcs
/// fall back to `clone`, whose flags can be filtered).
const ENOSYS: u32 = 38;
/// `CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
/// CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET`.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// Syscalls docker's default profile allows unconditionally.
#[rustfmt::skip]
const DEFAULT_ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
    "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
    "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
    "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
    "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
    "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_time64", "futex_waitv",
    "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
    "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup",
    "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "membarrier",
    "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
    "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
    "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
    "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32",
    "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
    "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32",
    "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list",
    "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32",
    "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
    "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat",
    "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
    "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
    "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
];

/// A `(kernel major, minor)` pair.
type KernelVersion = (u32, u32);

/// Builds a [`LinuxSeccompArg`] (it has no setters, only a builder).
fn seccomp_arg(
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
) -> LinuxSeccompArg {
    let b = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    let b = match value_two {
        Some(v2) => b.value_two(v2),
        None => b,
    };
    // Every field has a default and the builder has no validation, so
    // `build` cannot fail.
    b.build().unwrap_or_default()
}

/// Conditions of a docker-format rule (`includes` / `excludes`).
#[derive(Debug, Default, Clone)]
struct Cond {
    caps: Vec<String>,
    arches: Vec<String>,
    min_kernel: Option<KernelVersion>,
}

/// One docker-format syscall rule, before filtering by caps/arch/kernel.
#[derive(Debug, Clone)]
struct Rule {
    names: Vec<String>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Vec<LinuxSeccompArg>,
    includes: Cond,
    excludes: Cond,
}

impl Rule {
    fn allow(names: &[&str]) -> Self {
        Rule {
            names: names.iter().map(|n| (*n).to_string()).collect(),
            action: LinuxSeccompAction::ScmpActAllow,
            errno_ret: None,
            args: Vec::new(),
            includes: Cond::default(),
            excludes: Cond::default(),
        }
    }

    fn arg(mut self, index: usize, value: u64, op: LinuxSeccompOperator) -> Self {
        self.args.push(seccomp_arg(index, value, None, op));
        self
    }

    fn if_caps(mut self, caps: &[&str]) -> Self {
        self.includes.caps = caps.iter().map(|c| (*c).to_string()).collect();
        self
    }

    fn if_arches(mut self, arches: &[&str]) -> Self {
        self.includes.arches = arches.iter().map(|a| (*a).to_string()).collect();
        self
    }

    fn unless_caps(mut self, caps: &[&str]) -> Self {
        self.excludes.caps = caps.iter().map(|c| (*c).to_string()).collect();
        self
    }

    fn unless_arches(mut self, arches: &[&str]) -> Self {
        self.excludes.arches = arches.iter().map(|a| (*a).to_string()).collect();
        self
    }

    fn min_kernel(mut self, v: KernelVersion) -> Self {
        self.includes.min_kernel = Some(v);
        self
    }
}

/// The rules of docker's default profile (moby `profiles/seccomp/default.json`).
fn default_rules() -> Vec<Rule> {
    use LinuxSeccompOperator::{ScmpCmpEq, ScmpCmpMaskedEq, ScmpCmpNe};
    let mut clone3 = Rule::allow(&["clone3"]).unless_caps(&["CAP_SYS_ADMIN"]);
    clone3.action = LinuxSeccompAction::ScmpActErrno;
    clone3.errno_ret = Some(ENOSYS);
    vec![
        Rule::allow(DEFAULT_ALLOWED),
        Rule::allow(&["process_vm_readv", "process_vm_writev", "ptrace"]).min_kernel((4, 8)),
        // AF_VSOCK (40) sockets are refused.
        Rule::allow(&["socket"]).arg(0, 40, ScmpCmpNe),
        // personality(2): PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, query.
        Rule::allow(&["personality"]).arg(0, 0, ScmpCmpEq),
        Rule::allow(&["personality"]).arg(0, 0x0008, ScmpCmpEq),
        Rule::allow(&["personality"]).arg(0, 0x0002_0000, ScmpCmpEq),
        Rule::allow(&["personality"]).arg(0, 0x0002_0008, ScmpCmpEq),
        Rule::allow(&["personality"]).arg(0, 0xffff_ffff, ScmpCmpEq),
        Rule::allow(&["sync_file_range2", "swapcontext"]).if_arches(&["ppc64le"]),
        Rule::allow(&[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ])
        .if_arches(&["arm", "arm64"]),
        Rule::allow(&["arch_prctl"]).if_arches(&["amd64", "x32"]),
        Rule::allow(&["modify_ldt"]).if_arches(&["amd64", "x32", "x86"]),
        Rule::allow(&[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ])
        .if_arches(&["s390", "s390x"]),
        Rule::allow(&["riscv_flush_icache"]).if_arches(&["riscv64"]),
        Rule::allow(&["open_by_handle_at"]).if_caps(&["CAP_DAC_READ_SEARCH"]),
        Rule::allow(&[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ])
        .if_caps(&["CAP_SYS_ADMIN"]),
        // clone without namespace flags (argument order differs on s390).
        Rule::allow(&["clone"])
            .arg(0, CLONE_NAMESPACE_FLAGS, ScmpCmpMaskedEq)
            .unless_caps(&["CAP_SYS_ADMIN"])
            .unless_arches(&["s390", "s390x"]),
        Rule::allow(&["clone"])
            .arg(1, CLONE_NAMESPACE_FLAGS, ScmpCmpMaskedEq)
            .if_arches(&["s390", "s390x"])
            .unless_caps(&["CAP_SYS_ADMIN"]),
        clone3,
        Rule::allow(&["reboot"]).if_caps(&["CAP_SYS_BOOT"]),
        Rule::allow(&["chroot"]).if_caps(&["CAP_SYS_CHROOT"]),
        Rule::allow(&["delete_module", "init_module", "finit_module"]).if_caps(&["CAP_SYS_MODULE"]),
        Rule::allow(&["acct"]).if_caps(&["CAP_SYS_PACCT"]),
        Rule::allow(&[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ])
        .if_caps(&["CAP_SYS_PTRACE"]),
        Rule::allow(&["iopl", "ioperm"]).if_caps(&["CAP_SYS_RAWIO"]),
        Rule::allow(&["settimeofday", "stime", "clock_settime", "clock_settime64"])
            .if_caps(&["CAP_SYS_TIME"]),
        Rule::allow(&["vhangup"]).if_caps(&["CAP_SYS_TTY_CONFIG"]),
        Rule::allow(&[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ])
        .if_caps(&["CAP_SYS_NICE"]),
        Rule::allow(&["syslog"]).if_caps(&["CAP_SYSLOG"]),
        Rule::allow(&["bpf"]).if_caps(&["CAP_BPF"]),
        Rule::allow(&["perf_event_open"]).if_caps(&["CAP_PERFMON"]),
    ]
}

/// The running architecture as Go's `runtime.GOARCH` names it (the names
/// docker profiles use in `includes.arches`).
fn go_arch() -> &'static str {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if little => "ppc64le",
        "powerpc64" => "ppc64",
        "mips64" if little => "mips64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The libseccomp architecture of the running machine.
fn native_arch() -> Option<Arch> {
    Some(match go_arch() {
        "amd64" => Arch::ScmpArchX86_64,
        "386" => Arch::ScmpArchX86,
        "arm64" => Arch::ScmpArchAarch64,
        "arm" => Arch::ScmpArchArm,
        "ppc64le" => Arch::ScmpArchPpc64le,
        "ppc64" => Arch::ScmpArchPpc64,
        "s390x" => Arch::ScmpArchS390x,
        "riscv64" => Arch::ScmpArchRiscv64,
        "mips64" => Arch::ScmpArchMips64,
        "mips64le" => Arch::ScmpArchMipsel64,
        "loong64" => Arch::ScmpArchLoongarch64,
        _ => return None,
    })
}

/// Docker's default `archMap`: the native architecture plus the ones its
/// processes may also run as.
fn default_arches() -> Vec<Arch> {
    use Arch::*;
    match native_arch() {
        Some(ScmpArchX86_64) => vec![ScmpArchX86_64, ScmpArchX86, ScmpArchX32],
        Some(ScmpArchAarch64) => vec![ScmpArchAarch64, ScmpArchArm],
        Some(ScmpArchMips64) => vec![ScmpArchMips64, ScmpArchMips, ScmpArchMips64n32],
        Some(ScmpArchMipsel64) => {
            vec![ScmpArchMipsel64, ScmpArchMipsel, ScmpArchMipsel64n32]
        }
        Some(ScmpArchS390x) => vec![ScmpArchS390x, ScmpArchS390],
        Some(a) => vec![a],
        None => Vec::new(),
    }
}

/// Parses `"4.8"` (or `"4.8.0"`) into `(4, 8)`.
fn parse_kernel_version(s: &str) -> Option<KernelVersion> {
    let mut it = s.split(['.', '-', '+']);
    let major = it.next()?.trim().parse().ok()?;
    let minor_part = it.next().unwrap_or("0");
    let digits: String = minor_part
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let minor = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some((major, minor))
}

/// The running kernel's `(major, minor)`, from `/proc/sys/kernel/osrelease`.
fn running_kernel() -> Option<KernelVersion> {
    let s = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_kernel_version(s.trim())
}

fn normalize_cap_name(c: &str) -> String {
    let c = c.trim().to_ascii_uppercase();
    if c.starts_with("CAP_") {
        c
    } else {
        format!("CAP_{c}")
    }
}

/// Keeps the rules whose `includes`/`excludes` match, like moby's
/// `setupSeccomp`: excluded if the arch matches, any excluded cap is held,
/// or the kernel is at least `excludes.minKernel`; included only if the arch
/// matches, every included cap is held, and the kernel is new enough. An
/// unknown kernel version counts as new enough.
fn select_rules(
    rules: Vec<Rule>,
    caps: &[String],
    arch: &str,
    kernel: Option<KernelVersion>,
) -> Vec<LinuxSyscall> {
    let caps: Vec<String> = caps.iter().map(|c| normalize_cap_name(c)).collect();
    let has = |c: &String| caps.contains(&normalize_cap_name(c));
    let kernel_at_least = |v: KernelVersion| kernel.is_none_or(|k| k >= v);
    let mut out = Vec::new();
    for r in rules {
        let ex = &r.excludes;
        if ex.arches.iter().any(|a| a == arch)
            || ex.caps.iter().any(has)
            || ex.min_kernel.is_some_and(kernel_at_least)
        {
            continue;
        }
        let inc = &r.includes;
        if (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch))
            || !inc.caps.iter().all(has)
            || inc.min_kernel.is_some_and(|v| !kernel_at_least(v))
        {
            continue;
        }
        let mut s = LinuxSyscall::default();
        s.set_names(r.names)
            .set_action(r.action)
            .set_errno_ret(r.errno_ret)
            .set_args(if r.args.is_empty() {
                None
            } else {
                Some(r.args)
            });
        out.push(s);
    }
    out
}

/// Docker's default seccomp profile for a container whose bounding set is
/// `caps` (names like `CAP_SYS_ADMIN`): unknown syscalls fail with `EPERM`,
/// the usual ~350 are allowed, `personality`, `socket` and `clone` are
/// allowed with argument filters, `clone3` fails with `ENOSYS`, and the
/// privileged groups (`mount`, `ptrace`, `reboot`, ...) are allowed only with
/// the capability that guards them.
pub fn default_seccomp(caps: &[String]) -> LinuxSeccomp {
    let mut s = LinuxSeccomp::default();
    let arches = default_arches();
    s.set_default_action(LinuxSeccompAction::ScmpActErrno)
        .set_default_errno_ret(Some(EPERM))
        .set_architectures(if arches.is_empty() {
            None
        } else {
            Some(arches)
        })
        .set_syscalls(Some(select_rules(
            default_rules(),
            caps,
            go_arch(),
            running_kernel(),
        )));
    s
}

// --- docker-format profile files -------------------------------------------

/// Parses one of oci-spec's enums from its docker/OCI spelling
/// (`"SCMP_ACT_ALLOW"`, `"SCMP_ARCH_X86_64"`, ...).
fn enum_from_str<T: std::str::FromStr>(v: &Value, what: &str) -> Result<T, String> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("invalid {what}: {v}"))
}

fn string_list(v: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("invalid {what}: {x}"))
            })
            .collect(),
        Some(other) => Err(format!("invalid {what}: {other}")),
    }
}

fn opt_u32(v: Option<&Value>, what: &str) -> Result<Option<u32>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("invalid {what}: {x}")),
    }
}

fn parse_cond(v: Option<&Value>) -> Result<Cond, String> {
    let Some(Value::Object(o)) = v else {
        return match v {
            None | Some(Value::Null) => Ok(Cond::default()),
            Some(other) => Err(format!("invalid includes/excludes: {other}")),
        };
    };
    let min_kernel = match o.get("minKernel") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            Some(parse_kernel_version(s).ok_or_else(|| format!("invalid kernel version: {s:?}"))?)
        }
        Some(other) => return Err(format!("invalid kernel version: {other}")),
    };
    Ok(Cond {
        caps: string_list(o.get("caps"), "caps")?,
        arches: string_list(o.get("arches"), "arches")?,
        min_kernel,
    })
}

fn parse_arg(v: &Value) -> Result<LinuxSeccompArg, String> {
    let o = v
        .as_object()
        .ok_or_else(|| format!("invalid syscall argument: {v}"))?;
    let num = |k: &str| -> Result<Option<u64>, String> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("invalid argument {k}: {x}")),
        }
    };
    let index = num("index")?.unwrap_or(0);
    let index = usize::try_from(index).map_err(|_| format!("invalid argument index: {index}"))?;
    let op: LinuxSeccompOperator = match o.get("op") {
        None | Some(Value::Null) => return Err(format!("syscall argument without op: {v}")),
        Some(x) => enum_from_str(x, "operator")?,
    };
    Ok(seccomp_arg(
        index,
        num("value")?.unwrap_or(0),
        num("valueTwo")?.filter(|&x| x != 0),
        op,
    ))
}

fn parse_rule(v: &Value) -> Result<Rule, String> {
    let o = v
        .as_object()
        .ok_or_else(|| format!("invalid syscall rule: {v}"))?;
    let mut names = string_list(o.get("names"), "names")?;
    if let Some(name) = o
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        if !names.is_empty() {
            return Err("use either 'name' or 'names'".into());
        }
        names.push(name.to_string());
    }
    let action = match o.get("action") {
        Some(x) if !x.is_null() => enum_from_str(x, "action")?,
        _ => return Err(format!("syscall rule without action: {v}")),
    };
    let args = match o.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(parse_arg).collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("invalid args: {other}")),
    };
    Ok(Rule {
        names,
        action,
        errno_ret: opt_u32(o.get("errnoRet"), "errnoRet")?,
        args,
        includes: parse_cond(o.get("includes"))?,
        excludes: parse_cond(o.get("excludes"))?,
    })
}

/// Converts a docker-format seccomp profile (`--security-opt seccomp=<file>`)
/// into the OCI form for a container whose bounding set is `caps`.
///
/// Reads `defaultAction`, `defaultErrnoRet`, `architectures` or `archMap`
/// (only the entry for the running architecture is used), `flags`,
/// `listenerPath`, `listenerMetadata`, and `syscalls[]` with `names` (or the
/// older `name`), `action`, `errnoRet`, `args`, and
/// `includes`/`excludes` (`caps`, `arches`, `minKernel`). A profile that is
/// already in OCI form (no includes/excludes) passes through unchanged.
pub fn seccomp_from_docker_json(bytes: &[u8], caps: &[String]) -> Result<LinuxSeccomp, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let o = v
        .as_object()
        .ok_or_else(|| "seccomp profile is not a JSON object".to_string())?;

    let default_action: LinuxSeccompAction = match o.get("defaultAction") {
        Some(x) if !x.is_null() => enum_from_str(x, "defaultAction")?,
        _ => return Err("seccomp profile has no defaultAction".into()),
    };

    let mut arches: Vec<Arch> = Vec::new();
    let explicit = o.get("architectures").filter(|x| !x.is_null());
    let arch_map = o.get("archMap").filter(|x| !x.is_null());
    let non_empty = |x: Option<&Value>| x.and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    if non_empty(explicit) && non_empty(arch_map) {
        return Err("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".into());
    }
    if let Some(Value::Array(a)) = explicit {
        for x in a {
            arches.push(enum_from_str(x, "architecture")?);
        }
    }
    if let Some(Value::Array(map)) = arch_map {
        let native = native_arch();
        for entry in map {
            let Some(arch) = entry.get("architecture") else {
                continue;
            };
            let arch: Arch = enum_from_str(arch, "architecture")?;
            if Some(arch) != native {
                continue;
            }
            arches.push(arch);
            if let Some(Value::Array(subs)) = entry.get("subArchitectures") {
                for s in subs {
                    arches.push(enum_from_str(s, "architecture")?);
                }
            }
        }
    }

    let flags: Vec<LinuxSeccompFilterFlag> = match o.get("flags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| enum_from_str(x, "seccomp flag"))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("invalid flags: {other}")),
    };

    let rules: Vec<Rule> = match o.get("syscalls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(parse_rule).collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("invalid syscalls: {other}")),
    };

    let mut s = LinuxSeccomp::default();
    s.set_default_action(default_action)
        .set_default_errno_ret(opt_u32(o.get("defaultErrnoRet"), "defaultErrnoRet")?)
        .set_architectures(if arches.is_empty() {
            None
        } else {
            Some(arches)
        })
        .set_flags(if flags.is_empty() { None } else { Some(flags) })
        .set_listener_path(
            o.get("listenerPath")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        )
        .set_listener_metadata(
            o.get("listenerMetadata")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .map(str::to_string),
        )
        .set_syscalls(Some(select_rules(rules, caps, go_arch(), running_kernel())));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(v: &[&str]) -> Vec<String> {
        v.iter().map(|c| (*c).to_string()).collect()
    }

    fn default_caps() -> Vec<String> {
        caps(DEFAULT_CAPS)
    }

    /// Every syscall name allowed (possibly conditionally) by the profile.
    fn allowed(p: &LinuxSeccomp) -> Vec<String> {
        p.syscalls()
            .iter()
            .flatten()
            .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow)
            .flat_map(|s| s.names().clone())
            .collect()
    }

    /// Names allowed without any argument filter.
    fn allowed_unconditionally(p: &LinuxSeccomp) -> Vec<String> {
        p.syscalls()
            .iter()
            .flatten()
            .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn default_caps_mask() {
        let mut mask: u64 = 0;
        for c in DEFAULT_CAPS {
            mask |= 1 << cap_number(c).expect("known cap");
        }
        assert_eq!(mask, 0xa804_25fb);
        assert_eq!(DEFAULT_CAPS.len(), 14);
    }

    #[test]
    fn all_caps_numbers() {
        let all = all_caps();
        assert_eq!(all.len(), 41);
        assert_eq!(cap_number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(cap_number("CAP_BPF"), Some(39));
        assert_eq!(cap_number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(cap_number("CAP_NOPE"), None);
    }

    #[test]
    fn cap_add_drop() {
        let s = |v: &[&str]| caps(v);
        // No changes: base unchanged.
        assert_eq!(
            apply_cap_changes(DEFAULT_CAPS, &[], &[]).unwrap(),
            default_caps()
        );
        // Case-insensitive, prefix optional.
        let r = apply_cap_changes(DEFAULT_CAPS, &s(&["sys_admin"]), &s(&["cap_chown", "Kill"]))
            .unwrap();
        assert!(r.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!r.contains(&"CAP_CHOWN".to_string()));
        assert!(!r.contains(&"CAP_KILL".to_string()));
        assert_eq!(r.len(), 13);
        // drop ALL + add X => only X.
        let r = apply_cap_changes(DEFAULT_CAPS, &s(&["NET_ADMIN"]), &s(&["ALL"])).unwrap();
        assert_eq!(r, s(&["CAP_NET_ADMIN"]));
        let r = apply_cap_changes(DEFAULT_CAPS, &[], &s(&["all"])).unwrap();
        assert!(r.is_empty());
        // add ALL minus drops.
        let r = apply_cap_changes(DEFAULT_CAPS, &s(&["ALL"]), &s(&["SYS_ADMIN"])).unwrap();
        assert_eq!(r.len(), 40);
        assert!(!r.contains(&"CAP_SYS_ADMIN".to_string()));
        // Drop applies after add when the same cap is named in both.
        let r = apply_cap_changes(DEFAULT_CAPS, &s(&["NET_ADMIN"]), &s(&["NET_ADMIN"])).unwrap();
        // docker: drop filters base only, then add appends => present.
        assert!(r.contains(&"CAP_NET_ADMIN".to_string()));
        // No duplicates when adding a cap already in the base.
        let r = apply_cap_changes(DEFAULT_CAPS, &s(&["chown"]), &[]).unwrap();
        assert_eq!(r.len(), 14);
        // Unknown names.
        assert_eq!(
            apply_cap_changes(DEFAULT_CAPS, &s(&["foo"]), &[]).unwrap_err(),
            "unknown capability: \"CAP_FOO\""
        );
        assert_eq!(
            apply_cap_changes(DEFAULT_CAPS, &[], &s(&["CAP_BAR"])).unwrap_err(),
            "unknown capability: \"CAP_BAR\""
        );
    }

    #[test]
    fn mounts() {
        let m = default_mounts();
        let dests: Vec<_> = m.iter().map(|m| m.destination().clone()).collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
            .map(PathBuf::from)
        );
        let cg = &m[4];
        assert_eq!(cg.typ().as_deref(), Some("cgroup"));
        assert!(cg.options().as_ref().unwrap().contains(&"ro".to_string()));
        let shm = &m[6];
        assert_eq!(
            shm.options().as_ref().unwrap(),
            &caps(&["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"])
        );
        // Serializes as OCI JSON.
        let j = serde_json::to_value(&m[2]).unwrap();
        assert_eq!(j["type"], "devpts");
        assert_eq!(j["destination"], "/dev/pts");
    }

    #[test]
    fn paths() {
        assert!(MASKED_PATHS.contains(&"/proc/kcore"));
        assert!(MASKED_PATHS.contains(&"/sys/firmware"));
        assert!(READONLY_PATHS.contains(&"/proc/sys"));
        assert_eq!(READONLY_PATHS.len(), 5);
    }

    #[test]
    fn default_profile_basics() {
        let p = default_seccomp(&default_caps());
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                p.architectures().as_deref(),
                Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
            );
            assert!(allowed(&p).contains(&"arch_prctl".to_string()));
            assert!(allowed(&p).contains(&"modify_ldt".to_string()));
            assert!(!allowed(&p).contains(&"set_tls".to_string()));
        }
        let free = allowed_unconditionally(&p);
        for name in [
            "read",
            "write",
            "execve",
            "exit_group",
            "openat",
            "futex",
            "ptrace",
        ] {
            assert!(free.contains(&name.to_string()), "{name} not allowed");
        }
        // chroot: CAP_SYS_CHROOT is a default cap.
        assert!(free.contains(&"chroot".to_string()));
        let all = allowed(&p);
        // clone is allowed, but only with the namespace-flag filter.
        assert!(all.contains(&"clone".to_string()));
        assert!(!free.contains(&"clone".to_string()));
        for name in [
            "kexec_load",
            "mount",
            "umount2",
            "unshare",
            "setns",
            "reboot",
            "init_module",
            "open_by_handle_at",
            "bpf",
            "clone3",
            "acct",
            "settimeofday",
            "kcmp",
            "iopl",
        ] {
            assert!(!all.contains(&name.to_string()), "{name} allowed");
        }
        // clone3 returns ENOSYS.
        let c3 = p
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names().iter().any(|n| n == "clone3"))
            .expect("clone3 rule");
        assert_eq!(c3.action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(c3.errno_ret(), Some(38));
        // clone's filter.
        let clone = p
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names() == &["clone".to_string()])
            .expect("clone rule");
        let a = clone.args().as_ref().unwrap()[0];
        assert_eq!(a.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(a.value(), 2_114_060_288);
        // personality has five argument rules.
        let n = p
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.names() == &["personality".to_string()])
            .count();
        assert_eq!(n, 5);
        assert!(DEFAULT_ALLOWED.len() > 340);
    }

    #[test]
    fn default_profile_sys_admin() {
        let mut c = default_caps();
        c.push("CAP_SYS_ADMIN".into());
        let p = default_seccomp(&c);
        let free = allowed_unconditionally(&p);
        for name in [
            "mount", "umount2", "unshare", "setns", "clone", "clone3", "bpf",
        ] {
            assert!(free.contains(&name.to_string()), "{name} not allowed");
        }
        // No ENOSYS rule for clone3 and no filtered clone rule.
        assert!(!p
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActErrno));
        assert!(!free.contains(&"reboot".to_string()));
    }

    #[test]
    fn default_profile_other_caps() {
        let p = default_seccomp(&caps(&[
            "CAP_SYS_PTRACE",
            "sys_boot",
            "CAP_DAC_READ_SEARCH",
            "CAP_SYS_TIME",
            "CAP_SYS_MODULE",
        ]));
        let all = allowed(&p);
        for name in [
            "kcmp",
            "pidfd_getfd",
            "reboot",
            "open_by_handle_at",
            "clock_settime",
            "finit_module",
        ] {
            assert!(all.contains(&name.to_string()), "{name} not allowed");
        }
        assert!(!all.contains(&"chroot".to_string()));
        assert!(!all.contains(&"kexec_load".to_string()));
    }

    #[test]
    fn seccomp_json_round_trip() {
        let p = default_seccomp(&default_caps());
        let j = serde_json::to_string(&p).unwrap();
        let back: LinuxSeccomp = serde_json::from_str(&j).unwrap();
        assert_eq!(p, back);
        let v: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(v["architectures"][0], "SCMP_ARCH_X86_64");
        }
        let clone = v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["names"] == serde_json::json!(["clone"]))
            .unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
    }

    #[test]
    fn docker_json_profile() {
        let profile = br#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
                {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "x"},
                {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["newsyscall"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
                {"names": ["oldsyscall"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "3.0"}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}}
            ]
        }"#;
        let p = seccomp_from_docker_json(profile, &default_caps()).unwrap();
        assert_eq!(p.default_errno_ret(), Some(1));
        let names = allowed(&p);
        assert!(names.contains(&"read".to_string()));
        assert!(names.contains(&"getpid".to_string()));
        assert!(!names.contains(&"mount".to_string()));
        assert!(!names.contains(&"newsyscall".to_string()));
        assert!(!names.contains(&"oldsyscall".to_string()));
        let c3 = p
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names() == &["clone3".to_string()])
            .unwrap();
        assert_eq!(c3.errno_ret(), Some(38));
        let pers = p
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names() == &["personality".to_string()])
            .unwrap();
        assert_eq!(pers.args().as_ref().unwrap()[0].value(), 8);
        assert_eq!(pers.args().as_ref().unwrap()[0].value_two(), None);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(p.architectures().as_ref().unwrap().len(), 3);
            assert!(names.contains(&"arch_prctl".to_string()));
            assert!(!names.contains(&"set_tls".to_string()));
        }

        let p = seccomp_from_docker_json(profile, &caps(&["CAP_SYS_ADMIN"])).unwrap();
        let names = allowed(&p);
        assert!(names.contains(&"mount".to_string()));
        assert!(!p
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.names() == &["clone3".to_string()]));
    }

    #[test]
    fn docker_json_explicit_arches_and_errors() {
        let p = seccomp_from_docker_json(
            br#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "flags":["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls":[{"names":["kexec_load"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
            &[],
        )
        .unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64][..])
        );
        assert_eq!(
            p.flags().as_deref(),
            Some(&[LinuxSeccompFilterFlag::SeccompFilterFlagLog][..])
        );
        assert_eq!(
            p.syscalls().as_ref().unwrap()[0].action(),
            LinuxSeccompAction::ScmpActKillProcess
        );

        assert!(seccomp_from_docker_json(b"not json", &[]).is_err());
        assert!(seccomp_from_docker_json(b"{}", &[]).is_err());
        assert!(seccomp_from_docker_json(br#"{"defaultAction":"SCMP_ACT_NOPE"}"#, &[]).is_err());
        assert!(seccomp_from_docker_json(
            br#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#,
            &[]
        )
        .unwrap_err()
        .contains("both 'architectures' and 'archMap'"));
        assert!(seccomp_from_docker_json(
            br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}"#,
            &[]
        )
        .is_err());
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel_version("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(parse_kernel_version("5.15+"), Some((5, 15)));
        assert_eq!(parse_kernel_version("x"), None);
    }
}
