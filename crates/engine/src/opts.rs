//! Small docker flag parsers: `--ulimit`, `--security-opt`, `--label`,
//! and signal names (`--stop-signal`, `kill -s`, `STOPSIGNAL`). Errors are
//! docker's messages.

/// The `--ulimit` names docker accepts, with their `RLIMIT_*` names.
const ULIMITS: &[(&str, &str)] = &[
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
];

/// `RLIM_INFINITY`, what a limit of `-1` means.
pub const RLIM_INFINITY: u64 = u64::MAX;

fn parse_limit(s: &str) -> Result<u64, String> {
    let n: i64 = s
        .parse()
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))?;
    match n {
        -1 => Ok(RLIM_INFINITY),
        n => u64::try_from(n).map_err(|_| format!("invalid ulimit value: {s}")),
    }
}

fn show_limit(v: u64) -> String {
    if v == RLIM_INFINITY {
        "-1".into()
    } else {
        v.to_string()
    }
}

/// Parses `--ulimit name=soft[:hard]` into `("RLIMIT_NOFILE", soft, hard)`.
///
/// `nofile=1024` means soft = hard = 1024; `-1` means unlimited
/// ([`RLIM_INFINITY`]). Docker's lower-case name is
/// `rlimit.trim_start_matches("RLIMIT_").to_lowercase()`.
pub fn parse_ulimit(v: &str) -> Result<(String, u64, u64), String> {
    let Some((name, limits)) = v.split_once('=') else {
        return Err(format!("invalid ulimit argument: {v}"));
    };
    let Some((_, rlimit)) = ULIMITS.iter().find(|(n, _)| *n == name) else {
        return Err(format!("invalid ulimit type: {name}"));
    };
    let parts: Vec<&str> = limits.split(':').collect();
    let (soft, hard) = match parts.as_slice() {
        [soft] => {
            let s = parse_limit(soft)?;
            (s, s)
        }
        [soft, hard] => (parse_limit(soft)?, parse_limit(hard)?),
        _ => {
            return Err(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            ))
        }
    };
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {} > {}",
            show_limit(soft),
            show_limit(hard)
        ));
    }
    Ok(((*rlimit).to_string(), soft, hard))
}

/// One `--security-opt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityOpt {
    /// `seccomp=unconfined`: no seccomp filter.
    SeccompUnconfined,
    /// `seccomp=builtin`: docker's default profile (as with no option).
    SeccompDefault,
    /// `seccomp=<path>`: a docker-format profile file.
    SeccompProfile(String),
    /// `no-new-privileges[=bool]` (`no-new-privileges:bool` too).
    NoNewPrivileges(bool),
    /// `label=...` / `label:...` / `disable` (SELinux; accepted, ignored).
    Label(String),
    /// `apparmor=...` (accepted, ignored).
    AppArmor(String),
    /// `systempaths=unconfined`: no masked or read-only paths.
    SystemPathsUnconfined,
    /// `writable-cgroups=bool`.
    WritableCgroups(bool),
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses one `--security-opt` value as docker's CLI and daemon do: `key=value`
/// (or the deprecated `key:value`), where the key is `seccomp`, `apparmor`,
/// `label`, `no-new-privileges`, `systempaths` or `writable-cgroups`;
/// `no-new-privileges` alone means `true`. Anything else fails with
/// `Invalid --security-opt: "x"`.
pub fn parse_security_opt(opt: &str) -> Result<SecurityOpt, String> {
    let invalid = || format!("Invalid --security-opt: {opt:?}");
    match opt {
        "no-new-privileges" => return Ok(SecurityOpt::NoNewPrivileges(true)),
        "disable" => return Ok(SecurityOpt::Label("disable".into())),
        _ => {}
    }
    let (k, v) = opt
        .split_once('=')
        .or_else(|| opt.split_once(':'))
        .ok_or_else(invalid)?;
    if v.is_empty() {
        return Err(invalid());
    }
    Ok(match k {
        "seccomp" => match v {
            "unconfined" => SecurityOpt::SeccompUnconfined,
            "builtin" => SecurityOpt::SeccompDefault,
            path => SecurityOpt::SeccompProfile(path.to_string()),
        },
        "no-new-privileges" => SecurityOpt::NoNewPrivileges(parse_go_bool(v).ok_or_else(invalid)?),
        "label" => SecurityOpt::Label(v.to_string()),
        "apparmor" => SecurityOpt::AppArmor(v.to_string()),
        "systempaths" if v == "unconfined" => SecurityOpt::SystemPathsUnconfined,
        "writable-cgroups" => SecurityOpt::WritableCgroups(parse_go_bool(v).ok_or_else(invalid)?),
        _ => return Err(invalid()),
    })
}

/// Parses `--label key=value` (`key` alone means an empty value). An empty
/// key fails with docker's `invalid label '=x': empty name`.
pub fn parse_label(v: &str) -> Result<(String, String), String> {
    let (k, val) = v.split_once('=').unwrap_or((v, ""));
    if k.trim().is_empty() {
        return Err(format!("invalid label '{v}': empty name"));
    }
    Ok((k.to_string(), val.to_string()))
}

/// Linux signal names (without `SIG`) and numbers, as in docker's signal map.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
    ("UNUSED", 31),
];

/// `SIGRTMIN` as docker (and the kernel ABI glibc exposes) numbers it.
const SIGRTMIN: i32 = 34;
/// `SIGRTMAX`.
const SIGRTMAX: i32 = 64;

/// Parses a signal as docker does: a number (`15`), or a name with or
/// without `SIG`, in any case (`SIGTERM`, `term`), including `RTMIN`,
/// `RTMIN+n` and `RTMAX-n` (n ≤ 15, and n ≤ 14 for `RTMAX-n`, as in docker's
/// map). Anything else, or 0, fails with `Invalid signal: x`.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    let invalid = || format!("Invalid signal: {s}");
    if let Ok(n) = s.parse::<i64>() {
        return match i32::try_from(n) {
            Ok(n) if (1..=SIGRTMAX).contains(&n) => Ok(n),
            _ => Err(invalid()),
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some((_, n)) = SIGNALS.iter().find(|(k, _)| *k == name) {
        return Ok(*n);
    }
    let offset = |rest: &str, max: i32| -> Option<i32> {
        if rest.is_empty() {
            return Some(0);
        }
        let n: i32 = rest.parse().ok()?;
        (1..=max).contains(&n).then_some(n)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let rest = match rest.strip_prefix('+') {
            Some(r) if !r.is_empty() => r,
            Some(_) => return Err(invalid()),
            None if rest.is_empty() => "",
            None => return Err(invalid()),
        };
        return offset(rest, 15).map(|n| SIGRTMIN + n).ok_or_else(invalid);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        let rest = match rest.strip_prefix('-') {
            Some(r) if !r.is_empty() => r,
            Some(_) => return Err(invalid()),
            None if rest.is_empty() => "",
            None => return Err(invalid()),
        };
        return offset(rest, 14).map(|n| SIGRTMAX - n).ok_or_else(invalid);
    }
    Err(invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits() {
        assert_eq!(
            parse_ulimit("nofile=1024:2048").unwrap(),
            ("RLIMIT_NOFILE".to_string(), 1024, 2048)
        );
        assert_eq!(
            parse_ulimit("nofile=1024").unwrap(),
            ("RLIMIT_NOFILE".to_string(), 1024, 1024)
        );
        assert_eq!(
            parse_ulimit("core=-1").unwrap(),
            ("RLIMIT_CORE".to_string(), RLIM_INFINITY, RLIM_INFINITY)
        );
        assert_eq!(
            parse_ulimit("memlock=0:-1").unwrap(),
            ("RLIMIT_MEMLOCK".to_string(), 0, RLIM_INFINITY)
        );
        for n in [
            "core",
            "cpu",
            "data",
            "fsize",
            "locks",
            "memlock",
            "msgqueue",
            "nice",
            "nofile",
            "nproc",
            "rss",
            "rtprio",
            "rttime",
            "sigpending",
            "stack",
        ] {
            let (r, _, _) = parse_ulimit(&format!("{n}=1")).unwrap();
            assert_eq!(r, format!("RLIMIT_{}", n.to_uppercase()));
        }
        assert_eq!(
            parse_ulimit("foo=1").unwrap_err(),
            "invalid ulimit type: foo"
        );
        assert_eq!(
            parse_ulimit("NOFILE=1").unwrap_err(),
            "invalid ulimit type: NOFILE"
        );
        assert_eq!(
            parse_ulimit("nofile=2048:1024").unwrap_err(),
            "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024"
        );
        assert_eq!(
            parse_ulimit("nofile").unwrap_err(),
            "invalid ulimit argument: nofile"
        );
        assert_eq!(
            parse_ulimit("nofile=1:2:3").unwrap_err(),
            "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"
        );
        assert_eq!(
            parse_ulimit("nofile=abc").unwrap_err(),
            "strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert!(parse_ulimit("nofile=-5").is_err());
    }

    #[test]
    fn security_opts() {
        use SecurityOpt::*;
        let p = |s| parse_security_opt(s).unwrap();
        assert_eq!(p("seccomp=unconfined"), SeccompUnconfined);
        assert_eq!(p("seccomp:unconfined"), SeccompUnconfined);
        assert_eq!(p("seccomp=builtin"), SeccompDefault);
        assert_eq!(
            p("seccomp=/etc/p.json"),
            SeccompProfile("/etc/p.json".into())
        );
        assert_eq!(p("no-new-privileges"), NoNewPrivileges(true));
        assert_eq!(p("no-new-privileges=true"), NoNewPrivileges(true));
        assert_eq!(p("no-new-privileges=false"), NoNewPrivileges(false));
        assert_eq!(p("no-new-privileges:true"), NoNewPrivileges(true));
        assert_eq!(p("no-new-privileges=1"), NoNewPrivileges(true));
        assert_eq!(p("label=disable"), Label("disable".into()));
        assert_eq!(p("label:type:svirt_t"), Label("type:svirt_t".into()));
        assert_eq!(p("label=user:USER"), Label("user:USER".into()));
        assert_eq!(p("apparmor=unconfined"), AppArmor("unconfined".into()));
        assert_eq!(p("systempaths=unconfined"), SystemPathsUnconfined);
        assert_eq!(p("writable-cgroups=true"), WritableCgroups(true));
        for bad in [
            "x",
            "foo=bar",
            "seccomp",
            "seccomp=",
            "no-new-privileges=maybe",
            "systempaths=x",
        ] {
            assert_eq!(
                parse_security_opt(bad).unwrap_err(),
                format!("Invalid --security-opt: \"{bad}\"")
            );
        }
    }

    #[test]
    fn labels() {
        assert_eq!(parse_label("a=b").unwrap(), ("a".into(), "b".into()));
        assert_eq!(parse_label("a").unwrap(), ("a".into(), String::new()));
        assert_eq!(parse_label("a=").unwrap(), ("a".into(), String::new()));
        assert_eq!(parse_label("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(
            parse_label("=x").unwrap_err(),
            "invalid label '=x': empty name"
        );
        assert!(parse_label("").is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("term"), Ok(15));
        assert_eq!(parse_signal("15"), Ok(15));
        assert_eq!(parse_signal("KILL"), Ok(9));
        assert_eq!(parse_signal("sigkill"), Ok(9));
        assert_eq!(parse_signal("SIGHUP"), Ok(1));
        assert_eq!(parse_signal("USR1"), Ok(10));
        assert_eq!(parse_signal("SIGUSR2"), Ok(12));
        assert_eq!(parse_signal("SIGCHLD"), Ok(17));
        assert_eq!(parse_signal("STOP"), Ok(19));
        assert_eq!(parse_signal("WINCH"), Ok(28));
        assert_eq!(parse_signal("SIGRTMIN"), Ok(34));
        assert_eq!(parse_signal("RTMIN+3"), Ok(37));
        assert_eq!(parse_signal("SIGRTMAX"), Ok(64));
        assert_eq!(parse_signal("RTMAX-1"), Ok(63));
        assert_eq!(parse_signal("64"), Ok(64));
        assert_eq!(parse_signal("0").unwrap_err(), "Invalid signal: 0");
        assert_eq!(parse_signal("65").unwrap_err(), "Invalid signal: 65");
        assert_eq!(parse_signal("-9").unwrap_err(), "Invalid signal: -9");
        assert_eq!(parse_signal("FOO").unwrap_err(), "Invalid signal: FOO");
        assert_eq!(parse_signal("").unwrap_err(), "Invalid signal: ");
        assert!(parse_signal("RTMIN+").is_err());
        assert!(parse_signal("RTMIN+16").is_err());
        assert!(parse_signal("RTMAX-15").is_err());
        assert!(parse_signal("RTMINX").is_err());
    }
}
