//! A function as it is deployed: the runnable function, its concurrency gate, and its owner;
//! and the routing table of them that the server reads.

use std::sync::Arc;

use super::gate::ConcurrencyGate;
use super::Tenant;
use crate::runtime::Function;

/// The tenant a deployed function belongs to.
pub struct Owner {
    pub tenant: Arc<Tenant>,
    /// Callable without the tenant's key.
    pub public: bool,
}

/// A function as the server sees it: the runnable function, its concurrency gate, and its
/// tenant (`None` for the manifest's own functions).
pub struct Deployed {
    pub function: Function,
    pub gate: ConcurrencyGate,
    pub owner: Option<Owner>,
}

impl Deployed {
    pub fn new(function: Function) -> Self {
        let gate = ConcurrencyGate::new(function.limits().max_concurrency);
        Deployed {
            function,
            gate,
            owner: None,
        }
    }

    /// A tenant's function.
    pub fn owned(function: Function, owner: Owner) -> Self {
        Deployed {
            owner: Some(owner),
            ..Self::new(function)
        }
    }
}

/// The routing table of deployed functions.
pub type Routes = crate::routes::Router<Deployed>;
