//! Scatter-gather lists: a WQE's `src` or `dst` resolved into the byte ranges it names. An SGE
//! is either the data itself or, indirect, an array of SGEs inside a registered region (as
//! mlx5's KLM lists). The array is copied out of user memory before it is read, its length is
//! bounded, and every entry goes through the same checked resolution as a direct SGE.

use accelverbs_uapi::compress::MAX_LIST_ENTRIES;
use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::wqe::Sge;

use super::ops::{ExecContext, Failure};
use super::pieces::{self, Span, UserSpan};
use crate::hw::mr_table::{Resolved, Use};

const MAX_ENTRIES: usize = MAX_LIST_ENTRIES as usize;
const SGE_BYTES: usize = std::mem::size_of::<Sge>();

/// The ranges one side of a request names, in order, borrowed from the pass's view of the MR
/// table (deregistration waits for it). One range, the common case, is kept inline (small to
/// move, nothing to allocate).
#[derive(Debug)]
pub enum SgList<'v> {
    One(Resolved<'v>),
    Many { entries: Vec<Resolved<'v>>, total: u64 },
}

impl<'v> SgList<'v> {
    /// Resolves `sge` for `usage`: the data itself, or with `indirect` the list it names.
    pub fn resolve(sge: &Sge, indirect: bool, ctx: &ExecContext<'v>, usage: Use) -> Result<Self, Failure> {
        if !indirect {
            return Ok(Self::One(ctx.mrs.resolve(sge, ctx.pdn, usage).map_err(Failure::protection)?));
        }
        let mut list = Self::Many { entries: Vec::with_capacity(MAX_ENTRIES), total: 0 };
        let array = ctx.mrs.resolve(sge, ctx.pdn, Use::Read).map_err(Failure::protection)?;
        if array.len == 0 || array.len % SGE_BYTES != 0 || array.len / SGE_BYTES > MAX_ENTRIES {
            return Err(Failure::malformed(VendorError::BadList));
        }
        for i in 0..array.len / SGE_BYTES {
            // SAFETY: entry `i` lies inside the resolved range (`i * 16 + 16 <= len`), which its
            // MR keeps pinned while `array` lives. Copied out with a volatile read first: the
            // application may be rewriting it, and we must check what we then use.
            let raw: [u8; SGE_BYTES] = unsafe { std::ptr::read_volatile(array.ptr.add(i * SGE_BYTES).cast()) };
            let entry: Sge = zerocopy::transmute!(raw);
            list.push(ctx.mrs.resolve(&entry, ctx.pdn, usage).map_err(Failure::protection)?)?;
        }
        Ok(list)
    }

    fn push(&mut self, range: Resolved<'v>) -> Result<(), Failure> {
        let Self::Many { entries, total } = self else { return Err(Failure::malformed(VendorError::BadList)) };
        // Reported in 32-bit completion fields: a list may not name more than 4 GiB - 1.
        *total += range.len as u64;
        if *total > u64::from(u32::MAX) {
            return Err(Failure::malformed(VendorError::BadList));
        }
        entries.push(range);
        Ok(())
    }

    fn entries(&self) -> &[Resolved<'v>] {
        match self {
            Self::One(range) => std::slice::from_ref(range),
            Self::Many { entries, .. } => entries,
        }
    }

    /// Keeps the first `keep` bytes named (`Resolved::truncate`, entry by entry): the part
    /// of an output an operation writes, all that goes back of memory reached by copies.
    pub fn truncate(&mut self, keep: u64) {
        match self {
            Self::One(range) => range.truncate(usize::try_from(keep).unwrap_or(usize::MAX)),
            Self::Many { entries, total } => {
                let mut left = keep.min(*total);
                *total = left;
                for entry in entries {
                    entry.truncate(usize::try_from(left).unwrap_or(usize::MAX));
                    left -= entry.len as u64;
                }
            }
        }
    }

    /// Total bytes named.
    pub fn total(&self) -> u64 {
        match self {
            Self::One(range) => range.len as u64,
            Self::Many { total, .. } => *total,
        }
    }

    /// How many ranges.
    pub fn count(&self) -> usize {
        self.entries().len()
    }

    /// The ranges, in order.
    pub fn ranges(&self) -> impl Iterator<Item = Span> + Clone + '_ {
        self.entries().iter().map(|r| (r.ptr, r.len))
    }

    /// The ranges, in order, where they lie in the application's memory.
    pub fn user_ranges(&self) -> impl Iterator<Item = UserSpan> + Clone + '_ {
        self.entries().iter().map(|r| (r.user, r.len))
    }

    /// Whether any range here shares a byte with one of `other`, in the device's memory (what
    /// the engine would read after writing).
    pub fn overlaps(&self, other: &SgList<'_>) -> bool {
        self.ranges().any(|a| other.ranges().any(|b| pieces::overlap(a, b)))
    }

    /// Whether two of the ranges here share a byte of the application's memory (two outputs
    /// must not: the device would write one byte for two purposes). Checked on the
    /// application's addresses: in memory reached by copies each range has a copy of its own.
    pub fn overlaps_itself(&self) -> bool {
        pieces::overlaps_itself(self.user_ranges())
    }
}
