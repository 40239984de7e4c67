//! An AES-XTS key prepared once, in a cipher context per direction; each request works on a
//! copy of it, one data unit at a time, reinitialised with the unit's tweak.
//!
//! Two libraries, chosen by measurement (docs/BENCHMARKS.md, "AES-XTS libraries"): aws-lc for
//! AES-256-XTS, which it runs 1.6–2.0× faster than OpenSSL here; OpenSSL 3 (Debian's
//! libcrypto) for AES-128-XTS, which aws-lc does not offer and which RustCrypto's xts-mode runs
//! at about a twentieth of OpenSSL's speed. Both contexts are freed (and cleansed) by the library.

use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::crypto::KeyAlgorithm;

/// The EVP calls both libraries share, over one library's bindings.
macro_rules! evp_xts {
    ($module:ident, $sys:path, $cipher:ident) => {
        mod $module {
            use std::ptr::NonNull;

            use accelverbs_kernel_abi::Errno;
            use $sys as sys;

            /// A context with the key set for one direction.
            pub struct Prepared(NonNull<sys::EVP_CIPHER_CTX>);

            impl Prepared {
                /// `material` is the two keys, data key first, checked by `XtsKey::new`: what
                /// is left to fail is the library's allocation of its cipher state, `ENOMEM`.
                pub fn new(material: &[u8], encrypt: bool) -> Result<Self, Errno> {
                    // SAFETY: a fresh context, owned by the value returned (or freed below).
                    let ctx = NonNull::new(unsafe { sys::EVP_CIPHER_CTX_new() }).ok_or(Errno::ENOMEM)?;
                    let prepared = Prepared(ctx);
                    // SAFETY: the cipher is a static description; `material` holds the two
                    // keys (the caller checked the length), which the library copies into
                    // its schedule.
                    let ok = unsafe {
                        sys::EVP_CipherInit_ex(
                            ctx.as_ptr(),
                            sys::$cipher(),
                            std::ptr::null_mut(),
                            material.as_ptr(),
                            std::ptr::null(),
                            i32::from(encrypt),
                        )
                    };
                    if ok != 1 {
                        return Err(Errno::ENOMEM);
                    }
                    Ok(prepared)
                }

                /// A copy to work on, for one request.
                pub fn copy(&self) -> Option<Prepared> {
                    // SAFETY: a fresh context, owned by the value returned (or freed below).
                    let ctx = NonNull::new(unsafe { sys::EVP_CIPHER_CTX_new() })?;
                    let copy = Prepared(ctx);
                    // SAFETY: copying only reads the prepared context, which other threads may
                    // copy at the same time but nobody writes after `new`.
                    (unsafe { sys::EVP_CIPHER_CTX_copy(ctx.as_ptr(), self.0.as_ptr()) } == 1).then_some(copy)
                }

                /// Runs one data unit of `len` bytes (at least 16) under `tweak`.
                ///
                /// # Safety
                /// `input` is readable and `output` writable for `len` bytes, one range or
                /// disjoint ones, and nothing else accesses them meanwhile; `self` is a copy.
                pub unsafe fn unit(&mut self, tweak: &[u8; 16], input: *const u8, output: *mut u8, len: usize) -> bool {
                    let Ok(len) = i32::try_from(len) else { return false };
                    let mut written = 0;
                    // SAFETY: the caller's contract; a NULL cipher and key keep the context's,
                    // -1 its direction.
                    unsafe {
                        sys::EVP_CipherInit_ex(
                            self.0.as_ptr(),
                            std::ptr::null(),
                            std::ptr::null_mut(),
                            std::ptr::null(),
                            tweak.as_ptr(),
                            -1,
                        ) == 1
                            && sys::EVP_CipherUpdate(self.0.as_ptr(), output, &mut written, input, len) == 1
                            && written == len
                    }
                }
            }

            impl Drop for Prepared {
                fn drop(&mut self) {
                    // SAFETY: freed once; the library cleanses the key schedule.
                    unsafe { sys::EVP_CIPHER_CTX_free(self.0.as_ptr()) }
                }
            }
        }
    };
}

evp_xts!(aws_lc, aws_lc_sys, EVP_aes_256_xts);
evp_xts!(openssl, openssl_sys, EVP_aes_128_xts);

/// One direction of a prepared key, in its library.
enum Direction {
    Aes128(openssl::Prepared),
    Aes256(aws_lc::Prepared),
}

impl Direction {
    fn new(material: &[u8], encrypt: bool) -> Result<Self, Errno> {
        match material.len() {
            32 => openssl::Prepared::new(material, encrypt).map(Direction::Aes128),
            64 => aws_lc::Prepared::new(material, encrypt).map(Direction::Aes256),
            _ => Err(Errno::EINVAL),
        }
    }

    fn copy(&self) -> Option<Self> {
        match self {
            Direction::Aes128(p) => p.copy().map(Direction::Aes128),
            Direction::Aes256(p) => p.copy().map(Direction::Aes256),
        }
    }

    /// # Safety
    /// As `Prepared::unit`.
    unsafe fn unit(&mut self, tweak: &[u8; 16], input: *const u8, output: *mut u8, len: usize) -> bool {
        // SAFETY: the caller's contract.
        unsafe {
            match self {
                Direction::Aes128(p) => p.unit(tweak, input, output, len),
                Direction::Aes256(p) => p.unit(tweak, input, output, len),
            }
        }
    }
}

/// A prepared AES-128-XTS or AES-256-XTS key.
pub struct XtsKey {
    encrypt: Direction,
    decrypt: Direction,
}

// SAFETY: the prepared contexts are written only while `new` builds them; afterwards requests
// only copy them (a read the libraries allow from several threads at once) and work on the
// copies. They are freed once, by `Drop`.
unsafe impl Send for XtsKey {}
// SAFETY: as above.
unsafe impl Sync for XtsKey {}

impl std::fmt::Debug for XtsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XtsKey")
    }
}

/// The tweak of the data unit after the one `tweak` names: a 128-bit little-endian count
/// (IEEE 1619's data unit sequence number), wrapping.
pub fn next_tweak(tweak: &[u8; 16]) -> [u8; 16] {
    u128::from_le_bytes(*tweak).wrapping_add(1).to_le_bytes()
}

impl XtsKey {
    /// A key from 32 (AES-128-XTS) or 64 (AES-256-XTS) bytes of material, data key first:
    /// `EINVAL` for another length or two equal halves (checked here, so that what the
    /// libraries refuse after it is theirs: `ENOMEM`).
    pub fn new(material: &[u8]) -> Result<Self, Errno> {
        let algorithm = if material.len() == 32 { KeyAlgorithm::Aes128Xts } else { KeyAlgorithm::Aes256Xts };
        if !algorithm.accepts(material) {
            return Err(Errno::EINVAL);
        }
        Ok(Self { encrypt: Direction::new(material, true)?, decrypt: Direction::new(material, false)? })
    }

    /// Encrypts (or decrypts) `len` bytes, `len / data_unit` whole units, the first under
    /// `tweak` and each next one under the next tweak; false if the library fails.
    ///
    /// # Safety
    /// As [`XtsWork::units`].
    pub unsafe fn crypt(
        &self,
        encrypt: bool,
        tweak: [u8; 16],
        data_unit: usize,
        input: *const u8,
        output: *mut u8,
        len: usize,
    ) -> bool {
        let Some(mut work) = self.work(encrypt) else { return false };
        // SAFETY: the caller's contract.
        unsafe { work.units(tweak, data_unit, input, output, len) }
    }

    /// A copy of one direction to work on, for a request that runs its units in several
    /// calls (an SGE list whose pieces cut a unit); `None` if the library fails.
    pub fn work(&self, encrypt: bool) -> Option<XtsWork> {
        let prepared = if encrypt { &self.encrypt } else { &self.decrypt };
        prepared.copy().map(XtsWork)
    }
}

/// One request's copy of a prepared direction.
pub struct XtsWork(Direction);

impl std::fmt::Debug for XtsWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XtsWork")
    }
}

impl XtsWork {
    /// Runs `len` bytes, `len / data_unit` whole units, the first under `tweak` and each next
    /// one under the next tweak; false if the library fails.
    ///
    /// # Safety
    /// `input` is readable and `output` writable for `len` bytes, one range or disjoint ones,
    /// and nothing else accesses them meanwhile; `data_unit` is at least 16 and divides `len`.
    pub unsafe fn units(&mut self, tweak: [u8; 16], data_unit: usize, input: *const u8, output: *mut u8, len: usize) -> bool {
        let mut tweak = tweak;
        for offset in (0..len).step_by(data_unit) {
            // SAFETY: the unit lies inside both ranges (`data_unit` divides `len`); the
            // caller's contract covers the rest.
            if !unsafe { self.0.unit(&tweak, input.add(offset), output.add(offset), data_unit) } {
                return false;
            }
            tweak = next_tweak(&tweak);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tweaks_count_up_little_endian_and_wrap() {
        assert_eq!(next_tweak(&[0; 16])[0], 1);
        let mut carry = [0u8; 16];
        carry[0] = 0xff;
        assert_eq!(&next_tweak(&carry)[..2], &[0, 1]);
        assert_eq!(next_tweak(&[0xff; 16]), [0; 16]);
    }

    /// Material XTS forbids is `EINVAL`, found before the libraries, whose refusals read as
    /// failed allocations: two equal halves, a length of neither key size.
    #[test]
    #[cfg_attr(miri, ignore = "calls into aws-lc and OpenSSL")]
    fn material_xts_forbids_is_einval() {
        assert_eq!(XtsKey::new(&[7u8; 64]).err(), Some(Errno::EINVAL), "equal AES-256 halves");
        assert_eq!(XtsKey::new(&[7u8; 32]).err(), Some(Errno::EINVAL), "equal AES-128 halves");
        let two_keys: Vec<u8> = (0..64).collect();
        assert_eq!(XtsKey::new(&two_keys[..48]).err(), Some(Errno::EINVAL), "48 bytes");
        assert!(XtsKey::new(&two_keys).is_ok() && XtsKey::new(&two_keys[..32]).is_ok());
    }

    /// IEEE 1619-2007 vector 10 (AES-256-XTS, data unit 0xff, 512 bytes) through aws-lc, and
    /// vector 4 (AES-128-XTS, sequence number 0, 512 bytes) through OpenSSL: the ciphertext's
    /// first block, as published; both round-trip. (The integration tests check every byte
    /// against Python's cryptography.)
    #[test]
    #[cfg_attr(miri, ignore = "calls into aws-lc and OpenSSL")]
    fn both_libraries_agree_with_ieee_1619() {
        let plain: Vec<u8> = (0..512).map(|i| i as u8).collect();
        let mut key256 = Vec::new();
        key256.extend_from_slice(&hex("2718281828459045235360287471352662497757247093699959574966967627"));
        key256.extend_from_slice(&hex("3141592653589793238462643383279502884197169399375105820974944592"));
        let mut tweak = [0u8; 16];
        tweak[0] = 0xff;
        let out = run(&key256, tweak, &plain);
        assert_eq!(&out[..16], &hex("1c3b3a102f770386e4836c99e370cf9b"));

        let mut key128 = hex("2718281828459045235360287471352631415926535897932384626433832795");
        let out = run(&key128, [0; 16], &plain);
        assert_eq!(&out[..16], &hex("27a7479befa1d476489f308cd4cfa6e2"));
        key128.clear();
    }

    fn run(key: &[u8], tweak: [u8; 16], plain: &[u8]) -> Vec<u8> {
        let xts = XtsKey::new(key).expect("a key");
        let mut out = vec![0u8; plain.len()];
        // SAFETY: two live, disjoint buffers of `plain.len()` bytes, one unit.
        assert!(unsafe { xts.crypt(true, tweak, plain.len(), plain.as_ptr(), out.as_mut_ptr(), plain.len()) });
        let mut back = vec![0u8; plain.len()];
        // SAFETY: as above.
        assert!(unsafe { xts.crypt(false, tweak, plain.len(), out.as_ptr(), back.as_mut_ptr(), plain.len()) });
        assert_eq!(back, plain);
        out
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
