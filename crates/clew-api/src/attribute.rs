//! Typed attribute keys and values.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A string that is either static, owned or shared, so that the common case
/// (static keys, literal values) never allocates.
///
/// Two words: a pointer to the string's bytes, whichever kind holds them,
/// and `meta`: the length in its low 46 bits, a 16-bit fingerprint (the
/// length modulo 256 and the last byte) above it, and the kind in its top
/// two bits. Reading the string is then the same for every kind (no match
/// on the kind), which the SDK's duplicate-key check and limits do for
/// every attribute, and a `KeyValue` is 48 bytes instead of 56. The
/// fingerprint lets that check tell most different keys apart without
/// reading their bytes ([`Key::fingerprint`]); for a literal it is a
/// constant.
struct Str {
    ptr: std::ptr::NonNull<u8>,
    meta: u64,
}

/// The kinds, in `meta`'s top two bits.
const STATIC: u64 = 0;
const OWNED: u64 = 1;
const SHARED: u64 = 2;
const KIND_SHIFT: u32 = 62;
/// Where the fingerprint starts; the length is below it.
const PRINT_SHIFT: u32 = 46;
const LEN_MASK: u64 = (1 << PRINT_SHIFT) - 1;

// SAFETY: `Str` is a `&'static str`, a `Box<str>` or an `Arc<str>`, taken
// apart; all three are `Send` and `Sync`.
unsafe impl Send for Str {}
// SAFETY: as above.
unsafe impl Sync for Str {}

impl Str {
    /// `s`'s parts, for `kind`: the pointer and `meta`. The length must
    /// fit in 46 bits (64 TiB), checked: a longer one would be read back
    /// shorter, and a `Box` or `Arc` then freed with the wrong size. (For a
    /// literal the check, like the whole of `meta`, is a constant.)
    #[inline(always)]
    const fn parts(s: &str, kind: u64) -> (std::ptr::NonNull<u8>, u64) {
        let bytes = s.as_bytes();
        let len = bytes.len() as u64;
        assert!(len <= LEN_MASK, "attribute strings are limited to 64 TiB");
        let last = match bytes.last() {
            Some(b) => *b as u64,
            None => 0,
        };
        let print = (len & 0xff) << 8 | last;
        (
            // SAFETY: a `str`'s pointer is never null, even when it is empty.
            unsafe { std::ptr::NonNull::new_unchecked(s.as_ptr() as *mut u8) },
            len | print << PRINT_SHIFT | kind << KIND_SHIFT,
        )
    }

    #[inline(always)]
    const fn from_static(s: &'static str) -> Str {
        let (ptr, meta) = Str::parts(s, STATIC);
        Str { ptr, meta }
    }

    fn from_box(s: Box<str>) -> Str {
        let (_, meta) = Str::parts(&s, OWNED);
        Str::owning(Box::into_raw(s), meta)
    }

    fn from_arc(s: Arc<str>) -> Str {
        let (_, meta) = Str::parts(&s, SHARED);
        Str::owning(Arc::into_raw(s).cast_mut(), meta)
    }

    /// A `Str` holding the pointer that `Box::into_raw` or `Arc::into_raw`
    /// gave back, which owns the string (not the one `parts` read through a
    /// borrow), with its `meta`.
    fn owning(raw: *mut str, meta: u64) -> Str {
        Str {
            // SAFETY: from a `Box` or an `Arc`, never null.
            ptr: unsafe { std::ptr::NonNull::new_unchecked(raw.cast::<u8>()) },
            meta,
        }
    }

    /// The length modulo 256 and the last byte (0 when empty), as
    /// `len % 256 << 8 | last`.
    #[inline]
    fn fingerprint(&self) -> u16 {
        (self.meta >> PRINT_SHIFT) as u16
    }

    #[inline]
    fn kind(&self) -> u64 {
        self.meta >> KIND_SHIFT
    }

    #[inline]
    fn is_static(&self) -> bool {
        self.kind() == STATIC
    }

    /// The string as the raw pointer its kind was made from.
    #[inline]
    fn raw(&self) -> *mut str {
        std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), (self.meta & LEN_MASK) as usize)
            as *mut str
    }

    #[inline]
    fn as_str(&self) -> &str {
        // SAFETY: `raw` is the `&'static str`, `Box<str>` or `Arc<str>`
        // this was made from, which lives as long as `self` does.
        unsafe { &*self.raw() }
    }
}

impl Clone for Str {
    fn clone(&self) -> Str {
        match self.kind() {
            OWNED => Str::from_box(self.as_str().into()),
            kind => {
                if kind == SHARED {
                    // SAFETY: `raw` came from `Arc::into_raw`, and this `Str`
                    // holds one of its references, so the `Arc` is alive;
                    // the copy below owns the new reference.
                    unsafe { Arc::increment_strong_count(self.raw() as *const str) };
                }
                Str {
                    ptr: self.ptr,
                    meta: self.meta,
                }
            }
        }
    }
}

impl Drop for Str {
    #[inline]
    fn drop(&mut self) {
        match self.kind() {
            // SAFETY: `raw` came from `Box::into_raw` and is dropped once.
            OWNED => drop(unsafe { Box::from_raw(self.raw()) }),
            // SAFETY: `raw` came from `Arc::into_raw`; this gives back the
            // reference this `Str` held.
            SHARED => drop(unsafe { Arc::from_raw(self.raw() as *const str) }),
            _ => {}
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
            #[inline(always)]
            pub const fn from_static(s: &'static str) -> Self {
                Self(Str::from_static(s))
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
            #[inline(always)]
            fn from(s: &'static str) -> Self {
                Self(Str::from_static(s))
            }
        }
        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(Str::from_box(s.into_boxed_str()))
            }
        }
        impl From<Box<str>> for $name {
            fn from(s: Box<str>) -> Self {
                Self(Str::from_box(s))
            }
        }
        impl From<Arc<str>> for $name {
            fn from(s: Arc<str>) -> Self {
                Self(Str::from_arc(s))
            }
        }
        impl From<Cow<'static, str>> for $name {
            fn from(s: Cow<'static, str>) -> Self {
                match s {
                    Cow::Borrowed(s) => Self(Str::from_static(s)),
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
    /// A 16-bit summary of the key, read without touching its bytes: its
    /// length modulo 256 in the high byte and its last byte (0 when empty)
    /// in the low one. Equal keys have equal fingerprints; keys of the same
    /// length usually differ in their last byte, so different keys mostly
    /// have different ones. Duplicate-key checks compare these first.
    #[inline]
    pub fn fingerprint(&self) -> u16 {
        self.0.fingerprint()
    }

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
            #[inline]
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
        self.key.0.is_static()
            && match &self.value {
                Value::Bool(_) | Value::I64(_) | Value::F64(_) => true,
                Value::String(s) => s.0.is_static(),
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
/// holds at most 512 × 16 attributes' room (384 KiB); in a steady state, the
/// lists of the one batch it took back.
const SPARE_LIST_CAPACITY: usize = 16;

/// A kept list, as the thread's store holds it: its own allocation, whose
/// first bytes (room for at least one attribute, which nothing else uses
/// while it is kept) say where the next kept list is, how many attributes
/// this one has room for, and how many lists the store holds from this one
/// down. The store is a stack threaded through the lists themselves, so
/// taking one is two loads and a store, with no borrow flag, no length and
/// no registration check: about 28 instructions a span fewer than a
/// `RefCell<Vec<Vec<_>>>` (docs/benchmarks.md).
struct SpareList {
    next: *mut SpareList,
    capacity: usize,
    depth: usize,
}

// A kept list's allocation holds a `SpareList`: at least one attribute's
// room, at least as aligned.
const _: () = assert!(
    std::mem::size_of::<SpareList>() <= std::mem::size_of::<KeyValue>()
        && std::mem::align_of::<SpareList>() <= std::mem::align_of::<KeyValue>()
);

thread_local! {
    /// The top of this thread's store of empty attribute lists, null when
    /// it holds none. It has no destructor (so reaching it checks nothing);
    /// the lists are freed at thread exit by `SPARE_LISTS_OWNER`'s, which
    /// every list is registered with before it is kept.
    static SPARE_TOP: std::cell::Cell<*mut SpareList> =
        const { std::cell::Cell::new(std::ptr::null_mut()) };
    static SPARE_LISTS_OWNER: SpareListsOwner = const { SpareListsOwner };
}

/// Frees this thread's kept lists when the thread exits. Lists handed back
/// after that (by other thread-locals' destructors) are freed at once.
struct SpareListsOwner;

impl Drop for SpareListsOwner {
    fn drop(&mut self) {
        let _ = SPARE_TOP.try_with(|top| {
            let mut list = top.replace(std::ptr::null_mut());
            while let Some(kept) = take_kept(&mut list) {
                drop(kept);
            }
        });
    }
}

/// Pops the list at `top`, if any, as an empty `Vec`, and moves `top` to
/// the next one.
#[inline(always)]
fn take_kept(top: &mut *mut SpareList) -> Option<Vec<KeyValue>> {
    let list = *top;
    if list.is_null() {
        return None;
    }
    // SAFETY: a non-null top is a kept list (`keep_spare_list`): an
    // allocation of `capacity` attributes, made by a `Vec<KeyValue>` and
    // owned by the store alone, whose first bytes hold an initialised
    // `SpareList`. It leaves the store here, as the empty `Vec` it was.
    unsafe {
        let SpareList { next, capacity, .. } = list.read();
        *top = next;
        Some(Vec::from_raw_parts(list.cast::<KeyValue>(), 0, capacity))
    }
}

/// An empty attribute list with room for at least `capacity` attributes:
/// one this thread kept ([`recycle_attribute_list`]) when it has one,
/// otherwise a new allocation. Span builders make their lists here.
#[inline]
pub fn attribute_list(capacity: usize) -> Vec<KeyValue> {
    if capacity == 0 {
        return Vec::new();
    }
    let spare = if capacity <= SPARE_LIST_CAPACITY {
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

/// The last list this thread kept, if any.
#[inline]
fn take_spare_list() -> Option<Vec<KeyValue>> {
    SPARE_TOP.with(|top| {
        let mut list = top.get();
        let kept = take_kept(&mut list);
        top.set(list);
        kept
    })
}

/// How many lists a store whose top is `top` holds.
#[inline(always)]
fn depth_of(top: *mut SpareList) -> usize {
    if top.is_null() {
        return 0;
    }
    // SAFETY: a non-null top is a kept list, which holds its `SpareList`.
    unsafe { (*top).depth }
}

/// How many lists this thread's store holds.
#[cfg(test)]
fn spare_list_count() -> usize {
    depth_of(SPARE_TOP.with(std::cell::Cell::get))
}

/// Hands a finished attribute list back for this thread's next spans. Its
/// attributes are dropped now; the list's allocation is kept (up to a
/// batch of lists of up to 16 attributes each) instead of freed, so that
/// the next [`attribute_list`] costs no allocation. An SDK calls this when
/// it drops a finished span (clew-sdk: in `SpanData`'s `Drop`).
pub fn recycle_attribute_list(list: Vec<KeyValue>) {
    if is_keepable(&list) && store_is_open() {
        keep_spare_list(list);
    }
}

/// [`recycle_attribute_list`] for many lists, checking once that this
/// thread's store can take them: what an SDK calls when it drops a batch of
/// finished spans. Lists the store has no room for, or cannot take, are
/// dropped.
pub fn recycle_attribute_lists(lists: impl IntoIterator<Item = Vec<KeyValue>>) {
    let mut lists = lists.into_iter();
    if store_is_open() {
        // The store's top is held here and written back once, also should
        // a value's drop unwind.
        let mut store = HeldStore(SPARE_TOP.with(std::cell::Cell::get));
        for list in lists.by_ref() {
            if is_keepable(&list) {
                store.0 = keep_on(store.0, list);
            }
        }
    }
    // Whatever the store could not take is dropped here.
    lists.for_each(drop);
}

/// This thread's store's top, held while many lists are kept, and written
/// back when dropped.
struct HeldStore(*mut SpareList);

impl Drop for HeldStore {
    #[inline]
    fn drop(&mut self) {
        SPARE_TOP.with(|top| top.set(self.0));
    }
}

/// True when this thread's store can keep lists: its owner, which frees
/// them at thread exit, is registered and not yet dropped.
#[inline]
fn store_is_open() -> bool {
    SPARE_LISTS_OWNER.try_with(|_| ()).is_ok()
}

/// True when a list is worth keeping: it has an allocation, and one no
/// larger than a span's usual list.
#[inline]
fn is_keepable(list: &Vec<KeyValue>) -> bool {
    (1..=SPARE_LIST_CAPACITY).contains(&list.capacity())
}

/// Empties `list` and keeps it on top of this thread's store when there is
/// room; drops it otherwise. The caller has checked [`is_keepable`] and
/// [`store_is_open`].
#[inline]
fn keep_spare_list(list: Vec<KeyValue>) {
    let top = SPARE_TOP.with(std::cell::Cell::get);
    let top = keep_on(top, list);
    SPARE_TOP.with(|t| t.set(top));
}

/// Empties `list` and keeps it on `top`, a store's top, when there is room
/// (dropping it otherwise): the store's new top.
#[inline(always)]
fn keep_on(top: *mut SpareList, mut list: Vec<KeyValue>) -> *mut SpareList {
    let depth = depth_of(top) + 1;
    if depth > SPARE_LISTS {
        // No room: dropped whole, without first looking for values to drop.
        return top;
    }
    if list.iter().all(KeyValue::owns_nothing) {
        // SAFETY: nothing in the list needs dropping (`owns_nothing`), so
        // forgetting the elements leaks nothing; a length of zero is always
        // within the capacity.
        unsafe { list.set_len(0) }
    } else {
        // Should a value's drop unwind, the list is dropped, not kept. (No
        // value's drop runs code of the application's, so none reaches the
        // store while `top` is held.)
        list.clear();
    }
    let mut list = std::mem::ManuallyDrop::new(list);
    let kept = list.as_mut_ptr().cast::<SpareList>();
    // SAFETY: the list is empty and has room for at least one attribute
    // (`is_keepable`), which holds a `SpareList` (the assertion above); the
    // allocation is the store's from here on (the `Vec` is not dropped) and
    // freed by `take_kept`'s `Vec` when it leaves.
    unsafe {
        kept.write(SpareList {
            next: top,
            capacity: list.capacity(),
            depth,
        });
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key's fingerprint (its length modulo 256 and last byte) is the
    /// same whichever kind holds it, and keeping it beside the length does
    /// not change the length read back, below or above 2^16.
    #[test]
    fn fingerprints_and_lengths_for_every_kind() {
        let expected = |s: &str| {
            ((s.len() % 256) as u16) << 8 | u16::from(s.as_bytes().last().copied().unwrap_or(0))
        };
        let long = "é".repeat(40_000) + "z";
        for text in ["", "k", "http.request.method", "ü", long.as_str()] {
            let keys = [
                Key::from(&*Box::leak(text.to_string().into_boxed_str())),
                Key::from(text.to_string()),
                Key::from(Arc::<str>::from(text)),
            ];
            for key in keys {
                assert_eq!(key.fingerprint(), expected(text), "{}", text.len());
                assert_eq!(key.len(), text.len());
                assert_eq!(key.as_str(), text);
                assert_eq!(key.clone().fingerprint(), expected(text));
                assert_eq!(key.clone().as_str(), text);
            }
        }
        const LITERAL: Key = Key::from_static("net.peer.name");
        assert_eq!(LITERAL.fingerprint(), expected("net.peer.name"));
        assert_eq!(StringValue::from(long.clone()).as_str(), long);
    }

    /// Every kind of `Str` reads back what it was made from, clones into
    /// an independent value, and gives back its shared references, on any
    /// thread. (That owned strings are freed, and nothing else, is counted
    /// by an allocator in `tests/alloc.rs`, `attribute_strings_free_what_they_own`.)
    #[test]
    fn strings_of_every_kind_read_clone_and_release() {
        assert_eq!(std::mem::size_of::<Key>(), 16);
        assert_eq!(std::mem::size_of::<KeyValue>(), 48);
        assert_eq!(std::mem::size_of::<Option<Key>>(), 16);

        const STATIC_KEY: Key = Key::from_static("static");
        let key = STATIC_KEY;
        assert_eq!(key.as_str(), "static");
        assert_eq!(key.clone().as_str().as_ptr(), "static".as_ptr());
        assert!(KeyValue::new(key, "literal").owns_nothing());

        // Owned: a clone is a copy of its own, alive after the original.
        let owned = Key::from(String::from("owned key"));
        let copy = owned.clone();
        assert_ne!(copy.as_str().as_ptr(), owned.as_str().as_ptr());
        drop(owned);
        assert_eq!(copy.as_str(), "owned key");
        assert!(!KeyValue::new(copy, 1).owns_nothing());

        // Shared: the same bytes, one reference per value, given back on
        // drop, on any thread.
        let shared: Arc<str> = Arc::from("shared value");
        let value = StringValue::from(Arc::clone(&shared));
        assert_eq!(value.as_str().as_ptr(), shared.as_ptr());
        let copy = value.clone();
        assert_eq!(Arc::strong_count(&shared), 3);
        std::thread::spawn(move || drop(copy)).join().unwrap();
        assert_eq!(Arc::strong_count(&shared), 2);
        assert!(!KeyValue::new("k", value.clone()).owns_nothing());
        drop(value);
        assert_eq!(Arc::strong_count(&shared), 1);

        // Empty strings of every kind.
        let empty: Arc<str> = Arc::from("");
        for s in [
            StringValue::from(""),
            StringValue::from(String::new()),
            StringValue::from(Arc::clone(&empty)),
        ] {
            assert!(s.is_empty());
            assert_eq!(s.clone().as_str(), "");
        }
        assert_eq!(Arc::strong_count(&empty), 1);
    }

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
        assert_eq!(spare_list_count(), SPARE_LISTS);
        for _ in 0..SPARE_LISTS {
            assert_eq!(attribute_list(1).capacity(), 1);
        }
        assert_eq!(spare_list_count(), 0);
    }

    /// Many lists handed back in one call are kept as one by one would be:
    /// emptied, their values released, the unkeepable ones dropped, the
    /// count kept in step, and reused last first.
    #[test]
    fn lists_handed_back_together_are_kept_like_single_ones() {
        let shared: Arc<str> = Arc::from("shared");
        let mut holding = attribute_list(1);
        holding.push(KeyValue::new("k", StringValue::from(Arc::clone(&shared))));
        let mut statics = attribute_list(1);
        statics.push(KeyValue::new("k", 1));
        let (holding_address, statics_address) = (holding.as_ptr(), statics.as_ptr());
        let count = spare_list_count();
        recycle_attribute_lists([
            holding,
            Vec::new(),
            Vec::with_capacity(SPARE_LIST_CAPACITY + 1),
            statics,
        ]);
        assert_eq!(
            Arc::strong_count(&shared),
            1,
            "a kept list's value was held"
        );
        assert_eq!(spare_list_count(), count + 2, "only the two keepable lists");
        let reused = [attribute_list(1), attribute_list(1)];
        assert_eq!(reused[0].as_ptr(), statics_address);
        assert_eq!(reused[1].as_ptr(), holding_address);
        assert!(reused.iter().all(Vec::is_empty));
        assert_eq!(spare_list_count(), count);
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
