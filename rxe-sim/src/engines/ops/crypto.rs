//! ENCRYPT and DECRYPT with a device key (named by number, in the QP's PD), by its algorithm:
//!
//! - AES-GCM (128- and 256-bit keys), through intel-ipsec-mb, in or out of place (`hw/gcm_key.rs`): the IV
//!   comes in the WQE, the AAD from `aux[0]`, and the tag goes to (or comes from) `aux[1]`. A
//!   tag that does not authenticate completes with `AuthenticationFailed`, the destination
//!   zeroed, and the QP goes on.
//! - AES-XTS (AES-128 and AES-256, `hw/xts_key.rs`): the input is a whole number of data units
//!   of `data_unit` bytes (at least 16), the first under the tweak in the IV field and each
//!   next one under the tweak plus one (little-endian, IEEE 1619); no AAD, no tag.
//!
//! Either side may be an indirect SGE list (`crypto::flags`). One range a side, the common
//! case, takes the one-shot calls; lists are walked piece by piece (`engines/pieces.rs`): GCM
//! streams through them, and an XTS data unit cut by an entry boundary is gathered, run and
//! scattered.

use std::mem::{offset_of, size_of_val};

use accelverbs_uapi::cqe::{CqeStatus, VendorError};
use accelverbs_uapi::crypto::{flags, CryptoParams, GCM_IV_LEN, GCM_TAG_LEN, XTS_MAX_DATA_UNIT, XTS_MIN_DATA_UNIT};
use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::{in_place, in_place_mut, is_zero_sge, params_zero, Done, ExecContext, Failure, Operation};
use crate::engines::pieces::{self, hits, overlap, Span, UserSpan};
use crate::engines::sgl::SgList;
use crate::hw::gcm_key::GcmKey;
use crate::hw::mr_table::{Resolved, Use};
use crate::hw::xts_key::XtsKey;

/// One direction: ENCRYPT or DECRYPT.
#[derive(Debug)]
pub struct Crypto {
    opcode: Opcode,
}

pub static ENCRYPT: Crypto = Crypto { opcode: Opcode::Encrypt };
pub static DECRYPT: Crypto = Crypto { opcode: Opcode::Decrypt };

fn span(r: &Resolved<'_>) -> Span {
    (r.ptr, r.len)
}

/// Where `r` lies in the application's memory: the overlap rules are checked on this.
fn user_span(r: &Resolved<'_>) -> UserSpan {
    (r.user, r.len)
}

/// The library refused what the checks before it allow (it should not): stop the QP.
const LIBRARY_FAILED: Failure = Failure { status: CqeStatus::GeneralError, vendor: VendorError::None, fatal: true };

/// The ranges a request writes, as the device reaches them (`Span`) or as they lie in the
/// application's memory (`UserSpan`): one, the common case, with nothing to allocate, or a
/// list's.
enum Outputs<S = Span> {
    One([S; 1]),
    Many(Vec<S>),
}

impl<S> std::ops::Deref for Outputs<S> {
    type Target = [S];

    fn deref(&self) -> &[S] {
        match self {
            Outputs::One(one) => one,
            Outputs::Many(many) => many,
        }
    }
}

/// A request's two sides, resolved.
struct Sides<'v> {
    src: SgList<'v>,
    dst: SgList<'v>,
}

impl<'v> Sides<'v> {
    fn resolve(wqe: &Wqe, params: &CryptoParams, ctx: &ExecContext<'v>) -> Result<Self, Failure> {
        let src = SgList::resolve(&wqe.src, params.flags & flags::SRC_LIST != 0, ctx, Use::Read)?;
        let dst = SgList::resolve(&wqe.dst, params.flags & flags::DST_LIST != 0, ctx, Use::Write)?;
        Ok(Self { src, dst })
    }

    /// Bytes in (and out).
    fn len(&self) -> usize {
        self.src.total() as usize
    }

    /// One range a side: the one-shot calls take them.
    fn single(&self) -> Option<(&Resolved<'v>, &Resolved<'v>)> {
        match (&self.src, &self.dst) {
            (SgList::One(src), SgList::One(dst)) => Some((src, dst)),
            _ => None,
        }
    }

    /// The output ranges the request writes: as many bytes as the input.
    fn outputs(&self) -> Outputs {
        match &self.dst {
            SgList::One(dst) => Outputs::One([(dst.ptr, self.len())]),
            many => Outputs::Many(pieces::truncated(many.ranges(), self.len())),
        }
    }

    /// The output ranges as they lie in the application's memory.
    fn user_outputs(&self) -> Outputs<UserSpan> {
        match &self.dst {
            SgList::One(dst) => Outputs::One([(dst.user, self.len())]),
            many => Outputs::Many(pieces::truncated(many.user_ranges(), self.len())),
        }
    }

    /// The input ranges to read, given the `outputs`: the input itself if it lies apart from
    /// them or exactly on them (in place, cut alike, so a piece is read before it is written
    /// and never after), else a private copy of it, kept in `copy`.
    ///
    /// # Safety
    /// The input ranges are readable and nothing writes them meanwhile.
    unsafe fn inputs(&self, outputs: &[Span], copy: &mut Vec<u8>) -> Vec<Span> {
        let inputs: Vec<Span> = self.src.ranges().filter(|r| r.1 != 0).collect();
        let apart = !inputs.iter().any(|&i| hits(outputs, i));
        let in_place = inputs.iter().eq(outputs.iter().filter(|o| o.1 != 0));
        if apart || in_place {
            return inputs;
        }
        *copy = vec![0; self.len()];
        // SAFETY: the caller's contract; `copy` is ours.
        unsafe { pieces::gather(&inputs, 0, copy) };
        vec![(copy.as_mut_ptr(), copy.len())]
    }
}

/// An AES-GCM request's AAD (`aux[0]`, none if zero) and 16-byte tag (`aux[1]`, written by
/// ENCRYPT, read by DECRYPT), resolved, borrowed from where [`GcmAux::resolving`] resolved
/// them (moved into a value of their own, they were read back in 16-byte words from 8-byte
/// stores: a stall that was a tenth of the device's own time for a 4 KiB request, `perf
/// annotate`).
struct GcmAux<'r, 'v> {
    aad: Option<&'r Resolved<'v>>,
    tag: &'r Resolved<'v>,
}

impl<'v> GcmAux<'_, 'v> {
    /// Resolves the AAD and the tag and runs `request` with them; they are let go (a copied
    /// tag handed back) when it returns.
    #[inline(always)]
    fn resolving<R>(
        wqe: &Wqe,
        ctx: &ExecContext<'v>,
        encrypts: bool,
        request: impl FnOnce(GcmAux<'_, 'v>) -> Result<R, Failure>,
    ) -> Result<R, Failure> {
        let aad = match is_zero_sge(&wqe.aux[0]) {
            true => None,
            false => Some(ctx.mrs.resolve(&wqe.aux[0], ctx.pdn, Use::Read)),
        };
        let aad = aad.as_ref().map(in_place).transpose()?;
        if wqe.aux[1].length as usize != GCM_TAG_LEN {
            return Err(Failure::length(VendorError::DestinationTooSmall));
        }
        let tag_use = if encrypts { Use::Write } else { Use::Read };
        let tag = ctx.mrs.resolve(&wqe.aux[1], ctx.pdn, tag_use);
        request(GcmAux { aad, tag: in_place(&tag)? })
    }

    /// Whether the AAD or the tag shares a byte with an output or with each other, or the tag
    /// with an input: the output may be the input itself, nothing else of the request. Checked
    /// where the ranges lie in the application's memory.
    fn overlaps(&self, user_outputs: &[UserSpan], mut user_inputs: impl Iterator<Item = UserSpan>) -> bool {
        let tag = user_span(self.tag);
        let aad = self.aad.map(user_span);
        aad.is_some_and(|a| hits(user_outputs, a) || overlap(a, tag))
            || hits(user_outputs, tag)
            || user_inputs.any(|s| overlap(s, tag))
    }

    /// The AAD's bytes.
    ///
    /// # Safety
    /// Nothing writes the AAD while the slice lives (the request's outputs and tag were
    /// checked apart from it, and the provider keeps Rust references off a posted request's
    /// bytes).
    unsafe fn aad_bytes(&self) -> &[u8] {
        match self.aad {
            // SAFETY: resolved inside a live, pinned MR of the QP's PD, which the pass's view
            // keeps registered while `self` lives; the caller's contract for the rest.
            Some(a) => unsafe { std::slice::from_raw_parts(a.ptr, a.len) },
            None => &[],
        }
    }
}

impl Operation for Crypto {
    fn opcode(&self) -> Opcode {
        self.opcode
    }

    fn max_sge(&self) -> u32 {
        accelverbs_uapi::compress::MAX_LIST_ENTRIES
    }

    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        let params: CryptoParams = zerocopy::transmute!(wqe.params);
        if params.flags & !flags::KNOWN != 0
            || params.reserved0 != 0
            || !params_zero(wqe, offset_of!(CryptoParams, reserved), size_of_val(&params.reserved))
        {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        let key = ctx.crypto_keys.resolve(params.key, ctx.pdn).map_err(|v| match v {
            VendorError::PdMismatch => Failure::protection(v),
            _ => Failure::protection(VendorError::CryptoKeyUnknown),
        })?;
        if let Some(gcm) = key.gcm() {
            return self.gcm(gcm, &params, wqe, ctx);
        }
        let xts = key.xts().ok_or(Failure::malformed(VendorError::WrongKeyAlgorithm))?;
        self.xts(xts, &params, wqe, ctx)
    }
}

/// The input to read: the source itself, or, for an output shifted over its input (which
/// the libraries do not take), a private copy of it, kept in `copy`.
///
/// # Safety
/// `src` is readable for its length and nothing writes it meanwhile.
unsafe fn input_for(src: &Resolved<'_>, out: Span, copy: &mut Vec<u8>) -> *const u8 {
    if src.ptr != out.0 && overlap(span(src), out) {
        // SAFETY: the caller's contract.
        *copy = unsafe { std::slice::from_raw_parts(src.ptr, src.len) }.to_vec();
        copy.as_ptr()
    } else {
        src.ptr
    }
}

impl Crypto {
    fn encrypts(&self) -> bool {
        self.opcode == Opcode::Encrypt
    }

    /// AES-XTS over whole data units.
    fn xts(&self, key: &XtsKey, params: &CryptoParams, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        if !is_zero_sge(&wqe.aux[0]) || !is_zero_sge(&wqe.aux[1]) {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        let unit = params.data_unit as usize;
        if !(XTS_MIN_DATA_UNIT..=XTS_MAX_DATA_UNIT).contains(&unit) {
            return Err(Failure::malformed(VendorError::BadDataUnit));
        }
        let sides = Sides::resolve(wqe, params, ctx)?;
        let len = sides.len();
        if len == 0 || len % unit != 0 {
            return Err(Failure::length(VendorError::BadDataUnit));
        }
        if sides.dst.total() < sides.src.total() {
            return Err(Failure::length(VendorError::DestinationTooSmall));
        }
        if let Some((src, dst)) = sides.single() {
            let out: Span = (dst.ptr, len);
            let mut copy = Vec::new();
            // SAFETY: `src` was resolved inside a live, pinned MR of the QP's PD (the pass's
            // view keeps it registered) and the provider keeps Rust references off bytes a posted
            // request names.
            let input = unsafe { input_for(src, out, &mut copy) };
            // SAFETY: as above, for the output too; `input` and the output are one range or
            // disjoint (a shifted overlap reads the copy); `unit` divides the length.
            if !unsafe { key.crypt(self.encrypts(), params.iv, unit, input, out.0, len) } {
                return Err(LIBRARY_FAILED);
            }
            return Ok(Done::ok(len as u32, 0));
        }
        // Outputs may not share a byte, anywhere in the list (as for COMPRESS).
        if sides.dst.overlaps_itself() {
            return Err(Failure::malformed(VendorError::Overlap));
        }
        let outputs = sides.outputs();
        let mut copy = Vec::new();
        // SAFETY: every input range was resolved inside a live, pinned MR of the QP's PD (the
        // pass's view keeps them registered), and the provider keeps Rust references
        // off bytes a posted request names.
        let inputs = unsafe { sides.inputs(&outputs, &mut copy) };
        let mut work = key.work(self.encrypts()).ok_or(LIBRARY_FAILED)?;
        let first = u128::from_le_bytes(params.iv);
        let tweak = |pos: usize| first.wrapping_add((pos / unit) as u128).to_le_bytes();
        let mut straddling = Vec::new();
        let mut pos = 0;
        while pos < len {
            let (Some((input, in_len)), Some((output, out_len))) = (pieces::at(&inputs, pos), pieces::at(&outputs, pos)) else {
                return Err(LIBRARY_FAILED);
            };
            let whole = in_len.min(out_len).min(len - pos) / unit * unit;
            let ok = if whole > 0 {
                // SAFETY: `whole` bytes from `input` and from `output` lie inside one range of
                // each side (`at`), which are one range or disjoint (`inputs`); as above for
                // the rest.
                unsafe { work.units(tweak(pos), unit, input, output, whole) }
            } else {
                // A unit cut by an entry boundary: run it in a buffer of our own.
                straddling.resize(unit, 0);
                // SAFETY: `pos + unit <= len`, which both sides hold; the buffer is ours;
                // as above for the ranges.
                unsafe {
                    pieces::gather(&inputs, pos, &mut straddling);
                    let ok = work.units(tweak(pos), unit, straddling.as_ptr(), straddling.as_mut_ptr(), unit);
                    pieces::scatter(&outputs, pos, &straddling);
                    ok
                }
            };
            if !ok {
                return Err(LIBRARY_FAILED);
            }
            pos += whole.max(unit);
        }
        Ok(Done::ok(len as u32, 0))
    }

    /// AES-GCM: IV, AAD, tag.
    fn gcm(&self, aead: &GcmKey, params: &CryptoParams, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        if params.data_unit != 0 || !params_zero(wqe, offset_of!(CryptoParams, iv) + GCM_IV_LEN, 16 - GCM_IV_LEN) {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        let nonce: [u8; GCM_IV_LEN] = params.iv[..GCM_IV_LEN].try_into().expect("12 bytes");
        if params.flags & (flags::SRC_LIST | flags::DST_LIST) == 0 {
            return self.gcm_ranges(aead, &nonce, wqe, ctx);
        }
        let mut sides = Sides::resolve(wqe, params, ctx)?;
        if sides.dst.total() < sides.src.total() {
            return Err(Failure::length(VendorError::DestinationTooSmall));
        }
        GcmAux::resolving(wqe, ctx, self.encrypts(), |aux| {
            if aux.overlaps(&sides.user_outputs(), sides.src.user_ranges()) || sides.dst.overlaps_itself() {
                return Err(Failure::malformed(VendorError::Overlap));
            }
            // The output past the data may hold the tag (the rules above allow it): in memory
            // reached by copies it must not go back as it was read.
            sides.dst.truncate(sides.src.total());
            let out = &*sides.outputs();
            // SAFETY: every range was resolved inside a live, pinned MR of the QP's PD (the
            // pass's view of the MR table keeps it registered), is only read or only written by
            // this request (overlaps other than output-over-input refused above), and the
            // provider keeps Rust references away from bytes a posted request names.
            let outcome = unsafe { self.gcm_stream(aead, &nonce, aux.aad_bytes(), &sides, out, aux.tag.ptr) };
            self.gcm_done(outcome, out, sides.len())
        })
    }

    /// AES-GCM with one range a side, the common case: resolved and checked without the
    /// lists' machinery (a quarter of a 4 KiB request's cost beyond the library's, inline).
    fn gcm_ranges(&self, aead: &GcmKey, nonce: &[u8; GCM_IV_LEN], wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        let src = ctx.mrs.resolve(&wqe.src, ctx.pdn, Use::Read);
        let src = in_place(&src)?;
        let mut dst = ctx.mrs.resolve(&wqe.dst, ctx.pdn, Use::Write);
        let dst = in_place_mut(&mut dst)?;
        if dst.len < src.len {
            return Err(Failure::length(VendorError::DestinationTooSmall));
        }
        GcmAux::resolving(wqe, ctx, self.encrypts(), |aux| {
            let len = src.len;
            if aux.overlaps(&[(dst.user, len)], std::iter::once(user_span(src))) {
                return Err(Failure::malformed(VendorError::Overlap));
            }
            // As in `gcm`: only the data's bytes of a copied output go back, not a tag past them.
            dst.truncate(len);
            let out: Span = (dst.ptr, len);
            // SAFETY: both ranges, the AAD and the tag were resolved inside live, pinned MRs of
            // the QP's PD (the pass's view keeps them registered); the AAD and the tag overlap
            // neither the output nor each other (checked above), a shifted output over the input
            // is read from a copy (`input_for`), and the provider keeps Rust references off
            // bytes a posted request names.
            let outcome = unsafe { self.gcm_one_shot(aead, nonce, aux.aad_bytes(), src, out, aux.tag.ptr) };
            self.gcm_done(outcome, &[out], len)
        })
    }

    /// The completion of an AES-GCM request over `out` (`len` bytes) whose library call gave
    /// `outcome`. Never leaves unauthenticated plaintext readable: not after a tag that does
    /// not check, nor after a decryption the library gave up half way.
    fn gcm_done(&self, outcome: Result<bool, Failure>, out: &[Span], len: usize) -> Result<Done, Failure> {
        if !self.encrypts() && outcome != Ok(true) {
            for &(ptr, n) in out {
                // SAFETY: the output ranges the request was resolved and checked to write.
                unsafe { std::ptr::write_bytes(ptr, 0, n) };
            }
        }
        match outcome? {
            true => Ok(Done::ok(len as u32, 0)),
            false => Ok(Done { status: CqeStatus::AuthenticationFailed, byte_len: 0, result: 0, flags: 0 }),
        }
    }

    /// GCM over one range a side, in one call; whether the tag authenticated (ENCRYPT: true).
    ///
    /// # Safety
    /// `src` and `out` are readable and writable, reached by nothing else meanwhile; `tag`
    /// (16 bytes, written by ENCRYPT, read by DECRYPT) and `aad` overlap neither output.
    unsafe fn gcm_one_shot(
        &self,
        aead: &GcmKey,
        nonce: &[u8; GCM_IV_LEN],
        aad: &[u8],
        src: &Resolved<'_>,
        out: Span,
        tag: *mut u8,
    ) -> Result<bool, Failure> {
        // aws-lc takes the output as the input itself or apart from it.
        let mut copy = Vec::new();
        // SAFETY: the caller's contract.
        let input = unsafe { input_for(src, out, &mut copy) };
        if self.encrypts() {
            // SAFETY: the caller's contract: `input` and the output are one range or
            // disjoint, the tag and the AAD overlap neither the output nor each other.
            if !unsafe { aead.seal(nonce, aad, input, out.0, out.1, tag) } {
                return Err(LIBRARY_FAILED);
            }
            return Ok(true);
        }
        // SAFETY: as for sealing, with the tag read.
        Ok(unsafe { aead.open(nonce, aad, input, out.0, out.1, tag) })
    }

    /// GCM through SGE lists, piece by piece; whether the tag authenticated (ENCRYPT: true).
    ///
    /// # Safety
    /// As [`Crypto::gcm_one_shot`], for every range of `sides` and `out`.
    unsafe fn gcm_stream(
        &self,
        aead: &GcmKey,
        nonce: &[u8; GCM_IV_LEN],
        aad: &[u8],
        sides: &Sides<'_>,
        out: &[Span],
        tag: *mut u8,
    ) -> Result<bool, Failure> {
        let mut copy = Vec::new();
        // SAFETY: the caller's contract.
        let inputs = unsafe { sides.inputs(out, &mut copy) };
        let mut stream = aead.stream(self.encrypts(), nonce, aad).ok_or(LIBRARY_FAILED)?;
        let len = sides.len();
        let mut pos = 0;
        while pos < len {
            let (Some((input, in_len)), Some((output, out_len))) = (pieces::at(&inputs, pos), pieces::at(out, pos)) else {
                return Err(LIBRARY_FAILED);
            };
            let piece = in_len.min(out_len).min(len - pos);
            // SAFETY: `piece` bytes from `input` and from `output` lie inside one range of
            // each side (`at`), which are one range or disjoint (`inputs`); the caller's
            // contract covers the rest.
            if !unsafe { stream.update(input, output, piece) } {
                return Err(LIBRARY_FAILED);
            }
            pos += piece;
        }
        if self.encrypts() {
            // SAFETY: the caller's contract.
            return match unsafe { stream.seal(tag) } {
                true => Ok(true),
                false => Err(LIBRARY_FAILED),
            };
        }
        // SAFETY: the caller's contract.
        Ok(unsafe { stream.open(tag) })
    }
}
