//! `std::thread` with the caller's context.

use std::thread::{JoinHandle, Scope, ScopedJoinHandle};

use crate::context::bind;

/// `std::thread::spawn`, with the caller's current context current in the new thread.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(bind(f))
}

/// `Scope::spawn`, with the caller's current context current in the scoped thread.
pub fn scope_spawn<'scope, 'env, F, T>(
    scope: &'scope Scope<'scope, 'env>,
    f: F,
) -> ScopedJoinHandle<'scope, T>
where
    F: FnOnce() -> T + Send + 'scope,
    T: Send + 'scope,
{
    scope.spawn(bind(f))
}
