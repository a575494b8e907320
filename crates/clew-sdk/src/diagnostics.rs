//! The diagnostics channel: what the SDK has to say about itself (invalid
//! configuration, dropped spans, failed exports). It never re-enters the
//! tracer, and it is rate-limited: each kind of message is delivered at most
//! once per interval, with a count of what was suppressed in between.
//!
//! By default messages go to standard error. An application can route them
//! elsewhere with [`set_handler`].

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Something the SDK reports about itself.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Diagnostic {
    /// A configuration value could not be used.
    InvalidConfiguration {
        /// The variable or option.
        variable: String,
        /// The value found.
        value: String,
        /// What is used instead.
        fallback: String,
    },
    /// A span processor's queue was full and spans were dropped.
    SpansDropped {
        /// The processor.
        processor: &'static str,
        /// How many since the last report.
        count: u64,
    },
    /// An export failed; its spans were dropped.
    ExportFailed {
        /// The processor.
        processor: &'static str,
        /// How many spans the batch held.
        spans: usize,
        /// What the exporter said.
        error: String,
    },
    /// A resource detector failed; its attributes are missing.
    DetectorFailed {
        /// The detector.
        detector: &'static str,
        /// Why.
        error: String,
    },
    /// Shutdown or flush did not finish in time.
    Timeout {
        /// What timed out.
        operation: &'static str,
        /// Spans that were not exported.
        spans_lost: u64,
    },
    /// Anything else.
    Other(String),
}

impl Diagnostic {
    fn kind(&self) -> &'static str {
        match self {
            Diagnostic::InvalidConfiguration { .. } => "invalid-configuration",
            Diagnostic::SpansDropped { .. } => "spans-dropped",
            Diagnostic::ExportFailed { .. } => "export-failed",
            Diagnostic::DetectorFailed { .. } => "detector-failed",
            Diagnostic::Timeout { .. } => "timeout",
            Diagnostic::Other(_) => "other",
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::InvalidConfiguration {
                variable,
                value,
                fallback,
            } => {
                write!(f, "invalid value {value:?} for {variable}: {fallback}")
            }
            Diagnostic::SpansDropped { processor, count } => {
                write!(f, "{processor}: queue full, {count} spans dropped")
            }
            Diagnostic::ExportFailed {
                processor,
                spans,
                error,
            } => {
                write!(f, "{processor}: export of {spans} spans failed: {error}")
            }
            Diagnostic::DetectorFailed { detector, error } => {
                write!(f, "resource detector {detector} failed: {error}")
            }
            Diagnostic::Timeout {
                operation,
                spans_lost,
            } => {
                write!(
                    f,
                    "{operation} timed out; {spans_lost} spans were not exported"
                )
            }
            Diagnostic::Other(message) => f.write_str(message),
        }
    }
}

type Handler = Arc<dyn Fn(&Diagnostic) + Send + Sync>;

struct Channel {
    handler: Option<Handler>,
    interval: Duration,
    /// Per kind: when it was last delivered, and how many were suppressed since.
    last: Vec<(&'static str, Instant, u64)>,
}

fn channel() -> &'static Mutex<Channel> {
    static CHANNEL: OnceLock<Mutex<Channel>> = OnceLock::new();
    CHANNEL.get_or_init(|| {
        Mutex::new(Channel {
            handler: None,
            interval: Duration::from_secs(10),
            last: Vec::new(),
        })
    })
}

/// Routes diagnostics to `handler` instead of standard error. The handler
/// must not create spans; it runs outside the channel's lock, so it may
/// report diagnostics itself.
pub fn set_handler(handler: impl Fn(&Diagnostic) + Send + Sync + 'static) {
    crate::lock(channel()).handler = Some(Arc::new(handler));
}

/// Sets how often each kind of message may be delivered (default 10 s; zero
/// delivers every message).
pub fn set_rate_limit(interval: Duration) {
    let mut ch = crate::lock(channel());
    ch.interval = interval;
    ch.last.clear();
}

/// Reports a diagnostic, subject to the rate limit.
pub fn report(diagnostic: Diagnostic) {
    let mut ch = crate::lock(channel());
    let now = Instant::now();
    let kind = diagnostic.kind();
    let interval = ch.interval;
    let suppressed = match ch.last.iter_mut().find(|(k, _, _)| *k == kind) {
        Some((_, last, suppressed)) => {
            if now.duration_since(*last) < interval {
                *suppressed += 1;
                return;
            }
            *last = now;
            std::mem::take(suppressed)
        }
        None => {
            ch.last.push((kind, now, 0));
            0
        }
    };
    // The handler runs after the lock is released: a handler that reports
    // a diagnostic itself (or sets another handler) must not deadlock.
    let handler = ch.handler.clone();
    drop(ch);
    match handler {
        Some(handler) => handler(&diagnostic),
        None => {
            #[allow(clippy::print_stderr)] // reason: the default destination of diagnostics
            if suppressed > 0 {
                eprintln!("clew: {diagnostic} ({suppressed} similar messages suppressed)");
            } else {
                eprintln!("clew: {diagnostic}");
            }
        }
    }
}
