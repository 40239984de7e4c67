//! The chained operations, so a storage engine posts one request per block:
//!
//! - COMPRESS_ENCRYPT compresses `src` into `dst` (one-shot), then encrypts those bytes there,
//!   in place, with AES-GCM (the AAD in `aux[0]`, the tag written to `aux[1]`).
//! - DECRYPT_DECOMPRESS decrypts `src` into `dst` (checking the tag), then decompresses those
//!   bytes in place (the codec stages its input), and zeroes what is left of them past the
//!   output.
//!
//! Each stage is the plain operation run on a WQE made from the chained one, so every check of
//! COMPRESS, DECOMPRESS, ENCRYPT and DECRYPT applies. The completion reports both: its status
//! is the first stage's that did not succeed (a data-dependent one leaves the QP running, as
//! alone), and its `byte_len`, `result` (input consumed, the format's checksum of the plain
//! data) and `flags` are the compression stage's.

use std::mem::{offset_of, size_of_val};

use accelverbs_uapi::compress::CompressParams;
use accelverbs_uapi::cqe::{CqeStatus, VendorError};
use accelverbs_uapi::crypto::{ChainParams, CryptoParams, GCM_IV_LEN};
use accelverbs_uapi::wqe::{Opcode, Sge, Wqe, WqeCtrl};
use zerocopy::IntoBytes;

use super::compression::{COMPRESS, DECOMPRESS};
use super::crypto::{DECRYPT, ENCRYPT};
use super::{params_zero, Done, ExecContext, Failure, Operation};
use crate::hw::mr_table::Use;

#[derive(Debug)]
pub struct Chain {
    opcode: Opcode,
}

pub static COMPRESS_ENCRYPT: Chain = Chain { opcode: Opcode::CompressEncrypt };
pub static DECRYPT_DECOMPRESS: Chain = Chain { opcode: Opcode::DecryptDecompress };

/// After a stage that succeeded: what it wrote to memory reached by copies goes back, so the
/// next stage, which reads it there, sees it.
fn stage_done(ctx: &ExecContext<'_>) -> Result<(), Failure> {
    match ctx.mrs.put_back() {
        true => Ok(()),
        false => Err(Failure::protection(VendorError::PageFault)),
    }
}

/// The WQE of one stage: the chained WQE's id and flags, `opcode`, `params`, and the ranges.
fn stage(chained: &Wqe, opcode: Opcode, params: &[u8; 48], src: Sge, dst: Sge, aux: [Sge; 2]) -> Wqe {
    let ctrl = WqeCtrl { opcode: opcode as u8, ..chained.ctrl };
    Wqe { ctrl, params: *params, src, dst, aux }
}

impl Operation for Chain {
    fn opcode(&self) -> Opcode {
        self.opcode
    }

    fn max_sge(&self) -> u32 {
        1
    }

    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        let params: ChainParams = zerocopy::transmute!(wqe.params);
        if params.flags != 0
            || params.stream != 0
            || !params_zero(wqe, offset_of!(ChainParams, reserved), size_of_val(&params.reserved))
        {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        // The key first, so a request that cannot be encrypted writes nothing.
        let key = ctx.crypto_keys.resolve(params.key, ctx.pdn).map_err(|v| match v {
            VendorError::PdMismatch => Failure::protection(v),
            _ => Failure::protection(VendorError::CryptoKeyUnknown),
        })?;
        if key.gcm().is_none() {
            return Err(Failure::malformed(VendorError::WrongKeyAlgorithm));
        }
        let mut iv = [0u8; 16];
        iv[..GCM_IV_LEN].copy_from_slice(&params.iv);
        let crypto: [u8; 48] = zerocopy::transmute!(CryptoParams { key: params.key, iv, ..CryptoParams::default() });
        let mut codec = [0u8; 48];
        let codec_params = CompressParams { format: params.format, level: params.level, ..CompressParams::default() };
        codec.copy_from_slice(codec_params.as_bytes());
        let no_aux = [Sge::default(); 2];
        // The first stage's output, as the second stage's input: `dst`, as long as it made.
        let produced = |len: u32| Sge { length: len, ..wqe.dst };
        if self.opcode == Opcode::CompressEncrypt {
            let compressed = COMPRESS.run(&stage(wqe, Opcode::Compress, &codec, wqe.src, wqe.dst, no_aux), ctx)?;
            if compressed.status != CqeStatus::Success {
                return Ok(compressed);
            }
            stage_done(ctx)?;
            let in_place = produced(compressed.byte_len);
            let sealed = ENCRYPT.run(&stage(wqe, Opcode::Encrypt, &crypto, in_place, in_place, wqe.aux), ctx)?;
            return Ok(Done { status: sealed.status, ..compressed });
        }
        if wqe.dst.length < wqe.src.length {
            return Err(Failure::length(VendorError::DestinationTooSmall));
        }
        let opened = DECRYPT.run(&stage(wqe, Opcode::Decrypt, &crypto, wqe.src, wqe.dst, wqe.aux), ctx)?;
        if opened.status != CqeStatus::Success {
            return Ok(opened);
        }
        stage_done(ctx)?;
        let plain = DECOMPRESS.run(&stage(wqe, Opcode::Decompress, &codec, produced(wqe.src.length), wqe.dst, no_aux), ctx)?;
        stage_done(ctx)?;
        // What is left of the decrypted, compressed data past the output goes.
        let left = produced(wqe.src.length);
        if plain.byte_len < left.length {
            let rest = Sge { addr: left.addr + u64::from(plain.byte_len), length: left.length - plain.byte_len, ..left };
            let rest = ctx.mrs.resolve(&rest, ctx.pdn, Use::Write).map_err(Failure::protection)?;
            // SAFETY: resolved inside a live, pinned MR of the QP's PD with local write access
            // (held by `rest` meanwhile), part of this request's own output.
            unsafe { std::ptr::write_bytes(rest.ptr, 0, rest.len) };
        }
        Ok(plain)
    }
}
