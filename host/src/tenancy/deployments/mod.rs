//! Functions tenants deploy at runtime, next to the manifest's own: validate, compile, persist,
//! then swap the routing table atomically.
//!
//! Invariants: changes to one tenant's functions are serialised, different tenants' run side by
//! side (compiles in a bounded number of slots, outside every lock); the routing table is
//! replaced in one store, so a request sees either the old or the new table, and in-flight
//! requests keep the function they started with; a deploy that fails at any step changes
//! nothing that serves. In a cluster ([`shared`]) a change commits in the registry first and
//! serves here only after; the local store is then this node's last-known-good copy.

mod shared;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::deployed::{Deployed, Owner, Routes};
use super::store::{Spec, Store, StoreError};
use super::Tenant;
use crate::cluster::rate::SharedRate;
use crate::cluster::registry::Registry;
use crate::cluster::{Cluster, ClusterError};
use crate::config::{AdminConfig, FunctionConfig, RawLimits, RouteConfig};
use crate::routes;
use crate::runtime::{LoadError, Runtime};

/// Why a deployment operation failed; each maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{param}: {message}")]
    BadParameter { param: String, message: String },
    #[error("{0}")]
    QuotaExceeded(String),
    #[error(
        "route {path:?} conflicts with {by}: a route belongs to its owner with everything under it"
    )]
    RouteConflict { path: String, by: String },
    #[error("{0}")]
    RouteNotAllowed(String),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("no tenant {0:?}")]
    NoTenant(String),
    #[error("tenant {tenant:?} has no function {name:?}")]
    NoFunction { tenant: String, name: String },
    #[error("function {0:?} has no earlier version to roll back to")]
    NoPreviousVersion(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the cluster's registry cannot take changes now ({0}); nothing was changed on any node, try again")]
    Unavailable(#[from] ClusterError),
    #[error("{0}")]
    Internal(String),
}

fn bad(param: &str, message: impl Into<String>) -> DeployError {
    DeployError::BadParameter {
        param: param.into(),
        message: message.into(),
    }
}

/// A deployed function as the admin API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionInfo {
    pub tenant: String,
    pub name: String,
    pub version: u32,
    pub versions: Vec<u32>,
    pub routes: Vec<String>,
    pub hosts: Vec<String>,
    pub public: bool,
    pub sha256: String,
    pub deployed_at_unix: u64,
    pub limits: RawLimits,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<crate::config::CacheRule>,
}

struct Live {
    version: u32,
    /// Every version kept (in the store, or the cluster's registry) with its size in bytes.
    versions: Vec<(u32, u64)>,
    spec: Spec,
    deployed: Arc<Deployed>,
}

/// The manifest's functions plus every live tenant deployment, and the table they make.
pub struct Deployments {
    runtime: Arc<Runtime>,
    table: Arc<ArcSwapOption<Routes>>,
    store: Store,
    tenants: HashMap<String, Arc<Tenant>>,
    fixed: Vec<(Vec<RouteConfig>, Arc<Deployed>)>,
    live: Mutex<BTreeMap<(String, String), Live>>,
    /// One change at a time per tenant (deploy, rollback, delete).
    turns: HashMap<String, tokio::sync::Mutex<()>>,
    compile_slots: tokio::sync::Semaphore,
    keep_versions: usize,
    max_component_bytes: u64,
    /// The cluster's registry, when there is one.
    registry: Option<Arc<Registry>>,
    /// How far this node has followed the registry; held while a change is applied or
    /// committed, so this node's view and the registry move together.
    sync: tokio::sync::Mutex<shared::SyncPoint>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Deployments {
    /// Starts from the manifest's functions; [`Deployments::restore`] adds the stored ones.
    pub fn new(
        runtime: Arc<Runtime>,
        table: Arc<ArcSwapOption<Routes>>,
        store: Store,
        tenants: Vec<Arc<Tenant>>,
        fixed: Vec<(Vec<RouteConfig>, Arc<Deployed>)>,
        admin: &AdminConfig,
        registry: Option<Arc<Registry>>,
    ) -> Self {
        let sync = tokio::sync::Mutex::new(shared::SyncPoint::load(&store));
        Deployments {
            registry,
            sync,
            runtime,
            table,
            store,
            turns: tenants
                .iter()
                .map(|t| (t.id().to_string(), Default::default()))
                .collect(),
            tenants: tenants
                .into_iter()
                .map(|t| (t.id().to_string(), t))
                .collect(),
            fixed,
            live: Mutex::new(BTreeMap::new()),
            compile_slots: tokio::sync::Semaphore::new(admin.max_concurrent_compiles as usize),
            keep_versions: admin.keep_versions as usize,
            max_component_bytes: admin.max_component_mb << 20,
        }
    }

    /// [`Deployments::new`] for a manifest: its tenants, its admin settings and data folder.
    pub fn for_manifest(
        runtime: Arc<Runtime>,
        table: Arc<ArcSwapOption<Routes>>,
        manifest: &crate::config::Manifest,
        fixed: Vec<(Vec<RouteConfig>, Arc<Deployed>)>,
        registry: Option<Arc<Registry>>,
    ) -> Self {
        let shared = registry
            .as_ref()
            .map(|r| Arc::new(SharedRate::new(r.cluster().clone())));
        let tenants = manifest
            .tenants
            .iter()
            .map(|t| Arc::new(Tenant::new(t.clone(), shared.clone())))
            .collect();
        let store = Store::new(&manifest.admin.data_dir);
        Self::new(
            runtime,
            table,
            store,
            tenants,
            fixed,
            &manifest.admin,
            registry,
        )
    }

    /// Models that cannot serve now (see [`crate::vision::Vision::unavailable`]).
    pub fn unavailable_models(&self) -> Vec<String> {
        self.runtime
            .vision()
            .map(|v| v.unavailable())
            .unwrap_or_default()
    }

    /// The cluster this node belongs to, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.registry.as_ref().map(|r| r.cluster())
    }

    /// Largest component a deploy accepts.
    pub fn max_component_bytes(&self) -> u64 {
        self.max_component_bytes
    }

    fn live(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn tenant(&self, id: &str) -> Result<&Arc<Tenant>, DeployError> {
        self.tenants
            .get(id)
            .ok_or_else(|| DeployError::NoTenant(id.to_string()))
    }

    pub fn tenants(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.tenants.values()
    }

    /// Loads every stored current version; one that no longer loads is logged and skipped.
    pub fn restore(&self) {
        if let Err(e) = self.store.recover() {
            tracing::error!(error = %e, "recovering the deployment store after a crash failed");
        }
        let mut live = self.live();
        for (tenant_id, name) in self.store.deployed() {
            let restored = self.tenant(&tenant_id).and_then(|tenant| {
                let version = self.store.current(&tenant_id, &name).unwrap_or_default();
                let stored = self.store.read(&tenant_id, &name, version)?;
                // The rules may have changed since (or the version predates them).
                self.check_spec(tenant, &name, &stored.spec, &live)?;
                let deployed = self.compile(tenant, &name, &stored.spec, &stored.component)?;
                Ok(Live {
                    version,
                    versions: self.store.sizes(&tenant_id, &name),
                    spec: stored.spec,
                    deployed,
                })
            });
            match restored {
                Ok(l) => {
                    tracing::info!(tenant = %tenant_id, function = %name, version = l.version, "deployment restored");
                    live.insert((tenant_id, name), l);
                }
                Err(e) => {
                    tracing::error!(tenant = %tenant_id, function = %name, error = %e, "stored deployment not restored")
                }
            }
        }
        self.install(&live);
    }

    /// Replaces the routing table with one built from the fixed and live functions.
    fn install(&self, live: &BTreeMap<(String, String), Live>) {
        let mut routes = Routes::default();
        for (r, d) in &self.fixed {
            routes.add(RouteConfig::scopes_of(r), d.clone());
        }
        for ((tenant, _), l) in live {
            let hosts = &self.tenants[tenant].config.hosts;
            routes.add(
                RouteConfig::scopes_of(&l.spec.route_configs(hosts)),
                l.deployed.clone(),
            );
        }
        self.table.store(Some(Arc::new(routes)));
    }

    fn config(
        &self,
        tenant: &Tenant,
        name: &str,
        spec: &Spec,
    ) -> Result<FunctionConfig, DeployError> {
        let quotas = &tenant.config.quotas;
        let limits = spec
            .limits
            .resolve(&quotas.function_limits)
            .map_err(|m| bad("limits", m))?;
        if let Some((what, asked, allowed)) = limits.exceeding(&quotas.function_limits) {
            return Err(DeployError::QuotaExceeded(format!(
                "{what} = {asked} is over tenant {:?}'s quota of {allowed}",
                tenant.id()
            )));
        }
        Ok(FunctionConfig {
            cache: spec.cache.clone(),
            name: format!("{}/{name}", tenant.id()),
            component: Default::default(),
            routes: spec.route_configs(&tenant.config.hosts),
            limits,
            grants: tenant.config.grants.clone(),
            env: spec.env.clone(),
            outbound: tenant.config.outbound.clone(),
        })
    }

    fn compile(
        &self,
        tenant: &Arc<Tenant>,
        name: &str,
        spec: &Spec,
        component: &[u8],
    ) -> Result<Arc<Deployed>, DeployError> {
        let config = self.config(tenant, name, spec)?;
        let function = self.runtime.load_deployed(&config, component)?;
        Ok(Arc::new(Deployed::owned(
            function,
            Owner {
                tenant: tenant.clone(),
                public: spec.public,
            },
        )))
    }

    fn check_spec(
        &self,
        tenant: &Tenant,
        name: &str,
        spec: &Spec,
        live: &BTreeMap<(String, String), Live>,
    ) -> Result<(), DeployError> {
        if !crate::config::valid_name(name) {
            return Err(bad("name", "use 1-64 letters, digits, '-' and '_'"));
        }
        if spec.routes.is_empty() {
            return Err(bad("route", "give at least one route path"));
        }
        let config = &tenant.config;
        let mut mine = Vec::new();
        for path in &spec.routes {
            let prefix = routes::normalise_path(path).map_err(|e| bad("route", e.to_string()))?;
            match &config.path_prefix {
                Some(allowed) if !routes::within(&prefix, allowed) => {
                    return Err(DeployError::RouteNotAllowed(format!(
                        "{path:?} is outside tenant {:?}'s path prefix {allowed:?}",
                        tenant.id()
                    )))
                }
                None if config.hosts.is_empty() => {
                    return Err(DeployError::RouteNotAllowed(format!(
                        "tenant {:?} has neither hosts nor a path_prefix: every path of every host is the operator's",
                        tenant.id()
                    )))
                }
                _ => mine.extend(routes::scopes(&prefix, &config.hosts)),
            }
        }
        let key = (tenant.id().to_string(), name.to_string());
        let count = live.keys().filter(|(t, _)| t == tenant.id()).count();
        if !live.contains_key(&key) && count as u32 >= tenant.config.quotas.max_functions {
            return Err(DeployError::QuotaExceeded(format!(
                "tenant {:?} already has its quota of {} functions",
                tenant.id(),
                tenant.config.quotas.max_functions
            )));
        }
        // Another owner's route may not meet this one at all; the tenant's own other functions
        // may nest with it but not take the same route.
        let operator = self.fixed.iter().map(|(r, d)| {
            (
                RouteConfig::scopes_of(r),
                format!("the operator's function {:?}", d.function.name()),
                false,
            )
        });
        let tenants = live.iter().filter(|(k, _)| **k != key).map(|((t, n), l)| {
            let hosts = &self.tenants[t].config.hosts;
            (
                RouteConfig::scopes_of(&l.spec.route_configs(hosts)),
                format!("{t}/{n}"),
                t == tenant.id(),
            )
        });
        for (theirs, by, own) in operator.chain(tenants) {
            let clash = if own {
                mine.iter().find(|m| theirs.contains(m)).map(|m| (m, m))
            } else {
                routes::first_overlap(&mine, &theirs)
            };
            if let Some((m, t)) = clash {
                return Err(DeployError::RouteConflict {
                    path: m.path().to_string(),
                    by: format!("{by} (route {:?})", t.path()),
                });
            }
        }
        Ok(())
    }

    /// Runs blocking work (compiling, disk) off the async workers.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Deployments) -> Result<T, DeployError> + Send + 'static,
    ) -> Result<T, DeployError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(&this))
            .await
            .map_err(|e| DeployError::Internal(format!("deployment task failed: {e}")))?
    }

    /// Compiles under one of the process's compile slots: compiles for different tenants run
    /// side by side up to `max_concurrent_compiles`, the rest wait for a slot, not for a lock.
    async fn compile_in_slot(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
        name: &str,
        spec: &Spec,
        component: Bytes,
    ) -> Result<Arc<Deployed>, DeployError> {
        let _slot = self
            .compile_slots
            .acquire()
            .await
            .map_err(|e| DeployError::Internal(e.to_string()))?;
        let (tenant, name, spec) = (tenant.clone(), name.to_string(), spec.clone());
        self.blocking(move |d| d.compile(&tenant, &name, &spec, &component))
            .await
    }

    /// Refuses a deploy that would take the tenant's stored components over its quota, counting
    /// the versions this deploy lets retention delete.
    fn check_storage(&self, tenant: &Tenant, name: &str, adding: u64) -> Result<(), DeployError> {
        let id = tenant.id();
        let live = self.live();
        let sizes_of = |n: &str| {
            live.get(&(id.to_string(), n.to_string()))
                .map(|l| l.versions.clone())
                .unwrap_or_default()
        };
        // After this deploy the new version is current, and only the newest others are kept.
        let kept_before = self.keep_versions.saturating_sub(1);
        let sizes = sizes_of(name);
        let dropped = sizes.len().saturating_sub(kept_before);
        let freed: u64 = sizes[..dropped].iter().map(|(_, len)| len).sum();
        let stored: u64 = live
            .iter()
            .filter(|((t, _), _)| t == id)
            .flat_map(|(_, l)| l.versions.iter().map(|(_, len)| len))
            .sum();
        let after = (stored - freed).saturating_add(adding);
        let quota = tenant.config.quotas.storage_bytes;
        if after > quota {
            return Err(DeployError::QuotaExceeded(format!(
                "tenant {id:?} would store {} KiB of components, over its storage quota of {} KiB",
                after >> 10,
                quota >> 10
            )));
        }
        Ok(())
    }

    /// Deploys a new version of `tenant`'s function `name` and makes it serve.
    ///
    /// One change at a time per tenant; the compile runs outside every lock, and the routes
    /// are checked again before the new version is committed, since another tenant may have
    /// deployed meanwhile.
    pub async fn deploy(
        self: &Arc<Self>,
        tenant_id: &str,
        name: &str,
        mut spec: Spec,
        component: Bytes,
    ) -> Result<FunctionInfo, DeployError> {
        let tenant = self.tenant(tenant_id)?.clone();
        let _turn = self.turns[tenant_id].lock().await;
        self.check_spec(&tenant, name, &spec, &self.live())?;
        spec.sha256 = hex::encode(Sha256::digest(&component));
        spec.deployed_at_unix = now_unix();
        spec.bytes = component.len() as u64;
        self.check_storage(&tenant, name, spec.bytes)?;
        let deployed = self
            .compile_in_slot(&tenant, name, &spec, component.clone())
            .await?;
        if let Some(registry) = &self.registry {
            return self
                .deploy_shared(registry, &tenant, name, spec, component, deployed)
                .await;
        }
        let name = name.to_string();
        self.blocking(move |d| {
            let mut live = d.live();
            d.check_spec(&tenant, &name, &spec, &live)?;
            let id = tenant.id();
            let version = d.store.add(id, &name, &spec, &component)?;
            d.store.set_current(id, &name, version)?;
            tracing::info!(tenant = %id, function = %name, version, sha256 = %spec.sha256, "deployed");
            match d.store.prune(id, &name, d.keep_versions) {
                Ok(gone) if !gone.is_empty() => {
                    tracing::info!(tenant = %id, function = %name, versions = ?gone, "old versions deleted (keep_versions)")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(tenant = %id, function = %name, error = %e, "deleting old versions failed")
                }
            }
            live.insert(
                (id.to_string(), name.clone()),
                Live {
                    version,
                    versions: d.store.sizes(id, &name),
                    spec,
                    deployed,
                },
            );
            d.install(&live);
            d.info_locked(&live, id, &name)
        })
        .await
    }

    /// Makes the version before the current one serve again.
    pub async fn rollback(
        self: &Arc<Self>,
        tenant_id: &str,
        name: &str,
    ) -> Result<FunctionInfo, DeployError> {
        let tenant = self.tenant(tenant_id)?.clone();
        let _turn = self.turns[tenant_id].lock().await;
        if let Some(registry) = &self.registry {
            return self.rollback_shared(registry, &tenant, name).await;
        }
        let key = (tenant_id.to_string(), name.to_string());
        let current =
            self.live()
                .get(&key)
                .map(|l| l.version)
                .ok_or_else(|| DeployError::NoFunction {
                    tenant: tenant_id.into(),
                    name: name.into(),
                })?;
        let (t, n) = key.clone();
        let stored = self
            .blocking(move |d| {
                let previous = d
                    .store
                    .versions(&t, &n)
                    .into_iter()
                    .rfind(|v| *v < current)
                    .ok_or_else(|| DeployError::NoPreviousVersion(format!("{t}/{n}")))?;
                Ok(d.store.read(&t, &n, previous)?)
            })
            .await?;
        self.check_spec(&tenant, name, &stored.spec, &self.live())?;
        let deployed = self
            .compile_in_slot(&tenant, name, &stored.spec, stored.component.into())
            .await?;
        self.blocking(move |d| {
            let mut live = d.live();
            d.check_spec(&tenant, &key.1, &stored.spec, &live)?;
            d.store.set_current(&key.0, &key.1, stored.version)?;
            tracing::info!(tenant = %key.0, function = %key.1, from = current, to = stored.version, "rolled back");
            let (tenant, name) = (key.0.clone(), key.1.clone());
            live.insert(
                key,
                Live {
                    version: stored.version,
                    versions: d.store.sizes(&tenant, &name),
                    spec: stored.spec,
                    deployed,
                },
            );
            d.install(&live);
            d.info_locked(&live, &tenant, &name)
        })
        .await
    }

    /// Stops serving a function and forgets its versions.
    pub async fn delete(self: &Arc<Self>, tenant_id: &str, name: &str) -> Result<(), DeployError> {
        self.tenant(tenant_id)?;
        let _turn = self.turns[tenant_id].lock().await;
        if let Some(registry) = &self.registry {
            return self.delete_shared(registry, tenant_id, name).await;
        }
        let key = (tenant_id.to_string(), name.to_string());
        self.blocking(move |d| {
            let mut live = d.live();
            if live.remove(&key).is_none() {
                return Err(DeployError::NoFunction {
                    tenant: key.0,
                    name: key.1,
                });
            }
            d.install(&live);
            d.store.remove(&key.0, &key.1)?;
            tracing::info!(tenant = %key.0, function = %key.1, "deleted");
            Ok(())
        })
        .await
    }

    fn info_locked(
        &self,
        live: &BTreeMap<(String, String), Live>,
        tenant: &str,
        name: &str,
    ) -> Result<FunctionInfo, DeployError> {
        let l = live
            .get(&(tenant.to_string(), name.to_string()))
            .ok_or_else(|| DeployError::NoFunction {
                tenant: tenant.into(),
                name: name.into(),
            })?;
        Ok(FunctionInfo {
            tenant: tenant.into(),
            name: name.into(),
            version: l.version,
            versions: l.versions.iter().map(|(v, _)| *v).collect(),
            routes: l.spec.routes.clone(),
            hosts: self.tenants[tenant].config.hosts.clone(),
            public: l.spec.public,
            sha256: l.spec.sha256.clone(),
            deployed_at_unix: l.spec.deployed_at_unix,
            limits: RawLimits::from(l.deployed.function.limits()),
            cache: l.spec.cache.clone(),
        })
    }

    /// One function's details.
    pub fn info(&self, tenant: &str, name: &str) -> Result<FunctionInfo, DeployError> {
        self.tenant(tenant)?;
        self.info_locked(&self.live(), tenant, name)
    }

    /// A tenant's functions.
    pub fn list(&self, tenant: &str) -> Result<Vec<FunctionInfo>, DeployError> {
        self.tenant(tenant)?;
        let live = self.live();
        live.keys()
            .filter(|(t, _)| t == tenant)
            .map(|(t, n)| self.info_locked(&live, t, n))
            .collect()
    }
}
