//! Review of the per-request cost commits (b818d8e, 76ba702, 805a300, dc59641): the device's
//! tables read through a view held for a pass (`rxe-sim/src/hw/read_mostly.rs`), holds taken
//! over from the WQE staged before (`provider/src/post/side.rs`), WQEs encoded in place.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use accelverbs::{Access, ContextOptions, Copy, Device, ExecPolicy, KeyAlgorithm, QpInit, WorkCompletion};
use accelverbs_tests::{device, pattern, stress_rounds};

/// Runs `workers` (each loops, bumping its counter, until told to stop) for `run`, and panics
/// if one of them makes no progress for `stall`: threads stuck in a deadlock never return, so
/// they are left behind (the test process ends with the harness).
fn watch(workers: Vec<(&'static str, Box<dyn FnMut() + Send>)>, run: Duration, stall: Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut counters = Vec::new();
    let mut handles = Vec::new();
    for (name, mut work) in workers {
        let count = Arc::new(AtomicU64::new(0));
        counters.push((name, Arc::clone(&count)));
        let stop = Arc::clone(&stop);
        handles.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                work();
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now();
    let mut last: Vec<(u64, Instant)> = counters.iter().map(|_| (0, Instant::now())).collect();
    while start.elapsed() < run {
        std::thread::sleep(Duration::from_millis(50));
        for ((name, count), (seen, at)) in counters.iter().zip(last.iter_mut()) {
            let now = count.load(Ordering::Relaxed);
            if now != *seen {
                *seen = now;
                *at = Instant::now();
            } else if at.elapsed() > stall {
                let all: Vec<_> = counters.iter().map(|(n, c)| (*n, c.load(Ordering::Relaxed))).collect();
                panic!("deadlock: `{name}` made no progress for {stall:?} (counts: {all:?})");
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
}

/// A poster on its own context: batches of 16 KiB copies, polled to the end, forever.
fn poster(dev: &Device, policy: ExecPolicy) -> Box<dyn FnMut() + Send> {
    let ctx = dev.open_with(ContextOptions { policy, ..ContextOptions::default() }).unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let mut cq = ctx.create_cq(128, None).unwrap();
    let mut qp = pd.create_qp(&cq, QpInit::new(64)).unwrap();
    let src = pd.reg_mr(pattern(3, 1 << 16), Access::empty()).unwrap();
    let mut dst = pd.alloc_mr(1 << 16, Access::LOCAL_WRITE).unwrap();
    Box::new(move || {
        let _keep = (&ctx, &pd);
        const N: u64 = 32;
        let mut batch = qp.batch();
        for i in 0..N {
            let off = (i as usize % 4) * (1 << 14);
            batch.push(Copy::new(i, src.slice(off, 1 << 14), dst.slice_mut(off, 1 << 14))).unwrap();
        }
        batch.ring();
        let mut wc = [WorkCompletion::default(); 64];
        let mut got = 0;
        while got < N as usize {
            got += cq.poll(&mut wc);
            std::hint::spin_loop();
        }
    })
}

/// Finding 1. `process` takes the MR view then the key view; `Tables::yield_to_writers`
/// re-reads the MR table while it still holds the key view. std's RwLock makes readers queue
/// behind a waiting writer, so with an MR (de)registration and a key create/destroy waiting at
/// once (two contexts: one file's ioctls are serialised), two passes deadlock:
///
///   pass A holds keys, re-reads mrs (an MR writer waits)  -> waits for the MR writer
///   MR writer                                              -> waits for B's MR view
///   pass B holds mrs, takes keys (a key writer waits)     -> waits for the key writer
///   key writer                                             -> waits for A's key view
///
/// Everything on the device then hangs: every later pass, registration and destroy.
#[test]
fn mr_and_key_writers_with_two_passes_do_not_deadlock() {
    let dev = device(2);
    let mut workers: Vec<(&'static str, Box<dyn FnMut() + Send>)> = vec![
        // Two QPs on two engines, and one poster running its passes inline.
        ("engine poster 1", poster(&dev, ExecPolicy::Threads)),
        ("engine poster 2", poster(&dev, ExecPolicy::Threads)),
        ("inline poster", poster(&dev, ExecPolicy::Inline)),
    ];
    {
        let ctx = dev.open().unwrap();
        let pd = ctx.alloc_pd().unwrap();
        workers.push((
            "reg/dereg MR",
            Box::new(move || {
                let _keep = &ctx;
                drop(pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap());
            }),
        ));
    }
    {
        let ctx = dev.open().unwrap();
        let pd = ctx.alloc_pd().unwrap();
        workers.push((
            "create/destroy key",
            Box::new(move || {
                let _keep = &ctx;
                drop(pd.create_crypto_key(KeyAlgorithm::AesKeyWrap256, &[7; 32]).unwrap());
            }),
        ));
    }
    watch(workers, Duration::from_secs(10 * stress_rounds(1)), Duration::from_secs(5));
}

/// Finding 2. A view is held for the whole of a WQE, and std's RwLock queues new readers behind
/// a waiting writer. So one long request (seconds of zstd -19 here, or a GiB copy) makes every
/// MR registration and key creation on the device wait for it (before b818d8e they took the
/// table for a moment), and while that writer waits, no pass of any other QP, of any context,
/// can start or go past its next WQE: one tenant's request stalls everyone's NOPs.
#[test]
fn a_long_request_on_one_qp_stalls_neither_registration_nor_other_qps() {
    use accelverbs::{Compress, Format, Nop};
    let dev = device(2);
    let open = || dev.open_with(ContextOptions { policy: ExecPolicy::Threads, ..ContextOptions::default() }).unwrap();
    let (ctx1, ctx2, ctx3) = (open(), open(), open());
    let (pd1, pd2, pd3) = (ctx1.alloc_pd().unwrap(), ctx2.alloc_pd().unwrap(), ctx3.alloc_pd().unwrap());
    let mut cq1 = ctx1.create_cq(8, None).unwrap();
    let mut qp1 = pd1.create_qp(&cq1, QpInit::new(4)).unwrap();
    let mut cq2 = ctx2.create_cq(8, None).unwrap();
    let mut qp2 = pd2.create_qp(&cq2, QpInit::new(4)).unwrap();
    // Compressible but not trivially: zstd at level 19 takes seconds over it.
    const LEN: usize = 8 << 20;
    let data: Vec<u8> = pattern(5, LEN).iter().enumerate().map(|(i, b)| if i % 7 < 4 { b'a' + (i / 64 % 23) as u8 } else { b % 16 }).collect();
    let src = pd1.reg_mr(data, Access::empty()).unwrap();
    let mut dst = pd1.alloc_mr(LEN + (1 << 20), Access::LOCAL_WRITE).unwrap();
    let nop_latency = |qp: &mut accelverbs::Qp, cq: &mut accelverbs::Cq| {
        let t = Instant::now();
        qp.post(Nop::new(9)).unwrap();
        accelverbs_tests::poll_n(cq, 1);
        t.elapsed()
    };
    nop_latency(&mut qp2, &mut cq2);

    let start = Instant::now();
    qp1.post(Compress::new(1, Format::Zstd, src.slice(0, LEN as u32), dst.slice_mut(0, (LEN + (1 << 20)) as u32)).level(19))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (reg, nop) = std::thread::scope(|s| {
        let reg = s.spawn(|| {
            let t = Instant::now();
            drop(pd3.alloc_mr(4096, Access::LOCAL_WRITE).unwrap());
            t.elapsed()
        });
        std::thread::sleep(Duration::from_millis(50));
        let nop = nop_latency(&mut qp2, &mut cq2);
        (reg.join().unwrap(), nop)
    });
    let wc = accelverbs_tests::poll_n(&mut cq1, 1);
    let long = start.elapsed();
    eprintln!("long {long:?} reg {reg:?} nop {nop:?}");
    assert!(wc[0].is_success(), "{:?}", wc[0]);
    assert!(long > Duration::from_millis(1000), "the long request took only {long:?}: nothing to show");
    assert!(
        reg < Duration::from_millis(250) && nop < Duration::from_millis(250),
        "while one QP ran a {long:?} request, a 4 KiB registration took {reg:?} and a NOP on another QP and engine {nop:?}"
    );
}
