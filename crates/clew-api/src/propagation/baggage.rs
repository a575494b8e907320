//! W3C Baggage: the `baggage` header.

use super::{trim_ows, Extractor, Injector, TextMapPropagator};
use crate::baggage::{Baggage, BaggageEntry, BaggageMetadata};
use crate::Context;

const BAGGAGE: &str = "baggage";

/// The most list members propagated (W3C Baggage).
pub const MAX_BAGGAGE_MEMBERS: usize = 64;
/// The most bytes propagated, all `baggage` headers together (W3C Baggage).
pub const MAX_BAGGAGE_BYTES: usize = 8192;

/// The W3C Baggage propagator.
///
/// Values are percent-encoded on the way out and decoded on the way in
/// (invalid UTF-8 becomes U+FFFD); metadata is kept as one opaque string per
/// entry. Members that break the grammar are skipped one by one. Within the
/// limits of 64 members and 8192 bytes every member is propagated; beyond
/// them whole members are dropped, never part of one.
#[derive(Debug, Clone, Copy, Default)]
pub struct BaggagePropagator;

/// RFC 7230 `tchar`.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// W3C `baggage-octet`: what may appear in a value without encoding.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Percent-encodes everything outside `baggage-octet`, and `%` itself.
pub(crate) fn percent_encode(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if is_baggage_octet(b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
}

/// Decodes a W3C baggage value; `None` when it holds a character that is not
/// a `baggage-octet` or a `%` not followed by two hex digits.
pub(crate) fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    if !bytes.contains(&b'%') {
        return bytes
            .iter()
            .all(|&b| is_baggage_octet(b))
            .then(|| value.to_owned());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let pair = bytes.get(i + 1..i + 3)?;
                let [decoded] = crate::trace::id::decode_hex::<1>(pair)?;
                out.push(decoded);
                i += 3;
            }
            b if is_baggage_octet(b) => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Metadata is written verbatim, so it must not be able to break the header.
fn is_safe_metadata(metadata: &str) -> bool {
    metadata
        .bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && b != b',')
}

/// Normalises `;`-separated properties (`key` or `key=value`, optional
/// whitespace) to `key;key=value`, dropping properties that are not valid.
fn normalize_properties(properties: &str) -> String {
    let mut out = String::new();
    for property in properties.split(';') {
        let (key, value) = match property.split_once('=') {
            Some((k, v)) => (trim_ows(k), Some(trim_ows(v))),
            None => (trim_ows(property), None),
        };
        if !is_token(key) {
            continue;
        }
        if let Some(v) = value {
            if !v.bytes().all(is_baggage_octet) {
                continue;
            }
        }
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(key);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// Parses one `key=value;properties` member.
fn parse_member(member: &str) -> Option<(String, BaggageEntry)> {
    let (pair, properties) = match member.split_once(';') {
        Some((pair, props)) => (pair, Some(props)),
        None => (member, None),
    };
    let (key, value) = pair.split_once('=')?;
    let key = trim_ows(key);
    if !is_token(key) {
        return None;
    }
    let value = percent_decode(trim_ows(value))?;
    let metadata = properties.map(normalize_properties).unwrap_or_default();
    Some((
        key.to_owned(),
        BaggageEntry::new(value, BaggageMetadata::new(metadata)),
    ))
}

/// Parses a `baggage` header value (several headers joined with `,`),
/// applying the W3C limits.
pub(crate) fn parse_baggage(header: &str) -> Vec<(String, BaggageEntry)> {
    let mut entries: Vec<(String, BaggageEntry)> = Vec::new();
    let mut bytes = 0usize;
    for member in header.split(',') {
        if entries.len() == MAX_BAGGAGE_MEMBERS {
            break;
        }
        let member = trim_ows(member);
        if member.is_empty() {
            continue;
        }
        // Count what this member costs on the wire, with its separator.
        let cost = member.len() + usize::from(bytes > 0);
        if bytes + cost > MAX_BAGGAGE_BYTES {
            continue;
        }
        if let Some((key, entry)) = parse_member(member) {
            bytes += cost;
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = entry,
                None => entries.push((key, entry)),
            }
        }
    }
    entries
}

/// Encodes baggage as a header value within the W3C limits.
pub(crate) fn encode_baggage(baggage: &Baggage) -> String {
    let mut header = String::new();
    let mut members = 0;
    let mut member = String::new();
    for (name, entry) in baggage.iter() {
        if members == MAX_BAGGAGE_MEMBERS {
            break;
        }
        if !is_token(name) {
            continue;
        }
        member.clear();
        member.push_str(name);
        member.push('=');
        percent_encode(entry.value(), &mut member);
        let metadata = entry.metadata().as_str();
        if !metadata.is_empty() && is_safe_metadata(metadata) {
            member.push(';');
            member.push_str(metadata);
        }
        let separator = usize::from(!header.is_empty());
        if header.len() + separator + member.len() > MAX_BAGGAGE_BYTES {
            continue;
        }
        if separator == 1 {
            header.push(',');
        }
        header.push_str(&member);
        members += 1;
    }
    header
}

impl TextMapPropagator for BaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let baggage = cx.baggage();
        if baggage.is_empty() {
            return;
        }
        let header = encode_baggage(baggage);
        if !header.is_empty() {
            injector.set(BAGGAGE, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(header) = extractor.get_all(BAGGAGE) else {
            return cx.clone();
        };
        let entries = parse_baggage(&header);
        if entries.is_empty() {
            return cx.clone();
        }
        cx.with_baggage(Baggage::from_entries(entries))
    }

    fn fields(&self) -> Vec<&'static str> {
        vec![BAGGAGE]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip() {
        let mut out = String::new();
        percent_encode("a b,c;d\\e\"f%g=h/é", &mut out);
        assert_eq!(out, "a%20b%2Cc%3Bd%5Ce%22f%25g=h/%C3%A9");
        assert_eq!(percent_decode(&out).as_deref(), Some("a b,c;d\\e\"f%g=h/é"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("abc%2"), None);
        assert_eq!(percent_decode("a b"), None);
        assert_eq!(percent_decode("%FF").as_deref(), Some("\u{FFFD}"));
    }
}
