//! Crypto keys held by the device (like mlx5's DEKs): the material is handed over once, at
//! creation, and work requests name the key by number. The provider keeps no copy: the device
//! reads the caller's bytes during the create call and zeroes its own copy when the key goes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use accelverbs_uapi::crypto::KeyAlgorithm;
use accelverbs_uapi::ids::{crypto_key, object};

use crate::ioctl::Command;
use crate::pd::PdInner;
use crate::{Error, Pd};

#[derive(Debug)]
pub(crate) struct KeyInner {
    pd: Arc<PdInner>,
    handle: u32,
    pub number: u32,
    pub algorithm: KeyAlgorithm,
    /// Destroyed explicitly already (`CryptoKey::try_destroy`).
    destroyed: AtomicBool,
}

impl KeyInner {
    pub fn belongs_to(&self, ctx: &Arc<crate::context::ContextInner>) -> bool {
        Arc::ptr_eq(&self.pd.ctx, ctx)
    }
}

impl Drop for KeyInner {
    fn drop(&mut self) {
        if *self.destroyed.get_mut() {
            return;
        }
        let mut cmd = Command::new(object::CRYPTO_KEY, crypto_key::METHOD_DESTROY);
        cmd.handle(crypto_key::ATTR_HANDLE, self.handle);
        // The last holder is gone; a refusal leaves it to the context's close, which destroys
        // (and zeroes) what is left.
        let _ = self.pd.ctx.call(&mut cmd);
    }
}

/// A key on the device. `Debug` shows its number and algorithm, never material (it has none).
#[derive(Debug)]
pub struct CryptoKey {
    pub(crate) inner: Arc<KeyInner>,
}

impl<B> Pd<B> {
    /// Installs `material` as a key for `algorithm` in this PD: `EINVAL` for material the
    /// algorithm does not take (see [`KeyAlgorithm::accepts`]), `ENOMEM` past the device's
    /// `max_crypto_keys` or when it cannot allocate the key's state, `EOPNOTSUPP` for AES-GCM
    /// if the device's library cannot run. The caller's bytes are read during this call only.
    pub fn create_crypto_key(&self, algorithm: KeyAlgorithm, material: &[u8]) -> Result<CryptoKey, Error> {
        // Refused here too, so no malformed material travels at all.
        if !algorithm.accepts(material) {
            return Err(Error::Verbs { op: "create_crypto_key", errno: libc::EINVAL });
        }
        self.install_key(algorithm, material, None)
    }

    /// Installs a key whose material arrives wrapped (AES key wrap with padding, RFC 5649)
    /// under `kek`, a key-encryption key (`KeyAlgorithm::AesKeyWrap*`) of this PD: plaintext
    /// key material never crosses the ABI. `EBADMSG` if the wrapping does not authenticate under
    /// `kek`, `EINVAL` for a `kek` that is not one or material `algorithm` does not take.
    pub fn create_wrapped_crypto_key(
        &self,
        algorithm: KeyAlgorithm,
        kek: &CryptoKey,
        wrapped: &[u8],
    ) -> Result<CryptoKey, Error> {
        if !Arc::ptr_eq(&kek.inner.pd, &self.inner) {
            return Err(Error::WrongContext { op: "create_crypto_key", object: "key-encryption key" });
        }
        self.install_key(algorithm, wrapped, Some(kek))
    }

    fn install_key(&self, algorithm: KeyAlgorithm, material: &[u8], kek: Option<&CryptoKey>) -> Result<CryptoKey, Error> {
        let mut number = 0u32;
        let mut cmd = Command::new(object::CRYPTO_KEY, crypto_key::METHOD_CREATE);
        let h = cmd.new_object(crypto_key::ATTR_HANDLE);
        cmd.handle(crypto_key::ATTR_CREATE_PD_HANDLE, self.inner.handle)
            .input_u32(crypto_key::ATTR_CREATE_ALGORITHM, algorithm as u32)
            .input(crypto_key::ATTR_CREATE_MATERIAL, material)
            .output(crypto_key::ATTR_CREATE_RESP_NUMBER, &mut number);
        if let Some(kek) = kek {
            cmd.handle(crypto_key::ATTR_CREATE_WRAPPING_KEY, kek.inner.handle);
        }
        self.inner.ctx.run("create_crypto_key", &mut cmd)?;
        let handle = cmd.new_handle(h);
        Ok(CryptoKey {
            inner: Arc::new(KeyInner {
                pd: Arc::clone(&self.inner),
                handle,
                number,
                algorithm,
                destroyed: AtomicBool::new(false),
            }),
        })
    }
}

impl CryptoKey {
    /// The device number requests name it by.
    pub fn number(&self) -> u32 {
        self.inner.number
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.inner.algorithm
    }

    /// Destroys the key now (the device zeroes its material): `EBUSY` while a posted request
    /// that names it has not run, and then the key stays usable. Dropping the key instead
    /// destroys it once the requests holding it retire.
    pub fn try_destroy(&self) -> Result<(), Error> {
        let mut cmd = Command::new(object::CRYPTO_KEY, crypto_key::METHOD_DESTROY);
        cmd.handle(crypto_key::ATTR_HANDLE, self.inner.handle);
        self.inner.pd.ctx.run("destroy_crypto_key", &mut cmd)?;
        self.inner.destroyed.store(true, Ordering::Relaxed);
        Ok(())
    }
}
