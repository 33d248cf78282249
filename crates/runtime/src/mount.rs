//! Mounting the rootfs a snapshot describes, and taking it down again.

use std::path::Path;

use oci_spec::runtime::Mount;
use rustix::mount::{MountFlags, UnmountFlags};

use crate::{Error, Result};

/// Mounts `mounts` (as returned by a snapshot, destination `/`) on `target`.
pub fn mount_rootfs(mounts: &[Mount], target: &Path) -> Result<()> {
    for m in mounts {
        let typ = m.typ().as_deref().unwrap_or("bind");
        let source = m
            .source()
            .as_ref()
            .map(|s| s.as_os_str().to_owned())
            .unwrap_or_else(|| typ.into());
        let mut flags = MountFlags::empty();
        let mut data = Vec::new();
        for opt in m.options().iter().flatten() {
            match opt.as_str() {
                "ro" => flags |= MountFlags::RDONLY,
                "bind" | "rbind" => flags |= MountFlags::BIND,
                "rw" => {}
                other => data.push(other),
            }
        }
        let data = std::ffi::CString::new(data.join(",")).map_err(|_| Error::Mount {
            target: target.display().to_string(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
        rustix::mount::mount(
            source.as_os_str(),
            target,
            typ,
            flags,
            Some(data.as_c_str()),
        )
        .map_err(|e| Error::Mount {
            target: target.display().to_string(),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// Unmounts `target` (lazily, so a busy mount never blocks cleanup). A path
/// that is not mounted, or does not exist, is fine.
pub fn unmount(target: &Path) -> Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::DETACH) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOENT => Ok(()),
        Err(e) => Err(Error::Mount {
            target: target.display().to_string(),
            source: e.into(),
        }),
    }
}

/// Whether something is mounted exactly at `path` (per /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape_mountinfo(mp) == want)
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}
