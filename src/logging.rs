//! Log output: structured lines on stderr (`pretty` or `json`, `RUST_LOG`
//! filter), buffered.
//!
//! The access log writes one line per request. Written straight to stderr
//! that is one `write` system call per request on the request's own
//! thread; handed to a logging thread (tracing-appender, tried) it cost
//! that thread's wake-ups about 5 µs of CPU per request. Here lines go into one
//! 64 KiB buffer that is written out when it fills, at least every
//! [`FLUSH_INTERVAL`], at exit, and at once after any `warn` or `error`
//! line, so what explains a failure is never held back.

use std::io::{self, BufWriter, IsTerminal, Stderr, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Longest an `info` or `debug` line waits in the buffer.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Size of the line buffer.
const BUFFER_BYTES: usize = 64 * 1024;

/// The shared, buffered stderr every log line goes through.
#[derive(Clone)]
struct BufferedStderr(Arc<Mutex<BufWriter<Stderr>>>);

impl BufferedStderr {
    fn lock(&self) -> MutexGuard<'_, BufWriter<Stderr>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flush(&self) {
        // Nowhere left to report a failing stderr.
        let _ = self.lock().flush();
    }
}

/// One formatted line on its way into the buffer.
pub struct LogLine<'a> {
    out: MutexGuard<'a, BufWriter<Stderr>>,
    flush_after: bool,
}

impl Write for LogLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.out.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for LogLine<'_> {
    fn drop(&mut self) {
        if self.flush_after {
            let _ = self.out.flush();
        }
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> LogLine<'a> {
        LogLine {
            out: self.lock(),
            flush_after: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LogLine<'a> {
        LogLine {
            out: self.lock(),
            flush_after: *meta.level() <= Level::WARN,
        }
    }
}

/// Flushes the log buffer when dropped: hold it until the process exits.
pub struct LogGuard(BufferedStderr);

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.0.flush();
    }
}

/// Installs the process-wide subscriber and starts the thread that flushes
/// the buffer every [`FLUSH_INTERVAL`]. Colours only on a terminal.
pub fn init(format: LogFormat) -> LogGuard {
    let out = BufferedStderr(Arc::new(Mutex::new(BufWriter::with_capacity(
        BUFFER_BYTES,
        io::stderr(),
    ))));
    let flusher = out.clone();
    let started = std::thread::Builder::new()
        .name("log-flusher".into())
        .spawn(move || loop {
            std::thread::sleep(FLUSH_INTERVAL);
            flusher.flush();
        });
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The PostgreSQL client logs every statement with its parameters (names,
    // contexts) at debug level, and server notices at info: never.
    let filter = ["tokio_postgres=warn", "deadpool=info"]
        .into_iter()
        .filter_map(|directive| directive.parse().ok())
        .fold(filter, |filter, directive| filter.add_directive(directive));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::stderr().is_terminal())
        .with_writer(out.clone());
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the log flusher; info lines wait for a full buffer");
    }
    LogGuard(out)
}

/// An error followed by its sources, `: `-separated, for the log.
pub struct ErrorChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}
