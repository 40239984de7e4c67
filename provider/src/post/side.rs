//! What gathered requests (COMPRESS, DECOMPRESS, ENCRYPT, DECRYPT) share: a side of a request
//! as one SGE or a list of them, and lending each region a request names to the QP once.

use std::sync::Arc;

use accelverbs_uapi::compress::MAX_LIST_ENTRIES;
use accelverbs_uapi::wqe::Sge;

use super::lists::ListSide;
use super::ListWriter;
use crate::crypto_key::KeyInner;
use crate::in_flight::{Borrower, DeviceAccess, RegionUse, Regions, INLINE_REGIONS};
use crate::mr::MrShared;
use crate::{MrSlice, MrSliceMut, PostError};

/// One side of a request: its SGEs and the regions behind them. One SGE, the common case,
/// costs no allocation.
#[derive(Debug)]
pub(crate) enum Side<'a> {
    One(Sge, &'a Arc<MrShared>),
    Many(Vec<Sge>, Vec<&'a Arc<MrShared>>),
}

impl<'a> Side<'a> {
    pub fn one(sge: Sge, mr: &'a Arc<MrShared>) -> Self {
        Self::One(sge, mr)
    }

    /// An input gathered from `slices`, in order.
    pub fn gather(slices: &[MrSlice<'a>]) -> Self {
        Self::Many(slices.iter().map(|s| s.sge).collect(), slices.iter().map(|s| s.mr).collect())
    }

    /// An output scattered into `slices`, in order.
    pub fn scatter(slices: Vec<MrSliceMut<'a>>) -> Self {
        Self::Many(slices.iter().map(|s| s.sge).collect(), slices.iter().map(|s| s.mr).collect())
    }

    pub fn sges(&self) -> &[Sge] {
        match self {
            Side::One(sge, _) => std::slice::from_ref(sge),
            Side::Many(sges, _) => sges,
        }
    }

    pub fn regions(&self) -> &[&'a Arc<MrShared>] {
        match self {
            Side::One(_, mr) => std::slice::from_ref(mr),
            Side::Many(_, mrs) => mrs,
        }
    }

    pub fn total(&self) -> u64 {
        self.sges().iter().map(|s| u64::from(s.length)).sum()
    }

    /// Whether this side needs a list (the WQE then names the list, not the data).
    pub fn is_list(&self) -> bool {
        self.sges().len() != 1
    }

    /// The WQE's SGE for this side: the data's own, or one naming the list placed for it.
    pub fn encode(&self, side: ListSide, lists: &mut ListWriter<'_>) -> Sge {
        encode_entries(self.sges(), side, lists)
    }

    /// `SgeCount` unless the side holds 1 to `MAX_LIST_ENTRIES` SGEs.
    pub fn check_count(&self) -> Result<(), PostError> {
        check_count(self.sges().len())
    }
}

/// `SgeCount` unless a side of `count` SGEs fits the device: 1 to `MAX_LIST_ENTRIES`.
pub(crate) fn check_count(count: usize) -> Result<(), PostError> {
    match (1..=MAX_LIST_ENTRIES as usize).contains(&count) {
        true => Ok(()),
        false => Err(PostError::SgeCount { max: MAX_LIST_ENTRIES }),
    }
}

/// The WQE's SGE for a side of `entries`: the one entry itself, or one naming the list placed
/// for them (the parameters then carry the side's `*_LIST` flag).
pub(crate) fn encode_entries(entries: &[Sge], side: ListSide, lists: &mut ListWriter<'_>) -> Sge {
    match entries {
        [one] => *one,
        many => lists.place(side, many),
    }
}

/// Lends every region `named` to the QP once, for writing if any use of it writes, and holds
/// `key`, all in `held` (the WQE's vacant slot). Up to four regions (every request but a
/// gathered one) are lent without allocating; what the WQE staged before this one holds of
/// them moves here instead of being taken again ([`Borrower::previous`]). This runs for every
/// request posted.
pub(crate) fn lend(
    named: &[(&Arc<MrShared>, DeviceAccess)],
    key: Option<&Arc<KeyInner>>,
    qp: Borrower<'_>,
    held: &mut Regions,
) -> Result<(), PostError> {
    let Some(&first) = named.first() else { return Ok(()) };
    // SAFETY: `lend` is the one caller, once per request (`Borrower::after`).
    let mut previous = unsafe { qp.previous() };
    // A request like the one before it (the common batch) takes over all its holds at once.
    // Compared with `named` as given first: a request that names each region once matches
    // without counting them (a slot holds each region once, so one naming a region twice
    // cannot, and is compared again below).
    if take_over_if_same(previous.as_deref_mut(), named, key, held) {
        return Ok(());
    }
    let mut uses = [first; INLINE_REGIONS];
    let mut distinct = 0;
    for &(mr, access) in named {
        if distinct == INLINE_REGIONS {
            let regions = lend_many(named, qp)?;
            held.put(match key {
                Some(key) => regions.with_key(Arc::clone(key)),
                None => regions,
            });
            return Ok(());
        }
        match uses[..distinct].iter_mut().find(|(seen, _)| Arc::ptr_eq(seen, mr)) {
            Some(seen) if access == DeviceAccess::Write => seen.1 = DeviceAccess::Write,
            Some(_) => {}
            None => {
                uses[distinct] = (mr, access);
                distinct += 1;
            }
        }
    }
    let uses = &uses[..distinct];
    if distinct < named.len() && take_over_if_same(previous.as_deref_mut(), uses, key, held) {
        return Ok(());
    }
    // New holds first, for what the previous WQE does not hold: a region busy elsewhere fails
    // here, before anything moved.
    let mut inline: [Option<RegionUse>; INLINE_REGIONS] = Default::default();
    for (slot, &(mr, access)) in inline.iter_mut().zip(uses) {
        if !previous.as_deref().is_some_and(|previous| previous.holds(mr, access)) {
            *slot = Some(RegionUse::new(mr, qp, access)?);
        }
    }
    if let Some(previous) = previous.as_deref_mut() {
        for (slot, &(mr, access)) in inline.iter_mut().zip(uses) {
            if slot.is_none() {
                *slot = previous.take_use(mr, access);
            }
        }
    }
    let key = key.map(|key| previous.and_then(|previous| previous.take_key(key)).unwrap_or_else(|| Arc::clone(key)));
    let regions = Regions::few(inline);
    held.put(match key {
        Some(key) => regions.with_key(key),
        None => regions,
    });
    Ok(())
}

/// Moves every hold of `previous` (the WQE staged before) into `held` if they are exactly
/// `uses` and `key`; false, and nothing moved, otherwise.
fn take_over_if_same(
    previous: Option<&mut Regions>,
    uses: &[(&Arc<MrShared>, DeviceAccess)],
    key: Option<&Arc<KeyInner>>,
    held: &mut Regions,
) -> bool {
    match previous {
        Some(previous) if previous.are_exactly(uses, key) => {
            held.take_all(previous);
            true
        }
        _ => false,
    }
}

/// [`lend`] for more than `INLINE_REGIONS` distinct regions.
fn lend_many(named: &[(&Arc<MrShared>, DeviceAccess)], qp: Borrower<'_>) -> Result<Regions, PostError> {
    let mut uses: Vec<(&Arc<MrShared>, DeviceAccess)> = Vec::with_capacity(named.len());
    for &(mr, access) in named {
        match uses.iter_mut().find(|(seen, _)| Arc::ptr_eq(seen, mr)) {
            Some(seen) if access == DeviceAccess::Write => seen.1 = DeviceAccess::Write,
            Some(_) => {}
            None => uses.push((mr, access)),
        }
    }
    Ok(Regions::many(uses.into_iter().map(|(mr, access)| RegionUse::new(mr, qp, access)).collect::<Result<Vec<_>, _>>()?))
}
