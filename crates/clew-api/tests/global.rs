//! The global provider: installed once, and followed by tracers made before it.

#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod support;

use std::sync::Arc;

use clew_api::global::{self, GlobalError};
use clew_api::propagation::{B3Propagator, NoopPropagator};
use support::Recorder;

#[test]
fn install_once_and_tracers_made_earlier_start_recording() {
    let early = global::tracer("early");
    assert!(!early.start("before").is_recording());

    let rec = Recorder::new();
    global::set_tracer_provider(Arc::new(rec.clone())).unwrap();
    assert_eq!(
        global::set_tracer_provider(Arc::new(Recorder::new())),
        Err(GlobalError::ProviderAlreadyInstalled)
    );
    assert!(global::is_provider_installed());

    early.start("after").end();
    global::tracer("late").start("late_span").end();
    assert_eq!(rec.names(), ["after", "late_span"]);
    assert_eq!(rec.get("after").scope, "early");

    // Spans from other threads reach the same provider.
    std::thread::spawn(|| global::tracer("thread").start("from_thread").end())
        .join()
        .unwrap();
    assert!(rec.names().contains(&"from_thread".to_owned()));
}

#[test]
fn propagator_installs_once() {
    global::set_text_map_propagator(Box::new(B3Propagator::default())).unwrap();
    assert_eq!(global::text_map_propagator().fields(), ["b3"]);
    assert_eq!(
        global::set_text_map_propagator(Box::new(NoopPropagator)),
        Err(GlobalError::PropagatorAlreadyInstalled)
    );
    assert_eq!(
        GlobalError::PropagatorAlreadyInstalled.to_string(),
        "a global propagator is already installed"
    );
}
