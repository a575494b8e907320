//! tokio tasks with the caller's context (feature `tokio`).

use std::future::Future;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::context::{bind, FutureExt};

/// `tokio::spawn`, polling the task with the caller's current context.
/// Must be called inside a tokio runtime, as `tokio::spawn` must.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    ::tokio::spawn(future.in_current_context())
}

/// `Handle::spawn`, for code outside the runtime.
pub fn spawn_on<F>(handle: &Handle, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle.spawn(future.in_current_context())
}

/// `tokio::task::spawn_blocking`, with the caller's current context current
/// on the blocking thread. Must be called inside a tokio runtime, as
/// `tokio::task::spawn_blocking` must; outside one, use [`spawn_blocking_on`].
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    ::tokio::task::spawn_blocking(bind(f))
}

/// `Handle::spawn_blocking`, for code outside the runtime.
pub fn spawn_blocking_on<F, R>(handle: &Handle, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    handle.spawn_blocking(bind(f))
}
