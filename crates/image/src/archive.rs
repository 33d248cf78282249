//! Layer tar extraction into overlayfs format, confined to the layer directory.
//!
//! Every entry's parent directory is opened with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` relative to an `O_PATH` fd of the layer directory,
//! and the last component is created with `*at` calls that never follow it,
//! so neither `..`, absolute symlinks nor hardlinks can reach the host.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags, CWD,
};
use rustix::io::Errno;

use crate::{Error, Result};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Wrap `reader` in the decompressor its magic bytes call for: gzip
/// (`1f 8b`), zstd (`28 b5 2f fd`), or none (plain tar).
pub fn decompress<'a>(mut reader: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut magic = Vec::with_capacity(4);
    while magic.len() < 4 {
        let mut b = [0u8; 4];
        let want = 4 - magic.len();
        match reader.read(&mut b[..want]) {
            Ok(0) => break,
            Ok(n) => magic.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading the archive")(e)),
        }
    }
    let whole = io::Cursor::new(magic.clone()).chain(reader);
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(whole)))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::read::Decoder::new(whole)
            .map_err(Error::io("starting zstd decompression"))?;
        Ok(Box::new(d))
    } else {
        Ok(Box::new(whole))
    }
}

/// Lexically clean a tar path relative to the layer root. `None` if it
/// climbs above the root (`../x`, `a/../../x`). An empty result is the root.
fn clean(raw: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(c.to_vec()),
        }
    }
    Some(out)
}

fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    if comps.is_empty() {
        return b".".to_vec();
    }
    comps.join(&b'/')
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from(e)
}

/// Open a directory inside `root` (`comps` relative to it), never leaving it.
fn open_dir_in_root(root: BorrowedFd<'_>, comps: &[Vec<u8>]) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        root,
        os(&join(comps)),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Like `mkdir -p` inside `root`, returning an `O_PATH` fd of the directory.
fn mkdir_all(root: BorrowedFd<'_>, comps: &[Vec<u8>]) -> rustix::io::Result<OwnedFd> {
    match open_dir_in_root(root, comps) {
        Err(Errno::NOENT) => {}
        other => return other,
    }
    for i in 1..=comps.len() {
        match open_dir_in_root(root, &comps[..i]) {
            Ok(_) => continue,
            Err(Errno::NOENT) => {
                let parent = open_dir_in_root(root, &comps[..i - 1])?;
                match rustix::fs::mkdirat(&parent, os(&comps[i - 1]), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    open_dir_in_root(root, comps)
}

/// `mkdir -p rel` inside `root`, symlinks on the way resolved inside it.
pub fn mkdir_in_root(root: &Path, rel: &str) -> Result<()> {
    let comps = clean(rel.as_bytes()).ok_or_else(|| Error::Breakout {
        entry: rel.to_string(),
        reason: "path escapes the root".into(),
    })?;
    let rootfd = rustix::fs::openat(
        CWD,
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io(format!("opening {}", root.display()))(errno_io(e)))?;
    mkdir_all(rootfd.as_fd(), &comps)
        .map(drop)
        .map_err(|e| Error::io(format!("creating {rel}"))(errno_io(e)))
}

/// `rm -rf parent/name` without following symlinks. Missing is fine.
pub(crate) fn remove_all_at(parent: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<()> {
    let st = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return rustix::fs::unlinkat(parent, name, AtFlags::empty());
    }
    let dfd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for ent in rustix::fs::Dir::read_from(&dfd)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    for n in names {
        remove_all_at(dfd.as_fd(), os(&n))?;
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}

fn proc_path(parent: BorrowedFd<'_>, name: &[u8]) -> Vec<u8> {
    let mut p = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    p
}

struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    fn times(&self) -> Timestamps {
        let t = Timespec {
            tv_sec: self.mtime,
            tv_nsec: 0,
        };
        Timestamps {
            last_access: t,
            last_modification: t,
        }
    }
}

/// How [`unpack`] treats a tar stream.
#[derive(Debug, Clone, Default)]
pub struct Unpack {
    /// Turn `.wh.` entries into overlayfs whiteouts (layers). When false
    /// they are ordinary names (`docker cp`).
    pub whiteouts: bool,
    /// A directory inside the root, relative to it, that every entry is
    /// placed under. It must exist; symlinks on the way resolve inside the root.
    pub prefix: Vec<u8>,
    /// Owner for every entry instead of the one in the tar.
    pub chown: Option<(u32, u32)>,
}

/// Apply a layer tar (already decompressed) into `dir`, converting AUFS/OCI
/// whiteouts to overlayfs ones. Returns the bytes of file content unpacked.
/// Never writes outside `dir`; refuses entries that climb out of it.
pub fn apply_layer(dir: &Path, reader: impl Read) -> Result<u64> {
    unpack(
        dir,
        reader,
        &Unpack {
            whiteouts: true,
            ..Unpack::default()
        },
    )
}

/// Extract a tar (already decompressed) under `root`/`opts.prefix`. Every
/// path, including symlinks met on the way, resolves inside `root`; entries
/// that climb out of the prefix are refused. Returns the file bytes written.
pub fn unpack(dir: &Path, reader: impl Read, opts: &Unpack) -> Result<u64> {
    let prefix = clean(&opts.prefix).ok_or_else(|| Error::Breakout {
        entry: String::from_utf8_lossy(&opts.prefix).into_owned(),
        reason: "prefix escapes the root".into(),
    })?;
    let root = rustix::fs::openat(
        CWD,
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io(format!("opening {}", dir.display()))(errno_io(e)))?;
    let root = root.as_fd();
    let mut archive = tar::Archive::new(reader);
    let mut size = 0u64;
    let mut dir_times: Vec<(Vec<Vec<u8>>, Timestamps)> = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| Error::Archive(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::Archive(e.to_string()))?;
        let raw = entry.path_bytes().into_owned();
        let name_str = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |reason: &str| Error::Breakout {
            entry: name_str.clone(),
            reason: reason.to_string(),
        };
        let fail = |what: &str| {
            let ctx = format!("extracting \"{name_str}\": {what}");
            move |e: Errno| Error::io(ctx)(errno_io(e))
        };
        let etype = entry.header().entry_type();
        if matches!(
            etype,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            continue;
        }
        let mut comps = clean(&raw).ok_or_else(|| refuse("path escapes the layer directory"))?;
        if !prefix.is_empty() {
            let mut full = prefix.clone();
            full.append(&mut comps);
            comps = full;
        }
        let hdr = entry.header();
        let (owner, group) = opts.chown.unwrap_or((
            // Like Go's archive/tar, an empty numeric field is 0.
            hdr.uid().unwrap_or(0) as u32,
            hdr.gid().unwrap_or(0) as u32,
        ));
        let mut meta = Meta {
            uid: owner,
            gid: group,
            mode: hdr.mode().unwrap_or(0) & 0o7777,
            mtime: hdr.mtime().unwrap_or(0) as i64,
            xattrs: Vec::new(),
        };
        let link = entry.link_name_bytes().map(|c| c.into_owned());
        let dev = (
            hdr.device_major().ok().flatten().unwrap_or(0),
            hdr.device_minor().ok().flatten().unwrap_or(0),
        );
        if let Some(pax) = entry
            .pax_extensions()
            .map_err(|e| Error::Archive(e.to_string()))?
        {
            for ext in pax {
                let ext = ext.map_err(|e| Error::Archive(e.to_string()))?;
                let Ok(key) = ext.key() else { continue };
                if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                    if x.starts_with("trusted.overlay.") && x != OPAQUE_XATTR {
                        tracing::warn!(entry = %name_str, xattr = x, "ignoring overlayfs xattr in layer");
                        continue;
                    }
                    meta.xattrs
                        .push((x.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }

        let Some((base, parent_comps)) = comps.split_last() else {
            // The layer root itself ("./").
            if etype == tar::EntryType::Directory {
                let fd = rustix::fs::openat(
                    root,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(fail("opening the layer root"))?;
                apply_fd_meta(&fd, &meta).map_err(fail("setting metadata"))?;
                dir_times.push((Vec::new(), meta.times()));
            }
            continue;
        };

        // Whiteouts.
        if opts.whiteouts && base.as_slice() == OPAQUE_MARKER {
            mkdir_all(root, parent_comps).map_err(fail("creating parent directory"))?;
            let d = rustix::fs::openat2(
                root,
                os(&join(parent_comps)),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            )
            .map_err(fail("opening directory"))?;
            rustix::fs::fsetxattr(&d, OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(fail("marking directory opaque"))?;
            continue;
        }
        if let Some(hidden) = base
            .strip_prefix(WHITEOUT_PREFIX)
            .filter(|_| opts.whiteouts)
        {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(refuse("invalid whiteout name"));
            }
            let parent =
                mkdir_all(root, parent_comps).map_err(fail("creating parent directory"))?;
            remove_all_at(parent.as_fd(), os(hidden)).map_err(fail("removing whited-out path"))?;
            rustix::fs::mknodat(
                &parent,
                os(hidden),
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(fail("creating whiteout"))?;
            rustix::fs::chownat(
                &parent,
                os(hidden),
                Some(uid(meta.uid)),
                Some(gid(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(fail("chown"))?;
            continue;
        }

        let parent = mkdir_all(root, parent_comps).map_err(fail("creating parent directory"))?;
        let parent = parent.as_fd();
        let name = os(base);
        let existing = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(fail("stat")(e)),
        };
        let is_dir_entry = etype == tar::EntryType::Directory;
        let existing = match existing {
            Some(t) if !(t == FileType::Directory && is_dir_entry) => {
                remove_all_at(parent, name).map_err(fail("replacing existing path"))?;
                None
            }
            other => other,
        };
        match etype {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let fd = rustix::fs::openat(
                    parent,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(fail("creating file"))?;
                let mut file = File::from(fd);
                let mut buf = vec![0u8; 128 * 1024];
                loop {
                    let n = match entry.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            return Err(Error::Archive(format!("reading \"{name_str}\": {e}")))
                        }
                    };
                    file.write_all(&buf[..n])
                        .map_err(Error::io(format!("writing \"{name_str}\"")))?;
                    size += n as u64;
                }
                apply_fd_meta(&file, &meta).map_err(fail("setting metadata"))?;
                rustix::fs::futimens(&file, &meta.times()).map_err(fail("setting times"))?;
            }
            tar::EntryType::Directory => {
                if existing.is_none() {
                    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                        .map_err(fail("mkdir"))?;
                }
                let fd = rustix::fs::openat(
                    parent,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(fail("opening directory"))?;
                apply_fd_meta(&fd, &meta).map_err(fail("setting metadata"))?;
                dir_times.push((comps.clone(), meta.times()));
            }
            tar::EntryType::Symlink => {
                let target = link.ok_or_else(|| refuse("symlink without target"))?;
                rustix::fs::symlinkat(os(&target), parent, name).map_err(fail("symlink"))?;
                rustix::fs::chownat(
                    parent,
                    name,
                    Some(uid(meta.uid)),
                    Some(gid(meta.gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(fail("chown"))?;
                set_xattrs_path(parent, base, &meta).map_err(fail("setting xattrs"))?;
                rustix::fs::utimensat(parent, name, &meta.times(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(fail("setting times"))?;
            }
            tar::EntryType::Link => {
                let target = link.ok_or_else(|| refuse("hardlink without target"))?;
                let tcomps = clean(&target)
                    .ok_or_else(|| refuse("hardlink target escapes the layer directory"))?;
                let Some((tbase, tparent)) = tcomps.split_last() else {
                    return Err(refuse("hardlink to the layer root"));
                };
                let tdir = open_dir_in_root(root, tparent).map_err(|e| {
                    refuse(&format!(
                        "hardlink target {:?} not found: {e}",
                        String::from_utf8_lossy(&target)
                    ))
                })?;
                rustix::fs::linkat(&tdir, os(tbase), parent, name, AtFlags::empty()).map_err(
                    |e| {
                        refuse(&format!(
                            "cannot hardlink to {:?}: {e}",
                            String::from_utf8_lossy(&target)
                        ))
                    },
                )?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match etype {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                rustix::fs::mknodat(
                    parent,
                    name,
                    ft,
                    Mode::from_raw_mode(meta.mode),
                    rustix::fs::makedev(dev.0, dev.1),
                )
                .map_err(fail("mknod"))?;
                rustix::fs::chownat(
                    parent,
                    name,
                    Some(uid(meta.uid)),
                    Some(gid(meta.gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(fail("chown"))?;
                rustix::fs::chmodat(
                    parent,
                    name,
                    Mode::from_raw_mode(meta.mode),
                    AtFlags::empty(),
                )
                .map_err(fail("chmod"))?;
                set_xattrs_path(parent, base, &meta).map_err(fail("setting xattrs"))?;
                rustix::fs::utimensat(parent, name, &meta.times(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(fail("setting times"))?;
            }
            other => {
                tracing::debug!(entry = %name_str, kind = ?other, "skipping unsupported tar entry type");
            }
        }
    }
    // Directory times last, deepest first, so creating children does not bump them.
    for (comps, times) in dir_times.iter().rev() {
        let res = match comps.split_last() {
            None => rustix::fs::openat(
                root,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .and_then(|fd| rustix::fs::futimens(&fd, times)),
            Some((base, parent)) => open_dir_in_root(root, parent).and_then(|p| {
                rustix::fs::utimensat(&p, os(base), times, AtFlags::SYMLINK_NOFOLLOW)
            }),
        };
        if let Err(e) = res {
            tracing::debug!(path = %String::from_utf8_lossy(&join(comps)), error = %e, "cannot set directory times");
        }
    }
    // Drain the end-of-archive padding so that a caller hashing the stream sees all of it.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| Error::Archive(e.to_string()))?;
    Ok(size)
}

fn uid(u: u32) -> rustix::process::Uid {
    rustix::process::Uid::from_raw(u)
}
fn gid(g: u32) -> rustix::process::Gid {
    rustix::process::Gid::from_raw(g)
}

fn set_xattr_err(name: &str, e: Errno) -> rustix::io::Result<()> {
    // Like docker: xattrs the filesystem does not support, or that we may not
    // set, are skipped (best effort).
    if e == Errno::NOTSUP || e == Errno::PERM {
        tracing::debug!(xattr = name, error = %e, "skipping xattr");
        Ok(())
    } else {
        Err(e)
    }
}

/// chown, chmod (after chown, which clears set-id bits), then xattrs (after
/// chown, which clears `security.capability`).
fn apply_fd_meta(fd: &impl AsFd, meta: &Meta) -> rustix::io::Result<()> {
    rustix::fs::fchown(fd, Some(uid(meta.uid)), Some(gid(meta.gid)))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode))?;
    for (k, v) in &meta.xattrs {
        if let Err(e) = rustix::fs::fsetxattr(fd, k.as_str(), v, XattrFlags::empty()) {
            set_xattr_err(k, e)?;
        }
    }
    Ok(())
}

fn set_xattrs_path(parent: BorrowedFd<'_>, base: &[u8], meta: &Meta) -> rustix::io::Result<()> {
    if meta.xattrs.is_empty() {
        return Ok(());
    }
    let p = proc_path(parent, base);
    for (k, v) in &meta.xattrs {
        if let Err(e) = rustix::fs::lsetxattr(os(&p), k.as_str(), v, XattrFlags::empty()) {
            set_xattr_err(k, e)?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
