//! Trace and span identifiers, trace flags, and the hex codec shared by the propagators.

use std::fmt;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Maps an ASCII byte to its hex value, or `0xff` when it is not a hex digit.
/// Upper-case digits are accepted here; callers that need the W3C lower-case
/// rule check for it with [`is_lower_hex`].
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Like `HEX_VALUES`, but only lower-case digits are valid (W3C Trace Context).
const LOWER_HEX_VALUES: [u8; 256] = {
    let mut table = HEX_VALUES;
    let mut i = 0;
    while i < 6 {
        table[b'A' as usize + i] = 0xff;
        i += 1;
    }
    table
};

/// Decodes exactly `2 * N` lower-case hex digits into `N` bytes, in one pass
/// with one validity check at the end.
#[inline]
pub(crate) fn decode_lower_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let hi = LOWER_HEX_VALUES[pair[0] as usize];
        let lo = LOWER_HEX_VALUES[pair[1] as usize];
        bad |= hi | lo;
        *byte = (hi << 4) | (lo & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// Decodes 8 lower-case hex digits, all at once (SWAR: the eight bytes are
/// validated and converted as one 64-bit word). `None` if any byte is not
/// `0-9` or `a-f`.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline]
fn decode_lower_hex_word(chunk: [u8; 8]) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let w = u64::from_be_bytes(chunk);
    if w & HIGH != 0 {
        return None;
    }
    // For ASCII bytes, adding (0x80 - lo) sets a byte's high bit iff the
    // byte is >= lo, and adding (0x7f - hi) iff it is > hi; no carry can
    // cross into the next byte.
    let at_least = |lo: u64| w + ONES * (0x80 - lo);
    let above = |hi: u64| w + ONES * (0x7f - hi);
    let digit = at_least(0x30) & !above(0x39) & HIGH;
    let alpha = at_least(0x61) & !above(0x66) & HIGH;
    if digit | alpha != HIGH {
        return None;
    }
    // '0'..'9' -> 0..9 from the low nibble; 'a'..'f' -> 1..6, plus 9.
    let nibbles = (w & (ONES * 0x0f)) + (alpha >> 7) * 9;
    // Pack the eight nibbles (one per byte, most significant first) into 32 bits.
    let n = (nibbles | (nibbles >> 4)) & 0x00ff_00ff_00ff_00ff;
    let n = (n | (n >> 8)) & 0x0000_ffff_0000_ffff;
    Some(((n | (n >> 16)) & 0xffff_ffff) as u32)
}

/// Decodes 16 lower-case hex digits into 8 bytes with SSE2 (always present on
/// x86_64): one load, two range checks and a pack instead of 16 lookups.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn decode_lower_hex_x16(chunk: &[u8; 16]) -> Option<[u8; 8]> {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is enabled for this target (checked by `cfg`), and the load
    // reads exactly the 16 bytes of `chunk`.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let a = _mm_sub_epi8(v, _mm_set1_epi8(b'a' as i8));
        // Unsigned x <= limit  <=>  max(x, limit) == limit.
        let nine = _mm_set1_epi8(9);
        let five = _mm_set1_epi8(5);
        let is_digit = _mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine);
        let is_alpha = _mm_cmpeq_epi8(_mm_max_epu8(a, five), five);
        if _mm_movemask_epi8(_mm_or_si128(is_digit, is_alpha)) != 0xffff {
            return None;
        }
        let values = _mm_or_si128(
            _mm_and_si128(is_digit, d),
            _mm_andnot_si128(is_digit, _mm_add_epi8(a, _mm_set1_epi8(10))),
        );
        // Each 16-bit lane holds (first digit, second digit) in memory order,
        // so the first digit is the low byte: combine to first << 4 | second.
        let first = _mm_and_si128(values, _mm_set1_epi16(0x00ff));
        let second = _mm_srli_epi16(values, 8);
        let bytes = _mm_or_si128(_mm_slli_epi16(first, 4), second);
        let packed = _mm_packus_epi16(bytes, bytes);
        Some((_mm_cvtsi128_si64(packed) as u64).to_le_bytes())
    }
}

/// Portable fallback: two SWAR words.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn decode_lower_hex_x16(chunk: &[u8; 16]) -> Option<[u8; 8]> {
    let (a, b) = chunk.split_at(8);
    let hi = decode_lower_hex_word(a.try_into().ok()?)?;
    let lo = decode_lower_hex_word(b.try_into().ok()?)?;
    Some(((u64::from(hi) << 32) | u64::from(lo)).to_be_bytes())
}

/// Decodes 32 lower-case hex digits into a trace id's bytes.
#[inline]
pub(crate) fn decode_lower_hex_16(hex: &[u8]) -> Option<[u8; 16]> {
    let hex: &[u8; 32] = hex.try_into().ok()?;
    let (a, b) = hex.split_at(16);
    let hi = decode_lower_hex_x16(a.try_into().ok()?)?;
    let lo = decode_lower_hex_x16(b.try_into().ok()?)?;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hi);
    out[8..].copy_from_slice(&lo);
    Some(out)
}

/// Decodes 16 lower-case hex digits into a span id's bytes.
#[inline]
pub(crate) fn decode_lower_hex_8(hex: &[u8]) -> Option<[u8; 8]> {
    decode_lower_hex_x16(hex.try_into().ok()?)
}

/// Every byte's two lower-case hex digits, so encoding is one load per byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX_DIGITS[i >> 4], HEX_DIGITS[i & 0x0f]];
        i += 1;
    }
    table
};

/// Writes the lower-case hex form of `bytes` into `out`, which must be twice as long.
#[inline]
pub(crate) fn write_hex_bytes(out: &mut [u8], bytes: &[u8]) {
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[b as usize]);
    }
}

/// Decodes exactly `2 * N` hex digits (either case) into `N` bytes.
pub(crate) fn decode_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        let hi = HEX_VALUES[hex[2 * i] as usize];
        let lo = HEX_VALUES[hex[2 * i + 1] as usize];
        if (hi | lo) & 0xf0 != 0 {
            return None;
        }
        *byte = (hi << 4) | lo;
    }
    Some(out)
}

/// Decodes 1 to `2 * N` hex digits into `N` bytes, left-padding with zeros
/// (B3 64-bit trace ids, Jaeger ids without leading zeros).
pub(crate) fn decode_hex_padded<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.is_empty() || hex.len() > 2 * N {
        return None;
    }
    let mut padded = [b'0'; 64];
    let start = 2 * N - hex.len();
    padded[start..2 * N].copy_from_slice(hex);
    decode_hex::<N>(&padded[..2 * N])
}

/// Appends the lower-case hex form of `bytes` to `out`.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(HEX_DIGITS[(b >> 4) as usize] as char);
        out.push(HEX_DIGITS[(b & 0x0f) as usize] as char);
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    let mut buf = [0u8; 32];
    for (i, &b) in bytes.iter().enumerate() {
        buf[2 * i] = HEX_DIGITS[(b >> 4) as usize];
        buf[2 * i + 1] = HEX_DIGITS[(b & 0x0f) as usize];
    }
    // Only ASCII hex digits were written, so this never fails.
    f.write_str(std::str::from_utf8(&buf[..bytes.len() * 2]).map_err(|_| fmt::Error)?)
}

/// The error returned when a hex identifier cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseIdError {
    /// The text did not have the expected number of hex digits.
    Length {
        /// The number of hex digits expected.
        expected: usize,
        /// The number found.
        found: usize,
    },
    /// The text contains a character that is not a hex digit.
    NotHex,
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseIdError::Length { expected, found } => {
                write!(f, "expected {expected} hex digits, found {found}")
            }
            ParseIdError::NotHex => f.write_str("identifier contains a non-hex character"),
        }
    }
}

impl std::error::Error for ParseIdError {}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $len:literal, $int:ty) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name([u8; $len]);

        impl $name {
            /// The all-zero identifier, which is invalid everywhere.
            pub const INVALID: Self = Self([0; $len]);

            /// Builds the identifier from its big-endian bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The identifier's big-endian bytes.
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// A reference to the identifier's bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            #[doc = concat!("Builds the identifier from a `", stringify!($int), "`.")]
            pub const fn from_int(value: $int) -> Self {
                Self(value.to_be_bytes())
            }

            #[doc = concat!("The identifier as a `", stringify!($int), "`.")]
            pub const fn to_int(self) -> $int {
                <$int>::from_be_bytes(self.0)
            }

            /// False for the all-zero identifier.
            pub const fn is_valid(&self) -> bool {
                <$int>::from_be_bytes(self.0) != 0
            }

            /// Parses exactly
            #[doc = concat!(stringify!($len), " bytes of hex (", stringify!($len), " × 2 digits, either case).")]
            pub fn from_hex(hex: &str) -> Result<Self, ParseIdError> {
                if hex.len() != 2 * $len {
                    return Err(ParseIdError::Length { expected: 2 * $len, found: hex.len() });
                }
                decode_hex::<$len>(hex.as_bytes()).map(Self).ok_or(ParseIdError::NotHex)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "("))?;
                write_hex(f, &self.0)?;
                f.write_str(")")
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }
    };
}

id_type!(
    /// A 16-byte trace identifier. Displayed as 32 lower-case hex digits.
    TraceId,
    16,
    u128
);
id_type!(
    /// An 8-byte span identifier. Displayed as 16 lower-case hex digits.
    SpanId,
    8,
    u64
);

/// The W3C trace flags byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set: not sampled.
    pub const NONE: Self = Self(0);
    /// The caller may have recorded this trace (W3C `sampled`, bit 0).
    pub const SAMPLED: Self = Self(0x01);
    /// The trace id's right-most 7 bytes are random (W3C Trace Context Level 2, bit 1).
    pub const RANDOM: Self = Self(0x02);

    /// Builds flags from the raw byte. Unknown bits are kept so that they propagate.
    pub const fn new(byte: u8) -> Self {
        Self(byte)
    }

    /// The raw byte.
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// True when the sampled bit is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & 0x01 != 0
    }

    /// True when the random-trace-id bit is set.
    pub const fn is_random(self) -> bool {
        self.0 & 0x02 != 0
    }

    /// These flags with the sampled bit set or cleared.
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            Self(self.0 | 0x01)
        } else {
            Self(self.0 & !0x01)
        }
    }

    /// These flags with the random bit set or cleared.
    pub const fn with_random(self, random: bool) -> Self {
        if random {
            Self(self.0 | 0x02)
        } else {
            Self(self.0 & !0x02)
        }
    }
}

impl std::ops::BitOr for TraceFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

impl fmt::Display for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let t = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(t.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            format!("{t:?}"),
            "TraceId(4bf92f3577b34da6a3ce929d0e0e4736)"
        );
        let s = SpanId::from_hex("00F067AA0BA902B7").unwrap();
        assert_eq!(s.to_string(), "00f067aa0ba902b7");
        assert_eq!(s.to_int(), 0x00f0_67aa_0ba9_02b7);
        assert!(!SpanId::INVALID.is_valid());
        assert_eq!(
            SpanId::from_hex("abc"),
            Err(ParseIdError::Length {
                expected: 16,
                found: 3
            })
        );
        assert_eq!(
            SpanId::from_hex("zz00000000000000"),
            Err(ParseIdError::NotHex)
        );
    }

    #[test]
    fn padded_decode() {
        assert_eq!(
            decode_hex_padded::<16>(b"a3ce929d0e0e4736"),
            Some(TraceId::from_int(0xa3ce929d0e0e4736).to_bytes())
        );
        assert_eq!(decode_hex_padded::<8>(b"1"), Some([0, 0, 0, 0, 0, 0, 0, 1]));
        assert_eq!(decode_hex_padded::<8>(b""), None);
        assert_eq!(decode_hex_padded::<8>(b"00000000000000001"), None);
    }

    #[test]
    fn swar_word_matches_the_table_decoder() {
        let mut input = *b"09afAF:g";
        for pos in 0..8 {
            for b in 0..=255u8 {
                let saved = input[pos];
                input[pos] = b;
                let expected = decode_lower_hex::<4>(&input).map(u32::from_be_bytes);
                assert_eq!(
                    decode_lower_hex_word(input),
                    expected,
                    "byte {b:#x} at {pos}"
                );
                input[pos] = saved;
            }
        }
        assert_eq!(decode_lower_hex_word(*b"0123abcd"), Some(0x0123_abcd));
    }

    #[test]
    fn fast_decoder_matches_the_table_decoder() {
        let mut input = *b"0123456789abcdef0123456789abcdef";
        assert_eq!(decode_lower_hex_16(&input), decode_lower_hex::<16>(&input));
        assert_eq!(
            decode_lower_hex_8(&input[..16]),
            decode_lower_hex::<8>(&input[..16])
        );
        // Every single-byte corruption at every position is caught.
        for pos in 0..32 {
            for b in 0..=255u8 {
                let saved = input[pos];
                input[pos] = b;
                assert_eq!(
                    decode_lower_hex_16(&input),
                    decode_lower_hex::<16>(&input),
                    "byte {b:#x} at {pos}"
                );
                input[pos] = saved;
            }
        }
        assert_eq!(decode_lower_hex_16(b"00"), None);
    }

    #[test]
    fn lower_hex() {
        assert_eq!(decode_lower_hex::<2>(b"0aff"), Some([0x0a, 0xff]));
        assert_eq!(decode_lower_hex::<2>(b"0aFF"), None);
        assert_eq!(decode_lower_hex::<1>(b"g0"), None);
        assert_eq!(decode_lower_hex::<1>(b"0"), None);
        let mut out = [0u8; 4];
        write_hex_bytes(&mut out, &[0xab, 0x01]);
        assert_eq!(&out, b"ab01");
    }

    #[test]
    fn flags() {
        let f = TraceFlags::NONE.with_sampled(true) | TraceFlags::RANDOM;
        assert!(f.is_sampled() && f.is_random());
        assert_eq!(f.to_u8(), 3);
        assert!(!f.with_sampled(false).is_sampled());
        assert_eq!(f.to_string(), "03");
    }
}
