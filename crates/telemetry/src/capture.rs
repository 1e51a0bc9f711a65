//! Log capture for tests: the real formatter (text or JSON) writing into a shared
//! buffer instead of stdout, so a test can assert that a line was logged, e.g. that
//! the consumer logged a record with the trace id the HTTP request carried.
//!
//! The subscriber is process-global; install the capture before anything else logs
//! (nextest runs each test in its own process).

use crate::logs::{LogFormat, subscriber, try_install};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// What the process logged since [`LogCapture::install`]. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs the global subscriber with `filter` (e.g. `info,couponrush_consumer=debug`)
    /// writing here. `None` if another subscriber was installed first.
    pub fn install(format: LogFormat, filter: &str) -> Option<Self> {
        let capture = Self::default();
        try_install(subscriber(
            format,
            EnvFilter::new(filter),
            capture.clone(),
            false,
        ))
        .then_some(capture)
    }

    /// Everything captured so far.
    pub fn contents(&self) -> String {
        let buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The captured lines containing every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.contents()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
            .collect()
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
