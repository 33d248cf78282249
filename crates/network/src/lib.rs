//! Container networking: bridges, a veth pair per container (`eth0` in the
//! container's network namespace), IP address management, NAT and published
//! ports in berth's own nftables table, and the DNS of user networks.
//!
//! State lives under `ROOT/networks/`: one JSON file per network
//! (`<id>.json`) and, per network, one file per endpoint
//! (`<id>/endpoints/<container id>.json`), written under the network's lock.
//! The firewall is derived from that state: every change rewrites berth's
//! table (`ip berth`, or `ip berth_<hash of the root>` for other roots) in
//! one `nft` transaction, so it never drifts and never touches other tables.

pub mod dns;
pub mod netlink;
pub mod netns;
mod nft;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_kind::ErrorKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use netlink::Netlink;

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `network <name> not found`
    #[error("network {0} not found")]
    NotFound(String),
    /// `network with name <name> already exists`
    #[error("network with name {0} already exists")]
    Exists(String),
    /// `error while removing network: network <name> id <id> has active endpoints`
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    InUse {
        /// Its name.
        name: String,
        /// Its id.
        id: String,
    },
    /// Bad flags (the message says which).
    #[error("{0}")]
    Invalid(String),
    /// No free subnet or address.
    #[error("{0}")]
    Exhausted(String),
    /// A netlink request failed.
    #[error("netlink: {0}")]
    Netlink(String),
    /// A network namespace operation failed.
    #[error("netns: {0}")]
    Netns(String),
    /// `nft` failed.
    #[error("nftables: {0}")]
    Nft(String),
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The kind, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Exists(_) | Error::InUse { .. } => ErrorKind::Conflict,
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::Exhausted(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A network, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Network {
    /// 64 hex.
    pub id: String,
    /// Its name (`bridge` for the default one).
    pub name: String,
    /// The Linux bridge.
    pub bridge: String,
    /// `10.89.0.0/16`
    pub subnet: String,
    /// The bridge's address, the containers' gateway.
    pub gateway: String,
    /// No outside access.
    pub internal: bool,
    /// `--label`s.
    pub labels: BTreeMap<String, String>,
    /// RFC 3339.
    pub created: String,
}

/// A published port: `[ip:]host:container[/proto]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortBinding {
    /// Host address (`0.0.0.0` for all).
    pub host_ip: String,
    /// Host port (0: pick one).
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
}

/// A container's attachment to a network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    /// The container.
    pub container: String,
    /// Its name (DNS).
    pub name: String,
    /// `--network-alias`es (DNS).
    pub aliases: Vec<String>,
    /// Its address.
    pub ip: String,
    /// Prefix length of the subnet.
    pub prefix: u8,
    /// Its MAC address.
    pub mac: String,
    /// The host end of its veth pair.
    pub veth: String,
    /// The interface in the container (`eth0`).
    pub ifname: String,
    /// Published ports (host port resolved).
    pub ports: Vec<PortBinding>,
}

/// What a container asks of a network.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    /// Container id.
    pub container: String,
    /// Container name.
    pub name: String,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
    /// `--mac-address`.
    pub mac: Option<String>,
    /// Published ports (host ports already resolved).
    pub ports: Vec<PortBinding>,
    /// Interface name in the container.
    pub ifname: String,
}

/// `network create` options.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Name.
    pub name: String,
    /// `--subnet`.
    pub subnet: Option<String>,
    /// `--gateway`.
    pub gateway: Option<String>,
    /// `--internal`.
    pub internal: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
}

/// Parses `a.b.c.d/n`.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = || Error::Invalid(format!("invalid CIDR address: {s}"));
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&len) {
        return Err(Error::Invalid(format!(
            "invalid subnet size /{len}: use /8 to /30"
        )));
    }
    let mask = u32::MAX << (32 - len);
    Ok((Ipv4Addr::from(u32::from(ip) & mask), len))
}

fn overlaps(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let len = a.1.min(b.1);
    if len == 0 {
        return false; // the default route
    }
    let mask = u32::MAX << (32 - len as u32);
    u32::from(a.0) & mask == u32::from(b.0) & mask
}

fn short_hash(s: &str, n: usize) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))[..n].to_string()
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_file(path, data, true)
}

/// Temp file + rename; `durable` adds an fsync (network records). An
/// endpoint record needs none: after a crash its container is gone too, and
/// the next command's repair drops it.
fn write_file(path: &Path, data: &[u8], durable: bool) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(Error::io(format!("writing {}", path.display())))
}

fn flock(path: &Path) -> Result<File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io(format!("opening {}", path.display())))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| Error::io(format!("locking {}", path.display()))(e.into()))?;
    Ok(f)
}

fn sysctl(path: &str, value: &str) {
    if std::fs::read_to_string(path)
        .map(|v| v.trim() == value)
        .unwrap_or(false)
    {
        return;
    }
    if let Err(e) = std::fs::write(path, value) {
        tracing::warn!(path, error = %e, "cannot set sysctl");
    }
}

/// The MTU of the interface the default route leaves by (1500 if unknown).
fn uplink_mtu() -> u32 {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    for line in routes.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 2 && f[1] == "00000000" {
            if let Ok(m) = std::fs::read_to_string(format!("/sys/class/net/{}/mtu", f[0])) {
                return m.trim().parse().unwrap_or(1500);
            }
        }
    }
    1500
}

/// The networks of one berth root.
#[derive(Debug, Clone)]
pub struct Networks {
    dir: PathBuf,
    runroot: PathBuf,
    default_root: bool,
    tag: String,
}

/// The name of the default network.
pub const DEFAULT: &str = "bridge";

impl Networks {
    /// The networks of `root` (state) and `runroot` (namespaces).
    pub fn open(root: &Path, runroot: &Path) -> Self {
        let default_root = root == Path::new("/var/lib/berth");
        Self {
            dir: root.join("networks"),
            runroot: runroot.to_path_buf(),
            default_root,
            tag: short_hash(&root.display().to_string(), 8),
        }
    }

    /// berth's nftables table for this root.
    pub fn table(&self) -> String {
        if self.default_root {
            "berth".into()
        } else {
            format!("berth_{}", self.tag)
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn endpoints_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id).join("endpoints")
    }

    /// Where a container's network namespace is kept.
    pub fn netns_path(&self, container: &str) -> PathBuf {
        self.runroot.join("netns").join(container)
    }

    fn lock(&self) -> Result<File> {
        std::fs::create_dir_all(&self.dir)
            .map_err(Error::io(format!("creating {}", self.dir.display())))?;
        flock(&self.dir.join("lock"))
    }

    /// Every network, by name.
    pub fn list(&self) -> Vec<Network> {
        let mut v: Vec<Network> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A network by name, id or unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Network> {
        let all = self.list();
        if let Some(n) = all
            .iter()
            .find(|n| n.name == name_or_id || n.id == name_or_id)
        {
            return Ok(n.clone());
        }
        let m: Vec<&Network> = all
            .iter()
            .filter(|n| n.id.starts_with(name_or_id))
            .collect();
        match m.as_slice() {
            [one] if !name_or_id.is_empty() => Ok((*one).clone()),
            _ if name_or_id == DEFAULT => self.ensure_default(),
            _ => Err(Error::NotFound(name_or_id.to_string())),
        }
    }

    /// The endpoints of a network.
    pub fn endpoints(&self, net: &Network) -> Vec<Endpoint> {
        std::fs::read_dir(self.endpoints_dir(&net.id))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The default `bridge` network, created on first use.
    pub fn ensure_default(&self) -> Result<Network> {
        if let Some(n) = self.list().into_iter().find(|n| n.name == DEFAULT) {
            self.ensure_bridge(&n)?;
            return Ok(n);
        }
        let bridge = if self.default_root {
            "berth0".to_string()
        } else {
            format!("bb{}", self.tag)
        };
        // `BERTH_BRIDGE_SUBNET` (e.g. `10.123.0.0/16`) picks the default
        // network's subnet instead of the first free /16 from 10.89.0.0.
        let subnet = std::env::var("BERTH_BRIDGE_SUBNET")
            .ok()
            .filter(|s| !s.is_empty());
        match self.create_with_bridge(
            &CreateOptions {
                name: DEFAULT.into(),
                subnet,
                ..CreateOptions::default()
            },
            bridge,
        ) {
            // Another command created it meanwhile.
            Err(Error::Exists(_)) => self
                .list()
                .into_iter()
                .find(|n| n.name == DEFAULT)
                .ok_or_else(|| Error::NotFound(DEFAULT.into())),
            other => other,
        }
    }

    /// `network create`.
    pub fn create(&self, o: &CreateOptions) -> Result<Network> {
        if o.name == DEFAULT || o.name == "host" || o.name == "none" {
            return Err(Error::Invalid(format!(
                "network name {} is reserved",
                o.name
            )));
        }
        let id = short_hash(&format!("{}{}{}", o.name, self.tag, chrono::Utc::now()), 64);
        self.create_with_bridge(o, format!("br-{}", &id[..12]))
    }

    fn create_with_bridge(&self, o: &CreateOptions, bridge: String) -> Result<Network> {
        if o.name.is_empty()
            || !o
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(Error::Invalid(format!(
                "invalid network name: {:?}",
                o.name
            )));
        }
        let _l = self.lock()?;
        if self.list().iter().any(|n| n.name == o.name) {
            return Err(Error::Exists(o.name.clone()));
        }
        // Subnets are picked host-wide: other roots' bridges show as routes.
        let _host = flock(Path::new("/run/berth-networks.lock"))?;
        let mut nl = Netlink::open()?;
        let taken: Vec<(Ipv4Addr, u8)> = nl
            .routes()?
            .into_iter()
            .chain(
                self.list()
                    .iter()
                    .filter_map(|n| parse_cidr(&n.subnet).ok()),
            )
            .collect();
        let subnet = match &o.subnet {
            Some(s) => {
                let c = parse_cidr(s)?;
                if let Some(t) = taken.iter().find(|t| overlaps(**t, c)) {
                    return Err(Error::Invalid(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({}/{})",
                        t.0, t.1
                    )));
                }
                c
            }
            None => {
                let mut pick = None;
                let start = if self.default_root && o.name == DEFAULT {
                    89
                } else {
                    90
                };
                for b in start..=254u8 {
                    let c = (Ipv4Addr::new(10, b, 0, 0), 16);
                    if !taken.iter().any(|t| overlaps(*t, c)) {
                        pick = Some(c);
                        break;
                    }
                }
                pick.ok_or_else(|| {
                    Error::Exhausted(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                    )
                })?
            }
        };
        let gateway = match &o.gateway {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| Error::Invalid(format!("invalid gateway address: {g}")))?;
                if !overlaps((ip, 32), subnet) {
                    return Err(Error::Invalid(format!(
                        "gateway {g} is not in subnet {}/{}",
                        subnet.0, subnet.1
                    )));
                }
                ip
            }
            None => Ipv4Addr::from(u32::from(subnet.0) + 1),
        };
        let id = short_hash(&format!("{}{}{}", o.name, bridge, chrono::Utc::now()), 64);
        let net = Network {
            id,
            name: o.name.clone(),
            bridge,
            subnet: format!("{}/{}", subnet.0, subnet.1),
            gateway: gateway.to_string(),
            internal: o.internal,
            labels: o.labels.clone(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        };
        self.ensure_bridge_with(&mut nl, &net)?;
        if let Err(e) = write_atomic(
            &self.path(&net.id),
            &serde_json::to_vec_pretty(&net).expect("serializable"),
        ) {
            let _ = nl.del_link(&net.bridge);
            return Err(e);
        }
        drop(_host);
        if let Err(e) = self.sync_firewall() {
            tracing::warn!(error = %e, "updating the firewall");
        }
        Ok(net)
    }

    /// Creates the network's bridge if it is missing (after a reboot).
    fn ensure_bridge(&self, net: &Network) -> Result<()> {
        let mut nl = Netlink::open()?;
        if nl.link_index(&net.bridge)?.is_some() {
            return Ok(());
        }
        let _host = flock(Path::new("/run/berth-networks.lock"))?;
        self.ensure_bridge_with(&mut nl, net)?;
        drop(_host);
        self.sync_firewall()
    }

    fn ensure_bridge_with(&self, nl: &mut Netlink, net: &Network) -> Result<()> {
        if nl.link_index(&net.bridge)?.is_none() {
            match nl.add_bridge(&net.bridge, uplink_mtu()) {
                Err(Error::Netlink(e)) if e.contains("File exists") => {}
                other => other?,
            }
            if !net.internal {
                nft::docker_user(&net.bridge, true);
            }
        }
        let idx = nl
            .link_index(&net.bridge)?
            .ok_or_else(|| Error::Netlink(format!("bridge {} vanished", net.bridge)))?;
        let (_, prefix) = parse_cidr(&net.subnet)?;
        let gw: Ipv4Addr = net
            .gateway
            .parse()
            .map_err(|_| Error::Invalid(format!("bad gateway {}", net.gateway)))?;
        nl.add_addr(idx, gw, prefix)?;
        nl.set_up(idx)?;
        sysctl("/proc/sys/net/ipv4/ip_forward", "1");
        // Published ports reached from the host's 127.0.0.1 are routed here.
        sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge),
            "1",
        );
        Ok(())
    }

    /// `network rm`: refused while containers are attached.
    pub fn remove(&self, name_or_id: &str) -> Result<Network> {
        let net = self.get(name_or_id)?;
        if net.name == DEFAULT {
            return Err(Error::Invalid(format!(
                "{} is a pre-defined network and cannot be removed",
                net.name
            )));
        }
        let _l = self.lock()?;
        if !self.endpoints(&net).is_empty() {
            return Err(Error::InUse {
                name: net.name.clone(),
                id: net.id.clone(),
            });
        }
        dns::stop(&self.dir.join(&net.id));
        let _ = std::fs::remove_file(self.path(&net.id));
        let _ = std::fs::remove_dir_all(self.dir.join(&net.id));
        let mut nl = Netlink::open()?;
        nl.del_link(&net.bridge)?;
        nft::docker_user(&net.bridge, false);
        drop(_l);
        self.sync_firewall()?;
        Ok(net)
    }

    /// Removes everything of this root's networking: bridges, table (tests,
    /// `system reset`).
    pub fn teardown_all(&self) {
        if let Ok(mut nl) = Netlink::open() {
            for n in self.list() {
                dns::stop(&self.dir.join(&n.id));
                let _ = nl.del_link(&n.bridge);
                nft::docker_user(&n.bridge, false);
            }
        }
        let _ = nft::delete_table(&self.table());
    }

    /// Connects a container (its namespace at `netns`) to `net`: a veth
    /// pair, an address, the default route (first network only), ports.
    pub fn attach(
        &self,
        net: &Network,
        netns: &Path,
        req: &AttachRequest,
        default_route: bool,
    ) -> Result<Endpoint> {
        self.ensure_bridge(net)?;
        let (subnet, prefix) = parse_cidr(&net.subnet)?;
        let gw: Ipv4Addr = net
            .gateway
            .parse()
            .map_err(|_| Error::Invalid(format!("bad gateway {}", net.gateway)))?;
        let _l = self.lock()?;
        let eps = self.endpoints(net);
        if let Some(e) = eps.iter().find(|e| e.container == req.container) {
            return Err(Error::Exists(format!(
                "endpoint for container {} in network {}",
                &e.container[..12.min(e.container.len())],
                net.name
            )));
        }
        for p in &req.ports {
            if let Some(other) = self.port_owner(p) {
                return Err(Error::Invalid(format!(
                    "Bind for {}:{} failed: port is already allocated (container {})",
                    p.host_ip,
                    p.host_port,
                    &other[..12.min(other.len())]
                )));
            }
        }
        let used: Vec<Ipv4Addr> = eps.iter().filter_map(|e| e.ip.parse().ok()).collect();
        let ip = match req.ip {
            Some(ip) => {
                if !overlaps((ip, 32), (subnet, prefix)) || ip == gw {
                    return Err(Error::Invalid(format!(
                        "Invalid address {ip}: It does not belong to any of this network's subnets"
                    )));
                }
                if used.contains(&ip) {
                    return Err(Error::Invalid(format!("Address already in use: {ip}")));
                }
                ip
            }
            None => {
                let first = u32::from(subnet) + 2;
                let last = u32::from(subnet) | (u32::MAX >> prefix);
                (first..last)
                    .map(Ipv4Addr::from)
                    .find(|ip| *ip != gw && !used.contains(ip))
                    .ok_or_else(|| {
                        Error::Exhausted(format!(
                            "no available IPv4 addresses on network {}",
                            net.name
                        ))
                    })?
            }
        };
        let mac = match &req.mac {
            Some(m) => m.clone(),
            None => {
                let o = ip.octets();
                format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
            }
        };
        let mac_bytes = parse_mac(&mac)?;
        let veth = format!(
            "veth{}",
            short_hash(&format!("{}{}", req.container, net.id), 7)
        );
        let ep = Endpoint {
            container: req.container.clone(),
            name: req.name.clone(),
            aliases: req.aliases.clone(),
            ip: ip.to_string(),
            prefix,
            mac,
            veth: veth.clone(),
            ifname: req.ifname.clone(),
            ports: req.ports.clone(),
        };
        // Recorded first: a crash from here on leaves a record that detach cleans.
        let dir = self.endpoints_dir(&net.id);
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let ep_path = dir.join(format!("{}.json", req.container));
        write_file(
            &ep_path,
            &serde_json::to_vec(&ep).expect("serializable"),
            false,
        )?;
        let res = (|| -> Result<()> {
            let mut nl = Netlink::open()?;
            let master = nl
                .link_index(&net.bridge)?
                .ok_or_else(|| Error::Netlink(format!("bridge {} is missing", net.bridge)))?;
            let ns =
                File::open(netns).map_err(Error::io(format!("opening {}", netns.display())))?;
            let _ = nl.del_link(&veth);
            nl.add_veth(
                &veth,
                &req.ifname,
                ns.as_fd(),
                uplink_mtu(),
                master,
                Some(mac_bytes),
            )?;
            let host_idx = nl
                .link_index(&veth)?
                .ok_or_else(|| Error::Netlink(format!("veth {veth} vanished")))?;
            nl.set_up(host_idx)?;
            netns::within(netns, || {
                let mut inner = Netlink::open()?;
                if let Some(lo) = inner.link_index("lo")? {
                    inner.set_up(lo)?;
                }
                let idx = inner.link_index(&req.ifname)?.ok_or_else(|| {
                    Error::Netlink(format!("{} missing in the container", req.ifname))
                })?;
                inner.add_addr(idx, ip, prefix)?;
                inner.set_up(idx)?;
                if default_route && !net.internal {
                    inner.add_default_route(gw)?;
                }
                Ok(())
            })
        })();
        if let Err(e) = res {
            if let Ok(mut nl) = Netlink::open() {
                let _ = nl.del_link(&veth);
            }
            let _ = std::fs::remove_file(&ep_path);
            return Err(e);
        }
        drop(_l);
        if !ep.ports.is_empty() {
            self.sync_firewall()?;
        }
        if net.name != DEFAULT {
            if let Err(e) = dns::ensure(&self.dir.join(&net.id), net) {
                tracing::warn!(error = %e, "starting the network's DNS server");
            }
        }
        Ok(ep)
    }

    /// The container holding host port `p`, if any (this root).
    fn port_owner(&self, p: &PortBinding) -> Option<String> {
        for n in self.list() {
            for e in self.endpoints(&n) {
                for q in &e.ports {
                    if q.host_port == p.host_port
                        && q.proto == p.proto
                        && (q.host_ip == p.host_ip
                            || q.host_ip == "0.0.0.0"
                            || p.host_ip == "0.0.0.0")
                    {
                        return Some(e.container.clone());
                    }
                }
            }
        }
        None
    }

    /// Disconnects a container from every network (or only `only`):
    /// its veth, address and rules go. Safe to call twice. With `lazy`, the
    /// caller is about to drop the container's namespace, and the kernel
    /// removes the veth pair with it in the background: deleting it here
    /// would wait for a network synchronization (~20 ms).
    pub fn detach_all(&self, container: &str, only: Option<&str>, lazy: bool) -> Result<()> {
        let mut had_ports = false;
        {
            let _l = self.lock()?;
            let mut nl = Netlink::open()?;
            for n in self.list() {
                if only.is_some_and(|o| o != n.id) {
                    continue;
                }
                let p = self.endpoints_dir(&n.id).join(format!("{container}.json"));
                let Ok(bytes) = std::fs::read(&p) else {
                    continue;
                };
                if let Ok(ep) = serde_json::from_slice::<Endpoint>(&bytes) {
                    had_ports |= !ep.ports.is_empty();
                    if !lazy {
                        nl.del_link(&ep.veth)?;
                    }
                }
                let _ = std::fs::remove_file(&p);
            }
        }
        if had_ports {
            self.sync_firewall()?;
        }
        Ok(())
    }

    /// The endpoints of a container, with their networks.
    pub fn endpoints_of(&self, container: &str) -> Vec<(Network, Endpoint)> {
        let mut v = Vec::new();
        for n in self.list() {
            let p = self.endpoints_dir(&n.id).join(format!("{container}.json"));
            if let Some(ep) = std::fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<Endpoint>(&b).ok())
            {
                v.push((n, ep));
            }
        }
        v
    }

    /// Rewrites berth's nftables table from the state.
    pub fn sync_firewall(&self) -> Result<()> {
        let nets = self.list();
        let mut eps = Vec::new();
        for n in &nets {
            for e in self.endpoints(n) {
                eps.push((n.clone(), e));
            }
        }
        nft::apply(&self.table(), &nets, &eps)
    }
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || Error::Invalid(format!("invalid MAC address: {s}"));
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut out = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        out[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Parses `-p`: `[ip:][hostPort:]containerPort[/proto]`, ranges included.
pub fn parse_publish(s: &str) -> Result<Vec<PortBinding>> {
    let bad = |why: &str| {
        Error::Invalid(format!(
            "invalid argument \"{s}\" for \"-p, --publish\" flag: {why}"
        ))
    };
    let (rest, proto) = match s.rsplit_once('/') {
        Some((r, p)) if matches!(p, "tcp" | "udp" | "sctp") => (r, p.to_string()),
        Some((_, p)) => return Err(bad(&format!("invalid proto: {p}"))),
        None => (s, "tcp".to_string()),
    };
    let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("0.0.0.0", "", *c),
        [c, h] => ("0.0.0.0", *h, *c),
        [c, h, i] => (*i, *h, *c),
        _ => return Err(bad("too many colons")),
    };
    let ip = if ip.is_empty() {
        "0.0.0.0"
    } else {
        ip.trim_matches(|c| c == '[' || c == ']')
    };
    ip.parse::<Ipv4Addr>()
        .map_err(|_| bad(&format!("invalid IP address: {ip}")))?;
    let range = |r: &str| -> Result<(u16, u16)> {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let a: u16 = a
            .parse()
            .map_err(|_| bad(&format!("invalid containerPort: {r}")))?;
        let b: u16 = b
            .parse()
            .map_err(|_| bad(&format!("invalid containerPort: {r}")))?;
        if a == 0 || b < a {
            return Err(bad(&format!("invalid port range: {r}")));
        }
        Ok((a, b))
    };
    let (c0, c1) = range(ctr)?;
    let (h0, h1) = if host.is_empty() {
        (0, 0)
    } else {
        range(host)?
    };
    let n = (c1 - c0) as usize + 1;
    if h0 != 0 && (h1 - h0) as usize + 1 != n {
        return Err(bad("port ranges don't match"));
    }
    Ok((0..n)
        .map(|i| PortBinding {
            host_ip: ip.to_string(),
            host_port: if h0 == 0 { 0 } else { h0 + i as u16 },
            container_port: c0 + i as u16,
            proto: proto.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_flags() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(
            (p[0].host_port, p[0].container_port, p[0].proto.as_str()),
            (8080, 80, "tcp")
        );
        let p = parse_publish("127.0.0.1:53:53/udp").unwrap();
        assert_eq!(
            (p[0].host_ip.as_str(), p[0].proto.as_str()),
            ("127.0.0.1", "udp")
        );
        assert_eq!(parse_publish("80").unwrap()[0].host_port, 0);
        assert_eq!(parse_publish("7000-7002:8000-8002").unwrap().len(), 3);
        assert!(parse_publish("7000-7001:80").is_err());
        assert!(parse_publish("x:80").is_err());
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            parse_cidr("10.1.2.3/16").unwrap(),
            (Ipv4Addr::new(10, 1, 0, 0), 16)
        );
        assert!(overlaps(
            (Ipv4Addr::new(10, 1, 0, 0), 16),
            (Ipv4Addr::new(10, 1, 5, 0), 24)
        ));
        assert!(!overlaps(
            (Ipv4Addr::new(10, 1, 0, 0), 16),
            (Ipv4Addr::new(10, 2, 0, 0), 16)
        ));
        assert!(!overlaps(
            (Ipv4Addr::new(0, 0, 0, 0), 0),
            (Ipv4Addr::new(10, 2, 0, 0), 16)
        ));
    }
}
