//! The crypto libraries as the engines call them, for callers that want the very same calls
//! without the device: the perf tool's baseline.

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
