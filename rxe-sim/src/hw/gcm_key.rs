//! An AES-GCM key prepared once, in aws-lc, sealing and opening out of place: the device
//! encrypts from a request's input straight into its output, with no copy first (aws-lc-rs
//! offers only in-place sealing). One contiguous input goes through the one-shot `EVP_AEAD_CTX`
//! (the fastest call); an input or output cut into pieces (SGE lists) streams through a copy of
//! a prepared `EVP_CIPHER_CTX`, piece by piece, still with no copy of the data. aws-lc cleanses
//! both contexts when they are freed.

use std::ptr::NonNull;

use accelverbs_uapi::crypto::{GCM_IV_LEN, GCM_TAG_LEN};
use aws_lc_sys as sys;

/// aws-lc's cipher calls count in `int`: longer data and AAD are fed in parts of this size.
const PART: usize = 1 << 30;

/// A prepared AES-128-GCM or AES-256-GCM key.
pub struct GcmKey {
    ctx: NonNull<sys::EVP_AEAD_CTX>,
    /// The same key in a cipher context, for [`GcmKey::stream`]: written only by `new`.
    cipher: Cipher,
}

// SAFETY: an initialised EVP_AEAD_CTX is only read by seal and open, which aws-lc allows from
// several threads at once (aws-lc-rs's `LessSafeKey` wraps the same context and is `Sync`);
// the cipher context is only copied after `new` (a read). Both are freed once, by `Drop`.
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
        let ctx = NonNull::new(unsafe { sys::EVP_AEAD_CTX_new(aead, material.as_ptr(), material.len(), GCM_TAG_LEN) })?;
        let Some(cipher) = Cipher::new(material) else {
            // SAFETY: made just above, freed once.
            unsafe { sys::EVP_AEAD_CTX_free(ctx.as_ptr()) };
            return None;
        };
        Some(Self { ctx, cipher })
    }

    /// A stream for one request, its IV and AAD taken: `update` runs the data in pieces,
    /// `seal` or `open` ends it. `None` if aws-lc fails.
    pub fn stream(&self, encrypt: bool, nonce: &[u8; GCM_IV_LEN], aad: &[u8]) -> Option<GcmStream> {
        let work = self.cipher.copy()?;
        // SAFETY: `work` is this request's own context; a NULL cipher and key keep the
        // prepared ones; the nonce is 12 bytes (GCM's default IV length).
        let ok = unsafe {
            sys::EVP_CipherInit_ex(
                work.ptr(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null(),
                nonce.as_ptr(),
                i32::from(encrypt),
            )
        };
        if ok != 1 {
            return None;
        }
        for part in aad.chunks(PART) {
            let mut written = 0;
            // SAFETY: `part` is readable for its length (at most `PART`, which fits an int); a
            // NULL output makes the update authenticate it only.
            let ok = unsafe {
                sys::EVP_CipherUpdate(work.ptr(), std::ptr::null_mut(), &mut written, part.as_ptr(), part.len() as i32)
            };
            if ok != 1 {
                return None;
            }
        }
        Some(GcmStream(work))
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
/// An AES-GCM cipher context (`EVP_aes_{128,256}_gcm`), freed, and cleansed, by aws-lc.
struct Cipher(NonNull<sys::EVP_CIPHER_CTX>);

impl Cipher {
    /// The key set, for encryption (a request sets its own direction with its IV).
    fn new(material: &[u8]) -> Option<Self> {
        let cipher = match material.len() {
            // SAFETY: returns a static algorithm description.
            16 => unsafe { sys::EVP_aes_128_gcm() },
            // SAFETY: as above.
            32 => unsafe { sys::EVP_aes_256_gcm() },
            _ => return None,
        };
        // SAFETY: a fresh context, owned by the value made next (which frees it).
        let ctx = Cipher(NonNull::new(unsafe { sys::EVP_CIPHER_CTX_new() })?);
        // SAFETY: `material` is as long as the cipher's key (matched above); aws-lc copies
        // the schedule it derives; no IV yet.
        let ok = unsafe {
            sys::EVP_CipherInit_ex(ctx.0.as_ptr(), cipher, std::ptr::null_mut(), material.as_ptr(), std::ptr::null(), 1)
        };
        (ok == 1).then_some(ctx)
    }

    fn ptr(&self) -> *mut sys::EVP_CIPHER_CTX {
        self.0.as_ptr()
    }

    fn copy(&self) -> Option<Self> {
        // SAFETY: a fresh context, owned by the value made next.
        let copy = Cipher(NonNull::new(unsafe { sys::EVP_CIPHER_CTX_new() })?);
        // SAFETY: copying only reads the prepared context, which nobody writes after `new`.
        (unsafe { sys::EVP_CIPHER_CTX_copy(copy.0.as_ptr(), self.0.as_ptr()) } == 1).then_some(copy)
    }
}

impl Drop for Cipher {
    fn drop(&mut self) {
        // SAFETY: freed once; aws-lc cleanses the key schedule.
        unsafe { sys::EVP_CIPHER_CTX_free(self.0.as_ptr()) }
    }
}

/// One request's AES-GCM, fed in pieces.
pub struct GcmStream(Cipher);

impl std::fmt::Debug for GcmStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcmStream")
    }
}

impl GcmStream {
    /// Encrypts (or decrypts) the next `len` bytes of the data, from `input` into `output`;
    /// false if aws-lc fails.
    ///
    /// # Safety
    /// `input` is readable and `output` writable for `len` bytes, the two ranges being the same
    /// or disjoint, and nothing else accesses them meanwhile.
    pub unsafe fn update(&mut self, input: *const u8, output: *mut u8, len: usize) -> bool {
        let mut done = 0;
        while done < len {
            let part = (len - done).min(PART);
            let mut written = 0;
            // SAFETY: the part lies inside both ranges (caller's contract); GCM writes
            // exactly as many bytes as it reads.
            let ok = unsafe { sys::EVP_CipherUpdate(self.0.ptr(), output.add(done), &mut written, input.add(done), part as i32) };
            if ok != 1 || written as usize != part {
                return false;
            }
            done += part;
        }
        true
    }

    /// Ends an encryption: writes the 16-byte tag at `tag`; false if aws-lc fails.
    ///
    /// # Safety
    /// `tag` is writable for 16 bytes and nothing else accesses them meanwhile.
    pub unsafe fn seal(self, tag: *mut u8) -> bool {
        let mut written = 0;
        let mut none = [0u8; 16];
        // SAFETY: GCM's final step writes no data (the buffer is there for the API's sake);
        // the tag is 16 bytes, writable (caller's contract).
        unsafe {
            sys::EVP_CipherFinal_ex(self.0.ptr(), none.as_mut_ptr(), &mut written) == 1
                && sys::EVP_CIPHER_CTX_ctrl(self.0.ptr(), sys::EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN as i32, tag.cast()) == 1
        }
    }

    /// Ends a decryption: whether the 16-byte tag at `tag` authenticates everything fed.
    ///
    /// # Safety
    /// `tag` is readable for 16 bytes.
    pub unsafe fn open(self, tag: *const u8) -> bool {
        let mut expected = [0u8; GCM_TAG_LEN];
        // SAFETY: the caller's contract; copied first, as aws-lc's ctrl takes a mutable pointer.
        unsafe { std::ptr::copy_nonoverlapping(tag, expected.as_mut_ptr(), GCM_TAG_LEN) };
        let mut written = 0;
        let mut none = [0u8; 16];
        // SAFETY: the tag is 16 bytes of our own; the final step writes no data.
        unsafe {
            sys::EVP_CIPHER_CTX_ctrl(self.0.ptr(), sys::EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN as i32, expected.as_mut_ptr().cast())
                == 1
                && sys::EVP_CipherFinal_ex(self.0.ptr(), none.as_mut_ptr(), &mut written) == 1
        }
    }
}

impl Drop for GcmKey {
    fn drop(&mut self) {
        // SAFETY: the context came from EVP_AEAD_CTX_new and is freed once; aws-lc cleanses it.
        unsafe { sys::EVP_AEAD_CTX_free(self.ctx.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streaming in uneven pieces gives the one-shot call's ciphertext and tag, opens again,
    /// and refuses a changed tag.
    #[test]
    #[cfg_attr(miri, ignore = "calls into aws-lc")]
    fn a_stream_in_pieces_matches_the_one_shot_call() {
        for key_len in [16, 32] {
            let key = GcmKey::new(&vec![7u8; key_len]).expect("a key");
            let nonce = [9u8; GCM_IV_LEN];
            let aad = b"header";
            let plain: Vec<u8> = (0..1000u32).map(|i| (i * 31) as u8).collect();
            let (mut whole, mut whole_tag) = (vec![0u8; plain.len()], [0u8; GCM_TAG_LEN]);
            // SAFETY: live, disjoint buffers of the lengths given.
            assert!(unsafe { key.seal(&nonce, aad, plain.as_ptr(), whole.as_mut_ptr(), plain.len(), whole_tag.as_mut_ptr()) });

            let (mut pieces, mut tag) = (vec![0u8; plain.len()], [0u8; GCM_TAG_LEN]);
            let mut stream = key.stream(true, &nonce, aad).expect("a stream");
            let mut at = 0;
            for len in [1, 15, 16, 17, 0, 451, 500] {
                // SAFETY: `at + len` stays within both buffers (the lengths sum to 1000).
                assert!(unsafe { stream.update(plain.as_ptr().add(at), pieces.as_mut_ptr().add(at), len) });
                at += len;
            }
            // SAFETY: a 16-byte buffer of our own.
            assert!(unsafe { stream.seal(tag.as_mut_ptr()) });
            assert_eq!((pieces.clone(), tag), (whole, whole_tag));

            let mut back = vec![0u8; plain.len()];
            let mut stream = key.stream(false, &nonce, aad).expect("a stream");
            // SAFETY: live, disjoint buffers of the length given.
            assert!(unsafe { stream.update(pieces.as_ptr(), back.as_mut_ptr(), plain.len()) });
            // SAFETY: as above.
            assert!(unsafe { stream.open(tag.as_ptr()) });
            assert_eq!(back, plain);

            tag[0] ^= 1;
            let mut stream = key.stream(false, &nonce, aad).expect("a stream");
            // SAFETY: as above.
            assert!(unsafe { stream.update(pieces.as_ptr(), back.as_mut_ptr(), plain.len()) });
            // SAFETY: as above.
            assert!(!unsafe { stream.open(tag.as_ptr()) });
        }
    }
}
