//! `-u user[:group]`: resolving a user spec against the image's
//! `/etc/passwd` and `/etc/group`, as runc's `libcontainer/user.GetExecUser`
//! does for docker.

/// The highest uid/gid accepted for a numeric spec (`2^31 - 1`).
const MAX_ID: i64 = i32::MAX as i64;

/// Why a user spec could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// A user name with no `/etc/passwd` entry.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    /// A group name with no `/etc/group` entry.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    /// A numeric uid or gid outside `0..=2^31-1`.
    #[error("uids and gids must be in range 0-2147483647")]
    Range,
}

/// The identity a container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids (groups in `/etc/group` listing the user).
    pub additional_gids: Vec<u32>,
    /// Home directory (for `HOME`), `/` when unknown.
    pub home: String,
}

/// One `/etc/passwd` line.
#[derive(Debug)]
struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
    home: &'a str,
}

/// One `/etc/group` line.
#[derive(Debug)]
struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

/// Parses a numeric field; like runc, an unparsable field counts as 0.
fn num_field(s: Option<&str>) -> i64 {
    s.and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Lines of an `/etc/passwd`- or `/etc/group`-style file, trimmed, without
/// empty lines and comments.
fn records(content: &str) -> impl Iterator<Item = &str> {
    content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn parse_passwd(content: &str) -> Vec<PasswdEntry<'_>> {
    records(content)
        .map(|line| {
            // name:password:uid:gid:gecos:home:shell
            let f: Vec<&str> = line.split(':').collect();
            PasswdEntry {
                name: f.first().copied().unwrap_or(""),
                uid: num_field(f.get(2).copied()),
                gid: num_field(f.get(3).copied()),
                home: f.get(5).copied().unwrap_or(""),
            }
        })
        .collect()
}

fn parse_group(content: &str) -> Vec<GroupEntry<'_>> {
    records(content)
        .map(|line| {
            // name:password:gid:member,member
            let f: Vec<&str> = line.split(':').collect();
            GroupEntry {
                name: f.first().copied().unwrap_or(""),
                gid: num_field(f.get(2).copied()),
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|m| !m.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// Converts an id to `u32`, checking docker's range.
fn checked_id(id: i64) -> Result<u32, UserError> {
    if (0..=MAX_ID).contains(&id) {
        u32::try_from(id).map_err(|_| UserError::Range)
    } else {
        Err(UserError::Range)
    }
}

/// Resolves `spec` (`""`, `user`, `uid`, `user:group`, `uid:gid`, ...)
/// against the image's `/etc/passwd` and `/etc/group` contents (`None` when
/// the file is missing), following runc's `GetExecUser`:
///
/// * an empty spec means root (0:0), home from passwd or `/`;
/// * a numeric user is always a uid; it need not exist in passwd (then gid 0
///   and home `/` unless a group is given);
/// * a user name must exist in passwd;
/// * a group (name or gid) replaces the primary gid; a group name must exist
///   in `/etc/group`, a numeric gid need not;
/// * without an explicit group, every group listing the matched user name is
///   a supplementary group;
/// * numeric ids must lie within `0..=2^31-1`.
pub fn resolve_user(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, UserError> {
    // Like runc, `a:b:c` is user `a`, group `b`; later fields are ignored.
    let mut parts = spec.split(':');
    let user_arg = parts.next().unwrap_or("").trim();
    let group_arg = parts.next().unwrap_or("").trim();
    let uid_arg: Option<i64> = user_arg.parse().ok();
    let gid_arg: Option<i64> = group_arg.parse().ok();

    let mut uid: i64 = 0;
    let mut gid: i64 = 0;
    let mut home = String::from("/");

    let users = passwd.map(parse_passwd).unwrap_or_default();
    let matched = users.iter().find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(n) = uid_arg {
            u.uid == n
        } else {
            u.name == user_arg
        }
    });

    let mut matched_name: Option<&str> = None;
    if let Some(u) = matched {
        matched_name = Some(u.name);
        uid = u.uid;
        gid = u.gid;
        if !u.home.is_empty() {
            home = u.home.to_string();
        }
    } else if !user_arg.is_empty() {
        match uid_arg {
            Some(n) => {
                checked_id(n)?;
                uid = n;
            }
            None => return Err(UserError::NoUser(user_arg.to_string())),
        }
    }

    let mut additional_gids = Vec::new();
    if !group_arg.is_empty() || matched_name.is_some() {
        let groups = group.map(parse_group).unwrap_or_default();
        if !group_arg.is_empty() {
            let found = groups.iter().find(|g| match gid_arg {
                Some(n) => g.gid == n,
                None => g.name == group_arg,
            });
            match (found, gid_arg) {
                (Some(g), _) => gid = g.gid,
                (None, Some(n)) => {
                    checked_id(n)?;
                    gid = n;
                }
                (None, None) => return Err(UserError::NoGroup(group_arg.to_string())),
            }
        } else if let Some(name) = matched_name {
            for g in groups.iter().filter(|g| g.members.contains(&name)) {
                additional_gids.push(checked_id(g.gid)?);
            }
        }
    }

    Ok(ExecUser {
        uid: checked_id(uid)?,
        gid: checked_id(gid)?,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin

app:x:1000:1000:App,,,:/home/app:/bin/sh
";

    const GROUP: &str = "\
root:x:0:
daemon:x:1:
adm:x:4:app,daemon
wheel:x:10:root
audio:x:29:app
nogroup:x:65534:
app:x:1000:
";

    fn ok(spec: &str) -> ExecUser {
        resolve_user(spec, Some(PASSWD), Some(GROUP)).unwrap()
    }

    #[test]
    fn empty_is_root() {
        let u = ok("");
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.additional_gids, vec![10]);
        let u = resolve_user("", None, None).unwrap();
        assert_eq!(
            u,
            ExecUser {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                home: "/".into()
            }
        );
    }

    #[test]
    fn by_name_and_uid() {
        let u = ok("app");
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/app"));
        assert_eq!(u.additional_gids, vec![4, 29]);
        // Numeric uid found in passwd: same as the name.
        assert_eq!(ok("1000"), u);
        let u = ok("daemon");
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1, 1, "/usr/sbin"));
        assert_eq!(u.additional_gids, vec![4]);
    }

    #[test]
    fn numeric_not_in_passwd() {
        let u = ok("4242");
        assert_eq!(
            u,
            ExecUser {
                uid: 4242,
                gid: 0,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        let u = ok("4242:4343");
        assert_eq!((u.uid, u.gid), (4242, 4343));
        let u = resolve_user("123:456", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (123, 456, "/"));
    }

    #[test]
    fn explicit_group() {
        let u = ok("app:audio");
        assert_eq!((u.uid, u.gid), (1000, 29));
        // Explicit group: no supplementary groups.
        assert!(u.additional_gids.is_empty());
        let u = ok("app:4");
        assert_eq!(u.gid, 4);
        let u = ok("nobody:7777");
        assert_eq!((u.uid, u.gid), (65534, 7777));
        let u = ok(":wheel");
        assert_eq!((u.uid, u.gid), (0, 10));
    }

    #[test]
    fn errors() {
        assert_eq!(
            resolve_user("ghost", Some(PASSWD), Some(GROUP))
                .unwrap_err()
                .to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        assert_eq!(
            resolve_user("app", None, None).unwrap_err(),
            UserError::NoUser("app".into())
        );
        assert_eq!(
            resolve_user("app:ghosts", Some(PASSWD), Some(GROUP))
                .unwrap_err()
                .to_string(),
            "unable to find group ghosts: no matching entries in group file"
        );
        assert_eq!(
            resolve_user("0:staff", Some(PASSWD), None).unwrap_err(),
            UserError::NoGroup("staff".into())
        );
        assert_eq!(
            resolve_user("2147483648", None, None).unwrap_err(),
            UserError::Range
        );
        assert_eq!(
            resolve_user("-1", None, None).unwrap_err(),
            UserError::Range
        );
        assert_eq!(
            resolve_user("1:4294967295", None, None)
                .unwrap_err()
                .to_string(),
            "uids and gids must be in range 0-2147483647"
        );
        assert!(resolve_user("2147483647:2147483647", None, None).is_ok());
    }
}
