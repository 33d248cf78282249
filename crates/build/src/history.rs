//! The `created_by` text docker writes into image history for each
//! instruction.
//!
//! Two conventions exist and both are here:
//!
//! - [`HistoryStyle::Classic`], the legacy builder (`DOCKER_BUILDKIT=0`):
//!   a RUN is its argv joined, `/bin/sh -c apt-get update`, prefixed with
//!   `|N K=v…` when build args are in scope; every other instruction is a
//!   no-op command, `/bin/sh -c #(nop)  WORKDIR /srv` (shell, `#(nop) `, a
//!   space, the text), and COPY/ADD name their content hash:
//!   `/bin/sh -c #(nop) COPY file:<sha256> in /dest ` (one space after
//!   `#(nop)`, one after the destination).
//! - [`HistoryStyle::BuildKit`]: `RUN /bin/sh -c apt-get update # buildkit`,
//!   `WORKDIR /srv`, `COPY app /srv # buildkit`, `ENV A=b`, `CMD ["sh"]`.
//!
//! Lists are printed the way Go's `%q`/`%v` print them (`["a" "b"]`,
//! `[/a /b]`), since that is what docker writes.

use std::time::Duration;

use crate::instructions::{Command, Healthcheck};
use crate::plan::Step;
use crate::shell::go_quote;

/// Which builder's conventions to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryStyle {
    /// The legacy builder: `/bin/sh -c #(nop)  …`.
    #[default]
    Classic,
    /// BuildKit: `RUN /bin/sh -c … # buildkit`.
    BuildKit,
}

/// What the executor knows when it commits an instruction.
#[derive(Debug, Clone, Copy)]
pub struct HistoryContext<'a> {
    /// The stage's SHELL in force (`["/bin/sh", "-c"]` by default).
    pub shell: &'a [String],
    /// The working directory after a WORKDIR (absolute, see [`crate::plan::resolve_workdir`]).
    pub workdir: &'a str,
    /// For a classic COPY/ADD: `file:<sha256>`, `dir:<sha256>` or
    /// `multi:<sha256>` of the copied content; the sources are printed when absent.
    pub copy_source: Option<&'a str>,
}

/// The default shell, `["/bin/sh", "-c"]`.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quote_list(v: &[String]) -> String {
    let q: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", q.join(" "))
}

/// Go's `%v` of a `[]string`: `[a b]`.
pub fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// Go's `time.Duration.String()`: `1m30s`, `500ms`, `0s`.
pub fn go_duration(d: Duration) -> String {
    fn frac(n: u128, unit: u128) -> String {
        let (i, f) = (n / unit, n % unit);
        if f == 0 {
            return i.to_string();
        }
        let width = unit.to_string().len() - 1;
        let f = format!("{f:0width$}");
        format!("{i}.{}", f.trim_end_matches('0'))
    }
    let n = d.as_nanos();
    if n == 0 {
        return "0s".into();
    }
    if n < 1_000 {
        return format!("{n}ns");
    }
    if n < 1_000_000 {
        return format!("{}µs", frac(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{}ms", frac(n, 1_000_000));
    }
    let secs = n / 1_000_000_000;
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    let s = frac(n % 60_000_000_000, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Go's `%q` of an int (a quoted rune): `'\x03'`, `'A'`.
fn go_quote_rune(n: u32) -> String {
    let body = match n {
        7 => "\\a".to_string(),
        8 => "\\b".to_string(),
        9 => "\\t".to_string(),
        10 => "\\n".to_string(),
        11 => "\\v".to_string(),
        12 => "\\f".to_string(),
        13 => "\\r".to_string(),
        39 => "\\'".to_string(),
        92 => "\\\\".to_string(),
        0x20..=0x7e => char::from_u32(n).map(String::from).unwrap_or_default(),
        0..=0x7f => format!("\\x{n:02x}"),
        _ => match char::from_u32(n) {
            Some(c) if !c.is_control() => c.to_string(),
            _ if n < 0x10000 => format!("\\u{n:04x}"),
            _ => format!("\\U{n:08x}"),
        },
    };
    format!("'{body}'")
}

fn kv_text(kvs: &[crate::instructions::KeyValue]) -> String {
    kvs.iter()
        .map(|kv| format!(" {}={}", kv.key, kv.value))
        .collect()
}

fn run_text(step: &Step, argv: &[String]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !step.build_args.is_empty() {
        parts.push(format!("|{}", step.build_args.len()));
        for (k, v) in &step.build_args {
            parts.push(format!("{k}={v}"));
        }
    }
    parts.extend(argv.iter().cloned());
    parts.join(" ")
}

fn normalize_port(p: &str) -> String {
    if p.contains('/') {
        p.to_ascii_lowercase()
    } else {
        format!("{p}/tcp")
    }
}

/// The `created_by` of a step, or `None` for FROM (a stage inherits its
/// base's history).
pub fn created_by(step: &Step, ctx: &HistoryContext<'_>, style: HistoryStyle) -> Option<String> {
    let inst = &step.instruction;
    let classic = style == HistoryStyle::Classic;
    let text = match &inst.command {
        Command::From(_) => return None,
        Command::Run(r) => {
            let argv = r.command.argv(ctx.shell);
            let t = run_text(step, &argv);
            return Some(if classic {
                t
            } else {
                format!("RUN {t} # buildkit")
            });
        }
        Command::Copy(c) => {
            if !classic {
                return Some(format!(
                    "{} # buildkit",
                    uppercase_first_word(&inst.original)
                ));
            }
            let src = match ctx.copy_source {
                Some(s) => s.to_string(),
                None => c.files.sources.join(" "),
            };
            return Some(nop_one_space(
                ctx.shell,
                &format!("COPY {src} in {} ", c.files.dest),
            ));
        }
        Command::Add(a) => {
            if !classic {
                return Some(format!(
                    "{} # buildkit",
                    uppercase_first_word(&inst.original)
                ));
            }
            let src = match ctx.copy_source {
                Some(s) => s.to_string(),
                None => a.files.sources.join(" "),
            };
            return Some(nop_one_space(
                ctx.shell,
                &format!("ADD {src} in {} ", a.files.dest),
            ));
        }
        Command::Env(kvs) => format!("ENV{}", kv_text(kvs)),
        Command::Label(kvs) => format!("LABEL{}", kv_text(kvs)),
        Command::Workdir(_) => format!("WORKDIR {}", ctx.workdir),
        Command::User(u) => format!("USER {u}"),
        Command::Maintainer(m) => format!("MAINTAINER {m}"),
        Command::StopSignal(s) => format!("STOPSIGNAL {s}"),
        Command::Volume(v) => format!("VOLUME {}", go_list(v)),
        Command::Expose(ports) => {
            if classic {
                format!("EXPOSE {}", ports.join(" "))
            } else {
                let p: Vec<String> = ports.iter().map(|p| normalize_port(p)).collect();
                format!("EXPOSE {}", go_list(&p))
            }
        }
        Command::Cmd(c) => format!("CMD {}", go_quote_list(&c.argv(ctx.shell))),
        Command::Entrypoint(c) => format!("ENTRYPOINT {}", go_quote_list(&c.argv(ctx.shell))),
        Command::Shell(s) => {
            if classic {
                format!("SHELL {}", go_quote_list(s))
            } else {
                format!("SHELL {}", go_list(s))
            }
        }
        Command::Onbuild(o) => format!("ONBUILD {}", o.expression),
        Command::Arg(defs) => {
            let parts: Vec<String> = defs
                .iter()
                .map(|d| match &d.default {
                    Some(v) => format!("{}={v}", d.key),
                    None => d.key.clone(),
                })
                .collect();
            format!("ARG {}", parts.join(" "))
        }
        Command::Healthcheck(h) => {
            let (test, iv, to, sp, si, retries) = match h {
                Healthcheck::None => (
                    vec!["NONE".to_string()],
                    Duration::ZERO,
                    Duration::ZERO,
                    Duration::ZERO,
                    Duration::ZERO,
                    0,
                ),
                Healthcheck::Check {
                    test,
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries,
                } => (
                    test.clone(),
                    *interval,
                    *timeout,
                    *start_period,
                    *start_interval,
                    *retries,
                ),
            };
            if classic {
                format!(
                    "HEALTHCHECK &{{{} {} {} {} {} {}}}",
                    go_quote_list(&test),
                    go_quote(&go_duration(iv)),
                    go_quote(&go_duration(to)),
                    go_quote(&go_duration(sp)),
                    go_quote(&go_duration(si)),
                    go_quote_rune(retries)
                )
            } else {
                format!(
                    "HEALTHCHECK {{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{retries}}}",
                    go_list(&test),
                    go_duration(iv),
                    go_duration(to),
                    go_duration(sp),
                    go_duration(si)
                )
            }
        }
    };
    Some(if classic {
        // withCmdComment: SHELL + ["#(nop) ", text], joined with spaces.
        let mut parts = ctx.shell.to_vec();
        parts.push("#(nop) ".into());
        parts.push(text);
        parts.join(" ")
    } else {
        text
    })
}

/// withCmdCommentString (COPY/ADD): SHELL + ["#(nop) " + text].
fn nop_one_space(shell: &[String], text: &str) -> String {
    let mut parts = shell.to_vec();
    parts.push(format!("#(nop) {text}"));
    parts.join(" ")
}

fn uppercase_first_word(s: &str) -> String {
    let s = s.trim();
    match s.split_once(' ') {
        Some((a, b)) => format!("{} {b}", a.to_uppercase()),
        None => s.to_uppercase(),
    }
}

/// Whether the instruction's history entry has no layer (`empty_layer`).
/// RUN, COPY and ADD make layers; WORKDIR makes one only when the executor
/// had to create the directory, which it knows and this does not.
pub fn empty_layer(cmd: &Command) -> bool {
    !matches!(cmd, Command::Run(_) | Command::Copy(_) | Command::Add(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::parse_dockerfile;
    use crate::plan::{BuildOptions, Plan};
    use crate::shell::Env;

    fn history(text: &str, style: HistoryStyle) -> Vec<String> {
        let df = parse_dockerfile(text).unwrap();
        let plan = Plan::new(&df, &BuildOptions::default()).unwrap();
        let steps = plan.steps(plan.target, &Env::new()).unwrap();
        let shell = default_shell();
        let mut workdir = String::from("/");
        steps
            .steps
            .iter()
            .filter_map(|s| {
                if let Command::Workdir(p) = &s.instruction.command {
                    workdir = crate::plan::resolve_workdir(&workdir, p);
                }
                let ctx = HistoryContext {
                    shell: &shell,
                    workdir: &workdir,
                    copy_source: Some("file:abc"),
                };
                created_by(s, &ctx, style)
            })
            .collect()
    }

    const DF: &str = "FROM busybox\nENV A=1 B=\"two words\"\nWORKDIR /srv\nWORKDIR app\nRUN apt-get update && apt-get install -y x\nRUN [\"echo\", \"hi\"]\nCOPY app.py /srv/\nCMD [\"sh\"]\nCMD python app.py\nENTRYPOINT [\"/bin/app\"]\nEXPOSE 80 443/udp\nVOLUME [\"/data\", \"/logs\"]\nUSER nobody\nLABEL a=b\nSTOPSIGNAL SIGTERM\nHEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://localhost/ || exit 1\nONBUILD RUN echo $X\nARG V=1\nRUN echo $V\n";

    #[test]
    fn classic_builder_text() {
        let h = history(DF, HistoryStyle::Classic);
        let want = [
            "/bin/sh -c #(nop)  ENV A=1 B=two words",
            "/bin/sh -c #(nop)  WORKDIR /srv",
            "/bin/sh -c #(nop)  WORKDIR /srv/app",
            "/bin/sh -c apt-get update && apt-get install -y x",
            "echo hi",
            "/bin/sh -c #(nop) COPY file:abc in /srv/ ",
            "/bin/sh -c #(nop)  CMD [\"sh\"]",
            "/bin/sh -c #(nop)  CMD [\"/bin/sh\" \"-c\" \"python app.py\"]",
            "/bin/sh -c #(nop)  ENTRYPOINT [\"/bin/app\"]",
            "/bin/sh -c #(nop)  EXPOSE 443/udp 80",
            "/bin/sh -c #(nop)  VOLUME [/data /logs]",
            "/bin/sh -c #(nop)  USER nobody",
            "/bin/sh -c #(nop)  LABEL a=b",
            "/bin/sh -c #(nop)  STOPSIGNAL SIGTERM",
            "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f http://localhost/ || exit 1\"] \"5m0s\" \"3s\" \"0s\" \"0s\" '\\x03'}",
            "/bin/sh -c #(nop)  ONBUILD RUN echo $X",
            "/bin/sh -c #(nop)  ARG V=1",
            "|1 V=1 /bin/sh -c echo $V",
        ];
        assert_eq!(h, want);
    }

    #[test]
    fn buildkit_text() {
        let h = history(DF, HistoryStyle::BuildKit);
        assert_eq!(h[0], "ENV A=1 B=two words");
        assert_eq!(h[2], "WORKDIR /srv/app");
        assert_eq!(
            h[3],
            "RUN /bin/sh -c apt-get update && apt-get install -y x # buildkit"
        );
        assert_eq!(h[4], "RUN echo hi # buildkit");
        assert_eq!(h[5], "COPY app.py /srv/ # buildkit");
        assert_eq!(h[6], "CMD [\"sh\"]");
        assert_eq!(h[9], "EXPOSE [443/udp 80/tcp]");
        assert_eq!(
            h[14],
            "HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/ || exit 1] Interval:5m0s Timeout:3s StartPeriod:0s StartInterval:0s Retries:3}"
        );
        assert_eq!(h[17], "RUN |1 V=1 /bin/sh -c echo $V # buildkit");
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_micros(1)), "1µs");
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_quote_rune(0), "'\\x00'");
        assert_eq!(go_quote_rune(10), "'\\n'");
        assert_eq!(go_quote_rune(65), "'A'");
    }

    #[test]
    fn layers() {
        assert!(empty_layer(&Command::User("x".into())));
        assert!(empty_layer(&Command::Env(vec![])));
        assert!(empty_layer(&Command::Volume(vec![])));
    }
}
