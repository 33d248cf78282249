//! The DNS server of a user network: `berth __dns DIR GATEWAY` answers A
//! queries for the names, aliases and short ids of the network's containers
//! (read from `DIR/endpoints/`), on the network's gateway address, port 53,
//! and forwards every other query to the host's resolvers.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use crate::{Endpoint, Error, Network, Result};

fn pid_alive(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// Starts the network's DNS server unless it runs.
pub fn ensure(dir: &Path, net: &Network) -> Result<()> {
    let pidfile = dir.join("dns.pid");
    if let Some(pid) = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    {
        if pid_alive(pid)
            && std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .map(|c| c.contains("__dns"))
                .unwrap_or(false)
        {
            return Ok(());
        }
    }
    let exe = std::env::current_exe().map_err(|e| Error::io("finding berth")(e))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("dns.log"))
        .map_err(Error::io("opening dns.log"))?;
    let child = std::process::Command::new(exe)
        .arg("__dns")
        .arg(dir)
        .arg(&net.gateway)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(Error::io("starting the DNS server"))?;
    std::fs::write(&pidfile, child.id().to_string()).map_err(Error::io("writing dns.pid"))?;
    // Give it a moment to bind, so the container's first lookup finds it.
    for _ in 0..100 {
        if UdpSocket::bind((
            net.gateway
                .parse::<Ipv4Addr>()
                .unwrap_or(Ipv4Addr::LOCALHOST),
            53,
        ))
        .is_err()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Stops the network's DNS server.
pub fn stop(dir: &Path) {
    if let Some(pid) = std::fs::read_to_string(dir.join("dns.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    {
        if pid_alive(pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let _ = std::fs::remove_file(dir.join("dns.pid"));
}

fn upstreams() -> Vec<SocketAddr> {
    let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let v: Vec<SocketAddr> = conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect();
    if v.is_empty() {
        vec![SocketAddr::from(([8, 8, 8, 8], 53))]
    } else {
        v
    }
}

/// The question of a query: (name lower-cased without the final dot,
/// type, end offset of the question).
fn question(q: &[u8]) -> Option<(String, u16, usize)> {
    if q.len() < 12 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    Some((labels.join("."), qtype, i + 4))
}

/// The network dirs (siblings of `dir`) the container at `src` is on:
/// names resolve across every network the asking container shares.
fn networks_of(dir: &Path, src: Option<Ipv4Addr>) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let Some(src) = src else { return out };
    let Some(container) = endpoints(dir)
        .into_iter()
        .find(|e| e.ip.parse() == Ok(src))
        .map(|e| e.container)
    else {
        return out;
    };
    if let Some(parent) = dir.parent() {
        for d in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            let p = d.path();
            if p != dir
                && p.join("endpoints")
                    .join(format!("{container}.json"))
                    .exists()
            {
                out.push(p);
            }
        }
    }
    out
}

fn endpoints(dir: &Path) -> Vec<Endpoint> {
    std::fs::read_dir(dir.join("endpoints"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn lookup_all(dirs: &[std::path::PathBuf], name: &str) -> Option<Ipv4Addr> {
    dirs.iter().find_map(|d| lookup(d, name))
}

fn lookup(dir: &Path, name: &str) -> Option<Ipv4Addr> {
    let rd = std::fs::read_dir(dir.join("endpoints")).ok()?;
    for e in rd.flatten() {
        let Ok(ep) = serde_json::from_slice::<Endpoint>(&std::fs::read(e.path()).ok()?) else {
            continue;
        };
        let hit = ep.name.eq_ignore_ascii_case(name)
            || ep.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
            || (name.len() >= 12 && ep.container.starts_with(name));
        if hit {
            return ep.ip.parse().ok();
        }
    }
    None
}

/// The reply to `q` from our own names, `None` to forward it.
fn answer(dirs: &[std::path::PathBuf], q: &[u8]) -> Option<Vec<u8>> {
    let (name, qtype, end) = question(q)?;
    let ip = lookup_all(dirs, &name)?;
    let mut r = q[..end].to_vec();
    r[2] = 0x84 | (q[2] & 0x01); // QR, AA, RD as asked
    r[3] = 0x80; // RA, NOERROR
    r[6] = 0;
    r[7] = u8::from(qtype == 1 || qtype == 255);
    r[8..12].fill(0);
    if qtype == 1 || qtype == 255 {
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    Some(r)
}

/// Serves until killed.
pub fn serve(dir: &Path, gateway: &str) -> Result<()> {
    let ip: Ipv4Addr = gateway
        .parse()
        .map_err(|_| Error::Invalid(format!("bad gateway {gateway}")))?;
    let sock = UdpSocket::bind((ip, 53)).map_err(Error::io(format!("binding {ip}:53")))?;
    let up = upstreams();
    let fwd = UdpSocket::bind("0.0.0.0:0").map_err(Error::io("binding the forwarder"))?;
    fwd.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(Error::io("forwarder timeout"))?;
    let mut buf = [0u8; 4096];
    let mut rbuf = [0u8; 4096];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let q = &buf[..n];
        let src = match from {
            SocketAddr::V4(a) => Some(*a.ip()),
            SocketAddr::V6(_) => None,
        };
        if let Some(r) = answer(&networks_of(dir, src), q) {
            let _ = sock.send_to(&r, from);
            continue;
        }
        for u in &up {
            if fwd.send_to(q, u).is_err() {
                continue;
            }
            // Replies to other (timed out) queries are skipped by id.
            let mut got = None;
            while let Ok((m, _)) = fwd.recv_from(&mut rbuf) {
                if m >= 2 && rbuf[..2] == q[..2] {
                    got = Some(m);
                    break;
                }
            }
            if let Some(m) = got {
                let _ = sock.send_to(&rbuf[..m], from);
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_known_names() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("endpoints")).unwrap();
        let ep = Endpoint {
            container: "a".repeat(64),
            name: "web".into(),
            aliases: vec!["www".into()],
            ip: "10.90.0.2".into(),
            prefix: 16,
            mac: String::new(),
            veth: String::new(),
            ifname: "eth0".into(),
            ports: vec![],
        };
        std::fs::write(
            d.path().join("endpoints/a.json"),
            serde_json::to_vec(&ep).unwrap(),
        )
        .unwrap();
        // id 0x1234, RD, one question: www IN A
        let q = [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'W', b'w', b'w', 0, 0, 1, 0, 1,
        ];
        let r = answer(&[d.path().to_path_buf()], &q).unwrap();
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[7], 1);
        assert_eq!(&r[r.len() - 4..], &[10, 90, 0, 2]);
        let q2 = [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'x', b'y', b'z', 0, 0, 1, 0, 1,
        ];
        assert!(answer(&[d.path().to_path_buf()], &q2).is_none());
    }
}
