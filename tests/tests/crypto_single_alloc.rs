//! Review of commit 3b50563: the one-range ENCRYPT and DECRYPT path (provider and device) stays
//! allocation-free. Counts this thread's allocations while an inline-policy QP posts and runs
//! the request and its completion is polled. Its own test binary: it installs a global
//! allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use accelverbs::{Access, CqeStatus, Decrypt, Encrypt, ExecPolicy, KeyAlgorithm, MrSlice, MrSliceMut};
use accelverbs_tests::{pattern, poll_n, Traffic};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn one_range_encrypt_and_decrypt_allocate_nothing() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let gcm = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, &pattern(1, 32)).unwrap();
    let xts = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Xts, &pattern(2, 64)).unwrap();
    let src = t.base.pd.reg_mr(pattern(3, 4096), Access::empty()).unwrap();
    let mut dst = t.base.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    let mut back = t.base.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    let mut tag = t.base.pd.alloc_mr(16, Access::LOCAL_WRITE).unwrap();
    let mut wcs = [accelverbs::WorkCompletion::default(); 4];
    let mut round = |t: &mut Traffic| -> u64 {
        let before = allocations();
        t.qp.post(Encrypt::new(1, &gcm, [7; 12], src.slice(0, 4096), dst.slice_mut(0, 4096), tag.slice_mut(0, 16))).unwrap();
        t.qp.post(Decrypt::new(2, &gcm, [7; 12], dst.slice(0, 4096), back.slice_mut(0, 4096), tag.slice(0, 16))).unwrap();
        t.qp.post(Encrypt::xts(3, &xts, 9, 512, src.slice(0, 4096), dst.slice_mut(0, 4096))).unwrap();
        t.qp.post(Decrypt::xts(4, &xts, 9, 512, dst.slice(0, 4096), back.slice_mut(0, 4096))).unwrap();
        let mut got = 0;
        while got < 4 {
            got += t.cq.poll(&mut wcs[got..]);
        }
        let used = allocations() - before;
        assert!(wcs.iter().all(|w| w.status == CqeStatus::Success), "{wcs:?}");
        used
    };
    for _ in 0..3 {
        round(&mut t);
    }
    let used = round(&mut t);
    // A gathered request, for comparison (lists allocate).
    let (a, b) = (src.slice(0, 2048), src.slice(2048, 2048));
    let before = allocations();
    let (h, tl) = dst.slice_mut(0, 4096).split_at(1000);
    let v: Vec<MrSliceMut<'_>> = vec![h, tl];
    let s: [MrSlice<'_>; 2] = [a, b];
    t.qp.post(Encrypt::xts_gather(5, &xts, 9, 512, &s, v)).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::Success);
    let gathered = allocations() - before;
    assert!(gathered > 0, "the count sees the device's work (inline policy: this thread)");
    assert_eq!(used, 0, "allocations on the one-range path (4 requests, post to poll)");
}
