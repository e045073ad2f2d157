//! The per-request sandbox: everything a [`wasmtime::Store`] holds for one instance.
//!
//! Invariants: a sandbox lives for exactly one request and is dropped with its store; it sees no
//! files, no sockets, no inherited environment; outbound HTTP reaches only the host names the
//! function was allowed (none by default); its linear memory cannot
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
    hooks: Outbound,
    pub(crate) memory: MemoryCap,
    /// Shared vision models; `None` when the host loaded none.
    pub(crate) vision: Option<Arc<Vision>>,
}

impl Sandbox {
    pub fn new(
        function: &str,
        env: &[(String, String)],
        outbound: Arc<[String]>,
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
            hooks: Outbound { allowed: outbound },
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

/// Outbound HTTP: allowed only to the host names the function was given (its tenant's
/// `outbound`, or the manifest's), denied otherwise.
struct Outbound {
    allowed: Arc<[String]>,
}

impl Outbound {
    fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed.iter().any(|a| match a.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => *a == host,
        })
    }
}

type Pending = Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Pending,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<(http::Response<WasiBody>, Pending), wasmtime_wasi_http::Error>,
            > + Send,
    > {
        let host = request.uri().host().unwrap_or_default().to_string();
        if !self.allows(&host) {
            tracing::debug!(%host, "outbound request denied");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Pending))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_hosts_and_subdomains() {
        let out = Outbound {
            allowed: vec!["api.example.com".to_string(), "*.cdn.test".to_string()].into(),
        };
        assert!(out.allows("API.example.com"));
        assert!(out.allows("img.cdn.test"));
        assert!(!out.allows("cdn.test"));
        assert!(!out.allows("example.com"));
        assert!(!out.allows("api.example.com.evil"));
    }
}
