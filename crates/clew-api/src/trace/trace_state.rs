//! The W3C `tracestate`: vendor-specific key-value pairs carried with a trace.

use std::fmt;
use std::sync::Arc;

/// The most list members a trace state holds (W3C Trace Context).
pub const MAX_MEMBERS: usize = 32;

/// Immutable, always-valid W3C trace state.
///
/// Every operation that changes it returns a new value, so a trace state can be
/// shared between spans without copying. The empty trace state does not allocate.
///
/// It is one pointer wide (the header sits behind a thin `Arc<String>`, not a
/// fat `Arc<str>`): every span context carries one, and a span context of 40
/// bytes instead of 48 keeps a finished span's record within 256 bytes, the
/// size glibc copies without a loop.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState(Option<Arc<String>>);

/// Why a trace state or one of its members was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceStateError {
    /// A key does not match the W3C key grammar.
    InvalidKey(String),
    /// A value does not match the W3C value grammar.
    InvalidValue(String),
    /// A list member is not of the form `key=value`.
    InvalidMember(String),
    /// The same key appears twice.
    DuplicateKey(String),
    /// More than 32 list members.
    TooManyMembers(usize),
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceStateError::InvalidKey(k) => write!(f, "invalid tracestate key {k:?}"),
            TraceStateError::InvalidValue(v) => write!(f, "invalid tracestate value {v:?}"),
            TraceStateError::InvalidMember(m) => write!(f, "invalid tracestate member {m:?}"),
            TraceStateError::DuplicateKey(k) => write!(f, "duplicate tracestate key {k:?}"),
            TraceStateError::TooManyMembers(n) => {
                write!(
                    f,
                    "tracestate has {n} members, at most {MAX_MEMBERS} are allowed"
                )
            }
        }
    }
}

impl std::error::Error for TraceStateError {}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
}

/// Checks a key against the W3C grammar:
/// `simple-key = lcalpha 0*255(keychar)` or
/// `tenant-id "@" system-id` with `tenant-id = (lcalpha / DIGIT) 0*240(keychar)` and
/// `system-id = lcalpha 0*13(keychar)`.
pub fn is_valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    match bytes.iter().position(|&b| b == b'@') {
        None => {
            !bytes.is_empty()
                && bytes.len() <= 256
                && bytes[0].is_ascii_lowercase()
                && bytes[1..].iter().all(|&b| is_key_char(b))
        }
        Some(at) => {
            let (tenant, system) = (&bytes[..at], &bytes[at + 1..]);
            !tenant.is_empty()
                && tenant.len() <= 241
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && tenant[1..].iter().all(|&b| is_key_char(b))
                && !system.is_empty()
                && system.len() <= 14
                && system[0].is_ascii_lowercase()
                && system[1..].iter().all(|&b| is_key_char(b))
        }
    }
}

/// Checks a value against the W3C grammar: up to 256 printable ASCII characters
/// other than `,` and `=`, spaces allowed except at the end.
pub fn is_valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 256
        && bytes
            .iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && bytes[bytes.len() - 1] != b' '
}

use crate::propagation::trim_ows;

/// Checks one member against the grammar.
fn check_member(key: &str, value: &str) -> Result<(), TraceStateError> {
    if !is_valid_key(key) {
        return Err(TraceStateError::InvalidKey(key.to_owned()));
    }
    if !is_valid_value(value) {
        return Err(TraceStateError::InvalidValue(value.to_owned()));
    }
    Ok(())
}

/// Appends `key=value` to a header, with a separating comma if needed.
fn push_member(header: &mut String, key: &str, value: &str) {
    if !header.is_empty() {
        header.push(',');
    }
    header.push_str(key);
    header.push('=');
    header.push_str(value);
}

fn from_normalized(header: String) -> TraceState {
    if header.is_empty() {
        TraceState(None)
    } else {
        TraceState(Some(Arc::new(header)))
    }
}

impl TraceState {
    /// The empty trace state.
    pub const NONE: TraceState = TraceState(None);

    /// Parses a `tracestate` header value (several headers joined with `,`).
    ///
    /// Empty list members and optional whitespace are allowed and dropped. Any
    /// invalid member, a duplicate key or more than 32 members rejects the whole
    /// value, as W3C Trace Context requires of a parser that cannot repair it.
    pub fn from_header(header: &str) -> Result<TraceState, TraceStateError> {
        let mut normalized = String::with_capacity(header.len());
        let mut count = 0usize;
        for member in header.split(',') {
            let member = trim_ows(member);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member
                .split_once('=')
                .ok_or_else(|| TraceStateError::InvalidMember(member.to_owned()))?;
            check_member(key, value)?;
            count += 1;
            if count > MAX_MEMBERS {
                return Err(TraceStateError::TooManyMembers(count));
            }
            if Self::find(&normalized, key).is_some() {
                return Err(TraceStateError::DuplicateKey(key.to_owned()));
            }
            push_member(&mut normalized, key, value);
        }
        Ok(from_normalized(normalized))
    }

    /// Builds a trace state from key-value pairs, validating each.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<TraceState, TraceStateError> {
        // Each pair is checked on its own first, so that a value cannot smuggle
        // in a `,` that the header parser would read as a separator.
        let mut header = String::new();
        for (k, v) in pairs {
            check_member(k.as_ref(), v.as_ref())?;
            push_member(&mut header, k.as_ref(), v.as_ref());
        }
        Self::from_header(&header)
    }

    fn find<'a>(header: &'a str, key: &str) -> Option<&'a str> {
        header.split(',').find_map(|member| {
            let (k, v) = member.split_once('=')?;
            (k == key).then_some(v)
        })
    }

    fn text(&self) -> Option<&str> {
        self.0.as_deref().map(String::as_str)
    }

    /// The header form, `key1=value1,key2=value2`, or `""` when empty.
    pub fn header(&self) -> &str {
        self.text().unwrap_or("")
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// How many trace states share this one's allocation (0: none).
    #[cfg(test)]
    pub(crate) fn sharers(&self) -> usize {
        self.0.as_ref().map_or(0, std::sync::Arc::strong_count)
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.text().map_or(0, |h| h.split(',').count())
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        Self::find(self.text()?, key)
    }

    /// The members, left-most first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.text()
            .into_iter()
            .flat_map(|h| h.split(','))
            .filter_map(|m| m.split_once('='))
    }

    /// A new trace state with `key` set to `value`, moved to the front as
    /// W3C requires of a modified key. When that makes 33 members, the
    /// right-most one is dropped.
    pub fn insert(&self, key: &str, value: &str) -> Result<TraceState, TraceStateError> {
        check_member(key, value)?;
        let mut header = String::with_capacity(self.header().len() + key.len() + value.len() + 2);
        push_member(&mut header, key, value);
        // The new member is the first; the rest keep their order, up to the cap.
        for (k, v) in self.iter().filter(|(k, _)| *k != key).take(MAX_MEMBERS - 1) {
            push_member(&mut header, k, v);
        }
        Ok(from_normalized(header))
    }

    /// A new trace state without `key`.
    pub fn remove(&self, key: &str) -> TraceState {
        if self.get(key).is_none() {
            return self.clone();
        }
        let mut header = String::with_capacity(self.header().len());
        for (k, v) in self.iter().filter(|(k, _)| *k != key) {
            push_member(&mut header, k, v);
        }
        from_normalized(header)
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.header())
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_grammar() {
        for ok in [
            "a",
            "foo",
            "foo_bar-baz*qux/9",
            "0tenant@sys",
            "t@s",
            "a1@b2",
            &"a".repeat(256),
            &format!("{}@{}", "t".repeat(241), "s".repeat(14)),
        ] {
            assert!(is_valid_key(ok), "{ok}");
        }
        for bad in [
            "",
            "A",
            "1abc",
            "foo bar",
            "foo=bar",
            "@sys",
            "t@",
            "t@1sys",
            "t@s@s",
            "_t@s",
            &"a".repeat(257),
            &format!("{}@s", "t".repeat(242)),
            &format!("t@{}", "s".repeat(15)),
            "ü",
        ] {
            assert!(!is_valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn value_grammar() {
        assert!(is_valid_value("abc 123!~"));
        assert!(is_valid_value(&"v".repeat(256)));
        assert!(!is_valid_value(&"v".repeat(257)));
        assert!(!is_valid_value("trailing "));
        assert!(!is_valid_value("a,b"));
        assert!(!is_valid_value("a=b"));
        assert!(!is_valid_value(""));
        assert!(!is_valid_value("tab\t"));
        assert!(!is_valid_value("é"));
    }

    #[test]
    fn parse_normalizes_whitespace_and_empty_members() {
        let ts = TraceState::from_header(" rojo=00f067aa0ba902b7 ,, congo=t61rcWkgMzE\t,").unwrap();
        assert_eq!(ts.header(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        assert_eq!(ts.get("congo"), Some("t61rcWkgMzE"));
        assert_eq!(ts.len(), 2);
        assert!(TraceState::from_header(" , ").unwrap().is_empty());
    }

    #[test]
    fn parse_rejects_invalid() {
        assert!(matches!(
            TraceState::from_header("a=1,a=2"),
            Err(TraceStateError::DuplicateKey(_))
        ));
        assert!(matches!(
            TraceState::from_header("a"),
            Err(TraceStateError::InvalidMember(_))
        ));
        assert!(matches!(
            TraceState::from_header("A=1"),
            Err(TraceStateError::InvalidKey(_))
        ));
        // Trailing OWS belongs to the list syntax, not to the value.
        assert_eq!(TraceState::from_header("a=1 ").unwrap().header(), "a=1");
        assert!(matches!(
            TraceState::from_header("a=b=c"),
            Err(TraceStateError::InvalidValue(_))
        ));
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(matches!(
            TraceState::from_header(&many.join(",")),
            Err(TraceStateError::TooManyMembers(33))
        ));
        assert_eq!(
            TraceState::from_header(&many[..32].join(","))
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn insert_moves_to_front_and_caps() {
        let ts = TraceState::from_header("a=1,b=2,c=3").unwrap();
        let ts2 = ts.insert("b", "9").unwrap();
        assert_eq!(ts2.header(), "b=9,a=1,c=3");
        assert_eq!(ts.header(), "a=1,b=2,c=3", "the original is unchanged");
        assert_eq!(ts2.remove("a").header(), "b=9,c=3");
        assert!(ts2.insert("B", "1").is_err());
        let many: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        let full = TraceState::from_header(&many.join(",")).unwrap();
        let more = full.insert("new", "x").unwrap();
        assert_eq!(more.len(), 32);
        assert_eq!(more.get("new"), Some("x"));
        assert_eq!(more.get("k31"), None, "the right-most member is dropped");
        assert!(TraceState::from_header("a=1")
            .unwrap()
            .remove("a")
            .is_empty());
    }
}
