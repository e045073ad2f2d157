//! Tenants and the admin API as a manifest declares them: who may deploy, under which host
//! names, with which quotas and capabilities.

use std::path::PathBuf;

use serde::Deserialize;

use super::limits::{Limits, RawLimits};

/// One tenant: its host names, hashed API keys, quotas and capabilities.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    pub id: String,
    /// Host names its functions answer on; empty means any host.
    pub hosts: Vec<String>,
    /// The path its routes must lie under (normalised, never the root). A tenant without
    /// `hosts` can deploy only with one: the paths of every host are the operator's.
    pub path_prefix: Option<String>,
    /// SHA-256 of each API key, lowercase hex.
    pub key_hashes: Vec<String>,
    pub quotas: Quotas,
    /// Host interfaces its components may import (e.g. `atelier:vision`).
    pub grants: Vec<String>,
    /// Host names its components may reach with outbound HTTP (deny by default).
    pub outbound: Vec<String>,
    /// Signing key of its jobs' callbacks (HMAC-SHA256); without one, callbacks are refused.
    pub callback_secret: Option<String>,
}

/// What one tenant may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    /// Requests per minute over all its functions (token bucket); `None` is unlimited.
    pub requests_per_minute: Option<u32>,
    /// Requests the bucket holds when full.
    pub burst: u32,
    /// Instances of its functions running at once, together.
    pub max_concurrency: u32,
    /// The most each of its functions may ask for (memory, CPU, time, body, concurrency); also
    /// the limits a function gets when its deploy asks for none.
    pub function_limits: Limits,
    /// Functions it may have deployed at once.
    pub max_functions: u32,
    /// Bytes of stored components over every version of every function it keeps.
    pub storage_bytes: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTenant {
    pub id: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    /// `sha256:<hex>` of each key.
    #[serde(default)]
    pub api_keys: Vec<String>,
    #[serde(default)]
    pub quotas: RawQuotas,
    #[serde(default)]
    pub grants: Vec<String>,
    #[serde(default)]
    pub outbound: Vec<String>,
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub callback_secret: Option<String>,
}

/// A tenant's quotas as written: its own, plus the most each function may ask for (and gets
/// when it asks for nothing), as [`RawLimits`]. `max_concurrency` is both: instances at once
/// over all the tenant's functions, and the most one function may ask.
#[derive(Deserialize, Default)]
pub(super) struct RawQuotas {
    requests_per_minute: Option<u32>,
    burst: Option<u32>,
    max_functions: Option<u32>,
    storage_mb: Option<u64>,
    #[serde(flatten)]
    limits: RawLimits,
    /// Whatever else was written: refused (flattening rules out `deny_unknown_fields`).
    #[serde(flatten)]
    unknown: std::collections::BTreeMap<String, toml::Value>,
}

impl RawTenant {
    pub(super) fn resolve(self, defaults: &Limits) -> Result<TenantConfig, String> {
        let id = self.id;
        if !super::valid_name(&id) {
            return Err(format!(
                "tenant id {id:?} must be non-empty and use only letters, digits, '-' and '_'"
            ));
        }
        let mut key_hashes = Vec::new();
        for key in &self.api_keys {
            let hex = key.strip_prefix("sha256:").unwrap_or_default();
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "tenant {id:?}: api_keys hold `sha256:<64 hex digits>` of each key, never the key itself"
                ));
            }
            key_hashes.push(hex.to_ascii_lowercase());
        }
        if let Some(name) = self.quotas.unknown.keys().next() {
            return Err(format!(
                "tenant {id:?}: unknown quota {name:?}; known: requests_per_minute, burst, max_functions, storage_mb, memory_mb, cpu_ms, timeout_ms, max_body_kb, max_concurrency"
            ));
        }
        let limits = self
            .quotas
            .limits
            .resolve(defaults)
            .map_err(|m| format!("tenant {id:?}: {m}"))?;
        if self.quotas.requests_per_minute == Some(0) {
            return Err(format!(
                "tenant {id:?}: requests_per_minute must be at least 1"
            ));
        }
        let rpm = self.quotas.requests_per_minute;
        let burst = self
            .quotas
            .burst
            .unwrap_or_else(|| rpm.map(|r| (r / 6).max(1)).unwrap_or(1));
        if burst == 0 {
            return Err(format!("tenant {id:?}: burst must be at least 1"));
        }
        for g in &self.grants {
            if !super::KNOWN_GRANTS.contains(&g.as_str()) {
                return Err(format!(
                    "tenant {id:?}: unknown grant {g:?}; known: {}",
                    super::KNOWN_GRANTS.join(", ")
                ));
            }
        }
        let path_prefix = match &self.path_prefix {
            None => None,
            Some(p) => match crate::routes::normalise_path(p) {
                Ok(prefix) if !prefix.is_empty() => Some(prefix),
                Ok(_) => {
                    return Err(format!(
                        "tenant {id:?}: path_prefix \"/\" is the operator's"
                    ))
                }
                Err(e) => return Err(format!("tenant {id:?}: path_prefix {e}")),
            },
        };
        Ok(TenantConfig {
            path_prefix,
            hosts: self.hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            key_hashes,
            quotas: Quotas {
                requests_per_minute: rpm,
                burst,
                max_concurrency: limits.max_concurrency,
                max_functions: self.quotas.max_functions.unwrap_or(32),
                storage_bytes: self.quotas.storage_mb.unwrap_or(1024) << 20,
                function_limits: limits,
            },
            grants: self.grants,
            outbound: self
                .outbound
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            callback_secret: self.callback_secret,
            id,
        })
    }
}

/// The admin API: who operates it and where deployments are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// `sha256:<hex>` of the operator token (full access). `ATELIER_ADMIN_TOKEN` in the
    /// environment adds one more.
    pub token: Option<String>,
    /// Where deployed components and their history are kept.
    pub data_dir: PathBuf,
    /// Largest component a deploy accepts, MiB.
    pub max_component_mb: u64,
    /// Wall-clock budget of compiling one deployed component (in a child process).
    pub compile_timeout_ms: u64,
    /// Memory budget of that child process (its data segment), MiB.
    pub compile_memory_mb: u64,
    /// Deployed components compiled at once; more wait their turn.
    pub max_concurrent_compiles: u32,
    /// Versions of each function kept on disk (the current one always is); older ones are
    /// deleted by the next deploy.
    pub keep_versions: u32,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            token: None,
            data_dir: PathBuf::from(".atelier-data"),
            max_component_mb: 64,
            compile_timeout_ms: 60_000,
            compile_memory_mb: 2048,
            max_concurrent_compiles: 2,
            keep_versions: 5,
        }
    }
}

impl AdminConfig {
    /// Refuses budgets that would make every deploy fail or none be kept.
    pub fn check_budgets(&self) -> Result<(), String> {
        if self.compile_timeout_ms < 100 || self.compile_memory_mb < 64 {
            return Err(
                "compile_timeout_ms must be at least 100 and compile_memory_mb at least 64".into(),
            );
        }
        if self.max_concurrent_compiles == 0 || self.keep_versions == 0 {
            return Err("max_concurrent_compiles and keep_versions must be at least 1".into());
        }
        Ok(())
    }

    /// The operator token's hash, lowercase hex, if one is configured in the manifest.
    pub fn token_hash(&self) -> Result<Option<String>, String> {
        let Some(t) = &self.token else {
            return Ok(None);
        };
        let hex = t.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err("admin.token holds `sha256:<64 hex digits>` of the token".into());
        }
        Ok(Some(hex.to_ascii_lowercase()))
    }
}
