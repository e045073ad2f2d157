//! `Server-Timing` for a handler's stages, so clients and benchmarks see where a request's
//! time went inside the component.
//!
//! Invariant: every [`ServerTiming::mark`] covers the time since the previous mark (or the
//! start), so the metrics of one request never overlap; a name marked again adds to its total.

use std::time::{Duration, Instant};

/// Named stage durations of one request.
pub struct ServerTiming {
    last: Instant,
    metrics: Vec<(&'static str, Duration)>,
}

impl ServerTiming {
    /// Starts timing now.
    pub fn start() -> Self {
        ServerTiming {
            last: Instant::now(),
            metrics: Vec::new(),
        }
    }

    /// Ends the stage `name` now: it gets the time since the previous mark.
    pub fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.add(name, now - self.last);
        self.last = now;
    }

    /// Adds `duration`, measured elsewhere, to `name` (it does not move the last mark).
    pub fn add(&mut self, name: &'static str, duration: Duration) {
        match self.metrics.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += duration,
            None => self.metrics.push((name, duration)),
        }
    }

    /// The header value: `name;dur=milliseconds` (µs precision), in the order first marked.
    pub fn header(&self) -> String {
        self.metrics
            .iter()
            .map(|(name, d)| format!("{name};dur={:.3}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_cover_consecutive_stages_and_repeats_add_up() {
        let mut t = ServerTiming::start();
        t.add("matrix", Duration::from_micros(1500));
        std::thread::sleep(Duration::from_millis(2));
        t.mark("render");
        t.add("matrix", Duration::from_micros(500));
        let header = t.header();
        let parts: Vec<_> = header.split(", ").collect();
        assert_eq!(parts[0], "matrix;dur=2.000");
        let render: f64 = parts[1]
            .strip_prefix("render;dur=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(render >= 2.0, "{header}");
        assert_eq!(parts.len(), 2);
    }
}
