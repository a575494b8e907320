//! The clock spans and events are stamped with.
//!
//! [`now`] is wall-clock time, like [`SystemTime::now`], at a fraction of its
//! cost where the hardware allows. A recorded span reads the clock at least
//! twice, and `clock_gettime` is not cheap on a virtual machine: on our
//! benchmark machine `SystemTime::now` takes 28.6 ns and `now` 11.7 ns
//! (`cargo bench -p clew-bench --bench api -- time/`), and a span with four
//! attributes and an event went from 333 to 262 ns through the batch
//! processor.
//!
//! # How
//!
//! On Linux on x86-64, when the kernel's own clock source is the processor's
//! time-stamp counter (so the kernel has checked that it runs at a constant
//! rate and agrees across cores), `now` reads the counter and adds the ticks
//! since an anchor: a (counter, [`SystemTime::now`]) pair each thread takes
//! for itself and renews every 50 ms. Ticks become nanoseconds at a rate
//! measured against the monotonic clock over the whole life of the process,
//! so it sharpens as the process runs. Until that rate is known (the first
//! 20 ms after the first reading), and everywhere else (other systems, other
//! processors, another clock source, a counter that went backwards), `now`
//! is [`SystemTime::now`].
//!
//! # What it means for timestamps
//!
//! - Within one anchor period, differences are monotonic elapsed time: a
//!   span's duration is not disturbed by a wall-clock step.
//! - A step of the system clock (NTP stepping, `settimeofday`, a virtual
//!   machine's host setting its guest's clock) shows in timestamps within
//!   50 ms, when each thread renews its anchor.
//! - After a machine suspend, a thread's first readings can lag by the
//!   suspended time until its anchor is renewed (at most 50 ms of counter
//!   time later), because the counter does not count while suspended.
//! - Two threads' readings agree to within the rate's error over an anchor
//!   period: microseconds in the first second of a process, well under one
//!   afterwards.
//!
//! The SDK also never lets a span end before it started.

use std::fmt;
use std::ops::Add;
use std::time::{Duration, SystemTime};

/// A point in wall-clock time, as nanoseconds since the Unix epoch: what
/// spans and events are stamped with, and exactly what OTLP carries
/// (`fixed64 time_unix_nano`).
///
/// It is 8 bytes where a [`SystemTime`] is 16, which keeps a finished span's
/// record small, and reading it from the clock or writing it to the wire is
/// an integer operation. It converts to and from [`SystemTime`] both ways
/// (`.into()`): a time before the epoch becomes the epoch, and one after
/// the year 2554 (the end of 64-bit nanoseconds) the last representable
/// instant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The current time; the same as [`now`].
    #[inline]
    pub fn now() -> Timestamp {
        now()
    }

    /// The instant `nanos` nanoseconds after the epoch.
    #[inline]
    pub const fn from_unix_nanos(nanos: u64) -> Timestamp {
        Timestamp(nanos)
    }

    /// Nanoseconds since the epoch.
    #[inline]
    pub const fn unix_nanos(self) -> u64 {
        self.0
    }

    /// How long after `earlier` this is, or `None` when it is before it.
    #[inline]
    pub fn checked_duration_since(self, earlier: Timestamp) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }

    /// How long after `earlier` this is, or zero when it is before it.
    #[inline]
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// Adds a duration, saturating at the last representable instant.
impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(nanos))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        match t.duration_since(SystemTime::UNIX_EPOCH) {
            // The addition saturates past the last representable instant.
            Ok(since) => Timestamp::UNIX_EPOCH + since,
            Err(_) => Timestamp::UNIX_EPOCH,
        }
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(t.0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Timestamp({}.{:09}s)",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// The current wall-clock time: what clew stamps spans and events with.
///
/// See the [module documentation](self) for how it is read.
#[inline]
pub fn now() -> Timestamp {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        tsc::now()
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        Timestamp::from(SystemTime::now())
    }
}

/// Whether [`now`] reads the time-stamp counter yet (false before the rate is
/// known, and always on systems where it does not apply).
pub fn uses_counter() -> bool {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        tsc::calibrated()
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        false
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod tsc {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant, SystemTime};

    use super::Timestamp;

    /// How long a thread's anchor serves before it takes a new one.
    const ANCHOR_PERIOD_NS: u128 = 50_000_000;
    /// How long after the first reading the rate is first measured.
    const FIRST_RATE_AFTER: Duration = Duration::from_millis(20);
    /// `SCALE` when the counter is not to be used.
    const UNUSABLE: u64 = u64::MAX;

    /// A thread's anchor: the counter and the wall clock read together.
    #[derive(Clone, Copy)]
    struct Anchor {
        tsc: u64,
        /// The wall clock at `tsc`, in nanoseconds since the epoch.
        at: u64,
        /// Nanoseconds per tick, as a 32.32 fixed-point number.
        scale: u64,
        /// Ticks after `tsc` this anchor serves; 0 while the rate is unknown.
        period: u64,
    }

    thread_local! {
        static ANCHOR: Cell<Anchor> = const {
            Cell::new(Anchor { tsc: 0, at: 0, scale: 0, period: 0 })
        };
    }

    /// The process's rate (see `Anchor::scale`): 0 until measured,
    /// `UNUSABLE` when the counter is not to be used.
    static SCALE: AtomicU64 = AtomicU64::new(0);
    /// The first reading, which the rate is measured from.
    static BASE: OnceLock<(u64, Instant)> = OnceLock::new();

    #[inline(always)]
    fn counter() -> u64 {
        // SAFETY: `rdtsc` is part of x86-64 and has no preconditions.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }

    #[inline]
    pub(super) fn now() -> Timestamp {
        let anchor = ANCHOR.with(Cell::get);
        let ticks = counter().wrapping_sub(anchor.tsc);
        // A counter that went backwards wraps to a huge value and renews.
        if ticks < anchor.period {
            // `ticks * scale` stays below 2^64 and the result below one
            // second: `period` is 50 ms of ticks. `at` is at most the last
            // representable instant minus a second (see `renew`).
            return Timestamp(anchor.at + ((ticks * anchor.scale) >> 32));
        }
        renew()
    }

    pub(super) fn calibrated() -> bool {
        !matches!(SCALE.load(Ordering::Relaxed), 0 | UNUSABLE)
    }

    /// Reads the system clock, takes a new anchor for this thread from it
    /// (once the rate is known) and returns it.
    #[cold]
    #[inline(never)]
    fn renew() -> Timestamp {
        let scale = rate();
        if scale == 0 || scale == UNUSABLE {
            // No anchor to take: every reading comes here and costs what
            // `SystemTime::now` costs, and a little more only while the
            // rate is measured.
            return Timestamp::from(SystemTime::now());
        }
        let (tsc, at) = paired(SystemTime::now);
        // Kept a second short of the end of the representable range, so
        // that adding up to a period's nanoseconds in `now` cannot overflow.
        let at = Timestamp::from(at)
            .unix_nanos()
            .min(u64::MAX - 1_000_000_000);
        let period = ((ANCHOR_PERIOD_NS << 32) / u128::from(scale)) as u64;
        ANCHOR.with(|a| {
            a.set(Anchor {
                tsc,
                at,
                scale,
                period,
            })
        });
        Timestamp(at)
    }

    /// Reads `clock` between two counter readings and returns it with their
    /// midpoint. A pair the thread was preempted in the middle of would be
    /// off by the preemption, so it is read again (a few times at most).
    fn paired<T>(clock: impl Fn() -> T) -> (u64, T) {
        /// Normally a few hundred ticks apart; this is microseconds.
        const CLOSE: u64 = 20_000;
        let mut attempt = 0;
        loop {
            let before = counter();
            let value = clock();
            let gap = counter().wrapping_sub(before);
            attempt += 1;
            if gap < CLOSE || attempt == 4 {
                return (before.wrapping_add(gap / 2), value);
            }
        }
    }

    /// The rate, measured again over the process's life so far (so each
    /// renewal sharpens it); 0 during the first 20 ms.
    fn rate() -> u64 {
        let scale = SCALE.load(Ordering::Relaxed);
        if scale == UNUSABLE {
            return UNUSABLE;
        }
        let &(base_tsc, base) = BASE.get_or_init(|| {
            if !kernel_uses_tsc() {
                SCALE.store(UNUSABLE, Ordering::Relaxed);
            }
            paired(Instant::now)
        });
        if SCALE.load(Ordering::Relaxed) == UNUSABLE {
            return UNUSABLE;
        }
        let (tsc, now) = paired(Instant::now);
        let elapsed = now.saturating_duration_since(base);
        if elapsed < FIRST_RATE_AFTER {
            return scale;
        }
        let ticks = tsc.wrapping_sub(base_tsc);
        let Some(measured) = (elapsed.as_nanos() << 32).checked_div(u128::from(ticks)) else {
            return scale;
        };
        // A counter from 10 MHz to 100 GHz; anything else is not a clock.
        if !((1u128 << 32) / 100..=(100u128 << 32)).contains(&measured) {
            SCALE.store(UNUSABLE, Ordering::Relaxed);
            return UNUSABLE;
        }
        let measured = measured as u64;
        SCALE.store(measured, Ordering::Relaxed);
        measured
    }

    /// The kernel reads the counter for its own clock only once it has
    /// checked it is constant-rate and synchronised across cores. A process
    /// that made `rdtsc` fault (`prctl(PR_SET_TSC, PR_TSC_SIGSEGV)`, as some
    /// sandboxes do) keeps the system clock.
    fn kernel_uses_tsc() -> bool {
        const PR_GET_TSC: i32 = 25;
        const PR_TSC_ENABLE: i32 = 1;
        extern "C" {
            fn prctl(option: i32, ...) -> i32;
        }
        let mut state = 0i32;
        // SAFETY: PR_GET_TSC writes one int through the pointer it is given,
        // which points to a live local.
        let tsc_enabled =
            unsafe { prctl(PR_GET_TSC, &mut state as *mut i32) } == 0 && state == PR_TSC_ENABLE;
        tsc_enabled
            && std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .is_ok_and(|source| source.trim() == "tsc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Waits until the rate is measured, where the counter is used at all,
    /// and checks that it is used wherever the kernel's clock uses it, so
    /// these tests test the counter path on such machines.
    fn wait_for_rate() {
        let start = Instant::now();
        while !uses_counter() && start.elapsed() < Duration::from_millis(500) {
            let _ = now();
            std::thread::sleep(Duration::from_millis(2));
        }
        let source = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .unwrap_or_default();
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) && source.trim() == "tsc" {
            assert!(
                uses_counter(),
                "the kernel clock reads the TSC; so should now()"
            );
        }
    }

    /// A change of [`system_offset`] larger than this, in nanoseconds, is a
    /// step of the system clock.
    const STEP_NS: i128 = 20_000;

    /// The system clock's offset from the monotonic clock, in nanoseconds,
    /// from the closest of a few (monotonic, system, monotonic) readings. It
    /// moves only when the system clock is stepped (`clock_settime`, a
    /// virtual machine's clock set by its host): slewing changes the rate of
    /// both clocks alike.
    fn system_offset() -> i128 {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        let mut best = (Duration::MAX, 0);
        for _ in 0..20 {
            let before = Instant::now();
            let system = SystemTime::now();
            let width = before.elapsed();
            if width < best.0 {
                let monotonic = (before - origin + width / 2).as_nanos() as i128;
                let system = system
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos() as i128;
                best = (width, system - monotonic);
            }
        }
        best.1
    }

    /// Runs `check`, which compares [`now`] with the system or the monotonic
    /// clock. A step of the system clock shows in `now` only when each
    /// thread next renews its anchor (the module documentation), so the two
    /// disagree for up to an anchor period after one: a failure is retried
    /// when the system clock was stepped during the attempt (a CI run saw a
    /// step of 0.5 ms), and fails the test otherwise. Each attempt
    /// first sleeps past an anchor period, so that a step before it has
    /// reached every anchor `check` reads.
    fn across_clock_steps(check: impl Fn() -> Result<(), String>) {
        for attempt in 1..=5 {
            let offset = system_offset();
            std::thread::sleep(Duration::from_millis(60));
            let Err(failure) = check() else {
                return;
            };
            let moved = system_offset() - offset;
            assert!(moved.abs() > STEP_NS, "{failure}");
            eprintln!("attempt {attempt}: the system clock was stepped by {moved} ns ({failure})");
        }
        panic!("the system clock was stepped during every attempt");
    }

    #[test]
    fn agrees_with_the_system_clock() {
        wait_for_rate();
        // Across several anchor periods, on two threads.
        let check = || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(150) {
                let before = Timestamp::from(SystemTime::now());
                let ours = now();
                let after = Timestamp::from(SystemTime::now());
                let slack = Duration::from_micros(200);
                if ours + slack < before || ours > after + slack {
                    return Err(format!("{ours:?} not within {before:?}..{after:?}"));
                }
                std::thread::sleep(Duration::from_micros(300));
            }
            Ok(())
        };
        across_clock_steps(|| {
            std::thread::scope(|s| {
                let other = s.spawn(check);
                let here = check();
                other
                    .join()
                    .expect("the checking thread panicked")
                    .and(here)
            })
        });
    }

    #[test]
    fn timestamps_convert_to_and_from_system_time() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_763_731_200, 123_456_789);
        let ts = Timestamp::from(t);
        assert_eq!(ts.unix_nanos(), 1_763_731_200_123_456_789);
        assert_eq!(SystemTime::from(ts), t);
        assert_eq!(format!("{ts:?}"), "Timestamp(1763731200.123456789s)");
        // Before the epoch: the epoch. Past 64-bit nanoseconds: the last one.
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(Timestamp::from(before), Timestamp::UNIX_EPOCH);
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(600 * 365 * 86_400);
        assert_eq!(Timestamp::from(far).unix_nanos(), u64::MAX);
        assert_eq!(
            Timestamp::from_unix_nanos(u64::MAX - 1) + Duration::from_secs(1),
            Timestamp::from_unix_nanos(u64::MAX)
        );
        let later = ts + Duration::from_millis(1500);
        assert_eq!(later.unix_nanos(), 1_763_731_201_623_456_789);
        assert_eq!(
            later.checked_duration_since(ts),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(ts.checked_duration_since(later), None);
        assert_eq!(ts.saturating_duration_since(later), Duration::ZERO);
    }

    #[test]
    fn measures_elapsed_time() {
        wait_for_rate();
        for sleep_ms in [1, 12, 60] {
            across_clock_steps(|| {
                let start = Instant::now();
                let a = now();
                std::thread::sleep(Duration::from_millis(sleep_ms));
                let b = now();
                let real = start.elapsed();
                let ours = b.saturating_duration_since(a);
                if ours.abs_diff(real) < Duration::from_micros(300) {
                    Ok(())
                } else {
                    Err(format!(
                        "measured {ours:?} for {real:?} (slept {sleep_ms} ms)"
                    ))
                }
            });
        }
    }

    #[test]
    fn does_not_go_back_within_a_thread() {
        wait_for_rate();
        // Renewals can move the anchor by the rate's error (well under a
        // microsecond here); successive readings never go back more, unless
        // the system clock was stepped back.
        across_clock_steps(|| {
            let mut last = now();
            for _ in 0..200_000 {
                let t = now();
                let back = last.saturating_duration_since(t);
                if back >= Duration::from_micros(50) {
                    return Err(format!("went back {back:?}"));
                }
                last = t;
            }
            Ok(())
        });
    }

    #[test]
    fn a_step_of_the_system_clock_is_told_from_one_that_holds_still() {
        // `across_clock_steps` forgives only failures during a step; here
        // the clock holds still (nothing in this test sets it), so a failing
        // check must fail the test.
        let failed = std::panic::catch_unwind(|| {
            across_clock_steps(|| Err("this check always fails".to_string()))
        });
        assert!(failed.is_err());
        // And the offset is read precisely enough to tell a step: two
        // readings agree well within the step threshold (three tries, in
        // case a step falls between two of them).
        assert!((0..3).any(|_| (system_offset() - system_offset()).abs() < STEP_NS));
    }
}
