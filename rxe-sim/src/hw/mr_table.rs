//! The device's memory translation table: key → (PD, range, rights). Every SGE of every WQE is
//! resolved here, with checked arithmetic, before the engine touches a byte.

use std::sync::{Arc, RwLock};

use accelverbs_kernel_abi::{Errno, MrSetup, PinnedMemory};
use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::verbs::access;
use accelverbs_uapi::wqe::Sge;

/// Low byte of a key: bumped on each reuse of a slot, so a key outlives its MR only as a
/// stale key that fails. A slot whose variant is used up is retired for good rather than
/// wrapped, so no key is ever issued twice in the device's life: a key kept by mistake can
/// never reach memory registered later (at most 2^24 slots x 255 uses before `ENOMEM`).
const VARIANT_BITS: u32 = 8;
const LAST_VARIANT: u8 = u8::MAX;

/// One installed MR.
#[derive(Debug)]
// Aligned: engines clone it on every request; nothing of the application may share its lines.
#[repr(align(128))]
pub struct MrEntry {
    key: u32,
    pdn: u32,
    addr: u64,
    len: u64,
    access: u32,
    dma_base: usize,
    _memory: Arc<dyn PinnedMemory>,
}

#[derive(Debug, Default)]
struct Slot {
    variant: u8,
    mr: Option<Arc<MrEntry>>,
}

#[derive(Debug)]
struct Slots {
    /// Index 0 is never used, so key 0 (a zeroed SGE) is always invalid.
    slots: Vec<Slot>,
    /// Empty slots with variants left.
    free: Vec<u32>,
    live: u32,
}

/// The MR table.
#[derive(Debug)]
pub struct MrTable {
    inner: RwLock<Slots>,
    max: u32,
}

/// An SGE checked against its MR: `len` bytes at `ptr`, valid while `_mr` is held.
#[derive(Debug)]
pub struct Resolved {
    pub ptr: *mut u8,
    pub len: usize,
    _mr: Arc<MrEntry>,
}

/// What an SGE will be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Read,
    Write,
}

impl MrTable {
    pub fn new(max: u32) -> Self {
        Self { inner: RwLock::new(Slots { slots: vec![Slot::default()], free: Vec::new(), live: 0 }), max }
    }

    pub fn register(&self, setup: MrSetup) -> Result<u32, Errno> {
        let mut t = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if t.live >= self.max {
            return Err(Errno::ENOMEM);
        }
        let index = match t.free.pop() {
            Some(i) => i,
            None => {
                let i = t.slots.len() as u32;
                if i >= 1 << (32 - VARIANT_BITS) {
                    return Err(Errno::ENOMEM);
                }
                t.slots.push(Slot::default());
                i
            }
        };
        t.live += 1;
        let slot = &mut t.slots[index as usize];
        slot.variant = slot.variant.wrapping_add(1);
        let key = index << VARIANT_BITS | u32::from(slot.variant);
        slot.mr = Some(Arc::new(MrEntry {
            key,
            pdn: setup.pdn,
            addr: setup.memory.addr(),
            len: setup.memory.len(),
            access: setup.access,
            dma_base: setup.memory.dma_addr() as usize,
            _memory: setup.memory,
        }));
        Ok(key)
    }

    /// Removes the MR, then waits until no engine still holds it (in-flight WQEs finish).
    pub fn deregister(&self, key: u32) {
        let entry = {
            let mut t = self.inner.write().unwrap_or_else(|e| e.into_inner());
            let index = key >> VARIANT_BITS;
            let Some(slot) = t.slots.get_mut(index as usize) else { return };
            if slot.mr.as_ref().map(|m| m.key) != Some(key) {
                return;
            }
            let entry = slot.mr.take();
            if slot.variant != LAST_VARIANT {
                t.free.push(index);
            }
            t.live -= 1;
            entry
        };
        if let Some(entry) = entry {
            while Arc::strong_count(&entry) > 1 {
                std::thread::yield_now();
            }
            // `strong_count` is a relaxed load: this fence orders the holders' accesses (each
            // dropped its clone with a release decrement) before the caller frees the memory.
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        }
    }

    fn lookup(&self, key: u32) -> Result<Arc<MrEntry>, VendorError> {
        let t = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let slot = t.slots.get((key >> VARIANT_BITS) as usize).ok_or(VendorError::KeyUnknown)?;
        let mr = slot.mr.as_ref().ok_or(VendorError::KeyUnknown)?;
        if mr.key != key {
            return Err(VendorError::KeyStale);
        }
        Ok(Arc::clone(mr))
    }

    /// Checks `sge` for a QP in PD `pdn`: key, PD, bounds (overflow-safe), rights.
    pub fn resolve(&self, sge: &Sge, pdn: u32, usage: Use) -> Result<Resolved, VendorError> {
        let mr = self.lookup(sge.lkey)?;
        if mr.pdn != pdn {
            return Err(VendorError::PdMismatch);
        }
        let offset = sge.addr.checked_sub(mr.addr).ok_or(VendorError::OutOfBounds)?;
        let end = offset.checked_add(u64::from(sge.length)).ok_or(VendorError::OutOfBounds)?;
        if end > mr.len {
            return Err(VendorError::OutOfBounds);
        }
        if usage == Use::Write && mr.access & access::LOCAL_WRITE == 0 {
            return Err(VendorError::AccessDenied);
        }
        // `offset < mr.len`, and the MR's range was pinned as a whole, so this stays inside it.
        let ptr = (mr.dma_base + offset as usize) as *mut u8;
        Ok(Resolved { ptr, len: sge.length as usize, _mr: mr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Addresses only: `resolve` never touches the memory it checks.
    #[derive(Debug)]
    struct FakePin {
        addr: u64,
        len: u64,
    }

    // SAFETY: the tests only resolve addresses and never dereference them.
    unsafe impl PinnedMemory for FakePin {
        fn addr(&self) -> u64 {
            self.addr
        }
        fn len(&self) -> u64 {
            self.len
        }
        fn dma_addr(&self) -> *mut u8 {
            std::ptr::without_provenance_mut(self.addr as usize)
        }
    }

    fn table_with(addr: u64, len: u64, access: u32) -> (MrTable, u32) {
        let t = MrTable::new(16);
        let key = t.register(MrSetup { pdn: 1, memory: Arc::new(FakePin { addr, len }), access }).unwrap();
        (t, key)
    }

    proptest! {
        // Miri runs each case ~1000x slower; a few cases still walk every branch.
        // No failure files: Miri's isolation has no file system.
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 4 } else { 256 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Whatever the SGE, a resolved range lies inside the MR; anything else is refused.
        #[test]
        fn resolved_ranges_stay_inside_the_mr(
            mr_addr in 0u64..(1 << 47), mr_len in 1u64..(1 << 24),
            delta in any::<i64>(), length in any::<u32>(),
        ) {
            let (t, key) = table_with(mr_addr, mr_len, access::LOCAL_WRITE);
            let sge = Sge { addr: mr_addr.wrapping_add_signed(delta % (2 << 24)), length, lkey: key };
            match t.resolve(&sge, 1, Use::Write) {
                Ok(r) => {
                    let start = r.ptr as u64;
                    prop_assert!(start >= mr_addr);
                    prop_assert!(start + r.len as u64 <= mr_addr + mr_len);
                    prop_assert_eq!(r.len, length as usize);
                }
                Err(e) => prop_assert_eq!(e, VendorError::OutOfBounds),
            }
        }

        /// Any key other than the live one fails, as unknown or stale.
        #[test]
        fn only_the_live_key_resolves(key in any::<u32>()) {
            let (t, live) = table_with(0x10000, 4096, 0);
            let sge = Sge { addr: 0x10000, length: 1, lkey: key };
            let r = t.resolve(&sge, 1, Use::Read);
            if key == live {
                prop_assert!(r.is_ok());
            } else {
                let e = r.unwrap_err();
                prop_assert!(e == VendorError::KeyUnknown || e == VendorError::KeyStale);
            }
        }
    }

    #[test]
    fn rights_and_pd_are_checked() {
        let (t, key) = table_with(0x10000, 4096, 0);
        let sge = Sge { addr: 0x10000, length: 16, lkey: key };
        assert_eq!(t.resolve(&sge, 1, Use::Write).unwrap_err(), VendorError::AccessDenied);
        assert_eq!(t.resolve(&sge, 2, Use::Read).unwrap_err(), VendorError::PdMismatch);
        assert!(t.resolve(&sge, 1, Use::Read).is_ok());
    }

    #[test]
    fn reused_slots_get_a_new_variant() {
        let t = MrTable::new(16);
        let setup = || MrSetup { pdn: 1, memory: Arc::new(FakePin { addr: 0x1000, len: 64 }), access: 0 };
        let first = t.register(setup()).unwrap();
        t.deregister(first);
        let second = t.register(setup()).unwrap();
        assert_eq!(first >> VARIANT_BITS, second >> VARIANT_BITS);
        assert_ne!(first, second);
        let sge = Sge { addr: 0x1000, length: 1, lkey: first };
        assert_eq!(t.resolve(&sge, 1, Use::Read).unwrap_err(), VendorError::KeyStale);
    }

    /// Defect: the 8-bit variant wrapped, so after 256 re-registrations of a slot an old key
    /// resolved to the new MR. Used-up slots are now retired instead.
    #[test]
    fn a_key_is_never_issued_twice() {
        let t = MrTable::new(16);
        let setup = || MrSetup { pdn: 1, memory: Arc::new(FakePin { addr: 0x1000, len: 64 }), access: 0 };
        let first = t.register(setup()).unwrap();
        let mut issued = std::collections::HashSet::from([first]);
        t.deregister(first);
        for _ in 0..600 {
            let key = t.register(setup()).unwrap();
            assert!(issued.insert(key), "key {key:#x} issued twice");
            t.deregister(key);
        }
        let live = t.register(setup()).unwrap();
        let sge = Sge { addr: 0x1000, length: 1, lkey: first };
        let err = t.resolve(&sge, 1, Use::Read).unwrap_err();
        assert!(matches!(err, VendorError::KeyStale | VendorError::KeyUnknown), "{err:?}");
        assert!(t.resolve(&Sge { lkey: live, ..sge }, 1, Use::Read).is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let t = MrTable::new(2);
        let setup = || MrSetup { pdn: 1, memory: Arc::new(FakePin { addr: 0x1000, len: 64 }), access: 0 };
        t.register(setup()).unwrap();
        t.register(setup()).unwrap();
        assert_eq!(t.register(setup()), Err(Errno::ENOMEM));
    }
}
