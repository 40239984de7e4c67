//! On-demand regions (`IBV_ACCESS_ON_DEMAND`): the device reaches the pages as they are mapped
//! when a request runs, so memory mapped, remapped or copied on write after registration is
//! seen as it is then, and a page that is not there fails the request, never the process.
//! Pinned regions keep rdma-core's fork semantics (the parent's requests see the parent's
//! pages). Runs on both channels (in-process, and a daemon reaching this process by copies).

use accelverbs::uapi::caps::cap_flags;
use accelverbs::{Access, Advice, Copy, CqeStatus, ExecPolicy, MemoryRegion, QpState, Sge, VendorError};
use accelverbs_tests::raw::Pages;
use accelverbs_tests::{poll_n, Traffic};

const PAGE: usize = 4096;

fn traffic() -> Traffic {
    Traffic::new(1, ExecPolicy::Threads, 8)
}

/// Bytes this context's file has pinned (its own figure, whoever else uses the device).
fn pinned(t: &Traffic) -> u64 {
    t.base.ctx.device_files().unwrap()[0].objects.pinned_bytes
}

/// COPY `from` → `to` (raw SGEs); the completion's status and vendor error.
fn copy(t: &mut Traffic, from: Sge, to: Sge) -> (CqeStatus, VendorError) {
    // SAFETY: no Rust reference to the bytes either SGE names is used until the completion
    // is polled below (the tests read them through raw pointers afterwards).
    t.qp.post(unsafe { Copy::from_sges(1, from, to) }).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    (wc.status, wc.vendor_err)
}

fn reset(t: &mut Traffic) {
    for s in [QpState::Reset, QpState::Init, QpState::Rtr, QpState::Rts] {
        t.qp.modify(s).unwrap();
    }
}

fn filled(t: &Traffic, byte: u8) -> MemoryRegion {
    let mut mr = t.mr(PAGE, Access::LOCAL_WRITE);
    mr.as_mut_slice().unwrap().fill(byte);
    mr
}

/// Reads `len` bytes at `addr` of this process (memory no request uses now).
fn bytes_at(addr: u64, len: usize) -> Vec<u8> {
    // SAFETY: the callers pass mapped memory of this process that no posted request uses.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len) }.to_vec()
}

#[test]
fn the_device_advertises_on_demand_paging_for_every_opcode_it_runs() {
    let t = traffic();
    let caps = t.base.ctx.query_device().unwrap();
    assert_ne!(caps.cap_flags & cap_flags::ON_DEMAND_PAGING, 0);
    assert_eq!((caps.odp_opcodes, caps.odp_opcodes_hi), (caps.opcodes, caps.opcodes_hi));
}

#[test]
fn an_implicit_region_reaches_memory_allocated_after_it_was_registered() {
    let mut t = traffic();
    let before = pinned(&t);
    let all = t.base.pd.reg_implicit_on_demand(Access::LOCAL_WRITE).unwrap();
    assert_eq!(all.range(), (0, u64::MAX));
    assert_eq!(pinned(&t), before, "an implicit region pins nothing");

    // Allocated after registration, named through the implicit region, both ways.
    let source: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
    let mut target = vec![0u8; 10_000];
    let staging = t.mr(16 * 1024, Access::LOCAL_WRITE);
    let n = source.len() as u32;
    assert_eq!(copy(&mut t, all.sge(source.as_ptr() as u64, n), staging.sge(0, n)), (CqeStatus::Success, VendorError::None));
    assert_eq!(&staging.as_slice().unwrap()[..source.len()], &source[..]);
    assert_eq!(copy(&mut t, staging.sge(0, n), all.sge(target.as_mut_ptr() as u64, n)), (CqeStatus::Success, VendorError::None));
    assert_eq!(target, source);
}

#[test]
fn a_page_remapped_between_two_requests_is_read_fresh() {
    let mut t = traffic();
    let pages = Pages::new(PAGE);
    // SAFETY: our own fresh mapping; no request uses it yet.
    unsafe { std::ptr::write_bytes(pages.as_mut_ptr(), b'a', PAGE) };
    let region = t.base.pd.reg_mr_on_demand(pages.addr(), PAGE, Access::empty()).unwrap();
    let dst = t.mr(PAGE, Access::LOCAL_WRITE);
    assert_eq!(copy(&mut t, region.sge(pages.addr(), 64), dst.sge(0, 64)).0, CqeStatus::Success);
    assert!(dst.as_slice().unwrap()[..64].iter().all(|&b| b == b'a'));

    // A new page at the same address, as munmap + mmap (or a file remapped) would leave.
    // SAFETY: replaces our own page (MAP_FIXED over our mapping); no request uses it now.
    let p = unsafe {
        libc::mmap(
            pages.as_mut_ptr().cast(),
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    assert_eq!(p as u64, pages.addr());
    // SAFETY: the new page, ours.
    unsafe { std::ptr::write_bytes(pages.as_mut_ptr(), b'b', PAGE) };
    assert_eq!(copy(&mut t, region.sge(pages.addr(), 64), dst.sge(0, 64)).0, CqeStatus::Success);
    assert!(dst.as_slice().unwrap()[..64].iter().all(|&b| b == b'b'), "the new page was read");
}

#[test]
fn a_page_that_is_not_there_fails_the_request_with_a_page_fault_not_the_process() {
    let mut t = traffic();
    let pages = Pages::new(2 * PAGE);
    let region = t.base.pd.reg_mr_on_demand(pages.addr(), 2 * PAGE, Access::LOCAL_WRITE).unwrap();
    let src = filled(&t, 0x5a);
    let dst = t.mr(PAGE, Access::LOCAL_WRITE);

    // Unmapped source.
    pages.protect_range(PAGE, PAGE, libc::PROT_NONE);
    let from_hole = region.sge(pages.addr() + PAGE as u64, 64);
    assert_eq!(copy(&mut t, from_hole, dst.sge(0, 64)), (CqeStatus::LocalProtectionError, VendorError::PageFault));
    assert_eq!(t.qp.query_state().unwrap(), QpState::Err, "a protection error stops the QP");
    assert!(dst.as_slice().unwrap().iter().all(|&b| b == 0));
    reset(&mut t);

    // Read-only destination: nothing written.
    pages.protect_range(0, PAGE, libc::PROT_READ);
    assert_eq!(
        copy(&mut t, src.sge(0, 64), region.sge(pages.addr(), 64)),
        (CqeStatus::LocalProtectionError, VendorError::PageFault)
    );
    assert!(bytes_at(pages.addr(), 64).iter().all(|&b| b == 0), "a read-only page was written");
    reset(&mut t);

    // Mapped again: the same region works.
    pages.protect(libc::PROT_READ | libc::PROT_WRITE);
    assert_eq!(copy(&mut t, src.sge(0, 64), region.sge(pages.addr() + PAGE as u64, 64)).0, CqeStatus::Success);
    assert!(bytes_at(pages.addr() + PAGE as u64, 64).iter().all(|&b| b == 0x5a));
}

#[test]
fn bytes_a_request_does_not_produce_are_left_as_they_were() {
    let mut t = traffic();
    let mut target = vec![0xeeu8; 256];
    let region = t.base.pd.reg_mr_on_demand(target.as_mut_ptr() as u64, target.len(), Access::LOCAL_WRITE).unwrap();
    let src = filled(&t, 1);
    // A 64-byte copy into a 256-byte destination writes 64 bytes, not 256.
    assert_eq!(copy(&mut t, src.sge(0, 64), region.sge(target.as_ptr() as u64, 256)).0, CqeStatus::Success);
    drop(region);
    assert!(target[..64].iter().all(|&b| b == 1) && target[64..].iter().all(|&b| b == 0xee), "{target:?}");
}

/// After fork, the parent writing its buffer breaks copy-on-write: the parent gets a new page.
/// Its next request must see the parent's new bytes, for an on-demand region and for a pinned
/// one (rdma-core's copy-on-fork semantics for pinned pages: the parent keeps them), and the
/// child's own writes must not reach the parent's requests.
#[test]
fn after_fork_the_parents_requests_see_the_parents_pages() {
    let mut t = traffic();
    let odp_pages = Pages::new(PAGE);
    let pinned_pages = Pages::new(PAGE);
    for p in [&odp_pages, &pinned_pages] {
        // SAFETY: our own fresh mappings; no request uses them yet.
        unsafe { std::ptr::write_bytes(p.as_mut_ptr(), b'p', PAGE) };
    }
    let odp = t.base.pd.reg_mr_on_demand(odp_pages.addr(), PAGE, Access::empty()).unwrap();
    // SAFETY: `pinned_pages` outlives the region (declared earlier) and is only read through
    // raw pointers when no request uses it.
    let pinned = unsafe { t.base.pd.reg_mr_raw(pinned_pages.as_mut_ptr(), PAGE, Access::empty()) }.unwrap();
    let dst = t.mr(2 * PAGE, Access::LOCAL_WRITE);

    let (mut to_child, mut from_child) = ([0i32; 2], [0i32; 2]);
    // SAFETY: pipe writes two descriptors into each array.
    assert_eq!(unsafe { libc::pipe(to_child.as_mut_ptr()) }, 0);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::pipe(from_child.as_mut_ptr()) }, 0);
    // SAFETY: the child only writes its own copies of the pages, writes and reads pipes and
    // exits with _exit: async-signal-safe calls, no allocation, no lock.
    let child = unsafe { libc::fork() };
    assert!(child >= 0);
    if child == 0 {
        // SAFETY: the child's own copies of the pages; then a byte to say so, and a wait for
        // the parent's word before exiting.
        unsafe {
            std::ptr::write_bytes(odp_pages.as_mut_ptr(), b'c', PAGE);
            std::ptr::write_bytes(pinned_pages.as_mut_ptr(), b'c', PAGE);
            let mut b = 0u8;
            libc::write(from_child[1], (&b as *const u8).cast(), 1);
            libc::read(to_child[0], (&mut b as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    let mut b = 0u8;
    // SAFETY: reads one byte into `b`.
    assert_eq!(unsafe { libc::read(from_child[0], (&mut b as *mut u8).cast(), 1) }, 1, "the child wrote its pages");
    // The parent's own write after the fork.
    for p in [&odp_pages, &pinned_pages] {
        // SAFETY: the parent's pages; no request uses them now.
        unsafe { std::ptr::write_bytes(p.as_mut_ptr(), b'q', PAGE) };
    }
    assert_eq!(copy(&mut t, odp.sge(odp_pages.addr(), 64), dst.sge(0, 64)).0, CqeStatus::Success);
    assert_eq!(copy(&mut t, pinned.sge(0, 64), dst.sge(PAGE, 64)).0, CqeStatus::Success);
    let seen = dst.as_slice().unwrap();
    assert!(seen[..64].iter().all(|&b| b == b'q'), "on demand: {:?}", &seen[..8]);
    assert!(seen[PAGE..PAGE + 64].iter().all(|&b| b == b'q'), "pinned: {:?}", &seen[PAGE..PAGE + 8]);
    // SAFETY: one byte to the child, then reap it.
    unsafe {
        libc::write(to_child[1], (&b as *const u8).cast(), 1);
        let mut status = 0;
        assert_eq!(libc::waitpid(child, &mut status, 0), child);
        for fd in to_child.into_iter().chain(from_child) {
            libc::close(fd);
        }
    }
}

#[test]
fn advise_mr_prefetches_on_demand_regions_of_its_pd_only() {
    let t = traffic();
    let pages = Pages::new(2 * PAGE);
    let region = t.base.pd.reg_mr_on_demand(pages.addr(), 2 * PAGE, Access::LOCAL_WRITE).unwrap();
    let whole = [region.sge(pages.addr(), 2 * PAGE as u32)];
    for advice in [Advice::Prefetch, Advice::PrefetchWrite, Advice::PrefetchNoFault] {
        t.base.pd.advise_mr(advice, true, &whole).unwrap();
    }
    // A hole: reported with FLUSH, left to the access without.
    pages.protect_range(PAGE, PAGE, libc::PROT_NONE);
    assert_eq!(t.base.pd.advise_mr(Advice::Prefetch, true, &whole).unwrap_err().errno(), Some(libc::EFAULT));
    t.base.pd.advise_mr(Advice::Prefetch, false, &whole).unwrap();
    // Outside the region.
    let beyond = [region.sge(pages.addr() + PAGE as u64, 2 * PAGE as u32)];
    assert_eq!(t.base.pd.advise_mr(Advice::Prefetch, true, &beyond).unwrap_err().errno(), Some(libc::EFAULT));
    // A pinned region, or one of another PD: not an on-demand region of this PD.
    let pinned = t.mr(PAGE, Access::empty());
    assert_eq!(t.base.pd.advise_mr(Advice::Prefetch, true, &[pinned.sge(0, 64)]).unwrap_err().errno(), Some(libc::ENOENT));
    let other_pd = t.base.ctx.alloc_pd().unwrap();
    assert_eq!(other_pd.advise_mr(Advice::Prefetch, true, &whole[..]).unwrap_err().errno(), Some(libc::ENOENT));
    // No SGE at all.
    assert_eq!(t.base.pd.advise_mr(Advice::Prefetch, true, &[]).unwrap_err().errno(), Some(libc::EINVAL));
}

#[test]
fn an_on_demand_region_pins_nothing_and_may_cover_memory_not_mapped_yet() {
    let t = traffic();
    let before = pinned(&t);
    // 1 GiB of address space nothing maps here.
    let region = t.base.pd.reg_mr_on_demand(0x7000_0000_0000, 1 << 30, Access::LOCAL_WRITE).unwrap();
    assert_eq!(pinned(&t), before);
    drop(region);
}

/// A SEND into a receive buffer of an on-demand region whose page is read-only: the message
/// cannot be placed, so the receive fails with the page fault and the sender learns the
/// responder refused it; neither reports success, and nothing is written.
#[test]
fn a_receive_into_a_page_that_cannot_be_written_fails_on_both_sides() {
    use accelverbs::{QpInit, QpType, Recv, Send};
    let b = accelverbs_tests::Base::new(1, ExecPolicy::Threads);
    let (mut send_cq, mut recv_cq) = (b.ctx.create_cq(16, None).unwrap(), b.ctx.create_cq(16, None).unwrap());
    let init = QpInit::new(8).qp_type(QpType::Rc).max_recv_wr(4);
    let mut qp = b.pd.create_qp_with_recv_cq(&send_cq, &recv_cq, init).unwrap();
    qp.modify(QpState::Init).unwrap();
    qp.connect(qp.qpn()).unwrap();
    qp.modify(QpState::Rts).unwrap();
    let pages = Pages::new(PAGE);
    let region = b.pd.reg_mr_on_demand(pages.addr(), PAGE, Access::LOCAL_WRITE).unwrap();
    pages.protect(libc::PROT_READ);
    let mut src = b.pd.alloc_mr(64, Access::empty()).unwrap();
    src.as_mut_slice().unwrap().fill(9);
    // SAFETY: no Rust reference reaches the page while the receive is posted.
    qp.post_recv(unsafe { Recv::from_sge(2, region.sge(pages.addr(), 64)) }).unwrap();
    qp.post(Send::new(1, src.slice(0, 64))).unwrap();
    let got = poll_n(&mut recv_cq, 1)[0];
    assert_eq!((got.status, got.vendor_err), (CqeStatus::LocalProtectionError, VendorError::PageFault), "{got:?}");
    let sent = poll_n(&mut send_cq, 1)[0];
    assert_ne!(sent.status, CqeStatus::Success, "{sent:?}");
    assert!(bytes_at(pages.addr(), 64).iter().all(|&b| b == 0), "a read-only page was written");
}

/// An RDMA_WRITE into a remote on-demand page that cannot be written: the responder refuses
/// it (a remote access error, the QP stops), and nothing is written.
#[test]
fn an_rdma_write_into_a_page_that_cannot_be_written_is_a_remote_access_error() {
    use accelverbs::RdmaWrite;
    let mut t = traffic();
    t.qp.modify(QpState::Reset).unwrap();
    t.qp.modify(QpState::Init).unwrap();
    t.qp.connect(t.qp.qpn()).unwrap();
    t.qp.modify(QpState::Rts).unwrap();
    let pages = Pages::new(PAGE);
    let region = t.base.pd.reg_mr_on_demand(pages.addr(), PAGE, Access::LOCAL_WRITE | Access::REMOTE_WRITE).unwrap();
    pages.protect(libc::PROT_READ);
    let src = filled(&t, 7);
    // SAFETY: no Rust reference reaches the page while the request is posted.
    t.qp.post(unsafe { RdmaWrite::from_sges(1, src.sge(0, 64), region.sge(pages.addr(), 64)) }).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::RemoteAccessError, VendorError::PageFault), "{wc:?}");
    assert!(bytes_at(pages.addr(), 64).iter().all(|&b| b == 0));
}
