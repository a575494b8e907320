//! Baggage: name-value pairs that travel with the context, across processes,
//! for cross-cutting concerns such as a tenant id or a feature flag.

use std::fmt;
use std::sync::Arc;

use crate::Context;

/// Opaque per-entry metadata (the W3C `;property` part), kept as one string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct BaggageMetadata(String);

impl BaggageMetadata {
    /// Metadata from its string form, without the leading `;`.
    pub fn new(metadata: impl Into<String>) -> BaggageMetadata {
        BaggageMetadata(metadata.into())
    }

    /// The metadata string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for BaggageMetadata {
    fn from(s: &str) -> Self {
        BaggageMetadata(s.to_owned())
    }
}

impl From<String> for BaggageMetadata {
    fn from(s: String) -> Self {
        BaggageMetadata(s)
    }
}

/// One baggage value with its metadata.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BaggageEntry {
    value: String,
    metadata: BaggageMetadata,
}

impl BaggageEntry {
    /// An entry.
    pub fn new(value: impl Into<String>, metadata: BaggageMetadata) -> BaggageEntry {
        BaggageEntry {
            value: value.into(),
            metadata,
        }
    }

    /// The value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The metadata.
    pub fn metadata(&self) -> &BaggageMetadata {
        &self.metadata
    }
}

/// An immutable set of baggage entries, in insertion order.
///
/// Every change returns a new `Baggage`; setting an existing name replaces its
/// entry in place. The empty baggage does not allocate.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Baggage {
    entries: Option<Arc<Vec<(String, BaggageEntry)>>>,
}

impl Baggage {
    /// The empty baggage.
    pub const fn new() -> Baggage {
        Baggage { entries: None }
    }

    /// The current context's baggage.
    pub fn current() -> Baggage {
        Context::map_current(|cx| cx.baggage().clone())
    }

    fn slice(&self) -> &[(String, BaggageEntry)] {
        self.entries.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The value stored under `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entry(name).map(BaggageEntry::value)
    }

    /// The entry stored under `name`.
    pub fn entry(&self, name: &str) -> Option<&BaggageEntry> {
        self.slice().iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// The entries, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &BaggageEntry)> {
        self.slice().iter().map(|(n, e)| (n.as_str(), e))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.slice().len()
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.slice().is_empty()
    }

    /// This baggage with `name` set to `value` and no metadata.
    pub fn with(&self, name: impl Into<String>, value: impl Into<String>) -> Baggage {
        self.with_entry(name, BaggageEntry::new(value, BaggageMetadata::default()))
    }

    /// This baggage with `name` set to `entry`.
    pub fn with_entry(&self, name: impl Into<String>, entry: BaggageEntry) -> Baggage {
        let name = name.into();
        let mut entries = self.slice().to_vec();
        match entries.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = entry,
            None => entries.push((name, entry)),
        }
        Baggage {
            entries: Some(Arc::new(entries)),
        }
    }

    /// This baggage without `name`.
    pub fn without(&self, name: &str) -> Baggage {
        if self.entry(name).is_none() {
            return self.clone();
        }
        let entries: Vec<_> = self
            .slice()
            .iter()
            .filter(|(n, _)| n != name)
            .cloned()
            .collect();
        Baggage {
            entries: (!entries.is_empty()).then(|| Arc::new(entries)),
        }
    }

    pub(crate) fn from_entries(entries: Vec<(String, BaggageEntry)>) -> Baggage {
        Baggage {
            entries: (!entries.is_empty()).then(|| Arc::new(entries)),
        }
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(n, e)| (n, e.value())))
            .finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Baggage {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Baggage::new(), |b, (k, v)| b.with(k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove() {
        let b = Baggage::new().with("tenant.id", "acme").with("flags", "a");
        assert_eq!(b.get("tenant.id"), Some("acme"));
        let b2 = b.with("tenant.id", "other");
        assert_eq!(b2.get("tenant.id"), Some("other"));
        assert_eq!(b.get("tenant.id"), Some("acme"), "immutable");
        assert_eq!(
            b2.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            ["tenant.id", "flags"]
        );
        let b3 = b2.without("tenant.id");
        assert_eq!(b3.len(), 1);
        assert!(b3.without("flags").is_empty());
        let m = b.with_entry("x", BaggageEntry::new("1", "p=1".into()));
        assert_eq!(m.entry("x").unwrap().metadata().as_str(), "p=1");
        let from: Baggage = [("a", "1"), ("b", "2")].into_iter().collect();
        assert_eq!(from.len(), 2);
    }

    #[test]
    fn baggage_in_context() {
        let cx = Context::new().with_baggage(Baggage::new().with("k", "v"));
        assert_eq!(cx.baggage().get("k"), Some("v"));
        let _g = cx.attach();
        assert_eq!(Baggage::current().get("k"), Some("v"));
    }
}
