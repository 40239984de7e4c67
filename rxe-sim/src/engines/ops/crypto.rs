//! ENCRYPT and DECRYPT with AES-GCM (128- and 256-bit keys), through aws-lc, out of place
//! (`hw/gcm_key.rs`): the key is the
//! device's (named by number, in the QP's PD), the IV comes in the WQE, the AAD from `aux[0]`
//! and the tag goes to (or comes from) `aux[1]`. A tag that does not authenticate completes
//! with `AuthenticationFailed`, the destination zeroed, and the QP goes on.

use accelverbs_uapi::cqe::{CqeStatus, VendorError};
use accelverbs_uapi::crypto::{CryptoParams, GCM_IV_LEN, GCM_TAG_LEN};
use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::{is_zero_sge, Done, ExecContext, Failure, Operation};
use crate::hw::mr_table::{Resolved, Use};

/// One direction of AES-GCM.
#[derive(Debug)]
pub struct Crypto {
    opcode: Opcode,
}

pub static ENCRYPT: Crypto = Crypto { opcode: Opcode::Encrypt };
pub static DECRYPT: Crypto = Crypto { opcode: Opcode::Decrypt };

/// A range of device-reachable memory: start and length.
type Span = (*mut u8, usize);

fn span(r: &Resolved) -> Span {
    (r.ptr, r.len)
}

/// Whether two ranges share a byte.
fn overlap((a, an): Span, (b, bn): Span) -> bool {
    let (a, b) = (a as usize, b as usize);
    an > 0 && bn > 0 && a < b + bn && b < a + an
}

impl Operation for Crypto {
    fn opcode(&self) -> Opcode {
        self.opcode
    }

    fn max_sge(&self) -> u32 {
        1
    }

    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        let params: CryptoParams = zerocopy::transmute!(wqe.params);
        if params.reserved0 != 0 || params.data_unit != 0 || params.reserved != [0; 20] || params.iv[GCM_IV_LEN..] != [0; 4] {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        let key = ctx.crypto_keys.resolve(params.key, ctx.pdn).map_err(|v| match v {
            VendorError::PdMismatch => Failure::protection(v),
            _ => Failure::protection(VendorError::CryptoKeyUnknown),
        })?;
        let aead = key.gcm().ok_or(Failure::malformed(VendorError::WrongKeyAlgorithm))?;
        let mrs = ctx.mrs;
        let src = mrs.resolve(&wqe.src, ctx.pdn, Use::Read).map_err(Failure::protection)?;
        let dst = mrs.resolve(&wqe.dst, ctx.pdn, Use::Write).map_err(Failure::protection)?;
        if dst.len < src.len {
            return Err(Failure::length(VendorError::DestinationTooSmall));
        }
        let aad = match is_zero_sge(&wqe.aux[0]) {
            true => None,
            false => Some(mrs.resolve(&wqe.aux[0], ctx.pdn, Use::Read).map_err(Failure::protection)?),
        };
        if wqe.aux[1].length as usize != GCM_TAG_LEN {
            return Err(Failure::length(VendorError::DestinationTooSmall));
        }
        let tag_use = if self.opcode == Opcode::Encrypt { Use::Write } else { Use::Read };
        let tag = mrs.resolve(&wqe.aux[1], ctx.pdn, tag_use).map_err(Failure::protection)?;
        // The output may be the input itself, nothing else of the request.
        let out_span: Span = (dst.ptr, src.len);
        let aad_span = aad.as_ref().map(span);
        let tag_span = span(&tag);
        if aad_span.is_some_and(|a| overlap(a, out_span) || overlap(a, tag_span))
            || overlap(tag_span, out_span)
            || overlap(tag_span, span(&src))
        {
            return Err(Failure::malformed(VendorError::Overlap));
        }
        let nonce: [u8; GCM_IV_LEN] = params.iv[..GCM_IV_LEN].try_into().expect("12 bytes");
        // Every range below was resolved inside a live, pinned MR of the QP's PD (the
        // `Resolved`s hold the MRs, so deregistration waits), is only read or only written by
        // this request (overlaps other than output-over-input refused above), and the provider
        // keeps Rust references away from bytes a posted request names.
        let aad_bytes: &[u8] = match &aad {
            // SAFETY: as said above.
            Some(a) => unsafe { std::slice::from_raw_parts(a.ptr, a.len) },
            None => &[],
        };
        // aws-lc takes the output as the input itself or apart from it; an output shifted over
        // its input reads from a private copy.
        let copy;
        let input: *const u8 = if src.ptr != out_span.0 && overlap(span(&src), out_span) {
            // SAFETY: as said above.
            copy = unsafe { std::slice::from_raw_parts(src.ptr, src.len) }.to_vec();
            copy.as_ptr()
        } else {
            src.ptr
        };
        if self.opcode == Opcode::Encrypt {
            // SAFETY: as said above: `input` and the output are one range or disjoint, the tag
            // and the AAD overlap neither the output nor each other.
            if !unsafe { aead.seal(&nonce, aad_bytes, input, out_span.0, src.len, tag.ptr) } {
                // aws-lc refuses only what the checks above already rule out.
                return Err(Failure { status: CqeStatus::GeneralError, vendor: VendorError::None, fatal: true });
            }
            return Ok(Done::ok(src.len as u32, 0));
        }
        // SAFETY: as for sealing, with the tag read.
        if !unsafe { aead.open(&nonce, aad_bytes, input, out_span.0, src.len, tag.ptr) } {
            // Never leave unauthenticated plaintext readable.
            // SAFETY: as said above.
            unsafe { std::ptr::write_bytes(out_span.0, 0, src.len) };
            return Ok(Done { status: CqeStatus::AuthenticationFailed, byte_len: 0, result: 0, flags: 0 });
        }
        Ok(Done::ok(src.len as u32, 0))
    }
}
