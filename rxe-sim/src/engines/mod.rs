//! Engine threads: each serves a set of QPs, polling their doorbells while busy and sleeping on
//! its wake word in the UAR page when idle. A poster wakes it only if it announced sleep, so
//! posting costs no system call while the engine is awake.

pub mod codec;
pub mod compression;
pub mod crypto;
pub mod execute;
pub mod ops;
pub mod pieces;
mod sgl;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use accelverbs_kernel_abi::HwQp;
use accelverbs_uapi::wake::engine_may_sleep;

use crate::hw::qp::{Progress, Runner, SoftQp};
use crate::hw::shared::{futex_wait, futex_wake, SharedU32};

/// Longest sleep with nothing to do; only bounds the damage of a poster that never wakes us.
const IDLE_SLEEP: Duration = Duration::from_millis(100);
/// First sleep while work waits for CQ space: the poller frees it without ringing a doorbell,
/// so the engine looks again after this, then after twice as long each time up to
/// `BLOCKED_SLEEP_MAX`, without spinning in between.
const BLOCKED_SLEEP: Duration = Duration::from_micros(200);
const BLOCKED_SLEEP_MAX: Duration = Duration::from_millis(3);

/// State shared between an engine thread and the device.
#[derive(Debug)]
pub struct EngineShared {
    qps: Mutex<Vec<Arc<SoftQp>>>,
    generation: AtomicU64,
    stop: AtomicBool,
    wake: SharedU32,
    spin: Duration,
}

impl EngineShared {
    pub fn attach(&self, qp: Arc<SoftQp>) {
        self.qps.lock().unwrap_or_else(|e| e.into_inner()).push(qp);
        self.generation.fetch_add(1, Ordering::Release);
        self.kick();
    }

    pub fn detach(&self, qpn: u32) {
        self.qps.lock().unwrap_or_else(|e| e.into_inner()).retain(|q| q.qpn() != qpn);
        self.generation.fetch_add(1, Ordering::Release);
        self.kick();
    }

    /// Wakes the engine if it sleeps (the device-side twin of the provider's doorbell).
    pub fn kick(&self) {
        if self.wake.swap(0, Ordering::SeqCst) != 0 {
            futex_wake(&self.wake);
        }
    }
}

/// The engine threads of one device.
#[derive(Debug)]
pub struct Engines {
    shared: Vec<Arc<EngineShared>>,
    threads: Vec<JoinHandle<()>>,
}

impl Engines {
    /// Starts one thread per wake word.
    pub fn start(wake_words: Vec<SharedU32>, spin: Duration) -> Self {
        let shared: Vec<_> = wake_words
            .into_iter()
            .map(|wake| {
                Arc::new(EngineShared {
                    qps: Mutex::new(Vec::new()),
                    generation: AtomicU64::new(0),
                    stop: AtomicBool::new(false),
                    wake,
                    spin,
                })
            })
            .collect();
        let threads = shared
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let s = Arc::clone(s);
                std::thread::Builder::new().name(format!("accelsim-eng{i}")).spawn(move || run(&s)).expect("spawn engine thread")
            })
            .collect();
        Self { shared, threads }
    }

    pub fn len(&self) -> usize {
        self.shared.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shared.is_empty()
    }

    pub fn get(&self, index: usize) -> &Arc<EngineShared> {
        &self.shared[index]
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        for s in &self.shared {
            s.stop.store(true, Ordering::Release);
            s.wake.store(0, Ordering::SeqCst);
            futex_wake(&s.wake);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What one QP's pass means for the engine's next step.
#[derive(Debug, PartialEq, Eq)]
enum Round {
    Worked,
    /// Work waits for CQ space, which only the application's polling frees: sleep, in
    /// growing steps, without spinning.
    Blocked,
    /// Another thread holds the QP (its poster running it inline): spin for a while, as for
    /// nothing done, then sleep in growing steps, as when blocked.
    Busy,
    /// Nothing was done: spin for a while, then sleep unless work is pending.
    Nothing,
}

fn classify(progress: Progress) -> Round {
    match progress {
        Progress::Worked(_) => Round::Worked,
        Progress::Blocked => Round::Blocked,
        // The poster is running the QP inline (an adaptive QP), usually for a moment: what it
        // hands over next is work like any other, so the engine spins for it. Taken as
        // blocked, it sent the engine to sleep for 200 µs with that work waiting and nothing
        // to wake it (adaptive QD 32 COPY 4 KiB: p99 215 µs, 0.57 M/s). But a poster holds
        // the QP for as long as its requests take (seconds, for a large compression), and the
        // work it holds shows as pending all along: taken as nothing done, the engine never
        // slept (busy_engine_sleeps.rs).
        Progress::Busy => Round::Busy,
        Progress::Idle => Round::Nothing,
    }
}

fn run(engine: &EngineShared) {
    let mut qps: Vec<Arc<SoftQp>> = Vec::new();
    let mut seen_generation = u64::MAX;
    let mut idle_since: Option<Instant> = None;
    let mut idle_passes: u32 = 0;
    let mut blocked_sleep = BLOCKED_SLEEP;
    while !engine.stop.load(Ordering::Acquire) {
        let generation = engine.generation.load(Ordering::Acquire);
        if generation != seen_generation {
            qps = engine.qps.lock().unwrap_or_else(|e| e.into_inner()).clone();
            seen_generation = generation;
        }
        let mut worked = false;
        let mut blocked = false;
        let mut busy = false;
        for qp in &qps {
            match classify(qp.process(Runner::Engine)) {
                Round::Worked => worked = true,
                Round::Blocked => blocked = true,
                Round::Busy => busy = true,
                Round::Nothing => {}
            }
        }
        if worked {
            idle_since = None;
            idle_passes = 0;
            blocked_sleep = BLOCKED_SLEEP;
            continue;
        }
        // Adaptive polling: spin for `spin` after the last work, then sleep. Work blocked on
        // CQ space is not spun on: only the application's polling frees it.
        idle_passes += 1;
        if !blocked && !idle_passes.is_multiple_of(64) {
            std::hint::spin_loop();
            continue;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        if !blocked && since.elapsed() < engine.spin {
            continue;
        }
        // Announce sleep, then look once more (`accelverbs_uapi::wake`: either a poster sees
        // the announcement, or we see its work). Work on a QP another thread holds is not
        // work for us until it lets go; a poster that lets go of work it did not run hands it
        // over and wakes us, having seen the announcement.
        let work_appeared = || {
            engine.stop.load(Ordering::Acquire)
                || (!blocked && qps.iter().any(|q| q.has_work(Runner::Engine) && !q.is_held()))
                || engine.generation.load(Ordering::Acquire) != seen_generation
        };
        if !engine_may_sleep(&engine.wake, work_appeared) {
            continue;
        }
        // A QP held by another thread may be let go with work left, and by a thread that does
        // not wake us (a destroy, a key's destroy looking at pending WQEs): look again soon.
        let sleep = match blocked || busy {
            true => {
                let this = blocked_sleep;
                blocked_sleep = (this * 2).min(BLOCKED_SLEEP_MAX);
                this
            }
            false => {
                blocked_sleep = BLOCKED_SLEEP;
                IDLE_SLEEP
            }
        };
        futex_wait(&engine.wake, 1, sleep);
        engine.wake.store(0, Ordering::SeqCst);
        idle_since = None;
        idle_passes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qp_busy_with_its_poster_is_not_blocked() {
        assert_eq!(classify(Progress::Busy), Round::Busy);
        assert_eq!(classify(Progress::Blocked), Round::Blocked);
        assert_eq!(classify(Progress::Idle), Round::Nothing);
        assert_eq!(classify(Progress::Worked(3)), Round::Worked);
    }
}
