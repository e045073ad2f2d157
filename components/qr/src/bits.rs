//! A row or column of QR modules as `W` 64-bit words: module `i` is bit `i % 64` of word
//! `i / 64`, dark = 1. Invariant: bits past the line's width are clear, so shifting light (0)
//! in from either end stands for the quiet zone.

use std::ops::{BitAnd, BitOr, BitXor, Not};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bits<const W: usize>(pub [u64; W]);

impl<const W: usize> Bits<W> {
    pub const ZERO: Self = Bits([0; W]);

    /// Modules `0 .. n` set.
    pub fn first(n: usize) -> Self {
        Bits(std::array::from_fn(|w| match n.checked_sub(w * 64) {
            Some(left) if left < 64 => (1u64 << left) - 1,
            Some(_) => !0,
            None => 0,
        }))
    }

    pub fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }

    pub fn set(&mut self, i: usize, dark: bool) {
        let bit = 1u64 << (i % 64);
        if dark {
            self.0[i / 64] |= bit;
        } else {
            self.0[i / 64] &= !bit;
        }
    }

    pub fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    pub fn any(&self) -> bool {
        self.0.iter().any(|&w| w != 0)
    }

    /// The indices of the set bits, in order.
    pub fn ones(self) -> impl Iterator<Item = usize> {
        self.0.into_iter().enumerate().flat_map(|(w, word)| {
            let mut left = word;
            std::iter::from_fn(move || {
                (left != 0).then(|| {
                    let bit = left.trailing_zeros() as usize;
                    left &= left - 1;
                    w * 64 + bit
                })
            })
        })
    }

    /// Bit `i` of the result is module `i + k` (light past the end); `k < 64`.
    pub fn down(&self, k: u32) -> Self {
        Bits(std::array::from_fn(|w| {
            let carry = match (w + 1 < W, k) {
                (true, 1..) => self.0[w + 1] << (64 - k),
                _ => 0,
            };
            self.0[w] >> k | carry
        }))
    }

    /// Bit `i` of the result is module `i - k` (light before the start); `k < 64`.
    pub fn up(&self, k: u32) -> Self {
        Bits(std::array::from_fn(|w| {
            let carry = match (w > 0, k) {
                (true, 1..) => self.0[w - 1] >> (64 - k),
                _ => 0,
            };
            self.0[w] << k | carry
        }))
    }
}

impl<const W: usize> BitAnd for Bits<W> {
    type Output = Self;
    fn bitand(self, other: Self) -> Self {
        Bits(std::array::from_fn(|w| self.0[w] & other.0[w]))
    }
}

impl<const W: usize> BitOr for Bits<W> {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        Bits(std::array::from_fn(|w| self.0[w] | other.0[w]))
    }
}

impl<const W: usize> BitXor for Bits<W> {
    type Output = Self;
    fn bitxor(self, other: Self) -> Self {
        Bits(std::array::from_fn(|w| self.0[w] ^ other.0[w]))
    }
}

/// Note: sets the bits past the width too; mask with [`Bits::first`] or `&` with a line.
impl<const W: usize> Not for Bits<W> {
    type Output = Self;
    fn not(self) -> Self {
        Bits(self.0.map(|w| !w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_carry_across_words() {
        let mut line = Bits::<3>::ZERO;
        line.set(63, true);
        line.set(64, true);
        line.set(130, true);
        let down = line.down(2);
        assert!(down.get(61) && down.get(62) && down.get(128));
        assert_eq!(down.count(), 3);
        assert_eq!(line.ones().collect::<Vec<_>>(), [63, 64, 130]);
        let up = line.up(3);
        assert!(up.get(66) && up.get(67) && up.get(133));
        assert_eq!(up.count(), 3);
        assert_eq!(Bits::<3>::first(130).count(), 130);
        assert_eq!(Bits::<1>::first(64), Bits([!0]));
        assert_eq!(Bits::<3>::first(0), Bits::ZERO);
    }
}
