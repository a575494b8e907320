//! The process-wide tracer provider and propagator.
//!
//! Both are installed once, at start-up, by the application (normally through
//! the SDK or the `clew` facade) and read lock-free from any thread. Until a
//! provider is installed every tracer is a no-op that still forwards its
//! parent's context; until a propagator is installed the W3C trace-context and
//! baggage propagator is used, so context crosses processes even in a service
//! that installs nothing.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::propagation::{TextMapPropagator, W3CPropagator};
use crate::trace::{InstrumentationScope, Tracer, TracerProvider};

static PROVIDER: OnceLock<Arc<dyn TracerProvider>> = OnceLock::new();
static PROPAGATOR: OnceLock<Box<dyn TextMapPropagator>> = OnceLock::new();
static DEFAULT_PROPAGATOR: W3CPropagator = W3CPropagator;

/// Returned when something global is installed a second time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GlobalError {
    /// A tracer provider is already installed.
    ProviderAlreadyInstalled,
    /// A propagator is already installed.
    PropagatorAlreadyInstalled,
}

impl fmt::Display for GlobalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobalError::ProviderAlreadyInstalled => {
                f.write_str("a global tracer provider is already installed")
            }
            GlobalError::PropagatorAlreadyInstalled => {
                f.write_str("a global propagator is already installed")
            }
        }
    }
}

impl std::error::Error for GlobalError {}

/// Installs the global tracer provider. Only the first call succeeds: the
/// provider is fixed for the life of the process, which is what lets every
/// span start read it with a single atomic load.
pub fn set_tracer_provider(provider: Arc<dyn TracerProvider>) -> Result<(), GlobalError> {
    PROVIDER
        .set(provider)
        .map_err(|_| GlobalError::ProviderAlreadyInstalled)
}

/// The installed provider, if any.
#[inline]
pub fn provider() -> Option<&'static dyn TracerProvider> {
    PROVIDER.get().map(|p| &**p)
}

/// True once a provider is installed.
pub fn is_provider_installed() -> bool {
    PROVIDER.get().is_some()
}

/// A tracer for the scope `name` that follows the global provider: made
/// before the SDK is installed, it records once it is.
pub fn tracer(name: impl Into<Cow<'static, str>>) -> Tracer {
    Tracer::global(InstrumentationScope::new(name))
}

/// A tracer for a full scope (version, schema URL, attributes).
pub fn tracer_with_scope(scope: InstrumentationScope) -> Tracer {
    Tracer::global(scope)
}

/// Installs the global propagator. Only the first call succeeds.
pub fn set_text_map_propagator(propagator: Box<dyn TextMapPropagator>) -> Result<(), GlobalError> {
    PROPAGATOR
        .set(propagator)
        .map_err(|_| GlobalError::PropagatorAlreadyInstalled)
}

/// The global propagator: the installed one, or W3C trace context plus baggage.
pub fn text_map_propagator() -> &'static dyn TextMapPropagator {
    match PROPAGATOR.get() {
        Some(p) => &**p,
        None => &DEFAULT_PROPAGATOR,
    }
}
