//! Grouping a batch by instrumentation scope, as OTLP nests it.

use clew_sdk::{Scope, SpanData};

/// The spans of one scope, by index into the batch.
pub(crate) struct ScopeGroup {
    pub(crate) scope: Scope,
    pub(crate) spans: Vec<usize>,
}

/// Groups spans by scope, in order of each scope's first span. Scopes are
/// interned, so most comparisons are a pointer comparison.
pub(crate) fn by_scope(spans: &[SpanData]) -> Vec<ScopeGroup> {
    let mut groups: Vec<ScopeGroup> = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        match groups.iter_mut().find(|g| g.scope == span.scope) {
            Some(group) => group.spans.push(i),
            None => {
                // Most batches hold one scope: size the first group for
                // all the remaining spans, later ones grow as they need.
                let mut indices = Vec::with_capacity(if groups.is_empty() {
                    spans.len() - i
                } else {
                    4
                });
                indices.push(i);
                groups.push(ScopeGroup {
                    scope: span.scope,
                    spans: indices,
                });
            }
        }
    }
    groups
}
