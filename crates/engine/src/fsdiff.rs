//! What a container changed (`docker diff`) and its whole filesystem as a
//! tar (`docker export`).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One change: `A` added, `C` changed, `D` deleted, and the path.
pub type Change = (char, String);

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Whether `rel` exists in the image, given its layer dirs top first.
fn in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    for l in lowers {
        match std::fs::symlink_metadata(l.join(rel)) {
            Ok(m) if is_whiteout(&m) => return false,
            Ok(_) => return true,
            Err(_) => {}
        }
    }
    false
}

/// The changes in `upper` (an overlay upper dir) against `lowers`.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Vec<Change> {
    let mut out = Vec::new();
    walk(upper, Path::new(""), lowers, false, &mut out);
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

fn walk(upper: &Path, rel: &Path, lowers: &[PathBuf], parent_added: bool, out: &mut Vec<Change>) {
    let Ok(rd) = std::fs::read_dir(upper.join(rel)) else {
        return;
    };
    for e in rd.flatten() {
        let r = rel.join(e.file_name());
        let Ok(m) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let shown = format!("/{}", r.display());
        // Mount points berth itself creates for the files it provides.
        if matches!(
            shown.as_str(),
            "/etc/hostname" | "/etc/hosts" | "/etc/resolv.conf"
        ) && m.len() == 0
            && !in_lowers(lowers, &r)
        {
            continue;
        }
        if is_whiteout(&m) {
            out.push(('D', shown));
            continue;
        }
        let added = parent_added || !in_lowers(lowers, &r);
        out.push((if added { 'A' } else { 'C' }, shown));
        if m.is_dir() {
            walk(upper, &r, lowers, added, out);
        }
    }
}

/// Writes the tree at `root` as a tar to `out` (symlinks kept as links).
pub fn export(root: &Path, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    b.append_dir_all(".", root)?;
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_changed_deleted() {
        let d = tempfile::tempdir().unwrap();
        let (upper, lower) = (d.path().join("u"), d.path().join("l"));
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/passwd"), "x").unwrap();
        std::fs::write(lower.join("gone"), "x").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/passwd"), "y").unwrap();
        std::fs::create_dir_all(upper.join("new/sub")).unwrap();
        std::fs::write(upper.join("new/sub/f"), "z").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.join("gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        let c = changes(&upper, &[lower]);
        assert_eq!(
            c,
            vec![
                ('C', "/etc".to_string()),
                ('C', "/etc/passwd".to_string()),
                ('D', "/gone".to_string()),
                ('A', "/new".to_string()),
                ('A', "/new/sub".to_string()),
                ('A', "/new/sub/f".to_string()),
            ]
        );
    }
}
