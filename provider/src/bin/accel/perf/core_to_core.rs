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

/// Median round trip in nanoseconds over batches spanning about `duration`.
pub fn round_trip_ns(duration: Duration) -> f64 {
    const TRIPS_PER_BATCH: u32 = 1000;
    let line = Line(AtomicU32::new(0));
    let mut batches = Vec::new();
    std::thread::scope(|s| {
        // The other side answers every odd value with the next even one, until told to stop
        // (u32::MAX, which is odd).
        s.spawn(|| loop {
            let seen = line.0.load(Ordering::Acquire);
            if seen == u32::MAX {
                return;
            }
            if seen % 2 == 1 {
                reply(&line.0, seen);
            }
            std::hint::spin_loop();
        });
        let start = Instant::now();
        let mut value = 0u32;
        // The first batch also waits for the other thread to start: not counted.
        let mut warmed_up = false;
        while start.elapsed() < duration || batches.len() < 2 {
            let batch = Instant::now();
            for _ in 0..TRIPS_PER_BATCH {
                line.0.store(value + 1, Ordering::Release);
                // A stalled partner (no second core free) must not hang the tool: give up on
                // the batch after a second.
                while line.0.load(Ordering::Acquire) != value + 2 {
                    if batch.elapsed() > Duration::from_secs(1) {
                        line.0.store(u32::MAX, Ordering::Release);
                        return;
                    }
                    std::hint::spin_loop();
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
        line.0.store(u32::MAX, Ordering::Release);
    });
    if batches.is_empty() {
        return f64::NAN;
    }
    batches.sort_by(f64::total_cmp);
    batches[batches.len() / 2]
}

/// The partner's answer to `seen`, an odd value it loaded from `line`.
fn reply(line: &AtomicU32, seen: u32) {
    line.store(seen + 1, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The partner loaded an odd value, then stalled (no core free, or descheduled) for more
    /// than the measuring side waits; that side gave up and told it to stop (`u32::MAX`), and
    /// waits for it to end. When the partner runs again, its answer must not overwrite the
    /// stop: else it spins forever and `accel perf` hangs (seen under gdb: partner held at its
    /// store for 2 s, then the process spun until killed).
    #[test]
    fn a_late_answer_does_not_overwrite_the_stop() {
        let line = AtomicU32::new(0);
        line.store(7, Ordering::Release);
        let seen = line.load(Ordering::Acquire);
        line.store(u32::MAX, Ordering::Release);
        reply(&line, seen);
        assert_eq!(line.load(Ordering::Acquire), u32::MAX, "the stop was overwritten: the partner never ends");
    }
}
