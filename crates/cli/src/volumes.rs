//! `volume` commands: create, ls, inspect, rm, prune.

use std::collections::BTreeMap;

use berth_engine::Engine;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::containers::{confirm, label_matches, Filters};
use crate::{format, units, CmdResult, Failure};

/// `volume` subcommands.
#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// Flags of `volume create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// The name (generated when absent)
    pub name: Option<String>,
}

/// Flags of `volume ls`.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

/// Flags of `volume inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Volumes
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Flags of `volume rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    pub force: bool,
    /// Volumes
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Flags of `volume prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long)]
    pub filter: Vec<String>,
}

fn inspect_value(v: &berth_engine::volumes::Volume) -> Value {
    let mut j = serde_json::to_value(v).unwrap_or_default();
    if let Some(o) = j.as_object_mut() {
        o.remove("BerthAnonymous");
    }
    j
}

/// Runs a `volume` subcommand.
pub fn run(e: &Engine, cmd: &VolumeCmd) -> CmdResult {
    match cmd {
        VolumeCmd::Create(a) => {
            if a.driver != "local" {
                return Err(Failure::new(
                    1,
                    format!("plugin \"{}\" not found", a.driver),
                ));
            }
            let mut labels = BTreeMap::new();
            for l in &a.label {
                let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                labels.insert(k.to_string(), v.to_string());
            }
            let name = a.name.as_deref().or(a.name_flag.as_deref());
            let v = e.volumes().create(name, labels, false)?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCmd::Ls(a) => {
            let filters = Filters::parse(&a.filter, &["dangling", "name", "label", "driver"])?;
            let mut rows = Vec::new();
            for v in e.volumes().list() {
                if let Some(d) = filters.get("dangling") {
                    let want = d.iter().any(|x| x == "true" || x == "1");
                    if want != e.volume_users(&v.name).is_empty() {
                        continue;
                    }
                }
                if let Some(n) = filters.get("name") {
                    if !n.iter().any(|n| v.name.contains(n.as_str())) {
                        continue;
                    }
                }
                if let Some(l) = filters.get("label") {
                    if !l.iter().all(|l| label_matches(&v.labels, l)) {
                        continue;
                    }
                }
                if a.quiet {
                    println!("{}", v.name);
                    continue;
                }
                let labels: Vec<String> =
                    v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect();
                rows.push(json!({
                    "Driver": v.driver, "Name": v.name, "Mountpoint": v.mountpoint,
                    "Scope": v.scope, "Labels": labels.join(","), "Size": "N/A",
                    "Links": "N/A", "CreatedAt": v.created_at,
                }));
            }
            if a.quiet {
                return Ok(0);
            }
            let fmt = match a.format.as_deref() {
                None | Some("") | Some("table") => "table {{.Driver}}\t{{.Name}}",
                Some(f) => f,
            };
            const HEADERS: &[(&str, &str)] = &[
                ("Driver", "DRIVER"),
                ("Name", "VOLUME NAME"),
                ("Mountpoint", "MOUNTPOINT"),
                ("Scope", "SCOPE"),
                ("Labels", "LABELS"),
                ("Size", "SIZE"),
                ("Links", "LINKS"),
                ("CreatedAt", "CREATED AT"),
            ];
            print!("{}", format::render_list(fmt, HEADERS, &rows)?);
            Ok(0)
        }
        VolumeCmd::Inspect(a) => {
            let mut out = Vec::new();
            let mut err = None;
            for n in &a.names {
                match e.volumes().get(n) {
                    Ok(v) => out.push(inspect_value(&v)),
                    Err(x) => err = Some(x),
                }
            }
            crate::print_inspect(&out, a.format.as_deref())?;
            match err {
                Some(x) => Err(x.into()),
                None => Ok(0),
            }
        }
        VolumeCmd::Rm(a) => {
            let mut failed = false;
            for n in &a.names {
                match e.volume_remove(n, a.force) {
                    Ok(()) => println!("{n}"),
                    Err(berth_engine::Error::NoSuchVolume(_)) if a.force => println!("{n}"),
                    Err(x) => {
                        eprintln!("Error response from daemon: {x}");
                        failed = true;
                    }
                }
            }
            Ok(u8::from(failed))
        }
        VolumeCmd::Prune(a) => {
            let warning = if a.all {
                "WARNING! This will remove all local volumes not used by at least one container."
            } else {
                "WARNING! This will remove anonymous local volumes not used by at least one container."
            };
            if !a.force && !confirm(warning) {
                return Ok(0);
            }
            let filters = Filters::parse(&a.filter, &["label", "all"])?;
            let mut deleted = Vec::new();
            let mut reclaimed = 0;
            for v in e.volumes().list() {
                if !(a.all || v.anonymous) || !e.volume_users(&v.name).is_empty() {
                    continue;
                }
                if let Some(l) = filters.get("label") {
                    if !l.iter().all(|l| label_matches(&v.labels, l)) {
                        continue;
                    }
                }
                let size = e.volumes().size(&v.name);
                if e.volume_remove(&v.name, false).is_ok() {
                    reclaimed += size;
                    deleted.push(v.name);
                }
            }
            if !deleted.is_empty() {
                println!("Deleted Volumes:");
                for d in &deleted {
                    println!("{d}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", units::human_size(reclaimed));
            Ok(0)
        }
    }
}
