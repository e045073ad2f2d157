//! Per-function limits: what a manifest may set, the defaults, and their validation.

use serde::Deserialize;

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

/// Limits as written in a manifest: every field optional, falling back to the defaults.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub memory_mb: Option<u64>,
    pub cpu_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_body_kb: Option<u64>,
    pub max_concurrency: Option<u32>,
}

impl RawLimits {
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
