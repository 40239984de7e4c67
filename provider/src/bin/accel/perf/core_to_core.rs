//! How long a cache line takes to go from one core to another and back, measured the way the
//! engine path uses it: two threads take turns writing one word. Work handed to an engine
//! thread pays this at least twice per batch (the doorbell over, the completions back), and on
//! a shared virtual machine it varies several-fold with where the host runs the two vCPUs; so
//! `accel perf` prints it beside figures that depend on it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// One word on a cache line (and its adjacent-line prefetch pair) of its own.
#[repr(align(128))]
struct Line(AtomicU32);

/// Tells the partner to end: odd, so it is never an answer, and far above any trip's value.
const STOP: u32 = u32::MAX;

/// Spins in one wait before a side yields its core: tens of microseconds (a `pause` is 10-40
/// ns), far beyond a round trip between two cores, so a measurement does not yield (a yield
/// lets a spinning engine thread in, and the figure was then tens of microseconds); when the
/// two threads share one core (`taskset -c 0`), or the other is descheduled, yielding lets it
/// run instead of spinning out the time slice, and a batch still ends within its second.
const SPINS_BEFORE_YIELD: u32 = 4096;

/// Spins before a yield for a measurement whose two threads share `cpus` CPUs: on one CPU
/// (`taskset -c 0`) every wait yields at once, since the other side cannot run until this one
/// stops. Spinning first made a batch of 1000 trips take over 100 ms there, and a second on a
/// loaded machine, when the measurement gave up and printed `null`.
fn spins_before_yield(cpus: usize) -> u32 {
    if cpus <= 1 {
        1
    } else {
        SPINS_BEFORE_YIELD
    }
}

/// Waits a little for the other side: a spin, and every `per_yield` waits a yield.
fn pause(spins: &mut u32, per_yield: u32) {
    *spins += 1;
    if spins.is_multiple_of(per_yield) {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// Median round trip in nanoseconds over batches spanning about `duration`; `None` if the
/// other thread did not answer within a second (then there is no figure to print).
pub fn round_trip_ns(duration: Duration) -> Option<f64> {
    const TRIPS_PER_BATCH: u32 = 1000;
    let line = Line(AtomicU32::new(0));
    let mut batches = Vec::new();
    // The CPUs this process may run on (its affinity mask, on Linux).
    let per_yield = spins_before_yield(std::thread::available_parallelism().map_or(1, usize::from));
    std::thread::scope(|s| {
        // The other side answers every odd value with the next even one, until told to stop
        // (`STOP`).
        s.spawn(|| {
            let mut spins = 0;
            loop {
                let seen = line.0.load(Ordering::Acquire);
                if seen == STOP {
                    return;
                }
                if seen % 2 == 1 {
                    reply(&line.0, seen);
                    spins = 0;
                }
                pause(&mut spins, per_yield);
            }
        });
        let start = Instant::now();
        let mut value = 0u32;
        // The first batch also waits for the other thread to start: not counted.
        let mut warmed_up = false;
        while start.elapsed() < duration || batches.len() < 2 {
            let batch = Instant::now();
            for _ in 0..TRIPS_PER_BATCH {
                line.0.store(value + 1, Ordering::Release);
                // A stalled partner must not hang the tool: give up on the batch after a
                // second.
                let mut spins = 0;
                while line.0.load(Ordering::Acquire) != value + 2 {
                    if batch.elapsed() > Duration::from_secs(1) {
                        line.0.store(STOP, Ordering::Release);
                        return;
                    }
                    pause(&mut spins, per_yield);
                }
                value += 2;
            }
            if warmed_up {
                batches.push(batch.elapsed().as_nanos() as f64 / f64::from(TRIPS_PER_BATCH));
            }
            warmed_up = true;
            // Values stay far below u32::MAX: start over well before.
            if value > u32::MAX / 2 {
                line.0.store(0, Ordering::Release);
                value = 0;
            }
        }
        line.0.store(STOP, Ordering::Release);
    });
    batches.sort_by(f64::total_cmp);
    batches.get(batches.len() / 2).copied()
}

/// The partner's answer to `seen`, an odd value it loaded from `line`: only if `line` still
/// holds it. The partner may stall between its load and this (descheduled, or no core of its
/// own) long enough for the other side to give up and store `STOP`, which a plain store would
/// overwrite: the partner would then spin forever and the scope never end.
fn reply(line: &AtomicU32, seen: u32) {
    let _ = line.compare_exchange(seen, seen + 1, Ordering::Release, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The partner loaded an odd value, then stalled (no core free, or descheduled) for more
    /// than the measuring side waits; that side gave up and told it to stop (`STOP`), and
    /// waits for it to end. When the partner runs again, its answer must not overwrite the
    /// stop: else it spins forever and `accel perf` hangs (seen under gdb: partner held at its
    /// store for 2 s, then the process spun until killed).
    #[test]
    fn one_cpu_yields_at_every_wait() {
        assert_eq!(spins_before_yield(1), 1);
        assert_eq!(spins_before_yield(2), SPINS_BEFORE_YIELD);
    }

    #[test]
    fn a_late_answer_does_not_overwrite_the_stop() {
        let line = AtomicU32::new(0);
        line.store(7, Ordering::Release);
        let seen = line.load(Ordering::Acquire);
        line.store(STOP, Ordering::Release);
        reply(&line, seen);
        assert_eq!(line.load(Ordering::Acquire), STOP, "the stop was overwritten: the partner never ends");
    }
}
