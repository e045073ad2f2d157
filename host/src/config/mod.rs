//! The manifest: what to serve and under which limits.
//!
//! A manifest is TOML (see `host/default.toml`, embedded as the default). Loading parses, then
//! validates; every error names the file and the line of the offending value, so an operator can
//! fix a bad manifest without guessing. Relative component paths resolve against the manifest's
//! folder (or the working directory for the embedded default).

mod cluster;
mod error;
mod jobs;
mod limits;
mod tenants;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use cluster::ClusterConfig;
pub use error::ConfigError;
pub use jobs::{CacheRule, JobsConfig};
pub use limits::{Limits, RawLimits};
pub use tenants::{AdminConfig, Quotas, TenantConfig};

/// The manifest compiled into the binary: serves the built-in functions.
pub const DEFAULT_MANIFEST: &str = include_str!("../../default.toml");
/// The name errors use for the embedded manifest.
pub const DEFAULT_MANIFEST_NAME: &str = "<embedded default manifest>";

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub server: ServerConfig,
    pub runtime: RuntimeConfig,
    pub functions: Vec<FunctionConfig>,
    pub vision: VisionConfig,
    pub tenants: Vec<TenantConfig>,
    pub admin: AdminConfig,
    pub cluster: ClusterConfig,
    pub jobs: JobsConfig,
}

/// Where vision inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// CUDA when it works, else CPU (logged, and visible in metrics).
    Auto,
    Cpu,
    /// CUDA or a startup error.
    Cuda,
}

/// The `atelier:vision` host functions: models, device, batching.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisionConfig {
    /// The model manifest; model files are looked up beside it.
    pub models: PathBuf,
    pub device: Device,
    /// Most images per inference batch.
    pub max_batch: usize,
    /// How long the first request of a batch waits for others, ms.
    pub max_wait_ms: u64,
    /// Requests waiting per model before new ones get 503.
    pub queue: usize,
    /// ONNX Runtime intra-op threads per session; 0 = its default (all cores).
    pub threads: usize,
    /// Let ONNX Runtime's worker threads busy-wait between runs. Off by default: on a CPU host
    /// the spinning takes the cores the components need (+45% ID photos/s with it off).
    pub spin: bool,
    /// The ONNX Runtime library; default `ORT_DYLIB_PATH`.
    pub ort_library: Option<PathBuf>,
    /// Memory all uploads being decoded for components may hold at once, MiB (host memory,
    /// outside every function's cap); an upload that does not fit now gets 503.
    pub decode_budget_mb: u64,
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            models: PathBuf::from("models/models.toml"),
            device: Device::Auto,
            max_batch: 16,
            max_wait_ms: 2,
            queue: 256,
            threads: 0,
            spin: false,
            ort_library: None,
            decode_budget_mb: 2048,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout_ms: u64,
    /// Connections open at once; one more is closed right after it is accepted.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (from the first byte it may send,
    /// also while a kept-alive connection waits for its next request); then the connection closes.
    pub header_timeout_ms: u64,
    /// Time a client has to send a request's whole body → 408 `body_timeout`.
    pub body_timeout_ms: u64,
    /// Largest request head (request line and headers) → 431.
    pub max_header_bytes: usize,
    /// Request headers removed before any guest sees them (case-insensitive). A tenant's
    /// function never sees `Authorization`, whatever this says.
    pub strip_headers: Vec<String>,
    /// TLS on the listener (HTTP/2 and HTTP/1.1 by ALPN); absent: plain HTTP/1.1.
    pub tls: Option<TlsConfig>,
    /// HTTP/2: streams one connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2: streams a client may reset before the server has accepted them, at once, before
    /// the connection is closed (the rapid-reset attack, CVE-2023-44487).
    pub http2_max_pending_resets: usize,
    /// HTTP/2: streams the server may reset for a client's protocol errors before it closes the
    /// connection.
    pub http2_max_local_error_resets: usize,
    /// Path of the web page (the built-in functions and the operator console); absent: none.
    pub web_page: Option<String>,
}

/// `[server] tls`: PEM files, reloaded on SIGHUP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: ([127, 0, 0, 1], 8080).into(),
            drain_timeout_ms: 10_000,
            max_connections: 4096,
            header_timeout_ms: 10_000,
            body_timeout_ms: 60_000,
            max_header_bytes: 16 << 10,
            strip_headers: vec!["authorization".into(), "proxy-authorization".into()],
            tls: None,
            http2_max_concurrent_streams: 128,
            http2_max_pending_resets: 20,
            http2_max_local_error_resets: 1024,
            web_page: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Folder of compiled components (`.cwasm`), keyed by component hash and engine.
    pub cache_dir: PathBuf,
    /// Most MiB of artifacts kept there; the least recently used go first.
    pub cache_max_mb: u64,
    /// Use the pooling instance allocator (falls back to on-demand when it cannot reserve memory).
    pub pooling: bool,
    /// Pooling slots; 0 means the sum of every function's `max_concurrency`.
    pub max_instances: u32,
    /// Epoch tick: the granularity of CPU deadlines and of yielding a busy guest.
    pub epoch_tick_ms: u64,
    /// Bytes of each pooled linear memory kept resident between instances: the next instance in
    /// the slot reuses those pages (zeroed) instead of faulting fresh ones. A slot holds at most
    /// this much, and only what a request touched.
    pub memory_keep_resident_kb: u64,
    /// Write `/tmp/perf-<pid>.map` so `perf` names the guests' compiled functions.
    pub perfmap: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: PathBuf::from(".cache/atelier"),
            cache_max_mb: 1024,
            pooling: true,
            max_instances: 0,
            epoch_tick_ms: 5,
            // 32 MiB covers an ID photo's working set: +15–25% photos/s against 1 MiB
            // (docs/BENCHMARKS.md); functions that touch less keep less.
            memory_keep_resident_kb: 32 * 1024,
            perfmap: false,
        }
    }
}

/// One HTTP function: a component and where it is reachable.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    pub name: String,
    pub component: PathBuf,
    pub routes: Vec<RouteConfig>,
    pub limits: Limits,
    /// Host interfaces this function may import beyond WASI (e.g. `atelier:vision`).
    pub grants: Vec<String>,
    /// Environment variables the component sees.
    pub env: Vec<(String, String)>,
    /// Host names it may reach with outbound HTTP (`*.example.com` for subdomains); empty
    /// denies all.
    pub outbound: Vec<String>,
    /// Its result cache, if it has one.
    pub cache: Option<CacheRule>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path prefix, matched on whole segments (`/qr` matches `/qr` and `/qr/decode`, not `/qrx`).
    pub path: String,
    /// Host names this route answers; empty means any host.
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl RouteConfig {
    /// The scopes of a route already validated (the manifest's, or a stored spec's).
    pub fn scopes(&self) -> Vec<crate::routes::Scope> {
        crate::routes::scopes(self.path.trim_end_matches('/'), &self.hosts)
    }

    /// The scopes of several routes.
    pub fn scopes_of(routes: &[RouteConfig]) -> Vec<crate::routes::Scope> {
        routes.iter().flat_map(RouteConfig::scopes).collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    runtime: RuntimeConfig,
    #[serde(default)]
    defaults: limits::RawLimits,
    #[serde(default, rename = "function")]
    functions: Vec<RawFunction>,
    #[serde(default)]
    vision: VisionConfig,
    #[serde(default, rename = "tenant")]
    tenants: Vec<Spanned<tenants::RawTenant>>,
    #[serde(default)]
    admin: AdminConfig,
    #[serde(default)]
    cluster: ClusterConfig,
    #[serde(default)]
    jobs: JobsConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    name: Spanned<String>,
    component: Spanned<PathBuf>,
    routes: Spanned<Vec<RouteConfig>>,
    limits: Option<Spanned<limits::RawLimits>>,
    #[serde(default)]
    grants: Vec<Spanned<String>>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    outbound: Vec<String>,
    cache: Option<Spanned<CacheRule>>,
}

/// The grant (and WIT package) of the vision host functions.
pub const VISION_GRANT: &str = "atelier:vision";

/// Host interfaces a manifest may grant (each is a `runtime::interfaces::HostInterface`).
pub const KNOWN_GRANTS: &[&str] = &[VISION_GRANT];

impl Manifest {
    /// Loads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Manifest, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &path.display().to_string(), base)
    }

    /// The embedded default manifest, paths relative to the working directory.
    pub fn embedded() -> Result<Manifest, ConfigError> {
        Self::parse(DEFAULT_MANIFEST, DEFAULT_MANIFEST_NAME, Path::new("."))
    }

    /// Parses manifest text; `origin` names it in errors, `base` anchors relative paths.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Manifest, ConfigError> {
        let at = |span: Option<Range<usize>>, message: String| {
            let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Invalid {
                origin: origin.to_string(),
                line,
                column,
                message,
            }
        };
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| at(e.span(), e.message().to_string()))?;
        let defaults = raw
            .defaults
            .resolve(&Limits::default())
            .map_err(|m| at(None, format!("[defaults]: {m}")))?;
        if raw.runtime.epoch_tick_ms == 0 {
            return Err(at(None, "runtime.epoch_tick_ms must be at least 1".into()));
        }
        let server = &raw.server;
        if server.max_connections == 0
            || server.header_timeout_ms == 0
            || server.body_timeout_ms == 0
        {
            return Err(at(
                None,
                "server.max_connections, header_timeout_ms and body_timeout_ms must be at least 1"
                    .into(),
            ));
        }
        if !(1024..=1 << 20).contains(&server.max_header_bytes) {
            return Err(at(
                None,
                "server.max_header_bytes must be 1024 to 1048576".into(),
            ));
        }

        let mut names = HashSet::new();
        let mut routes_seen = HashSet::new();
        let mut functions = Vec::new();
        for f in raw.functions {
            let name = f.name.get_ref().clone();
            if !valid_name(&name) {
                return Err(at(Some(f.name.span()), format!("function name {name:?} must be non-empty and use only letters, digits, '-' and '_'")));
            }
            if !names.insert(name.clone()) {
                return Err(at(
                    Some(f.name.span()),
                    format!("function {name:?} is declared twice"),
                ));
            }
            let component = base.join(f.component.get_ref());
            let routes_span = f.routes.span();
            let routes = f.routes.into_inner();
            if routes.is_empty() {
                return Err(at(
                    Some(routes_span),
                    format!("function {name:?} has no routes"),
                ));
            }
            for r in &routes {
                let prefix = crate::routes::normalise_path(&r.path)
                    .map_err(|e| at(Some(routes_span.clone()), format!("route path {e}")))?;
                for key in crate::routes::scopes(&prefix, &r.hosts) {
                    if !routes_seen.insert(key) {
                        return Err(at(
                            Some(routes_span.clone()),
                            format!("route {:?} is declared by two functions", r.path),
                        ));
                    }
                }
            }
            let limits = match f.limits {
                Some(raw) => {
                    let span = raw.span();
                    raw.into_inner()
                        .resolve(&defaults)
                        .map_err(|m| at(Some(span), m))?
                }
                None => defaults.clone(),
            };
            let mut grants = Vec::new();
            for g in f.grants {
                if !KNOWN_GRANTS.contains(&g.get_ref().as_str()) {
                    return Err(at(
                        Some(g.span()),
                        format!(
                            "unknown grant {:?}; known: {}",
                            g.get_ref(),
                            KNOWN_GRANTS.join(", ")
                        ),
                    ));
                }
                grants.push(g.into_inner());
            }
            let cache = match f.cache {
                Some(rule) => {
                    let span = rule.span();
                    let rule = rule.into_inner();
                    rule.check().map_err(|m| at(Some(span), m))?;
                    Some(rule)
                }
                None => None,
            };
            functions.push(FunctionConfig {
                cache,
                name,
                component,
                routes,
                limits,
                grants,
                env: f.env.into_iter().collect(),
                outbound: f.outbound.iter().map(|h| h.to_ascii_lowercase()).collect(),
            });
        }
        let mut tenants = Vec::new();
        let mut tenant_ids = HashSet::new();
        for t in raw.tenants {
            let span = t.span();
            let tenant = t
                .into_inner()
                .resolve(&defaults)
                .map_err(|m| at(Some(span.clone()), m))?;
            if !tenant_ids.insert(tenant.id.clone()) {
                return Err(at(
                    Some(span),
                    format!("tenant {:?} is declared twice", tenant.id),
                ));
            }
            tenants.push(tenant);
        }
        let mut admin = raw.admin;
        admin
            .token_hash()
            .and_then(|_| admin.check_budgets())
            .map_err(|m| at(None, format!("[admin]: {m}")))?;
        admin.data_dir = base.join(&admin.data_dir);
        raw.cluster
            .check()
            .map_err(|m| at(None, format!("[cluster]: {m}")))?;
        raw.jobs
            .check()
            .map_err(|m| at(None, format!("[jobs]: {m}")))?;
        let mut server_config = raw.server;
        if let Some(tls) = &mut server_config.tls {
            tls.cert = base.join(&tls.cert);
            tls.key = base.join(&tls.key);
        }
        if let Some(page) = &server_config.web_page {
            let prefix = crate::routes::normalise_path(page)
                .map_err(|e| at(None, format!("server.web_page {e}")))?;
            let covering = functions.iter().find(|f| {
                f.routes
                    .iter()
                    .any(|r| r.hosts.is_empty() && crate::routes::covers(&r.path, &prefix))
            });
            if let Some(f) = covering {
                return Err(at(
                    None,
                    format!(
                        "server.web_page {page:?} lies under a route of function {:?}: pick another path, or leave web_page out",
                        f.name
                    ),
                ));
            }
        }
        if server_config.http2_max_concurrent_streams == 0 {
            return Err(at(
                None,
                "server.http2_max_concurrent_streams must be at least 1".into(),
            ));
        }
        let mut vision = raw.vision;
        vision.models = base.join(&vision.models);
        if let Some(lib) = &vision.ort_library {
            vision.ort_library = Some(base.join(lib));
        }
        Ok(Manifest {
            server: server_config,
            runtime: raw.runtime,
            functions,
            vision,
            tenants,
            admin,
            cluster: raw.cluster,
            jobs: raw.jobs,
        })
    }
}

/// Function and tenant names: non-empty, letters, digits, '-' and '_'.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let m = Manifest::embedded().unwrap();
        assert!(m.functions.iter().any(|f| f.name == "hello"));
    }

    #[test]
    fn the_web_page_needs_a_path_no_function_takes() {
        let with = |page: &str, route: &str| {
            let text = format!("[server]\nweb_page = {page:?}\n\n[[function]]\nname = \"a\"\ncomponent = \"a.wasm\"\nroutes = [{{ path = {route:?} }}]\n");
            Manifest::parse(&text, "m.toml", Path::new(".")).map(|m| m.server.web_page)
        };
        assert_eq!(with("/", "/a").unwrap().as_deref(), Some("/"));
        assert_eq!(with("/ui", "/ui2").unwrap().as_deref(), Some("/ui"));
        for (page, route) in [("/", "/"), ("/ui", "/ui"), ("/ui/app", "/ui")] {
            let err = with(page, route).unwrap_err().to_string();
            assert!(
                err.contains("lies under a route of function \"a\""),
                "{err}"
            );
        }
        for page in ["/admin", "/docs", "ui", "/a/../b"] {
            let err = with(page, "/a").unwrap_err().to_string();
            assert!(err.contains("server.web_page"), "{page}: {err}");
        }
        assert_eq!(
            Manifest::embedded().unwrap().server.web_page.as_deref(),
            Some("/")
        );
    }

    #[test]
    fn errors_name_origin_and_line() {
        let text = "[[function]]\nname = \"a\"\ncomponent = \"a.wasm\"\nroutes = [{ path = \"/a\" }]\n\n[[function]]\nname = \"a\"\ncomponent = \"b.wasm\"\nroutes = [{ path = \"/b\" }]\n";
        let err = Manifest::parse(text, "m.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("m.toml:7:"), "{err}");
        assert!(err.contains("declared twice"), "{err}");
    }

    #[test]
    fn unknown_field_is_located() {
        let text = "[server]\nlisten = \"127.0.0.1:1\"\nbogus = 1\n";
        let err = Manifest::parse(text, "m.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("m.toml:3:"), "{err}");
    }

    #[test]
    fn bad_limit_is_refused() {
        let text = "[[function]]\nname = \"a\"\ncomponent = \"a.wasm\"\nroutes = [{ path = \"/a\" }]\nlimits = { memory_mb = 0 }\n";
        let err = Manifest::parse(text, "m.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory_mb"), "{err}");
    }

    #[test]
    fn quotas_take_the_limit_names_and_refuse_others() {
        let tenant = |quotas: &str| {
            format!("[[tenant]]\nid = \"a\"\nhosts = [\"a.test\"]\nquotas = {{ {quotas} }}\n")
        };
        let m = Manifest::parse(
            &tenant("memory_mb = 32, storage_mb = 5, burst = 2"),
            "m.toml",
            Path::new("."),
        )
        .unwrap();
        let q = &m.tenants[0].quotas;
        assert_eq!(
            (q.function_limits.memory_bytes, q.storage_bytes, q.burst),
            (32 << 20, 5 << 20, 2)
        );
        let err = Manifest::parse(&tenant("memory_mbs = 32"), "m.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown quota \"memory_mbs\""), "{err}");
        let err = Manifest::parse("[defaults]\nmemory_mbs = 3\n", "m.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory_mbs"), "{err}");
    }

    #[test]
    fn limits_round_trip_as_query_pairs() {
        let limits = RawLimits {
            memory_mb: Some(64),
            max_concurrency: Some(3),
            ..RawLimits::default()
        };
        let pairs = limits.to_pairs();
        assert_eq!(pairs.len(), 2, "{pairs:?}");
        let back = RawLimits::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(back, Ok(limits));
        let (param, message) = RawLimits::from_pairs([("colour", "3")]).unwrap_err();
        assert!(
            message.contains("unknown field `colour`"),
            "{param}: {message}"
        );
        let (param, _) = RawLimits::from_pairs([("cpu_ms", "fast")]).unwrap_err();
        assert_eq!(param, "cpu_ms");
    }
}
