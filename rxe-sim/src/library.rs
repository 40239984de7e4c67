//! The crypto libraries as the engines call them, for callers that want the very same calls
//! without the device: the perf tool's baseline.

use accelverbs_uapi::crypto::{DigestState, SHA256_BLOCK};
use aws_lc_rs::{digest, hmac};
use crc_fast::{CrcAlgorithm, Digest as Crc};

pub use crate::hw::gcm_key::GcmKey;
pub use crate::hw::xts_key::XtsKey;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// The most bytes SHA-256 takes: 2^64 − 1 bits.
pub const SHA256_MAX_BYTES: u64 = (1 << 61) - 1;

/// One SHA-256 over a message that comes in parts (DIGEST with `digest_flags`): aws-lc's
/// context, started fresh or from the state an earlier part left, fed, and then either
/// finished or exported again. Exports happen only between whole blocks, where the state is
/// the chaining value and the count alone.
pub struct Sha256Parts(aws_lc_sys::SHA256_CTX);

impl std::fmt::Debug for Sha256Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256Parts")
    }
}

impl Sha256Parts {
    pub fn start() -> Self {
        // SAFETY: the context is plain integers (all zero is a value of it), and SHA256_Init
        // sets it up; it cannot fail.
        let mut ctx: aws_lc_sys::SHA256_CTX = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { aws_lc_sys::SHA256_Init(&mut ctx) };
        Self(ctx)
    }

    /// The message `state` describes, to be continued with `more` bytes; `None` if no part
    /// could have left that state (a count not a whole number of blocks) or if `more` bytes
    /// would take the message past SHA-256's limit.
    pub fn resume(state: &DigestState, more: u64) -> Option<Self> {
        if !state.bytes.is_multiple_of(SHA256_BLOCK as u64) || state.bytes.checked_add(more)? > SHA256_MAX_BYTES {
            return None;
        }
        let mut parts = Self::start();
        for (word, bytes) in parts.0.h.iter_mut().zip(state.chaining.chunks_exact(4)) {
            *word = u32::from_be_bytes(bytes.try_into().expect("4 bytes"));
        }
        // aws-lc counts bits, in two 32-bit halves; the check above keeps them in range.
        let bits = state.bytes << 3;
        (parts.0.Nl, parts.0.Nh) = (bits as u32, (bits >> 32) as u32);
        Some(parts)
    }

    pub fn update(&mut self, data: &[u8]) {
        // SAFETY: `data` is readable for its length; the context is set up.
        unsafe { aws_lc_sys::SHA256_Update(&mut self.0, data.as_ptr().cast(), data.len()) };
    }

    /// The state to resume from, if what was fed so far is a whole number of blocks.
    pub fn state(&self) -> Option<DigestState> {
        if self.0.num != 0 {
            return None;
        }
        let mut state = DigestState { chaining: [0; 32], bytes: ((u64::from(self.0.Nh) << 32) | u64::from(self.0.Nl)) >> 3 };
        for (bytes, word) in state.chaining.chunks_exact_mut(4).zip(self.0.h) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        Some(state)
    }

    /// The digest of the whole message.
    pub fn finish(mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: 32 writable bytes; the context is set up and used no more.
        unsafe { aws_lc_sys::SHA256_Final(out.as_mut_ptr(), &mut self.0) };
        out
    }
}

/// A prepared HMAC-SHA-256 key, as the device holds one.
pub struct HmacKey(hmac::Key);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey")
    }
}

impl HmacKey {
    pub fn new(material: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, material))
    }

    /// HMAC-SHA-256 of `data`.
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.0, data)
    }
}

/// HMAC-SHA-256 of `data` under a prepared key.
pub(crate) fn hmac_sha256(key: &hmac::Key, data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(key, data).as_ref());
    out
}

/// CRC32C (Castagnoli) of `data`, continuing from `seed`, the CRC of the data before (0 to
/// start): the register resumes from the seed before its final inversion.
pub fn crc32c(seed: u32, data: &[u8]) -> u32 {
    let mut crc = Crc::new_with_init_state(CrcAlgorithm::Crc32Iscsi, u64::from(!seed));
    crc.update(data);
    (crc.finalize() & 0xFFFF_FFFF) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message hashed in parts, its state exported after each and resumed, gives the
    /// one-shot digest; a state that is not between blocks, or would overflow, is refused.
    #[test]
    #[cfg_attr(miri, ignore = "aws-lc is C: Miri cannot call it")]
    fn parts_resumed_from_their_state_give_the_whole_digest() {
        let message: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for cut in [0, 64, 128, 640, 960] {
            let mut first = Sha256Parts::start();
            first.update(&message[..cut]);
            let state = first.state().expect("a whole number of blocks");
            assert_eq!(state.bytes, cut as u64);
            let mut rest = Sha256Parts::resume(&state, (message.len() - cut) as u64).expect("a state a part left");
            rest.update(&message[cut..]);
            assert_eq!(rest.finish(), sha256(&message), "cut at {cut}");
        }
        let mut partial = Sha256Parts::start();
        partial.update(&message[..65]);
        assert!(partial.state().is_none());
        assert!(Sha256Parts::resume(&DigestState { chaining: [0; 32], bytes: 65 }, 0).is_none());
        assert!(Sha256Parts::resume(&DigestState { chaining: [0; 32], bytes: SHA256_MAX_BYTES - 63 }, 64).is_none());
        assert!(Sha256Parts::resume(&DigestState { chaining: [0; 32], bytes: SHA256_MAX_BYTES - 63 }, 63).is_some());
    }
}
