//! Directory trees to tar streams (`docker cp`, `docker commit`, build
//! contexts), read through file descriptors: every file is opened with
//! `O_NOFOLLOW` relative to its already-open parent, so a symlink swapped in
//! while the tree is read cannot redirect the walk outside it.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;

use crate::{Error, Result};

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How [`pack`] writes a tree.
#[derive(Debug, Clone, Default)]
pub struct Pack {
    /// Follow the top entry if it is a symlink (`docker cp -L`).
    pub follow_top: bool,
    /// Owner written for every entry instead of the file's own.
    pub chown: Option<(u32, u32)>,
    /// The tree is an overlayfs upper directory: write its whiteouts (0/0
    /// character devices, opaque directories) as OCI `.wh.` entries.
    pub overlay_whiteouts: bool,
    /// Clamp every mtime to at most this (`SOURCE_DATE_EPOCH`).
    pub clamp_mtime: Option<i64>,
    /// Permission bits written for every entry (`COPY --chmod`).
    pub mode: Option<u32>,
}

/// What a path inside a root is, for `docker cp`'s destination rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory (after following a symlink when asked to).
    Dir,
    /// A symlink (when not following).
    Symlink,
    /// Anything else.
    Other,
}

fn errno(context: impl Into<String>) -> impl FnOnce(Errno) -> Error {
    let context = context.into();
    move |e| Error::Io {
        context,
        source: io::Error::from(e),
    }
}

/// Lexically split `rel` (relative to a root, `/` allowed in front) into the
/// parent path and the last component. `..` cannot climb above the root.
/// The root itself is `(".", ".")`.
pub fn split_in_root(rel: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut comps: Vec<&[u8]> = Vec::new();
    for c in rel.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                comps.pop();
            }
            c => comps.push(c),
        }
    }
    match comps.split_last() {
        None => (b".".to_vec(), b".".to_vec()),
        Some((last, parent)) => {
            let p = if parent.is_empty() {
                b".".to_vec()
            } else {
                parent.join(&b'/')
            };
            (p, last.to_vec())
        }
    }
}

/// Open `rel` (a directory) inside `root` with `RESOLVE_IN_ROOT`: symlinks
/// and `..` on the way resolve as if `root` were `/`.
pub fn open_dir_in_root(root: &Path, rel: &[u8]) -> Result<OwnedFd> {
    let rootfd = rustix::fs::openat(
        CWD,
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno(format!("opening {}", root.display())))?;
    let rel = if rel.is_empty() { b".".as_slice() } else { rel };
    rustix::fs::openat2(
        &rootfd,
        OsStr::from_bytes(rel),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(errno(String::from_utf8_lossy(rel).into_owned()))
}

/// The target of the symlink `parent/name`.
pub fn read_link_at(parent: BorrowedFd<'_>, name: &[u8]) -> Result<Vec<u8>> {
    rustix::fs::readlinkat(parent, OsStr::from_bytes(name), Vec::new())
        .map(|t| t.into_bytes())
        .map_err(errno(String::from_utf8_lossy(name).into_owned()))
}

/// What `parent/name` is, `None` if it does not exist.
pub fn kind_at(parent: BorrowedFd<'_>, name: &[u8], follow: bool) -> Result<Option<Kind>> {
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    match rustix::fs::statat(parent, OsStr::from_bytes(name), flags) {
        Ok(st) => Ok(Some(match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            _ => Kind::Other,
        })),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(errno(String::from_utf8_lossy(name).into_owned())(e)),
    }
}

/// Write `parent/name` (recursively, never following symlinks below the
/// top) into `out` under the name `arcname` (empty: the entries of a
/// directory go at the top level, without an entry for the directory).
pub fn pack<W: Write>(
    out: &mut tar::Builder<W>,
    parent: BorrowedFd<'_>,
    name: &[u8],
    arcname: &[u8],
    opts: &Pack,
) -> Result<()> {
    pack_with(out, parent, name, arcname, opts, &|_| false)
}

/// Like [`pack`], leaving out every path below the top for which `skip`
/// (given the path relative to the top, `a/b`) says so, and what is below it.
pub fn pack_with<W: Write>(
    out: &mut tar::Builder<W>,
    parent: BorrowedFd<'_>,
    name: &[u8],
    arcname: &[u8],
    opts: &Pack,
    skip: &dyn Fn(&[u8]) -> bool,
) -> Result<()> {
    let mut w = Walker {
        out,
        opts,
        links: HashMap::new(),
        skip,
    };
    w.entry(parent, name, arcname, b"", opts.follow_top)
}

struct Walker<'a, W: Write> {
    out: &'a mut tar::Builder<W>,
    opts: &'a Pack,
    links: HashMap<(u64, u64), Vec<u8>>,
    skip: &'a dyn Fn(&[u8]) -> bool,
}

fn child(arc: &[u8], name: &[u8]) -> Vec<u8> {
    if arc.is_empty() {
        name.to_vec()
    } else {
        let mut v = arc.to_vec();
        v.push(b'/');
        v.extend_from_slice(name);
        v
    }
}

fn tar_err(e: io::Error) -> Error {
    Error::Io {
        context: "writing the archive".into(),
        source: e,
    }
}

impl<W: Write> Walker<'_, W> {
    fn header(&self, st: &rustix::fs::Stat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(self.opts.mode.unwrap_or(st.st_mode & 0o7777));
        let (uid, gid) = self.opts.chown.unwrap_or((st.st_uid, st.st_gid));
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        let mut mtime = st.st_mtime;
        if let Some(max) = self.opts.clamp_mtime {
            mtime = mtime.min(max);
        }
        h.set_mtime(mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    fn entry(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        arc: &[u8],
        rel: &[u8],
        follow: bool,
    ) -> Result<()> {
        if !rel.is_empty() && (self.skip)(rel) {
            return Ok(());
        }
        let what = || String::from_utf8_lossy(name).into_owned();
        let flags = if follow {
            AtFlags::empty()
        } else {
            AtFlags::SYMLINK_NOFOLLOW
        };
        let st =
            rustix::fs::statat(parent, OsStr::from_bytes(name), flags).map_err(errno(what()))?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let nofollow = if follow {
            OFlags::empty()
        } else {
            OFlags::NOFOLLOW
        };
        match ft {
            FileType::Directory => {
                let dfd = rustix::fs::openat(
                    parent,
                    OsStr::from_bytes(name),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | nofollow,
                    Mode::empty(),
                )
                .map_err(errno(what()))?;
                if !arc.is_empty() {
                    let mut h = self.header(&st, tar::EntryType::Directory);
                    let mut p = arc.to_vec();
                    p.push(b'/');
                    self.out
                        .append_data(&mut h, OsStr::from_bytes(&p), io::empty())
                        .map_err(tar_err)?;
                }
                if self.opts.overlay_whiteouts {
                    let mut v = [0u8; 4];
                    if let Ok(n) = rustix::fs::fgetxattr(&dfd, OPAQUE_XATTR, &mut v) {
                        if &v[..n] == b"y" {
                            let mut h = self.header(&st, tar::EntryType::Regular);
                            h.set_mode(0o644);
                            self.out
                                .append_data(
                                    &mut h,
                                    OsStr::from_bytes(&child(arc, b".wh..wh..opq")),
                                    io::empty(),
                                )
                                .map_err(tar_err)?;
                        }
                    }
                }
                let mut names = Vec::new();
                for ent in rustix::fs::Dir::read_from(&dfd).map_err(errno(what()))? {
                    let ent = ent.map_err(errno(what()))?;
                    let n = ent.file_name().to_bytes();
                    if n != b"." && n != b".." {
                        names.push(n.to_vec());
                    }
                }
                names.sort();
                for n in names {
                    self.entry(dfd.as_fd(), &n, &child(arc, &n), &child(rel, &n), false)?;
                }
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        let mut h = self.header(&st, tar::EntryType::Link);
                        self.out
                            .append_link(&mut h, OsStr::from_bytes(arc), OsStr::from_bytes(first))
                            .map_err(tar_err)?;
                        return Ok(());
                    }
                    self.links.insert(key, arc.to_vec());
                }
                let fd = rustix::fs::openat(
                    parent,
                    OsStr::from_bytes(name),
                    OFlags::RDONLY | OFlags::CLOEXEC | nofollow,
                    Mode::empty(),
                )
                .map_err(errno(what()))?;
                let file = File::from(fd);
                let st = rustix::fs::fstat(&file).map_err(errno(what()))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    return Err(errno(what())(Errno::AGAIN));
                }
                let mut h = self.header(&st, tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                // Exactly the size in the header, even if the file grows.
                let body = io::Read::take(file, st.st_size as u64);
                self.out
                    .append_data(&mut h, OsStr::from_bytes(arc), body)
                    .map_err(tar_err)?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(parent, OsStr::from_bytes(name), Vec::new())
                    .map_err(errno(what()))?;
                let mut h = self.header(&st, tar::EntryType::Symlink);
                self.out
                    .append_link(
                        &mut h,
                        OsStr::from_bytes(arc),
                        OsStr::from_bytes(target.as_bytes()),
                    )
                    .map_err(tar_err)?;
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let rdev = st.st_rdev;
                let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
                if self.opts.overlay_whiteouts
                    && ft == FileType::CharacterDevice
                    && major == 0
                    && minor == 0
                {
                    let (dir, base) = match arc.iter().rposition(|b| *b == b'/') {
                        Some(i) => (&arc[..i], &arc[i + 1..]),
                        None => (&arc[..0], arc),
                    };
                    let mut wh = b".wh.".to_vec();
                    wh.extend_from_slice(base);
                    let mut h = self.header(&st, tar::EntryType::Regular);
                    h.set_mode(0o644);
                    self.out
                        .append_data(&mut h, OsStr::from_bytes(&child(dir, &wh)), io::empty())
                        .map_err(tar_err)?;
                    return Ok(());
                }
                let kind = match ft {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = self.header(&st, kind);
                if kind != tar::EntryType::Fifo {
                    h.set_device_major(major).map_err(tar_err)?;
                    h.set_device_minor(minor).map_err(tar_err)?;
                }
                self.out
                    .append_data(&mut h, OsStr::from_bytes(arc), io::empty())
                    .map_err(tar_err)?;
            }
            _ => {
                tracing::debug!(path = %what(), "skipping socket or unknown file type");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split() {
        assert_eq!(split_in_root(b"/"), (b".".to_vec(), b".".to_vec()));
        assert_eq!(
            split_in_root(b"/etc/passwd"),
            (b"etc".to_vec(), b"passwd".to_vec())
        );
        assert_eq!(split_in_root(b"../../x"), (b".".to_vec(), b"x".to_vec()));
        assert_eq!(split_in_root(b"a/b/../c/"), (b"a".to_vec(), b"c".to_vec()));
    }

    #[test]
    fn pack_then_unpack_round_trips() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("d/e")).unwrap();
        std::fs::write(src.path().join("d/f"), b"hello").unwrap();
        std::fs::hard_link(src.path().join("d/f"), src.path().join("d/e/g")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("d/l")).unwrap();
        let parent = open_dir_in_root(src.path(), b".").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        pack(&mut b, parent.as_fd(), b"d", b"x", &Pack::default()).unwrap();
        let data = b.into_inner().unwrap();
        let dst = tempfile::tempdir().unwrap();
        crate::archive::unpack(dst.path(), &data[..], &crate::archive::Unpack::default()).unwrap();
        assert_eq!(std::fs::read(dst.path().join("x/f")).unwrap(), b"hello");
        assert_eq!(std::fs::read(dst.path().join("x/e/g")).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_link(dst.path().join("x/l")).unwrap(),
            Path::new("/etc/passwd")
        );
    }
}
