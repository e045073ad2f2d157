//! Per-function limits: what a manifest, a tenant's quotas, a deploy (query string, stored
//! spec, admin JSON) and the `atelier deploy` command may set, the defaults, and their
//! validation. [`RawLimits`] is the one type all of them read and write (serde, clap), so a
//! limit's name and unit are written once.

use serde::{Deserialize, Serialize};

/// Limits enforced on every request to one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear-memory cap per instance, bytes.
    pub memory_bytes: u64,
    /// CPU time a request may spend running guest code, milliseconds.
    pub cpu_ms: u64,
    /// Wall-clock time a request may take in all (guest, host calls, streaming the body), ms.
    pub timeout_ms: u64,
    /// Largest request body accepted, bytes (413 beyond).
    pub max_body_bytes: u64,
    /// Instances of this function running at once (503 + Retry-After beyond).
    pub max_concurrency: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 128 << 20,
            cpu_ms: 2_000,
            timeout_ms: 30_000,
            max_body_bytes: 10 << 20,
            max_concurrency: 64,
        }
    }
}

/// Limits as written (a manifest, quotas, a deploy): every field optional, falling back to
/// the defaults. Unknown names are refused where it stands alone (`limits = {…}`,
/// `[defaults]`, a deploy's query); where it is flattened into a larger type, that type does.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Linear-memory cap per instance, MiB.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// CPU time per request running guest code, ms.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Wall-clock time per request, ms.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Largest request body, KiB.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_kb: Option<u64>,
    /// Instances running at once.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
}

impl From<&Limits> for RawLimits {
    /// Resolved limits as written: every field set, in the written units.
    fn from(l: &Limits) -> Self {
        RawLimits {
            memory_mb: Some(l.memory_bytes >> 20),
            cpu_ms: Some(l.cpu_ms),
            timeout_ms: Some(l.timeout_ms),
            max_body_kb: Some(l.max_body_bytes >> 10),
            max_concurrency: Some(l.max_concurrency),
        }
    }
}

impl RawLimits {
    /// As `name=value` pairs (a deploy's query string), the unset ones left out.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let value = serde_json::to_value(self).expect("limits serialise");
        let serde_json::Value::Object(map) = value else {
            return Vec::new();
        };
        map.into_iter().map(|(k, v)| (k, v.to_string())).collect()
    }

    /// From `name=value` pairs (a deploy's query string): whole numbers, known names only.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<RawLimits, (String, String)> {
        let mut map = serde_json::Map::new();
        for (name, value) in pairs {
            let number: u64 = value
                .parse()
                .map_err(|_| (name.to_string(), format!("{value:?} is not a whole number")))?;
            map.insert(name.to_string(), number.into());
        }
        serde_json::from_value(map.into()).map_err(|e| ("limits".to_string(), e.to_string()))
    }

    /// Fills the unset fields from `base` and validates.
    pub fn resolve(&self, base: &Limits) -> Result<Limits, String> {
        let positive = |name: &str, v: Option<u64>| match v {
            Some(0) => Err(format!("limit {name} must be greater than 0")),
            other => Ok(other),
        };
        let memory_mb = positive("memory_mb", self.memory_mb)?;
        if memory_mb.is_some_and(|m| m > 4096) {
            return Err("limit memory_mb must be at most 4096 (wasm32 address space)".into());
        }
        Ok(Limits {
            memory_bytes: memory_mb.map(|m| m << 20).unwrap_or(base.memory_bytes),
            cpu_ms: positive("cpu_ms", self.cpu_ms)?.unwrap_or(base.cpu_ms),
            timeout_ms: positive("timeout_ms", self.timeout_ms)?.unwrap_or(base.timeout_ms),
            max_body_bytes: positive("max_body_kb", self.max_body_kb)?
                .map(|k| k << 10)
                .unwrap_or(base.max_body_bytes),
            max_concurrency: positive("max_concurrency", self.max_concurrency.map(u64::from))?
                .map(|c| c as u32)
                .unwrap_or(base.max_concurrency),
        })
    }
}

impl Limits {
    /// The first limit of `self` above `cap`'s, as (name, asked, allowed).
    pub fn exceeding(&self, cap: &Limits) -> Option<(&'static str, u64, u64)> {
        [
            ("memory_mb", self.memory_bytes >> 20, cap.memory_bytes >> 20),
            ("cpu_ms", self.cpu_ms, cap.cpu_ms),
            ("timeout_ms", self.timeout_ms, cap.timeout_ms),
            (
                "max_body_kb",
                self.max_body_bytes >> 10,
                cap.max_body_bytes >> 10,
            ),
            (
                "max_concurrency",
                u64::from(self.max_concurrency),
                u64::from(cap.max_concurrency),
            ),
        ]
        .into_iter()
        .find(|(_, asked, allowed)| asked > allowed)
    }
}
