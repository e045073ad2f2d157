//! The wasmtime side of the host: one engine, compiled components, a fresh sandboxed instance
//! per request.
//!
//! - [`engine`]: engine configuration, pooling allocator, epoch ticker;
//! - [`compiler`]: compiling components, untrusted ones in a child process under a budget;
//! - [`cache`]: compiled components on disk, bounded in size;
//! - [`sandbox`]: per-request store data (WASI, wasi:http, memory cap);
//! - [`outbound`]: where a function's outbound HTTP may connect (names, ports, public addresses);
//! - [`function`]: a loaded function and one request's run under its CPU, wall-clock and memory limits;
//! - [`guest_log`]: component stdout/stderr as tagged log lines;
//! - [`interfaces`]: host interfaces beyond WASI (`atelier:vision`): linking, grants, state.
//!
//! Invariant: a component is instantiated only through an `InstancePre` checked against the
//! function's grants, so an ungranted import is refused at load, never at request time.

pub mod cache;
pub mod compiler;
pub mod engine;
pub mod function;
pub mod guest_log;
pub mod interfaces;
pub mod outbound;
pub mod sandbox;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::Digest;
use wasmtime::component::Linker;
use wasmtime::Engine;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::config::{FunctionConfig, RuntimeConfig};
use crate::telemetry::Metrics;
use crate::vision::Vision;
pub use cache::{CacheOutcome, CompileCache};
pub use compiler::{CompileBudget, CompileError, Compiler};
pub use engine::{Allocation, PoolSizing};
pub use function::{Function, InvokeError};
use interfaces::{HostInterface, VisionInterface};
pub use sandbox::Sandbox;

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("function {function:?}: cannot read component {path}: {source}")]
    Read {
        function: String,
        path: String,
        source: std::io::Error,
    },
    #[error("function {function:?}: not a valid component: {message}")]
    Compile { function: String, message: String },
    #[error("function {function:?}: {error}")]
    OverBudget {
        function: String,
        error: CompileError,
    },
    #[error("function {function:?}: {error}")]
    Compiler {
        function: String,
        error: CompileError,
    },
    #[error(
        "function {function:?}: component imports `{import}`, which needs the grant {grant:?}"
    )]
    NotGranted {
        function: String,
        import: String,
        grant: String,
    },
    #[error("function {function:?}: {message}")]
    Link { function: String, message: String },
}

/// The engine, the linker every function shares, the compile cache and how deployed
/// components are compiled.
pub struct Runtime {
    engine: Engine,
    linker: Linker<Sandbox>,
    cache: CompileCache,
    deploy_compiler: Compiler,
    allocation: Allocation,
    tick: Duration,
    metrics: Arc<Metrics>,
    vision: Option<Arc<Vision>>,
    interfaces: Vec<Arc<dyn HostInterface>>,
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch ticker. Deployed (untrusted)
    /// components are compiled by `deploy_compiler`, the manifest's own in this process.
    pub fn new(
        config: &RuntimeConfig,
        deploy_compiler: Compiler,
        sizing: PoolSizing,
        metrics: Arc<Metrics>,
        vision: Option<Arc<Vision>>,
    ) -> wasmtime::Result<Self> {
        let (engine, allocation) = engine::build(config, sizing)?;
        let tick = Duration::from_millis(config.epoch_tick_ms);
        engine::start_epoch_ticker(&engine, tick);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let interfaces: Vec<Arc<dyn HostInterface>> =
            vec![Arc::new(VisionInterface(vision.clone()))];
        for interface in &interfaces {
            interface.add_to_linker(&mut linker)?;
        }
        let cache = CompileCache::new(&engine, &config.cache_dir, config.cache_max_mb << 20);
        tracing::info!(?allocation, "wasmtime engine ready");
        Ok(Runtime {
            engine,
            linker,
            cache,
            deploy_compiler,
            allocation,
            tick,
            metrics,
            vision,
            interfaces,
        })
    }

    /// The vision models, when some function may use them.
    pub fn vision(&self) -> Option<&Arc<Vision>> {
        self.vision.as_ref()
    }

    pub fn allocation(&self) -> Allocation {
        self.allocation
    }

    /// Reads, compiles (or loads from cache), checks grants and pre-instantiates one of the
    /// operator's functions.
    pub fn load(&self, config: &FunctionConfig) -> Result<Function, LoadError> {
        let started = Instant::now();
        let bytes = std::fs::read(&config.component).map_err(|source| LoadError::Read {
            function: config.name.clone(),
            path: config.component.display().to_string(),
            source,
        })?;
        self.load_with(config, &bytes, &Compiler::InProcess).inspect(|_| {
            tracing::debug!(function = %config.name, elapsed_ms = started.elapsed().as_millis() as u64, "function loaded");
        })
    }

    /// Same as [`Runtime::load`] for a tenant's component: compiled under the deploy budget.
    pub fn load_deployed(
        &self,
        config: &FunctionConfig,
        bytes: &[u8],
    ) -> Result<Function, LoadError> {
        self.load_with(config, bytes, &self.deploy_compiler)
    }

    fn load_with(
        &self,
        config: &FunctionConfig,
        bytes: &[u8],
        compiler: &Compiler,
    ) -> Result<Function, LoadError> {
        let name = &config.name;
        let compile_err = |error: CompileError| {
            let function = name.clone();
            match error {
                CompileError::Invalid(message) => LoadError::Compile { function, message },
                CompileError::TimedOut(_) | CompileError::OutOfMemory(_) => {
                    LoadError::OverBudget { function, error }
                }
                CompileError::Process(_) => LoadError::Compiler { function, error },
            }
        };
        let (component, outcome) = self
            .cache
            .load(&self.engine, bytes, compiler)
            .map_err(compile_err)?;
        let ty = component.component_type();
        for (import, _) in ty.imports(&self.engine) {
            let Some(interface) = self.interfaces.iter().find(|i| i.provides(import)) else {
                continue;
            };
            if !config.grants.iter().any(|g| g == interface.package()) {
                return Err(LoadError::NotGranted {
                    function: name.clone(),
                    import: import.to_string(),
                    grant: interface.package().to_string(),
                });
            }
        }
        let granted = self
            .interfaces
            .iter()
            .filter(|i| config.grants.iter().any(|g| g == i.package()))
            .cloned()
            .collect();
        let link_err = |e: wasmtime::Error| LoadError::Link {
            function: name.clone(),
            message: format!("{e:#}"),
        };
        let instance_pre = self.linker.instantiate_pre(&component).map_err(link_err)?;
        let pre = ProxyPre::new(instance_pre).map_err(|e| LoadError::Link {
            function: name.clone(),
            message: format!("component does not export wasi:http/incoming-handler: {e:#}"),
        })?;
        tracing::info!(function = %name, cache = ?outcome, "function ready");
        Ok(Function::new(
            config,
            hex::encode(sha2::Sha256::digest(bytes)),
            pre,
            self.tick,
            self.metrics.clone(),
            granted,
        ))
    }
}
