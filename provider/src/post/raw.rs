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

#[cfg(test)]
mod tests {
    use accelverbs_uapi::compress::{self, CompressParams, MAX_LIST_ENTRIES};
    use accelverbs_uapi::crypto::{self, CryptoParams};
    use accelverbs_uapi::wqe::{Opcode, Sge, Wqe};
    use zerocopy::IntoBytes;

    use super::sealed::Encode;
    use super::{ListWriter, RawGatherWqe};
    use crate::PostError;

    fn wqe(opcode: Opcode, params: &[u8]) -> Wqe {
        let mut wqe = Wqe::default();
        wqe.ctrl.opcode = opcode as u8;
        wqe.params.copy_from_slice(params);
        wqe
    }

    fn entries(n: usize) -> Vec<Sge> {
        (0..n).map(|i| Sge { addr: 0x1000 * (i as u64 + 1), length: 16, lkey: 7 }).collect()
    }

    /// Encodes `raw` with no list area: a side that needs a list gets the zeroed SGE.
    fn encoded(raw: &RawGatherWqe) -> Wqe {
        let mut out = Wqe::default();
        raw.encode(&mut out, &mut ListWriter { area: None, index: 0 });
        out
    }

    #[test]
    fn a_side_holds_one_to_sixteen_entries() {
        let codec = wqe(Opcode::Compress, CompressParams::default().as_bytes());
        let max = MAX_LIST_ENTRIES as usize;
        for (src, dst) in [(0, 1), (1, 0), (max + 1, 1), (1, max + 1)] {
            // SAFETY: nothing is posted.
            let made = unsafe { RawGatherWqe::new(codec, &entries(src), &entries(dst)) };
            assert_eq!(made.unwrap_err(), PostError::SgeCount { max: MAX_LIST_ENTRIES }, "{src} and {dst} entries");
        }
        // SAFETY: nothing is posted.
        assert!(unsafe { RawGatherWqe::new(codec, &entries(max), &entries(max)) }.is_ok());
    }

    #[test]
    fn only_the_codec_and_cipher_opcodes_take_lists() {
        for opcode in [Opcode::Nop, Opcode::Copy, Opcode::Digest, Opcode::Send, Opcode::CompressEncrypt] {
            // SAFETY: nothing is posted.
            let made = unsafe { RawGatherWqe::new(wqe(opcode, &[0; 48]), &entries(1), &entries(1)) };
            assert_eq!(made.unwrap_err(), PostError::SgeCount { max: 1 }, "{opcode:?}");
        }
    }

    #[test]
    fn list_sides_are_flagged_where_each_opcode_keeps_its_flags() {
        let stream = CompressParams { format: 3, flags: compress::flags::FINISH, stream: 9, ..CompressParams::default() };
        // SAFETY: nothing is posted.
        let raw = unsafe { RawGatherWqe::new(wqe(Opcode::Decompress, stream.as_bytes()), &entries(3), &entries(1)) }.unwrap();
        assert!(raw.gathers());
        let out = encoded(&raw);
        let params: CompressParams = zerocopy::transmute!(out.params);
        assert_eq!(params, CompressParams { flags: compress::flags::FINISH | compress::flags::SRC_LIST, ..stream });
        assert_eq!((out.src, out.dst), (Sge::default(), entries(1)[0]), "the one output entry is sent as it is");

        let gcm = CryptoParams { key: 5, iv: [1; 16], ..CryptoParams::default() };
        // SAFETY: nothing is posted.
        let raw = unsafe { RawGatherWqe::new(wqe(Opcode::Encrypt, gcm.as_bytes()), &entries(1), &entries(2)) }.unwrap();
        let out = encoded(&raw);
        let params: CryptoParams = zerocopy::transmute!(out.params);
        assert_eq!(params, CryptoParams { flags: crypto::flags::DST_LIST, ..gcm });
        assert_eq!(out.src, entries(1)[0]);

        // SAFETY: nothing is posted.
        let single = unsafe { RawGatherWqe::new(wqe(Opcode::Encrypt, gcm.as_bytes()), &entries(1), &entries(1)) }.unwrap();
        assert!(!single.gathers(), "one entry a side needs no list area");
        assert_eq!(encoded(&single).params, wqe(Opcode::Encrypt, gcm.as_bytes()).params);
    }
}
