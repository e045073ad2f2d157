//! Host interfaces a component may import beyond WASI, in one shape ([`HostInterface`]): how
//! each is linked, which grant admits it, and what state each instance of a granted function
//! gets. `atelier:vision` is the first ([`VisionInterface`]); the next one is an implementation
//! here and one entry where [`super::Runtime::new`] lists them.
//!
//! Invariants: every interface's imports are in the one shared linker, but a component that
//! imports a package whose grant its function lacks is refused at load, never at request time;
//! an instance holds the state of exactly the interfaces its function was granted.

use std::any::Any;
use std::sync::Arc;

use wasmtime::component::Linker;

use super::Sandbox;
use crate::config::Limits;
use crate::config::VISION_GRANT;
use crate::telemetry::HostTiming;
use crate::vision::{Vision, VisionInstance, VisionView};

/// A host interface components import.
pub trait HostInterface: Send + Sync + 'static {
    /// The WIT package imported (`atelier:vision`), also the name of the grant that admits it.
    fn package(&self) -> &'static str;
    /// Adds the interface's imports to the shared linker; they find their instance's state in
    /// the store's [`InstanceStates`].
    fn add_to_linker(&self, linker: &mut Linker<Sandbox>) -> wasmtime::Result<()>;
    /// The state one instance of a function granted this interface starts with; `limits`
    /// are the function's (host-held data shares its memory cap); `timing` is its request's
    /// host-side time, which the interface adds to.
    fn instance_state(&self, limits: &Limits, timing: &Arc<HostTiming>) -> Box<dyn Any + Send>;

    /// Whether a component import (`atelier:vision/faces@0.1.0`) belongs to this interface.
    fn provides(&self, import: &str) -> bool {
        import
            .strip_prefix(self.package())
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// One instance's states of its granted interfaces, found by type.
#[derive(Default)]
pub struct InstanceStates(Vec<Box<dyn Any + Send>>);

impl InstanceStates {
    pub fn new(
        interfaces: &[Arc<dyn HostInterface>],
        limits: &Limits,
        timing: &Arc<HostTiming>,
    ) -> Self {
        InstanceStates(
            interfaces
                .iter()
                .map(|i| i.instance_state(limits, timing))
                .collect(),
        )
    }

    pub fn get<S: 'static>(&self) -> Option<&S> {
        self.0.iter().find_map(|s| s.downcast_ref())
    }

    pub fn get_mut<S: 'static>(&mut self) -> Option<&mut S> {
        self.0.iter_mut().find_map(|s| s.downcast_mut())
    }
}

/// `atelier:vision`: segmentation, faces and image decoding over the models the host loaded
/// (`None` when no function or tenant may use them).
pub struct VisionInterface(pub Option<Arc<Vision>>);

impl HostInterface for VisionInterface {
    fn package(&self) -> &'static str {
        VISION_GRANT
    }

    fn add_to_linker(&self, linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
        crate::vision::add_to_linker(linker, |sandbox: &mut Sandbox| VisionView {
            instance: sandbox
                .interfaces
                .get_mut::<VisionInstance>()
                .expect("an instance importing atelier:vision was granted it (checked at load)"),
            table: &mut sandbox.table,
        })
    }

    fn instance_state(&self, limits: &Limits, timing: &Arc<HostTiming>) -> Box<dyn Any + Send> {
        Box::new(VisionInstance::new(
            self.0.clone(),
            limits.memory_bytes,
            timing.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_grant_is_an_interface_and_imports_are_matched_by_package() {
        let vision = VisionInterface(None);
        let interfaces: [&dyn HostInterface; 1] = [&vision];
        let packages: Vec<_> = interfaces.iter().map(|i| i.package()).collect();
        assert_eq!(packages, crate::config::KNOWN_GRANTS);
        assert!(vision.provides("atelier:vision/faces@0.1.0"));
        assert!(!vision.provides("atelier:visionary/x"));
        assert!(!vision.provides("wasi:http/types@0.2.0"));
        let states = InstanceStates::new(
            &[Arc::new(VisionInterface(None))],
            &Limits::default(),
            &Arc::default(),
        );
        assert!(states.get::<VisionInstance>().is_some());
        assert!(states.get::<u32>().is_none());
    }
}
