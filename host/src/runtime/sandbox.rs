//! The per-request sandbox: everything a [`wasmtime::Store`] holds for one instance.
//!
//! Invariants: a sandbox lives for exactly one request and is dropped with its store; it sees no
//! files, no sockets, no inherited environment; outbound HTTP goes only where
//! [`super::outbound`] allows (nowhere by default); its linear memories together cannot grow
//! past the function's cap, nor its tables past [`MAX_TABLE_ELEMENTS`] together (growth fails
//! inside the guest, which then traps or copes); what it keeps on the host's side (header
//! fields, buffered body chunks, streams: every wasi resource) is at most
//! [`host_resources`]`(cap)` entries of at most [`HOST_RESOURCE_BYTES`] each, so no more than
//! about the cap again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::guest_log::GuestLog;
use super::interfaces::InstanceStates;
use super::outbound::Outbound;

/// Store data of one request's instance.
pub struct Sandbox {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    hooks: Hooks,
    pub(crate) memory: MemoryCap,
    /// The states of the host interfaces the function was granted.
    pub(crate) interfaces: InstanceStates,
}

impl Sandbox {
    pub fn new(
        function: &str,
        env: &[(String, String)],
        outbound: Arc<Outbound>,
        memory_bytes: u64,
        interfaces: InstanceStates,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(GuestLog::stdout(function))
            .stderr(GuestLog::stderr(function))
            .envs(env)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(HOST_RESOURCE_BYTES);
        let mut table = ResourceTable::new();
        table.set_max_capacity(host_resources(memory_bytes));
        Sandbox {
            wasi: wasi.build(),
            http,
            table,
            hooks: Hooks { outbound },
            memory: MemoryCap::new(memory_bytes),
            interfaces,
        }
    }
}

/// The most one host-side resource holds: a `fields` (headers, in wasmtime's in-memory
/// measure) or one buffered chunk of an outgoing body.
pub const HOST_RESOURCE_BYTES: usize = 64 << 10;

/// Host-side resources one instance may hold at once: its memory cap's worth of
/// [`HOST_RESOURCE_BYTES`], never fewer than 256 (a request uses a few dozen).
pub fn host_resources(memory_bytes: u64) -> usize {
    let fit = memory_bytes / HOST_RESOURCE_BYTES as u64;
    usize::try_from(fit).unwrap_or(usize::MAX).max(256)
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

/// Caps the instance's linear memories and tables, each kind summed over all of them (a
/// component made of several core modules has a memory each), remembering whether the cap was
/// hit.
pub struct MemoryCap {
    limit: usize,
    hit: Arc<AtomicBool>,
    /// Bytes of every memory, elements of every table.
    memories: Sum,
    tables: Sum,
}

/// The size of several things of one kind (memories, tables) together, as allowed so far.
#[derive(Default)]
struct Sum {
    used: usize,
    /// The last growth allowed, `(current, desired)`, undone if it then fails.
    last: (usize, usize),
}

impl Sum {
    /// Allows growing one of them from `current` to `desired` when the sum stays within `limit`.
    fn grow(&mut self, current: usize, desired: usize, limit: usize) -> bool {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        let allowed = total <= limit;
        if allowed {
            self.used = total;
            self.last = (current, desired);
        }
        allowed
    }

    /// The last growth allowed did not happen.
    fn undo(&mut self) {
        let (current, desired) = self.last;
        self.used = self.used.saturating_sub(desired).saturating_add(current);
    }
}

impl MemoryCap {
    fn new(limit: u64) -> Self {
        MemoryCap {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            hit: Arc::default(),
            memories: Sum::default(),
            tables: Sum::default(),
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
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.memories.grow(current, desired, self.limit);
        if !allowed {
            self.hit.store(true, Ordering::Relaxed);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memories.undo();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.tables.grow(current, desired, MAX_TABLE_ELEMENTS))
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.tables.undo();
        Ok(())
    }
}

/// What wasi:http asks of the host: outbound requests go where [`Outbound`] allows.
struct Hooks {
    outbound: Arc<Outbound>,
}

type Pending = Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;

impl WasiHttpHooks for Hooks {
    /// One chunk of a body may wait on the host side, no larger than a resource's share.
    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        HOST_RESOURCE_BYTES
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A component of two core modules, each with a memory of `pages` 64 KiB pages, under a cap.
    fn instantiate_two_memories(pages: u32, cap: u64) -> (wasmtime::Result<()>, bool) {
        let engine = wasmtime::Engine::default();
        let text = format!(
            "(component
               (core module $a (memory (export \"m\") {pages}))
               (core module $b (memory (export \"m\") {pages}))
               (core instance (instantiate $a))
               (core instance (instantiate $b)))"
        );
        let component =
            wasmtime::component::Component::new(&engine, wat::parse_str(&text).unwrap()).unwrap();
        let mut store = wasmtime::Store::new(&engine, MemoryCap::new(cap));
        store.limiter(|cap| cap);
        let linker = wasmtime::component::Linker::new(&engine);
        let hit = store.data().hit_flag();
        let result = linker.instantiate(&mut store, &component).map(|_| ());
        (result, hit.load(Ordering::Relaxed))
    }

    #[test]
    fn the_cap_holds_for_the_sum_of_an_instances_memories() {
        // Two memories of 2.5 MiB under a 3 MiB cap: each fits, both do not.
        let (both, hit) = instantiate_two_memories(40, 3 << 20);
        assert!(
            both.is_err() && hit,
            "two 2.5 MiB memories passed a 3 MiB cap"
        );
        let (fits, hit) = instantiate_two_memories(40, 6 << 20);
        assert!(fits.is_ok() && !hit);
    }

    #[test]
    fn growth_is_counted_once_and_failures_are_undone() {
        let mut cap = MemoryCap::new(100);
        assert!(cap.memory_growing(0, 40, None).unwrap());
        assert!(
            cap.memory_growing(40, 60, None).unwrap(),
            "grows the same memory to 60"
        );
        assert!(
            cap.memory_growing(0, 40, None).unwrap(),
            "a second memory: 100 in all"
        );
        assert!(!cap.memory_growing(0, 1, None).unwrap());
        assert!(cap.memory_growing(40, 39, None).unwrap());
        cap.memory_grow_failed(wasmtime::Error::msg("no")).unwrap();
        assert!(
            !cap.memory_growing(0, 1, None).unwrap(),
            "the failed shrink is undone"
        );
    }
}
