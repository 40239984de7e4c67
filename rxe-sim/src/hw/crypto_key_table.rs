//! The device's crypto keys: number → key. The material is copied in once, at creation, into
//! memory that is zeroed when the last holder lets the key go (destroy, or the end of the pass
//! that used it: a pass looks a key up once, through its [`KeyView`]); nothing prints it.
//! Unknown, stale and other-PD numbers are refused like bad memory keys.

use std::cell::RefCell;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use accelverbs_kernel_abi::{CryptoKeySetup, Errno};
use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::crypto::KeyAlgorithm;
use aws_lc_rs::hmac;
use aws_lc_rs::key_wrap::{self, KeyEncryptionKey, KeyWrapPadded};
use zeroize::Zeroizing;

use super::gcm_key::GcmKey;
use super::key_slots::KeySlots;
use super::xts_key::XtsKey;

/// One key.
pub struct SoftKey {
    /// Its device number.
    pub number: u32,
    pub pdn: u32,
    pub algorithm: KeyAlgorithm,
    material: Zeroizing<Vec<u8>>,
    /// AES-GCM's prepared key, built once at creation (zeroed when dropped).
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

/// The table as a pass reads it: the keys the pass has named so far, held until it ends.
#[derive(Debug)]
pub struct KeyView<'t> {
    table: &'t CryptoKeyTable,
    held: RefCell<Vec<Arc<SoftKey>>>,
}

impl KeyView<'_> {
    /// Lets go of every key held (later WQEs look theirs up again): before an engine publishes
    /// part of a pass, so a key whose requests completed is not busy (`in_use`) to destroy.
    pub fn let_go(&mut self) {
        self.held.get_mut().clear();
    }

    /// Lets go of what the view holds, and returns its buffer.
    pub fn into_buffer(self) -> Vec<Arc<SoftKey>> {
        let mut buffer = self.held.into_inner();
        buffer.clear();
        buffer
    }

    /// The key `number` names, for a QP of PD `pdn`, held until the pass ends.
    pub fn resolve(&self, number: u32, pdn: u32) -> Result<&SoftKey, VendorError> {
        let found = self.held.borrow().iter().find(|k| k.number == number).map(Arc::as_ptr);
        let key = match found {
            Some(key) => key,
            None => {
                let key = self.table.resolve(number, pdn)?;
                let ptr = Arc::as_ptr(&key);
                self.held.borrow_mut().push(key);
                ptr
            }
        };
        // SAFETY: `held` keeps the key's `Arc` until the view is dropped or `let_go` empties
        // it: `resolve` only pushes to it, and the returned borrow of the view outlives
        // neither (`let_go` takes the view mutably); the key is never written after creation.
        let key = unsafe { &*key };
        match key.pdn == pdn {
            true => Ok(key),
            false => Err(VendorError::PdMismatch),
        }
    }
}

/// The table.
#[derive(Debug)]
pub struct CryptoKeyTable {
    /// Read on every request that names a key; written only by create and destroy.
    inner: RwLock<KeySlots<Arc<SoftKey>>>,
}

impl CryptoKeyTable {
    pub fn new(max: u32) -> Self {
        Self { inner: RwLock::new(KeySlots::new(max)) }
    }

    /// The table for a pass; `buffer` (empty) holds what it looks up, as for `MrTable::view`.
    pub fn view(&self, buffer: Vec<Arc<SoftKey>>) -> KeyView<'_> {
        debug_assert!(buffer.is_empty());
        KeyView { table: self, held: RefCell::new(buffer) }
    }

    /// Installs a key, its library's state prepared: `EINVAL` for unwrapped material the
    /// algorithm does not take, `ENOMEM` with the table full or that state not allocated,
    /// `EOPNOTSUPP` for AES-GCM when intel-ipsec-mb cannot run here (`GcmKey::new`).
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
            KeyAlgorithm::Aes128Gcm | KeyAlgorithm::Aes256Gcm => Some(GcmKey::new(setup.material)?),
            _ => None,
        };
        let xts = match setup.algorithm {
            KeyAlgorithm::Aes128Xts | KeyAlgorithm::Aes256Xts => Some(XtsKey::new(setup.material)?),
            _ => None,
        };
        let hmac = (setup.algorithm == KeyAlgorithm::HmacSha256).then(|| hmac::Key::new(hmac::HMAC_SHA256, setup.material));
        let material = Zeroizing::new(setup.material.to_vec());
        let pdn = setup.pdn;
        self.write().insert(|number| Arc::new(SoftKey { number, pdn, algorithm: setup.algorithm, material, gcm, xts, hmac }))
    }

    /// Unwraps `wrapped` (RFC 5649) under key-encryption key `kek` of PD `pdn`: `EINVAL` for a
    /// key that is not one, `EBADMSG` for a wrapping that does not authenticate.
    fn unwrap(&self, kek: u32, pdn: u32, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, Errno> {
        let kek = self.resolve(kek, pdn).map_err(|_| Errno::EINVAL)?;
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

    /// The key `number` names, for a QP of PD `pdn`.
    pub fn resolve(&self, number: u32, pdn: u32) -> Result<Arc<SoftKey>, VendorError> {
        let key = Arc::clone(self.read().get(number).map_err(|_| VendorError::KeyUnknown)?);
        if key.pdn != pdn {
            return Err(VendorError::PdMismatch);
        }
        Ok(key)
    }

    /// The PD of key `number`.
    pub fn pdn(&self, number: u32) -> Option<u32> {
        self.read().get(number).ok().map(|k| k.pdn)
    }

    /// Whether a request is running with key `number` (it holds the key while it runs).
    pub fn in_use(&self, number: u32) -> bool {
        self.read().get(number).is_ok_and(|k| Arc::strong_count(k) > 1)
    }

    /// Removes the key; its material is zeroed now, or when a request still using it ends.
    pub fn destroy(&self, number: u32) {
        let removed = self.write().remove(number);
        drop(removed);
    }

    fn read(&self) -> RwLockReadGuard<'_, KeySlots<Arc<SoftKey>>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, KeySlots<Arc<SoftKey>>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
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
        let key = table.resolve(n, 3).unwrap();
        assert_eq!((key.algorithm, key.material()), (KeyAlgorithm::AesKeyWrap256, &material[..]));
        assert!(key.gcm().is_none() && key.xts().is_none() && key.hmac().is_none());
        assert_eq!(table.resolve(n, 4).err(), Some(VendorError::PdMismatch));
        table.destroy(n);
        assert_eq!(table.resolve(n, 3).err(), Some(VendorError::KeyUnknown));
        let again = table.create(setup(&material)).unwrap();
        assert_ne!(again, n, "a number is never issued twice");
    }

    #[test]
    fn debug_never_prints_the_material() {
        let table = CryptoKeyTable::new(4);
        let n = table.create(setup(&[0xAB; 32])).unwrap();
        let shown = format!("{:?} {:?}", table.resolve(n, 3).unwrap(), table);
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab, ab"), "{shown}");
    }

    #[test]
    #[cfg_attr(miri, ignore = "intel-ipsec-mb is C: Miri cannot call it")]
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
        assert!(table.resolve(n, 1).unwrap().gcm().is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let table = CryptoKeyTable::new(2);
        table.create(setup(&[1; 32])).unwrap();
        table.create(setup(&[2; 32])).unwrap();
        assert_eq!(table.create(setup(&[3; 32])).err(), Some(Errno::ENOMEM));
    }
}
