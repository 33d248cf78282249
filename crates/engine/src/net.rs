//! A container's networking at start and teardown: its own network
//! namespace (kept under `RUNROOT/netns/<id>`), endpoints on its networks,
//! published ports held open on the host, and the `/etc/hosts` and
//! `/etc/resolv.conf` it sees.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use berth_network::{netns, AttachRequest, PortBinding};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::Container;
use crate::Engine;

/// docker's `HostConfig.PortBindings` value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HostPort {
    /// `HostIp` (empty: all).
    pub host_ip: String,
    /// `HostPort` (empty: any).
    pub host_port: String,
}

/// `-p` flags as docker's `PortBindings` (`"80/tcp": [{HostIp, HostPort}]`).
pub fn port_bindings(publish: &[String]) -> Result<BTreeMap<String, Vec<HostPort>>> {
    let mut m: BTreeMap<String, Vec<HostPort>> = BTreeMap::new();
    for p in publish {
        for b in berth_network::parse_publish(p).map_err(|e| Error::Invalid(e.to_string()))? {
            m.entry(format!("{}/{}", b.container_port, b.proto))
                .or_default()
                .push(HostPort {
                    host_ip: if b.host_ip == "0.0.0.0" {
                        String::new()
                    } else {
                        b.host_ip
                    },
                    host_port: if b.host_port == 0 {
                        String::new()
                    } else {
                        b.host_port.to_string()
                    },
                });
        }
    }
    Ok(m)
}

/// A network joined with `network connect` (beyond `--network`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ExtraNetwork {
    /// Network name.
    pub name: String,
    /// `--alias`
    pub aliases: Vec<String>,
    /// `--ip`
    #[serde(rename = "IPAddress")]
    pub ip: String,
}

/// What a started container holds for its networking: host ports reserved
/// (bound, not listening) while it runs.
#[derive(Debug, Default)]
pub(crate) struct Held {
    _ports: Vec<OwnedFd>,
}

/// Reserves a host port: binds it (without listening, so the kernel's DNAT
/// still gets the traffic) and keeps the socket. Port 0 picks a free one.
fn reserve(ip: &str, port: u16, proto: &str) -> Result<(OwnedFd, u16)> {
    use rustix::net::{AddressFamily, SocketType};
    let addr: Ipv4Addr = ip
        .parse()
        .map_err(|_| Error::Invalid(format!("invalid host IP: {ip}")))?;
    let typ = if proto == "udp" {
        SocketType::DGRAM
    } else {
        SocketType::STREAM
    };
    let fd = rustix::net::socket_with(
        AddressFamily::INET,
        typ,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::io("creating a socket", e.into()))?;
    rustix::net::bind(&fd, &SocketAddrV4::new(addr, port)).map_err(|_| {
        Error::Invalid(format!(
            "driver failed programming external connectivity on endpoint: Bind for {ip}:{port} failed: port is already allocated"
        ))
    })?;
    let got = match rustix::net::getsockname(&fd) {
        Ok(a) => std::net::SocketAddr::try_from(a)
            .map(|a| a.port())
            .unwrap_or(port),
        Err(_) => port,
    };
    Ok((fd, got))
}

impl Engine {
    /// The networks of this root.
    pub fn networks(&self) -> &berth_network::Networks {
        &self.networks
    }

    /// Sets up the container's network namespace and endpoints (bridge and
    /// user networks). Returns the namespace path for the spec (or the
    /// other container's, for `container:ID`) and what to hold while it runs.
    pub(crate) fn setup_network(&self, c: &Container) -> Result<(Option<PathBuf>, Held)> {
        let mode = c.host_config.network_mode.as_str();
        if matches!(mode, "none" | "host") {
            return Ok((None, Held::default()));
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let o = self.get(other)?;
            if !o.state.running {
                return Err(Error::Invalid(format!(
                    "cannot join network of a non running container: {other}"
                )));
            }
            return Ok((
                Some(PathBuf::from(format!("/proc/{}/ns/net", o.state.pid))),
                Held::default(),
            ));
        }
        let net = self.networks.get(mode).map_err(net_err)?;
        let mut ports = Vec::new();
        let mut fds = Vec::new();
        for (key, binds) in &c.host_config.port_bindings {
            let (cport, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            let cport: u16 = cport
                .parse()
                .map_err(|_| Error::Invalid(format!("invalid port {key}")))?;
            for b in binds {
                let ip = if b.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &b.host_ip
                };
                let hp: u16 = if b.host_port.is_empty() {
                    0
                } else {
                    b.host_port
                        .parse()
                        .map_err(|_| Error::Invalid(format!("invalid host port {}", b.host_port)))?
                };
                let (fd, port) = reserve(ip, hp, proto)?;
                fds.push(fd);
                ports.push(PortBinding {
                    host_ip: ip.to_string(),
                    host_port: port,
                    container_port: cport,
                    proto: proto.to_string(),
                });
            }
        }
        let path = self.networks.netns_path(&c.id);
        netns::remove(&path);
        netns::create(&path).map_err(net_err)?;
        let req = AttachRequest {
            container: c.id.clone(),
            name: c.short_name().to_string(),
            aliases: c.host_config.network_aliases.clone(),
            ip: match c.host_config.ip_address.as_str() {
                "" => None,
                s => Some(
                    s.parse()
                        .map_err(|_| Error::Invalid(format!("invalid IP address: {s}")))?,
                ),
            },
            mac: (!c.host_config.mac_address.is_empty()).then(|| c.host_config.mac_address.clone()),
            ports,
            ifname: "eth0".into(),
        };
        let ep = match self.networks.attach(&net, &path, &req, true) {
            Ok(ep) => ep,
            Err(e) => {
                netns::remove(&path);
                return Err(net_err(e));
            }
        };
        for (i, x) in c.host_config.extra_networks.iter().enumerate() {
            let res = self.networks.get(&x.name).and_then(|n| {
                let req = self
                    .attach_request(c, x, format!("eth{}", i + 1))
                    .map_err(|e| berth_network::Error::Invalid(e.to_string()))?;
                self.networks.attach(&n, &path, &req, false)
            });
            if let Err(e) = res {
                let _ = self.networks.detach_all(&c.id, None, false);
                netns::remove(&path);
                return Err(net_err(e));
            }
        }
        // /etc/hosts with its own address, and the network's DNS.
        let dir = self.dir(&c.id);
        let mut hosts = crate::HOSTS.to_string();
        hosts.push_str(&format!("{}\t{}\n", ep.ip, c.config.hostname));
        for h in c.host_config.extra_hosts.iter().flatten() {
            if let Some((name, ip)) = h.split_once(':') {
                let ip = if ip == "host-gateway" {
                    net.gateway.as_str()
                } else {
                    ip
                };
                hosts.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        std::fs::write(dir.join("hosts"), hosts).map_err(|e| Error::io("writing hosts", e))?;
        // On a user network (the first, or one joined by `network connect`),
        // names resolve through that network's DNS.
        let user_net = std::iter::once(net.clone())
            .chain(
                c.host_config
                    .extra_networks
                    .iter()
                    .filter_map(|x| self.networks.get(&x.name).ok()),
            )
            .find(|n| n.name != berth_network::DEFAULT);
        if c.host_config.dns.is_empty() {
            // The host's resolvers on the default bridge (as at create; a
            // network disconnected since must not stay the nameserver).
            let mut rc = match user_net {
                Some(un) => format!("nameserver {}\n", un.gateway),
                None => crate::resolv_conf("bridge"),
            };
            for s in &c.host_config.dns_search {
                rc.push_str(&format!("search {s}\n"));
            }
            if !c.host_config.dns_options.is_empty() {
                rc.push_str(&format!(
                    "options {}\n",
                    c.host_config.dns_options.join(" ")
                ));
            }
            std::fs::write(dir.join("resolv.conf"), rc)
                .map_err(|e| Error::io("writing resolv.conf", e))?;
        }
        Ok((Some(path), Held { _ports: fds }))
    }

    /// `network connect`: recorded, so every start joins it; a running
    /// container gets the interface at once.
    pub fn network_connect(
        &self,
        network: &str,
        reference: &str,
        aliases: &[String],
        ip: Option<&str>,
    ) -> Result<()> {
        let net = self.networks.get(network).map_err(net_err)?;
        if let Some(ip) = ip {
            ip.parse::<Ipv4Addr>()
                .map_err(|_| Error::Invalid(format!("invalid IP address: {ip}")))?;
        }
        let extra = ExtraNetwork {
            name: net.name.clone(),
            aliases: aliases.to_vec(),
            ip: ip.unwrap_or_default().to_string(),
        };
        let (c, ()) = self.modify(reference, |c| {
            let mode = c.host_config.network_mode.as_str();
            if matches!(mode, "none" | "host") || mode.starts_with("container:") {
                return Err(Error::Invalid(format!(
                    "container cannot be disconnected from host network or connected to host network: network mode {mode}"
                )));
            }
            if mode == net.name || c.host_config.extra_networks.iter().any(|e| e.name == net.name) {
                return Err(Error::Invalid(format!(
                    "endpoint with name {} already exists in network {}",
                    c.short_name(),
                    net.name
                )));
            }
            c.host_config.extra_networks.push(extra.clone());
            Ok(())
        })?;
        if c.state.running && self.networks.netns_path(&c.id).exists() {
            let n = self.networks.endpoints_of(&c.id).len();
            let req = self.attach_request(&c, &extra, format!("eth{n}"))?;
            if let Err(e) =
                self.networks
                    .attach(&net, &self.networks.netns_path(&c.id), &req, false)
            {
                let _ = self.modify(&c.id, |c| {
                    c.host_config.extra_networks.retain(|x| x.name != net.name);
                    Ok(())
                });
                return Err(net_err(e));
            }
        }
        Ok(())
    }

    fn attach_request(
        &self,
        c: &Container,
        x: &ExtraNetwork,
        ifname: String,
    ) -> Result<AttachRequest> {
        Ok(AttachRequest {
            container: c.id.clone(),
            name: c.short_name().to_string(),
            aliases: x.aliases.clone(),
            ip: match x.ip.as_str() {
                "" => None,
                s => Some(
                    s.parse()
                        .map_err(|_| Error::Invalid(format!("invalid IP address: {s}")))?,
                ),
            },
            mac: None,
            ports: Vec::new(),
            ifname,
        })
    }

    /// `network disconnect`.
    pub fn network_disconnect(&self, network: &str, reference: &str) -> Result<()> {
        let net = self.networks.get(network).map_err(net_err)?;
        let (c, ()) = self.modify(reference, |c| {
            if !c.host_config.extra_networks.iter().any(|e| e.name == net.name)
                && c.host_config.network_mode != net.name
            {
                return Err(Error::Invalid(format!(
                    "container {} is not connected to network {}",
                    c.id, net.name
                )));
            }
            if c.host_config.network_mode == net.name {
                return Err(Error::Invalid(format!(
                    "container {} is connected to {} by --network: berth cannot take its first network away",
                    c.short_name(),
                    net.name
                )));
            }
            c.host_config.extra_networks.retain(|e| e.name != net.name);
            Ok(())
        })?;
        self.networks
            .detach_all(&c.id, Some(&net.id), false)
            .map_err(net_err)
    }

    /// Releases the container's endpoints and namespace. Safe to call twice.
    pub(crate) fn teardown_network(&self, id: &str) {
        let path = self.networks.netns_path(id);
        // Lazily when the namespace goes too: its veths go with it.
        if let Err(e) = self.networks.detach_all(id, None, path.exists()) {
            tracing::warn!(id, error = %e, "releasing the container's network");
        }
        netns::remove(&path);
    }

    /// `NetworkSettings` of `docker inspect`.
    pub fn network_settings(&self, c: &Container) -> serde_json::Value {
        use serde_json::json;
        let eps = if c.state.running {
            self.networks.endpoints_of(&c.id)
        } else {
            Vec::new()
        };
        let mut ports = serde_json::Map::new();
        let mut networks = serde_json::Map::new();
        let (mut ip, mut gw, mut mac, mut prefix) =
            (String::new(), String::new(), String::new(), 0);
        for (n, e) in &eps {
            for p in &e.ports {
                let k = format!("{}/{}", p.container_port, p.proto);
                let v = ports.entry(k).or_insert_with(|| json!([]));
                if let Some(a) = v.as_array_mut() {
                    a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
                }
            }
            if ip.is_empty() {
                ip = e.ip.clone();
                gw = n.gateway.clone();
                mac = e.mac.clone();
                prefix = e.prefix;
            }
            networks.insert(
                n.name.clone(),
                json!({
                    "IPAMConfig": null, "Links": null,
                    "Aliases": e.aliases, "MacAddress": e.mac, "NetworkID": n.id,
                    "EndpointID": crate::short_hash(&format!("{}{}", n.id, e.container)),
                    "Gateway": n.gateway, "IPAddress": e.ip, "IPPrefixLen": e.prefix,
                    "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                    "DNSNames": [e.name.clone()],
                }),
            );
        }
        if networks.is_empty() && !c.host_config.network_mode.starts_with("container:") {
            networks.insert(
                if c.host_config.network_mode == "none" {
                    "none".into()
                } else {
                    c.host_config.network_mode.clone()
                },
                json!({"IPAddress": "", "Gateway": "", "MacAddress": ""}),
            );
        }
        json!({
            "Bridge": "", "SandboxID": "", "SandboxKey": if eps.is_empty() { String::new() } else { self.networks.netns_path(&c.id).display().to_string() },
            "Ports": ports, "Gateway": gw, "IPAddress": ip, "IPPrefixLen": prefix,
            "MacAddress": mac, "Networks": networks,
        })
    }

    /// Published ports of a running container: (container port/proto, host ip, host port).
    pub fn published_ports(&self, c: &Container) -> Vec<(String, String, u16)> {
        if !c.state.running {
            return Vec::new();
        }
        let mut v: Vec<(String, String, u16)> = self
            .networks
            .endpoints_of(&c.id)
            .into_iter()
            .flat_map(|(_, e)| e.ports)
            .map(|p| {
                (
                    format!("{}/{}", p.container_port, p.proto),
                    p.host_ip,
                    p.host_port,
                )
            })
            .collect();
        v.sort();
        v
    }
}

fn net_err(e: berth_network::Error) -> Error {
    match e {
        berth_network::Error::NotFound(n) => Error::Invalid(format!("network {n} not found")),
        other => Error::Network(other),
    }
}
