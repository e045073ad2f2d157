//! The per-request sandbox: everything a [`wasmtime::Store`] holds for one instance.
//!
//! Invariants: a sandbox lives for exactly one request and is dropped with its store; it sees no
//! files, no sockets, no inherited environment; outbound HTTP is denied; its linear memory cannot
//! grow past the function's cap (growth fails inside the guest, which then traps or copes).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::guest_log::GuestLog;
use crate::vision::{Vision, VisionView};

/// Store data of one request's instance.
pub struct Sandbox {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: DenyOutbound,
    pub(crate) memory: MemoryCap,
    /// Shared vision models; `None` when the host loaded none.
    pub(crate) vision: Option<Arc<Vision>>,
}

impl Sandbox {
    pub fn new(
        function: &str,
        env: &[(String, String)],
        memory_bytes: u64,
        vision: Option<Arc<Vision>>,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(GuestLog::stdout(function))
            .stderr(GuestLog::stderr(function))
            .envs(env)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        Sandbox {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: DenyOutbound,
            memory: MemoryCap::new(memory_bytes),
            vision,
        }
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Sandbox {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl Sandbox {
    /// The view the `atelier:vision` bindings use.
    pub fn vision(&mut self) -> VisionView<'_> {
        VisionView {
            vision: self.vision.as_ref(),
        }
    }
}

/// Caps linear memory and table growth, remembering whether the cap was hit.
pub struct MemoryCap {
    limit: usize,
    hit: Arc<AtomicBool>,
}

impl MemoryCap {
    fn new(limit: u64) -> Self {
        MemoryCap {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            hit: Arc::default(),
        }
    }

    /// A handle that tells, after the store is gone, whether the cap refused growth.
    pub fn hit_flag(&self) -> Arc<AtomicBool> {
        self.hit.clone()
    }
}

/// Table elements one instance may have; far above what real guests use.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.limit;
        if !allowed {
            self.hit.store(true, Ordering::Relaxed);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Outbound HTTP from functions is denied: no function has been granted network access.
struct DenyOutbound;

impl WasiHttpHooks for DenyOutbound {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<
                            dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>>
                                + Send,
                        >,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
