//! `atelier deploy`: the admin API's deploy call from the command line.

use std::path::Path;

use anyhow::Context;

/// What to deploy and where.
pub struct DeployRequest<'a> {
    /// Server base URL, e.g. `http://127.0.0.1:8080`.
    pub url: &'a str,
    pub token: &'a str,
    pub tenant: &'a str,
    pub name: &'a str,
    pub component: &'a Path,
    /// Query parameters of the deploy call (`route`, limits, `public`, `env`).
    pub params: Vec<(String, String)>,
}

/// Uploads the component; returns the server's JSON answer (the deployed function).
pub fn deploy(request: &DeployRequest) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(request.component)
        .with_context(|| format!("reading {}", request.component.display()))?;
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&request.params)
        .finish();
    let url = format!(
        "{}/admin/v1/tenants/{}/functions/{}?{query}",
        request.url.trim_end_matches('/'),
        request.tenant,
        request.name
    );
    let answer = ureq::put(&url)
        .set("authorization", &format!("Bearer {}", request.token))
        .set("content-type", "application/wasm")
        .send_bytes(&bytes);
    match answer {
        Ok(r) => Ok(r.into_json()?),
        Err(ureq::Error::Status(code, r)) => {
            let body = r.into_string().unwrap_or_default();
            anyhow::bail!("deploy refused ({code}): {body}")
        }
        Err(e) => Err(anyhow::anyhow!("deploy to {url} failed: {e}")),
    }
}
