//! Graceful shutdown: a guard that flushes on drop, and a handler that
//! flushes on SIGTERM and SIGINT (the seeds' shutdown handlers).

use std::time::Duration;

use crate::provider::SdkTracerProvider;

/// Shuts the provider down, within its timeout, when dropped: keep it alive
/// in `main`, and every span ended before `main` returns is exported.
#[derive(Debug)]
#[must_use = "the provider is shut down when the guard is dropped"]
pub struct ShutdownGuard {
    provider: Option<SdkTracerProvider>,
    timeout: Duration,
}

impl ShutdownGuard {
    pub(crate) fn new(provider: SdkTracerProvider, timeout: Duration) -> ShutdownGuard {
        ShutdownGuard {
            provider: Some(provider),
            timeout,
        }
    }

    /// The provider this guard shuts down.
    pub fn provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// Shuts down now and reports the outcome.
    pub fn shutdown(mut self) -> Result<(), crate::provider::ShutdownError> {
        match self.provider.take() {
            Some(p) => p.shutdown(self.timeout),
            None => Ok(()),
        }
    }

    /// Gives up the guard without shutting down.
    pub fn disarm(mut self) -> Option<SdkTracerProvider> {
        self.provider.take()
    }
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Errors have been reported through the diagnostics channel.
            let _ = provider.shutdown(self.timeout);
        }
    }
}

/// Flushes and shuts `provider` down when the process receives SIGTERM or
/// SIGINT, within `timeout`, then exits with status 128 + the signal number,
/// as the default action would. Runs on its own thread; returns a handle that
/// stops listening when closed.
#[cfg(all(unix, feature = "signal"))]
pub fn on_signal(provider: SdkTracerProvider, timeout: Duration) -> std::io::Result<SignalHandle> {
    on_signal_then(provider, timeout, |signal| std::process::exit(128 + signal))
}

/// Like [`on_signal`], but runs `then(signal)` after the shutdown instead of exiting.
#[cfg(all(unix, feature = "signal"))]
pub fn on_signal_then(
    provider: SdkTracerProvider,
    timeout: Duration,
    then: impl FnOnce(i32) + Send + 'static,
) -> std::io::Result<SignalHandle> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    let handle = signals.handle();
    std::thread::Builder::new()
        .name("clew-signal".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _ = provider.shutdown(timeout);
                then(signal);
            }
        })?;
    Ok(SignalHandle { handle })
}

/// Stops a signal handler installed by [`on_signal`].
#[cfg(all(unix, feature = "signal"))]
#[derive(Debug)]
pub struct SignalHandle {
    handle: signal_hook::iterator::Handle,
}

#[cfg(all(unix, feature = "signal"))]
impl SignalHandle {
    /// Stops listening; the provider is not shut down.
    pub fn close(self) {
        self.handle.close();
    }
}
