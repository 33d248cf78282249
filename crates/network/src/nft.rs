//! berth's nftables table, written whole in one `nft -j -f -` transaction:
//! masquerade for each network's outbound traffic, DNAT for published ports
//! (from other hosts, the host itself and its 127.0.0.1, and containers),
//! and forward rules that keep networks apart and `--internal` ones inside.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::{parse_cidr, Endpoint, Error, Network, Result};

const FAMILY: &str = "ip";

fn run(ruleset: &Value) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Nft(format!("running nft (apt-get install nftables): {e}")))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(ruleset.to_string().as_bytes())
        .map_err(|e| Error::Nft(e.to_string()))?;
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Nft(e.to_string()))?;
    if !out.status.success() {
        return Err(Error::Nft(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

fn rule(table: &str, chain: &str, expr: Vec<Value>) -> Value {
    json!({"add": {"rule": {"family": FAMILY, "table": table, "chain": chain, "expr": expr}}})
}

fn matches(left: Value, op: &str, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

fn payload(proto: &str, field: &str) -> Value {
    json!({"payload": {"protocol": proto, "field": field}})
}

fn prefix(cidr: &str) -> Value {
    let (ip, len) = parse_cidr(cidr).unwrap_or((std::net::Ipv4Addr::UNSPECIFIED, 0));
    json!({"prefix": {"addr": ip.to_string(), "len": len}})
}

/// Deletes the table (missing is fine).
pub fn delete_table(table: &str) -> Result<()> {
    let _ = run(&json!({"nftables": [
        {"add": {"table": {"family": FAMILY, "name": table}}},
        {"delete": {"table": {"family": FAMILY, "name": table}}},
    ]}));
    Ok(())
}

/// Replaces the table's content with the rules for `nets` and `eps`; with
/// no network left, the table goes.
pub fn apply(table: &str, nets: &[Network], eps: &[(Network, Endpoint)]) -> Result<()> {
    if nets.is_empty() {
        return delete_table(table);
    }
    let mut r = vec![
        json!({"add": {"table": {"family": FAMILY, "name": table}}}),
        json!({"flush": {"table": {"family": FAMILY, "name": table}}}),
    ];
    for (name, typ, hook, prio) in [
        ("prerouting", "nat", "prerouting", -100),
        ("output", "nat", "output", -100),
        ("postrouting", "nat", "postrouting", 100),
        ("forward", "filter", "forward", 0),
    ] {
        r.push(json!({"add": {"chain": {
            "family": FAMILY, "table": table, "name": name,
            "type": typ, "hook": hook, "prio": prio, "policy": "accept"
        }}}));
    }
    for n in nets {
        let br = json!(n.bridge);
        if n.internal {
            r.push(rule(
                table,
                "forward",
                vec![
                    matches(meta("iifname"), "==", br.clone()),
                    matches(meta("oifname"), "!=", br.clone()),
                    json!({"drop": null}),
                ],
            ));
            r.push(rule(
                table,
                "forward",
                vec![
                    matches(meta("oifname"), "==", br.clone()),
                    matches(meta("iifname"), "!=", br.clone()),
                    json!({"drop": null}),
                ],
            ));
            continue;
        }
        // Outbound traffic leaves with the host's address.
        r.push(rule(
            table,
            "postrouting",
            vec![
                matches(payload("ip", "saddr"), "==", prefix(&n.subnet)),
                matches(meta("oifname"), "!=", br.clone()),
                json!({"masquerade": null}),
            ],
        ));
        // Published ports reached from the host's loopback, or hairpinned
        // from a container of the same bridge.
        r.push(rule(
            table,
            "postrouting",
            vec![
                matches(meta("oifname"), "==", br.clone()),
                matches(
                    payload("ip", "saddr"),
                    "==",
                    json!({"prefix": {"addr": "127.0.0.0", "len": 8}}),
                ),
                json!({"masquerade": null}),
            ],
        ));
        r.push(rule(
            table,
            "postrouting",
            vec![
                matches(meta("oifname"), "==", br.clone()),
                matches(payload("ip", "saddr"), "==", prefix(&n.subnet)),
                matches(json!({"ct": {"key": "status"}}), "in", json!("dnat")),
                json!({"masquerade": null}),
            ],
        ));
        // Networks do not reach each other.
        for m in nets.iter().filter(|m| m.id != n.id) {
            r.push(rule(
                table,
                "forward",
                vec![
                    matches(meta("iifname"), "==", br.clone()),
                    matches(meta("oifname"), "==", json!(m.bridge)),
                    json!({"drop": null}),
                ],
            ));
        }
    }
    for (n, e) in eps {
        for p in &e.ports {
            let mut expr = vec![matches(
                json!({"fib": {"result": "type", "flags": ["daddr"]}}),
                "==",
                json!("local"),
            )];
            if p.host_ip != "0.0.0.0" {
                expr.push(matches(payload("ip", "daddr"), "==", json!(p.host_ip)));
            }
            expr.push(matches(
                payload(&p.proto, "dport"),
                "==",
                json!(p.host_port),
            ));
            expr.push(json!({"dnat": {"addr": e.ip, "port": p.container_port}}));
            r.push(rule(table, "prerouting", expr.clone()));
            r.push(rule(table, "output", expr));
            let _ = n;
        }
    }
    run(&json!({"nftables": r}))
}

/// Docker sets the FORWARD policy to drop and lets users accept traffic in
/// its `DOCKER-USER` chain; where that chain exists, berth's bridge gets
/// accept rules there (through iptables, which owns that table), so that
/// containers still reach the outside and published ports with dockerd
/// running. `present: false` removes them.
pub fn docker_user(bridge: &str, present: bool) {
    let has_chain = Command::new("iptables")
        .args(["-w", "-n", "-L", "DOCKER-USER"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_chain {
        return;
    }
    for dir in ["-i", "-o"] {
        let rule = ["DOCKER-USER", dir, bridge, "-j", "ACCEPT"];
        let exists = |()| {
            Command::new("iptables")
                .args(["-w", "-C"])
                .args(rule)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if present {
            if !exists(()) {
                let _ = Command::new("iptables")
                    .args(["-w", "-I"])
                    .args(rule)
                    .status();
            }
        } else {
            while exists(()) {
                if !Command::new("iptables")
                    .args(["-w", "-D"])
                    .args(rule)
                    .status()
                    .is_ok_and(|s| s.success())
                {
                    break;
                }
            }
        }
    }
}
