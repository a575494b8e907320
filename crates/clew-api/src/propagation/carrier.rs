//! `Injector` and `Extractor` for the common carrier types.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use super::{Extractor, Injector};

impl<S: BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

/// Below this many entries a scan is cheaper than hashing the key.
const SCAN_BELOW: usize = 8;

fn key_matches(candidate: &str, key: &str) -> bool {
    candidate.len() == key.len() && (candidate == key || candidate.eq_ignore_ascii_case(key))
}

/// The value of the first entry whose key matches `key` case-insensitively.
fn scan<'a>(
    entries: impl IntoIterator<Item = (&'a String, &'a String)>,
    key: &str,
) -> Option<&'a str> {
    entries
        .into_iter()
        .find(|(k, _)| key_matches(k, key))
        .map(|(_, v)| v.as_str())
}

impl<S: BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        // Header names are case-insensitive. A small carrier (the common case:
        // a few propagation fields) is scanned, which costs less than hashing;
        // a large one gets an exact hashed lookup first.
        if self.len() < SCAN_BELOW {
            return scan(self, key);
        }
        HashMap::get(self, key)
            .map(String::as_str)
            .or_else(|| scan(self, key))
    }

    fn keys(&self) -> Vec<&str> {
        HashMap::keys(self).map(String::as_str).collect()
    }
}

impl Injector for BTreeMap<String, String> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl Extractor for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key)
            .map(String::as_str)
            .or_else(|| scan(self, key))
    }

    fn keys(&self) -> Vec<&str> {
        BTreeMap::keys(self).map(String::as_str).collect()
    }
}

/// A list of pairs, such as message headers: repeated keys are allowed, and
/// `get_all` joins them.
impl Injector for Vec<(String, String)> {
    fn set(&mut self, key: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        self.push((key.to_owned(), value));
    }
}

impl Extractor for Vec<(String, String)> {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn get_all(&self, key: &str) -> Option<Cow<'_, str>> {
        join_values(
            self.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str()),
        )
    }
}

/// Joins repeated values with `,`, borrowing when there is only one.
pub(crate) fn join_values<'a>(mut values: impl Iterator<Item = &'a str>) -> Option<Cow<'a, str>> {
    let first = values.next()?;
    match values.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = format!("{first},{second}");
            for v in values {
                joined.push(',');
                joined.push_str(v);
            }
            Some(Cow::Owned(joined))
        }
    }
}

#[cfg(feature = "http")]
mod http_impl {
    use super::*;
    use http::header::{HeaderMap, HeaderName, HeaderValue};

    /// Header values that are not valid HTTP (never the case for what clew's
    /// propagators produce) are skipped rather than panicking.
    impl Injector for HeaderMap {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(key.as_bytes()),
                HeaderValue::try_from(value),
            ) {
                self.insert(name, value);
            }
        }
    }

    /// Values that are not visible ASCII are treated as absent.
    impl Extractor for HeaderMap {
        fn get(&self, key: &str) -> Option<&str> {
            HeaderMap::get(self, key).and_then(|v| v.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            HeaderMap::keys(self).map(HeaderName::as_str).collect()
        }

        fn get_all(&self, key: &str) -> Option<Cow<'_, str>> {
            join_values(
                HeaderMap::get_all(self, key)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashmap_is_case_insensitive() {
        let mut m = HashMap::new();
        m.insert("TraceParent".to_owned(), "x".to_owned());
        assert_eq!(Extractor::get(&m, "traceparent"), Some("x"));
        Injector::set(&mut m, "Baggage", "b".into());
        assert_eq!(Extractor::get(&m, "baggage"), Some("b"));
    }

    #[test]
    fn vec_joins_repeated_values() {
        let v = vec![
            ("tracestate".to_owned(), "a=1".to_owned()),
            ("other".to_owned(), "z".to_owned()),
            ("TraceState".to_owned(), "b=2".to_owned()),
        ];
        assert_eq!(v.get_all("tracestate").as_deref(), Some("a=1,b=2"));
        let mut v = v;
        v.set("tracestate", "c=3".into());
        assert_eq!(v.get_all("tracestate").as_deref(), Some("c=3"));
    }
}
