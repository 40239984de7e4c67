//! `accel perf encrypt|decrypt|digest`: the request each rig posts, and the same work done by
//! the library the device calls, through the very calls its engines make
//! (`accelverbs_rxe_sim::library`: keys prepared once, AES-GCM out of place), on the rig's own
//! buffers.

use accelverbs::{
    Access, CryptoKey, Decrypt, Digest, Encrypt, Error, KeyAlgorithm, MemoryRegion, MrSlice, MrSliceMut, Pd, PostBatch, PostError,
};
use accelverbs_rxe_sim::library::{self, GcmKey, HmacKey, XtsKey};
use clap::ValueEnum;

/// An algorithm on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoAlg {
    #[value(name = "aes-128-gcm")]
    Aes128Gcm,
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
    #[value(name = "aes-128-xts")]
    Aes128Xts,
    #[value(name = "aes-256-xts")]
    Aes256Xts,
    Sha256,
    #[value(name = "hmac-sha256")]
    HmacSha256,
    Crc32c,
}

impl CryptoAlg {
    /// A cipher (encrypt, decrypt) rather than a digest.
    pub fn is_cipher(self) -> bool {
        matches!(self, CryptoAlg::Aes128Gcm | CryptoAlg::Aes256Gcm | CryptoAlg::Aes128Xts | CryptoAlg::Aes256Xts)
    }

    pub fn is_xts(self) -> bool {
        matches!(self, CryptoAlg::Aes128Xts | CryptoAlg::Aes256Xts)
    }

    pub fn name(self) -> &'static str {
        match self {
            CryptoAlg::Aes128Gcm => "aes-128-gcm",
            CryptoAlg::Aes256Gcm => "aes-256-gcm",
            CryptoAlg::Aes128Xts => "aes-128-xts",
            CryptoAlg::Aes256Xts => "aes-256-xts",
            CryptoAlg::Sha256 => "sha256",
            CryptoAlg::HmacSha256 => "hmac-sha256",
            CryptoAlg::Crc32c => "crc32c",
        }
    }

    /// The device key it needs, with material of its length (`None`: no key).
    fn key(self) -> Option<(KeyAlgorithm, usize)> {
        match self {
            CryptoAlg::Aes128Gcm => Some((KeyAlgorithm::Aes128Gcm, 16)),
            CryptoAlg::Aes256Gcm => Some((KeyAlgorithm::Aes256Gcm, 32)),
            CryptoAlg::Aes128Xts => Some((KeyAlgorithm::Aes128Xts, 32)),
            CryptoAlg::Aes256Xts => Some((KeyAlgorithm::Aes256Xts, 64)),
            CryptoAlg::HmacSha256 => Some((KeyAlgorithm::HmacSha256, 32)),
            CryptoAlg::Sha256 | CryptoAlg::Crc32c => None,
        }
    }
}

/// The library side of one algorithm.
enum Library {
    Gcm(GcmKey),
    Xts(XtsKey),
    Sha256,
    Hmac(Box<HmacKey>),
    Crc32c,
}

/// The IV a decryption uses: the data it opens was sealed under it at setup.
const SEALED_IV: [u8; 12] = [0x5a; 12];

/// One rig's crypto work: its device key, the library's, and the tag region.
pub struct CryptoWork {
    alg: CryptoAlg,
    encrypt: bool,
    data_unit: u32,
    key: Option<CryptoKey>,
    library: Library,
    tag: MemoryRegion,
}

impl CryptoWork {
    /// The work for `alg` (`encrypt` for ciphers) on `input` (replaced, for decryption, by its
    /// sealed form, so both sides open authentic data).
    pub fn new(pd: &Pd, alg: CryptoAlg, encrypt: bool, data_unit: u32, input: &mut [u8]) -> Result<Self, Error> {
        // Material with two different halves, as XTS requires.
        let material: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
        let key = alg.key().map(|(algorithm, len)| pd.create_crypto_key(algorithm, &material[..len])).transpose()?;
        let library = match alg {
            CryptoAlg::Aes128Gcm => Library::Gcm(GcmKey::new(&material[..16]).expect("a 16-byte key")),
            CryptoAlg::Aes256Gcm => Library::Gcm(GcmKey::new(&material[..32]).expect("a 32-byte key")),
            CryptoAlg::Aes128Xts => Library::Xts(XtsKey::new(&material[..32]).expect("a 32-byte key")),
            CryptoAlg::Aes256Xts => Library::Xts(XtsKey::new(&material[..64]).expect("a 64-byte key")),
            CryptoAlg::Sha256 => Library::Sha256,
            CryptoAlg::HmacSha256 => Library::Hmac(Box::new(HmacKey::new(&material[..32]))),
            CryptoAlg::Crc32c => Library::Crc32c,
        };
        let mut work = Self { alg, encrypt, data_unit, key, library, tag: pd.alloc_mr(16, Access::LOCAL_WRITE)? };
        if alg.is_cipher() && !encrypt {
            let (plain, mut tag) = (input.to_vec(), [0u8; 16]);
            if !work.library_crypt(true, SEALED_IV, 0, &plain, input, &mut tag) {
                return Err(Error::Protocol { op: "perf", detail: "the library failed" });
            }
            work.tag.as_mut_slice()?.copy_from_slice(&tag);
        }
        Ok(work)
    }

    /// The bytes a request writes to its destination, at most.
    pub fn output_len(&self, input_len: usize) -> usize {
        match self.alg {
            CryptoAlg::Sha256 | CryptoAlg::HmacSha256 => 32,
            CryptoAlg::Crc32c => 1,
            _ => input_len,
        }
    }

    /// Posts request `id` into `batch`.
    /// Posts request `id`; `solicit` marks it solicited (`--wait event`).
    pub fn push(
        &mut self,
        batch: &mut PostBatch<'_>,
        id: u64,
        src: MrSlice<'_>,
        dst: MrSliceMut<'_>,
        solicit: bool,
    ) -> Result<(), PostError> {
        let key = self.key.as_ref();
        match self.alg {
            CryptoAlg::Aes128Gcm | CryptoAlg::Aes256Gcm => {
                let key = key.expect("a GCM key");
                match self.encrypt {
                    true => batch
                        .push(solicited!(Encrypt::new(id, key, request_iv(id), src, dst, self.tag.slice_mut(0, 16)), solicit)),
                    false => batch.push(solicited!(Decrypt::new(id, key, SEALED_IV, src, dst, self.tag.slice(0, 16)), solicit)),
                }
            }
            CryptoAlg::Aes128Xts | CryptoAlg::Aes256Xts => {
                let key = key.expect("an XTS key");
                match self.encrypt {
                    true => batch.push(solicited!(Encrypt::xts(id, key, u128::from(id), self.data_unit, src, dst), solicit)),
                    false => batch.push(solicited!(Decrypt::xts(id, key, u128::from(id), self.data_unit, src, dst), solicit)),
                }
            }
            CryptoAlg::Sha256 => batch.push(solicited!(Digest::sha256(id, src, dst), solicit)),
            CryptoAlg::HmacSha256 => {
                batch.push(solicited!(Digest::hmac_sha256(id, key.expect("an HMAC key"), src, dst), solicit))
            }
            CryptoAlg::Crc32c => batch.push(solicited!(Digest::crc32c(id, src, 0), solicit)),
        }
    }

    /// The library doing request `id`'s work on the same buffers; false if it fails (a GCM
    /// tag that does not check).
    pub fn run_direct(&mut self, id: u64, src: &[u8], dst: &mut [u8]) -> bool {
        let mut tag = [0u8; 16];
        if !self.encrypt {
            tag.copy_from_slice(self.tag.as_slice().expect("the tag is idle between runs"));
        }
        let iv = if self.encrypt { request_iv(id) } else { SEALED_IV };
        self.library_crypt(self.encrypt, iv, id, src, dst, &mut tag)
    }

    /// What request `id` writes to its destination, by the library: the device's last output
    /// must equal it (`--verify`). `None` for CRC32C, whose result is in the completion.
    pub fn expected(&mut self, id: u64, src: &[u8], output_len: usize) -> Result<Option<Vec<u8>>, Error> {
        if self.alg == CryptoAlg::Crc32c {
            return Ok(None);
        }
        let mut out = vec![0u8; output_len];
        if !self.run_direct(id, src, &mut out) {
            return Err(Error::Protocol { op: "perf --verify", detail: "the library refused the data" });
        }
        Ok(Some(out))
    }

    fn library_crypt(&self, encrypt: bool, iv: [u8; 12], id: u64, src: &[u8], dst: &mut [u8], tag: &mut [u8]) -> bool {
        match &self.library {
            Library::Gcm(key) => {
                let len = src.len();
                // SAFETY: `src` and `dst` are live slices, disjoint (`&` and `&mut`), `dst` at
                // least `len` bytes; `tag` 16 bytes of its own.
                unsafe {
                    match encrypt {
                        true => key.seal(&iv, &[], src.as_ptr(), dst.as_mut_ptr(), len, tag.as_mut_ptr()),
                        false => key.open(&iv, &[], src.as_ptr(), dst.as_mut_ptr(), len, tag.as_ptr()),
                    }
                }
            }
            Library::Xts(key) => {
                // SAFETY: as above; the data unit divides the length (checked by `validate`).
                unsafe {
                    key.crypt(
                        encrypt,
                        u128::from(id).to_le_bytes(),
                        self.data_unit as usize,
                        src.as_ptr(),
                        dst.as_mut_ptr(),
                        src.len(),
                    )
                }
            }
            Library::Sha256 => {
                dst[..32].copy_from_slice(&library::sha256(src));
                true
            }
            Library::Hmac(key) => {
                dst[..32].copy_from_slice(&key.sign(src));
                true
            }
            Library::Crc32c => {
                dst[0] = library::crc32c(0, src) as u8;
                true
            }
        }
    }
}

/// A fresh IV for each encryption, as a real user must use (the counter of requests).
fn request_iv(id: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&id.to_le_bytes());
    iv
}
