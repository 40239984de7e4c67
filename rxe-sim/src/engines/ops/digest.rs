//! DIGEST: SHA-256 and HMAC-SHA-256 (aws-lc) write 32 bytes to `dst`; CRC32C (crc-fast)
//! continues from the request's seed and reports its value in the completion, so a checksum
//! can be carried across requests.

use crate::library;
use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::crypto::{DigestAlgorithm, DigestParams, SHA256_LEN};
use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::{all_zero, is_zero_sge, Done, ExecContext, Failure, Operation};
use crate::hw::mr_table::Use;

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
        let params: DigestParams = zerocopy::transmute!(wqe.params);
        if !all_zero(&params.reserved0) || !all_zero(&params.reserved) || !wqe.aux.iter().all(is_zero_sge) {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        let algorithm = DigestAlgorithm::try_from(params.algorithm).map_err(|_| Failure::malformed(VendorError::BadAlgorithm))?;
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
        // An empty input may be a zero SGE (no region at all).
        let input = match is_zero_sge(&wqe.src) {
            true => None,
            false => Some(ctx.mrs.resolve(&wqe.src, ctx.pdn, Use::Read).map_err(Failure::protection)?),
        };
        // SAFETY: the range was resolved inside a live, pinned MR of the QP's PD (the
        // pass's view keeps it registered: deregistration waits for the view); the request only reads it, and the
        // provider keeps mutable Rust references away from bytes a posted request reads.
        let data: &[u8] = input.as_ref().map_or(&[], |r| unsafe { std::slice::from_raw_parts(r.ptr, r.len) });
        if algorithm == DigestAlgorithm::Crc32c {
            if !is_zero_sge(&wqe.dst) {
                return Err(Failure::malformed(VendorError::ReservedNonzero));
            }
            return Ok(Done::ok(0, u64::from(library::crc32c(params.seed, data))));
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
        let (i0, o0) = (input.as_ref().map_or(0, |r| r.ptr as usize), out.ptr as usize);
        if input.as_ref().is_some_and(|r| r.len > 0 && i0 < o0 + SHA256_LEN && o0 < i0 + r.len) {
            return Err(Failure::malformed(VendorError::Overlap));
        }
        // SAFETY: `out` was resolved as 32 writable bytes of a live MR of the QP's PD, read by
        // nothing else of this request (checked above).
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), out.ptr, SHA256_LEN) };
        Ok(Done::ok(SHA256_LEN as u32, 0))
    }
}
