//! Crypto keys and the operations that use them. Key material crosses the ABI once, in the
//! key's CREATE; work requests name a key by its device number only.
//!
//! ENCRYPT and DECRYPT carry [`CryptoParams`] in `Wqe::params`:
//!
//! ```text
//!  params  0        4       6          8                               24          28        48
//!          +--------+-------+----------+-------------------------------+-----------+---------+
//!          |  key   | flags | reserved |  iv[16] (AES-GCM: 12 bytes,   | data_unit | reserved|
//!          |        |       |  (zero)  |  the rest zero)               |           |  (zero) |
//!          +--------+-------+----------+-------------------------------+-----------+---------+
//! ```
//!
//! `src` is the input and `dst` the output (at least as long; it may be `src` itself). With
//! [`flags::SRC_LIST`] (`DST_LIST`) the SGE names an indirect list of up to
//! `compress::MAX_LIST_ENTRIES` SGEs, exactly as for COMPRESS: the data is the entries' bytes
//! in order, and an AES-XTS data unit may straddle two entries.
//!
//! AES-GCM: `aux[0]` is the additional authenticated data (a zero SGE for none), `aux[1]` the
//! 16-byte tag, written by ENCRYPT and checked by DECRYPT. A tag that does not check completes
//! with `CqeStatus::AuthenticationFailed`, every destination byte zeroed, and the QP goes on.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

wire_enum! {
    /// What a key is for (`ids::crypto_key::ATTR_CREATE_ALGORITHM`).
    pub enum KeyAlgorithm: u32 {
        /// AES-GCM with a 128-bit key: 16 bytes.
        Aes128Gcm = 1,
        /// AES-GCM with a 256-bit key: 32 bytes.
        Aes256Gcm = 2,
        /// AES-XTS with AES-128 (OpenSSL's `aes-128-xts`): two 16-byte keys, 32 bytes.
        Aes128Xts = 3,
        /// AES-XTS with AES-256 (`aes-256-xts`): two 32-byte keys, 64 bytes.
        Aes256Xts = 4,
        /// HMAC-SHA-256: 16 to 128 bytes.
        HmacSha256 = 5,
        /// A key-encryption key for AES key wrap with padding (RFC 5649), AES-128: 16 bytes.
        /// It only unwraps other keys' material at their creation.
        AesKeyWrap128 = 6,
        /// Likewise with AES-256: 32 bytes.
        AesKeyWrap256 = 7,
    }
}

impl KeyAlgorithm {
    /// Every algorithm, in wire order.
    pub const ALL: [KeyAlgorithm; 7] = [
        KeyAlgorithm::Aes128Gcm,
        KeyAlgorithm::Aes256Gcm,
        KeyAlgorithm::Aes128Xts,
        KeyAlgorithm::Aes256Xts,
        KeyAlgorithm::HmacSha256,
        KeyAlgorithm::AesKeyWrap128,
        KeyAlgorithm::AesKeyWrap256,
    ];

    /// Whether this is a key-encryption key (it unwraps, and does nothing else).
    pub const fn wraps_keys(self) -> bool {
        matches!(self, KeyAlgorithm::AesKeyWrap128 | KeyAlgorithm::AesKeyWrap256)
    }

    /// The material lengths the algorithm accepts, in bytes.
    pub const fn material_lengths(self) -> core::ops::RangeInclusive<usize> {
        match self {
            KeyAlgorithm::Aes128Gcm | KeyAlgorithm::AesKeyWrap128 => 16..=16,
            KeyAlgorithm::Aes256Gcm | KeyAlgorithm::Aes128Xts | KeyAlgorithm::AesKeyWrap256 => 32..=32,
            KeyAlgorithm::Aes256Xts => 64..=64,
            KeyAlgorithm::HmacSha256 => MIN_KEY_MATERIAL..=MAX_KEY_MATERIAL,
        }
    }

    /// Whether `material` is a key of this algorithm: its length, and for XTS two different
    /// halves (IEEE 1619 and NIST SP 800-38E require the data key and the tweak key to differ).
    pub fn accepts(self, material: &[u8]) -> bool {
        if !self.material_lengths().contains(&material.len()) {
            return false;
        }
        match self {
            KeyAlgorithm::Aes128Xts | KeyAlgorithm::Aes256Xts => {
                let (data_key, tweak_key) = material.split_at(material.len() / 2);
                data_key != tweak_key
            }
            _ => true,
        }
    }
}

/// The longest key material any algorithm takes (an HMAC key; longer ones are hashed first by
/// HMAC itself, so the caller can do that).
pub const MAX_KEY_MATERIAL: usize = 128;
/// The longest wrapped material: RFC 5649 pads to 8 bytes and adds 8.
pub const MAX_WRAPPED_MATERIAL: usize = MAX_KEY_MATERIAL + 8;

/// Whether `len` bytes can be RFC 5649 output for material this device takes.
pub const fn wrapped_length_ok(len: usize) -> bool {
    len & 7 == 0 && len >= MIN_KEY_MATERIAL + 8 && len <= MAX_WRAPPED_MATERIAL
}

/// The shortest: 128 bits. Shorter HMAC keys are weak (NIST SP 800-107 asks for at least the
/// security strength), and material of 8 bytes or less would travel inline in the ioctl
/// attribute itself, a copy the provider could not zero.
pub const MIN_KEY_MATERIAL: usize = 16;

/// The parameters of ENCRYPT and DECRYPT.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CryptoParams {
    /// The device number of the key (`ids::crypto_key::ATTR_CREATE_RESP_NUMBER`).
    pub key: u32,
    /// [`flags`].
    pub flags: u16,
    pub reserved0: u16,
    /// The IV: AES-GCM uses the first `GCM_IV_LEN` bytes (the rest must be zero).
    pub iv: [u8; 16],
    /// AES-XTS: the data unit in bytes, at least `XTS_MIN_DATA_UNIT` (zero for AES-GCM). The IV
    /// field holds the first unit's tweak, a 128-bit little-endian number; each next unit's is
    /// one more.
    pub data_unit: u32,
    pub reserved: [u8; 20],
}
assert_layout!(CryptoParams, 48; key @ 0, flags @ 4, reserved0 @ 6, iv @ 8, data_unit @ 24, reserved @ 28);

/// `CryptoParams::flags`: the same bits, with the same meaning, as COMPRESS's.
pub mod flags {
    /// `src` names a list of input SGEs.
    pub const SRC_LIST: u16 = crate::compress::flags::SRC_LIST;
    /// `dst` names a list of output SGEs.
    pub const DST_LIST: u16 = crate::compress::flags::DST_LIST;
    /// Bits a device of this revision accepts.
    pub const KNOWN: u16 = SRC_LIST | DST_LIST;
}

/// The parameters of the chained operations COMPRESS_ENCRYPT and DECRYPT_DECOMPRESS: the
/// one-shot compression's (as `compress::CompressParams` begins) and AES-GCM's.
///
/// ```text
///  params  0        1       2        4        8      12                 24                 48
///          +--------+-------+--------+--------+------+-------------------+------------------+
///          | format | level | flags  | stream | key  | iv[12]            | reserved (zero)  |
///          |        |       | (zero) | (zero) |      |                   |                  |
///          +--------+-------+--------+--------+------+-------------------+------------------+
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ChainParams {
    /// `compress::Format`.
    pub format: u8,
    /// The compression level (COMPRESS_ENCRYPT; zero for DECRYPT_DECOMPRESS).
    pub level: i8,
    /// Zero: a chain is one-shot, one SGE a side.
    pub flags: u16,
    /// Zero: no compression context.
    pub stream: u32,
    /// The AES-GCM key's device number.
    pub key: u32,
    pub iv: [u8; GCM_IV_LEN],
    pub reserved: [u8; 24],
}
assert_layout!(ChainParams, 48; format @ 0, level @ 1, flags @ 2, stream @ 4, key @ 8, iv @ 12, reserved @ 24);

impl Default for ChainParams {
    fn default() -> Self {
        Self { format: 0, level: 0, flags: 0, stream: 0, key: 0, iv: [0; GCM_IV_LEN], reserved: [0; 24] }
    }
}

/// AES-GCM's IV: 96 bits.
pub const GCM_IV_LEN: usize = 12;
/// AES-GCM's tag: 128 bits.
pub const GCM_TAG_LEN: usize = 16;
/// AES-XTS's smallest data unit: one AES block (longer ones need not be whole blocks: the
/// last partial block is handled by ciphertext stealing).
pub const XTS_MIN_DATA_UNIT: usize = 16;
/// AES-XTS's largest data unit: 2^20 blocks, IEEE 1619's limit, which aws-lc and OpenSSL
/// enforce.
pub const XTS_MAX_DATA_UNIT: usize = 16 << 20;

wire_enum! {
    /// What DIGEST computes (`DigestParams::algorithm`).
    pub enum DigestAlgorithm: u8 {
        /// SHA-256 of the input: 32 bytes to `dst`.
        Sha256 = 1,
        /// HMAC-SHA-256 under an HMAC key object: 32 bytes to `dst`.
        HmacSha256 = 2,
        /// CRC32C (Castagnoli, as iSCSI) of the input, continuing from `seed`: in `Cqe::result`
        /// (`dst` a zero SGE).
        Crc32c = 3,
    }
}

/// The parameters of DIGEST.
///
/// ```text
///  params  0           1       2          4        8        12                         48
///          +-----------+-------+----------+--------+--------+--------------------------+
///          | algorithm | flags | reserved |  key   |  seed  | reserved (zero)          |
///          +-----------+-------+----------+--------+--------+--------------------------+
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DigestParams {
    /// `DigestAlgorithm`.
    pub algorithm: u8,
    /// `digest_flags`: SHA-256 over several requests (zero: the input is the whole message).
    pub flags: u8,
    pub reserved0: [u8; 2],
    /// HMAC: the key's device number (zero otherwise).
    pub key: u32,
    /// CRC32C: the CRC of the data before this request's (0 to start), so checksums chain.
    pub seed: u32,
    pub reserved: [u8; 36],
}
impl DigestParams {
    pub fn new(algorithm: DigestAlgorithm) -> Self {
        Self { algorithm: algorithm as u8, flags: 0, reserved0: [0; 2], key: 0, seed: 0, reserved: [0; 36] }
    }
}
assert_layout!(DigestParams, 48; algorithm @ 0, flags @ 1, reserved0 @ 2, key @ 4, seed @ 8, reserved @ 12);

/// `DigestParams::flags`: one SHA-256 over a message posted in several requests, its running
/// state carried between them in the request's `aux[0]`, exactly `DigestState`'s 40 bytes of
/// registered memory (as Linux's crypto API exports and imports a hash's state). Only SHA-256
/// takes them: an HMAC's state would be derived from its key, which never leaves the device.
pub mod digest_flags {
    /// More of the message follows in later requests: the input is a whole number of 64-byte
    /// blocks, and the state after it is written to `aux[0]` instead of a digest to `dst`
    /// (a zero SGE).
    pub const MORE: u8 = 1 << 0;
    /// The input continues the message whose state `aux[0]` holds (written by a request with
    /// `MORE`), rather than starting one.
    pub const RESUME: u8 = 1 << 1;
    pub const KNOWN: u8 = MORE | RESUME;
}

/// SHA-256's running state between requests (`digest_flags`), in the byte order FIPS 180-4
/// writes it: the eight chaining words, big-endian, and the bytes hashed so far (a multiple of
/// 64), little-endian like every other ABI integer. The device checks what it reads back:
/// a count that is not a whole number of blocks, or that the request would take past
/// SHA-256's limit of 2^61 − 1 bytes, fails it with `BadDigestState`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DigestState {
    pub chaining: [u8; 32],
    pub bytes: u64,
}
assert_layout!(DigestState, 40; chaining @ 0, bytes @ 32);

/// SHA-256's block: what a request with `digest_flags::MORE` takes a whole number of.
pub const SHA256_BLOCK: usize = 64;

/// SHA-256's and HMAC-SHA-256's output.
pub const SHA256_LEN: usize = 32;
