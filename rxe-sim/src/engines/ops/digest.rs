//! DIGEST: SHA-256 and HMAC-SHA-256 (aws-lc) write 32 bytes to `dst`; CRC32C (crc-fast)
//! continues from the request's seed and reports its value in the completion, so a checksum
//! can be carried across requests. A SHA-256 can be carried too, its state in registered
//! memory between requests (`digest_flags`).

use std::mem::{offset_of, size_of_val};

use crate::library;
use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::crypto::{digest_flags, DigestAlgorithm, DigestParams, DigestState, SHA256_BLOCK, SHA256_LEN};
use accelverbs_uapi::wqe::{Opcode, Wqe, WQE_SIZE};
use zerocopy::IntoBytes;

use super::{in_place, is_zero_sge, params_zero, zero_between, Done, ExecContext, Failure, Operation};
use crate::engines::pieces;
use crate::hw::mr_table::{Resolved, Use};

/// `DigestState`'s size: what `aux[0]` names for a SHA-256 in parts.
const DIGEST_STATE_LEN: usize = std::mem::size_of::<DigestState>();

#[derive(Debug)]
pub struct Digest;

impl Operation for Digest {
    fn opcode(&self) -> Opcode {
        Opcode::Digest
    }

    fn max_sge(&self) -> u32 {
        1
    }

    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        if let Some(seed) = crc32c_seed(wqe) {
            return crc32c(seed, wqe, ctx);
        }
        let params: DigestParams = zerocopy::transmute!(wqe.params);
        if params.flags & !digest_flags::KNOWN != 0
            || !params_zero(wqe, offset_of!(DigestParams, reserved0), size_of_val(&params.reserved0))
            || !params_zero(wqe, offset_of!(DigestParams, reserved), size_of_val(&params.reserved))
        {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        let algorithm = DigestAlgorithm::try_from(params.algorithm).map_err(|_| Failure::malformed(VendorError::BadAlgorithm))?;
        let in_parts = params.flags != 0;
        // Only a SHA-256 in parts names a state, in `aux[0]`.
        let state_sge = if in_parts { &wqe.aux[1..] } else { &wqe.aux[..] };
        if (in_parts && algorithm != DigestAlgorithm::Sha256) || !state_sge.iter().all(is_zero_sge) {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        let wants_key = algorithm == DigestAlgorithm::HmacSha256;
        let wants_seed = algorithm == DigestAlgorithm::Crc32c;
        if (!wants_key && params.key != 0) || (!wants_seed && params.seed != 0) {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        let key = match wants_key {
            true => Some(ctx.crypto_keys.resolve(params.key, ctx.pdn).map_err(|v| match v {
                VendorError::PdMismatch => Failure::protection(v),
                _ => Failure::protection(VendorError::CryptoKeyUnknown),
            })?),
            false => None,
        };
        if algorithm == DigestAlgorithm::Crc32c {
            // Every other field was checked above and a well-formed request took its own path,
            // so only a nonzero `dst` gets here.
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        // An empty input may be a zero SGE (no region at all).
        let input = match is_zero_sge(&wqe.src) {
            true => None,
            false => Some(ctx.mrs.resolve(&wqe.src, ctx.pdn, Use::Read).map_err(Failure::protection)?),
        };
        // SAFETY: the range was resolved inside a live, pinned MR of the QP's PD (the
        // pass's view keeps it registered: deregistration waits for the view); the request only reads it, and the
        // provider keeps mutable Rust references away from bytes a posted request reads.
        let data: &[u8] = input.as_ref().map_or(&[], |r| unsafe { std::slice::from_raw_parts(r.ptr, r.len) });
        if in_parts {
            return in_parts_sha256(params.flags, wqe, ctx, input.as_ref(), data);
        }
        let out = ctx.mrs.resolve(&wqe.dst, ctx.pdn, Use::Write).map_err(Failure::protection)?;
        if out.len != SHA256_LEN {
            return Err(Failure::length(VendorError::DestinationTooSmall));
        }
        let value = match &key {
            Some(key) => library::hmac_sha256(key.hmac().ok_or(Failure::malformed(VendorError::WrongKeyAlgorithm))?, data),
            None => library::sha256(data),
        };
        // The output may not share a byte with the input (it would change what is hashed).
        if input.as_ref().is_some_and(|r| overlaps(r, &out)) {
            return Err(Failure::malformed(VendorError::Overlap));
        }
        // SAFETY: `out` was resolved as 32 writable bytes of a live MR of the QP's PD, read by
        // nothing else of this request (checked above).
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), out.ptr, SHA256_LEN) };
        Ok(Done::ok(SHA256_LEN as u32, 0))
    }
}

/// The seed of a well-formed CRC32C request, its whole shape checked in a few word compares
/// (60 instructions a request fewer than the general checks, callgrind): the algorithm
/// and nothing else in the parameters' first word, nothing but the seed in the second, the
/// rest of the parameters, `dst` and `aux` zero. `None` sends the request through the general
/// checks, which say what is wrong.
fn crc32c_seed(wqe: &Wqe) -> Option<u32> {
    let words: &[u64; WQE_SIZE / 8] = zerocopy::transmute_ref!(wqe);
    let params = offset_of!(Wqe, params) / 8;
    let (first, second) = (u64::from_le(words[params]), u64::from_le(words[params + 1]));
    let shaped = (first ^ DigestAlgorithm::Crc32c as u64) | (second >> 32) == 0
        && zero_between(wqe, offset_of!(Wqe, params) + 16, offset_of!(Wqe, src))
        && zero_between(wqe, offset_of!(Wqe, dst), WQE_SIZE);
    shaped.then_some(second as u32)
}

/// CRC32C of the input (an empty one may be a zero SGE), continuing from `seed`, into the
/// completion; the request's shape was checked (`crc32c_seed`). Its own path: the range is
/// resolved and read in one place rather than kept as an `Option` the other algorithms share,
/// whose moves through the stack stalled on the stores that built it.
fn crc32c(seed: u32, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
    let crc = match is_zero_sge(&wqe.src) {
        true => library::crc32c(seed, &[]),
        false => {
            // Borrowed where it was returned (`in_place`), not moved out.
            let input = ctx.mrs.resolve(&wqe.src, ctx.pdn, Use::Read);
            let input = in_place(&input)?;
            // SAFETY: the range was resolved inside a live, pinned MR of the QP's PD (the pass's
            // view keeps it registered); the request only reads it, and the provider keeps
            // mutable Rust references away from bytes a posted request reads.
            library::crc32c(seed, unsafe { std::slice::from_raw_parts(input.ptr, input.len) })
        }
    };
    Ok(Done::ok(0, u64::from(crc)))
}

/// Whether two resolved ranges share a byte of the application's memory (where memory is
/// reached by copies, each range has a copy of its own, so the device's pointers never meet).
fn overlaps(a: &Resolved<'_>, b: &Resolved<'_>) -> bool {
    pieces::overlap((a.user, a.len), (b.user, b.len))
}

/// One part of a SHA-256 posted in several requests: started fresh or from the state in
/// `aux[0]` (`RESUME`), then either its state written back there (`MORE`: whole blocks only,
/// `dst` a zero SGE) or the digest written to `dst`.
fn in_parts_sha256(
    flags: u8,
    wqe: &Wqe,
    ctx: &ExecContext<'_>,
    input: Option<&Resolved<'_>>,
    data: &[u8],
) -> Result<Done, Failure> {
    let (more, resume) = (flags & digest_flags::MORE != 0, flags & digest_flags::RESUME != 0);
    if wqe.aux[0].length as usize != DIGEST_STATE_LEN {
        return Err(Failure::length(VendorError::DestinationTooSmall));
    }
    let state_use = if more { Use::Write } else { Use::Read };
    let state = ctx.mrs.resolve(&wqe.aux[0], ctx.pdn, state_use).map_err(Failure::protection)?;
    let out = match more {
        true if !is_zero_sge(&wqe.dst) => return Err(Failure::malformed(VendorError::ReservedNonzero)),
        true => None,
        false => Some(ctx.mrs.resolve(&wqe.dst, ctx.pdn, Use::Write).map_err(Failure::protection)?),
    };
    if out.as_ref().is_some_and(|o| o.len != SHA256_LEN) {
        return Err(Failure::length(VendorError::DestinationTooSmall));
    }
    // Nothing the device writes may share a byte with what it reads, nor with each other.
    if input.is_some_and(|i| overlaps(i, &state) || out.as_ref().is_some_and(|o| overlaps(i, o)))
        || out.as_ref().is_some_and(|o| overlaps(o, &state))
    {
        return Err(Failure::malformed(VendorError::Overlap));
    }
    if more && !data.len().is_multiple_of(SHA256_BLOCK) {
        return Err(Failure::length(VendorError::BadDigestState));
    }
    let mut parts = match resume {
        true => {
            let mut saved = [0u8; DIGEST_STATE_LEN];
            // SAFETY: `state` was resolved as 40 readable bytes of a live MR of the QP's PD;
            // copied out once, so what is checked is what is used.
            unsafe { std::ptr::copy_nonoverlapping(state.ptr, saved.as_mut_ptr(), DIGEST_STATE_LEN) };
            let saved: DigestState = zerocopy::transmute!(saved);
            library::Sha256Parts::resume(&saved, data.len() as u64).ok_or(Failure::malformed(VendorError::BadDigestState))?
        }
        false => library::Sha256Parts::start(),
    };
    parts.update(data);
    let Some(out) = out else {
        let after = parts.state().ok_or(Failure::length(VendorError::BadDigestState))?;
        // SAFETY: `state` was resolved as 40 writable bytes of a live MR of the QP's PD,
        // sharing none with the input (checked above).
        unsafe { std::ptr::copy_nonoverlapping(after.as_bytes().as_ptr(), state.ptr, DIGEST_STATE_LEN) };
        return Ok(Done::ok(DIGEST_STATE_LEN as u32, 0));
    };
    let value = parts.finish();
    // SAFETY: `out` was resolved as 32 writable bytes of a live MR of the QP's PD, sharing
    // none with the input or the state (checked above).
    unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), out.ptr, SHA256_LEN) };
    Ok(Done::ok(SHA256_LEN as u32, 0))
}
