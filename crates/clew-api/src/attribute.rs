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
}

#[cfg(test)]
mod tests {
    use super::*;

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
