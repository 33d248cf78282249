use super::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;

/// A tar built by hand so that names are written verbatim (`..`, absolute…).
#[derive(Default)]
pub(crate) struct RawTar(pub Vec<u8>);

impl RawTar {
    pub fn entry(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        link: &str,
        data: &[u8],
        mode: u32,
    ) -> &mut Self {
        self.entry_with(name, kind, link, data, mode, |_| {})
    }

    pub fn entry_with(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        link: &str,
        data: &[u8],
        mode: u32,
        f: impl FnOnce(&mut tar::Header),
    ) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        f(&mut h);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name, tar::EntryType::Regular, "", data, 0o644)
    }
    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Directory, "", b"", 0o755)
    }
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Symlink, target, b"", 0o777)
    }
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Link, target, b"", 0o644)
    }
    pub fn finish(&mut self) -> Vec<u8> {
        let mut v = std::mem::take(&mut self.0);
        v.extend_from_slice(&[0u8; 1024]);
        v
    }
}

pub(crate) fn assert_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "these tests must run as root"
    );
}

type TarCase = Box<dyn Fn(&Sandbox) -> Vec<u8>>;

struct Sandbox {
    _tmp: tempfile::TempDir,
    layer: PathBuf,
    outside: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let layer = tmp.path().join("layer");
        let outside = tmp.path().join("outside");
        fs::create_dir(&layer).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), b"host secret").unwrap();
        Sandbox {
            _tmp: tmp,
            layer,
            outside,
        }
    }
    fn out(&self) -> String {
        self.outside.display().to_string()
    }
    /// The outside directory still holds only the untouched secret, and
    /// nothing else appeared next to the layer directory.
    fn assert_outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("secret")],
            "outside dir changed"
        );
        let m = fs::symlink_metadata(self.outside.join("secret")).unwrap();
        assert!(m.is_file());
        assert_eq!(m.nlink(), 1, "host file was hardlinked");
        assert_eq!(m.mode() & 0o7777, 0o644);
        assert_eq!(
            fs::read(self.outside.join("secret")).unwrap(),
            b"host secret"
        );
        let parent = self.layer.parent().unwrap();
        let mut siblings: Vec<_> = fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        siblings.sort();
        assert_eq!(
            siblings,
            vec![std::ffi::OsString::from("layer"), "outside".into()]
        );
    }
    fn apply(&self, tar: Vec<u8>) -> Result<u64> {
        apply_layer(&self.layer, &tar[..])
    }
}

fn set_perm(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn extracts_files_dirs_links_modes_owners_times() {
    assert_root();
    let sb = Sandbox::new();
    set_perm(&sb.outside.join("secret"), 0o644);
    let mut t = RawTar::default();
    t.entry_with("bin/", tar::EntryType::Directory, "", b"", 0o755, |h| {
        h.set_mtime(1_500_000_000)
    })
    .entry_with(
        "bin/su",
        tar::EntryType::Regular,
        "",
        b"#!/bin/sh\n",
        0o4755,
        |h| {
            h.set_uid(1000);
            h.set_gid(1001);
        },
    )
    .entry("tmp/", tar::EntryType::Directory, "", b"", 0o1777)
    .symlink("bin/sh", "/bin/busybox")
    .hardlink("bin/su2", "bin/su")
    .entry_with("./etc/", tar::EntryType::Directory, "", b"", 0o700, |h| {
        h.set_uid(5)
    });
    let size = sb.apply(t.finish()).unwrap();
    assert_eq!(size, 10);
    let l = &sb.layer;
    let su = fs::symlink_metadata(l.join("bin/su")).unwrap();
    assert_eq!(su.mode() & 0o7777, 0o4755, "setuid kept after chown");
    assert_eq!((su.uid(), su.gid()), (1000, 1001));
    assert_eq!(su.mtime(), 1_600_000_000);
    assert_eq!(su.nlink(), 2);
    assert_eq!(
        fs::symlink_metadata(l.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        fs::read_link(l.join("bin/sh")).unwrap(),
        PathBuf::from("/bin/busybox")
    );
    assert_eq!(
        fs::metadata(l.join("bin")).unwrap().mtime(),
        1_500_000_000,
        "dir mtime set after children"
    );
    let etc = fs::metadata(l.join("etc")).unwrap();
    assert_eq!((etc.uid(), etc.mode() & 0o777), (5, 0o700));
    sb.assert_outside_untouched();
}

#[test]
fn long_names_pax_xattrs_and_devices() {
    assert_root();
    let sb = Sandbox::new();
    let mut b = tar::Builder::new(Vec::new());
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o600);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
    // PAX xattrs
    b.append_pax_extensions([
        ("SCHILY.xattr.user.test", &b"hello"[..]),
        ("SCHILY.xattr.trusted.overlay.redirect", &b"/x"[..]),
    ])
    .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "xattr-file", &b"x"[..]).unwrap();
    for (name, kind, maj, min) in [
        ("dev/null", tar::EntryType::Char, 1, 3),
        ("dev/loop0", tar::EntryType::Block, 7, 0),
        ("dev/fifo", tar::EntryType::Fifo, 0, 0),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_mode(0o666);
        h.set_entry_type(kind);
        h.set_device_major(maj).unwrap();
        h.set_device_minor(min).unwrap();
        b.append_data(&mut h, name, &b""[..]).unwrap();
    }
    let data = b.into_inner().unwrap();
    sb.apply(data).unwrap();
    let l = &sb.layer;
    assert_eq!(fs::read(l.join(&long)).unwrap(), b"abc");
    let mut buf = [0u8; 16];
    let n = rustix::fs::getxattr(l.join("xattr-file"), "user.test", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert!(
        rustix::fs::getxattr(l.join("xattr-file"), "trusted.overlay.redirect", &mut buf).is_err(),
        "overlay xattrs from a layer are dropped"
    );
    let null = fs::symlink_metadata(l.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(null.mode() & 0o777, 0o666);
    assert!(fs::symlink_metadata(l.join("dev/loop0"))
        .unwrap()
        .file_type()
        .is_block_device());
    assert!(fs::symlink_metadata(l.join("dev/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    sb.assert_outside_untouched();
}

#[test]
fn whiteouts_become_overlay_format() {
    assert_root();
    let sb = Sandbox::new();
    let mut t = RawTar::default();
    t.dir("a/")
        .file("a/gone", b"x")
        .dir("a/gonedir/")
        .file("a/gonedir/f", b"x")
        .file("a/.wh.gone", b"")
        .file("a/.wh.gonedir", b"")
        .file("b/.wh..wh..opq", b"")
        .file("b/kept", b"k")
        .file(".wh.top", b"")
        .file(".wh..wh..opq", b"");
    sb.apply(t.finish()).unwrap();
    let l = &sb.layer;
    for p in ["a/gone", "a/gonedir", "top"] {
        let m = fs::symlink_metadata(l.join(p)).unwrap();
        assert!(m.file_type().is_char_device(), "{p} is a whiteout");
        assert_eq!(m.rdev(), 0);
    }
    assert!(!l.join("a/.wh.gone").exists());
    let mut buf = [0u8; 4];
    let n = rustix::fs::getxattr(l.join("b"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert_eq!(fs::read(l.join("b/kept")).unwrap(), b"k");
    assert!(!l.join("b/.wh..wh..opq").exists());
    let n = rustix::fs::getxattr(l, "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
}

#[test]
fn replaces_existing_entries() {
    assert_root();
    let sb = Sandbox::new();
    let mut t = RawTar::default();
    t.file("x", b"1")
        .dir("x/")
        .file("x/y", b"2")
        .file("x", b"3")
        .symlink("x", "y")
        .file("x", b"4");
    sb.apply(t.finish()).unwrap();
    assert_eq!(fs::read(sb.layer.join("x")).unwrap(), b"4");
}

#[test]
fn refuses_dotdot_escapes() {
    assert_root();
    for name in [
        "../escape",
        "a/../../escape",
        "./../outside/secret",
        "../../../../tmp/berth-escape-test",
    ] {
        let sb = Sandbox::new();
        let mut t = RawTar::default();
        t.file(name, b"pwned");
        let err = sb.apply(t.finish()).unwrap_err();
        assert!(matches!(err, Error::Breakout { .. }), "{name}: {err}");
        assert!(
            err.to_string().contains(name),
            "error names the entry: {err}"
        );
        assert_eq!(err.kind(), berth_kind::ErrorKind::Invalid);
        sb.assert_outside_untouched();
    }
    assert!(!Path::new("/tmp/berth-escape-test").exists());
}

#[test]
fn absolute_and_contained_dotdot_paths_stay_inside() {
    assert_root();
    let sb = Sandbox::new();
    let mut t = RawTar::default();
    t.file("/abs/file", b"1")
        .file("a/../b", b"2")
        .file(&format!("{}/secret", sb.out()), b"3");
    sb.apply(t.finish()).unwrap();
    assert_eq!(fs::read(sb.layer.join("abs/file")).unwrap(), b"1");
    assert_eq!(fs::read(sb.layer.join("b")).unwrap(), b"2");
    let inside = sb
        .layer
        .join(sb.out().trim_start_matches('/'))
        .join("secret");
    assert_eq!(fs::read(inside).unwrap(), b"3");
    sb.assert_outside_untouched();
}

#[test]
fn symlinked_parents_never_reach_the_host() {
    assert_root();
    let cases: Vec<TarCase> = vec![
        // absolute symlink to the host dir, then a file through it
        Box::new(|sb| {
            RawTar::default()
                .symlink("etc", &sb.out())
                .file("etc/secret", b"pwned")
                .finish()
        }),
        Box::new(|sb| {
            RawTar::default()
                .symlink("etc", &sb.out())
                .file("etc/new", b"pwned")
                .finish()
        }),
        // relative symlink climbing out
        Box::new(|_| {
            RawTar::default()
                .symlink("up", "../outside")
                .file("up/new", b"pwned")
                .finish()
        }),
        Box::new(|_| {
            RawTar::default()
                .symlink("up", "../../../../../..")
                .file("up/tmp/berth-pwned", b"x")
                .finish()
        }),
        // directory, device, fifo, symlink and hardlink through the symlink
        Box::new(|sb| {
            RawTar::default()
                .symlink("e", &sb.out())
                .dir("e/newdir/")
                .finish()
        }),
        Box::new(|sb| {
            RawTar::default()
                .symlink("e", &sb.out())
                .entry("e/dev", tar::EntryType::Fifo, "", b"", 0o644)
                .finish()
        }),
        Box::new(|sb| {
            RawTar::default()
                .symlink("e", &sb.out())
                .symlink("e/ln", "/")
                .finish()
        }),
        Box::new(|sb| {
            RawTar::default()
                .file("f", b"x")
                .symlink("e", &sb.out())
                .hardlink("e/hl", "f")
                .finish()
        }),
        // whiteout and opaque marker through the symlink
        Box::new(|sb| {
            RawTar::default()
                .symlink("e", &sb.out())
                .file("e/.wh.secret", b"")
                .finish()
        }),
        Box::new(|sb| {
            RawTar::default()
                .symlink("e", &sb.out())
                .file("e/.wh..wh..opq", b"")
                .finish()
        }),
        // a directory entry replacing the symlink must not chmod the host dir
        Box::new(|sb| {
            RawTar::default()
                .symlink("e", &sb.out())
                .entry("e/", tar::EntryType::Directory, "", b"", 0o777)
                .finish()
        }),
        // a file written onto a symlink to a host file replaces the symlink
        Box::new(|sb| {
            RawTar::default()
                .symlink("v", &format!("{}/secret", sb.out()))
                .file("v", b"pwned")
                .finish()
        }),
        // nested: symlink to a symlink to the host
        Box::new(|sb| {
            RawTar::default()
                .symlink("a", &sb.out())
                .symlink("b", "a")
                .file("b/secret", b"pwned")
                .finish()
        }),
        // /proc magic links
        Box::new(|_| {
            RawTar::default()
                .symlink("p", "/proc/self/cwd")
                .file("p/pwned", b"x")
                .finish()
        }),
    ];
    for (i, case) in cases.iter().enumerate() {
        let sb = Sandbox::new();
        set_perm(&sb.outside, 0o755);
        let res = sb.apply(case(&sb));
        sb.assert_outside_untouched();
        assert_eq!(
            fs::metadata(&sb.outside).unwrap().mode() & 0o777,
            0o755,
            "case {i}"
        );
        assert!(!Path::new("/tmp/berth-pwned").exists());
        let _ = res; // refused or contained: both fine
    }
}

#[test]
fn hardlinks_cannot_reach_host_files() {
    assert_root();
    let cases: Vec<TarCase> = vec![
        Box::new(|sb| {
            RawTar::default()
                .hardlink("hl", &format!("{}/secret", sb.out()))
                .finish()
        }),
        Box::new(|_| {
            RawTar::default()
                .hardlink("hl", "../outside/secret")
                .finish()
        }),
        Box::new(|_| RawTar::default().hardlink("hl", "../../x").finish()),
        Box::new(|_| RawTar::default().hardlink("hl", "/etc/shadow").finish()),
        Box::new(|sb| {
            RawTar::default()
                .symlink("s", &sb.out())
                .hardlink("hl", "s/secret")
                .finish()
        }),
        Box::new(|_| {
            RawTar::default()
                .symlink("s", "../outside")
                .hardlink("hl", "s/secret")
                .finish()
        }),
    ];
    for (i, case) in cases.iter().enumerate() {
        let sb = Sandbox::new();
        let err = sb.apply(case(&sb)).unwrap_err();
        assert!(matches!(err, Error::Breakout { .. }), "case {i}: {err}");
        assert!(err.to_string().contains("hl"), "case {i}: {err}");
        sb.assert_outside_untouched();
    }
    // /etc/shadow of the host keeps its single link
    if let Ok(m) = fs::metadata("/etc/shadow") {
        assert_eq!(m.nlink(), 1);
    }
    // A hardlink to an absolute path that exists inside the layer resolves inside.
    let sb = Sandbox::new();
    sb.apply(
        RawTar::default()
            .file("etc/shadow", b"in")
            .hardlink("hl", "/etc/shadow")
            .finish(),
    )
    .unwrap();
    assert_eq!(fs::read(sb.layer.join("hl")).unwrap(), b"in");
}

#[test]
fn malformed_archives_are_invalid() {
    let sb = Sandbox::new();
    let mut bad = RawTar::default().file("a", b"hello").finish();
    bad[148] ^= 0x55; // checksum byte
    let err = sb.apply(bad).unwrap_err();
    assert_eq!(err.kind(), berth_kind::ErrorKind::Invalid, "{err}");
    let mut trunc = RawTar::default().file("a", &[7u8; 4000]).finish();
    trunc.truncate(1500);
    let err = sb.apply(trunc).unwrap_err();
    assert_eq!(err.kind(), berth_kind::ErrorKind::Invalid, "{err}");
    let err = sb
        .apply(b"this is not a tar archive at all, no sir".repeat(20))
        .unwrap_err();
    assert_eq!(err.kind(), berth_kind::ErrorKind::Invalid, "{err}");
}

#[test]
fn decompress_detects_by_magic() {
    let plain = RawTar::default().file("hello", b"world").finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&plain[..], 1).unwrap();
    for data in [plain.clone(), gz, zst] {
        let mut out = Vec::new();
        // feed one byte at a time to exercise short reads of the magic
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        decompress(OneByte(&data))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
    }
    let mut out = Vec::new();
    decompress(&b""[..]).unwrap().read_to_end(&mut out).unwrap();
    assert!(out.is_empty());
}

/// Mount a real overlay of two applied layers and check that whiteouts and
/// opaque directories hide the lower layer's entries.
#[test]
fn overlay_honours_converted_whiteouts() {
    assert_root();
    let tmp = tempfile::tempdir().unwrap();
    let (lower, upper_layer, up, work, merged) = (
        tmp.path().join("l0"),
        tmp.path().join("l1"),
        tmp.path().join("up"),
        tmp.path().join("work"),
        tmp.path().join("m"),
    );
    for d in [&lower, &upper_layer, &up, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    apply_layer(
        &lower,
        &RawTar::default()
            .file("gone", b"1")
            .file("d/old", b"2")
            .file("keep", b"3")
            .finish()[..],
    )
    .unwrap();
    apply_layer(
        &upper_layer,
        &RawTar::default()
            .file(".wh.gone", b"")
            .file("d/.wh..wh..opq", b"")
            .file("d/new", b"4")
            .finish()[..],
    )
    .unwrap();
    let opts = format!(
        "lowerdir={}:{},upperdir={},workdir={},index=off",
        upper_layer.display(),
        lower.display(),
        up.display(),
        work.display()
    );
    rustix::mount::mount(
        "overlay",
        &merged,
        "overlay",
        rustix::mount::MountFlags::empty(),
        Some(std::ffi::CString::new(opts).unwrap().as_c_str()),
    )
    .expect("overlay mount");
    let check = || {
        assert!(!merged.join("gone").exists());
        assert!(!merged.join("d/old").exists());
        assert_eq!(fs::read(merged.join("d/new")).unwrap(), b"4");
        assert_eq!(fs::read(merged.join("keep")).unwrap(), b"3");
    };
    let r = std::panic::catch_unwind(check);
    rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH).unwrap();
    r.unwrap();
}
