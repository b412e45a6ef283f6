//! The random-source port: every secret, token, code and salt is drawn through
//! [`RandomSource`], so the server's randomness comes from wiring like its clock does.

use std::fmt::Debug;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

/// A source of unpredictable bytes, fit for secrets.
pub trait RandomSource: Send + Sync + Debug {
    /// Fills `buffer` with unpredictable bytes.
    fn fill(&self, buffer: &mut [u8]);
}

impl dyn RandomSource + '_ {
    /// `N` unpredictable bytes.
    pub fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut bytes = [0u8; N];
        self.fill(&mut bytes);
        bytes
    }

    /// A 256-bit secret as unpadded base64url: session ids, refresh tokens, codes.
    pub fn token(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes::<32>())
    }

    /// A number in `0..bound`, uniform (rejection sampling, no modulo bias). `bound` is at
    /// least 1.
    pub fn below(&self, bound: u32) -> u32 {
        let bound = bound.max(1);
        // The largest multiple of `bound` that fits: draws at or past it are thrown back.
        let zone = u32::MAX - u32::MAX % bound;
        loop {
            let draw = u32::from_le_bytes(self.bytes::<4>());
            if draw < zone {
                return draw % bound;
            }
        }
    }
}

/// The operating system's random number generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

impl RandomSource for SystemRandom {
    #[allow(
        clippy::disallowed_types,
        reason = "the system random source's adapter"
    )]
    fn fill(&self, buffer: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_numbers_stay_below_their_bound() {
        let random: &dyn RandomSource = &SystemRandom;
        assert_ne!(random.token(), random.token());
        assert_eq!(random.token().len(), 43);
        assert!((0..1000).all(|_| random.below(10) < 10));
        assert_eq!(random.below(1), 0);
    }
}
