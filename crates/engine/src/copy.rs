//! `docker cp`: docker's archive semantics in both directions, with every
//! container path resolved inside the container's root (symlinks included),
//! never outside it.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_image::tree::{self, Kind, Pack};
use berth_image::{unpack, Unpack};

use crate::error::{Error, Result};

/// `docker cp` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-L`: follow a symlink given as the source.
    pub follow: bool,
    /// `-a`: keep uid/gid instead of taking the receiver's.
    pub archive: bool,
}

/// Where `copy_from` writes.
#[allow(missing_debug_implementations)]
pub enum CopyDest<'a> {
    /// A path on the host.
    Host(&'a Path),
    /// A tar stream (`-`).
    Tar(&'a mut dyn Write),
}

/// Where `copy_to` reads from.
#[allow(missing_debug_implementations)]
pub enum CopySource<'a> {
    /// A path on the host.
    Host(&'a Path),
    /// A tar stream (`-`), extracted into a directory.
    Tar(&'a mut dyn Read),
}

/// A filesystem that paths resolve inside: the container's root (plus, when
/// it is not running, its volume and bind mounts) or the host's `/`.
#[derive(Debug, Clone)]
pub(crate) struct Roots {
    pub rootfs: PathBuf,
    /// (destination in the container, source on the host), longest first.
    pub mounts: Vec<(String, PathBuf)>,
}

impl Roots {
    pub(crate) fn host() -> Roots {
        Roots {
            rootfs: PathBuf::from("/"),
            mounts: Vec::new(),
        }
    }

    /// The root and the path relative to it that `path` lives in.
    fn place(&self, path: &[u8]) -> (PathBuf, Vec<u8>) {
        let (parent, name) = tree::split_in_root(path);
        let mut clean = if parent == b"." { Vec::new() } else { parent };
        if name != b"." {
            if !clean.is_empty() {
                clean.push(b'/');
            }
            clean.extend_from_slice(&name);
        }
        for (dest, source) in &self.mounts {
            let d = dest.trim_start_matches('/').as_bytes();
            if clean == d {
                return (source.clone(), Vec::new());
            }
            if clean.starts_with(d) && clean.get(d.len()) == Some(&b'/') {
                return (source.clone(), clean[d.len() + 1..].to_vec());
            }
        }
        (self.rootfs.clone(), clean)
    }
}

/// A path once resolved: its parent directory (open) and last component.
struct Located {
    root: PathBuf,
    parent: OwnedFd,
    parent_rel: Vec<u8>,
    name: Vec<u8>,
    kind: Option<Kind>,
}

impl Located {
    fn rel(&self) -> Vec<u8> {
        if self.name == b"." {
            return self.parent_rel.clone();
        }
        if self.parent_rel == b"." || self.parent_rel.is_empty() {
            return self.name.clone();
        }
        let mut v = self.parent_rel.clone();
        v.push(b'/');
        v.extend_from_slice(&self.name);
        v
    }
}

fn not_found(e: &berth_image::Error) -> bool {
    matches!(e, berth_image::Error::Io { source, .. }
        if matches!(source.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory))
}

/// Find `path` in `roots`. `None` when its parent directory does not
/// exist. A final symlink is followed (inside the root) when `follow`.
fn locate(roots: &Roots, path: &[u8], follow: bool) -> Result<Option<Located>> {
    let (mut root, mut rel) = roots.place(path);
    for _ in 0..40 {
        let (parent_rel, name) = tree::split_in_root(&rel);
        let parent = match tree::open_dir_in_root(&root, &parent_rel) {
            Ok(fd) => fd,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let kind = if name == b"." {
            Some(Kind::Dir)
        } else {
            tree::kind_at(parent.as_fd(), &name, false)?
        };
        if follow && kind == Some(Kind::Symlink) {
            let target = tree::read_link_at(parent.as_fd(), &name)?;
            let mut next = if target.starts_with(b"/") {
                Vec::new()
            } else {
                parent_rel.clone()
            };
            next.push(b'/');
            next.extend_from_slice(&target);
            // The target may lie in another mount (when resolving through
            // the record's mounts); resolve it from the container's view.
            if root == roots.rootfs || target.starts_with(b"/") {
                (root, rel) = roots.place(&next);
            } else {
                rel = next;
            }
            continue;
        }
        return Ok(Some(Located {
            root,
            parent,
            parent_rel,
            name,
            kind,
        }));
    }
    Err(Error::Invalid(format!(
        "too many levels of symbolic links: {}",
        String::from_utf8_lossy(path)
    )))
}

fn ends_with_dot(p: &[u8]) -> bool {
    p == b"." || p.ends_with(b"/.")
}

/// Where the copied tree goes: the directory (relative to the destination
/// root) the archive is extracted in, and the name its top entry gets.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    into: Vec<u8>,
    arcname: Vec<u8>,
}

/// docker's rules (`docker cp --help`): a directory source is copied into
/// an existing directory (its contents only when it ends in `/.`) or
/// becomes a new one; a file replaces a file, goes into a directory, or is
/// created; a destination ending in `/` must be an existing directory.
fn plan(src: &Located, src_path: &str, dst: Option<&Located>, dst_path: &str) -> Result<Plan> {
    let src_dir = src.kind == Some(Kind::Dir);
    let contents = ends_with_dot(src_path.as_bytes()) || src.name == b".";
    let dst_slash = dst_path.ends_with('/') || ends_with_dot(dst_path.as_bytes());
    let Some(dst) = dst else {
        return Err(Error::Invalid(format!(
            "no such directory: the parent of {dst_path} does not exist"
        )));
    };
    match (src_dir, dst.kind) {
        (true, Some(Kind::Dir)) => Ok(Plan {
            into: dst.rel(),
            arcname: if contents {
                Vec::new()
            } else {
                src.name.clone()
            },
        }),
        (true, Some(_)) => Err(Error::Invalid(format!(
            "cannot overwrite non-directory \"{dst_path}\" with directory \"{src_path}\""
        ))),
        (false, Some(Kind::Dir)) => Ok(Plan {
            into: dst.rel(),
            arcname: src.name.clone(),
        }),
        (false, Some(_)) if dst_slash => Err(Error::Invalid(format!(
            "destination \"{dst_path}\" is not a directory"
        ))),
        (_, None) if dst_slash && !src_dir => {
            Err(Error::Invalid(format!("no such directory: {dst_path}")))
        }
        _ => Ok(Plan {
            into: dst.parent_rel.clone(),
            arcname: dst.name.clone(),
        }),
    }
}

fn locate_source(
    roots: &Roots,
    path: &str,
    follow: bool,
    missing: impl Fn() -> Error,
) -> Result<Located> {
    let slash = path.ends_with('/') || ends_with_dot(path.as_bytes());
    let src = locate(roots, path.as_bytes(), follow || slash)?.ok_or_else(&missing)?;
    if src.kind.is_none() {
        return Err(missing());
    }
    if slash && src.kind != Some(Kind::Dir) {
        return Err(Error::Invalid(format!("not a directory: {path}")));
    }
    Ok(src)
}

fn pack_to(
    src: &Located,
    arcname: &[u8],
    chown: Option<(u32, u32)>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let opts = Pack {
        follow_top: false,
        chown,
        ..Pack::default()
    };
    tree::pack(&mut b, src.parent.as_fd(), &src.name, arcname, &opts)?;
    b.into_inner()
        .and_then(|w| w.flush())
        .map_err(|e| Error::io("writing the archive", e))
}

/// Stream `src` as a tar into `dst_root`/`plan.into` through a pipe.
fn transfer(src: &Located, plan: &Plan, dst_root: &Path, chown: Option<(u32, u32)>) -> Result<()> {
    let (reader, mut writer) = std::io::pipe().map_err(|e| Error::io("creating a pipe", e))?;
    std::thread::scope(|s| {
        let packer = s.spawn(move || {
            let r = pack_to(src, &plan.arcname, chown, &mut writer);
            drop(writer);
            r
        });
        let opts = Unpack {
            whiteouts: false,
            prefix: plan.into.clone(),
            chown,
        };
        let unpacked = unpack(dst_root, reader, &opts).map(|_| ());
        let packed = packer
            .join()
            .unwrap_or_else(|_| Err(Error::Invalid("copy thread panicked".into())));
        // A packing error explains an unpacking one (a cut stream), so it comes first.
        packed?;
        unpacked.map_err(Error::from)
    })
}

fn host_path(p: &Path) -> Result<Vec<u8>> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("current directory", e))?
            .join(p)
    };
    Ok(abs.as_os_str().as_bytes().to_vec())
}

fn host_owner() -> (u32, u32) {
    (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
}

/// Copy `path` out of the container seen through `roots`.
pub(crate) fn copy_from(
    roots: &Roots,
    container: &str,
    path: &str,
    dest: CopyDest<'_>,
    o: &CopyOptions,
) -> Result<()> {
    let missing = || Error::NoSuchPath {
        path: path.to_string(),
        container: container.to_string(),
    };
    let src = locate_source(roots, path, o.follow, missing)?;
    let chown_host = if o.archive { None } else { Some(host_owner()) };
    match dest {
        CopyDest::Tar(out) => {
            let contents = ends_with_dot(path.as_bytes()) || src.name == b".";
            let arc = if contents {
                Vec::new()
            } else {
                src.name.clone()
            };
            pack_to(&src, &arc, None, out)
        }
        CopyDest::Host(dst) => {
            let dst_bytes = host_path(dst)?;
            let host = Roots::host();
            let dst_str = dst.display().to_string();
            let located = locate(&host, &dst_bytes, true)?;
            let plan = plan(&src, path, located.as_ref(), &dst_str)?;
            let root = located.map(|l| l.root).unwrap_or_default();
            transfer(&src, &plan, &root, chown_host)
        }
    }
}

/// Copy into `path` in the container seen through `roots`.
pub(crate) fn copy_to(
    roots: &Roots,
    container: &str,
    path: &str,
    source: CopySource<'_>,
    o: &CopyOptions,
) -> Result<()> {
    let chown = if o.archive { None } else { Some((0, 0)) };
    let dst = locate(roots, path.as_bytes(), true)?;
    match source {
        CopySource::Tar(input) => {
            let dst = dst.filter(|d| d.kind == Some(Kind::Dir)).ok_or_else(|| {
                Error::Invalid(format!(
                    "destination \"{container}:{path}\" must be a directory"
                ))
            })?;
            let input = berth_image::decompress(input)?;
            let opts = Unpack {
                whiteouts: false,
                prefix: dst.rel(),
                // A tar given on stdin keeps its owners, as with docker.
                chown: None,
            };
            unpack(&dst.root, input, &opts)?;
            Ok(())
        }
        CopySource::Host(src_path) => {
            let src_bytes = host_path(src_path)?;
            let src_str = src_path.display().to_string();
            let host = Roots::host();
            let follow = o.follow;
            let src = locate_source(&host, &String::from_utf8_lossy(&src_bytes), follow, || {
                Error::Io {
                    context: format!("lstat {src_str}"),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                }
            })?;
            let dst_str = format!("{container}:{path}");
            let plan = plan(&src, &src_str, dst.as_ref(), &dst_str)?;
            let root = dst.map(|l| l.root).unwrap_or_default();
            transfer(&src, &plan, &root, chown)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn roots(dir: &Path) -> Roots {
        Roots {
            rootfs: dir.to_path_buf(),
            mounts: Vec::new(),
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let ctr = tempfile::tempdir().unwrap();
        fs::create_dir_all(ctr.path().join("etc")).unwrap();
        fs::write(ctr.path().join("etc/passwd"), b"container").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ctr.path().join("link")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", ctr.path().join("up")).unwrap();
        let out = tempfile::tempdir().unwrap();
        let o = CopyOptions {
            follow: true,
            archive: false,
        };
        copy_from(
            &roots(ctr.path()),
            "c",
            "/link",
            CopyDest::Host(&out.path().join("a")),
            &o,
        )
        .unwrap();
        assert_eq!(fs::read(out.path().join("a")).unwrap(), b"container");
        copy_from(
            &roots(ctr.path()),
            "c",
            "/up/passwd",
            CopyDest::Host(&out.path().join("b")),
            &o,
        )
        .unwrap();
        assert_eq!(fs::read(out.path().join("b")).unwrap(), b"container");
        // Into the container through a symlink to /etc: stays inside.
        let src = out.path().join("a");
        copy_to(&roots(ctr.path()), "c", "/up/", CopySource::Host(&src), &o).unwrap();
        assert_eq!(fs::read(ctr.path().join("etc/a")).unwrap(), b"container");
    }

    #[test]
    fn docker_destination_rules() {
        let ctr = tempfile::tempdir().unwrap();
        fs::create_dir_all(ctr.path().join("d/sub")).unwrap();
        fs::write(ctr.path().join("d/f"), b"1").unwrap();
        fs::write(ctr.path().join("f"), b"2").unwrap();
        let out = tempfile::tempdir().unwrap();
        let o = CopyOptions::default();
        let r = roots(ctr.path());
        // dir to new path: becomes that dir
        copy_from(&r, "c", "/d", CopyDest::Host(&out.path().join("new")), &o).unwrap();
        assert!(out.path().join("new/f").exists());
        // dir into existing dir: nested
        copy_from(&r, "c", "/d", CopyDest::Host(&out.path().join("new")), &o).unwrap();
        assert!(out.path().join("new/d/f").exists());
        // contents only
        fs::create_dir(out.path().join("c")).unwrap();
        copy_from(&r, "c", "/d/.", CopyDest::Host(&out.path().join("c")), &o).unwrap();
        assert!(out.path().join("c/f").exists() && out.path().join("c/sub").is_dir());
        // file onto file; file into dir
        fs::write(out.path().join("x"), b"old").unwrap();
        copy_from(&r, "c", "/f", CopyDest::Host(&out.path().join("x")), &o).unwrap();
        assert_eq!(fs::read(out.path().join("x")).unwrap(), b"2");
        copy_from(&r, "c", "/f", CopyDest::Host(out.path()), &o).unwrap();
        assert_eq!(fs::read(out.path().join("f")).unwrap(), b"2");
        // errors
        let e = copy_from(&r, "c", "/d", CopyDest::Host(&out.path().join("x")), &o).unwrap_err();
        assert!(
            e.to_string().contains("cannot overwrite non-directory"),
            "{e}"
        );
        let e = copy_from(
            &r,
            "c",
            "/f",
            CopyDest::Host(&out.path().join("nodir/")),
            &o,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no such directory"), "{e}");
        let e = copy_from(&r, "c", "/nope", CopyDest::Host(out.path()), &o).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Could not find the file /nope in container c"
        );
        let e = copy_from(&r, "c", "/f/", CopyDest::Host(out.path()), &o).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn mounts_are_seen_at_their_destination() {
        let ctr = tempfile::tempdir().unwrap();
        let vol = tempfile::tempdir().unwrap();
        fs::write(vol.path().join("v"), b"vol").unwrap();
        let r = Roots {
            rootfs: ctr.path().to_path_buf(),
            mounts: vec![("/data".into(), vol.path().to_path_buf())],
        };
        let out = tempfile::tempdir().unwrap();
        copy_from(
            &r,
            "c",
            "/data/v",
            CopyDest::Host(&out.path().join("v")),
            &CopyOptions::default(),
        )
        .unwrap();
        assert_eq!(fs::read(out.path().join("v")).unwrap(), b"vol");
    }
}
