//! `system df` and `system prune`.

use std::collections::{HashMap, HashSet};

use berth_engine::Engine;
use clap::{Args, Subcommand};

use crate::containers::confirm;
use crate::{units, CmdResult};

/// `system` subcommands.
#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    /// Show docker disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(PruneArgs),
    /// Display system-wide information
    Info,
}

/// Flags of `system df`.
#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
}

/// Flags of `system prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

fn pct(part: u64, total: u64) -> String {
    match (part * 100).checked_div(total) {
        Some(p) => format!(" ({p}%)"),
        None => String::new(),
    }
}

/// The numbers behind `system df`.
struct Usage {
    images: (usize, usize, u64, u64),
    containers: (usize, usize, u64, u64),
    volumes: (usize, usize, u64, u64),
    build_cache: (usize, usize, u64, u64),
}

fn usage(e: &Engine) -> Result<Usage, crate::Failure> {
    let containers = e.list()?;
    let all_images = e.images().list()?;
    // Intermediate build images count as build cache, as in docker.
    let intermediate = berth_build::executor::intermediate_ids(e.root());
    let (cache_images, images): (Vec<_>, Vec<_>) = all_images
        .into_iter()
        .partition(|i| i.repo_tags.is_empty() && intermediate.contains(&i.id));
    let used: HashSet<&str> = containers.iter().map(|c| c.image.as_str()).collect();
    // Layers are shared: count each once.
    let mut layer_users: HashMap<&str, bool> = HashMap::new();
    for i in &images {
        for l in &i.layers {
            let e = layer_users.entry(l.as_str()).or_insert(false);
            *e |= used.contains(i.id.as_str());
        }
    }
    let (mut isize, mut ireclaim) = (0, 0);
    for (l, in_use) in &layer_users {
        let s = e.images().layer_size(l);
        isize += s;
        if !in_use {
            ireclaim += s;
        }
    }
    let active_images = images
        .iter()
        .filter(|i| used.contains(i.id.as_str()))
        .count();
    let (mut csize, mut creclaim) = (0, 0);
    for c in &containers {
        let s = e.size_rw(&c.id);
        csize += s;
        if !c.state.running {
            creclaim += s;
        }
    }
    let running = containers.iter().filter(|c| c.state.running).count();
    let vols = e.volumes().list();
    let (mut vsize, mut vreclaim, mut vactive) = (0, 0, 0);
    for v in &vols {
        let s = e.volumes().size(&v.name);
        vsize += s;
        if e.volume_users(&v.name).is_empty() {
            vreclaim += s;
        } else {
            vactive += 1;
        }
    }
    // Build cache: the layers only intermediate images have, and RUN
    // --mount=type=cache directories.
    let mut cache_layers: HashSet<&str> = HashSet::new();
    for i in &cache_images {
        for l in &i.layers {
            if !layer_users.contains_key(l.as_str()) {
                cache_layers.insert(l.as_str());
            }
        }
    }
    let mut bsize: u64 = cache_layers.iter().map(|l| e.images().layer_size(l)).sum();
    let mounts = e.root().join("builder/mounts");
    let mut mount_count = 0;
    if let Ok(rd) = std::fs::read_dir(&mounts) {
        for d in rd.flatten() {
            mount_count += 1;
            bsize += berth_engine::du(&d.path());
        }
    }
    let entries = std::fs::read_dir(e.root().join("builder/cache"))
        .map(|rd| {
            rd.flatten()
                .filter(|f| f.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0);
    Ok(Usage {
        build_cache: (entries + mount_count, 0, bsize, bsize),
        images: (images.len(), active_images, isize, ireclaim),
        containers: (containers.len(), running, csize, creclaim),
        volumes: (vols.len(), vactive, vsize, vreclaim),
    })
}

/// Runs a `system` subcommand.
pub fn run(e: &Engine, cli: &crate::Cli, cmd: &SystemCmd) -> CmdResult {
    match cmd {
        SystemCmd::Info => crate::containers::info(e, cli, None),
        SystemCmd::Df(a) => {
            let u = usage(e)?;
            let mut tw = tabwriter::TabWriter::new(std::io::stdout())
                .minwidth(7)
                .padding(3);
            use std::io::Write;
            let _ = writeln!(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE");
            for (name, (total, active, size, reclaim)) in [
                ("Images", u.images),
                ("Containers", u.containers),
                ("Local Volumes", u.volumes),
                ("Build Cache", u.build_cache),
            ] {
                let _ = writeln!(
                    tw,
                    "{name}\t{total}\t{active}\t{}\t{}{}",
                    units::human_size(size),
                    units::human_size(reclaim),
                    pct(reclaim, size)
                );
            }
            let _ = tw.flush();
            if a.verbose {
                println!("\nImages space usage:\n");
                for i in e.images().list()? {
                    let tag = i
                        .repo_tags
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "<none>:<none>".into());
                    println!("{tag}\t{}\t{}", &i.id[7..19], units::human_size(i.size));
                }
                println!("\nContainers space usage:\n");
                for c in e.list()? {
                    println!(
                        "{}\t{}\t{}",
                        c.short_id(),
                        c.short_name(),
                        units::human_size(e.size_rw(&c.id))
                    );
                }
                println!("\nLocal Volumes space usage:\n");
                for v in e.volumes().list() {
                    println!(
                        "{}\t{}",
                        v.name,
                        units::human_size(e.volumes().size(&v.name))
                    );
                }
            }
            Ok(0)
        }
        SystemCmd::Prune(a) => {
            let mut warning =
                String::from("WARNING! This will remove:\n  - all stopped containers\n");
            if a.volumes {
                warning.push_str("  - all anonymous volumes not used by at least one container\n");
            }
            warning.push_str(if a.all {
                "  - all images without at least one container associated to them\n"
            } else {
                "  - all dangling images\n"
            });
            warning.push_str("  - unused build cache\n");
            if !a.force && !confirm(&warning) {
                return Ok(0);
            }
            let mut reclaimed = 0;
            let mut deleted = Vec::new();
            for c in e.list()?.into_iter().filter(|c| !c.state.running) {
                let s = e.size_rw(&c.id);
                if e.remove(&c.id, false).is_ok() {
                    reclaimed += s;
                    deleted.push(c.id);
                }
            }
            if !deleted.is_empty() {
                println!("Deleted Containers:\n{}\n", deleted.join("\n"));
            }
            if a.volumes {
                let mut gone = Vec::new();
                for v in e.volumes().list() {
                    if v.anonymous && e.volume_users(&v.name).is_empty() {
                        let s = e.volumes().size(&v.name);
                        if e.volume_remove(&v.name, false).is_ok() {
                            reclaimed += s;
                            gone.push(v.name);
                        }
                    }
                }
                if !gone.is_empty() {
                    println!("Deleted Volumes:\n{}\n", gone.join("\n"));
                }
            }
            let in_use: HashSet<String> = e.list()?.into_iter().map(|c| c.image).collect();
            let (events, bytes) = e.images().prune(a.all, &|id: &str| in_use.contains(id))?;
            if !events.is_empty() {
                println!("Deleted Images:");
                for ev in &events {
                    match ev {
                        berth_image::RemoveEvent::Untagged(r) => println!("untagged: {r}"),
                        berth_image::RemoveEvent::Deleted(d) => println!("deleted: {d}"),
                    }
                }
                println!();
            }
            reclaimed += bytes;
            reclaimed += berth_build::executor::prune(e);
            println!("Total reclaimed space: {}", units::human_size(reclaimed));
            Ok(0)
        }
    }
}
