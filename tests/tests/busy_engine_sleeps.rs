//! An engine whose only work is held by another thread (the QP's poster running it inline, for
//! an adaptive context) sleeps after its spin, in short steps, instead of spinning until the
//! holder lets go: a poster may hold a QP for as long as its requests take (a large compression
//! runs for seconds). Its own test binary: it reads the engine thread's CPU time in /proc.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use accelverbs::{Access, Compress, ExecPolicy, Format, Nop, QpInit};
use accelverbs_tests::engine_threads::engine_cpu_ticks;
use accelverbs_tests::{pattern, Base};

fn clock_ticks_per_second() -> f64 {
    // SAFETY: a plain query.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// Compressible text: words of a small vocabulary in a pseudo-random order, which zstd at a
/// high level works on for a while.
fn text(len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "engine ",
        "doorbell ",
        "completion ",
        "queue ",
        "region ",
        "request ",
        "device ",
        "tag ",
        "key ",
        "ring ",
        "poster ",
        "sleep ",
        "wake ",
        "spin ",
        "lock ",
        "busy ",
    ];
    let choice = pattern(17, len / 4);
    let mut out = Vec::with_capacity(len + 16);
    for c in choice {
        out.extend_from_slice(WORDS[usize::from(c) % WORDS.len()].as_bytes());
        if out.len() >= len {
            break;
        }
    }
    out.resize(len, b'.');
    out
}

#[test]
fn an_engine_sleeps_while_the_poster_runs_the_work_handed_to_it() {
    if accelverbs_tests::embedded_only("watches the engine thread of an in-process device, and runs inline") {
        return;
    }
    let base = Base::new(1, ExecPolicy::Adaptive);
    let mut cq1 = base.ctx.create_cq(8, None).unwrap();
    let cq2 = base.ctx.create_cq(8, None).unwrap();
    let mut qp1 = base.pd.create_qp(&cq1, QpInit::new(4)).unwrap();
    let mut qp2 = base.pd.create_qp(&cq2, QpInit::new(4)).unwrap();
    const SHORT: usize = 128 << 10;
    const LONG: usize = 2 << 20;
    let src1 = base.pd.reg_mr(text(SHORT), Access::empty()).unwrap();
    let src2 = base.pd.reg_mr(text(LONG), Access::empty()).unwrap();
    let room = |len: usize| (len + len / 8 + 4096) as u32;
    let mut dst1 = base.pd.alloc_mr(room(SHORT) as usize, Access::LOCAL_WRITE).unwrap();
    let mut dst2 = base.pd.alloc_mr(room(LONG) as usize, Access::LOCAL_WRITE).unwrap();

    // QP1: a request over the inline threshold, handed to the engine, which runs it for a while.
    let short = Compress::new(1, Format::Zstd, src1.slice(0, SHORT as u32), dst1.slice_mut(0, room(SHORT))).level(19);
    qp1.post(short).unwrap();
    // QP2: a longer one, handed to the engine too, which is busy with QP1's.
    let long = Compress::new(2, Format::Zstd, src2.slice(0, LONG as u32), dst2.slice_mut(0, room(LONG))).level(19);
    qp2.post(long).unwrap();

    let done = AtomicBool::new(false);
    let (wall, ticks) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            // Once QP1's request completed, the engine's only work is QP2's, which the poster
            // runs (below) and holds.
            let mut wc = [accelverbs::WorkCompletion::default(); 1];
            while cq1.poll(&mut wc) == 0 {
                assert!(!done.load(Ordering::Acquire), "QP2's request ran before QP1's completed: too fast to show anything");
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(wc[0].status, accelverbs::CqeStatus::Success);
            let (start, before) = (Instant::now(), engine_cpu_ticks());
            while !done.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            (start.elapsed(), engine_cpu_ticks() - before)
        });
        // A small request: its poster runs QP2 inline, the long request with it, holding the
        // QP until both are done.
        qp2.post(Nop::new(3)).unwrap();
        done.store(true, Ordering::Release);
        watcher.join().unwrap()
    });
    assert!(wall > Duration::from_millis(300), "the inline run outlasted QP1's request by only {wall:?}: nothing to see");
    let spinning = wall.as_secs_f64() * clock_ticks_per_second();
    eprintln!("the engine burned {ticks} clock ticks in {wall:?} while the poster held its only work");
    // A spinning engine burns about a tick a tick; a sleeping one next to none.
    assert!(
        (ticks as f64) < spinning * 0.25,
        "the engine burned {ticks} clock ticks in {wall:?} (spinning: about {spinning:.0}) while the poster held its only work"
    );
    drop((dst1, dst2));
}
