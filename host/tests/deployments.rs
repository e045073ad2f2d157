//! `Deployments` in process, without the binary or HTTP: deploy, route conflicts, rollback,
//! delete, and two tenants deploying at once. Needs the components built
//! (`scripts/setup.sh`): the hello component is what gets deployed.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use atelier::config::Manifest;
use atelier::routes::Router;
use atelier::runtime::{Compiler, PoolSizing, Runtime};
use atelier::telemetry::Metrics;
use atelier::tenancy::deployments::DeployError;
use atelier::tenancy::store::Spec;
use atelier::tenancy::{Deployed, Deployments};
use bytes::Bytes;

const MANIFEST: &str = r#"
[[tenant]]
id = "a"
hosts = ["a.test"]

[[tenant]]
id = "b"
hosts = ["a.test", "b.test"]
"#;

fn hello() -> Bytes {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release/hello.wasm");
    std::fs::read(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build the components: scripts/setup.sh)",
                path.display()
            )
        })
        .into()
}

struct Fixture {
    deployments: Arc<Deployments>,
    table: Arc<ArcSwapOption<Router<Deployed>>>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Manifest::parse(MANIFEST, "test.toml", dir.path()).unwrap();
    manifest.runtime.cache_dir = dir.path().join("cache");
    manifest.runtime.pooling = false;
    let runtime = Runtime::new(
        &manifest.runtime,
        Compiler::InProcess,
        PoolSizing {
            instances: 4,
            max_memory_bytes: 64 << 20,
        },
        Arc::new(Metrics::new()),
        None,
    )
    .unwrap();
    let table = Arc::new(ArcSwapOption::empty());
    let deployments = Deployments::for_manifest(
        Arc::new(runtime),
        table.clone(),
        &manifest,
        Vec::new(),
        None,
    );
    deployments.restore();
    Fixture {
        deployments: Arc::new(deployments),
        table,
        _dir: dir,
    }
}

fn spec(route: &str) -> Spec {
    Spec {
        routes: vec![route.into()],
        ..Spec::default()
    }
}

impl Fixture {
    /// The function the routing table serves at (host, path), by name.
    fn served(&self, host: &str, path: &str) -> Option<String> {
        let table = self.table.load_full()?;
        let (deployed, _) = table.resolve(Some(host), path)?;
        Some(deployed.function.name().to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_conflict_rollback_and_delete() {
    let f = fixture();
    let d = &f.deployments;
    assert_eq!(f.served("a.test", "/app"), None);

    let info = d.deploy("a", "app", spec("/app"), hello()).await.unwrap();
    assert_eq!((info.version, info.versions.clone()), (1, vec![1]));
    assert_eq!(f.served("a.test", "/app/x").as_deref(), Some("a/app"));

    // b shares a.test: the same route, one inside it or one above it is a's.
    for route in ["/app", "/app/admin", "/"] {
        match d.deploy("b", "grab", spec(route), hello()).await {
            Err(DeployError::RouteConflict { by, .. }) => assert!(by.contains("a/app"), "{by}"),
            other => panic!("{route}: {:?}", other.map(|i| i.routes)),
        }
    }
    // A route of b's own elsewhere is fine, and a's still serves.
    d.deploy("b", "own", spec("/b"), hello()).await.unwrap();
    assert_eq!(f.served("a.test", "/app").as_deref(), Some("a/app"));

    let info = d.deploy("a", "app", spec("/app"), hello()).await.unwrap();
    assert_eq!(info.versions, vec![1, 2]);
    let info = d.rollback("a", "app").await.unwrap();
    assert_eq!(info.version, 1);
    assert!(matches!(
        d.rollback("a", "app").await,
        Err(DeployError::NoPreviousVersion(_))
    ));

    d.delete("a", "app").await.unwrap();
    assert_eq!(f.served("a.test", "/app"), None);
    assert!(matches!(
        d.info("a", "app"),
        Err(DeployError::NoFunction { .. })
    ));
    assert!(matches!(
        d.delete("a", "app").await,
        Err(DeployError::NoFunction { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_deploy_at_once_and_a_route_race_has_one_winner() {
    let f = fixture();
    let d = &f.deployments;
    // Different routes: both succeed, side by side.
    let (one, two) = tokio::join!(
        d.deploy("a", "one", spec("/one"), hello()),
        d.deploy("b", "two", spec("/two"), hello()),
    );
    one.unwrap();
    two.unwrap();
    // The same route on a shared host at once: exactly one owner gets it.
    let (x, y) = tokio::join!(
        d.deploy("a", "race", spec("/race"), hello()),
        d.deploy("b", "race", spec("/race"), hello()),
    );
    assert!(
        x.is_ok() != y.is_ok(),
        "one wins: {:?} / {:?}",
        x.is_ok(),
        y.is_ok()
    );
    let winner = if x.is_ok() { "a/race" } else { "b/race" };
    assert_eq!(f.served("a.test", "/race").as_deref(), Some(winner));
}
