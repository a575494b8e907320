//! Exporters that misbehave on purpose, and the batch provider most tests build.
#![allow(dead_code, unreachable_pub)]

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use clew_sdk::env::Env;
use clew_sdk::export::SpanBatch;
use clew_sdk::export::{ExportError, SpanExporter};
use clew_sdk::processor::BatchConfig;
use clew_sdk::{Resource, SdkTracerProvider, SpanData};

/// Counts the calling thread's allocations and frees, so a test can tell a
/// reused block from a new one and a freed block from a leaked one (the
/// allocator may hand a freed block straight back, so addresses alone
/// cannot). Every test binary that includes this module counts; the counts
/// are per thread, so the harness's other threads do not interfere.
struct CountingAllocator;

thread_local! {
    static THREAD_ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static THREAD_FREES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        let _ = THREAD_FREES.try_with(|n| n.set(n.get() + 1));
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations this thread has made so far.
pub fn thread_allocations() -> u64 {
    THREAD_ALLOCATIONS.with(std::cell::Cell::get)
}

/// Blocks this thread has freed so far.
pub fn thread_frees() -> u64 {
    THREAD_FREES.with(std::cell::Cell::get)
}

/// A provider whose only processor batches into `exporter` with `config`,
/// its environment empty so that nothing from the process's overrides it.
pub fn batch_provider(exporter: impl SpanExporter, config: BatchConfig) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_batch_exporter_config(exporter, config)
        .build()
}

/// Reports each export on a channel, so tests wait for exports without sleeping.
#[derive(Debug)]
pub struct ChannelExporter(pub Mutex<Sender<Vec<SpanData>>>);

impl ChannelExporter {
    pub fn new() -> (ChannelExporter, Receiver<Vec<SpanData>>) {
        let (tx, rx) = mpsc::channel();
        (ChannelExporter(Mutex::new(tx)), rx)
    }
}

impl SpanExporter for ChannelExporter {
    fn export(&self, batch: SpanBatch, _: &Resource, _: Duration) -> Result<(), ExportError> {
        let _ = self.0.lock().unwrap().send(batch.into_vec());
        Ok(())
    }
}

/// Blocks every export until the gate opens (or forever), or lets them
/// through one ticket each ([`admit`](Self::admit)).
#[derive(Debug, Clone, Default)]
pub struct GatedExporter {
    /// Exports that may still pass; `usize::MAX` once open.
    gate: Arc<(Mutex<usize>, Condvar)>,
    pub exported: Arc<Mutex<usize>>,
    pub entered: Arc<(Mutex<usize>, Condvar)>,
}

impl GatedExporter {
    /// Lets every export through, now and from now on.
    pub fn open(&self) {
        *self.gate.0.lock().unwrap() = usize::MAX;
        self.gate.1.notify_all();
    }

    /// Lets `n` more exports through.
    pub fn admit(&self, n: usize) {
        let mut tickets = self.gate.0.lock().unwrap();
        *tickets = tickets.saturating_add(n);
        self.gate.1.notify_all();
    }

    /// Waits until an export call has started.
    pub fn wait_entered(&self, n: usize) {
        let (lock, cv) = &*self.entered;
        let mut entered = lock.lock().unwrap();
        while *entered < n {
            entered = cv.wait_timeout(entered, Duration::from_secs(10)).unwrap().0;
        }
    }
}

impl SpanExporter for GatedExporter {
    fn export(&self, batch: SpanBatch, _: &Resource, _: Duration) -> Result<(), ExportError> {
        {
            let (lock, cv) = &*self.entered;
            *lock.lock().unwrap() += 1;
            cv.notify_all();
        }
        let (lock, cv) = &*self.gate;
        let mut tickets = lock.lock().unwrap();
        while *tickets == 0 {
            tickets = cv.wait(tickets).unwrap();
        }
        if *tickets != usize::MAX {
            *tickets -= 1;
        }
        *self.exported.lock().unwrap() += batch.len();
        Ok(())
    }
}

/// Fails every other export.
#[derive(Debug, Default)]
pub struct FlakyExporter {
    pub calls: Mutex<usize>,
    pub accepted: Mutex<usize>,
}

impl SpanExporter for FlakyExporter {
    fn export(&self, batch: SpanBatch, _: &Resource, _: Duration) -> Result<(), ExportError> {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        if *calls % 2 == 0 {
            return Err(ExportError::failed("collector said 503"));
        }
        *self.accepted.lock().unwrap() += batch.len();
        Ok(())
    }
}

/// Drops what it is given.
#[derive(Debug, Default)]
pub struct Discard;

impl SpanExporter for Discard {
    fn export(&self, _: SpanBatch, _: &Resource, _: Duration) -> Result<(), ExportError> {
        Ok(())
    }
}
