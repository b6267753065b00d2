//! FNV-1a, 32 and 64 bits, with the byte widening as a parameter.
//!
//! carbon-c-relay walks the key as `const char *` and XORs `(unsigned int)*p` into the
//! hash. Where `char` is signed (amd64, the Debian build this module follows) a byte of
//! 0x80 or more is sign-extended first: 0xc3 goes in as `0xffff_ffc3`. That is not FNV-1a
//! as published, and it changes the hash of every key holding a non-ASCII byte. carbon
//! (Python) hashes the UTF-8 bytes as unsigned numbers, the published algorithm.
//! [`Widen`] names the two; on ARM, where `char` is unsigned, the relay agrees with
//! [`Widen::Unsigned`].

/// How a key byte becomes a word before the hash takes it in (by XOR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Widen {
    /// The byte's value (published FNV-1a; carbon; carbon-c-relay where `char` is unsigned).
    Unsigned,
    /// The byte read as a signed `char`, then converted (carbon-c-relay on amd64).
    SignedChar,
}

impl Widen {
    fn word(self, b: u8) -> u64 {
        match self {
            Self::Unsigned => u64::from(b),
            Self::SignedChar => i64::from(b as i8) as u64,
        }
    }
}

const OFFSET_32: u32 = 2_166_136_261;
const PRIME_32: u32 = 16_777_619;
const OFFSET_64: u64 = 14_695_981_039_346_656_037;
const PRIME_64: u64 = 1_099_511_628_211;

/// 32-bit FNV-1a of `data`.
pub fn fnv1a_32(data: &[u8], widen: Widen) -> u32 {
    data.iter().fold(OFFSET_32, |h, &b| {
        (h ^ widen.word(b) as u32).wrapping_mul(PRIME_32)
    })
}

/// 64-bit FNV-1a of `data`.
pub fn fnv1a_64(data: &[u8], widen: Widen) -> u64 {
    data.iter().fold(OFFSET_64, |h, &b| {
        (h ^ widen.word(b)).wrapping_mul(PRIME_64)
    })
}

/// The 16-bit ring position both `fnv1a_ch` rings take from a 32-bit hash: the high half
/// XOR the low half.
pub fn fold_16(h: u32) -> u16 {
    ((h >> 16) ^ (h & 0xffff)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published test values, and the widening difference on a non-ASCII key
    /// (values from a Python model of both).
    #[test]
    fn known_values() {
        assert_eq!(fnv1a_32(b"", Widen::Unsigned), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a", Widen::Unsigned), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar", Widen::Unsigned), 0xbf9c_f968);
        assert_eq!(fnv1a_64(b"a", Widen::Unsigned), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar", Widen::Unsigned), 0x8594_4171_f739_67e8);
        // ASCII keys hash the same either way.
        assert_eq!(
            fnv1a_64(b"foobar", Widen::SignedChar),
            0x8594_4171_f739_67e8
        );
        let key = "ü.x".as_bytes();
        assert_eq!(fnv1a_32(key, Widen::Unsigned), 0x99bb_3a7c);
        assert_eq!(fnv1a_32(key, Widen::SignedChar), 0x22ab_ba7c);
        assert_eq!(fnv1a_64(key, Widen::Unsigned), 0x866c_60c6_b144_bb1c);
        assert_eq!(fnv1a_64(key, Widen::SignedChar), 0x973e_1625_2311_9d1c);
    }

    #[test]
    fn fold() {
        assert_eq!(fold_16(0x1234_5678), 0x1234 ^ 0x5678);
        assert_eq!(fold_16(0xffff_0000), 0xffff);
    }
}
