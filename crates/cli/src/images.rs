//! Image commands: import, images, tag, rmi, history, inspect, prune.

use std::collections::HashSet;

use berth_engine::Engine;
use berth_image::{Image, ImportOptions, RemoveEvent};
use clap::Args;
use serde_json::{json, Value};

use crate::containers::{confirm, label_matches, Filters};
use crate::{format, units, CmdResult, Failure, InspectArgs};

/// Flags of `import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// A tar file, tar.gz or tar.zst, or - for stdin
    pub file: String,
    /// Repository and tag for the new image
    pub reference: Option<String>,
}

/// Flags of `images`.
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Repository (and optional tag) to list
    pub repository: Option<String>,
}

/// Flags of `tag`.
#[derive(Args, Debug)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

/// Flags of `rmi`.
#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// Images
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Flags of `history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Image
    pub image: String,
}

/// Flags of `image prune`.
#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
}

/// `docker import`.
pub fn import(e: &Engine, a: &ImportArgs) -> CmdResult {
    if a.file.starts_with("https://") {
        return Err(Failure::new(
            1,
            format!("importing from an https URL ({}) is not supported yet: download it and import the file", a.file),
        ));
    }
    let opts = ImportOptions {
        reference: a.reference.clone(),
        changes: a.change.clone(),
        message: a.message.clone(),
        source_name: a.file.clone(),
    };
    let id = if a.file.starts_with("http://") {
        let mut body = http_get(&a.file).map_err(|m| Failure::new(1, m))?;
        e.images().import(&mut body, &opts)?
    } else if a.file == "-" {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        e.images().import(&mut lock, &opts)?
    } else {
        let mut f = std::fs::File::open(&a.file)
            .map_err(|err| Failure::new(1, format!("open {}: {}", a.file, err)))?;
        e.images().import(&mut f, &opts)?
    };
    println!("{id}");
    Ok(0)
}

/// A plain `http://` GET (HTTP/1.0, so the body ends when the server closes),
/// following up to five redirects. Returns the body as a stream.
fn http_get(url: &str) -> Result<impl std::io::Read, String> {
    use std::io::{BufRead, BufReader, Write};
    let mut url = url.to_string();
    for _ in 0..5 {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("unsupported URL: {url}"))?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr = if hostport.contains(':') {
            hostport.to_string()
        } else {
            format!("{hostport}:80")
        };
        let mut s = std::net::TcpStream::connect(&addr)
            .map_err(|e| format!("Get \"{url}\": dial tcp {addr}: {e}"))?;
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: {hostport}\r\nUser-Agent: berth\r\n\r\n"
        )
        .map_err(|e| format!("Get \"{url}\": {e}"))?;
        let mut r = BufReader::new(s);
        let mut status = String::new();
        r.read_line(&mut status)
            .map_err(|e| format!("Get \"{url}\": {e}"))?;
        let code: u16 = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut location = None;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)
                .map_err(|e| format!("Get \"{url}\": {e}"))?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("location") {
                    location = Some(v.trim().to_string());
                }
            }
        }
        match code {
            200 => return Ok(r),
            301 | 302 | 303 | 307 | 308 => {
                let loc =
                    location.ok_or_else(|| format!("Get \"{url}\": redirect without Location"))?;
                url = if loc.starts_with('/') {
                    format!("http://{hostport}{loc}")
                } else {
                    loc
                };
            }
            _ => {
                return Err(format!(
                    "Get \"{url}\": unexpected status {}",
                    status.trim()
                ))
            }
        }
    }
    Err(format!("Get \"{url}\": stopped after 5 redirects"))
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Splits a familiar `repo:tag` into its parts (the tag is after the last
/// `:` that follows the last `/`).
fn split_tag(r: &str) -> (&str, &str) {
    let slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[slash..].rfind(':') {
        Some(i) => (&r[..slash + i], &r[slash + i + 1..]),
        None => (r, "latest"),
    }
}

/// A tiny `path.Match`: `*` and `?` that do not cross `/`.
fn glob(pat: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && m(p, &s[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pat.as_bytes(), s.as_bytes())
}

fn reference_matches(img: &Image, pat: &str) -> bool {
    img.repo_tags.iter().any(|t| {
        let (repo, _) = split_tag(t);
        glob(pat, t) || glob(pat, repo)
    })
}

/// `docker images`.
pub fn images(e: &Engine, a: &ImagesArgs) -> CmdResult {
    let filters = Filters::parse(
        &a.filter,
        &["dangling", "reference", "before", "since", "label"],
    )?;
    let mut list = e.images().list()?;
    list.sort_by_key(|i| std::cmp::Reverse(i.created));
    let bound = |key: &str| -> Result<Option<Image>, Failure> {
        match filters.get(key).and_then(|v| v.last()) {
            Some(r) => Ok(Some(e.images().get(r)?)),
            None => Ok(None),
        }
    };
    let before = bound("before")?;
    let since = bound("since")?;
    // Intermediate build images are listed with -a only, as docker does.
    let intermediate = if a.all {
        HashSet::new()
    } else {
        berth_build::executor::intermediate_ids(e.root())
    };
    list.retain(|img| {
        if img.repo_tags.is_empty() && intermediate.contains(&img.id) {
            return false;
        }
        if let Some(v) = filters.get("dangling") {
            let want = v.iter().any(|x| x == "true" || x == "1");
            if want != img.repo_tags.is_empty() {
                return false;
            }
        }
        if let Some(v) = filters.get("reference") {
            if !v.iter().any(|p| reference_matches(img, p)) {
                return false;
            }
        }
        if let Some(v) = filters.get("label") {
            if !v.iter().all(|l| label_matches(&img.labels, l)) {
                return false;
            }
        }
        if let Some(b) = &before {
            if img.created >= b.created {
                return false;
            }
        }
        if let Some(s) = &since {
            if img.created <= s.created {
                return false;
            }
        }
        if let Some(r) = &a.repository {
            if !reference_matches(img, r) && !reference_matches(img, &format!("{r}:*")) {
                return false;
            }
        }
        true
    });
    let users: HashSet<String> = e
        .list()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.image)
        .collect();
    let mut rows = Vec::new();
    for img in &list {
        let id = if a.no_trunc {
            img.id.clone()
        } else {
            short_id(&img.id)
        };
        let digest = img
            .repo_digests
            .first()
            .and_then(|d| d.split_once('@').map(|(_, d)| d.to_string()))
            .unwrap_or_else(|| "<none>".into());
        let base = json!({
            "ID": id,
            "CreatedAt": img.created.format("%Y-%m-%d %H:%M:%S %z UTC").to_string(),
            "CreatedSince": units::since(img.created),
            "Size": units::human_size(img.size),
            "VirtualSize": units::human_size(img.size),
            "SharedSize": "N/A",
            "UniqueSize": "N/A",
            "Containers": if users.contains(&img.id) { "1" } else { "0" },
            "Digest": digest,
        });
        let tags: Vec<(String, String)> = if img.repo_tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            img.repo_tags
                .iter()
                .map(|t| {
                    let (r, t) = split_tag(t);
                    (r.to_string(), t.to_string())
                })
                .collect()
        };
        for (repo, tag) in tags {
            let mut row = base.clone();
            row["Repository"] = json!(repo);
            row["Tag"] = json!(tag);
            rows.push(row);
        }
    }
    if a.quiet {
        let mut seen = HashSet::new();
        for r in &rows {
            let id = r["ID"].as_str().unwrap_or_default();
            if seen.insert(id.to_string()) {
                println!("{id}");
            }
        }
        return Ok(0);
    }
    let fmt = match a.format.as_deref() {
        None | Some("") | Some("table") if a.digests => {
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        }
        None | Some("") | Some("table") => {
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        }
        Some(f) => f,
    };
    const HEADERS: &[(&str, &str)] = &[
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("Containers", "CONTAINERS"),
    ];
    print!("{}", format::render_list(fmt, HEADERS, &rows)?);
    Ok(0)
}

/// `docker tag`.
pub fn tag(e: &Engine, a: &TagArgs) -> CmdResult {
    e.images().tag(&a.source, &a.target)?;
    Ok(0)
}

fn print_events(events: &[RemoveEvent], lower: bool) {
    for ev in events {
        match ev {
            RemoveEvent::Untagged(r) => {
                println!("{}: {r}", if lower { "untagged" } else { "Untagged" })
            }
            RemoveEvent::Deleted(d) => {
                println!("{}: {d}", if lower { "deleted" } else { "Deleted" })
            }
        }
    }
}

/// `docker rmi`.
pub fn rmi(e: &Engine, a: &RmiArgs) -> CmdResult {
    let containers = e.list().unwrap_or_default();
    let users = |id: &str| -> Vec<String> {
        containers
            .iter()
            .filter(|c| c.image == id)
            .map(|c| c.id.clone())
            .collect()
    };
    let mut failed = false;
    for name in &a.images {
        match e.images().remove(name, a.force, &users) {
            Ok(events) => print_events(&events, false),
            Err(err) => {
                eprintln!("Error response from daemon: {err}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `docker history`.
pub fn history(e: &Engine, a: &HistoryArgs) -> CmdResult {
    let entries = e.images().history(&a.image)?;
    if a.quiet {
        for h in &entries {
            let id = if a.no_trunc || h.id == "<missing>" {
                h.id.clone()
            } else {
                short_id(&h.id)
            };
            println!("{id}");
        }
        return Ok(0);
    }
    let rows: Vec<Value> = entries
        .iter()
        .map(|h| {
            let id = if a.no_trunc || h.id == "<missing>" { h.id.clone() } else { short_id(&h.id) };
            let by = h.created_by.replace('\t', " ");
            let by = if a.no_trunc { by } else { ellipsis45(&by) };
            json!({
                "ID": id,
                "CreatedSince": if a.human { units::since(h.created) } else { h.created.to_rfc3339() },
                "CreatedAt": h.created.to_rfc3339(),
                "CreatedBy": by,
                "Size": if a.human { units::human_size(h.size) } else { h.size.to_string() },
                "Comment": h.comment,
            })
        })
        .collect();
    let fmt = match a.format.as_deref() {
        None | Some("") | Some("table") => {
            "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
        }
        Some(f) => f,
    };
    const HEADERS: &[(&str, &str)] = &[
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ];
    print!("{}", format::render_list(fmt, HEADERS, &rows)?);
    Ok(0)
}

fn ellipsis45(s: &str) -> String {
    if s.chars().count() <= 45 {
        return s.to_string();
    }
    let mut out: String = s.chars().take(44).collect();
    out.push('…');
    out
}

/// `docker image inspect`.
pub fn inspect(e: &Engine, a: &InspectArgs) -> CmdResult {
    let mut out = Vec::new();
    let mut missing = None;
    for n in &a.names {
        match e.images().inspect(n) {
            Ok(v) => out.push(v),
            Err(err) => missing = Some(err),
        }
    }
    crate::print_inspect(&out, a.format.as_deref())?;
    match missing {
        Some(err) => Err(err.into()),
        None => Ok(0),
    }
}

/// `docker image prune`.
pub fn prune(e: &Engine, a: &ImagePruneArgs) -> CmdResult {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let in_use: HashSet<String> = e
        .list()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.image)
        .collect();
    let (events, reclaimed) = e.images().prune(a.all, &|id: &str| in_use.contains(id))?;
    if !events.is_empty() {
        println!("Deleted Images:");
        print_events(&events, true);
        println!();
    }
    println!("Total reclaimed space: {}", units::human_size(reclaimed));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_like_docker() {
        assert_eq!(split_tag("busybox:latest"), ("busybox", "latest"));
        assert_eq!(
            split_tag("localhost:5000/a/b:v1"),
            ("localhost:5000/a/b", "v1")
        );
        assert_eq!(
            split_tag("localhost:5000/a"),
            ("localhost:5000/a", "latest")
        );
    }

    #[test]
    fn glob_matches_like_path_match() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("busybox:*", "busybox:latest"));
        assert!(!glob("*", "a/b"));
        assert!(glob("*/*", "a/b"));
        assert!(glob("b?sybox", "busybox"));
    }
}
