//! A WQE exactly as the caller built it, for bindings that translate another API's work
//! requests into the ring's format themselves (the rdma-core plugin's `ibv_post_send` and
//! acceldv's builders).

use accelverbs_uapi::compress::{self, CompressParams, MAX_LIST_ENTRIES};
use accelverbs_uapi::crypto::{self, CryptoParams};
use accelverbs_uapi::wqe::{Opcode, Sge, Wqe};

use super::lists::ListSide;
use super::side::{check_count, encode_entries};
use super::{sealed, ListWriter};
use crate::PostError;

/// A work request given as its ring entry. The provider tracks none of the memory it names.
#[derive(Debug, Clone, Copy)]
pub struct RawWqe {
    wqe: Wqe,
}

impl RawWqe {
    /// # Safety
    /// Every range the WQE names (its SGEs, and the SGE lists they point at) must be memory
    /// registered under [`crate::Pd::reg_mr_raw`]'s contract and used that way until the
    /// request completes: no Rust reference to bytes the device may write, nor a mutable one
    /// to bytes it may read.
    pub unsafe fn new(wqe: Wqe) -> Self {
        Self { wqe }
    }
}

impl sealed::Encode for RawWqe {
    fn encode(&self, wqe: &mut Wqe, _lists: &mut ListWriter<'_>) {
        *wqe = self.wqe;
    }

    fn payload_bytes(&self) -> u64 {
        u64::from(self.wqe.src.length)
    }
}

/// A COMPRESS, DECOMPRESS, ENCRYPT or DECRYPT given as its ring entry, with its input gathered
/// from and its output scattered into lists of SGEs, as the typed builders' `gather`: the
/// lists obey the same rules (1 to `MAX_LIST_ENTRIES` entries a side), and a side of more
/// than one entry is placed in the QP's list area and flagged in the parameters. The provider
/// tracks none of the memory the entries name; the device checks each entry against its
/// region when it runs the request.
#[derive(Debug, Clone)]
pub struct RawGatherWqe {
    wqe: Wqe,
    src: Entries,
    dst: Entries,
}

/// One side's SGEs, kept in the request so posting allocates nothing.
#[derive(Debug, Clone, Copy)]
struct Entries {
    sges: [Sge; MAX_LIST_ENTRIES as usize],
    len: usize,
}

impl Entries {
    fn new(sges: &[Sge]) -> Result<Self, PostError> {
        check_count(sges.len())?;
        let mut entries = Self { sges: [Sge::default(); MAX_LIST_ENTRIES as usize], len: sges.len() };
        entries.sges[..sges.len()].copy_from_slice(sges);
        Ok(entries)
    }

    fn as_slice(&self) -> &[Sge] {
        &self.sges[..self.len]
    }

    fn is_list(&self) -> bool {
        self.len != 1
    }
}

impl RawGatherWqe {
    /// `wqe` with its parameters filled and its `src` and `dst` left to `src` and `dst`.
    /// `PostError::SgeCount` for a side of no entry or more than `MAX_LIST_ENTRIES`, and
    /// (`max: 1`) for an opcode that takes no lists.
    ///
    /// # Safety
    /// As [`RawWqe::new`], for every range the entries name.
    pub unsafe fn new(wqe: Wqe, src: &[Sge], dst: &[Sge]) -> Result<Self, PostError> {
        let gathers = matches!(
            Opcode::try_from(wqe.ctrl.opcode),
            Ok(Opcode::Compress | Opcode::Decompress | Opcode::Encrypt | Opcode::Decrypt)
        );
        if !gathers {
            return Err(PostError::SgeCount { max: 1 });
        }
        Ok(Self { wqe, src: Entries::new(src)?, dst: Entries::new(dst)? })
    }

    /// Sets the parameters' list flags for the sides that are lists.
    fn flag_lists(&self, wqe: &mut Wqe) {
        // COMPRESS's and ENCRYPT's parameters carry the same flag bits at different places.
        match Opcode::try_from(wqe.ctrl.opcode) {
            Ok(Opcode::Compress | Opcode::Decompress) => {
                let mut params: CompressParams = zerocopy::transmute!(wqe.params);
                params.flags |= self.flags(compress::flags::SRC_LIST, compress::flags::DST_LIST);
                wqe.params = zerocopy::transmute!(params);
            }
            _ => {
                let mut params: CryptoParams = zerocopy::transmute!(wqe.params);
                params.flags |= self.flags(crypto::flags::SRC_LIST, crypto::flags::DST_LIST);
                wqe.params = zerocopy::transmute!(params);
            }
        }
    }

    fn flags(&self, src_list: u16, dst_list: u16) -> u16 {
        (if self.src.is_list() { src_list } else { 0 }) | (if self.dst.is_list() { dst_list } else { 0 })
    }
}

impl sealed::Encode for RawGatherWqe {
    fn encode(&self, wqe: &mut Wqe, lists: &mut ListWriter<'_>) {
        *wqe = self.wqe;
        self.flag_lists(wqe);
        wqe.src = encode_entries(self.src.as_slice(), ListSide::Input, lists);
        wqe.dst = encode_entries(self.dst.as_slice(), ListSide::Output, lists);
    }

    fn gathers(&self) -> bool {
        self.src.is_list() || self.dst.is_list()
    }

    fn payload_bytes(&self) -> u64 {
        self.src.as_slice().iter().map(|s| u64::from(s.length)).sum()
    }
}
