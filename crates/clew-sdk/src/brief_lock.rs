//! The lock around a recording span's data.
//!
//! A span's data is locked for a few dozen instructions at a time (one
//! attribute, one event, the end), almost always by the one thread that
//! holds the span: contention is rare and short. `std::sync::Mutex` paid
//! on every call for what this case never needs: a check of the process's
//! panic count on lock and again on unlock (for poisoning, which the SDK
//! ignores anyway) and an exchange on unlock to look for sleepers. This
//! lock takes one exchange to lock and one plain store to unlock
//! (measured: 35-42 instructions less per span with 4 attributes and an
//! event, 58 less for three nested spans; docs/benchmarks.md).
//!
//! A thread that finds it held spins briefly, then yields, then sleeps for
//! growing intervals (up to a millisecond), so a holder that lost its core,
//! even to a thread of higher priority that is waiting for it, always gets
//! to run and release it: waiting may be slow, but never endless. That is
//! also why it is not for locks that are contended as a rule: a waiter
//! that sleeps wakes up to a millisecond after the holder lets go. The
//! batch processor's queue shards, which its export thread takes from
//! while producers add to them, have a lock whose waiters are woken
//! ([`QueueLock`](crate::queue_lock::QueueLock)): under the brief lock, two
//! producers dropped 0.22-0.46% of their spans (1.82% in one run) instead of
//! 0.01-0.26%.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A lock for data that is held briefly and rarely contended.
pub(crate) struct BriefLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, and only one guard
// exists at a time (the `locked` flag, taken with `Acquire` and given back
// with `Release`, orders each holder's accesses after the previous one's),
// or through `&mut self`. As with `Mutex`, `T: Send` is enough for both.
unsafe impl<T: Send> Send for BriefLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for BriefLock<T> {}

/// Spins before the waiting thread first yields its core.
const SPINS: u32 = 64;
/// Yields before it starts to sleep.
const YIELDS: u32 = 16;
/// The first and the longest sleep.
const FIRST_SLEEP: Duration = Duration::from_micros(10);
const LONGEST_SLEEP: Duration = Duration::from_millis(1);

impl<T> BriefLock<T> {
    pub(crate) const fn new(value: T) -> BriefLock<T> {
        BriefLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Locks, waiting while another thread holds it.
    #[inline]
    pub(crate) fn lock(&self) -> BriefLockGuard<'_, T> {
        if self.locked.swap(true, Ordering::Acquire) {
            self.wait_and_lock();
        }
        BriefLockGuard { lock: self }
    }

    #[cold]
    #[inline(never)]
    fn wait_and_lock(&self) {
        let mut round = 0u32;
        let mut sleep = FIRST_SLEEP;
        loop {
            // Waits on a plain load, which keeps the cache line shared,
            // and tries the exchange only once the lock looks free.
            while self.locked.load(Ordering::Relaxed) {
                if round < SPINS {
                    std::hint::spin_loop();
                } else if round < SPINS + YIELDS {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(sleep);
                    sleep = (sleep * 2).min(LONGEST_SLEEP);
                }
                round = round.saturating_add(1);
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }

    /// The value, without locking: `&mut self` proves no guard exists.
    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

/// Holds a [`BriefLock`] until dropped, also when a panic unwinds through
/// it: the lock has no poisoned state (a span's data stays usable, as the
/// SDK treated a poisoned `Mutex` before).
pub(crate) struct BriefLockGuard<'a, T> {
    lock: &'a BriefLock<T>,
}

impl<T> Deref for BriefLockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `Sync` above).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for BriefLockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for BriefLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock_tests::{self, TestLock};

    impl<T: Send + 'static> TestLock<T> for BriefLock<T> {
        fn new_lock(value: T) -> Self {
            BriefLock::new(value)
        }
        fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
            f(&mut self.lock())
        }
    }

    #[test]
    fn holders_never_overlap() {
        lock_tests::holders_never_overlap::<BriefLock<_>>(20_000, None);
    }

    /// Held far past the spinning and yielding rounds.
    #[test]
    fn a_long_holder_is_waited_for() {
        lock_tests::a_long_holder_is_waited_for::<BriefLock<_>>(|_| {});
    }

    #[test]
    fn a_panicking_holder_releases_the_lock() {
        lock_tests::a_panicking_holder_releases_the_lock::<BriefLock<_>>();
    }
}
