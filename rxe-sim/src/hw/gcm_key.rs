//! An AES-GCM key prepared once (aws-lc's `EVP_AEAD_CTX`), sealing and opening out of place:
//! the device encrypts from a request's input straight into its output, with no copy first
//! (aws-lc-rs offers only in-place sealing). aws-lc cleanses the context when it is freed.

use std::ptr::NonNull;

use accelverbs_uapi::crypto::{GCM_IV_LEN, GCM_TAG_LEN};
use aws_lc_sys as sys;

/// A prepared AES-128-GCM or AES-256-GCM key.
pub struct GcmKey {
    ctx: NonNull<sys::EVP_AEAD_CTX>,
}

// SAFETY: an initialised EVP_AEAD_CTX is only read by seal and open, which aws-lc allows from
// several threads at once (aws-lc-rs's `LessSafeKey` wraps the same context and is `Sync`);
// it is freed once, by `Drop`.
unsafe impl Send for GcmKey {}
// SAFETY: as above.
unsafe impl Sync for GcmKey {}

impl std::fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcmKey")
    }
}

impl GcmKey {
    /// A key from 16 or 32 bytes of material; `None` for another length or if aws-lc fails.
    pub fn new(material: &[u8]) -> Option<Self> {
        let aead = match material.len() {
            // SAFETY: returns a static algorithm description.
            16 => unsafe { sys::EVP_aead_aes_128_gcm() },
            // SAFETY: as above.
            32 => unsafe { sys::EVP_aead_aes_256_gcm() },
            _ => return None,
        };
        // SAFETY: `material` is readable for its length; aws-lc copies the key schedule it
        // derives and returns an owned context or NULL.
        let ctx = unsafe { sys::EVP_AEAD_CTX_new(aead, material.as_ptr(), material.len(), GCM_TAG_LEN) };
        NonNull::new(ctx).map(|ctx| Self { ctx })
    }

    /// Encrypts `len` bytes at `input` into `output` and writes the tag at `tag`.
    ///
    /// # Safety
    /// `input` is readable and `output` writable for `len` bytes, the two ranges being the same
    /// or disjoint; `tag` is writable for 16 bytes and overlaps neither; `aad` overlaps
    /// neither `output` nor `tag`; nothing else accesses these bytes meanwhile.
    pub unsafe fn seal(
        &self,
        nonce: &[u8; GCM_IV_LEN],
        aad: &[u8],
        input: *const u8,
        output: *mut u8,
        len: usize,
        tag: *mut u8,
    ) -> bool {
        let mut tag_len = 0usize;
        // SAFETY: the caller's contract covers every range; the context is live.
        let ok = unsafe {
            sys::EVP_AEAD_CTX_seal_scatter(
                self.ctx.as_ptr(),
                output,
                tag,
                &mut tag_len,
                GCM_TAG_LEN,
                nonce.as_ptr(),
                GCM_IV_LEN,
                input,
                len,
                std::ptr::null(),
                0,
                aad.as_ptr(),
                aad.len(),
            )
        };
        ok == 1 && tag_len == GCM_TAG_LEN
    }

    /// Decrypts `len` bytes at `input` into `output` if the 16-byte tag at `tag` authenticates
    /// them; `false` otherwise (the output then holds nothing of use: the caller clears it).
    ///
    /// # Safety
    /// As [`GcmKey::seal`], with `tag` readable.
    pub unsafe fn open(
        &self,
        nonce: &[u8; GCM_IV_LEN],
        aad: &[u8],
        input: *const u8,
        output: *mut u8,
        len: usize,
        tag: *const u8,
    ) -> bool {
        // SAFETY: the caller's contract covers every range; the context is live.
        let ok = unsafe {
            sys::EVP_AEAD_CTX_open_gather(
                self.ctx.as_ptr(),
                output,
                nonce.as_ptr(),
                GCM_IV_LEN,
                input,
                len,
                tag,
                GCM_TAG_LEN,
                aad.as_ptr(),
                aad.len(),
            )
        };
        ok == 1
    }
}

impl Drop for GcmKey {
    fn drop(&mut self) {
        // SAFETY: the context came from EVP_AEAD_CTX_new and is freed once; aws-lc cleanses it.
        unsafe { sys::EVP_AEAD_CTX_free(self.ctx.as_ptr()) }
    }
}
