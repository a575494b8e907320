//! The checks every lock of the SDK passes ([`BriefLock`](crate::brief_lock::BriefLock),
//! [`QueueLock`](crate::queue_lock::QueueLock)), written once.

use std::sync::{Arc, Barrier};
use std::time::Duration;

/// A lock under test: made around a value, and held for one call.
pub(crate) trait TestLock<T>: Send + Sync + 'static {
    fn new_lock(value: T) -> Self;
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

/// Increments from several threads, each read-modify-write split into a
/// load and a store under the lock, add up exactly: no two holders
/// overlapped, and each saw the previous one's write. With
/// `hold_long_every`, every such holder keeps the lock for 200 µs, past the
/// waiters' spinning.
pub(crate) fn holders_never_overlap<L: TestLock<(u64, bool)>>(
    rounds: u64,
    hold_long_every: Option<u64>,
) {
    const THREADS: usize = 4;
    let lock = Arc::new(L::new_lock((0, false)));
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (lock, start) = (Arc::clone(&lock), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                for round in 1..=rounds {
                    lock.with(|held| {
                        assert!(!held.1, "two holders at once");
                        held.1 = true;
                        let seen = held.0;
                        std::hint::black_box(&mut *held);
                        if hold_long_every.is_some_and(|every| round % every == 0) {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        held.0 = seen + 1;
                        held.1 = false;
                    })
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a thread panicked");
    }
    assert_eq!(lock.with(|held| held.0), THREADS as u64 * rounds);
}

/// A waiter gets the lock once a holder that keeps it for 30 ms lets go,
/// and not before; `while_held` runs, on the holder's thread, once the
/// waiter has been waiting for that long. Returns the lock.
pub(crate) fn a_long_holder_is_waited_for<L: TestLock<u32>>(while_held: impl FnOnce(&L)) -> Arc<L> {
    let lock = Arc::new(L::new_lock(0));
    let waiter = lock.with(|_| {
        let waiter = {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || {
                lock.with(|value| {
                    *value += 1;
                    *value
                })
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        assert!(!waiter.is_finished(), "the waiter took a held lock");
        while_held(&lock);
        waiter
    });
    assert_eq!(waiter.join().expect("the waiter panicked"), 1);
    lock
}

/// A panic while the lock is held releases it, and the value stays usable.
pub(crate) fn a_panicking_holder_releases_the_lock<L: TestLock<u32>>() {
    let lock = Arc::new(L::new_lock(1));
    let panicked = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            lock.with(|value| {
                *value = 2;
                panic!("while holding the lock");
            })
        })
        .join()
    };
    assert!(panicked.is_err());
    assert_eq!(lock.with(|value| *value), 2);
}
