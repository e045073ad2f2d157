//! Functions tenants deploy at runtime, next to the manifest's own: validate, compile, persist,
//! then swap the routing table atomically.
//!
//! Invariants: mutations are serialised; the routing table is replaced in one store, so a
//! request sees either the old or the new table, and in-flight requests keep the function they
//! started with; a deploy that fails at any step changes nothing that serves.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::store::{Spec, Store, StoreError};
use super::Tenant;
use crate::config::{FunctionConfig, RouteConfig};
use crate::routes::{self, Scope};
use crate::runtime::{LoadError, Runtime};
use crate::server::{Deployed, Owner, Routes};

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
    pub limits: LimitsInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct LimitsInfo {
    pub memory_mb: u64,
    pub cpu_ms: u64,
    pub timeout_ms: u64,
    pub max_body_kb: u64,
    pub max_concurrency: u32,
}

struct Live {
    version: u32,
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
    max_component_bytes: u64,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The scopes of routes already validated (the manifest's, or a stored spec's).
fn scopes_of(configs: &[RouteConfig]) -> Vec<Scope> {
    configs
        .iter()
        .flat_map(|r| routes::scopes(r.path.trim_end_matches('/'), &r.hosts))
        .collect()
}

impl Deployments {
    /// Starts from the manifest's functions; [`Deployments::restore`] adds the stored ones.
    pub fn new(
        runtime: Arc<Runtime>,
        table: Arc<ArcSwapOption<Routes>>,
        store: Store,
        tenants: Vec<Arc<Tenant>>,
        fixed: Vec<(Vec<RouteConfig>, Arc<Deployed>)>,
        max_component_bytes: u64,
    ) -> Self {
        Deployments {
            runtime,
            table,
            store,
            tenants: tenants
                .into_iter()
                .map(|t| (t.id().to_string(), t))
                .collect(),
            fixed,
            live: Mutex::new(BTreeMap::new()),
            max_component_bytes,
        }
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
            routes.add(r, d.clone());
        }
        for ((tenant, _), l) in live {
            let hosts = &self.tenants[tenant].config.hosts;
            routes.add(&l.spec.route_configs(hosts), l.deployed.clone());
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
            .raw_limits()
            .resolve(&quotas.function_limits)
            .map_err(|m| bad("limits", m))?;
        if let Some((what, asked, allowed)) = limits.exceeding(&quotas.function_limits) {
            return Err(DeployError::QuotaExceeded(format!(
                "{what} = {asked} is over tenant {:?}'s quota of {allowed}",
                tenant.id()
            )));
        }
        Ok(FunctionConfig {
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
        let function = self.runtime.load_bytes(&config, component)?;
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
                scopes_of(r),
                format!("the operator's function {:?}", d.function.name()),
                false,
            )
        });
        let tenants = live.iter().filter(|(k, _)| **k != key).map(|((t, n), l)| {
            let hosts = &self.tenants[t].config.hosts;
            (
                scopes_of(&l.spec.route_configs(hosts)),
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

    /// Deploys a new version of `tenant`'s function `name` and makes it serve.
    pub fn deploy(
        &self,
        tenant_id: &str,
        name: &str,
        mut spec: Spec,
        component: &[u8],
    ) -> Result<FunctionInfo, DeployError> {
        let tenant = self.tenant(tenant_id)?.clone();
        let mut live = self.live();
        self.check_spec(&tenant, name, &spec, &live)?;
        spec.sha256 = hex::encode(Sha256::digest(component));
        spec.deployed_at_unix = now_unix();
        let deployed = self.compile(&tenant, name, &spec, component)?;
        let version = self.store.add(tenant_id, name, &spec, component)?;
        self.store.set_current(tenant_id, name, version)?;
        tracing::info!(tenant = %tenant_id, function = %name, version, sha256 = %spec.sha256, "deployed");
        live.insert(
            (tenant_id.to_string(), name.to_string()),
            Live {
                version,
                spec,
                deployed,
            },
        );
        self.install(&live);
        self.info_locked(&live, tenant_id, name)
    }

    /// Makes the version before the current one serve again.
    pub fn rollback(&self, tenant_id: &str, name: &str) -> Result<FunctionInfo, DeployError> {
        let tenant = self.tenant(tenant_id)?.clone();
        let mut live = self.live();
        let key = (tenant_id.to_string(), name.to_string());
        let current = live
            .get(&key)
            .map(|l| l.version)
            .ok_or_else(|| DeployError::NoFunction {
                tenant: tenant_id.into(),
                name: name.into(),
            })?;
        let previous = self
            .store
            .versions(tenant_id, name)
            .into_iter()
            .rfind(|v| *v < current)
            .ok_or_else(|| DeployError::NoPreviousVersion(format!("{tenant_id}/{name}")))?;
        let stored = self.store.read(tenant_id, name, previous)?;
        self.check_spec(&tenant, name, &stored.spec, &live)?;
        let deployed = self.compile(&tenant, name, &stored.spec, &stored.component)?;
        self.store.set_current(tenant_id, name, previous)?;
        tracing::info!(tenant = %tenant_id, function = %name, from = current, to = previous, "rolled back");
        live.insert(
            key,
            Live {
                version: previous,
                spec: stored.spec,
                deployed,
            },
        );
        self.install(&live);
        self.info_locked(&live, tenant_id, name)
    }

    /// Stops serving a function and forgets its versions.
    pub fn delete(&self, tenant_id: &str, name: &str) -> Result<(), DeployError> {
        self.tenant(tenant_id)?;
        let mut live = self.live();
        let key = (tenant_id.to_string(), name.to_string());
        if live.remove(&key).is_none() {
            return Err(DeployError::NoFunction {
                tenant: tenant_id.into(),
                name: name.into(),
            });
        }
        self.install(&live);
        self.store.remove(tenant_id, name)?;
        tracing::info!(tenant = %tenant_id, function = %name, "deleted");
        Ok(())
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
        let limits = l.deployed.function.limits();
        Ok(FunctionInfo {
            tenant: tenant.into(),
            name: name.into(),
            version: l.version,
            versions: self.store.versions(tenant, name),
            routes: l.spec.routes.clone(),
            hosts: self.tenants[tenant].config.hosts.clone(),
            public: l.spec.public,
            sha256: l.spec.sha256.clone(),
            deployed_at_unix: l.spec.deployed_at_unix,
            limits: LimitsInfo {
                memory_mb: limits.memory_bytes >> 20,
                cpu_ms: limits.cpu_ms,
                timeout_ms: limits.timeout_ms,
                max_body_kb: limits.max_body_bytes >> 10,
                max_concurrency: limits.max_concurrency,
            },
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
