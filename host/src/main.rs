//! The `atelier` command line: parse arguments, then call into the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use atelier::config::Manifest;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "atelier",
    version,
    about = "Run sandboxed wasi:http components as HTTP functions"
)]
struct Cli {
    /// Log one JSON object per line instead of human-readable text.
    #[arg(long, global = true, env = "ATELIER_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the functions of a manifest (the embedded default when --config is absent).
    Serve {
        /// Manifest file (TOML).
        #[arg(long, short, env = "ATELIER_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address, overriding the manifest's `server.listen`.
        #[arg(long, env = "ATELIER_LISTEN")]
        listen: Option<SocketAddr>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    atelier::telemetry::logging::init(cli.log_json);
    match cli.command {
        Command::Serve { config, listen } => {
            let mut manifest = match &config {
                Some(path) => Manifest::load(path)?,
                None => Manifest::embedded()?,
            };
            if let Some(addr) = listen {
                manifest.server.listen = addr;
            }
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(manifest.server.listen)
                    .await
                    .with_context(|| format!("binding {}", manifest.server.listen))?;
                atelier::app::serve(manifest, listener, atelier::app::shutdown_signal()).await
            })
        }
    }
}
