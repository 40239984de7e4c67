//! ENCRYPT and DECRYPT with a device key (named by number, in the QP's PD), by its algorithm:
//!
//! - AES-GCM (128- and 256-bit keys), through aws-lc, out of place (`hw/gcm_key.rs`): the IV
//!   comes in the WQE, the AAD from `aux[0]`, and the tag goes to (or comes from) `aux[1]`. A
//!   tag that does not authenticate completes with `AuthenticationFailed`, the destination
//!   zeroed, and the QP goes on.
//! - AES-XTS (AES-128 and AES-256, `hw/xts_key.rs`): the input is a whole number of data units
//!   of `data_unit` bytes (at least 16), the first under the tweak in the IV field and each
//!   next one under the tweak plus one (little-endian, IEEE 1619); no AAD, no tag.

use accelverbs_uapi::cqe::{CqeStatus, VendorError};
use accelverbs_uapi::crypto::{CryptoParams, GCM_IV_LEN, GCM_TAG_LEN, XTS_MIN_DATA_UNIT};
use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::{is_zero_sge, Done, ExecContext, Failure, Operation};
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
        if params.reserved0 != 0 || params.reserved != [0; 20] {
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
unsafe fn input_for(src: &Resolved, out: Span, copy: &mut Vec<u8>) -> *const u8 {
    if src.ptr != out.0 && overlap(span(src), out) {
        // SAFETY: the caller's contract.
        *copy = unsafe { std::slice::from_raw_parts(src.ptr, src.len) }.to_vec();
        copy.as_ptr()
    } else {
        src.ptr
    }
}

impl Crypto {
    /// AES-XTS over whole data units.
    fn xts(&self, key: &XtsKey, params: &CryptoParams, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        if !is_zero_sge(&wqe.aux[0]) || !is_zero_sge(&wqe.aux[1]) {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        let unit = params.data_unit as usize;
        if unit < XTS_MIN_DATA_UNIT {
            return Err(Failure::malformed(VendorError::BadDataUnit));
        }
        let mrs = ctx.mrs;
        let src = mrs.resolve(&wqe.src, ctx.pdn, Use::Read).map_err(Failure::protection)?;
        let dst = mrs.resolve(&wqe.dst, ctx.pdn, Use::Write).map_err(Failure::protection)?;
        if src.len == 0 || src.len % unit != 0 {
            return Err(Failure::length(VendorError::BadDataUnit));
        }
        if dst.len < src.len {
            return Err(Failure::length(VendorError::DestinationTooSmall));
        }
        let out: Span = (dst.ptr, src.len);
        let mut copy = Vec::new();
        // SAFETY: `src` was resolved inside a live, pinned MR of the QP's PD (held until the
        // request ends) and the provider keeps Rust references off bytes a posted request names.
        let input = unsafe { input_for(&src, out, &mut copy) };
        let encrypt = self.opcode == Opcode::Encrypt;
        // SAFETY: as above, for the output too; `input` and the output are one range or
        // disjoint (a shifted overlap reads the copy); `unit` divides the length.
        if !unsafe { key.crypt(encrypt, params.iv, unit, input, out.0, src.len) } {
            // The library refuses only what the checks above already rule out.
            return Err(Failure { status: CqeStatus::GeneralError, vendor: VendorError::None, fatal: true });
        }
        Ok(Done::ok(src.len as u32, 0))
    }

    /// AES-GCM: IV, AAD, tag.
    fn gcm(&self, aead: &GcmKey, params: &CryptoParams, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        if params.data_unit != 0 || params.iv[GCM_IV_LEN..] != [0; 4] {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
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
        // aws-lc takes the output as the input itself or apart from it.
        let mut copy = Vec::new();
        // SAFETY: as said above.
        let input = unsafe { input_for(&src, out_span, &mut copy) };
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
