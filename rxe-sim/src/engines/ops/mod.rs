//! The operations the device executes: one module each behind [`Operation`], listed in
//! [`OPERATIONS`]. The capabilities the device advertises (opcodes, SGEs per WQE) are derived
//! from this table, so what QUERY_DEVICE says and what runs cannot drift apart.

mod chain;
mod compression;
mod copy;
mod crypto;
mod digest;
mod nop;
mod rdma;
mod send;

pub use send::{Peer, Responder};

use std::mem::offset_of;
use std::sync::LazyLock;

use accelverbs_uapi::cqe::{CqeStatus, VendorError};
use accelverbs_uapi::wqe::{Opcode, Sge, Wqe, WQE_SIZE};

use crate::hw::crypto_key_table::KeyView;
use crate::hw::mr_table::{MrView, Resolved};
use crate::hw::stream_table::StreamTable;

/// A WQE that ran: its completion. An operation whose outcome depends on the data (output too
/// small, corrupt input) ran too, with a status other than success; the QP goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    pub status: CqeStatus,
    pub byte_len: u32,
    pub result: u64,
    /// `cqe::flags` the operation sets.
    pub flags: u8,
}

impl Done {
    pub fn ok(byte_len: u32, result: u64) -> Self {
        Self::ok_with(byte_len, result, 0)
    }
    pub fn ok_with(byte_len: u32, result: u64, flags: u8) -> Self {
        Self { status: CqeStatus::Success, byte_len, result, flags }
    }
}

/// A WQE that failed: the CQE status, which check, and whether the QP must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub status: CqeStatus,
    pub vendor: VendorError,
    /// A malformed WQE or a protection failure stops the QP (ERR, later work flushed), as in
    /// verbs; an outcome that depends on the data (output too small, corrupt input) does not.
    pub fatal: bool,
}

impl Failure {
    pub fn malformed(vendor: VendorError) -> Self {
        Self { status: CqeStatus::LocalQpOperationError, vendor, fatal: true }
    }
    pub fn protection(vendor: VendorError) -> Self {
        Self { status: CqeStatus::LocalProtectionError, vendor, fatal: true }
    }
    pub fn length(vendor: VendorError) -> Self {
        Self { status: CqeStatus::LocalLengthError, vendor, fatal: true }
    }
    /// The remote side of an RDMA request: like a protection error, it stops the QP.
    pub fn remote_access(vendor: VendorError) -> Self {
        Self { status: CqeStatus::RemoteAccessError, vendor, fatal: true }
    }
}

/// What an operation may reach while it runs: the QP's protection domain and the device's
/// memory translation (compression contexts and keys join here).
#[derive(Clone, Copy)]
pub struct ExecContext<'a> {
    /// The posting QP.
    pub qpn: u32,
    pub pdn: u32,
    pub mrs: &'a MrView<'a>,
    pub streams: &'a StreamTable,
    /// The device's crypto keys.
    pub crypto_keys: &'a KeyView<'a>,
    /// Most bytes decompression may produce per byte of input (0: only the destination
    /// bounds it): the QP's guard against decompression bombs.
    pub max_ratio: u32,
    /// Who answers SEND and RDMA (only looked up for those opcodes: `Itself` for others).
    pub peer: Peer<'a>,
}

impl std::fmt::Debug for ExecContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecContext").field("qpn", &self.qpn).field("pdn", &self.pdn).finish_non_exhaustive()
    }
}

/// One operation. `run` gets a WQE copied out of the ring whose control fields were checked
/// (`execute.rs`); everything else in it (params, SGEs, aux) is the operation's to check.
pub trait Operation: Sync {
    fn opcode(&self) -> Opcode;
    /// Data SGEs per direction the operation reads from the WQE.
    fn max_sge(&self) -> u32;
    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure>;
}

/// Every operation the device runs.
pub static OPERATIONS: &[&dyn Operation] = &[
    &nop::Nop,
    &copy::Copy,
    &rdma::RDMA_WRITE,
    &rdma::RDMA_READ,
    &send::Send,
    &compression::COMPRESS,
    &compression::DECOMPRESS,
    &crypto::ENCRYPT,
    &crypto::DECRYPT,
    &digest::Digest,
    &chain::COMPRESS_ENCRYPT,
    &chain::DECRYPT_DECOMPRESS,
];

/// The operation for a raw opcode byte: one index into a table built once from [`OPERATIONS`]
/// (a search through it cost up to a dozen dynamic calls per WQE).
pub fn find(opcode: u8) -> Option<&'static dyn Operation> {
    static BY_OPCODE: LazyLock<[Option<&'static dyn Operation>; 256]> = LazyLock::new(|| {
        let mut table: [Option<&'static dyn Operation>; 256] = [None; 256];
        for &op in OPERATIONS {
            table[op.opcode() as usize] = Some(op);
        }
        table
    });
    BY_OPCODE[opcode as usize]
}

/// The opcodes the device runs: bit `n` for opcode `n` (`DeviceCaps::opcodes` holds bits 0–63,
/// `opcodes_hi` the rest).
pub fn opcode_mask() -> u128 {
    OPERATIONS.iter().fold(0, |mask, op| mask | 1 << (op.opcode() as u8))
}

/// `DeviceCaps::max_sge`: the most any operation takes.
pub fn max_sge() -> u32 {
    OPERATIONS.iter().map(|op| op.max_sge()).max().unwrap_or(0)
}

/// Whether the `len` bytes at `offset` into the WQE's parameters are all zero (a reserved
/// field), read as the aligned words that hold them with the bytes outside masked off. The
/// pass has just copied the WQE 16 bytes a store, and a load that straddles two stores waits
/// until both reach the cache: the 16-byte loads an OR over the bytes compiled to were two of
/// DIGEST's three costliest instructions in `perf annotate` (comparing with a zero array, before
/// that, called `memcmp`).
fn params_zero(wqe: &Wqe, offset: usize, len: usize) -> bool {
    let from = offset_of!(Wqe, params) + offset;
    let to = from + len;
    debug_assert!(to <= WQE_SIZE);
    let words: &[u64; WQE_SIZE / 8] = zerocopy::transmute_ref!(wqe);
    (from / 8..to.div_ceil(8)).fold(0, |any, i| {
        // The word's bytes `first..end` are the field's; byte `k` of a word is bits `8k..`
        // once it is read little-endian.
        let (first, end) = (from.max(i * 8) - i * 8, to.min(i * 8 + 8) - i * 8);
        let mask = (u64::MAX >> (64 - 8 * (end - first))) << (8 * first);
        any | (u64::from_le(words[i]) & mask)
    }) == 0
}

fn is_zero_sge(sge: &Sge) -> bool {
    *sge == Sge::default()
}

/// Whether the WQE's bytes `from..to` (both multiples of 8) are all zero, checked a word at a
/// time (byte by byte, the checks below were a tenth of a NOP's cost).
fn zero_between(wqe: &Wqe, from: usize, to: usize) -> bool {
    debug_assert!(from.is_multiple_of(8) && to.is_multiple_of(8) && from <= to && to <= WQE_SIZE);
    let words: &[u64; WQE_SIZE / 8] = zerocopy::transmute_ref!(wqe);
    words[from / 8..to / 8].iter().fold(0, |any, &word| any | word) == 0
}

/// A range resolved for a request, borrowed where `resolve` returned it: a protection failure
/// otherwise. Moving the range out instead read it back in 16-byte words from the 8-byte
/// stores that had just written it, which cannot be forwarded: that stall was a twentieth of an
/// engine's time for a 4 KiB CRC32C (`perf annotate`).
fn in_place<'r, 'v>(resolved: &'r Result<Resolved<'v>, VendorError>) -> Result<&'r Resolved<'v>, Failure> {
    resolved.as_ref().map_err(|&e| Failure::protection(e))
}

/// [`in_place`] for a range the request shortens.
fn in_place_mut<'r, 'v>(resolved: &'r mut Result<Resolved<'v>, VendorError>) -> Result<&'r mut Resolved<'v>, Failure> {
    resolved.as_mut().map_err(|&mut e| Failure::protection(e))
}

/// For operations that take no parameters and no auxiliary SGEs.
fn no_params_or_aux(wqe: &Wqe) -> Result<(), Failure> {
    if !zero_between(wqe, offset_of!(Wqe, params), offset_of!(Wqe, src)) || !zero_between(wqe, offset_of!(Wqe, aux), WQE_SIZE) {
        return Err(Failure::malformed(VendorError::ReservedNonzero));
    }
    Ok(())
}

/// For operations that take nothing but the control segment.
fn nothing_but_ctrl(wqe: &Wqe) -> Result<(), Failure> {
    if !zero_between(wqe, offset_of!(Wqe, params), WQE_SIZE) {
        return Err(Failure::malformed(VendorError::ReservedNonzero));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte of the parameters, alone and within longer fields at every offset (Miri:
    /// every fifth, still every position in a word).
    #[test]
    fn params_zero_sees_exactly_the_bytes_it_is_given() {
        let step = if cfg!(miri) { 5 } else { 1 };
        for byte in (0..48).step_by(step) {
            let mut wqe = Wqe::default();
            wqe.params[byte] = 0x80;
            for offset in (0..48).step_by(step) {
                for len in 1..=48 - offset {
                    let covers = (offset..offset + len).contains(&byte);
                    assert_eq!(params_zero(&wqe, offset, len), !covers, "byte {byte}, field {offset}+{len}");
                }
            }
        }
    }

    #[test]
    fn the_table_has_one_entry_per_opcode_and_advertises_exactly_it() {
        for (i, a) in OPERATIONS.iter().enumerate() {
            assert!(OPERATIONS[i + 1..].iter().all(|b| b.opcode() != a.opcode()), "{:?} twice", a.opcode());
            assert_eq!(find(a.opcode() as u8).map(|op| op.opcode()), Some(a.opcode()));
        }
        let expected = Opcode::ALL;
        assert_eq!(opcode_mask(), expected.iter().fold(0u128, |m, &op| m | 1 << op as u8));
        assert_eq!(max_sge(), accelverbs_uapi::compress::MAX_LIST_ENTRIES);
        assert!(find(0xFF).is_none());
    }
}
