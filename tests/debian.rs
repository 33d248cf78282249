//! Opt-in (`BERTH_TEST_DEBIAN=1`): a Debian bookworm image made with
//! debootstrap, then `berth build` with `RUN apt-get install -y python3`
//! against the Debian mirror. Skipped, saying why, when not asked for or
//! when the mirror cannot be reached.

mod support;

use std::net::ToSocketAddrs;
use std::time::Duration;

use support::{unique, Berth};

fn mirror_reachable() -> bool {
    let Ok(mut addrs) = ("deb.debian.org", 80).to_socket_addrs() else {
        return false;
    };
    addrs.any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(5)).is_ok())
}

#[test]
fn debian_build_installs_python3() {
    if std::env::var("BERTH_TEST_DEBIAN").as_deref() != Ok("1") {
        eprintln!("skipped: set BERTH_TEST_DEBIAN=1 to build on a Debian image from the mirror");
        return;
    }
    if !mirror_reachable() {
        eprintln!("skipped: deb.debian.org:80 cannot be reached");
        return;
    }
    let b = Berth::empty();
    let tar = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/mkbookworm.sh"))
        .output()
        .expect("bench/mkbookworm.sh");
    assert!(
        tar.status.success(),
        "{}",
        String::from_utf8_lossy(&tar.stderr)
    );
    let tar = String::from_utf8_lossy(&tar.stdout).trim().to_string();
    b.ok(&["import", &tar, "bookworm:minbase"]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM bookworm:minbase\nRUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*\nCMD [\"python3\", \"-c\", \"print(6*7)\"]\n",
    )
    .unwrap();
    let tag = unique("py");
    // RUN steps use the default bridge, NAT to the mirror.
    b.ok(&["build", "-t", &tag, ctx.path().to_str().unwrap()]);
    assert_eq!(b.ok(&["run", "--rm", &tag]), "42\n");
    let out = b.ok(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "apt-get update >/dev/null 2>&1 && echo updated",
    ]);
    assert_eq!(out, "updated\n");
}
