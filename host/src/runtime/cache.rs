//! On-disk cache of compiled components, bounded in size.
//!
//! A compiled artifact is stored as `<dir>/<sha256 of component>-<engine hash>.cwasm`. The engine
//! hash is wasmtime's precompile-compatibility hash (compiler, target, tunables), so a changed
//! engine configuration never loads a stale artifact. The compiler writes to a temporary name
//! that is renamed into place only after a successful compile, so a crash or a refused compile
//! never leaves a half-written artifact under the final name. An artifact that fails to load is
//! recompiled and replaced.
//!
//! Bound: after each store, the least recently used artifacts (by modification time, which a
//! hit refreshes) are deleted until the folder holds at most `max_bytes` of them. A deleted
//! artifact that is still loaded keeps working (it is mapped); the next load compiles it again.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

use super::compiler::{CompileError, Compiler};

/// Where compiled components live.
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
    max_bytes: u64,
}

/// How a component was obtained, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
}

impl CompileCache {
    pub fn new(engine: &Engine, dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir: dir.into(),
            engine_key: format!("{:016x}", hasher.finish()),
            max_bytes,
        }
    }

    /// Hex sha256 of component bytes: the identity of a component everywhere in the host.
    pub fn digest(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn artifact_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// Loads the compiled form of `bytes`, compiling it with `compiler` on a miss.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        compiler: &Compiler,
    ) -> Result<(Component, CacheOutcome), CompileError> {
        let path = self.artifact_path(&Self::digest(bytes));
        if path.exists() {
            // SAFETY: the file was written by `precompile_component` of an engine with the same
            // compatibility hash, into a folder only this host writes; wasmtime re-checks the
            // header and refuses incompatible artifacts.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    let _ = std::fs::File::options()
                        .append(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(SystemTime::now()));
                    return Ok((component, CacheOutcome::Hit));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable compiled artifact")
                }
            }
        }
        let io = |e: std::io::Error| CompileError::Process(format!("{}: {e}", self.dir.display()));
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let tmp = tempfile_in(&self.dir);
        let compiled = compiler.compile_to(engine, bytes, &tmp);
        let stored = compiled.and_then(|()| std::fs::rename(&tmp, &path).map_err(io));
        if let Err(e) = stored {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        // SAFETY: as above; the artifact was just written by `compiler` for this engine.
        let component = unsafe { Component::deserialize_file(engine, &path) }
            .map_err(|e| CompileError::Process(format!("loading the artifact: {e:#}")))?;
        self.evict(&path);
        Ok((component, CacheOutcome::Compiled))
    }

    /// Deletes the least recently used artifacts beyond the size bound, never `keep`.
    fn evict(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut artifacts: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = artifacts.iter().map(|(_, len, _)| len).sum();
        artifacts.sort();
        for (_, len, path) in artifacts {
            if total <= self.max_bytes {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                tracing::info!(path = %path.display(), "compiled artifact evicted (cache size bound)");
                total -= len;
            }
        }
    }
}

/// A fresh temporary name in `dir`, unique across processes and threads.
fn tempfile_in(dir: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".compiling-{}-{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(marker: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(component (core module (func (export "{marker}") (result i32) i32.const 7)))"#
        ))
        .unwrap()
    }

    #[test]
    fn hits_after_a_compile_and_stays_within_its_size_bound() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let first = component("a");
        let probe = CompileCache::new(&engine, dir.path(), u64::MAX);
        probe.load(&engine, &first, &Compiler::InProcess).unwrap();
        let one = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(one, 1, "one artifact, no temporary file left");
        let size = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.metadata().unwrap().len())
            .sum::<u64>();

        // Room for two artifacts of about that size.
        let cache = CompileCache::new(&engine, dir.path(), size * 2 + size / 2);
        let (_, outcome) = cache.load(&engine, &first, &Compiler::InProcess).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        for marker in ["b", "c", "d"] {
            let (_, outcome) = cache
                .load(&engine, &component(marker), &Compiler::InProcess)
                .unwrap();
            assert_eq!(outcome, CacheOutcome::Compiled);
        }
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 2, "the least recently used artifacts were evicted");
        let (_, outcome) = cache
            .load(&engine, &component("d"), &Compiler::InProcess)
            .unwrap();
        assert_eq!(outcome, CacheOutcome::Hit, "the newest one is kept");
    }

    #[test]
    fn an_invalid_component_leaves_nothing_behind() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(&engine, dir.path(), u64::MAX);
        let Err(err) = cache.load(&engine, b"\0asm not really", &Compiler::InProcess) else {
            panic!("garbage does not compile");
        };
        assert!(matches!(err, CompileError::Invalid(_)), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
