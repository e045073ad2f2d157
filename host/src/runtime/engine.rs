//! The one wasmtime [`Engine`] of the process and its epoch ticker.
//!
//! Invariants: async support and epoch interruption are always on (CPU deadlines yield through
//! epochs); the pooling allocator is used when it can reserve its address space, otherwise the
//! engine falls back to on-demand allocation and says so in the log. One ticker thread advances the
//! epoch for every store of the engine.

use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ProfilingStrategy,
};

use crate::config::RuntimeConfig;

/// How the engine allocates instances, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    Pooling { slots: u32 },
    OnDemand,
}

/// Sizing the pooling allocator needs: slots and the biggest linear memory.
pub struct PoolSizing {
    pub instances: u32,
    pub max_memory_bytes: u64,
}

/// The settings every engine of the host shares, the compiler's child process included: an
/// artifact compiled under them loads into the serving engine.
pub fn base_config(perfmap: bool) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    if perfmap {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    config
}

/// Builds the engine, preferring the pooling allocator.
pub fn build(
    runtime: &RuntimeConfig,
    sizing: PoolSizing,
) -> wasmtime::Result<(Engine, Allocation)> {
    if runtime.pooling {
        let slots = sizing.instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        // A component instance of a Rust guest has a handful of core instances; size generously.
        pool.total_component_instances(slots)
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 4)
            .total_stacks(slots)
            .max_memories_per_component(4)
            .max_memory_size(sizing.max_memory_bytes as usize)
            .linear_memory_keep_resident((runtime.memory_keep_resident_kb << 10) as usize)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);
        let mut config = base_config(runtime.perfmap);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&config) {
            Ok(engine) => return Ok((engine, Allocation::Pooling { slots })),
            Err(e) => tracing::warn!(
                error = %e,
                slots,
                "pooling allocator unavailable; falling back to on-demand allocation"
            ),
        }
    }
    Ok((
        Engine::new(&base_config(runtime.perfmap))?,
        Allocation::OnDemand,
    ))
}

/// Starts the thread that advances the engine's epoch every `tick`. It runs for the process's life.
pub fn start_epoch_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("atelier-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        })
        .expect("spawning the epoch thread");
}
