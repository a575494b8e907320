//! The lock around each of the batch processor's queue shards.
//!
//! A shard is locked once per ended span, by the producer threads, and now
//! and then by the export thread, which takes its full batches. Holders
//! keep it for a few dozen instructions, but it is contended as a rule
//! while producers fill the queue, so a waiter must be woken as soon as the
//! holder lets go: the SDK's [`BriefLock`](crate::brief_lock), whose
//! waiters sleep in growing steps, dropped more spans here (see its
//! documentation).
//!
//! `std::sync::Mutex` does the same as this lock on Linux (one
//! compare-exchange to lock, one exchange to unlock, a futex for sleepers),
//! and also checks the process's panic count when it locks and again when
//! it unlocks, for poisoning, which the SDK ignores anyway: 14 of the 72
//! instructions that queued a span (measured per function). This lock has
//! no poisoned state; its sleepers wait on a condition variable.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

/// Nobody holds it.
const FREE: u8 = 0;
/// Held, and nobody sleeps on it.
const HELD: u8 = 1;
/// Held, and a waiter may sleep on it: the holder wakes one when it lets go.
const CONTENDED: u8 = 2;

/// How many times a waiter looks at the lock before it sleeps.
const SPINS: u32 = 100;

/// A lock whose waiters spin briefly, then sleep until the holder lets go.
pub(crate) struct QueueLock<T> {
    state: AtomicU8,
    /// Held by a waiter between its last look at `state` and its wait, and
    /// by a holder that wakes it: no wake-up is lost in between.
    sleepers: Mutex<()>,
    wake: Condvar,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, and only one guard
// exists at a time (`state` leaves `FREE` only through an `Acquire`
// exchange and returns to it through a `Release` one, which orders each
// holder's accesses after the previous holder's). As with `Mutex`,
// `T: Send` is enough for both.
unsafe impl<T: Send> Send for QueueLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for QueueLock<T> {}

impl<T> QueueLock<T> {
    pub(crate) const fn new(value: T) -> QueueLock<T> {
        QueueLock {
            state: AtomicU8::new(FREE),
            sleepers: Mutex::new(()),
            wake: Condvar::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Locks, waiting while another thread holds it.
    #[inline]
    pub(crate) fn lock(&self) -> QueueLockGuard<'_, T> {
        if self
            .state
            .compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.wait_and_lock();
        }
        QueueLockGuard { lock: self }
    }

    #[cold]
    #[inline(never)]
    fn wait_and_lock(&self) {
        for _ in 0..SPINS {
            if self.state.load(Ordering::Relaxed) == FREE
                && self
                    .state
                    .compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
            std::hint::spin_loop();
        }
        loop {
            // Marked contended before sleeping, so that the holder wakes a
            // sleeper when it lets go. Taken this way, the lock stays marked
            // contended: other sleepers are woken in turn, and a needless
            // wake-up costs only a look.
            if self.state.swap(CONTENDED, Ordering::Acquire) == FREE {
                return;
            }
            let sleepers = self.sleepers.lock().unwrap_or_else(PoisonError::into_inner);
            // Looked at again under `sleepers`: a holder that let go since
            // the exchange above takes `sleepers` to wake a sleeper, so
            // either this sees the lock free, or the wake-up comes after
            // the wait has begun.
            if self.state.load(Ordering::Relaxed) == CONTENDED {
                drop(self.wake.wait(sleepers));
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_one(&self) {
        let _sleepers = self.sleepers.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_one();
    }
}

/// Holds a [`QueueLock`] until dropped, also when a panic unwinds through
/// it: the lock has no poisoned state (as the SDK treated a poisoned
/// `Mutex`).
pub(crate) struct QueueLockGuard<'a, T> {
    lock: &'a QueueLock<T>,
}

impl<T> Deref for QueueLockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `Sync` above).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for QueueLockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for QueueLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.lock.state.swap(FREE, Ordering::Release) == CONTENDED {
            self.lock.wake_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock_tests::{self, TestLock};

    impl<T: Send + 'static> TestLock<T> for QueueLock<T> {
        fn new_lock(value: T) -> Self {
            QueueLock::new(value)
        }
        fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
            f(&mut self.lock())
        }
    }

    /// Every hundredth holder keeps the lock past the waiters' spinning, so
    /// that they sleep and must be woken.
    #[test]
    fn holders_never_overlap_and_sleepers_are_woken() {
        lock_tests::holders_never_overlap::<QueueLock<_>>(5_000, Some(100));
    }

    /// The waiter has gone to sleep (the lock is marked contended) and is
    /// woken; the lock is free afterwards.
    #[test]
    fn a_sleeping_waiter_gets_the_lock_when_it_is_let_go() {
        let state = |lock: &QueueLock<u32>| lock.state.load(Ordering::Relaxed);
        let lock = lock_tests::a_long_holder_is_waited_for::<QueueLock<_>>(|lock| {
            assert_eq!(state(lock), CONTENDED);
        });
        assert_eq!(state(&lock), FREE);
    }

    #[test]
    fn a_panicking_holder_releases_the_lock() {
        lock_tests::a_panicking_holder_releases_the_lock::<QueueLock<_>>();
    }
}
