//! An AES-GCM key prepared once, on intel-ipsec-mb (Debian's libipsec-mb, the library DPDK's
//! AES-GCM device runs on): at 4 KiB it seals in about 410 ns on this machine kind against
//! aws-lc's 500, and 16 bytes in 42 ns against 91 (docs/BENCHMARKS.md, "AES-GCM libraries").
//! Its direct calls take the key's prepared schedule and a per-request context: one contiguous
//! request is one call, in place or out of place; an input or output cut into pieces (SGE
//! lists) streams through init, update and finalize with no copy of the data. The schedule and
//! every context are zeroed when done with (the rule for key material and the
//! library's own key schedule).

use std::ffi::c_void;
use std::sync::{Mutex, PoisonError};

use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::crypto::{GCM_IV_LEN, GCM_TAG_LEN};

use super::ipsec_mb_sys as imb;

// The library itself: Debian's libIPSec_MB.so.1.
#[link(name = "IPSec_MB")]
extern "C" {}

/// The most data one IV may protect: 2^39 − 256 bits (NIST SP 800-38D). The library refuses
/// more only through a per-manager error word the device's threads share, so it is checked here.
pub const GCM_MAX_LEN: u64 = (1 << 36) - 32;

type Pre = unsafe extern "C" fn(*const c_void, *mut imb::gcm_key_data);
type OneShot = unsafe extern "C" fn(
    *const imb::gcm_key_data,
    *mut imb::gcm_context_data,
    *mut u8,
    *const u8,
    u64,
    *const u8,
    *const u8,
    u64,
    *mut u8,
    u64,
);
type Init = unsafe extern "C" fn(*const imb::gcm_key_data, *mut imb::gcm_context_data, *const u8, u64, *const u8, u64);
type Update = unsafe extern "C" fn(*const imb::gcm_key_data, *mut imb::gcm_context_data, *mut u8, *const u8, u64);
type Finalize = unsafe extern "C" fn(*const imb::gcm_key_data, *mut imb::gcm_context_data, *mut u8, u64);

/// One key size's entries of the manager's function table.
#[derive(Clone, Copy)]
struct Calls {
    pre: Pre,
    seal: OneShot,
    open: OneShot,
    init: Init,
    seal_update: Update,
    open_update: Update,
    seal_finalize: Finalize,
    open_finalize: Finalize,
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Calls")
    }
}

/// The calls for AES-128-GCM and AES-256-GCM, taken once from a manager set up for the best
/// code this CPU runs (VAES with AVX-512 here). The manager is kept for the process's life;
/// its table is only read after setup, and the calls keep no state of their own (the key
/// schedule and the context are arguments), so every thread may use them at once.
struct Library {
    aes128: Calls,
    aes256: Calls,
}

/// The library, set up for the first AES-GCM key (a control path: a lock is cheap there).
fn library() -> Result<&'static Library, Errno> {
    static LIBRARY: Mutex<Option<Result<&'static Library, Errno>>> = Mutex::new(None);
    // SAFETY: the library's own allocator.
    set_up_once(&LIBRARY, || unsafe { set_up(imb::alloc_mb_mgr) })
}

/// What `set_up` answered, kept in `once`: the library, or `EOPNOTSUPP` (this installation
/// cannot run AES-GCM, for every key to come). Only `ENOMEM` is not kept: the next key tries
/// again, as after any failed allocation.
fn set_up_once(
    once: &Mutex<Option<Result<&'static Library, Errno>>>,
    set_up: impl FnOnce() -> Result<Library, Errno>,
) -> Result<&'static Library, Errno> {
    let mut once = once.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(outcome) = *once {
        return outcome;
    }
    let outcome = set_up().map(|library| &*Box::leak(Box::new(library)));
    if outcome.err() != Some(Errno::ENOMEM) {
        *once = Some(outcome);
    }
    outcome
}

/// A manager from `alloc` (intel-ipsec-mb's `alloc_mb_mgr`), set up for this CPU, and the
/// calls taken from it: `ENOMEM` if it could not be allocated, `EOPNOTSUPP` for a library of
/// another version than the bindings', one that fails its own set-up or lacks a call.
///
/// # Safety
/// `alloc` returns a fresh manager, which nothing else uses, or NULL.
unsafe fn set_up(alloc: unsafe extern "C" fn(u64) -> *mut imb::IMB_MGR) -> Result<Library, Errno> {
    // The manager's layout is the header's (ipsec_mb_sys.rs): a library of another minor
    // version may lay out its table differently.
    // SAFETY: a plain query.
    if unsafe { imb::imb_get_version() } >> 8 != imb::IMB_VERSION_NUM >> 8 {
        return Err(Errno::EOPNOTSUPP);
    }
    // SAFETY: allocates a manager; NULL on failure (the caller's contract).
    let mgr = unsafe { alloc(0) };
    if mgr.is_null() {
        return Err(Errno::ENOMEM);
    }
    // SAFETY: `mgr` is a fresh manager; a NULL `arch` asks for no report of what was chosen.
    unsafe { imb::init_mb_mgr_auto(mgr, std::ptr::null_mut()) };
    // SAFETY: set up just above and never freed nor written again.
    let mgr: &'static imb::IMB_MGR = unsafe { &*mgr };
    // SAFETY: the manager is live; this reads its error word, set only by the set-up above.
    if unsafe { imb::imb_get_errno(std::ptr::from_ref(mgr).cast_mut()) } != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    calls(mgr).ok_or(Errno::EOPNOTSUPP)
}

/// The manager's AES-GCM calls; `None` if it lacks one.
fn calls(mgr: &imb::IMB_MGR) -> Option<Library> {
    Some(Library {
        aes128: Calls {
            pre: mgr.gcm128_pre?,
            seal: mgr.gcm128_enc?,
            open: mgr.gcm128_dec?,
            init: mgr.gcm128_init_var_iv?,
            seal_update: mgr.gcm128_enc_update?,
            open_update: mgr.gcm128_dec_update?,
            seal_finalize: mgr.gcm128_enc_finalize?,
            open_finalize: mgr.gcm128_dec_finalize?,
        },
        aes256: Calls {
            pre: mgr.gcm256_pre?,
            seal: mgr.gcm256_enc?,
            open: mgr.gcm256_dec?,
            init: mgr.gcm256_init_var_iv?,
            seal_update: mgr.gcm256_enc_update?,
            open_update: mgr.gcm256_dec_update?,
            seal_finalize: mgr.gcm256_enc_finalize?,
            open_finalize: mgr.gcm256_dec_finalize?,
        },
    })
}

/// A prepared AES-128-GCM or AES-256-GCM key.
pub struct GcmKey {
    /// The round keys and GHASH powers (64-byte aligned, as the library needs), zeroed on drop.
    schedule: Box<imb::gcm_key_data>,
    calls: Calls,
}

impl std::fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcmKey")
    }
}

/// A fresh context for one request: all zero, which is a valid value of its plain integer
/// fields (the library's init sets it up).
fn new_context() -> imb::gcm_context_data {
    // SAFETY: every field is an integer or an integer array.
    unsafe { std::mem::zeroed() }
}

/// Zeroes a request's context: it holds the last keystream block and the running hash. One
/// volatile store of the whole value (a few vector stores) rather than `zeroize`'s byte at a
/// time, which cost about 100 instructions a request.
fn wipe(context: &mut imb::gcm_context_data) {
    // SAFETY: `context` is valid for writes and aligned (a reference); volatile so the store
    // is not dropped as dead.
    unsafe { std::ptr::write_volatile(context, new_context()) }
}

impl GcmKey {
    /// A key from 16 or 32 bytes of material: `EINVAL` for another length; `ENOMEM` or
    /// `EOPNOTSUPP` if the library could not be set up (see `set_up`).
    pub fn new(material: &[u8]) -> Result<Self, Errno> {
        let calls = match material.len() {
            16 => library()?.aes128,
            32 => library()?.aes256,
            _ => return Err(Errno::EINVAL),
        };
        // SAFETY: the key data is arrays of bytes: all zero is a valid value.
        let mut schedule: Box<imb::gcm_key_data> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: `material` holds as many bytes as the key size the calls are for (matched
        // above); the schedule is ours and aligned as its type asks.
        unsafe { (calls.pre)(material.as_ptr().cast(), &mut *schedule) };
        Ok(Self { schedule, calls })
    }

    /// A stream for one request, its IV and AAD taken: `update` runs the data in pieces,
    /// `seal` or `open` ends it.
    pub fn stream(&self, encrypt: bool, nonce: &[u8; GCM_IV_LEN], aad: &[u8]) -> Option<GcmStream<'_>> {
        // On the heap, so that moving the stream (out of here, into `seal` or `open`) moves a
        // pointer and leaves no copy of the running state behind for `Drop` to miss.
        let mut context = Box::new(new_context());
        // SAFETY: the schedule is prepared; the nonce is 12 bytes; `aad` is readable for its
        // length (the library reads it now, not later).
        unsafe {
            (self.calls.init)(&*self.schedule, &mut *context, nonce.as_ptr(), GCM_IV_LEN as u64, aad.as_ptr(), aad.len() as u64)
        };
        Some(GcmStream { key: self, context, encrypt, fed: 0 })
    }

    /// Encrypts `len` bytes at `input` into `output` and writes the tag at `tag`; false if
    /// `len` is more than GCM allows under one IV.
    ///
    /// # Safety
    /// `input` is readable and `output` writable for `len` bytes (or either is NULL: refused,
    /// false), the two ranges being the same or disjoint; `tag` is writable for 16 bytes and
    /// overlaps neither; `aad` overlaps neither `output` nor `tag`; nothing else accesses these
    /// bytes meanwhile.
    pub unsafe fn seal(
        &self,
        nonce: &[u8; GCM_IV_LEN],
        aad: &[u8],
        input: *const u8,
        output: *mut u8,
        len: usize,
        tag: *mut u8,
    ) -> bool {
        if len as u64 > GCM_MAX_LEN || !callable(input, output, len) {
            return false;
        }
        let mut context = new_context();
        // SAFETY: the caller's contract covers every range; the schedule is prepared.
        unsafe {
            (self.calls.seal)(
                &*self.schedule,
                &mut context,
                output,
                input,
                len as u64,
                nonce.as_ptr(),
                aad.as_ptr(),
                aad.len() as u64,
                tag,
                GCM_TAG_LEN as u64,
            )
        };
        wipe(&mut context);
        true
    }

    /// Decrypts `len` bytes at `input` into `output` and tells whether the 16-byte tag at
    /// `tag` authenticates them (false too past GCM's length limit); on false the output holds
    /// nothing of use (the caller clears it).
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
        if len as u64 > GCM_MAX_LEN || !callable(input, output, len) {
            return false;
        }
        let mut context = new_context();
        let mut computed = [0u8; GCM_TAG_LEN];
        // SAFETY: the caller's contract covers every range; the computed tag is ours.
        unsafe {
            (self.calls.open)(
                &*self.schedule,
                &mut context,
                output,
                input,
                len as u64,
                nonce.as_ptr(),
                aad.as_ptr(),
                aad.len() as u64,
                computed.as_mut_ptr(),
                GCM_TAG_LEN as u64,
            )
        };
        wipe(&mut context);
        // SAFETY: the caller's contract: `tag` is readable for 16 bytes.
        unsafe { tags_match(&computed, tag) }
    }
}

/// Whether the library would do the work: with a NULL data pointer and a nonzero length its
/// parameter checks return without touching anything, leaving the output as it was and, for
/// a decryption, an all-zero computed tag (helper-19). Only memory at address 0 gives one (an
/// AAD is a slice: never NULL).
fn callable(input: *const u8, output: *mut u8, len: usize) -> bool {
    len == 0 || (!input.is_null() && !output.is_null())
}

/// Whether the 16 bytes at `tag` equal `computed`, in time that does not depend on where
/// they differ (aws-lc's `CRYPTO_memcmp`).
///
/// # Safety
/// `tag` is readable for 16 bytes.
unsafe fn tags_match(computed: &[u8; GCM_TAG_LEN], tag: *const u8) -> bool {
    let mut expected = [0u8; GCM_TAG_LEN];
    // SAFETY: the caller's contract; copied once, so the comparison reads stable bytes.
    unsafe { std::ptr::copy_nonoverlapping(tag, expected.as_mut_ptr(), GCM_TAG_LEN) };
    // SAFETY: both are 16 bytes of our own.
    unsafe { aws_lc_sys::CRYPTO_memcmp(computed.as_ptr().cast(), expected.as_ptr().cast(), GCM_TAG_LEN) == 0 }
}

impl Drop for GcmKey {
    fn drop(&mut self) {
        // SAFETY: the schedule is ours, exclusively; all zero is a valid value of its bytes.
        unsafe { zeroize::zeroize_flat_type(&mut *self.schedule) }
    }
}

/// One request's AES-GCM, fed in pieces.
pub struct GcmStream<'k> {
    key: &'k GcmKey,
    /// The running GHASH and the last keystream block: boxed, so its only copy is the one
    /// `Drop` zeroes (a context held inline was left behind, whole, in the stack frames the
    /// stream was moved out of).
    context: Box<imb::gcm_context_data>,
    encrypt: bool,
    /// Bytes fed so far, held to GCM's limit.
    fed: u64,
}

impl std::fmt::Debug for GcmStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcmStream")
    }
}

impl GcmStream<'_> {
    /// Encrypts (or decrypts) the next `len` bytes of the data, from `input` into `output`;
    /// false past GCM's length limit.
    ///
    /// # Safety
    /// `input` is readable and `output` writable for `len` bytes (or either is NULL: refused,
    /// false), the two ranges being the same or disjoint, and nothing else accesses them
    /// meanwhile.
    pub unsafe fn update(&mut self, input: *const u8, output: *mut u8, len: usize) -> bool {
        let fed = self.fed.saturating_add(len as u64);
        if fed > GCM_MAX_LEN || !callable(input, output, len) {
            return false;
        }
        self.fed = fed;
        let update = if self.encrypt { self.key.calls.seal_update } else { self.key.calls.open_update };
        // SAFETY: the caller's contract; the context was set up by `stream` for this key.
        unsafe { update(&*self.key.schedule, &mut *self.context, output, input, len as u64) };
        true
    }

    /// Ends an encryption: writes the 16-byte tag at `tag`.
    ///
    /// # Safety
    /// `tag` is writable for 16 bytes and nothing else accesses them meanwhile.
    pub unsafe fn seal(mut self, tag: *mut u8) -> bool {
        // SAFETY: the caller's contract; the context was fed by `update`.
        unsafe { (self.key.calls.seal_finalize)(&*self.key.schedule, &mut *self.context, tag, GCM_TAG_LEN as u64) };
        self.encrypt
    }

    /// Ends a decryption: whether the 16-byte tag at `tag` authenticates everything fed.
    ///
    /// # Safety
    /// `tag` is readable for 16 bytes.
    pub unsafe fn open(mut self, tag: *const u8) -> bool {
        let mut computed = [0u8; GCM_TAG_LEN];
        // SAFETY: the computed tag is ours; the context was fed by `update`.
        unsafe {
            (self.key.calls.open_finalize)(&*self.key.schedule, &mut *self.context, computed.as_mut_ptr(), GCM_TAG_LEN as u64)
        };
        // SAFETY: the caller's contract.
        !self.encrypt && unsafe { tags_match(&computed, tag) }
    }
}

impl Drop for GcmStream<'_> {
    fn drop(&mut self) {
        wipe(&mut self.context);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated bindings (ipsec_mb_sys.rs) against the installed header, through a C
    /// probe: every table entry the device calls, the two structures it allocates, the version.
    #[test]
    #[cfg_attr(miri, ignore = "runs the C compiler")]
    fn the_bindings_match_the_installed_header() {
        use std::mem::{align_of, offset_of, size_of};
        let mut ours = vec![
            ("IMB_VERSION_NUM".to_string(), u64::from(imb::IMB_VERSION_NUM)),
            ("sizeof gcm_key_data".to_string(), size_of::<imb::gcm_key_data>() as u64),
            ("alignof gcm_key_data".to_string(), align_of::<imb::gcm_key_data>() as u64),
            ("sizeof gcm_context_data".to_string(), size_of::<imb::gcm_context_data>() as u64),
        ];
        macro_rules! entries {
            ($($field:ident),*) => {
                $(ours.push((format!("offsetof {}", stringify!($field)), offset_of!(imb::IMB_MGR, $field) as u64));)*
            };
        }
        entries!(
            gcm128_pre,
            gcm128_enc,
            gcm128_dec,
            gcm128_init_var_iv,
            gcm128_enc_update,
            gcm128_dec_update,
            gcm128_enc_finalize,
            gcm128_dec_finalize,
            gcm256_pre,
            gcm256_enc,
            gcm256_dec,
            gcm256_init_var_iv,
            gcm256_enc_update,
            gcm256_dec_update,
            gcm256_enc_finalize,
            gcm256_dec_finalize
        );
        let probes: Vec<(String, String)> = ours
            .iter()
            .map(|(name, _)| {
                let expr = match name.split_once(' ') {
                    None => name.clone(),
                    Some(("offsetof", field)) => format!("offsetof(IMB_MGR, {field})"),
                    Some(("sizeof", ty)) => format!("sizeof(struct {ty})"),
                    Some((_, ty)) => format!("_Alignof(struct {ty})"),
                };
                (name.clone(), expr)
            })
            .collect();
        let theirs = crate::c_header_probe::c_values(&["intel-ipsec-mb.h"], &["-DLINUX"], &probes);
        assert_eq!(ours, theirs);
    }

    /// A manager that cannot be allocated is ENOMEM, as the kernel answers a failed
    /// allocation, and not kept: the next key sets the library up. What a set-up answered
    /// otherwise is kept (it is not run again); a wrong length is EINVAL.
    #[test]
    #[cfg_attr(miri, ignore = "calls into intel-ipsec-mb")]
    fn set_up_errors_say_what_failed() {
        unsafe extern "C" fn no_memory(_flags: u64) -> *mut imb::IMB_MGR {
            std::ptr::null_mut()
        }
        // SAFETY: `no_memory` returns NULL.
        assert_eq!(unsafe { set_up(no_memory) }.err(), Some(Errno::ENOMEM));
        let once = Mutex::new(None);
        // SAFETY: as above.
        assert_eq!(set_up_once(&once, || unsafe { set_up(no_memory) }).err(), Some(Errno::ENOMEM));
        // SAFETY: the library's own allocator.
        let real = || unsafe { set_up(imb::alloc_mb_mgr) };
        assert!(set_up_once(&once, real).is_ok(), "set up once memory was there");
        assert!(set_up_once(&once, || panic!("set up twice")).is_ok());
        let unsupported = Mutex::new(None);
        assert_eq!(set_up_once(&unsupported, || Err(Errno::EOPNOTSUPP)).err(), Some(Errno::EOPNOTSUPP));
        assert_eq!(set_up_once(&unsupported, || panic!("set up twice")).err(), Some(Errno::EOPNOTSUPP));
        assert_eq!(GcmKey::new(&[1u8; 24]).err(), Some(Errno::EINVAL), "AES-192 is not offered");
    }

    /// A NULL data pointer with a length is refused before the library, which would return
    /// without a word and leave an all-zero tag that an all-zero tag would match.
    #[test]
    #[cfg_attr(miri, ignore = "calls into intel-ipsec-mb")]
    fn a_null_data_pointer_is_refused_not_passed_on() {
        let key = GcmKey::new(&[3u8; 32]).expect("a key");
        let (nonce, mut out, zero_tag) = ([0u8; GCM_IV_LEN], [0u8; 64], [0u8; GCM_TAG_LEN]);
        let mut tag = [0u8; GCM_TAG_LEN];
        // SAFETY: NULL inputs are within the contract (refused); the rest are live buffers.
        unsafe {
            assert!(!key.seal(&nonce, &[], std::ptr::null(), out.as_mut_ptr(), 64, tag.as_mut_ptr()));
            assert!(!key.open(&nonce, &[], std::ptr::null(), out.as_mut_ptr(), 64, zero_tag.as_ptr()));
            assert!(!key.open(&nonce, &[], out.as_ptr(), std::ptr::null_mut(), 64, zero_tag.as_ptr()));
            let mut stream = key.stream(false, &nonce, &[]).expect("a stream");
            assert!(!stream.update(std::ptr::null(), out.as_mut_ptr(), 64));
            // Nothing to process: NULL is harmless then.
            assert!(key.seal(&nonce, &[], std::ptr::null(), std::ptr::null_mut(), 0, tag.as_mut_ptr()));
        }
    }

    /// Streaming in uneven pieces gives the one-shot call's ciphertext and tag, opens again,
    /// and refuses a changed tag.
    #[test]
    #[cfg_attr(miri, ignore = "calls into intel-ipsec-mb")]
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
