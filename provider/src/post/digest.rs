//! DIGEST: SHA-256 or HMAC-SHA-256 of a range into 32 bytes of another, or a CRC32C of a range
//! continuing from a seed, reported in the completion ([`crate::WorkCompletion::checksum`]). A
//! SHA-256 may also run over several requests, its state carried in registered memory.

use std::sync::Arc;

pub use accelverbs_uapi::crypto::SHA256_BLOCK;
use accelverbs_uapi::crypto::{digest_flags, DigestAlgorithm, DigestParams, DigestState, SHA256_LEN};
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
    /// A SHA-256 in parts: where its state is carried, and whether this part writes it.
    state: Option<(Sge, &'a Arc<MrShared>, DeviceAccess)>,
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
            state: None,
            key: None,
        }
    }

    /// The first part of a SHA-256 posted over several requests (a message too large for one,
    /// or not all at hand): `input` a whole number of 64-byte blocks ([`SHA256_BLOCK`]); the
    /// state after it goes to `state`, [`DIGEST_STATE_LEN`] bytes of registered memory that
    /// the next part reads. `BadDigestState` if the input is not whole blocks.
    pub fn sha256_first(wr_id: u64, input: MrSlice<'a>, state: MrSliceMut<'a>) -> Self {
        Self::sha256_part(wr_id, digest_flags::MORE, input, (state.sge, state.mr, DeviceAccess::Write), None)
    }

    /// A middle part: continues from `state` and leaves the state after `input` (whole blocks)
    /// there for the next.
    pub fn sha256_next(wr_id: u64, input: MrSlice<'a>, state: MrSliceMut<'a>) -> Self {
        let flags = digest_flags::RESUME | digest_flags::MORE;
        Self::sha256_part(wr_id, flags, input, (state.sge, state.mr, DeviceAccess::Write), None)
    }

    /// The last part: continues from `state` with `input` (any length, 0 too) and writes the
    /// digest of the whole message to `output` (32 bytes).
    pub fn sha256_last(wr_id: u64, input: MrSlice<'a>, state: MrSlice<'a>, output: MrSliceMut<'a>) -> Self {
        let output = Some((output.sge, output.mr));
        Self::sha256_part(wr_id, digest_flags::RESUME, input, (state.sge, state.mr, DeviceAccess::Read), output)
    }

    fn sha256_part(
        wr_id: u64,
        part: u8,
        input: MrSlice<'a>,
        state: (Sge, &'a Arc<MrShared>, DeviceAccess),
        output: Option<(Sge, &'a Arc<MrShared>)>,
    ) -> Self {
        let params = DigestParams { flags: part, ..DigestParams::new(DigestAlgorithm::Sha256) };
        Self { wr_id, flags: flags::SIGNALED, params, input: (input.sge, input.mr), output, state: Some(state), key: None }
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
            state: None,
            key: Some(key),
        }
    }

    /// CRC32C of `input`, continuing from `seed` (the CRC of the data before; 0 to start); the
    /// completion's `checksum()` is the result.
    pub fn crc32c(wr_id: u64, input: MrSlice<'a>, seed: u32) -> Self {
        let params = DigestParams { seed, ..DigestParams::new(DigestAlgorithm::Crc32c) };
        Self { wr_id, flags: flags::SIGNALED, params, input: (input.sge, input.mr), output: None, state: None, key: None }
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
        wqe.aux[0] = self.state.map_or(Sge::default(), |s| s.0);
    }

    fn payload_bytes(&self) -> u64 {
        u64::from(self.input.0.length)
    }

    fn regions(&self, qp: Borrower<'_>, held: &mut Regions) -> Result<(), PostError> {
        if self.key.is_some_and(|k| !k.inner.belongs_to(qp.ctx)) {
            return Err(PostError::WrongContext);
        }
        let input = (self.input.1, DeviceAccess::Read);
        let mut named = [input; 3];
        let mut count = 1;
        for (mr, access) in [self.output.map(|(_, mr)| (mr, DeviceAccess::Write)), self.state.map(|(_, mr, access)| (mr, access))]
            .into_iter()
            .flatten()
        {
            named[count] = (mr, access);
            count += 1;
        }
        let named = &named[..count];
        lend(named, self.key.map(|k| &k.inner), qp, held)
    }
}

/// The length of a SHA-256 or HMAC-SHA-256 output.
pub const DIGEST_LEN: usize = SHA256_LEN;

/// The bytes of registered memory a SHA-256 in parts carries its state in
/// ([`Digest::sha256_first`]).
pub const DIGEST_STATE_LEN: usize = std::mem::size_of::<DigestState>();
