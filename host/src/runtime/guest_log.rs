//! A component's stdout and stderr, turned into log events tagged with the function's name.
//!
//! Output is split into lines; each line becomes one `tracing` event (target `guest`) with the
//! fields `function` and `stream`. A partial last line is flushed when the stream is dropped.
//! Lines longer than [`MAX_LINE`] are cut, so a guest cannot make the host buffer without bound.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

const MAX_LINE: usize = 8 << 10;

#[derive(Clone)]
pub struct GuestLog {
    function: Arc<str>,
    stream: &'static str,
}

impl GuestLog {
    pub fn stdout(function: &str) -> Self {
        GuestLog {
            function: function.into(),
            stream: "stdout",
        }
    }

    pub fn stderr(function: &str) -> Self {
        GuestLog {
            function: function.into(),
            stream: "stderr",
        }
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            log: self.clone(),
            line: Vec::new(),
        })
    }
}

struct LineWriter {
    log: GuestLog,
    line: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        tracing::info!(target: "guest", function = %self.log.function, stream = self.log.stream, "{}", text.trim_end_matches('\r'));
        self.line.clear();
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &b in buf {
            if b == b'\n' {
                self.emit();
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.emit();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.emit();
    }
}
