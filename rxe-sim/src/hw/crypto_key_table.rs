//! The device's crypto keys: number → key. The material is copied in once, at creation, into
//! memory that is zeroed when the key is destroyed (which waits for a request using it to end:
//! requests read the table through a [`KeyView`], `read_mostly.rs`); nothing prints it.
//! Unknown, stale and other-PD numbers are refused like bad memory keys.

use accelverbs_kernel_abi::{CryptoKeySetup, Errno};
use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::crypto::KeyAlgorithm;
use aws_lc_rs::hmac;
use aws_lc_rs::key_wrap::{self, KeyEncryptionKey, KeyWrapPadded};
use zeroize::Zeroizing;

use super::gcm_key::GcmKey;
use super::key_slots::KeySlots;
use super::read_mostly::{ReadMostly, View};
use super::xts_key::XtsKey;

/// One key.
pub struct SoftKey {
    pub pdn: u32,
    pub algorithm: KeyAlgorithm,
    material: Zeroizing<Vec<u8>>,
    /// AES-GCM's prepared key, built once at creation (aws-lc cleanses it when dropped).
    gcm: Option<GcmKey>,
    /// AES-XTS's, likewise (its library cleanses it).
    xts: Option<XtsKey>,
    /// HMAC-SHA-256's prepared key, likewise.
    hmac: Option<hmac::Key>,
}

impl std::fmt::Debug for SoftKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftKey").field("pdn", &self.pdn).field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl SoftKey {
    /// The material, for the operation that uses the key.
    pub fn material(&self) -> &[u8] {
        &self.material
    }

    /// The AES-GCM key, for an AES-GCM key.
    pub fn gcm(&self) -> Option<&GcmKey> {
        self.gcm.as_ref()
    }

    /// The AES-XTS key, for an AES-XTS key.
    pub fn xts(&self) -> Option<&XtsKey> {
        self.xts.as_ref()
    }

    /// The HMAC key, for an HMAC-SHA-256 key.
    pub fn hmac(&self) -> Option<&hmac::Key> {
        self.hmac.as_ref()
    }
}

/// The table.
#[derive(Debug)]
pub struct CryptoKeyTable {
    /// Read on every request that names a key; written only by create and destroy.
    inner: ReadMostly<KeySlots<SoftKey>>,
}

/// The table as a pass reads it.
#[derive(Debug)]
pub struct KeyView<'t>(View<'t, KeySlots<SoftKey>>);

impl KeyView<'_> {
    /// Between requests: lets a waiting create or destroy in.
    pub fn yield_to_writers(&mut self) {
        self.0.yield_to_writers();
    }

    /// The key `number` names, for a QP of PD `pdn`.
    pub fn resolve(&self, number: u32, pdn: u32) -> Result<&SoftKey, VendorError> {
        let key = self.0.get(number).map_err(|_| VendorError::KeyUnknown)?;
        if key.pdn != pdn {
            return Err(VendorError::PdMismatch);
        }
        Ok(key)
    }
}

impl CryptoKeyTable {
    pub fn new(max: u32) -> Self {
        Self { inner: ReadMostly::new(KeySlots::new(max)) }
    }

    /// The table for a pass.
    pub fn view(&self) -> KeyView<'_> {
        KeyView(self.inner.view())
    }

    pub fn create(&self, setup: CryptoKeySetup<'_>) -> Result<u32, Errno> {
        // A wrapped key: unwrapped here, into memory zeroed when this call is done with it.
        let unwrapped;
        let material = match setup.wrapped_by {
            None => setup.material,
            Some(kek) => {
                unwrapped = self.unwrap(kek, setup.pdn, setup.material)?;
                if !setup.algorithm.accepts(&unwrapped) {
                    return Err(Errno::EINVAL);
                }
                &unwrapped[..]
            }
        };
        let setup = CryptoKeySetup { material, wrapped_by: None, ..setup };
        let gcm = match setup.algorithm {
            KeyAlgorithm::Aes128Gcm | KeyAlgorithm::Aes256Gcm => Some(GcmKey::new(setup.material).ok_or(Errno::EINVAL)?),
            _ => None,
        };
        let xts = match setup.algorithm {
            KeyAlgorithm::Aes128Xts | KeyAlgorithm::Aes256Xts => Some(XtsKey::new(setup.material).ok_or(Errno::EINVAL)?),
            _ => None,
        };
        let hmac = (setup.algorithm == KeyAlgorithm::HmacSha256).then(|| hmac::Key::new(hmac::HMAC_SHA256, setup.material));
        let material = Zeroizing::new(setup.material.to_vec());
        let key = SoftKey { pdn: setup.pdn, algorithm: setup.algorithm, material, gcm, xts, hmac };
        self.inner.write().insert(|_| key)
    }

    /// Unwraps `wrapped` (RFC 5649) under key-encryption key `kek` of PD `pdn`: `EINVAL` for a
    /// key that is not one, `EBADMSG` for a wrapping that does not authenticate.
    fn unwrap(&self, kek: u32, pdn: u32, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, Errno> {
        let view = self.view();
        let kek = view.resolve(kek, pdn).map_err(|_| Errno::EINVAL)?;
        let cipher = match kek.algorithm {
            KeyAlgorithm::AesKeyWrap128 => &key_wrap::AES_128,
            KeyAlgorithm::AesKeyWrap256 => &key_wrap::AES_256,
            _ => return Err(Errno::EINVAL),
        };
        // Zeroed on drop, like the key-encryption key aws-lc builds from the material.
        let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
        let kek = KeyEncryptionKey::new(cipher, kek.material()).map_err(|_| Errno::EINVAL)?;
        let len = kek.unwrap_with_padding(wrapped, &mut out).map_err(|_| Errno::EBADMSG)?.len();
        out.truncate(len);
        Ok(out)
    }

    /// The PD of key `number`.
    pub fn pdn(&self, number: u32) -> Option<u32> {
        self.view().0.get(number).ok().map(|k| k.pdn)
    }

    /// Removes the key and zeroes its material, once no request is using it.
    pub fn destroy(&self, number: u32) {
        let removed = self.inner.write().remove(number);
        drop(removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key-encryption key: no library call to make it (these tests also run under Miri).
    /// Material of 32 bytes.
    fn setup(material: &[u8]) -> CryptoKeySetup<'_> {
        CryptoKeySetup { pdn: 3, ctx_id: 1, algorithm: KeyAlgorithm::AesKeyWrap256, material, wrapped_by: None }
    }

    #[test]
    fn a_key_resolves_only_in_its_pd_and_never_after_destroy() {
        let table = CryptoKeyTable::new(4);
        let material: Vec<u8> = (0..32).collect();
        let n = table.create(setup(&material)).unwrap();
        let view = table.view();
        let key = view.resolve(n, 3).unwrap();
        assert_eq!((key.algorithm, key.material()), (KeyAlgorithm::AesKeyWrap256, &material[..]));
        assert!(key.gcm().is_none() && key.xts().is_none() && key.hmac().is_none());
        assert_eq!(view.resolve(n, 4).err(), Some(VendorError::PdMismatch));
        // A view held across a destroy would hold it up: a pass holds one only between requests.
        drop(view);
        table.destroy(n);
        assert_eq!(table.view().resolve(n, 3).err(), Some(VendorError::KeyUnknown));
        let again = table.create(setup(&material)).unwrap();
        assert_ne!(again, n, "a number is never issued twice");
    }

    #[test]
    fn debug_never_prints_the_material() {
        let table = CryptoKeyTable::new(4);
        let n = table.create(setup(&[0xAB; 32])).unwrap();
        let shown = format!("{:?} {:?}", table.view().resolve(n, 3).unwrap(), table);
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab, ab"), "{shown}");
    }

    #[test]
    #[cfg_attr(miri, ignore = "aws-lc is C: Miri cannot call it")]
    fn an_aes_gcm_key_is_expanded_once_at_creation() {
        let table = CryptoKeyTable::new(4);
        let material = [9u8; 32];
        let n = table
            .create(CryptoKeySetup {
                pdn: 1,
                ctx_id: 1,
                algorithm: KeyAlgorithm::Aes256Gcm,
                material: &material,
                wrapped_by: None,
            })
            .unwrap();
        assert!(table.view().resolve(n, 1).unwrap().gcm().is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let table = CryptoKeyTable::new(2);
        table.create(setup(&[1; 32])).unwrap();
        table.create(setup(&[2; 32])).unwrap();
        assert_eq!(table.create(setup(&[3; 32])).err(), Some(Errno::ENOMEM));
    }
}
