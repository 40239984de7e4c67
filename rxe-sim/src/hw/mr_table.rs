//! The device's memory translation table: key → (PD, range, rights). Every SGE of every WQE is
//! resolved here, with checked arithmetic, before the engine touches a byte, through the
//! [`MrView`] its pass holds: no lock or reference count per request, and deregistration waits
//! for the views (`read_mostly.rs`), so no request still reaches an MR once it is gone.

use std::marker::PhantomData;
use std::sync::Arc;

use accelverbs_kernel_abi::{Errno, MrSetup, PinnedMemory};
use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::verbs::access;
use accelverbs_uapi::wqe::Sge;

use super::key_slots::{KeySlots, Miss};
use super::read_mostly::{ReadMostly, View};

/// One installed MR.
#[derive(Debug)]
pub struct MrEntry {
    pdn: u32,
    addr: u64,
    len: u64,
    access: u32,
    dma_base: usize,
    _memory: Arc<dyn PinnedMemory>,
}

/// The MR table.
#[derive(Debug)]
pub struct MrTable {
    inner: ReadMostly<KeySlots<MrEntry>>,
}

/// The table as a pass reads it.
#[derive(Debug)]
pub struct MrView<'t>(View<'t, KeySlots<MrEntry>>);

/// An SGE checked against its MR: `len` bytes at `ptr`, valid while the view it came from
/// lives (the MR cannot be deregistered before).
#[derive(Debug)]
pub struct Resolved<'v> {
    pub ptr: *mut u8,
    pub len: usize,
    _view: PhantomData<&'v MrEntry>,
}

/// What an SGE will be used for: by the QP's own request (local), or as the target of an
/// RDMA request (remote: the key is an rkey, checked for remote access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Read,
    Write,
    RemoteRead,
    RemoteWrite,
}

impl MrTable {
    pub fn new(max: u32) -> Self {
        Self { inner: ReadMostly::new(KeySlots::new(max)) }
    }

    pub fn register(&self, setup: MrSetup) -> Result<u32, Errno> {
        self.inner.write().insert(|_| MrEntry {
            pdn: setup.pdn,
            addr: setup.memory.addr(),
            len: setup.memory.len(),
            access: setup.access,
            dma_base: setup.memory.dma_addr() as usize,
            _memory: setup.memory,
        })
    }

    /// Removes the MR once no pass reads the table (a request in flight finishes first), so
    /// when this returns the device no longer reaches its memory.
    pub fn deregister(&self, key: u32) {
        let removed = self.inner.write().remove(key);
        drop(removed);
    }

    /// The table for a pass.
    pub fn view(&self) -> MrView<'_> {
        MrView(self.inner.view())
    }
}

impl MrView<'_> {
    /// Between requests: lets a waiting registration or deregistration in.
    pub fn yield_to_writers(&mut self) {
        self.0.yield_to_writers();
    }

    /// Checks `sge` for a QP in PD `pdn`: key, PD, bounds (overflow-safe), rights.
    pub fn resolve(&self, sge: &Sge, pdn: u32, usage: Use) -> Result<Resolved<'_>, VendorError> {
        let mr = match self.0.get(sge.lkey) {
            Ok(mr) => mr,
            Err(Miss::Unknown) => return Err(VendorError::KeyUnknown),
            Err(Miss::Stale) => return Err(VendorError::KeyStale),
        };
        if mr.pdn != pdn {
            return Err(VendorError::PdMismatch);
        }
        let offset = sge.addr.checked_sub(mr.addr).ok_or(VendorError::OutOfBounds)?;
        let end = offset.checked_add(u64::from(sge.length)).ok_or(VendorError::OutOfBounds)?;
        if end > mr.len {
            return Err(VendorError::OutOfBounds);
        }
        let needed = match usage {
            Use::Read => 0,
            Use::Write => access::LOCAL_WRITE,
            Use::RemoteRead => access::REMOTE_READ,
            Use::RemoteWrite => access::REMOTE_WRITE,
        };
        if mr.access & needed != needed {
            return Err(VendorError::AccessDenied);
        }
        // `offset < mr.len`, and the MR's range was pinned as a whole, so this stays inside it.
        let ptr = (mr.dma_base + offset as usize) as *mut u8;
        Ok(Resolved { ptr, len: sge.length as usize, _view: PhantomData })
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
            let view = t.view();
            match view.resolve(&sge, 1, Use::Write) {
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
            let view = t.view();
            let r = view.resolve(&sge, 1, Use::Read);
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
        assert_eq!(t.view().resolve(&sge, 1, Use::Write).unwrap_err(), VendorError::AccessDenied);
        assert_eq!(t.view().resolve(&sge, 2, Use::Read).unwrap_err(), VendorError::PdMismatch);
        assert!(t.view().resolve(&sge, 1, Use::Read).is_ok());
    }

    /// An rkey resolves only with the remote right its use needs; local rights do not stand in.
    #[test]
    fn remote_uses_need_the_remote_rights() {
        let sge = |key| Sge { addr: 0x10000, length: 16, lkey: key };
        let (t, key) = table_with(0x10000, 4096, access::LOCAL_WRITE);
        assert_eq!(t.view().resolve(&sge(key), 1, Use::RemoteRead).unwrap_err(), VendorError::AccessDenied);
        assert_eq!(t.view().resolve(&sge(key), 1, Use::RemoteWrite).unwrap_err(), VendorError::AccessDenied);
        let (t, key) = table_with(0x10000, 4096, access::REMOTE_READ);
        assert!(t.view().resolve(&sge(key), 1, Use::RemoteRead).is_ok());
        assert_eq!(t.view().resolve(&sge(key), 1, Use::RemoteWrite).unwrap_err(), VendorError::AccessDenied);
        let (t, key) = table_with(0x10000, 4096, access::LOCAL_WRITE | access::REMOTE_WRITE);
        assert!(t.view().resolve(&sge(key), 1, Use::RemoteWrite).is_ok());
        assert_eq!(t.view().resolve(&sge(key), 2, Use::RemoteWrite).unwrap_err(), VendorError::PdMismatch);
    }

    #[test]
    fn reused_slots_get_a_new_variant() {
        let t = MrTable::new(16);
        let setup = || MrSetup { pdn: 1, memory: Arc::new(FakePin { addr: 0x1000, len: 64 }), access: 0 };
        let first = t.register(setup()).unwrap();
        t.deregister(first);
        let second = t.register(setup()).unwrap();
        assert_eq!(first >> 8, second >> 8, "the same slot");
        assert_ne!(first, second);
        let sge = Sge { addr: 0x1000, length: 1, lkey: first };
        assert_eq!(t.view().resolve(&sge, 1, Use::Read).unwrap_err(), VendorError::KeyStale);
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
        let err = t.view().resolve(&sge, 1, Use::Read).unwrap_err();
        assert!(matches!(err, VendorError::KeyStale | VendorError::KeyUnknown), "{err:?}");
        assert!(t.view().resolve(&Sge { lkey: live, ..sge }, 1, Use::Read).is_ok());
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
