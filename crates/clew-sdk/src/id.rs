//! Trace and span id generation.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

use clew_api::trace::{SpanId, TraceId};

/// Generates ids for new traces and spans. Implement it for vendor id
/// formats; the default is [`RandomIdGenerator`].
pub trait IdGenerator: Send + Sync + fmt::Debug + 'static {
    /// A new, valid (non-zero) trace id. An invalid one is replaced with a
    /// random id, and a diagnostic reported.
    fn new_trace_id(&self) -> TraceId;
    /// A new, valid (non-zero) span id. An invalid one is replaced with a
    /// random id, and a diagnostic reported.
    fn new_span_id(&self) -> SpanId;
    /// True when trace ids are random in their right-most 7 bytes, which
    /// sets the W3C Level 2 `random` flag on new traces.
    fn trace_ids_are_random(&self) -> bool {
        false
    }
}

/// Random ids from a per-thread generator (wyrand), seeded from the
/// standard library's per-process random keys: no lock, no system call.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIdGenerator;

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

fn seed() -> u64 {
    // `RandomState` is seeded from the operating system once per process and
    // perturbed per instance, so each thread starts somewhere different.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish() | 1
}

/// One wyrand step.
#[inline(always)]
fn step(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(*s) * u128::from(*s ^ 0xe703_7ed1_a0b4_28db);
    (t >> 64) as u64 ^ t as u64
}

/// Runs `f` on this thread's generator state (seeded on first use; a
/// fresh seed per call while the thread is being torn down).
#[inline(always)]
fn with_state<R>(f: impl Fn(&mut u64) -> R) -> R {
    STATE
        .try_with(|state| {
            let mut s = state.get();
            if s == 0 {
                s = seed();
            }
            let r = f(&mut s);
            state.set(s);
            r
        })
        .unwrap_or_else(|_| f(&mut seed()))
}

/// A span id that is never zero (a zero draw, one in 2^64, draws again).
/// Random bits are random in any byte order: the ids take the generator's
/// words in the machine's own order (`from_int` would swap their bytes,
/// one instruction per word on every span).
#[inline(always)]
fn span_id_from(s: &mut u64) -> SpanId {
    loop {
        let id = SpanId::from_bytes(step(s).to_ne_bytes());
        if id.is_valid() {
            return id;
        }
    }
}

/// A new span id from the default generator, inlined into span start.
#[inline]
pub(crate) fn random_span_id() -> SpanId {
    with_state(span_id_from)
}

/// A trace id that is never zero.
#[inline(always)]
fn trace_id_from(s: &mut u64) -> TraceId {
    loop {
        // Tested as two words: as a `TraceId`, the check compared its
        // 16 bytes with vector instructions (12 instructions, not 2).
        let (high, low) = (step(s), step(s));
        if high | low != 0 {
            return TraceId::from_bytes(((u128::from(high) << 64) | u128::from(low)).to_ne_bytes());
        }
    }
}

/// A new trace id and span id from the default generator with one access
/// to the thread's state: what a root span needs.
#[inline]
pub(crate) fn random_trace_and_span_ids() -> (TraceId, SpanId) {
    with_state(|s| (trace_id_from(s), span_id_from(s)))
}

impl IdGenerator for RandomIdGenerator {
    #[inline]
    fn new_trace_id(&self) -> TraceId {
        with_state(trace_id_from)
    }

    #[inline]
    fn new_span_id(&self) -> SpanId {
        random_span_id()
    }

    fn trace_ids_are_random(&self) -> bool {
        true
    }
}

/// A random 64-bit number from the same per-thread generator as the ids:
/// for samplers, service instance ids and exporters' retry jitter. Not for
/// secrets.
pub fn random_u64() -> u64 {
    with_state(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_valid_and_distinct_across_threads() {
        let mut seen = HashSet::new();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..1000)
                        .map(|_| RandomIdGenerator.new_span_id())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(id.is_valid());
                assert!(seen.insert(id), "duplicate span id");
            }
        }
        assert!(RandomIdGenerator.new_trace_id().is_valid());
    }

    /// Every byte of the ids is random, whatever order the generator's
    /// words are laid out in: the W3C `random` flag promises it of a trace
    /// id's right-most 7 bytes, and backends shard on the left-most ones.
    /// Over 2,000 ids each byte takes nearly all of its 256 values.
    #[test]
    fn every_byte_of_an_id_varies() {
        fn distinct_per_byte<const N: usize>(ids: impl Iterator<Item = [u8; N]>) -> [usize; N] {
            let mut seen = [[false; 256]; N];
            for id in ids {
                for (i, b) in id.iter().enumerate() {
                    seen[i][usize::from(*b)] = true;
                }
            }
            seen.map(|values| values.iter().filter(|v| **v).count())
        }
        let traces =
            distinct_per_byte((0..2000).map(|_| RandomIdGenerator.new_trace_id().to_bytes()));
        let roots = distinct_per_byte((0..2000).map(|_| random_trace_and_span_ids().1.to_bytes()));
        let spans = distinct_per_byte((0..2000).map(|_| random_span_id().to_bytes()));
        for (kind, counts) in [
            ("trace", &traces[..]),
            ("root span", &roots[..]),
            ("span", &spans[..]),
        ] {
            for (i, count) in counts.iter().enumerate() {
                assert!(*count > 200, "{kind} id byte {i} took only {count} values");
            }
        }
    }
}
