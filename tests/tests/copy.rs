use accelverbs::{Access, Copy, CqeStatus, ExecPolicy, Nop};
use accelverbs_tests::{pattern, poll_n, Traffic};

#[test]
fn smoke() {
    for policy in [ExecPolicy::Threads, ExecPolicy::Inline, ExecPolicy::Adaptive] {
        let mut t = Traffic::new(1, policy, 16);
        let mut src = t.mr(4096, Access::empty());
        let mut dst = t.mr(4096, Access::LOCAL_WRITE);
        let _ = &mut src;
        let data = pattern(1, 4096);
        // Owned MR: write payload through the mutable view.
        src_fill(&mut src, &data);
        t.qp.post(Nop::new(1)).unwrap();
        t.qp.post(Copy::new(2, src.sge(0, 4096), dst.sge(0, 4096))).unwrap();
        let wcs = poll_n(&mut t.cq, 2);
        assert_eq!(wcs[0].wr_id, 1);
        assert_eq!(wcs[1].wr_id, 2);
        assert!(wcs.iter().all(|w| w.status == CqeStatus::Success), "{wcs:?}");
        assert_eq!(wcs[1].byte_len, 4096);
        assert_eq!(dst.as_mut_slice(), &data[..]);
    }
}

fn src_fill(mr: &mut accelverbs::MemoryRegion<'_>, data: &[u8]) {
    mr.as_mut_slice().copy_from_slice(data);
}
