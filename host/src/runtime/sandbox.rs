//! The per-request sandbox: everything a [`wasmtime::Store`] holds for one instance.
//!
//! Invariants: a sandbox lives for exactly one request and is dropped with its store; it sees no
//! files, no sockets, no inherited environment; outbound HTTP goes only where
//! [`super::outbound`] allows (nowhere by default); its linear memory cannot
//! grow past the function's cap (growth fails inside the guest, which then traps or copes).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::guest_log::GuestLog;
use super::outbound::Outbound;
use crate::vision::{Vision, VisionView};

/// Store data of one request's instance.
pub struct Sandbox {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
    pub(crate) memory: MemoryCap,
    /// Shared vision models; `None` when the host loaded none.
    pub(crate) vision: Option<Arc<Vision>>,
}

impl Sandbox {
    pub fn new(
        function: &str,
        env: &[(String, String)],
        outbound: Arc<Outbound>,
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
            hooks: Hooks { outbound },
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

/// What wasi:http asks of the host: outbound requests go where [`Outbound`] allows.
struct Hooks {
    outbound: Arc<Outbound>,
}

type Pending = Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Pending,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<(http::Response<WasiBody>, Pending), wasmtime_wasi_http::Error>,
            > + Send,
    > {
        let uri = request.uri().clone();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let checked = self.outbound.clone();
        Box::new(async move {
            use http_body_util::BodyExt;
            let address = checked.destination(&host, port, https).await?;
            if !https {
                // Connect to the address that was checked; `Host` keeps the name.
                let mut parts = uri.into_parts();
                parts.authority = Some(
                    address
                        .to_string()
                        .parse()
                        .map_err(|_| wasmtime_wasi_http::Error::HttpRequestUriInvalid)?,
                );
                *request.uri_mut() = http::Uri::from_parts(parts)
                    .map_err(|_| wasmtime_wasi_http::Error::HttpRequestUriInvalid)?;
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Pending))
        })
    }
}
