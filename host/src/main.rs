//! The `atelier` command line: parse arguments, then call into the library.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
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
    /// Run one function on one input without a server, e.g.
    /// `atelier run idphoto photo.jpg --size cn-1inch -o out.jpg`.
    ///
    /// Options after the input become the request's query (`--size cn-1inch` → `size=cn-1inch`);
    /// `-o/--output FILE` writes the response body there (default stdout), `--path /sub`
    /// calls a path under the function's route. Input `-` reads stdin; no input sends a GET.
    Run {
        /// Manifest file (TOML); the embedded default when absent.
        #[arg(long, short, env = "ATELIER_CONFIG")]
        config: Option<PathBuf>,
        /// A function of the manifest, or a .wasm component.
        function: String,
        /// Input file, `-` for stdin, and options (see above).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Deploy a component as a tenant's function through a server's admin API.
    Deploy {
        /// The component (.wasm).
        component: PathBuf,
        #[arg(long)]
        tenant: String,
        /// Function name (letters, digits, '-' and '_').
        #[arg(long)]
        name: String,
        /// Path prefix it answers (repeat for several).
        #[arg(long = "route", required = true)]
        routes: Vec<String>,
        /// Callable without the tenant's key.
        #[arg(long)]
        public: bool,
        #[command(flatten)]
        limits: atelier::config::RawLimits,
        /// Environment variable for the component, NAME=value (repeatable).
        #[arg(long)]
        env: Vec<String>,
        /// Server base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "ATELIER_URL")]
        url: String,
        /// Operator token or the tenant's API key.
        #[arg(long, env = "ATELIER_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Exit 0 when URL answers 200 within 2 s (a health check for images without curl).
    Probe { url: String },
    /// The cluster's shared state in Redis.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Internal: compile the component on stdin to `--output` under the given limits. The
    /// server runs this for every deployed component (`runtime::compiler`).
    #[command(hide = true)]
    CompileComponent {
        #[arg(long)]
        output: PathBuf,
        #[arg(long)]
        memory_bytes: u64,
        #[arg(long)]
        cpu_seconds: u64,
        #[arg(long)]
        perfmap: bool,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Nodes seen in the last day: alive or not, their version, what they serve, how many
    /// change-log entries each has not applied yet.
    Status {
        /// Manifest whose `[cluster]` names the Redis.
        #[arg(long, short, env = "ATELIER_CONFIG")]
        config: Option<PathBuf>,
        /// The Redis URL, instead of a manifest's.
        #[arg(long, env = "ATELIER_REDIS")]
        redis: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `atelier cluster status`.
fn cluster_status(
    config: Option<PathBuf>,
    redis: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let mut settings = manifest(&config)?.cluster;
    if redis.is_some() {
        settings.redis = redis;
    }
    if settings.redis.is_none() {
        bail!("no Redis: give --redis URL, or a manifest whose [cluster] has redis = \"…\"");
    }
    let metrics = std::sync::Arc::new(atelier::telemetry::Metrics::new());
    let runtime = tokio::runtime::Runtime::new()?;
    let status = runtime.block_on(async {
        let cluster = atelier::cluster::Cluster::new(&settings, metrics)?;
        atelier::cluster::nodes::status(&cluster).await
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!("change log at {}", status.log_seq);
    println!(
        "{:<24} {:<6} {:>10} {:>8} {:>6} {:>10}",
        "NODE", "ALIVE", "SEEN", "VERSION", "LAG", "FUNCTIONS"
    );
    for n in &status.nodes {
        println!(
            "{:<24} {:<6} {:>8}ms {:>8} {:>6} {:>10}",
            n.node,
            if n.alive { "yes" } else { "no" },
            n.last_seen_ms_ago,
            n.report.version,
            n.lag,
            n.report.functions
        );
    }
    Ok(())
}

fn manifest(config: &Option<PathBuf>) -> anyhow::Result<Manifest> {
    Ok(match config {
        Some(path) => Manifest::load(path)?,
        None => Manifest::embedded()?,
    })
}

/// Splits `atelier run`'s trailing arguments into input, output, path and query.
struct RunArgs {
    input: Option<String>,
    output: Option<PathBuf>,
    path: String,
    query: Vec<(String, String)>,
}

fn run_args(args: Vec<String>) -> anyhow::Result<RunArgs> {
    let mut parsed = RunArgs {
        input: None,
        output: None,
        path: String::new(),
        query: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-').filter(|f| *f == "o"))
        else {
            if parsed.input.replace(arg.clone()).is_some() {
                bail!("more than one input: {arg:?}");
            }
            continue;
        };
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => {
                let v = it
                    .next()
                    .with_context(|| format!("--{flag} needs a value"))?;
                (flag.to_string(), v)
            }
        };
        match key.as_str() {
            "o" | "output" => parsed.output = Some(value.into()),
            "path" => parsed.path = value,
            _ => parsed.query.push((key.replace('-', "_"), value)),
        }
    }
    Ok(parsed)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    atelier::telemetry::logging::init(cli.log_json);
    match cli.command {
        Command::CompileComponent {
            output,
            memory_bytes,
            cpu_seconds,
            perfmap,
        } => std::process::exit(atelier::runtime::compiler::child_main(
            atelier::runtime::engine::base_config(perfmap),
            &output,
            memory_bytes,
            cpu_seconds,
        )),
        Command::Probe { url } => {
            match ureq::get(&url)
                .timeout(std::time::Duration::from_secs(2))
                .call()
            {
                Ok(r) if r.status() == 200 => Ok(()),
                Ok(r) => bail!("{url} answered {}", r.status()),
                Err(e) => bail!("{url}: {e}"),
            }
        }
        Command::Cluster {
            command:
                ClusterCommand::Status {
                    config,
                    redis,
                    json,
                },
        } => cluster_status(config, redis, json),
        Command::Serve { config, listen } => {
            let mut manifest = manifest(&config)?;
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
        Command::Run {
            config,
            function,
            args,
        } => {
            let manifest = manifest(&config)?;
            let args = run_args(args)?;
            let body = match args.input.as_deref() {
                None => None,
                Some("-") => {
                    let mut b = Vec::new();
                    std::io::stdin().read_to_end(&mut b)?;
                    Some(b)
                }
                Some(path) => Some(std::fs::read(path).with_context(|| format!("reading {path}"))?),
            };
            let shot = atelier::oneshot::OneShot {
                function,
                body,
                sub_path: args.path,
                query: args.query,
            };
            let runtime = tokio::runtime::Runtime::new()?;
            let answer = runtime.block_on(atelier::oneshot::run(manifest, shot))?;
            if answer.status >= 400 {
                bail!(
                    "the function answered {}: {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                );
            }
            match args.output {
                Some(path) => std::fs::write(&path, &answer.body)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(&answer.body)?,
            }
            eprintln!(
                "{} {} ({} bytes)",
                answer.status,
                answer.content_type.unwrap_or_default(),
                answer.body.len()
            );
            Ok(())
        }
        Command::Deploy {
            component,
            tenant,
            name,
            routes,
            public,
            limits,
            env,
            url,
            token,
        } => {
            let mut params: Vec<(String, String)> =
                routes.into_iter().map(|r| ("route".into(), r)).collect();
            params.extend(limits.to_pairs());
            if public {
                params.push(("public".into(), "true".into()));
            }
            params.extend(env.into_iter().map(|e| ("env".into(), e)));
            let answer = atelier::deploy_client::deploy(&atelier::deploy_client::DeployRequest {
                url: &url,
                token: &token,
                tenant: &tenant,
                name: &name,
                component: &component,
                params,
            })?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
    }
}
