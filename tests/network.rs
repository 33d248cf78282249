//! Bridge networking: published ports, user networks with names, isolation,
//! `--internal`, port clashes, and nothing left behind. Only loopback and the
//! containers' own addresses are contacted.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{unique, Berth};

/// An HTTP GET of `/` on 127.0.0.1:`port`, retried until the server answers.
fn get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if !body.is_empty() {
                return body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing answers on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An httpd container serving `text`.
fn httpd(b: &Berth, text: &str, extra: &[&str]) -> String {
    let script =
        format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    b.ok(&args).trim().to_string()
}

#[test]
fn published_port_reaches_the_container_from_the_host() {
    let b = Berth::new();
    let port = free_port();
    let id = httpd(&b, "hello-berth", &["-p", &format!("{port}:80")]);
    assert!(get(port).contains("hello-berth"));
    let ps = b.ok(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), format!("0.0.0.0:{port}->80/tcp"));
    assert_eq!(
        b.ok(&["port", &id]).trim(),
        format!("80/tcp -> 0.0.0.0:{port}")
    );
    let ip = b.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &id]);
    assert!(ip.trim().starts_with("10."), "{ip}");
    // Another container reaches it by address, and through the published port
    // on the host side (hairpin).
    let gw = b.ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", &id]);
    let out = b.ok(&[
        "run", "--rm", "busybox", "sh", "-c",
        &format!(
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {} 80 | tail -1; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {} {port} | tail -1",
            ip.trim(),
            gw.trim()
        ),
    ]);
    assert_eq!(out, "hello-berth\nhello-berth\n");
    // The port is taken: a second container is refused before it starts.
    let err = b.fails(
        &["run", "-d", "-p", &format!("{port}:80"), "busybox", "true"],
        125,
    );
    assert!(err.contains("port is already allocated"), "{err}");
    // A random host port with -p 80.
    let id2 = httpd(&b, "random", &["-p", "80"]);
    let p2: u16 = b
        .ok(&["port", &id2, "80"])
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(get(p2).contains("random"));
    b.ok(&["rm", "-f", &id, &id2]);
    // Released at once: the port can be published again.
    let id3 = httpd(&b, "again", &["-p", &format!("{port}:80")]);
    assert!(get(port).contains("again"));
    b.ok(&["rm", "-f", &id3]);
}

#[test]
fn user_networks_resolve_names_and_stay_apart() {
    let b = Berth::new();
    let net = unique("net");
    let other = unique("other");
    b.ok(&["network", "create", &net]);
    b.ok(&["network", "create", "--internal", &other]);
    let web = unique("web");
    httpd(
        &b,
        "by-name",
        &["--name", &web, "--network", &net, "--network-alias", "www"],
    );
    for host in [web.as_str(), "www"] {
        let out = b.ok(&[
            "run", "--rm", "--network", &net, "busybox", "sh", "-c",
            &format!("for i in 1 2 3 4 5; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} 80 && break; sleep 0.2; done | tail -1"),
        ]);
        assert_eq!(out, "by-name\n", "via {host}");
    }
    // From another network: neither the name nor the address answers.
    let ip = b.ok(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        &web,
    ]);
    let out = b.run(&[
        "run",
        "--rm",
        "--network",
        &other,
        "busybox",
        "sh",
        "-c",
        &format!(
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {} 80",
            ip.trim()
        ),
    ]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("by-name"));
    // An internal network has no way out: no default route (and berth's
    // forward chain drops what leaves its bridge).
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        &other,
        "busybox",
        "sh",
        "-c",
        "ip route | grep -c default; true",
    ]);
    assert_eq!(out.trim(), "0");
    // In use: not removed; inspect lists the container.
    let err = b.fails(&["network", "rm", &net], 1);
    assert!(err.contains("has active endpoints"), "{err}");
    let v = b.ok(&[
        "network",
        "inspect",
        "-f",
        "{{len .Containers}} {{.Driver}}",
        &net,
    ]);
    assert_eq!(v.trim(), "1 bridge");
    let ls = b.ok(&["network", "ls", "--format", "{{.Name}}"]);
    for n in ["bridge", "host", "none", net.as_str(), other.as_str()] {
        assert!(ls.lines().any(|l| l == n), "{n} not in {ls}");
    }
    b.ok(&["rm", "-f", &web]);
    let bridges = b.bridges();
    b.ok(&["network", "rm", &net, &other]);
    for br in bridges.iter().filter(|br| br.starts_with("br-")) {
        assert!(
            !std::path::Path::new(&format!("/sys/class/net/{br}")).exists(),
            "{br} left"
        );
    }
}

#[test]
fn hosts_dns_flags_and_other_modes() {
    let b = Berth::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "--add-host",
        "db:10.1.2.3",
        "--add-host",
        "gw:host-gateway",
        "--dns",
        "10.9.9.9",
        "--dns-search",
        "example.test",
        "--hostname",
        "h1",
        "busybox",
        "sh",
        "-c",
        "grep -E 'db|gw|h1' /etc/hosts | cut -f2 | sort; cat /etc/resolv.conf; hostname",
    ]);
    assert_eq!(
        out,
        "db\ngw\nh1\nnameserver 10.9.9.9\nsearch example.test\nh1\n"
    );
    let net = unique("ipnet");
    b.ok(&["network", "create", "--subnet", "10.201.0.0/24", &net]);
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        "10.201.0.50",
        "--mac-address",
        "02:42:0a:c9:00:32",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0 | tr -s ' ' | cut -d' ' -f4; cat /sys/class/net/eth0/address",
    ]);
    assert_eq!(out, "10.201.0.50/24\n02:42:0a:c9:00:32\n");
    // container:ID shares the other container's network namespace.
    let id = b.ok(&["run", "-d", "busybox", "sleep", "100"]);
    let id = id.trim();
    let a = b.ok(&["exec", id, "cat", "/sys/class/net/eth0/address"]);
    let c = b.ok(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{id}"),
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(a, c);
    b.ok(&["rm", "-f", id]);
    b.ok(&["network", "rm", &net]);
    let err = b.fails(
        &["run", "--rm", "--network", "nosuch", "busybox", "true"],
        125,
    );
    assert!(err.contains("network nosuch not found"), "{err}");
}

#[test]
fn a_killed_monitor_leaves_nothing_the_next_command_does_not_reap() {
    let b = Berth::new();
    let port = free_port();
    let id = httpd(&b, "x", &["-p", &format!("{port}:80")]);
    let monitor = b.ok(&["inspect", "-f", "{{.State.Pid}}", &id]);
    let _ = monitor;
    // Kill the monitor and the container process.
    let out = std::process::Command::new("pkill")
        .args(["-9", "-f", &format!("__monitor {id}")])
        .status()
        .unwrap();
    assert!(out.success());
    let pid: i32 = b
        .ok(&["inspect", "-f", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    let st = b.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(st.starts_with("Exited (137)"), "{st}");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !b.veths().is_empty() {
        assert!(Instant::now() < deadline, "veths left: {:?}", b.veths());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The port is free again.
    let id2 = httpd(&b, "y", &["-p", &format!("{port}:80")]);
    assert!(get(port).contains('y'));
    b.ok(&["rm", "-f", &id, &id2]);
}

#[test]
fn connect_and_disconnect_running_and_stopped_containers() {
    let b = Berth::new();
    let back = unique("back");
    b.ok(&["network", "create", &back]);
    let api = unique("api");
    httpd(&b, "from-back", &["--name", &api, "--network", &back]);
    // A stopped container joins at its next start, as eth1.
    let cli = unique("cli");
    b.ok(&[
        "create", "--name", &cli, "busybox", "sh", "-c",
        &format!("ls /sys/class/net | grep eth | tr '\\n' ' '; [ -e /sys/class/net/eth1 ] && for i in 1 2 3 4 5; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {api} 80 && break; sleep 0.2; done | tail -1"),
    ]);
    b.ok(&["network", "connect", "--alias", "client", &back, &cli]);
    let err = b.fails(&["network", "connect", &back, &cli], 1);
    assert!(err.contains("already exists in network"), "{err}");
    assert_eq!(b.ok(&["start", "-a", &cli]), "eth0 eth1 from-back\n");
    b.ok(&["network", "disconnect", &back, &cli]);
    // Only eth0 now (the script's `[ -e eth1 ]` then fails: exit 1).
    let out = b.command().args(["start", "-a", &cli]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "eth0 ");
    // A running one gets the interface at once and loses it again.
    let id = b.ok(&["run", "-d", "busybox", "sleep", "100"]);
    let id = id.trim();
    b.ok(&["network", "connect", &back, id]);
    assert_eq!(
        b.ok(&["exec", id, "sh", "-c", "ls /sys/class/net | grep -c eth"])
            .trim(),
        "2"
    );
    b.ok(&["network", "disconnect", &back, id]);
    assert_eq!(
        b.ok(&["exec", id, "sh", "-c", "ls /sys/class/net | grep -c eth"])
            .trim(),
        "1"
    );
    b.ok(&["rm", "-f", id, &cli, &api]);
    b.ok(&["network", "rm", &back]);
}
