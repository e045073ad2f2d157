//! Many tenants on one host: who a request is from, what each tenant may use, and the functions
//! tenants deploy at runtime.
//!
//! - [`auth`]: bearer tokens → the operator or a tenant (keys are kept only as SHA-256);
//! - [`quota`]: each tenant's request rate (token bucket) and concurrent instances;
//! - [`store`]: deployed components and their versions on disk;
//! - [`deployments`]: validating, compiling and atomically swapping deployed functions into the
//!   routing table;
//! - [`deployed`]: a deployed function with its gate and owner, and the routing table of them;
//! - [`gate`]: bounding instances running at once.
//!
//! The `/admin/v1` HTTP API over all of that is the server's (`server::admin`).
//!
//! Invariants: a tenant's functions run only with that tenant's grants and within its quotas; a
//! tenant's key reaches only that tenant's functions and deployments; a deploy replaces the
//! serving version only after the new one compiled and linked.

pub mod auth;
pub mod deployed;
pub mod deployments;
pub mod gate;
pub mod quota;
pub mod store;

use std::sync::Arc;

use crate::cluster::rate::SharedRate;
use crate::config::TenantConfig;
pub use auth::{Keys, Principal};
pub use deployed::{Deployed, Owner, Routes};
pub use deployments::Deployments;
pub use quota::TenantQuota;

/// A tenant as the server uses it: its configuration and its live quota state.
pub struct Tenant {
    pub config: TenantConfig,
    pub quota: TenantQuota,
}

impl Tenant {
    /// A tenant; in a cluster its request rate is shared through `shared`.
    pub fn new(config: TenantConfig, shared: Option<Arc<SharedRate>>) -> Self {
        let quota = TenantQuota::new(&config.id, &config.quotas, shared);
        Tenant { config, quota }
    }

    pub fn id(&self) -> &str {
        &self.config.id
    }
}
