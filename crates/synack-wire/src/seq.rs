//! TCP sequence numbers: 32-bit values compared and added modulo 2^32
//! (RFC 9293 section 3.4, serial number arithmetic as RFC 1982 defines
//! it), so that arithmetic near the wrap is right by construction.

use std::ops::{Add, Sub};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self` comes after `other`: less than 2^31 ahead of it.
    pub fn after(self, other: SeqNumber) -> bool {
        (self - other) as i32 > 0
    }
}

/// Advancing by a length (a SYN or FIN counts one).
impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }
}

/// How far `self` is ahead of `other`, modulo 2^32 (a relative sequence
/// number, as Wireshark shows them).
impl Sub for SeqNumber {
    type Output = u32;
    fn sub(self, other: SeqNumber) -> u32 {
        self.0.wrapping_sub(other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_and_arithmetic_wrap() {
        let near_end = SeqNumber(u32::MAX - 1);
        let wrapped = near_end + 3;
        assert_eq!(wrapped, SeqNumber(1));
        assert!(wrapped.after(near_end));
        assert!(!near_end.after(wrapped));
        assert_eq!(wrapped - near_end, 3);
        assert!(!SeqNumber(5).after(SeqNumber(5)));
    }
}
