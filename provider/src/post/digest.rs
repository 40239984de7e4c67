//! DIGEST: SHA-256 or HMAC-SHA-256 of a range into 32 bytes of another, or a CRC32C of a range
//! continuing from a seed, reported in the completion ([`crate::WorkCompletion::checksum`]).

use std::sync::Arc;

use accelverbs_uapi::crypto::{DigestAlgorithm, DigestParams, SHA256_LEN};
use accelverbs_uapi::wqe::{flags, Opcode, Sge, Wqe};
use zerocopy::IntoBytes;

use super::side::lend;
use super::{completion_options, sealed, ListWriter};
use crate::in_flight::{Borrower, DeviceAccess, Regions};
use crate::mr::MrShared;
use crate::{CryptoKey, MrSlice, MrSliceMut, PostError};

/// A digest or checksum request.
#[derive(Debug)]
pub struct Digest<'a> {
    wr_id: u64,
    flags: u8,
    params: DigestParams,
    input: (Sge, &'a Arc<MrShared>),
    output: Option<(Sge, &'a Arc<MrShared>)>,
    key: Option<&'a CryptoKey>,
}

impl<'a> Digest<'a> {
    /// SHA-256 of `input` into `output` (32 bytes). Signaled by default.
    pub fn sha256(wr_id: u64, input: MrSlice<'a>, output: MrSliceMut<'a>) -> Self {
        let params = DigestParams::new(DigestAlgorithm::Sha256);
        Self {
            wr_id,
            flags: flags::SIGNALED,
            params,
            input: (input.sge, input.mr),
            output: Some((output.sge, output.mr)),
            key: None,
        }
    }

    /// HMAC-SHA-256 of `input` under `key` (an HMAC-SHA-256 key) into `output` (32 bytes).
    pub fn hmac_sha256(wr_id: u64, key: &'a CryptoKey, input: MrSlice<'a>, output: MrSliceMut<'a>) -> Self {
        let params = DigestParams { key: key.number(), ..DigestParams::new(DigestAlgorithm::HmacSha256) };
        Self {
            wr_id,
            flags: flags::SIGNALED,
            params,
            input: (input.sge, input.mr),
            output: Some((output.sge, output.mr)),
            key: Some(key),
        }
    }

    /// CRC32C of `input`, continuing from `seed` (the CRC of the data before; 0 to start); the
    /// completion's `checksum()` is the result.
    pub fn crc32c(wr_id: u64, input: MrSlice<'a>, seed: u32) -> Self {
        let params = DigestParams { seed, ..DigestParams::new(DigestAlgorithm::Crc32c) };
        Self { wr_id, flags: flags::SIGNALED, params, input: (input.sge, input.mr), output: None, key: None }
    }
}

completion_options!(Digest<'a>);

impl sealed::Encode for Digest<'_> {
    fn encode(&self, wqe: &mut Wqe, _lists: &mut ListWriter<'_>) {
        wqe.ctrl.wr_id = self.wr_id;
        wqe.ctrl.opcode = Opcode::Digest as u8;
        wqe.ctrl.flags = self.flags;
        wqe.params.copy_from_slice(self.params.as_bytes());
        wqe.src = self.input.0;
        wqe.dst = self.output.map_or(Sge::default(), |o| o.0);
    }

    fn payload_bytes(&self) -> u64 {
        u64::from(self.input.0.length)
    }

    fn regions(&self, qp: Borrower<'_>) -> Result<Regions, PostError> {
        if self.key.is_some_and(|k| !k.inner.belongs_to(qp.ctx)) {
            return Err(PostError::WrongContext);
        }
        let input = (self.input.1, DeviceAccess::Read);
        let named = match self.output {
            None => &[input][..],
            Some((_, out)) => &[input, (out, DeviceAccess::Write)],
        };
        lend(named, self.key.map(|k| &k.inner), qp)
    }
}

/// The length of a SHA-256 or HMAC-SHA-256 output.
pub const DIGEST_LEN: usize = SHA256_LEN;
