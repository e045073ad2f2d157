//! Deployments on disk: every version of every tenant function, and which one is current, so
//! deployments survive a restart and a rollback has something to return to.
//!
//! Layout: `<data_dir>/functions/<tenant>/<function>/v<N>.wasm` and `v<N>.json` (the spec), and
//! `current` holding `N`.
//!
//! Invariants (crash safety, `kill -9` at any point): every file is written to a temporary
//! name, fsynced, renamed, and its folder fsynced. A new version is first written as pending
//! (`v<N>.wasm.pending`, `v<N>.json.pending`); writing `current` is the commit point, after
//! which the pending files become `v<N>.*`. [`Store::recover`], run before anything is
//! restored, finishes a committed version and deletes an uncommitted one, so a version that
//! never served can never be rolled back to.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{CacheRule, RawLimits, RouteConfig};

/// What a deploy asked for, as stored beside the component.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Spec {
    pub routes: Vec<String>,
    /// The limits the deploy asked for, stored flat beside the other fields.
    #[serde(flatten)]
    pub limits: RawLimits,
    /// Callable without the tenant's key.
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Filled in by the store.
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub deployed_at_unix: u64,
    /// The component's size; filled in by the deploy.
    #[serde(default)]
    pub bytes: u64,
    /// Its result cache, if asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheRule>,
}

impl Spec {
    pub fn route_configs(&self, hosts: &[String]) -> Vec<RouteConfig> {
        self.routes
            .iter()
            .map(|path| RouteConfig {
                path: path.clone(),
                hosts: hosts.to_vec(),
            })
            .collect()
    }
}

/// A stored version.
pub struct Stored {
    pub version: u32,
    pub spec: Spec,
    pub component: Vec<u8>,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error("deployment store {path}: {source}")]
pub struct StoreError {
    path: String,
    source: std::io::Error,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError {
        path: path.display().to_string(),
        source,
    }
}

/// The deployment folder.
pub struct Store {
    root: PathBuf,
}

/// Makes the folder's entries (a rename, a removal) durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// A version's two files, as `(final, pending)` paths.
fn version_files(dir: &Path, version: u32) -> [(PathBuf, PathBuf); 2] {
    ["wasm", "json"].map(|ext| {
        let done = dir.join(format!("v{version}.{ext}"));
        let pending = dir.join(format!("v{version}.{ext}.pending"));
        (done, pending)
    })
}

impl Store {
    pub fn new(data_dir: &Path) -> Self {
        Store {
            root: data_dir.join("functions"),
        }
    }

    fn dir(&self, tenant: &str, name: &str) -> PathBuf {
        self.root.join(tenant).join(name)
    }

    /// Versions kept for a function, ascending.
    pub fn versions(&self, tenant: &str, name: &str) -> Vec<u32> {
        let mut v: Vec<u32> = std::fs::read_dir(self.dir(tenant, name))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                n.strip_prefix('v')?.strip_suffix(".wasm")?.parse().ok()
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// The current version number, if the function is deployed.
    pub fn current(&self, tenant: &str, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir(tenant, name).join("current"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Reads one version.
    pub fn read(&self, tenant: &str, name: &str, version: u32) -> Result<Stored, StoreError> {
        let dir = self.dir(tenant, name);
        let wasm = dir.join(format!("v{version}.wasm"));
        let json = dir.join(format!("v{version}.json"));
        let component = std::fs::read(&wasm).map_err(io_err(&wasm))?;
        let text = std::fs::read(&json).map_err(io_err(&json))?;
        let spec = serde_json::from_slice(&text).map_err(|e| StoreError {
            path: json.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        Ok(Stored {
            version,
            spec,
            component,
        })
    }

    /// Writes a new version, pending until [`Store::set_current`] commits it, and returns its
    /// number.
    pub fn add(
        &self,
        tenant: &str,
        name: &str,
        spec: &Spec,
        component: &[u8],
    ) -> Result<u32, StoreError> {
        let version = self.versions(tenant, name).last().map_or(1, |v| v + 1);
        self.put(tenant, name, version, spec, component)?;
        Ok(version)
    }

    /// Writes version `version` (numbered elsewhere: by the cluster's registry), pending until
    /// [`Store::set_current`] commits it.
    pub fn put(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
        spec: &Spec,
        component: &[u8],
    ) -> Result<(), StoreError> {
        let dir = self.dir(tenant, name);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let [(_, wasm), (_, json)] = version_files(&dir, version);
        write_atomically(&wasm, component)?;
        let text = serde_json::to_vec_pretty(spec).expect("spec serialises");
        write_atomically(&json, &text)
    }

    /// Reads a small file of the data folder beside the functions (None if absent).
    pub fn read_meta(&self, file: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.with_file_name(file)).ok()
    }

    /// Writes such a file atomically.
    pub fn write_meta(&self, file: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.root.with_file_name(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        write_atomically(&path, bytes)
    }

    /// Makes `version` the current one (the commit point of a deploy), then turns its pending
    /// files, if any, into the version's own.
    pub fn set_current(&self, tenant: &str, name: &str, version: u32) -> Result<(), StoreError> {
        let dir = self.dir(tenant, name);
        write_atomically(&dir.join("current"), version.to_string().as_bytes())?;
        self.finish(&dir, version)
    }

    fn finish(&self, dir: &Path, version: u32) -> Result<(), StoreError> {
        let mut moved = false;
        for (done, pending) in version_files(dir, version) {
            if pending.exists() {
                std::fs::rename(&pending, &done).map_err(io_err(&done))?;
                moved = true;
            }
        }
        if moved {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// After a crash: every function's committed version is finished, uncommitted (pending)
    /// versions and temporary files are deleted.
    pub fn recover(&self) -> Result<(), StoreError> {
        for tenant in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            for function in std::fs::read_dir(tenant.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let dir = function.path();
                let current = std::fs::read_to_string(dir.join("current"))
                    .ok()
                    .and_then(|c| c.trim().parse::<u32>().ok());
                if let Some(version) = current {
                    self.finish(&dir, version)?;
                }
                let mut removed = false;
                for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))?.flatten() {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    if file.ends_with(".pending") || file.ends_with(".tmp") {
                        tracing::warn!(path = %entry.path().display(), "removing what an interrupted deploy left");
                        std::fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
                        removed = true;
                    }
                }
                if removed {
                    sync_dir(&dir)?;
                }
            }
        }
        Ok(())
    }

    /// Each kept version of a function with its component's size in bytes, ascending.
    pub fn sizes(&self, tenant: &str, name: &str) -> Vec<(u32, u64)> {
        let dir = self.dir(tenant, name);
        self.versions(tenant, name)
            .into_iter()
            .map(|v| {
                let len = std::fs::metadata(dir.join(format!("v{v}.wasm"))).map_or(0, |m| m.len());
                (v, len)
            })
            .collect()
    }

    /// Bytes of every stored component of a tenant, over all its functions and versions.
    pub fn tenant_bytes(&self, tenant: &str) -> u64 {
        std::fs::read_dir(self.root.join(tenant))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|f| f.file_name().into_string().ok())
            .flat_map(|name| self.sizes(tenant, &name))
            .map(|(_, len)| len)
            .sum()
    }

    /// The versions [`Store::prune`] deletes: all but the newest `keep` and the current.
    fn beyond(&self, tenant: &str, name: &str, keep: usize) -> Vec<u32> {
        let current = self.current(tenant, name);
        let versions = self.versions(tenant, name);
        let cut = versions.len().saturating_sub(keep);
        versions[..cut]
            .iter()
            .copied()
            .filter(|v| Some(*v) != current)
            .collect()
    }

    /// Deletes every version but the newest `keep` and the current one; returns the deleted.
    pub fn prune(&self, tenant: &str, name: &str, keep: usize) -> Result<Vec<u32>, StoreError> {
        let old = self.beyond(tenant, name, keep);
        self.drop_versions(tenant, name, &old)?;
        Ok(old)
    }

    /// Deletes the versions not in `kept` (never the current one).
    pub fn keep_only(&self, tenant: &str, name: &str, kept: &[u32]) -> Result<(), StoreError> {
        let current = self.current(tenant, name);
        let old: Vec<u32> = self
            .versions(tenant, name)
            .into_iter()
            .filter(|v| !kept.contains(v) && Some(*v) != current)
            .collect();
        self.drop_versions(tenant, name, &old)
    }

    fn drop_versions(&self, tenant: &str, name: &str, old: &[u32]) -> Result<(), StoreError> {
        let dir = self.dir(tenant, name);
        for &version in old {
            // The spec goes last: a version is listed by its component.
            for (done, _) in version_files(&dir, version) {
                match std::fs::remove_file(&done) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io_err(&done)(e))
                    }
                    _ => {}
                }
            }
        }
        if !old.is_empty() {
            sync_dir(&dir)?;
        }
        Ok(())
    }

    /// Forgets a function and its history.
    pub fn remove(&self, tenant: &str, name: &str) -> Result<(), StoreError> {
        let dir = self.dir(tenant, name);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&dir)(e)),
            _ => Ok(()),
        }
    }

    /// Every (tenant, function) with a current version.
    pub fn deployed(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for tenant in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(t) = tenant.file_name().into_string() else {
                continue;
            };
            for function in std::fs::read_dir(tenant.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let Ok(f) = function.file_name().into_string() else {
                    continue;
                };
                if self.current(&t, &f).is_some() {
                    out.push((t.clone(), f));
                }
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            routes: vec!["/x".into()],
            limits: RawLimits {
                memory_mb: Some(16),
                ..RawLimits::default()
            },
            ..Spec::default()
        }
    }

    #[test]
    fn versions_current_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert_eq!(store.add("a", "f", &spec(), b"one").unwrap(), 1);
        assert_eq!(store.current("a", "f"), None);
        store.set_current("a", "f", 1).unwrap();
        assert_eq!(store.add("a", "f", &spec(), b"two").unwrap(), 2);
        store.set_current("a", "f", 2).unwrap();
        assert_eq!(store.versions("a", "f"), vec![1, 2]);
        assert_eq!(store.read("a", "f", 1).unwrap().component, b"one");
        assert_eq!(store.deployed(), vec![("a".to_string(), "f".to_string())]);
        store.remove("a", "f").unwrap();
        assert!(store.deployed().is_empty());
    }

    /// A spec stored before the limits were one type (every limit a key, unset ones null)
    /// still reads, and a spec is still stored flat.
    #[test]
    fn specs_stored_by_earlier_versions_still_read() {
        let old = r#"{"routes":["/x"],"memory_mb":16,"cpu_ms":null,"timeout_ms":null,
            "max_body_kb":null,"max_concurrency":2,"public":true,"env":[],"sha256":"ab",
            "deployed_at_unix":1}"#;
        let spec: Spec = serde_json::from_str(old).unwrap();
        assert_eq!(spec.limits.memory_mb, Some(16));
        assert_eq!(spec.limits.max_concurrency, Some(2));
        assert_eq!(spec.limits.cpu_ms, None);
        assert!(spec.public);
        let written = serde_json::to_value(&spec).unwrap();
        assert_eq!(written["memory_mb"], 16, "{written}");
        assert!(written.get("cpu_ms").is_none(), "{written}");
    }

    #[test]
    fn pruning_keeps_the_newest_and_the_current() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        for n in 1..=5u32 {
            let v = store
                .add("a", "f", &spec(), &vec![0; n as usize * 10])
                .unwrap();
            store.set_current("a", "f", v).unwrap();
        }
        store.add("a", "g", &spec(), b"other").unwrap();
        store.set_current("a", "g", 1).unwrap();
        assert_eq!(store.tenant_bytes("a"), 150 + 5);
        // Rolled back to v2, then pruned to two: v4 and v5 stay, and v2 because it serves.
        store.set_current("a", "f", 2).unwrap();
        assert_eq!(store.beyond("a", "f", 2), vec![1, 3]);
        assert_eq!(store.prune("a", "f", 2).unwrap(), vec![1, 3]);
        assert_eq!(store.versions("a", "f"), vec![2, 4, 5]);
        assert_eq!(store.sizes("a", "f"), vec![(2, 20), (4, 40), (5, 50)]);
        assert_eq!(store.tenant_bytes("a"), 110 + 5);
        assert_eq!(store.add("a", "f", &spec(), b"six").unwrap(), 6);
    }

    /// `kill -9` between writing a version and committing it, at each step: the uncommitted
    /// version disappears at recovery and rollback never sees it; a committed one is finished.
    #[test]
    fn an_interrupted_deploy_leaves_no_version_to_roll_back_to() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.add("a", "f", &spec(), b"one").unwrap();
        store.set_current("a", "f", 1).unwrap();
        // Crash after the files of v2, before `current`.
        assert_eq!(store.add("a", "f", &spec(), b"never served").unwrap(), 2);
        assert_eq!(
            store.versions("a", "f"),
            vec![1],
            "a pending version is not a version"
        );
        // Crash while a temporary file was being written.
        std::fs::write(dir.path().join("functions/a/f/current.tmp"), b"9").unwrap();
        let restarted = Store::new(dir.path());
        restarted.recover().unwrap();
        assert_eq!(restarted.current("a", "f"), Some(1));
        let left: Vec<_> = std::fs::read_dir(dir.path().join("functions/a/f"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".pending") || n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // The next deploy is v2 again, and rolling back from it reaches v1, never the orphan.
        assert_eq!(restarted.add("a", "f", &spec(), b"two").unwrap(), 2);
        restarted.set_current("a", "f", 2).unwrap();
        assert_eq!(restarted.versions("a", "f"), vec![1, 2]);
        assert_eq!(restarted.read("a", "f", 2).unwrap().component, b"two");

        // Crash after `current` was written, before the pending files were renamed.
        assert_eq!(restarted.add("a", "f", &spec(), b"three").unwrap(), 3);
        std::fs::write(dir.path().join("functions/a/f/current"), b"3").unwrap();
        let again = Store::new(dir.path());
        again.recover().unwrap();
        assert_eq!(again.versions("a", "f"), vec![1, 2, 3]);
        assert_eq!(again.read("a", "f", 3).unwrap().component, b"three");
    }
}
