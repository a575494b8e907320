//! One-call context carriers for threads, tasks and pools.
//!
//! | boundary | call |
//! |---|---|
//! | `std::thread::spawn` | [`thread::spawn`] or `std::thread::spawn(context::bind(f))` |
//! | scoped threads | [`thread::scope_spawn`] |
//! | `tokio::spawn` (feature `tokio`) | [`tokio::spawn`] or `fut.in_current_context()` |
//! | `spawn_blocking` (feature `tokio`) | [`tokio::spawn_blocking`] |
//! | rayon (feature `rayon`) | [`rayon::spawn`], [`rayon::join`], `.in_current_context()` on a parallel iterator |
//! | channels | [`Envelope`](crate::context::Envelope) |
//! | child processes | [`inject_into_command`](crate::propagation::inject_into_command) / [`extract_from_env`](crate::propagation::extract_from_env) |

pub mod thread;

#[cfg(feature = "rayon")]
pub mod rayon;
#[cfg(feature = "tokio")]
pub mod tokio;
