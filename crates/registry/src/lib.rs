#![forbid(unsafe_code)]
//! A small synchronous client for OCI distribution and Docker registries.
//!
//! Why not `oci-client`: it is async (tokio + reqwest) and hands blobs to an
//! `AsyncWrite`, while the store unpacks layers from a blocking `Read` on its
//! own threads; berth's `run` must not start a tokio runtime (it forks); and
//! a blocking client on `ureq` (rustls) is a much smaller build. Each blob is
//! a plain `Read` straight from the socket, so a pull streams it into
//! [`berth_image::Store::add_layer`] with bounded memory.
//!
//! Endpoints: `docker.io` is `registry-1.docker.io`; registries on
//! `localhost`, `127.0.0.0/8` and `::1` speak plain HTTP, as in docker; other
//! registries are HTTPS unless listed as insecure in the registries file
//! ([`RegistriesConf`]) or `--tls-verify=false` is given, when HTTPS without
//! certificate checks is tried first and plain HTTP after.
//!
//! Auth: anonymous, HTTP Basic and Bearer tokens from the `WWW-Authenticate`
//! challenge (`realm`, `service`, `scope`), refreshed before they expire and
//! fetched again on a 401.

pub mod creds;

use std::io::{self, Read, Seek};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use berth_kind::ErrorKind;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use creds::Credentials;

/// OCI image index.
pub const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list.
pub const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 2 manifest.
pub const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Errors talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A transport failure (connection refused, reset, TLS).
    #[error("{context}: {message}")]
    Transport {
        /// What was being done.
        context: String,
        /// The failure.
        message: String,
    },
    /// The registry answered with an error status.
    #[error("{message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Docker's wording, with the registry's errors.
        message: String,
    },
    /// `unauthorized: …`
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Content that does not match its digest or size.
    #[error("{0}")]
    Verify(String),
    /// A manifest berth cannot use.
    #[error("{0}")]
    Manifest(String),
    /// Reading or writing docker's config / the registries file.
    #[error("{0}")]
    Config(String),
    /// A `docker-credential-*` helper failed.
    #[error("error getting credentials - err: {0}")]
    Helper(String),
    /// Local I/O (reading a blob to push).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Status { status: 404, .. } => ErrorKind::NotFound,
            Error::Manifest(_) | Error::Config(_) => ErrorKind::Invalid,
            Error::Io { .. } => ErrorKind::Internal,
            _ => ErrorKind::Unavailable,
        }
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The registries file: `$BERTH_REGISTRIES_CONF`, else
/// `/etc/berth/registries.json`, shaped like docker's `daemon.json`:
/// `{"insecure-registries": ["myregistry:5000", "10.1.2.3:5000"]}`.
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    /// Registries (host[:port]) reached without TLS verification or over HTTP.
    pub insecure: Vec<String>,
}

impl RegistriesConf {
    /// Where the file is.
    pub fn path() -> PathBuf {
        std::env::var_os("BERTH_REGISTRIES_CONF")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/berth/registries.json"))
    }

    /// Load the file (absent: empty).
    pub fn load() -> Result<RegistriesConf> {
        let p = Self::path();
        let data = match std::fs::read(&p) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::Config(format!("reading {}: {e}", p.display()))),
        };
        let v: Value = serde_json::from_slice(&data)
            .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
        let insecure = v["insecure-registries"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(RegistriesConf { insecure })
    }
}

/// The host to talk to for a reference's domain.
pub fn registry_host(domain: &str) -> &str {
    if domain == "docker.io" || domain == "index.docker.io" {
        "registry-1.docker.io"
    } else {
        domain
    }
}

/// Whether `host[:port]` is on the loopback (`localhost`, `127.0.0.0/8`, `::1`).
pub fn is_loopback(host: &str) -> bool {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map(|(h, _)| h)
            .unwrap_or(host)
    };
    h == "localhost"
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Client options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--tls-verify=false`: every registry is insecure.
    pub tls_verify_off: bool,
    /// Registries file contents.
    pub conf: RegistriesConf,
    /// Credentials to use instead of docker's config (`login -u -p`).
    pub credentials: Option<Credentials>,
    /// Do not read docker's config for credentials.
    pub no_stored_credentials: bool,
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn agent(verify: bool) -> ureq::Agent {
    let mut b = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(300))
        .redirects(8)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")));
    if !verify {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        if let Ok(cfg) = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
        {
            let cfg = cfg
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                .with_no_client_auth();
            b = b.tls_config(Arc::new(cfg));
        }
    }
    b.build()
}

/// A registry client; cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Client {
    opts: Options,
    agent: ureq::Agent,
    insecure_agent: ureq::Agent,
}

impl Client {
    /// A client with these options.
    pub fn new(opts: Options) -> Client {
        Client {
            opts,
            agent: agent(true),
            insecure_agent: agent(false),
        }
    }

    fn insecure(&self, host: &str) -> bool {
        self.opts.tls_verify_off || self.opts.conf.insecure.iter().any(|h| h == host)
    }

    fn credentials(&self, domain: &str) -> Result<Option<Credentials>> {
        if let Some(c) = &self.opts.credentials {
            return Ok(Some(c.clone()));
        }
        if self.opts.no_stored_credentials {
            return Ok(None);
        }
        creds::get(domain)
    }

    /// A session with repository `path` (`library/busybox`) of registry
    /// `domain` (as in the reference: `docker.io`, `localhost:5000`), for the
    /// token scope `actions` (`pull` or `pull,push`).
    pub fn repo(&self, domain: &str, path: &str, actions: &str) -> Result<Repo> {
        let host = registry_host(domain).to_string();
        let (base, agent) = if is_loopback(&host) {
            (format!("http://{host}"), self.agent.clone())
        } else if self.insecure(&host) {
            // HTTPS without checks if it answers, else plain HTTP.
            let https = format!("https://{host}");
            match self.insecure_agent.get(&format!("{https}/v2/")).call() {
                Ok(_) | Err(ureq::Error::Status(..)) => (https, self.insecure_agent.clone()),
                Err(e) => {
                    tracing::debug!(%host, error = %e, "insecure registry: falling back to http");
                    (format!("http://{host}"), self.agent.clone())
                }
            }
        } else {
            (format!("https://{host}"), self.agent.clone())
        };
        Ok(Repo {
            agent,
            base,
            host,
            path: path.to_string(),
            scopes: Mutex::new(vec![format!("repository:{path}:{actions}")]),
            creds: self.credentials(domain)?,
            auth: Mutex::new(Auth::None),
        })
    }

    /// `docker login`: check `c` against `/v2/` of `domain`.
    pub fn check_login(&self, domain: &str) -> Result<()> {
        let repo = self.repo(domain, "", "")?;
        repo.scopes.lock().expect("lock").clear();
        if repo.creds.is_none() {
            return Err(Error::Unauthorized("no credentials".into()));
        }
        repo.login()
    }
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic(String),
    Bearer {
        header: String,
        expires: Instant,
        challenge: Challenge,
    },
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer` (lowercase).
    pub scheme: String,
    /// `realm`
    pub realm: String,
    /// `service`
    pub service: Option<String>,
    /// `scope`
    pub scope: Option<String>,
}

/// Parse `Bearer realm="…",service="…",scope="…"`.
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut c = Challenge {
        scheme: scheme.to_ascii_lowercase(),
        ..Default::default()
    };
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        let key = rest[ks..i].trim().to_ascii_lowercase();
        i += 1;
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                val.push(b[i] as char);
                i += 1;
            }
            i += 1;
        } else {
            let vs = i.min(b.len());
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = rest[vs..i.min(b.len())].trim().to_string();
        }
        match key.as_str() {
            "realm" => c.realm = val,
            "service" => c.service = Some(val),
            "scope" => c.scope = Some(val),
            _ => {}
        }
    }
    (!c.scheme.is_empty()).then_some(c)
}

/// A request body that can be sent again (after a 401).
#[derive(Debug)]
pub enum Body<'a> {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset`.
    File {
        /// The file.
        file: &'a std::fs::File,
        /// Where to start.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
}

/// One repository of one registry, with its auth state.
#[derive(Debug)]
pub struct Repo {
    agent: ureq::Agent,
    base: String,
    host: String,
    path: String,
    scopes: Mutex<Vec<String>>,
    creds: Option<Credentials>,
    auth: Mutex<Auth>,
}

fn status_message(status: u16, body: &str) -> String {
    let errs: Vec<String> = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["errors"].as_array().cloned())
        .map(|a| {
            a.iter()
                .map(|e| {
                    let code = e["code"].as_str().unwrap_or_default().to_lowercase();
                    let code = code.replace('_', " ");
                    let msg = e["message"].as_str().unwrap_or_default();
                    if code.is_empty() {
                        msg.to_string()
                    } else {
                        format!("{code}: {msg}")
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if errs.is_empty() {
        format!("unexpected HTTP status {status}")
    } else {
        errs.join(", ")
    }
}

fn transport(context: &str, e: ureq::Transport) -> Error {
    Error::Transport {
        context: context.to_string(),
        message: e.to_string(),
    }
}

/// A verified read: hashes what passes and fails at the end on a wrong
/// digest or size.
#[derive(Debug)]
pub struct Verified<R> {
    inner: R,
    hasher: Sha256,
    digest: String,
    size: u64,
    seen: u64,
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.seen += n as u64;
        if self.seen > self.size {
            return Err(io::Error::other(format!(
                "blob {} is larger than {} bytes",
                self.digest, self.size
            )));
        }
        if n == 0 && !buf.is_empty() {
            let got = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if self.seen != self.size || got != self.digest {
                return Err(io::Error::other(format!(
                    "digest mismatch for {}: got {got} ({} bytes)",
                    self.digest, self.seen
                )));
            }
        }
        Ok(n)
    }
}

/// `sha256:<hex>` of bytes.
pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// What a mount attempt gave.
#[derive(Debug)]
pub enum Mount {
    /// The blob was mounted from the other repository.
    Mounted,
    /// Not mounted; an upload session started at this location.
    Upload(String),
}

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

impl Repo {
    /// The registry host (`registry-1.docker.io`, `localhost:5000`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Add a scope (e.g. `repository:other/repo:pull` for a mount); the next
    /// token fetched covers it.
    pub fn add_scope(&self, scope: String) {
        let mut s = self.scopes.lock().expect("lock");
        if !s.contains(&scope) {
            s.push(scope);
            let mut a = self.auth.lock().expect("lock");
            if matches!(*a, Auth::Bearer { .. }) {
                *a = Auth::None;
            }
        }
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.path, rest)
    }

    fn basic(&self) -> Option<String> {
        self.creds.as_ref().map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.username, c.password))
            )
        })
    }

    /// Fetch a token for the current scopes from the challenge's realm.
    fn fetch_token(&self, ch: &Challenge) -> Result<Auth> {
        let mut req = self.agent.get(&ch.realm);
        if let Some(s) = &ch.service {
            req = req.query("service", s);
        }
        let scopes = self.scopes.lock().expect("lock").clone();
        if scopes.is_empty() {
            if let Some(s) = &ch.scope {
                req = req.query("scope", s);
            }
        }
        for s in &scopes {
            req = req.query("scope", s);
        }
        if let Some(b) = self.basic() {
            req = req.set("Authorization", &b);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(401 | 403, _)) => {
                return Err(Error::Unauthorized("incorrect username or password".into()))
            }
            Err(ureq::Error::Status(s, r)) => {
                let body = r.into_string().unwrap_or_default();
                return Err(Error::Status {
                    status: s,
                    message: format!(
                        "getting a token from {}: {}",
                        ch.realm,
                        status_message(s, &body)
                    ),
                });
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(transport(&format!("getting a token from {}", ch.realm), t))
            }
        };
        let v: Value = resp
            .into_string()
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
            .map_err(|e| Error::Transport {
                context: format!("reading the token from {}", ch.realm),
                message: e.to_string(),
            })?;
        let token = v["token"]
            .as_str()
            .or_else(|| v["access_token"].as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Unauthorized(format!("no token from {}", ch.realm)))?;
        // docker's minimum is 60 s; refresh a little before the end
        let secs = v["expires_in"].as_u64().filter(|s| *s > 0).unwrap_or(60);
        let life = Duration::from_secs(secs).saturating_sub(Duration::from_secs(secs.min(10) / 2));
        tracing::debug!(realm = %ch.realm, secs, "got a bearer token");
        Ok(Auth::Bearer {
            header: format!("Bearer {token}"),
            expires: Instant::now() + life,
            challenge: ch.clone(),
        })
    }

    /// The Authorization header to send, refreshing an expiring token.
    fn auth_header(&self) -> Result<Option<String>> {
        let mut a = self.auth.lock().expect("lock");
        if let Auth::Bearer {
            expires, challenge, ..
        } = &*a
        {
            if Instant::now() >= *expires {
                let ch = challenge.clone();
                *a = self.fetch_token(&ch)?;
            }
        }
        Ok(match &*a {
            Auth::None => None,
            Auth::Basic(h) => Some(h.clone()),
            Auth::Bearer { header, .. } => Some(header.clone()),
        })
    }

    /// Answer a 401's challenge.
    fn authenticate(&self, www: Option<&str>) -> Result<()> {
        let ch = www
            .and_then(parse_challenge)
            .ok_or_else(|| Error::Unauthorized("authentication required".into()))?;
        let new = match ch.scheme.as_str() {
            "bearer" => self.fetch_token(&ch)?,
            "basic" => match self.basic() {
                Some(b) => Auth::Basic(b),
                None => return Err(Error::Unauthorized("authentication required".into())),
            },
            s => return Err(Error::Unauthorized(format!("unsupported auth scheme {s}"))),
        };
        *self.auth.lock().expect("lock") = new;
        Ok(())
    }

    /// Send a request, answering one 401 with a (new) token or credentials.
    /// Returns the response of any status below 400; errors otherwise.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &Body<'_>,
    ) -> Result<ureq::Response> {
        let mut tried_auth = false;
        loop {
            let mut req = self.agent.request(method, url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(h) = self.auth_header()? {
                req = req.set("Authorization", &h);
            }
            let res = match body {
                Body::Empty => req.call(),
                Body::Bytes(b) => req.send_bytes(b),
                Body::File { file, offset, len } => {
                    let mut f = file.try_clone().map_err(|e| Error::Io {
                        context: "reading a blob".into(),
                        source: e,
                    })?;
                    f.seek(io::SeekFrom::Start(*offset))
                        .map_err(|e| Error::Io {
                            context: "reading a blob".into(),
                            source: e,
                        })?;
                    req.set("Content-Length", &len.to_string())
                        .send(io::BufReader::with_capacity(256 * 1024, f.take(*len)))
                }
            };
            match res {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(401, r)) if !tried_auth => {
                    tried_auth = true;
                    let www = r.header("www-authenticate").map(str::to_string);
                    let _ = r.into_string();
                    self.authenticate(www.as_deref())?;
                }
                Err(ureq::Error::Status(401, r)) => {
                    let body = r.into_string().unwrap_or_default();
                    let msg = status_message(401, &body);
                    return Err(Error::Unauthorized(
                        msg.strip_prefix("unauthorized: ")
                            .unwrap_or(&msg)
                            .to_string(),
                    ));
                }
                Err(ureq::Error::Status(s, r)) => {
                    let body = r.into_string().unwrap_or_default();
                    return Err(Error::Status {
                        status: s,
                        message: status_message(s, &body),
                    });
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(transport(&format!("{method} {url}"), t))
                }
            }
        }
    }

    fn login(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        // GET /v2/ anonymously first to learn the scheme, then with credentials.
        match self.agent.get(&url).call() {
            Ok(_) => {
                // an open registry: docker still sends the credentials once
                let b = self.basic().unwrap_or_default();
                return match self.agent.get(&url).set("Authorization", &b).call() {
                    Ok(_) => Ok(()),
                    Err(ureq::Error::Status(401, _)) => {
                        Err(Error::Unauthorized("incorrect username or password".into()))
                    }
                    Err(ureq::Error::Status(s, r)) => Err(Error::Status {
                        status: s,
                        message: status_message(s, &r.into_string().unwrap_or_default()),
                    }),
                    Err(ureq::Error::Transport(t)) => Err(transport(&url, t)),
                };
            }
            Err(ureq::Error::Status(401, r)) => {
                let www = r.header("www-authenticate").map(str::to_string);
                self.authenticate(www.as_deref())?;
            }
            Err(ureq::Error::Status(s, r)) => {
                return Err(Error::Status {
                    status: s,
                    message: status_message(s, &r.into_string().unwrap_or_default()),
                })
            }
            Err(ureq::Error::Transport(t)) => return Err(transport(&url, t)),
        }
        match self.send("GET", &url, &[], &Body::Empty) {
            Ok(_) => Ok(()),
            Err(Error::Unauthorized(_)) => {
                Err(Error::Unauthorized("incorrect username or password".into()))
            }
            Err(e) => Err(e),
        }
    }

    /// GET a manifest by tag or digest: (bytes, media type, digest). The
    /// digest is computed, and checked when `reference` is one.
    pub fn get_manifest(&self, reference: &str) -> Result<(Vec<u8>, String, String)> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self
            .send("GET", &url, &[("Accept", MANIFEST_ACCEPT)], &Body::Empty)
            .map_err(|e| match e {
                Error::Status { status: 404, .. } => Error::Status {
                    status: 404,
                    message: format!(
                        "manifest for {}/{}:{reference} not found: manifest unknown",
                        self.host, self.path
                    ),
                },
                e => e,
            })?;
        let ct = resp
            .header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(8 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Transport {
                context: format!("reading manifest {reference}"),
                message: e.to_string(),
            })?;
        let digest = sha256(&bytes);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(Error::Verify(format!(
                "manifest verification failed for digest {reference}"
            )));
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Manifest(format!("invalid manifest {reference}: {e}")))?;
        let mt = v["mediaType"].as_str().map(str::to_string).unwrap_or(ct);
        let mt = if mt.is_empty() || mt == "application/json" {
            if v.get("manifests").is_some() {
                MT_OCI_INDEX.to_string()
            } else {
                MT_OCI_MANIFEST.to_string()
            }
        } else {
            mt
        };
        Ok((bytes, mt, digest))
    }

    /// GET a blob as a stream, verified against `digest` and `size` at its end.
    pub fn get_blob(
        &self,
        digest: &str,
        size: u64,
    ) -> Result<Verified<Box<dyn Read + Send + Sync>>> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send("GET", &url, &[], &Body::Empty)?;
        Ok(Verified {
            inner: resp.into_reader(),
            hasher: Sha256::new(),
            digest: digest.to_string(),
            size,
            seen: 0,
        })
    }

    /// A small blob (a config) in memory, verified.
    pub fn get_blob_bytes(&self, digest: &str, size: u64) -> Result<Vec<u8>> {
        let mut r = self.get_blob(digest, size)?;
        let mut v = Vec::with_capacity(size.min(16 << 20) as usize);
        r.read_to_end(&mut v)
            .map_err(|e| Error::Verify(e.to_string()))?;
        Ok(v)
    }

    /// HEAD a blob.
    pub fn has_blob(&self, digest: &str) -> Result<bool> {
        let url = self.url(&format!("blobs/{digest}"));
        match self.send("HEAD", &url, &[], &Body::Empty) {
            Ok(_) => Ok(true),
            Err(Error::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn location(&self, resp: &ureq::Response) -> Result<String> {
        let loc = resp
            .header("location")
            .ok_or_else(|| Error::Manifest("upload: no Location from the registry".into()))?;
        Ok(
            if loc.starts_with("http://") || loc.starts_with("https://") {
                loc.to_string()
            } else {
                format!("{}{}", self.base, loc)
            },
        )
    }

    /// Try to mount `digest` from repository `from` of the same registry;
    /// starts an upload when the registry does not mount.
    pub fn mount_or_start(&self, digest: &str, from: Option<&str>) -> Result<Mount> {
        let mut url = self.url("blobs/uploads/");
        if let Some(f) = from {
            self.add_scope(format!("repository:{f}:pull"));
            url = format!("{url}?mount={digest}&from={f}");
        }
        let resp = self.send("POST", &url, &[("Content-Length", "0")], &Body::Empty)?;
        if resp.status() == 201 {
            return Ok(Mount::Mounted);
        }
        Ok(Mount::Upload(self.location(&resp)?))
    }

    /// Upload a blob at an upload session `location`: one PUT when it is
    /// small, PATCH chunks of `chunk` bytes then the closing PUT otherwise.
    /// `progress` is told the bytes sent.
    pub fn upload(
        &self,
        mut location: String,
        digest: &str,
        file: &std::fs::File,
        size: u64,
        chunk: u64,
        progress: &dyn Fn(u64),
    ) -> Result<()> {
        let with_digest = |loc: &str| {
            let sep = if loc.contains('?') { '&' } else { '?' };
            format!("{loc}{sep}digest={digest}")
        };
        if size <= chunk {
            let url = with_digest(&location);
            self.send(
                "PUT",
                &url,
                &[("Content-Type", "application/octet-stream")],
                &Body::File {
                    file,
                    offset: 0,
                    len: size,
                },
            )?;
            progress(size);
            return Ok(());
        }
        let mut off = 0;
        while off < size {
            let len = chunk.min(size - off);
            let range = format!("{}-{}", off, off + len - 1);
            let resp = self.send(
                "PATCH",
                &location,
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", &range),
                ],
                &Body::File {
                    file,
                    offset: off,
                    len,
                },
            )?;
            location = self.location(&resp)?;
            off += len;
            progress(off);
        }
        let url = with_digest(&location);
        self.send("PUT", &url, &[("Content-Length", "0")], &Body::Empty)?;
        Ok(())
    }

    /// PUT a manifest under a tag or digest, byte for byte; returns its digest.
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<String> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self.send(
            "PUT",
            &url,
            &[("Content-Type", media_type)],
            &Body::Bytes(bytes),
        )?;
        let digest = sha256(bytes);
        if let Some(d) = resp.header("docker-content-digest") {
            if d != digest {
                return Err(Error::Verify(format!(
                    "the registry stored the manifest as {d}, expected {digest}"
                )));
            }
        }
        Ok(digest)
    }

    /// `GET /v2/<name>/tags/list` (following `Link` pagination).
    pub fn tags(&self) -> Result<Vec<String>> {
        let mut url = self.url("tags/list");
        let mut out = Vec::new();
        loop {
            let resp = self.send("GET", &url, &[], &Body::Empty)?;
            let next = resp
                .header("link")
                .and_then(|l| l.split(';').next())
                .map(|l| {
                    l.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                });
            let v: Value = resp
                .into_string()
                .map_err(|e| e.to_string())
                .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
                .map_err(|e| Error::Transport {
                    context: "reading the tag list".into(),
                    message: e.to_string(),
                })?;
            if let Some(a) = v["tags"].as_array() {
                out.extend(a.iter().filter_map(|t| t.as_str().map(str::to_string)));
            }
            match next {
                Some(n) if !n.is_empty() => {
                    url = if n.starts_with("http") {
                        n
                    } else {
                        format!("{}{n}", self.base)
                    }
                }
                _ => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.realm, "https://auth.docker.io/token");
        assert_eq!(c.service.as_deref(), Some("registry.docker.io"));
        assert_eq!(c.scope.as_deref(), Some("repository:library/busybox:pull"));
        let c = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.realm, "Registry Realm");
        let c = parse_challenge("Bearer realm=http://x/t, service=s").unwrap();
        assert_eq!(c.realm, "http://x/t");
        assert_eq!(c.service.as_deref(), Some("s"));
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.5.6.7"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("example.com:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
        assert_eq!(registry_host("docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("quay.io"), "quay.io");
    }
}
