//! Docker image references, parsed and normalized like
//! `github.com/distribution/reference`'s `ParseNormalizedNamed`.
//!
//! ```text
//! reference   := name [ ":" tag ] [ "@" digest ]
//! name        := [domain '/'] path-component ['/' path-component]*
//! domain      := host [':' port-number]
//! path-comp   := [a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)*
//! tag         := [\w][\w.-]{0,127}
//! digest      := algorithm ":" hex
//! ```

use std::fmt;

/// The registry used when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a string is not a valid reference; messages are distribution's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `invalid reference format`
    #[error("invalid reference format")]
    InvalidFormat,
    /// `invalid tag format`
    #[error("invalid tag format")]
    InvalidTag,
    /// `invalid digest format`
    #[error("invalid digest format")]
    InvalidDigest,
    /// `repository name must have at least one component`
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// `repository name must be lowercase`
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// `invalid reference format: repository name (<name>) must be lowercase`
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    RemoteNameUppercase(String),
    /// `repository name must not be more than 255 characters`
    #[error("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")]
    NameTooLong,
    /// `invalid repository name (<s>), cannot specify 64-byte hexadecimal strings`
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
}

/// A parsed, fully-qualified reference (`docker.io/library/busybox:latest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// True if `s` is exactly 64 lowercase hex digits (an image id without `sha256:`).
pub fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !is_lower_alnum(b[0]) || !is_lower_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_lower_alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator run
        let start = i;
        while i < b.len() && !is_lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host [':' port]` where host is a domain name or a bracketed IPv6 address.
fn valid_domain(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let ip = &rest[..end];
        if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        let after = &rest[end + 1..];
        if after.is_empty() {
            return true;
        }
        match after.strip_prefix(':') {
            Some(p) => ("x", Some(p)),
            None => return false,
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

fn valid_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn check_digest(s: &str) -> Result<(), ParseError> {
    let Some((alg, hex)) = s.split_once(':') else {
        return Err(ParseError::InvalidFormat);
    };
    let alg_ok = !alg.is_empty()
        && alg.split(['-', '_', '+', '.']).all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b.iter().all(|x| x.is_ascii_alphanumeric())
        });
    if !alg_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseError::InvalidFormat);
    }
    if alg == "sha256" && !is_full_hex_id(hex) {
        return Err(ParseError::InvalidDigest);
    }
    Ok(())
}

/// Does `s` match the reference grammar (case-sensitively)? Returns the parts.
fn match_reference(s: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (rest, None),
    };
    if let Some(t) = tag {
        if !valid_tag(t) {
            return None;
        }
    }
    if let Some(d) = digest {
        if d.contains('@') || check_digest(d) == Err(ParseError::InvalidFormat) {
            return None;
        }
    }
    let comps: Vec<&str> = name.split('/').collect();
    let all_path = comps.iter().all(|c| valid_path_component(c));
    let with_domain = comps.len() > 1
        && valid_domain(comps[0])
        && comps[1..].iter().all(|c| valid_path_component(c));
    if !(all_path || with_domain) {
        return None;
    }
    Some((name, tag, digest))
}

/// `reference.Parse`: parse without normalizing.
fn parse_plain(s: &str) -> Result<(String, Option<String>, Option<String>), ParseError> {
    let Some((name, tag, digest)) = match_reference(s) else {
        if s.is_empty() {
            return Err(ParseError::NameEmpty);
        }
        if match_reference(&s.to_lowercase()).is_some() {
            return Err(ParseError::NameContainsUppercase);
        }
        return Err(ParseError::InvalidFormat);
    };
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ParseError::NameTooLong);
    }
    if let Some(d) = digest {
        check_digest(d)?;
    }
    Ok((
        name.to_string(),
        tag.map(str::to_string),
        digest.map(str::to_string),
    ))
}

fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i) => {
            let first = &name[..i];
            if !first.contains(['.', ':']) && first != "localhost" && first.to_lowercase() == first
            {
                (DEFAULT_DOMAIN.to_string(), name.to_string())
            } else {
                (first.to_string(), name[i + 1..].to_string())
            }
        }
        None => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

impl Reference {
    /// `reference.ParseNormalizedNamed`: `busybox` → `docker.io/library/busybox`
    /// (no tag is added; see [`Reference::with_default_tag`]).
    pub fn parse_normalized(s: &str) -> Result<Reference, ParseError> {
        if is_full_hex_id(s) {
            return Err(ParseError::HexName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote_name = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => &remainder[..],
        };
        if remote_name.to_lowercase() != remote_name {
            return Err(ParseError::RemoteNameUppercase(remote_name.to_string()));
        }
        let (name, tag, digest) = parse_plain(&format!("{domain}/{remainder}"))?;
        let path = name[domain.len() + 1..].to_string();
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// Parse and add the default tag `latest` when there is neither tag nor digest
    /// (`reference.TagNameOnly(ParseNormalizedNamed(s))`).
    pub fn parse_tagged(s: &str) -> Result<Reference, ParseError> {
        Ok(Self::parse_normalized(s)?.with_default_tag())
    }

    /// `reference.TagNameOnly`.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The registry host (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The repository path (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The full repository name (`docker.io/library/busybox`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    /// The digest (`sha256:…`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `reference.FamiliarName`: `busybox`, `localhost:5000/foo`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            if let Some(rest) = self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                if !rest.contains('/') {
                    return rest.to_string();
                }
            }
            return self.path.clone();
        }
        self.name()
    }

    /// `reference.FamiliarString`: `busybox:latest`.
    pub fn familiar_string(&self) -> String {
        self.with_suffix(self.familiar_name())
    }

    fn with_suffix(&self, mut s: String) -> String {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_suffix(self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse_normalized(s).unwrap().to_string()
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("library/busybox"), "docker.io/library/busybox");
        assert_eq!(norm("index.docker.io/busybox"), "docker.io/library/busybox");
        assert_eq!(norm("docker.io/busybox"), "docker.io/library/busybox");
        assert_eq!(norm("dmcgowan/myapp"), "docker.io/dmcgowan/myapp");
        assert_eq!(norm("dmcgowan/myapp/foo"), "docker.io/dmcgowan/myapp/foo");
        assert_eq!(norm("localhost/foo"), "localhost/foo");
        assert_eq!(norm("localhost:5000/foo:v1"), "localhost:5000/foo:v1");
        assert_eq!(norm("example.com/a/b:t"), "example.com/a/b:t");
        assert_eq!(norm("[::1]:5000/foo"), "[::1]:5000/foo");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            norm(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            norm(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox:1@{d}")
        );
        assert_eq!(
            Reference::parse_tagged("busybox").unwrap().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            Reference::parse_tagged(&format!("busybox@{d}"))
                .unwrap()
                .tag(),
            None
        );
        // a tag that looks like a port
        assert_eq!(norm("localhost:5000"), "docker.io/library/localhost:5000");
    }

    #[test]
    fn familiar_forms() {
        let f = |s: &str| Reference::parse_tagged(s).unwrap().familiar_string();
        assert_eq!(f("busybox"), "busybox:latest");
        assert_eq!(f("docker.io/library/busybox:1.36"), "busybox:1.36");
        assert_eq!(f("docker.io/foo/bar"), "foo/bar:latest");
        assert_eq!(f("docker.io/library/a/b"), "library/a/b:latest");
        assert_eq!(f("localhost:5000/foo:v1"), "localhost:5000/foo:v1");
        assert_eq!(f("quay.io/x/y:z"), "quay.io/x/y:z");
    }

    #[test]
    fn rejects_like_docker() {
        let e = |s: &str| Reference::parse_normalized(s).unwrap_err().to_string();
        assert_eq!(
            e("Busybox"),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            e("foo/Bar"),
            "invalid reference format: repository name (foo/Bar) must be lowercase"
        );
        // docker normalizes "" to "docker.io/library/" first
        assert_eq!(e(""), "invalid reference format");
        assert_eq!(
            parse_plain("").unwrap_err().to_string(),
            "repository name must have at least one component"
        );
        assert_eq!(e("a:b:c"), "invalid reference format");
        assert_eq!(e("-foo"), "invalid reference format");
        assert_eq!(e("foo-"), "invalid reference format");
        assert_eq!(e("foo..bar"), "invalid reference format");
        assert_eq!(e("foo:"), "invalid reference format");
        assert_eq!(e("foo:-x"), "invalid reference format");
        assert_eq!(
            e(&format!("foo:{}", "a".repeat(129))),
            "invalid reference format"
        );
        assert_eq!(e("foo@sha256:abc"), "invalid reference format");
        assert_eq!(
            e(&format!("foo@sha256:{}", "a".repeat(40))),
            "invalid digest format"
        );
        assert_eq!(e("foo//bar"), "invalid reference format");
        assert_eq!(e("a b"), "invalid reference format");
        let hex = "0".repeat(64);
        assert_eq!(
            e(&hex),
            format!("invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings")
        );
        assert_eq!(
            e(&format!("{}/x", "a".repeat(255))),
            "repository name must not be more than 255 characters"
        );
        // uppercase domains are fine
        assert_eq!(norm("Example.com/foo"), "Example.com/foo");
        // separators
        assert!(Reference::parse_normalized("a__b/c---d/e.f_g").is_ok());
        assert!(Reference::parse_normalized("a___b").is_err());
    }
}
