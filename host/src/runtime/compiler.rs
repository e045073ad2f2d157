//! Turning component bytes into a compiled artifact, in this process or in a child process
//! held to a time and memory budget.
//!
//! Invariants: a tenant's component is compiled only by [`Compiler::Child`] — a copy of this
//! binary (`atelier compile-component`) that limits its own data segment, file size and CPU
//! time with `setrlimit` before it reads the first byte of the component, and that the parent
//! kills when the wall-clock budget is spent. A compile bomb therefore costs one child process
//! and its budget, never the server's memory, and it never blocks another compile. The
//! artifact is written to the path the parent names; the parent loads it only after the child
//! exited successfully.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;
use wasmtime::Engine;

/// What one compile of an untrusted component may use.
#[derive(Debug, Clone, Copy)]
pub struct CompileBudget {
    /// Wall-clock time from spawn to exit.
    pub timeout: Duration,
    /// The child's data segment (heap and every private writable mapping), bytes.
    pub memory_bytes: u64,
}

/// How components are compiled.
#[derive(Debug, Clone)]
pub enum Compiler {
    /// In this process, without a budget: for the operator's own components.
    InProcess,
    /// In a child process running `exe compile-component`, under `budget`.
    Child {
        exe: PathBuf,
        budget: CompileBudget,
        perfmap: bool,
    },
}

/// Why a compile produced no artifact.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("{0}")]
    Invalid(String),
    #[error("compiling took longer than the budget of {0} ms")]
    TimedOut(u64),
    #[error("compiling needed more memory than the budget of {0} MiB")]
    OutOfMemory(u64),
    #[error("the compiler process failed: {0}")]
    Process(String),
}

/// The exit code of the child for a component wasmtime refuses.
const EXIT_INVALID: i32 = 2;
/// The most of the child's stderr kept for the error message.
const STDERR_KEPT: u64 = 16 << 10;

impl Compiler {
    /// Compiles `bytes` and writes the artifact (`Component::serialize` format) to `out`.
    pub fn compile_to(
        &self,
        engine: &Engine,
        bytes: &[u8],
        out: &Path,
    ) -> Result<(), CompileError> {
        match self {
            Compiler::InProcess => {
                let artifact = engine
                    .precompile_component(bytes)
                    .map_err(|e| CompileError::Invalid(format!("{e:#}")))?;
                std::fs::write(out, artifact)
                    .map_err(|e| CompileError::Process(format!("writing {}: {e}", out.display())))
            }
            Compiler::Child {
                exe,
                budget,
                perfmap,
            } => compile_in_child(exe, *budget, *perfmap, bytes, out),
        }
    }
}

fn compile_in_child(
    exe: &Path,
    budget: CompileBudget,
    perfmap: bool,
    bytes: &[u8],
    out: &Path,
) -> Result<(), CompileError> {
    let process = |e: std::io::Error| CompileError::Process(e.to_string());
    let mut command = Command::new(exe);
    // The child handles hostile input: it inherits nothing of the server's environment (the
    // operator token may be there).
    command
        .env_clear()
        .arg("compile-component")
        .arg("--output")
        .arg(out)
        .arg("--memory-bytes")
        .arg(budget.memory_bytes.to_string())
        .arg("--cpu-seconds")
        .arg(cpu_backstop(budget.timeout).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if perfmap {
        command.arg("--perfmap");
    }
    let mut child = command.spawn().map_err(process)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let input = bytes.to_vec();
    // The child may die before reading everything (a budget hit); a broken pipe is then normal.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = (&mut stderr).take(STDERR_KEPT).read_to_string(&mut text);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        text
    });
    let status = match child.wait_timeout(budget.timeout).map_err(process)? {
        Some(status) => Some(status),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    };
    let _ = writer.join();
    let stderr = reader.join().unwrap_or_default();
    let _ = match status {
        Some(s) if s.success() => return Ok(()),
        _ => std::fs::remove_file(out),
    };
    Err(classify(status, &stderr, budget))
}

/// The child's own CPU-time limit: a backstop should the parent die; the wall clock decides.
fn cpu_backstop(timeout: Duration) -> u64 {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    timeout.as_secs().saturating_add(1).saturating_mul(threads)
}

fn classify(status: Option<ExitStatus>, stderr: &str, budget: CompileBudget) -> CompileError {
    use std::os::unix::process::ExitStatusExt;
    let timed_out = CompileError::TimedOut(budget.timeout.as_millis() as u64);
    let Some(status) = status else {
        return timed_out;
    };
    let out_of_memory = stderr.contains("memory allocation of")
        || stderr.contains("out of memory")
        || stderr.contains("Cannot allocate memory");
    match (status.code(), status.signal()) {
        (Some(EXIT_INVALID), _) => CompileError::Invalid(stderr.trim().to_string()),
        _ if out_of_memory => CompileError::OutOfMemory(budget.memory_bytes >> 20),
        // SIGXCPU (24) or SIGKILL (9): the CPU backstop.
        (_, Some(24 | 9)) => timed_out,
        // SIGABRT (6) or SIGSEGV (11) with no message: an allocation failed where nothing
        // could report it (a thread stack that could not be mapped, say); SIGXFSZ (25): the
        // artifact outgrew the same budget.
        (_, Some(6 | 11 | 25)) => CompileError::OutOfMemory(budget.memory_bytes >> 20),
        _ => CompileError::Process(format!("{status}: {}", stderr.trim())),
    }
}

/// The child's side (`atelier compile-component`): limit this process, read a component from
/// stdin, write its artifact to `output`. Exit 0 on success, 2 for an invalid component.
pub fn child_main(
    engine_config: wasmtime::Config,
    output: &Path,
    memory_bytes: u64,
    cpu_seconds: u64,
) -> i32 {
    use rlimit::Resource;
    let limits = [
        (Resource::DATA, memory_bytes),
        (Resource::FSIZE, memory_bytes),
        (Resource::CPU, cpu_seconds),
    ];
    for (resource, limit) in limits {
        if let Err(e) = resource.set(limit, limit) {
            eprintln!("cannot limit {resource:?}: {e}");
            return 1;
        }
    }
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("reading the component: {e}");
        return 1;
    }
    let engine = match Engine::new(&engine_config) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("building the engine: {e:#}");
            return 1;
        }
    };
    match engine.precompile_component(&bytes) {
        Ok(artifact) => match std::fs::write(output, artifact) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("writing {}: {e}", output.display());
                1
            }
        },
        Err(e) => {
            eprintln!("{e:#}");
            EXIT_INVALID
        }
    }
}
