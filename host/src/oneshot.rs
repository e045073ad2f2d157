//! `atelier run`: one function, one request, no server — for trying a function on a local file
//! (`atelier run idphoto photo.jpg --size cn-1inch -o out.jpg`).
//!
//! The function runs exactly as it would behind the server: same sandbox, limits and grants,
//! same vision models when it is granted them.

use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::config::{FunctionConfig, Manifest};
use crate::runtime::{Compiler, PoolSizing, Runtime};
use crate::telemetry::Metrics;
use crate::vision::Vision;

/// What to send.
pub struct OneShot {
    /// A function of the manifest, or a path to a `.wasm` component.
    pub function: String,
    /// Request body; GET when absent.
    pub body: Option<Vec<u8>>,
    /// Path under the function's first route.
    pub sub_path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
}

/// The function's answer.
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

fn function_config(manifest: &Manifest, function: &str) -> anyhow::Result<FunctionConfig> {
    if let Some(f) = manifest.functions.iter().find(|f| f.name == function) {
        return Ok(f.clone());
    }
    if function.ends_with(".wasm") {
        return Ok(FunctionConfig {
            cache: None,
            name: "local".into(),
            component: function.into(),
            routes: vec![crate::config::RouteConfig {
                path: "/".into(),
                hosts: vec![],
            }],
            limits: Default::default(),
            grants: vec![],
            env: vec![],
            outbound: vec![],
        });
    }
    let names: Vec<_> = manifest.functions.iter().map(|f| f.name.as_str()).collect();
    bail!(
        "no function {function:?} in the manifest (it has {}); or give a .wasm file",
        names.join(", ")
    )
}

/// Runs the request.
pub async fn run(manifest: Manifest, shot: OneShot) -> anyhow::Result<Answer> {
    let config = function_config(&manifest, &shot.function)?;
    let mut runtime_config = manifest.runtime.clone();
    runtime_config.pooling = false;
    let metrics = Arc::new(Metrics::new());
    let loading_metrics = metrics.clone();
    let load_config = config.clone();
    let function = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let vision = match load_config
            .grants
            .iter()
            .any(|g| g == crate::config::VISION_GRANT)
        {
            true => Some(Arc::new(Vision::load(&manifest.vision, &loading_metrics)?)),
            false => None,
        };
        let sizing = PoolSizing {
            instances: 1,
            max_memory_bytes: load_config.limits.memory_bytes,
        };
        let runtime = Runtime::new(
            &runtime_config,
            Compiler::InProcess,
            sizing,
            loading_metrics,
            vision,
        )
        .map_err(|e| anyhow::anyhow!("starting the wasm runtime: {e:#}"))?;
        Ok(runtime.load(&load_config)?)
    })
    .await??;
    let base = config.routes[0].path.trim_end_matches('/');
    let mut uri = format!("http://localhost{base}{}", shot.sub_path);
    if !shot.query.is_empty() {
        uri.push('?');
        uri.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&shot.query)
                .finish(),
        );
    }
    let method = if shot.body.is_some() { "POST" } else { "GET" };
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(&uri)
        .header(http::header::HOST, "localhost")
        .body(Full::new(Bytes::from(shot.body.unwrap_or_default())))
        .with_context(|| format!("building the request for {uri}"))?;
    let path = request.uri().path().to_string();
    let prefix = crate::routes::normalise_path(base).unwrap_or_default();
    crate::routes::tell_mount_point(request.headers_mut(), &prefix, &path);
    let response = function.invoke(request, ()).await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the function's response: {e}"))?
        .to_bytes();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}
