//! What safe code must never achieve, whatever it does (`mem::forget`, threads, any drop
//! order, objects of another context), and what a hostile application must never make the
//! device do. Each test is named after the defect it reproduced (issue 5).

use std::time::Duration;

use accelverbs::{Access, Copy, Device, Error, ExecPolicy, Nop, QpInit, SimConfig};
use accelverbs_tests::raw::{Pages, RawFile};
use accelverbs_tests::{device, pattern, poll_n, stress_rounds, Base};

fn errno<T>(r: Result<T, Error>) -> Option<i32> {
    r.err().and_then(|e| e.errno())
}

/// Defect 1: an engine (or an inline poller) still holding a destroyed QP read its doorbell
/// record after the provider had unmapped it: SIGSEGV in `SoftQp::has_work`. Every device
/// access to user memory is now ordered against destroy.
#[test]
fn qps_created_and_dropped_while_engines_poll() {
    // A long spin keeps the engines looking at every QP they serve between passes.
    let dev = Device::embedded(SimConfig { engines: 2, spin: Duration::from_millis(20), ..SimConfig::default() });
    for policy in [ExecPolicy::Threads, ExecPolicy::Adaptive] {
        let ctx = dev.open_with(accelverbs::ContextOptions { policy, ..Default::default() }).unwrap();
        let pd = ctx.alloc_pd().unwrap();
        std::thread::scope(|s| {
            for thread in 0..3u64 {
                let (ctx, pd) = (&ctx, &pd);
                s.spawn(move || {
                    let mut cq = ctx.create_cq(64, None).unwrap();
                    for round in 0..stress_rounds(150) {
                        let mut qp = pd.create_qp(&cq, QpInit::new(4)).unwrap();
                        if (round + thread) % 2 == 0 {
                            qp.post(Nop::new(round)).unwrap();
                        }
                        drop(qp);
                        let mut wc = [accelverbs::WorkCompletion::default(); 8];
                        while cq.poll(&mut wc) > 0 {}
                    }
                });
            }
        });
    }
}

/// Defect 2: `create_qp(&cq)` sent the CQ's handle number, which the PD's own context resolved
/// to its own object of that number; `create_cq` did the same with a completion channel.
#[test]
fn objects_of_another_context_are_refused() {
    let dev = device(1);
    let ctx = dev.open().unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let same_device = dev.open().unwrap();
    let other_device = device(1).open().unwrap();
    for foreign in [&same_device, &other_device] {
        // The foreign CQ has the same handle number as ours would: both are a context's first.
        let their_cq = foreign.create_cq(16, None).unwrap();
        assert!(
            matches!(pd.create_qp(&their_cq, QpInit::new(4)), Err(Error::WrongContext { object: "CQ", .. })),
            "a CQ of another context was accepted"
        );
        let their_channel = foreign.create_comp_channel().unwrap();
        let refused = ctx.create_cq(16, Some(&their_channel));
        assert!(matches!(refused, Err(Error::WrongContext { object: "completion channel", .. })));
        assert_eq!(errno(refused), Some(libc::EINVAL));
    }
    // Our own objects still work together, and the foreign ones are unharmed.
    let mut cq = ctx.create_cq(16, None).unwrap();
    let mut qp = pd.create_qp(&cq, QpInit::new(4)).unwrap();
    qp.post(Nop::new(5)).unwrap();
    assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 5);
}

/// Defect 3: a region borrowed its buffer, so `mem::forget(mr)` ended the borrow without
/// deregistering, safe code freed the buffer, and a COPY overwrote whatever reused it. Regions
/// now own their memory, and a posted request keeps it alive after the handle is dropped, even
/// if the QP itself is forgotten.
#[test]
fn memory_named_by_a_posted_request_outlives_its_handle() {
    const LEN: usize = 1 << 20;
    for forget_the_qp in [false, true] {
        let b = Base::new(1, ExecPolicy::Threads);
        // A one-entry CQ: the NOP's completion fills it, so the COPY waits until we poll.
        let mut cq = b.ctx.create_cq(1, None).unwrap();
        let mut qp = b.pd.create_qp(&cq, QpInit::new(8)).unwrap();
        let src = b.pd.reg_mr(pattern(3, LEN), Access::empty()).unwrap();
        let mut dst = b.pd.reg_mr(vec![0; LEN], Access::LOCAL_WRITE).unwrap();
        let mut batch = qp.batch();
        batch.push(Nop::new(1)).unwrap();
        batch.push(Copy::new(2, src.slice(0, LEN as u32), dst.slice_mut(0, LEN as u32))).unwrap();
        batch.ring();
        drop(dst);
        if forget_the_qp {
            std::mem::forget(qp);
        }
        // Fresh allocations of the same size: with the region's memory freed early, some of
        // these would land on it and be written by the copy.
        let bystanders: Vec<Vec<u8>> = (0..16).map(|_| vec![0u8; LEN]).collect();
        let wcs = poll_n(&mut cq, 2);
        assert!(wcs.iter().all(|w| w.is_success()), "{wcs:?}");
        assert!(bystanders.iter().all(|v| v.iter().all(|&x| x == 0)), "the copy wrote freed memory");
    }
}

/// Defect 5: a request named a region by value (`Sge`), so a `&[u8]` of it could be held while
/// the device wrote it. Now bytes the device may write are refused until the completion is
/// polled (the compile-time half is in the provider's doc tests).
#[test]
fn a_region_is_refused_to_safe_code_while_a_request_may_use_it() {
    for (engines, policy) in [(1, ExecPolicy::Threads), (0, ExecPolicy::Inline)] {
        let b = Base::new(engines, policy);
        // A one-entry CQ: the NOP's completion fills it, so the COPY behind it waits, in flight.
        let mut cq = b.ctx.create_cq(1, None).unwrap();
        let mut qp = b.pd.create_qp(&cq, QpInit::new(4)).unwrap();
        let mut src = b.pd.reg_mr(pattern(8, 4096), Access::empty()).unwrap();
        let mut dst = b.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
        let mut batch = qp.batch();
        batch.push(Nop::new(1)).unwrap();
        batch.push(Copy::new(2, src.slice(0, 4096), dst.slice_mut(0, 4096))).unwrap();
        batch.ring();
        for _ in 0..2 {
            assert!(matches!(dst.as_slice(), Err(Error::InFlight { .. })), "{policy:?}: readable while being written");
            assert!(dst.as_mut_slice().is_err());
            assert!(src.as_mut_slice().is_err(), "{policy:?}: writable while being read");
            assert!(src.as_slice().is_ok(), "reading alongside the device is fine");
            assert!(dst.in_flight() && src.in_flight());
            // The NOP's completion frees the CQ but not the COPY: still refused on the next turn.
            if poll_n(&mut cq, 1)[0].wr_id == 2 {
                break;
            }
        }
        assert!(!dst.in_flight());
        assert_eq!(dst.as_slice().unwrap(), src.as_slice().unwrap());
        src.as_mut_slice().unwrap().fill(0);
    }
}

/// Found while cutting the per-request cost: a request staged after another in the same batch
/// takes over the other's hold on a region they both name, instead of taking its own. The hold
/// must then last until the later one retires, a batch given up must let go of every hold, and
/// a later write over an earlier read must still be held as a write.
#[test]
fn a_batch_over_one_region_holds_it_until_its_last_request_retires() {
    // Inline, with no engine, the second request runs only when the application polls again,
    // so what is held in between is certain (an engine could run and retire it at any time).
    {
        let policy = ExecPolicy::Inline;
        let b = Base::new(0, policy);
        // A one-entry CQ: the first COPY's completion fills it, so the second waits, in flight.
        let mut cq = b.ctx.create_cq(1, None).unwrap();
        let mut qp = b.pd.create_qp(&cq, QpInit::new(4)).unwrap();
        let src = b.pd.reg_mr(pattern(9, 4096), Access::empty()).unwrap();
        let mut dst = b.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
        let mut scratch = b.pd.alloc_mr(2048, Access::LOCAL_WRITE).unwrap();

        // Given up: nothing stays held.
        qp.stage(Copy::new(1, src.slice(0, 2048), dst.slice_mut(0, 2048))).unwrap();
        qp.stage(Copy::new(2, src.slice(2048, 2048), dst.slice_mut(2048, 2048))).unwrap();
        qp.abort_staged();
        assert!(!src.in_flight() && !dst.in_flight(), "{policy:?}: an aborted batch kept a hold");

        // Both write `dst`: the second takes the first's hold over.
        let mut batch = qp.batch();
        batch.push(Copy::new(3, src.slice(0, 2048), dst.slice_mut(0, 2048))).unwrap();
        batch.push(Copy::new(4, src.slice(2048, 2048), dst.slice_mut(2048, 2048))).unwrap();
        batch.ring();
        assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 3);
        assert!(matches!(dst.as_slice(), Err(Error::InFlight { .. })), "{policy:?}: the hold left with the first");
        assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 4);
        assert_eq!(dst.as_slice().unwrap(), src.as_slice().unwrap());

        // The first only reads `dst`, the second writes it: the second's hold is a write.
        let mut batch = qp.batch();
        batch.push(Copy::new(5, dst.slice(0, 2048), scratch.slice_mut(0, 2048))).unwrap();
        batch.push(Copy::new(6, src.slice(2048, 2048), dst.slice_mut(0, 2048))).unwrap();
        batch.ring();
        assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 5);
        assert!(matches!(dst.as_slice(), Err(Error::InFlight { .. })), "{policy:?}: a read hold stood in for a write");
        assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 6);
        assert!(!dst.in_flight() && !src.in_flight() && !scratch.in_flight());
        assert!(scratch.as_slice().unwrap() == &src.as_slice().unwrap()[..2048]);

        // Each copies within `dst`, naming it twice (read and write): counted once, the second
        // still takes over the first's hold, and keeps it as a write.
        dst.as_mut_slice().unwrap()[..2048].fill(1);
        dst.as_mut_slice().unwrap()[2048..].fill(2);
        let mut batch = qp.batch();
        batch.push(Copy::within(7, &mut dst, 0, 2048, 2048)).unwrap();
        batch.push(Copy::within(8, &mut dst, 2048, 0, 2048)).unwrap();
        batch.ring();
        assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 7);
        assert!(matches!(dst.as_slice(), Err(Error::InFlight { .. })), "{policy:?}: the hold left with the first copy within");
        assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 8);
        assert!(!dst.in_flight());
        assert!(dst.as_slice().unwrap().iter().all(|&b| b == 1), "the first half, copied onto the second and back");
    }
}

/// Defect 6: pinning ignored the protection asked for: a LOCAL_WRITE region over read-only
/// memory, or a CQ ring or doorbell record in read-only memory, were accepted (the kernel says
/// EFAULT), and the device's first store there killed the process.
#[test]
fn pins_honour_the_memory_protection() {
    let b = Base::new(1, ExecPolicy::Threads);
    let read_only = Pages::new(8192);
    read_only.protect(libc::PROT_READ);
    let none = Pages::new(4096);
    none.protect(libc::PROT_NONE);
    // SAFETY: for all three, the memory is the test's own mapping, never freed before `b` goes;
    // the writable and inaccessible registrations must fail, the read-only one is only read.
    unsafe {
        assert_eq!(errno(b.pd.reg_mr_raw(read_only.as_mut_ptr(), 8192, Access::LOCAL_WRITE)), Some(libc::EFAULT));
        assert_eq!(errno(b.pd.reg_mr_raw(none.as_mut_ptr(), 4096, Access::empty())), Some(libc::EFAULT));
        assert!(b.pd.reg_mr_raw(read_only.as_mut_ptr(), 8192, Access::empty()).is_ok(), "reading read-only memory is fine");
    }

    let dev = device(1);
    let mut f = RawFile::new(dev.open_channel().unwrap());
    f.get_context().unwrap();
    let pd = f.alloc_pd().unwrap();
    let ro = |len| {
        let p = Pages::new(len);
        p.protect(libc::PROT_READ);
        p
    };
    assert_eq!(f.create_cq_in(16, ro(4096), Pages::new(64)), Err(libc::EFAULT), "CQ ring in read-only memory");
    assert_eq!(f.create_cq_in(16, Pages::new(4096), ro(64)), Err(libc::EFAULT), "CQ doorbell in read-only memory");
    let cq = f.create_cq(16).unwrap();
    assert_eq!(f.create_qp_in(pd, cq, 4, Pages::new(4096), ro(128)), Err(libc::EFAULT), "QP doorbell in read-only memory");
    let read_only_sq = f.create_qp_in(pd, cq, 4, ro(4096), Pages::new(128));
    if accelverbs_tests::on_daemon() {
        // A daemon reaches rings only in memory this process shares with it.
        assert_eq!(read_only_sq, Err(libc::EFAULT));
    } else {
        // The device only reads the send queue, so a read-only one is accepted, as by the kernel.
        assert!(read_only_sq.is_ok());
    }
}

/// Found in review: two QPs served by two engines could write (or write and read) one region
/// at the same time, a data race inside this process. A region is now lent to one QP at a
/// time; another QP gets `RegionBusy` until the first one's requests completed.
#[test]
fn a_region_is_lent_to_one_qp_at_a_time() {
    let b = Base::new(2, ExecPolicy::Threads);
    // QP a's one-entry CQ is filled by a NOP, so its COPY stays in flight until we poll.
    let mut cq_a = b.ctx.create_cq(1, None).unwrap();
    let mut cq_b = b.ctx.create_cq(8, None).unwrap();
    let mut qp_a = b.pd.create_qp(&cq_a, QpInit::new(4)).unwrap();
    let mut qp_b = b.pd.create_qp(&cq_b, QpInit::new(4)).unwrap();
    let src = b.pd.reg_mr(pattern(4, 4096), Access::empty()).unwrap();
    let mut dst = b.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    let mut other = b.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    let mut batch = qp_a.batch();
    batch.push(Nop::new(1)).unwrap();
    batch.push(Copy::new(2, src.slice(0, 4096), dst.slice_mut(0, 4096))).unwrap();
    batch.ring();
    let busy = Err(accelverbs::PostError::RegionBusy);
    assert_eq!(qp_b.post(Copy::new(3, src.slice(0, 64), dst.slice_mut(0, 64))), busy, "a second writer");
    assert_eq!(qp_b.post(Copy::new(4, dst.slice(0, 64), other.slice_mut(0, 64))), busy, "a reader of bytes being written");
    assert_eq!(qp_b.post(Copy::new(5, src.slice(0, 64), other.slice_mut(0, 64))), busy, "a reader of bytes being read elsewhere");
    // The same QP may go on using it: its requests run one after another.
    qp_a.post(Copy::new(6, src.slice(0, 64), dst.slice_mut(64, 64))).unwrap();
    let ids: Vec<u64> = (0..3).map(|_| poll_n(&mut cq_a, 1)[0].wr_id).collect();
    assert_eq!(ids, [1, 2, 6]);
    qp_b.post(Copy::new(7, src.slice(0, 64), dst.slice_mut(0, 64))).unwrap();
    assert!(poll_n(&mut cq_b, 1)[0].is_success());
    let (d, s) = (dst.as_slice().unwrap(), src.as_slice().unwrap());
    assert!(d[..64] == s[..64] && d[64..128] == s[..64] && d[128..] == s[128..], "copies 2, 6 and 7 all ran");
}

/// Found in review: a region of another device could carry the very key of a region here
/// (keys and PD numbers are only unique within a device), so a QP given it would make its device
/// write that other region, unguarded. Regions of another context are refused at post.
#[test]
fn a_region_of_another_context_is_refused_at_post() {
    let here = Base::new(1, ExecPolicy::Threads);
    let victim = here.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    let cq = here.ctx.create_cq(8, None).unwrap();
    let mut qp = here.pd.create_qp(&cq, QpInit::new(4)).unwrap();
    let elsewhere = Base::new(1, ExecPolicy::Threads);
    let mut theirs = elsewhere.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    assert_eq!(theirs.lkey(), victim.lkey(), "the first region of each device gets the same key");
    let view = victim.as_slice().unwrap();
    let refused = Err(accelverbs::PostError::WrongContext);
    assert_eq!(qp.post(Copy::within(1, &mut theirs, 0, 8, 8)), refused);
    let mine = here.pd.reg_mr(pattern(2, 64), Access::empty()).unwrap();
    assert_eq!(qp.post(Copy::new(2, mine.slice(0, 8), theirs.slice_mut(0, 8))), refused);
    // Another context of the same device is refused too.
    let sibling = here.device.open().unwrap().alloc_pd().unwrap();
    let mut cousin = sibling.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    assert_eq!(qp.post(Copy::new(3, mine.slice(0, 8), cousin.slice_mut(0, 8))), refused);
    assert!(view.iter().all(|&b| b == 0));
    assert!(!victim.in_flight() && !theirs.in_flight() && !mine.in_flight());
}
