//! The device's crypto keys: number → key. The material is copied in once, at creation, into
//! memory that is zeroed when the last holder lets the key go (destroy, or the end of a request
//! that was using it); nothing prints it. Unknown, stale and other-PD numbers are refused like
//! bad memory keys.

use std::sync::{Arc, Mutex, MutexGuard};

use accelverbs_kernel_abi::{CryptoKeySetup, Errno};
use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::crypto::KeyAlgorithm;
use zeroize::Zeroizing;

use super::key_slots::KeySlots;

/// One key.
pub struct SoftKey {
    pub pdn: u32,
    pub algorithm: KeyAlgorithm,
    material: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SoftKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftKey").field("pdn", &self.pdn).field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl SoftKey {
    /// The material, for the operation that uses the key.
    // The crypto operations (issue 8's next slice) are its users; the tests below already are.
    #[allow(dead_code)]
    pub fn material(&self) -> &[u8] {
        &self.material
    }
}

/// The table.
#[derive(Debug)]
pub struct CryptoKeyTable {
    inner: Mutex<KeySlots<Arc<SoftKey>>>,
}

impl CryptoKeyTable {
    pub fn new(max: u32) -> Self {
        Self { inner: Mutex::new(KeySlots::new(max)) }
    }

    pub fn create(&self, setup: CryptoKeySetup<'_>) -> Result<u32, Errno> {
        let key =
            Arc::new(SoftKey { pdn: setup.pdn, algorithm: setup.algorithm, material: Zeroizing::new(setup.material.to_vec()) });
        self.lock().insert(|_| key)
    }

    /// The key `number` names, for a QP of PD `pdn`.
    // The crypto operations (issue 8's next slice) are its users; the tests below already are.
    #[allow(dead_code)]
    pub fn resolve(&self, number: u32, pdn: u32) -> Result<Arc<SoftKey>, VendorError> {
        let key = Arc::clone(self.lock().get(number).map_err(|_| VendorError::KeyUnknown)?);
        if key.pdn != pdn {
            return Err(VendorError::PdMismatch);
        }
        Ok(key)
    }

    /// Removes the key; its material is zeroed now, or when a request still using it ends.
    pub fn destroy(&self, number: u32) {
        let removed = self.lock().remove(number);
        drop(removed);
    }

    fn lock(&self) -> MutexGuard<'_, KeySlots<Arc<SoftKey>>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(material: &[u8]) -> CryptoKeySetup<'_> {
        CryptoKeySetup { pdn: 3, ctx_id: 1, algorithm: KeyAlgorithm::Aes128Gcm, material }
    }

    #[test]
    fn a_key_resolves_only_in_its_pd_and_never_after_destroy() {
        let table = CryptoKeyTable::new(4);
        let material = [7u8; 16];
        let n = table.create(setup(&material)).unwrap();
        let key = table.resolve(n, 3).unwrap();
        assert_eq!((key.algorithm, key.material()), (KeyAlgorithm::Aes128Gcm, &material[..]));
        assert_eq!(table.resolve(n, 4).err(), Some(VendorError::PdMismatch));
        table.destroy(n);
        assert_eq!(table.resolve(n, 3).err(), Some(VendorError::KeyUnknown));
        let again = table.create(setup(&material)).unwrap();
        assert_ne!(again, n, "a number is never issued twice");
    }

    #[test]
    fn debug_never_prints_the_material() {
        let table = CryptoKeyTable::new(4);
        let n = table.create(setup(&[0xAB; 16])).unwrap();
        let shown = format!("{:?} {:?}", table.resolve(n, 3).unwrap(), table);
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab, ab"), "{shown}");
    }

    #[test]
    fn the_table_is_bounded() {
        let table = CryptoKeyTable::new(2);
        table.create(setup(&[1; 16])).unwrap();
        table.create(setup(&[2; 16])).unwrap();
        assert_eq!(table.create(setup(&[3; 16])).err(), Some(Errno::ENOMEM));
    }
}
