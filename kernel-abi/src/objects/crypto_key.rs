//! Crypto keys, the device-private key objects (like mlx5's DEKs): material passed once at
//! creation for a declared algorithm, then named in work requests by a device number only.
//! Scoped to a PD (a QP of another PD naming it gets a protection error), counted against the
//! device's limit, zeroed and removed on destroy and with its ucontext.

use alloc::sync::Arc;

use accelverbs_uapi::crypto::{wrapped_length_ok, KeyAlgorithm};

use crate::objects::Pd;
use crate::{CryptoKeySetup, Errno, Hardware, ResourceGuard};

/// A crypto key. Holds no material: the device has it.
pub struct CryptoKey<H: Hardware> {
    pd: Arc<Pd<H>>,
    number: u32,
    algorithm: KeyAlgorithm,
    _count: ResourceGuard,
}

impl<H: Hardware> core::fmt::Debug for CryptoKey<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CryptoKey").field("number", &self.number).field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl<H: Hardware> Pd<H> {
    /// CREATE of a crypto key for `algorithm` from `material`: `EINVAL` for an unknown
    /// algorithm or material it does not accept (its lengths; XTS halves that are equal). With
    /// `wrapping_key`, `material` is wrapped under it (RFC 5649): the key must be a
    /// key-encryption key of this PD (`EINVAL`), and the device checks the material it unwraps.
    pub fn create_crypto_key(
        self: &Arc<Self>,
        algorithm: u32,
        material: &[u8],
        wrapping_key: Option<&CryptoKey<H>>,
    ) -> Result<Arc<CryptoKey<H>>, Errno> {
        let driver = &self.ctx.driver;
        let algorithm = KeyAlgorithm::try_from(algorithm).map_err(|_| Errno::EINVAL)?;
        let wrapped_by = match wrapping_key {
            None if !algorithm.accepts(material) => return Err(Errno::EINVAL),
            None => None,
            Some(kek) => {
                if !kek.algorithm.wraps_keys() || !Arc::ptr_eq(&kek.pd, self) || !wrapped_length_ok(material.len()) {
                    return Err(Errno::EINVAL);
                }
                Some(kek.number)
            }
        };
        let count = driver.counters.crypto_keys.acquire()?;
        let setup = CryptoKeySetup { pdn: self.pdn, ctx_id: self.ctx.id, algorithm, material, wrapped_by };
        let number = driver.hw.create_crypto_key(setup)?;
        self.usecnt.inc();
        Ok(Arc::new(CryptoKey { pd: Arc::clone(self), number, algorithm, _count: count }))
    }
}

impl<H: Hardware> CryptoKey<H> {
    /// The device number WQEs name it by.
    pub fn number(&self) -> u32 {
        self.number
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// DESTROY precondition: `EBUSY` while a posted work request names the key or one is
    /// running with it.
    pub fn check_destroy(&self) -> Result<(), Errno> {
        if self.pd.ctx.driver.hw.crypto_key_busy(self.number) {
            return Err(Errno::EBUSY);
        }
        Ok(())
    }
}

impl<H: Hardware> Drop for CryptoKey<H> {
    fn drop(&mut self) {
        self.pd.ctx.driver.hw.destroy_crypto_key(self.number);
        self.pd.usecnt.dec();
    }
}
