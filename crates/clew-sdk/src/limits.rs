//! Span limits: how many attributes, events and links a span keeps, and how
//! long attribute values may be. What is dropped is counted for export.

use clew_api::{Array, Key, KeyValue, StringValue, Value};

use crate::env::Env;

/// Limits applied to every recorded span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanLimits {
    /// Attributes per span (default 128).
    pub max_attributes_per_span: u32,
    /// Characters per string attribute value, array elements included (default: no limit).
    pub max_attribute_value_length: Option<usize>,
    /// Events per span (default 128).
    pub max_events_per_span: u32,
    /// Links per span (default 128).
    pub max_links_per_span: u32,
    /// Attributes per event (default 128).
    pub max_attributes_per_event: u32,
    /// Attributes per link (default 128).
    pub max_attributes_per_link: u32,
    /// Lets a span's, event's or link's attributes keep the same key more
    /// than once (default `false`). The specification's option for speed
    /// ("Attribute Collections"): by default an attribute whose key is
    /// already set replaces the earlier value, and a list given whole (a
    /// builder's, an event's, a link's) keeps only the last value of a
    /// repeated key, which costs a check of every list (70 to 90
    /// instructions for a span with 4 attributes; docs/benchmarks.md).
    /// With this set, nothing is checked: every attribute is appended
    /// within the count limit, and exporters send the repeats as they are.
    ///
    /// **Receivers handle repeated keys unpredictably** (some keep the first
    /// value, some the last, some reject the span): set this only when
    /// your code never repeats a key on one span, event or link, which is
    /// then your responsibility. [`SpanData::attribute`](crate::SpanData::attribute)
    /// gives a repeated key's last value. Code only; no environment
    /// variable sets it.
    pub allow_duplicate_attribute_keys: bool,
}

impl Default for SpanLimits {
    fn default() -> Self {
        SpanLimits {
            max_attributes_per_span: 128,
            max_attribute_value_length: None,
            max_events_per_span: 128,
            max_links_per_span: 128,
            max_attributes_per_event: 128,
            max_attributes_per_link: 128,
            allow_duplicate_attribute_keys: false,
        }
    }
}

fn count(env: &Env, name: &str) -> Option<u32> {
    env.u64(name).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

impl SpanLimits {
    /// The limits from `OTEL_SPAN_*`, `OTEL_EVENT_*`, `OTEL_LINK_*` and the
    /// general `OTEL_ATTRIBUTE_*` variables; span-specific ones win over the
    /// general ones, and both over the defaults.
    pub fn from_env(env: &Env) -> SpanLimits {
        let d = SpanLimits::default();
        let general_count = count(env, "OTEL_ATTRIBUTE_COUNT_LIMIT");
        let general_length = env.usize("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT");
        SpanLimits {
            max_attributes_per_span: count(env, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT")
                .or(general_count)
                .unwrap_or(d.max_attributes_per_span),
            max_attribute_value_length: env
                .usize("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")
                .or(general_length),
            max_events_per_span: count(env, "OTEL_SPAN_EVENT_COUNT_LIMIT")
                .unwrap_or(d.max_events_per_span),
            max_links_per_span: count(env, "OTEL_SPAN_LINK_COUNT_LIMIT")
                .unwrap_or(d.max_links_per_span),
            max_attributes_per_event: count(env, "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT")
                .or(general_count)
                .unwrap_or(d.max_attributes_per_event),
            max_attributes_per_link: count(env, "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT")
                .or(general_count)
                .unwrap_or(d.max_attributes_per_link),
            allow_duplicate_attribute_keys: d.allow_duplicate_attribute_keys,
        }
    }
}

/// Truncates `s` to at most `max` characters, on a character boundary.
fn truncate_str(s: &StringValue, max: usize) -> Option<StringValue> {
    let text = s.as_str();
    if text.len() <= max {
        // Fewer bytes than the limit means fewer characters too.
        return None;
    }
    let cut = text.char_indices().nth(max).map(|(i, _)| i)?;
    Some(StringValue::from(text[..cut].to_owned()))
}

/// Applies the value-length limit to one value, in place.
pub(crate) fn truncate_value(value: &mut Value, max: Option<usize>) {
    let Some(max) = max else { return };
    match value {
        Value::String(s) => {
            if let Some(t) = truncate_str(s, max) {
                *s = t;
            }
        }
        Value::Array(Array::String(items)) => {
            for item in items.iter_mut() {
                if let Some(t) = truncate_str(item, max) {
                    *item = t;
                }
            }
        }
        _ => {}
    }
}

/// A key's length modulo 256 and last byte ([`Key::fingerprint`]), kept
/// beside the key's pointer: read without touching the key's bytes.
#[inline(always)]
fn fingerprint(key: &Key) -> u64 {
    u64::from(key.fingerprint())
}

/// Key equality that rejects most different keys without reading them:
/// attribute keys of the same length usually differ in their last byte.
#[inline]
fn same_key(a: &Key, b: &Key) -> bool {
    a.fingerprint() == b.fingerprint() && a.as_str() == b.as_str()
}

impl SpanLimits {
    /// [`limit_attributes`] for a list of at most `max`, with these limits'
    /// value length and rule for repeated keys: what every list given whole
    /// (a span's at start, an event's, a link's) goes through.
    #[inline(always)]
    pub(crate) fn limit_list(&self, attributes: &mut Vec<KeyValue>, max: u32) -> u32 {
        limit_attributes(
            attributes,
            max,
            self.max_attribute_value_length,
            self.allow_duplicate_attribute_keys,
        )
    }
}

/// Sets `kv` in `attributes` within `max` entries: it replaces a same-key
/// entry, or, where repeated keys are allowed (`repeats`), is appended
/// without looking for one. Returns false when it had to be dropped.
pub(crate) fn set_attribute(
    attributes: &mut Vec<KeyValue>,
    mut kv: KeyValue,
    max: u32,
    length: Option<usize>,
    repeats: bool,
) -> bool {
    truncate_value(&mut kv.value, length);
    if !repeats {
        if let Some(existing) = attributes.iter_mut().find(|a| same_key(&a.key, &kv.key)) {
            existing.value = kv.value;
            return true;
        }
    }
    if attributes.len() >= max as usize {
        return false;
    }
    attributes.push(kv);
    true
}

/// Applies the limits to a list given whole (at span start, or to an event
/// or link): later duplicates replace earlier ones (unless `repeats`, when
/// repeated keys are allowed and not looked for), extra entries are
/// dropped. Returns how many were dropped. The list is left untouched when
/// nothing needs to change, which is the common case. Inlined by force:
/// out of line, an event's empty list paid a call for it.
#[inline(always)]
pub(crate) fn limit_attributes(
    attributes: &mut Vec<KeyValue>,
    max: u32,
    length: Option<usize>,
    repeats: bool,
) -> u32 {
    // An event's or link's list is usually empty.
    if attributes.is_empty() {
        return 0;
    }
    // The common case, decided without a call: within the count, no
    // duplicate keys (or none looked for), no length limit.
    if attributes.len() <= max as usize && (repeats || !has_duplicate_keys(attributes)) {
        if length.is_some() {
            truncate_values(attributes, length);
        }
        return 0;
    }
    rebuild_attributes(attributes, max, length, repeats)
}

#[inline(never)]
fn truncate_values(attributes: &mut [KeyValue], length: Option<usize>) {
    for kv in attributes {
        truncate_value(&mut kv.value, length);
    }
}

/// Rebuilds a list with duplicate keys (not allowed) or over the count.
#[inline(never)]
fn rebuild_attributes(
    attributes: &mut Vec<KeyValue>,
    max: u32,
    length: Option<usize>,
    repeats: bool,
) -> u32 {
    let mut kept = Vec::with_capacity(attributes.len().min(max as usize));
    let mut dropped = 0;
    for kv in attributes.drain(..) {
        if !set_attribute(&mut kept, kv, max, length, repeats) {
            dropped += 1;
        }
    }
    *attributes = kept;
    dropped
}

/// True when two attributes share a key. Inlined by force: with the span
/// start inlined into the SDK's entry, LLVM left it out of line, and its
/// call cost the 4-attribute span 11 instructions.
#[inline(always)]
fn has_duplicate_keys(attributes: &[KeyValue]) -> bool {
    match attributes {
        [a, b, c, d] => four_may_share_a_key([a, b, c, d]) && has_duplicate_keys_among(attributes),
        [_, _, ..] => has_duplicate_keys_among(attributes),
        _ => false,
    }
}

/// Four keys, the size of the common call, checked without a call: each
/// key's (length, last byte) [`fingerprint`] in a 16-bit lane of one word,
/// and the word compared with itself rotated by one and by two lanes,
/// which lines up all six pairs. False means no two keys are equal; true
/// means two fingerprints agree (the lengths modulo 256 and the last
/// bytes), and the keys must be compared.
#[inline(always)]
fn four_may_share_a_key(keys: [&KeyValue; 4]) -> bool {
    let lanes = keys.iter().enumerate().fold(0u64, |word, (i, kv)| {
        word | fingerprint(&kv.key) << (16 * i)
    });
    const ONES: u64 = 0x0001_0001_0001_0001;
    const HIGHS: u64 = 0x8000_8000_8000_8000;
    // Nonzero exactly when some 16-bit lane of `v` is zero.
    let has_zero_lane = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    has_zero_lane(lanes ^ lanes.rotate_left(16)) || has_zero_lane(lanes ^ lanes.rotate_left(32))
}

/// [`has_duplicate_keys`] for two or more attributes, by [`fingerprint`]s
/// (keys of the same length usually differ in their last byte): one pass
/// sets a bit per fingerprint, and only when a bit is already set, which
/// distinct keys rarely cause, are the keys compared pairwise. Four keys
/// reach it only when [`four_may_share_a_key`] found two fingerprints alike.
#[inline(never)]
fn has_duplicate_keys_among(attributes: &[KeyValue]) -> bool {
    let mut seen = 0u64;
    for kv in attributes {
        let print = fingerprint(&kv.key);
        // Last byte plus seven times the length, as a bit of 64.
        let bit = 1u64 << ((print & 0xff).wrapping_add((print >> 8).wrapping_mul(7)) & 63);
        if seen & bit != 0 {
            return attributes
                .iter()
                .enumerate()
                .any(|(i, a)| attributes[..i].iter().any(|b| same_key(&b.key, &a.key)));
        }
        seen |= bit;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_precedence() {
        let env = Env::from_pairs([
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "5"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "7"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "3"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "2"),
            ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "1"),
        ]);
        let l = SpanLimits::from_env(&env);
        assert_eq!(l.max_attributes_per_span, 5, "span-specific wins");
        assert_eq!(l.max_attributes_per_event, 10, "general applies");
        assert_eq!(l.max_attributes_per_link, 1);
        assert_eq!(l.max_attribute_value_length, Some(7));
        assert_eq!(l.max_events_per_span, 3);
        assert_eq!(l.max_links_per_span, 2);
        let l = SpanLimits::from_env(&Env::from_pairs([
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "7"),
            ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3"),
        ]));
        assert_eq!(l.max_attribute_value_length, Some(3));
        assert_eq!(
            SpanLimits::from_env(&Env::from_pairs([("X", "1")])),
            SpanLimits::default()
        );
    }

    #[test]
    fn truncation_respects_characters() {
        let mut v = Value::from("héllo wörld");
        truncate_value(&mut v, Some(4));
        assert_eq!(v.as_str(), Some("héll"));
        let mut v = Value::from(vec!["ab", "日本語テキスト"]);
        truncate_value(&mut v, Some(3));
        assert_eq!(
            v,
            Value::from(vec![
                StringValue::from("ab"),
                StringValue::from("日本語".to_owned())
            ])
        );
        let mut v = Value::from(12345i64);
        truncate_value(&mut v, Some(1));
        assert_eq!(v, Value::I64(12345));
    }

    #[test]
    fn duplicate_detection_survives_fingerprint_collisions() {
        let kv = |k: &'static str| KeyValue::new(k, 1);
        assert!(
            !has_duplicate_keys(&[kv("ab"), kv("cb"), kv("xb")]),
            "same length and last byte"
        );
        assert!(has_duplicate_keys(&[kv("ab"), kv("cb"), kv("ab")]));
        assert!(!has_duplicate_keys(&[]));
        assert!(!has_duplicate_keys(&[kv("a")]));
        let eight: Vec<KeyValue> = (0..8).map(|i| KeyValue::new(format!("k{i}"), i)).collect();
        assert!(!has_duplicate_keys(&eight));
        let mut dup = eight.clone();
        dup[7] = KeyValue::new("k0", 0);
        assert!(
            has_duplicate_keys(&dup),
            "last against first, at the small size"
        );
        let many: Vec<KeyValue> = (0..20).map(|i| KeyValue::new(format!("k{i}"), i)).collect();
        assert!(!has_duplicate_keys(&many));
        let mut dup = many.clone();
        dup.push(KeyValue::new("k3", 0));
        assert!(has_duplicate_keys(&dup));
    }

    #[test]
    fn four_keys_find_a_duplicate_in_every_pair_of_places() {
        // "ab", "cb", "xb" share a fingerprint (length and last byte), so
        // both the cheap check and the byte comparison are exercised.
        let distinct = ["ab", "cb", "xb", "k1"];
        let kv = |k: &'static str| KeyValue::new(k, 1);
        assert!(!has_duplicate_keys(&distinct.map(kv)));
        for i in 0..4 {
            for j in 0..4 {
                if i != j {
                    let mut keys = distinct;
                    keys[j] = keys[i];
                    assert!(has_duplicate_keys(&keys.map(kv)), "{keys:?}");
                }
            }
        }
        // An empty key has a fingerprint too.
        assert!(has_duplicate_keys(&["", "a", "b", ""].map(kv)));
        assert!(!has_duplicate_keys(&["", "a", "b", "c"].map(kv)));
        // Fingerprints agree modulo 256 in the length: the keys decide.
        let long: &'static str = Box::leak("\0".repeat(256).into_boxed_str());
        assert!(!has_duplicate_keys(&["", "a", long, "b"].map(kv)));
        assert!(has_duplicate_keys(&[long, "a", long, "b"].map(kv)));
        // Lanes with their top bit set (a last byte of 0x80 or more).
        assert!(!has_duplicate_keys(&["é", "ü", "ö", "ä"].map(kv)));
        assert!(has_duplicate_keys(&["é", "ü", "ö", "ü"].map(kv)));
    }

    /// The fingerprint is kept with each key when it is made, whatever
    /// holds its bytes: a static key and an owned or shared one with the
    /// same text are the same key, at every size of list.
    #[test]
    fn keys_of_every_kind_are_compared_by_their_text() {
        let owned = |k: &str| KeyValue::new(k.to_string(), 1);
        let shared = |k: &str| KeyValue::new(std::sync::Arc::<str>::from(k), 1);
        let stat = |k: &'static str| KeyValue::new(k, 1);
        for other in [owned, shared] {
            assert!(has_duplicate_keys(&[stat("k1"), other("k1")]));
            assert!(has_duplicate_keys(&[
                stat("k1"),
                stat("k2"),
                stat("k3"),
                other("k2")
            ]));
            assert!(!has_duplicate_keys(&[
                stat("k1"),
                stat("k2"),
                stat("k3"),
                other("k4")
            ]));
            let mut list = vec![stat("a"), stat("b"), stat("c"), stat("d"), stat("e")];
            list.push(other("c"));
            assert!(has_duplicate_keys(&list));
            let mut list = vec![stat("a"), other("b")];
            assert!(set_attribute(
                &mut list,
                KeyValue::new("b", 9),
                10,
                None,
                false
            ));
            assert_eq!(list.len(), 2, "replaced, not added");
            assert_eq!(list[1].value, Value::I64(9));
        }
    }

    #[test]
    fn limits_and_duplicates() {
        let mut attrs = vec![
            KeyValue::new("a", 1),
            KeyValue::new("b", 2),
            KeyValue::new("a", 3),
            KeyValue::new("c", 4),
        ];
        assert_eq!(limit_attributes(&mut attrs, 2, None, false), 1);
        assert_eq!(attrs, vec![KeyValue::new("a", 3), KeyValue::new("b", 2)]);
        let mut attrs = vec![KeyValue::new("a", 1)];
        assert_eq!(limit_attributes(&mut attrs, 0, None, false), 1);
        assert!(attrs.is_empty());
    }

    /// With repeated keys allowed, a list is kept as given within the
    /// count, cut to its first `max` entries beyond it (values still
    /// truncated), and a set attribute is appended, not merged.
    #[test]
    fn repeated_keys_when_allowed() {
        let given = || {
            vec![
                KeyValue::new("a", 1),
                KeyValue::new("b", "long value"),
                KeyValue::new("a", 3),
                KeyValue::new("c", 4),
            ]
        };
        let mut attrs = given();
        assert_eq!(limit_attributes(&mut attrs, 4, None, true), 0);
        assert_eq!(attrs, given(), "within the count: untouched");
        let mut attrs = given();
        assert_eq!(limit_attributes(&mut attrs, 3, Some(4), true), 1);
        assert_eq!(
            attrs,
            vec![
                KeyValue::new("a", 1),
                KeyValue::new("b", "long"),
                KeyValue::new("a", 3)
            ],
            "the first three, the value cut to 4 characters"
        );
        // A second `a`, then `b`, into a list of 2 holding `a`.
        let set_twice = |repeats: bool| {
            let mut attrs = vec![KeyValue::new("a", 1)];
            let set = [KeyValue::new("a", 2), KeyValue::new("b", 3)]
                .map(|kv| set_attribute(&mut attrs, kv, 2, None, repeats));
            (attrs, set)
        };
        assert_eq!(
            set_twice(true),
            (
                vec![KeyValue::new("a", 1), KeyValue::new("a", 2)],
                [true, false]
            ),
            "appended; at the count, `b` is dropped"
        );
        assert_eq!(
            set_twice(false),
            (
                vec![KeyValue::new("a", 2), KeyValue::new("b", 3)],
                [true, true]
            ),
            "not allowed (the default): merged, and `b` fits"
        );
        assert!(!SpanLimits::default().allow_duplicate_attribute_keys);
    }
}
