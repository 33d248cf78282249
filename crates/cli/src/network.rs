//! `berth network …` and the hidden `__dns` server.

use std::collections::BTreeMap;
use std::io::Write;

use berth_engine::Engine;
use berth_network::{CreateOptions, Network};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::{CmdResult, Failure};

/// `network` subcommands.
#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(NamesArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(ConnectArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
}

/// `network create` flags.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Option<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on a network
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Network name
    pub name: String,
}

/// `network ls` flags.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Pretty-print networks using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long)]
    pub filter: Vec<String>,
}

/// `network inspect` flags.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Networks
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Networks by name.
#[derive(Args, Debug)]
pub struct NamesArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    pub force: bool,
    /// Networks
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `network connect|disconnect` flags.
#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "list")]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    /// Network
    pub network: String,
    /// Container
    pub container: String,
}

/// `network prune` flags.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::new(1, e.to_string())
}

/// The predefined networks docker always lists.
fn all(e: &Engine) -> Result<Vec<(String, String, String)>, Failure> {
    let nets = e.networks();
    nets.ensure_default().map_err(fail)?;
    let mut v: Vec<(String, String, String)> = nets
        .list()
        .into_iter()
        .map(|n| (n.id, n.name, "bridge".to_string()))
        .collect();
    for (name, driver) in [("host", "host"), ("none", "null")] {
        v.push((berth_network_id(name), name.to_string(), driver.to_string()));
    }
    v.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(v)
}

fn berth_network_id(name: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for b in name.bytes().cycle().take(32) {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn inspect_json(e: &Engine, n: &Network) -> Value {
    let mut containers = serde_json::Map::new();
    for ep in e.networks().endpoints(n) {
        containers.insert(
            ep.container.clone(),
            json!({
                "Name": ep.name, "EndpointID": berth_network_id(&ep.veth),
                "MacAddress": ep.mac, "IPv4Address": format!("{}/{}", ep.ip, ep.prefix),
                "IPv6Address": "",
            }),
        );
    }
    json!({
        "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local",
        "Driver": "bridge", "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": n.subnet, "Gateway": n.gateway}]},
        "Internal": n.internal, "Attachable": false, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": containers,
        "Options": {"com.docker.network.bridge.name": n.bridge},
        "Labels": n.labels,
    })
}

/// Runs a `network` subcommand.
pub fn run(e: &Engine, cmd: &NetworkCmd) -> CmdResult {
    let nets = e.networks();
    match cmd {
        NetworkCmd::Create(a) => {
            if a.driver != "bridge" {
                return Err(fail(format!(
                    "plugin \"{}\" not found: only the bridge driver is supported",
                    a.driver
                )));
            }
            let labels: BTreeMap<String, String> = a
                .label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            let n = nets
                .create(&CreateOptions {
                    name: a.name.clone(),
                    subnet: a.subnet.clone(),
                    gateway: a.gateway.clone(),
                    internal: a.internal,
                    labels,
                })
                .map_err(fail)?;
            println!("{}", n.id);
            Ok(0)
        }
        NetworkCmd::Ls(a) => {
            let list = all(e)?;
            let rows: Vec<Value> = list
                .iter()
                .filter(|(_, name, driver)| {
                    a.filter.iter().all(|f| match f.split_once('=') {
                        Some(("name", v)) => name.contains(v),
                        Some(("driver", v)) => driver == v,
                        _ => true,
                    })
                })
                .map(|(id, name, driver)| {
                    json!({
                        "ID": if a.no_trunc { id.clone() } else { id[..12].to_string() },
                        "Name": name, "Driver": driver, "Scope": "local",
                    })
                })
                .collect();
            if a.quiet {
                for r in &rows {
                    println!("{}", r["ID"].as_str().unwrap_or(""));
                }
                return Ok(0);
            }
            let fmt = a
                .format
                .clone()
                .unwrap_or_else(|| "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}".to_string());
            print!(
                "{}",
                crate::format::render_list(
                    &fmt,
                    &[
                        ("ID", "NETWORK ID"),
                        ("Name", "NAME"),
                        ("Driver", "DRIVER"),
                        ("Scope", "SCOPE")
                    ],
                    &rows,
                )?
            );
            Ok(0)
        }
        NetworkCmd::Inspect(a) => {
            let mut out = Vec::new();
            for name in &a.names {
                let n = nets.get(name).map_err(fail)?;
                out.push(inspect_json(e, &n));
            }
            crate::print_inspect(&out, a.format.as_deref())?;
            Ok(0)
        }
        NetworkCmd::Rm(a) => {
            let mut code = 0;
            for name in &a.names {
                match nets.remove(name) {
                    Ok(_) => println!("{name}"),
                    Err(berth_network::Error::NotFound(_)) if a.force => {}
                    Err(err) => {
                        eprintln!("Error response from daemon: {err}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        NetworkCmd::Connect(a) => {
            e.network_connect(&a.network, &a.container, &a.alias, a.ip.as_deref())?;
            Ok(0)
        }
        NetworkCmd::Disconnect(a) => {
            e.network_disconnect(&a.network, &a.container)?;
            Ok(0)
        }
        NetworkCmd::Prune(a) => {
            if !a.force {
                eprint!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
                if !line.trim().eq_ignore_ascii_case("y") {
                    return Ok(0);
                }
            }
            let mut gone = Vec::new();
            for n in nets.list() {
                if n.name != berth_network::DEFAULT
                    && nets.endpoints(&n).is_empty()
                    && nets.remove(&n.id).is_ok()
                {
                    gone.push(n.name);
                }
            }
            if !gone.is_empty() {
                println!("Deleted Networks:\n{}", gone.join("\n"));
            }
            Ok(0)
        }
    }
}

/// `berth __dns DIR GATEWAY`: a user network's DNS server.
pub fn dns(dir: &str, gateway: &str) -> CmdResult {
    let _ = rustix::process::setsid();
    berth_network::dns::serve(std::path::Path::new(dir), gateway).map_err(fail)?;
    Ok(0)
}
