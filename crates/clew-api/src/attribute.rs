//! Typed attribute keys and values.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A string that is either static, owned or shared, so that the common case
/// (static keys, literal values) never allocates.
#[derive(Clone)]
enum Str {
    Static(&'static str),
    Owned(Box<str>),
    Shared(Arc<str>),
}

impl Str {
    fn as_str(&self) -> &str {
        match self {
            Str::Static(s) => s,
            Str::Owned(s) => s,
            Str::Shared(s) => s,
        }
    }
}

macro_rules! string_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(Str);

        impl $name {
            /// A value borrowed from a static string, with no allocation.
            pub const fn from_static(s: &'static str) -> Self {
                Self(Str::Static(s))
            }

            /// The string.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The string's length in bytes.
            pub fn len(&self) -> usize {
                self.as_str().len()
            }

            /// True when the string is empty.
            pub fn is_empty(&self) -> bool {
                self.as_str().is_empty()
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }
        impl Eq for $name {}
        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }
        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
        impl From<&'static str> for $name {
            fn from(s: &'static str) -> Self {
                Self(Str::Static(s))
            }
        }
        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(Str::Owned(s.into_boxed_str()))
            }
        }
        impl From<Box<str>> for $name {
            fn from(s: Box<str>) -> Self {
                Self(Str::Owned(s))
            }
        }
        impl From<Arc<str>> for $name {
            fn from(s: Arc<str>) -> Self {
                Self(Str::Shared(s))
            }
        }
        impl From<Cow<'static, str>> for $name {
            fn from(s: Cow<'static, str>) -> Self {
                match s {
                    Cow::Borrowed(s) => Self(Str::Static(s)),
                    Cow::Owned(s) => s.into(),
                }
            }
        }
        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                s.clone().into()
            }
        }
    };
}

string_type!(
    /// An attribute key. Static keys (the [`semconv`](crate::semconv) constants)
    /// never allocate.
    Key
);
string_type!(
    /// A string attribute value.
    StringValue
);

impl Key {
    /// Pairs this key with a value.
    pub fn value(self, value: impl Into<Value>) -> KeyValue {
        KeyValue {
            key: self,
            value: value.into(),
        }
    }
}

/// An attribute value: one of the OpenTelemetry primitive types or a
/// homogeneous array of one of them.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A double-precision float.
    F64(f64),
    /// A UTF-8 string.
    String(StringValue),
    /// A homogeneous array.
    Array(Array),
}

/// A homogeneous array of primitive values.
#[derive(Clone, Debug, PartialEq)]
pub enum Array {
    /// Booleans.
    Bool(Vec<bool>),
    /// Signed 64-bit integers.
    I64(Vec<i64>),
    /// Doubles.
    F64(Vec<f64>),
    /// Strings.
    String(Vec<StringValue>),
}

impl Array {
    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Array::Bool(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
            Array::String(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Value {
    /// The string inside, when this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The integer inside, when this is an integer value.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// The boolean inside, when this is a boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// The float inside, when this is a float value.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T>(
            f: &mut fmt::Formatter<'_>,
            items: &[T],
            one: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
        ) -> fmt::Result {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                one(f, item)?;
            }
            f.write_str("]")
        }
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::String(v) => f.write_str(v.as_str()),
            Value::Array(Array::Bool(v)) => list(f, v, |f, x| write!(f, "{x}")),
            Value::Array(Array::I64(v)) => list(f, v, |f, x| write!(f, "{x}")),
            Value::Array(Array::F64(v)) => list(f, v, |f, x| write!(f, "{x}")),
            Value::Array(Array::String(v)) => list(f, v, |f, x| write!(f, "{x:?}")),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

value_from! {
    bool => |v| Value::Bool(v),
    i64 => |v| Value::I64(v),
    i32 => |v| Value::I64(v.into()),
    i16 => |v| Value::I64(v.into()),
    i8 => |v| Value::I64(v.into()),
    u32 => |v| Value::I64(v.into()),
    u16 => |v| Value::I64(v.into()),
    u8 => |v| Value::I64(v.into()),
    // OpenTelemetry has no unsigned 64-bit type; values above i64::MAX saturate.
    u64 => |v| Value::I64(i64::try_from(v).unwrap_or(i64::MAX)),
    usize => |v| Value::I64(i64::try_from(v).unwrap_or(i64::MAX)),
    f64 => |v| Value::F64(v),
    f32 => |v| Value::F64(v.into()),
    &'static str => |v| Value::String(v.into()),
    String => |v| Value::String(v.into()),
    Arc<str> => |v| Value::String(v.into()),
    Cow<'static, str> => |v| Value::String(v.into()),
    StringValue => |v| Value::String(v),
    Array => |v| Value::Array(v),
    Vec<bool> => |v| Value::Array(Array::Bool(v)),
    Vec<i64> => |v| Value::Array(Array::I64(v)),
    Vec<f64> => |v| Value::Array(Array::F64(v)),
    Vec<StringValue> => |v| Value::Array(Array::String(v)),
    Vec<&'static str> => |v| Value::Array(Array::String(v.into_iter().map(StringValue::from).collect())),
    Vec<String> => |v| Value::Array(Array::String(v.into_iter().map(StringValue::from).collect())),
}

/// A key and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The attribute's name.
    pub key: Key,
    /// The attribute's value.
    pub value: Value,
}

impl KeyValue {
    /// Pairs `key` with `value`.
    pub fn new(key: impl Into<Key>, value: impl Into<Value>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }

    /// True when dropping this attribute releases nothing: a static key and
    /// a number, a boolean or a static string.
    #[inline]
    fn owns_nothing(&self) -> bool {
        matches!(self.key.0, Str::Static(_))
            && match &self.value {
                Value::Bool(_) | Value::I64(_) | Value::F64(_) => true,
                Value::String(s) => matches!(s.0, Str::Static(_)),
                Value::Array(_) => false,
            }
    }
}

/// How many empty attribute lists a thread keeps for reuse: a batch's
/// worth, since an SDK hands its finished spans' lists back a batch at a
/// time.
const SPARE_LISTS: usize = 512;

/// The largest list kept, in attributes: larger ones go back to the
/// allocator, so that a burst of wide spans does not stay held. A thread
/// holds at most 512 × 16 attributes' room (448 KiB); in a steady state, the
/// lists of the one batch it took back.
const SPARE_LIST_CAPACITY: usize = 16;

thread_local! {
    static SPARE_LISTS_OF_THREAD: std::cell::RefCell<Vec<Vec<KeyValue>>> =
        const { std::cell::RefCell::new(Vec::new()) };
    /// How many lists `SPARE_LISTS_OF_THREAD` holds, readable without its
    /// destructor's registration check: threads whose spans never come back
    /// (a discarding or simple processor) pay one load to learn that.
    static SPARE_LIST_COUNT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// An empty attribute list with room for at least `capacity` attributes:
/// one this thread kept ([`recycle_attribute_list`]) when it has one,
/// otherwise a new allocation. Span builders make their lists here.
#[inline]
pub fn attribute_list(capacity: usize) -> Vec<KeyValue> {
    if capacity == 0 {
        return Vec::new();
    }
    let spare = if capacity <= SPARE_LIST_CAPACITY && SPARE_LIST_COUNT.get() > 0 {
        take_spare_list()
    } else {
        None
    };
    match spare {
        Some(mut list) => {
            list.reserve(capacity);
            list
        }
        None => Vec::with_capacity(capacity),
    }
}

/// The last list this thread kept, if its store can be reached.
fn take_spare_list() -> Option<Vec<KeyValue>> {
    let list = SPARE_LISTS_OF_THREAD
        .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten()?;
    SPARE_LIST_COUNT.set(SPARE_LIST_COUNT.get() - 1);
    Some(list)
}

/// Hands a finished attribute list back for this thread's next spans. Its
/// attributes are dropped now; the list's allocation is kept (up to a
/// batch of lists of up to 16 attributes each) instead of freed, so that
/// the next [`attribute_list`] costs no allocation. An SDK calls this when
/// it drops a finished span (clew-sdk: in `SpanData`'s `Drop`).
pub fn recycle_attribute_list(mut list: Vec<KeyValue>) {
    if list.capacity() == 0 || list.capacity() > SPARE_LIST_CAPACITY {
        return;
    }
    if list.iter().all(KeyValue::owns_nothing) {
        // SAFETY: nothing in the list needs dropping (`owns_nothing`), so
        // forgetting the elements leaks nothing; a length of zero is always
        // within the capacity.
        unsafe { list.set_len(0) }
    } else {
        list.clear();
    }
    let _ = SPARE_LISTS_OF_THREAD.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut() {
            if spare.len() < SPARE_LISTS {
                spare.push(list);
                SPARE_LIST_COUNT.set(spare.len());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_attribute_lists_are_reused_and_release_their_values() {
        let shared: Arc<str> = Arc::from("shared value");
        let mut list = attribute_list(4);
        assert!(list.capacity() >= 4);
        list.push(KeyValue::new("static", "static"));
        list.push(KeyValue::new("number", 7));
        list.push(KeyValue::new(
            Key::from(String::from("owned")),
            Arc::clone(&shared),
        ));
        let address = list.as_ptr();
        assert_eq!(Arc::strong_count(&shared), 2);
        recycle_attribute_list(list);
        assert_eq!(
            Arc::strong_count(&shared),
            1,
            "a recycled list's values were not dropped"
        );

        // The next list of up to its capacity is the same allocation, empty.
        let again = attribute_list(2);
        assert_eq!(again.as_ptr(), address);
        assert!(again.is_empty());
        // Only one was kept: the next is a new allocation.
        let other = attribute_list(2);
        assert_ne!(other.as_ptr(), address);

        // A list that holds only static keys and values takes the fast path;
        // wider lists than a span's usual are not kept.
        let mut statics = attribute_list(2);
        statics.push(KeyValue::new("a", true));
        statics.push(KeyValue::new("b", 1.5));
        let statics_address = statics.as_ptr();
        recycle_attribute_list(statics);
        recycle_attribute_list(Vec::with_capacity(SPARE_LIST_CAPACITY + 1));
        let reused = attribute_list(2);
        assert_eq!(reused.as_ptr(), statics_address);
        assert!(reused.is_empty());
        // Asking for more than a kept list holds grows it.
        recycle_attribute_list(reused);
        assert!(attribute_list(8).capacity() >= 8);
        assert_eq!(attribute_list(0).capacity(), 0);
    }

    #[test]
    fn a_thread_keeps_at_most_a_batch_of_attribute_lists() {
        for _ in 0..SPARE_LISTS + 10 {
            recycle_attribute_list(vec![KeyValue::new("k", 1)]);
        }
        assert_eq!(SPARE_LIST_COUNT.get(), SPARE_LISTS);
        let held = SPARE_LISTS_OF_THREAD.with(|spare| spare.borrow().len());
        assert_eq!(held, SPARE_LISTS);
        for _ in 0..SPARE_LISTS {
            assert_eq!(attribute_list(1).capacity(), 1);
        }
        assert_eq!(SPARE_LIST_COUNT.get(), 0);
    }

    #[test]
    fn conversions() {
        assert_eq!(KeyValue::new("a", 1u64 << 63).value, Value::I64(i64::MAX));
        assert_eq!(KeyValue::new("a", 7usize).value, Value::I64(7));
        assert_eq!(KeyValue::new("a", 1.5f32).value, Value::F64(1.5));
        assert_eq!(
            KeyValue::new("a", vec!["x", "y"]).value.to_string(),
            "[\"x\",\"y\"]"
        );
        assert_eq!(Key::from(String::from("k")), Key::from_static("k"));
        assert_eq!(Value::from("s").as_str(), Some("s"));
        assert_eq!(Value::from(true).as_bool(), Some(true));
        assert_eq!(Value::from(3i32).as_i64(), Some(3));
        assert_eq!(Value::from(vec![1i64, 2]).to_string(), "[1,2]");
        assert_eq!(Key::from_static("k").value(2.5).value.as_f64(), Some(2.5));
    }
}
