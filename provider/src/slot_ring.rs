//! A ring of per-WQE slots shared by one poster and the threads that retire what the device
//! has finished, without a lock on the posting path.
//!
//! Two free-running cursors split the ring:
//!
//! ```text
//!   retired ──────────── published ─────────── retired + depth
//!   │ retirers': WQEs the  │ poster's: slots it  │
//!   │ device may be using  │ may fill next       │
//! ```
//!
//! The poster fills a slot, then publishes it (release); a retirer reads `published` (acquire)
//! and touches only slots below it. A retirer empties slots, then advances `retired` (release);
//! the poster reads `retired` (acquire) before it reuses a slot. Retirers exclude each other
//! with a try-lock: one that finds it taken leaves the work to the holder. `loom_tests` below
//! checks the model.
//!
//! Most slots stay vacant (a NOP names nothing; a batch over the same regions holds them in its
//! last WQE only), so a retirer looks inside only the slots the poster marked: per line of
//! slots, the poster stores the index of the last slot in it that holds a value once the slot
//! is final (see [`SlotRing::seal`]), before it publishes the slot, and a retirer skips the
//! line's slots past that mark.

use crate::sync::{spin_loop, AtomicBool, AtomicU32, Ordering, UnsafeCell};

/// What a slot holds: `Default` is the empty slot, which costs nothing to fill or empty (most
/// WQEs, NOPs among them, name no region).
pub(crate) trait SlotValue: Default {
    /// Whether this holds nothing: a vacant value is forgotten, not dropped, so it must own
    /// nothing a drop would release.
    fn is_vacant(&self) -> bool;
}

impl<T> SlotValue for Option<T> {
    #[inline]
    fn is_vacant(&self) -> bool {
        self.is_none()
    }
}

impl<T, const N: usize> SlotValue for [Option<T>; N]
where
    [Option<T>; N]: Default,
{
    #[inline]
    fn is_vacant(&self) -> bool {
        self.iter().all(Option::is_none)
    }
}

/// Slots per [`SlotLine`].
const SLOTS_PER_LINE: u32 = 4;

/// A group of slots on cache lines of their own (128 bytes: a pair, as adjacent-line
/// prefetchers fetch), so the ring shares no line with another allocation that some other
/// thread writes (false sharing cost 3x in NOP throughput when a device object was next door).
#[derive(Debug)]
#[repr(align(128))]
struct SlotLine<T>([UnsafeCell<T>; SLOTS_PER_LINE as usize]);

/// Slot lines per [`HeldMarks`].
const MARKS_PER_GROUP: usize = 32;

/// For each of `MARKS_PER_GROUP` slot lines, the free-running index of the last slot in it the
/// poster marked as holding a value ([`SlotRing::fill`], [`SlotRing::seal`]). Written by the
/// poster only; on lines of their own, as [`SlotLine`] is.
#[derive(Debug)]
#[repr(align(128))]
struct HeldMarks([AtomicU32; MARKS_PER_GROUP]);

/// The `retiring` flag, held: released on drop, so a panic while emptying (a region's drop)
/// cannot leave every later retire spinning.
struct RetiringHeld<'a>(&'a AtomicBool);

impl Drop for RetiringHeld<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct SlotRing<T> {
    slots: Box<[SlotLine<T>]>,
    /// Per slot line, where the retirer may find held values (module docs).
    last_held: Box<[HeldMarks]>,
    mask: u32,
    /// Free-running count of slots the poster published; those below are the retirers'.
    published: AtomicU32,
    /// Free-running count of slots emptied; those up to `retired + depth` are the poster's.
    retired: AtomicU32,
    /// Held by the one thread retiring slots.
    retiring: AtomicBool,
}

// SAFETY: a slot is reached by the poster or by the holder of `retiring`, never both, on index
// ranges ordered by `published` and `retired` (module docs); contents move between threads.
unsafe impl<T: Send> Sync for SlotRing<T> {}

impl<T: SlotValue> SlotRing<T> {
    /// `depth` slots, a power of two.
    pub fn new(depth: u32) -> Self {
        debug_assert!(depth.is_power_of_two());
        let lines = depth.div_ceil(SLOTS_PER_LINE);
        // Marked one before index 0: nothing held before the first fill.
        let unmarked = || HeldMarks(std::array::from_fn(|_| AtomicU32::new(u32::MAX)));
        Self {
            slots: (0..lines).map(|_| SlotLine(std::array::from_fn(|_| UnsafeCell::new(T::default())))).collect(),
            last_held: (0..(lines as usize).div_ceil(MARKS_PER_GROUP)).map(|_| unmarked()).collect(),
            mask: depth - 1,
            published: AtomicU32::new(0),
            retired: AtomicU32::new(0),
            retiring: AtomicBool::new(false),
        }
    }

    fn depth(&self) -> u32 {
        self.mask + 1
    }

    fn slot(&self, index: u32) -> &UnsafeCell<T> {
        let i = index & self.mask;
        &self.slots[(i / SLOTS_PER_LINE) as usize].0[(i % SLOTS_PER_LINE) as usize]
    }

    /// The mark of the slot line holding free-running `index`.
    fn last_held(&self, index: u32) -> &AtomicU32 {
        let line = ((index & self.mask) / SLOTS_PER_LINE) as usize;
        &self.last_held[line / MARKS_PER_GROUP].0[line % MARKS_PER_GROUP]
    }

    /// Marks the slot of free-running `index`, the poster's and final, as holding a value.
    fn mark_held(&self, index: u32) {
        // Relaxed: a retirer reads the mark only for slots below `published`, whose release (in
        // `publish`, which the poster calls after this) carries it. A mark stored later is of a
        // later slot while this one holds its value: the poster marks in index order, and what
        // it marks again after abandoning a batch lies past everything published.
        self.last_held(index).store(index, Ordering::Relaxed);
    }

    /// Whether the slot for free-running `index` is empty and the poster's to fill.
    pub fn is_free(&self, index: u32) -> bool {
        index.wrapping_sub(self.retired.load(Ordering::Acquire)) < self.depth()
    }

    /// Stores `value` in the slot of free-running `index`.
    ///
    /// # Safety
    /// Only the ring's one poster calls this, for an index at or past the last one published
    /// for which [`SlotRing::is_free`] returned true.
    pub unsafe fn fill(&self, index: u32, value: T) {
        // The poster's slots are always empty: nothing to store for an empty value, and
        // nothing to drop either (forgotten: its drop glue costs a NOP a fifth of its post).
        if value.is_vacant() {
            std::mem::forget(value);
            return;
        }
        // SAFETY: the slot is the poster's (caller's contract): no retirer reads it until
        // `publish` covers it, and it was emptied before `retired` passed it, so it holds an
        // empty value, with nothing to drop: written over, not assigned.
        self.slot(index).with_mut(|slot| unsafe {
            debug_assert!((*slot).is_vacant());
            std::ptr::write(slot, value)
        });
        self.mark_held(index);
    }

    /// Lets `fill` write the value of the slot of free-running `index` in place (it finds the
    /// slot vacant). What it leaves there on an error or a panic is dropped, so the slot is
    /// vacant again, as if the value had never reached it. The slot is not marked: the poster
    /// calls [`SlotRing::seal`] for it once nothing changes it any more.
    ///
    /// # Safety
    /// As [`SlotRing::fill`].
    #[inline]
    pub unsafe fn fill_with<E>(&self, index: u32, fill: impl FnOnce(&mut T) -> Result<(), E>) -> Result<(), E> {
        self.slot(index).with_mut(|slot| {
            // SAFETY: the slot is the poster's (caller's contract), as in `fill`; the reference
            // does not outlive this call.
            let mut filling = Filling { slot: unsafe { &mut *slot }, filled: false };
            let result = fill(&mut *filling.slot);
            filling.filled = result.is_ok();
            result
        })
    }

    /// Marks the slot of free-running `index`, filled by [`SlotRing::fill_with`] and changed
    /// by nothing after this, if it holds a value, so that a retirer empties it. Marking only
    /// final slots keeps the marks off the slots a batch emptied into the WQE after them. A
    /// slot published unsealed would keep its value until [`SlotRing::discard`]: a leak, not
    /// a hazard.
    ///
    /// # Safety
    /// As [`SlotRing::fill`]: only the poster, for an index at or past the last one published.
    #[inline]
    pub unsafe fn seal(&self, index: u32) {
        // SAFETY: the slot is the poster's (caller's contract), as in `fill`.
        if !self.slot(index).with_mut(|slot| unsafe { (*slot).is_vacant() }) {
            self.mark_held(index);
        }
    }

    /// Empties the slot of free-running `index`, filled but never published (an abandoned
    /// batch).
    ///
    /// # Safety
    /// As [`SlotRing::fill`]: only the poster, for an index at or past the last one published.
    pub unsafe fn vacate(&self, index: u32) {
        // SAFETY: the slot is the poster's (caller's contract), as in `fill`.
        let value = self.slot(index).with_mut(|slot| unsafe { std::mem::take(&mut *slot) });
        drop(value);
    }

    /// Runs `change` on the value in the slot of free-running `index`, filled but not yet
    /// published nor sealed (the poster moves what the WQE before a new one holds).
    ///
    /// # Safety
    /// As [`SlotRing::fill`]: only the poster, for an index at or past the last one published.
    pub unsafe fn with_staged<R>(&self, index: u32, change: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the slot is the poster's (caller's contract), as in `fill`.
        self.slot(index).with_mut(|slot| change(unsafe { &mut *slot }))
    }

    /// Hands the slots below free-running `upto` to the retirers.
    pub fn publish(&self, upto: u32) {
        self.published.store(upto, Ordering::Release);
    }

    /// Empties the slots below the device's consumer index (`consumed`), and returns the
    /// retired count. If another thread is retiring, waits until it has gone past the index
    /// as read on entry, or takes over when it is done: a caller that saw a WQE's completion
    /// returns only once that WQE's slot is empty, so its regions are usable again.
    pub fn retire(&self, consumed: impl Fn() -> u32) -> u32 {
        // The consumer index first: the device only consumes what was published (the poster
        // publishes here before it rings the doorbell), so `published`, read after it, covers
        // it, except while a reset rewinds both.
        let target = consumed();
        loop {
            if self.retiring.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                let _held = RetiringHeld(&self.retiring);
                let start = self.retired.load(Ordering::Relaxed);
                let consumed = consumed();
                let published = self.published.load(Ordering::Acquire);
                // An index outside [retired, published] (a reset in progress) proves nothing.
                let end = if consumed.wrapping_sub(start) <= published.wrapping_sub(start) { consumed } else { start };
                self.empty_marked(start, end);
                self.retired.store(end, Ordering::Release);
                return end;
            }
            let retired = self.retired.load(Ordering::Acquire);
            if target.wrapping_sub(retired) > self.depth() || target == retired {
                // At or past the target (or rewound by a reset, which empties everything).
                return retired;
            }
            spin_loop();
        }
    }

    /// Empties every slot and restarts both cursors at `base`: for work that will never run
    /// (the QP was reset or destroyed). Slots filled but never published (a forgotten batch)
    /// are emptied too.
    pub fn discard(&self, base: u32) {
        while self.retiring.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            spin_loop();
        }
        let _held = RetiringHeld(&self.retiring);
        let start = self.retired.load(Ordering::Relaxed);
        // Every slot, marked or not: the poster calls this, and may have filled slots it did
        // not publish.
        self.empty(start, self.depth());
        self.published.store(base, Ordering::Release);
        self.retired.store(base, Ordering::Release);
    }

    /// Empties those of slots `start..end` (free-running, at most one ring) that their lines'
    /// marks say may hold a value. Caller holds `retiring` and read `published` (acquire) at or
    /// past `end`.
    fn empty_marked(&self, start: u32, end: u32) {
        let line_slots = SLOTS_PER_LINE.min(self.depth());
        let mut index = start;
        let mut left = end.wrapping_sub(start).min(self.depth());
        while left > 0 {
            let in_line = (line_slots - (index & self.mask) % line_slots).min(left);
            // Relaxed: `published`, acquired at or past `end`, carries the mark of every slot
            // below it; a newer mark is of a later slot (`mark_held`) and only widens the scan.
            let last = self.last_held(index).load(Ordering::Relaxed);
            // Signed: a mark behind `index` is from before these slots were filled (an earlier
            // lap, or the initial one); one far behind may read as ahead, which costs a scan.
            let ahead = last.wrapping_sub(index) as i32;
            if ahead >= 0 {
                self.empty(index, in_line.min(ahead as u32 + 1));
            }
            index = index.wrapping_add(in_line);
            left -= in_line;
        }
    }

    /// Empties the `count` slots from free-running `start` (at most one ring). Caller holds
    /// `retiring`.
    fn empty(&self, start: u32, count: u32) {
        for i in 0..count.min(self.depth()) {
            let slot = self.slot(start.wrapping_add(i));
            // SAFETY: the slot is below `published` (acquired by the caller) and at or past
            // `retired`, so it belongs to the holder of `retiring`, which the caller is; or the
            // caller is `discard`, called by the poster itself, which fills no slot meanwhile.
            let old = slot.with_mut(|p| unsafe { (!(*p).is_vacant()).then(|| std::mem::take(&mut *p)) });
            drop(old);
        }
    }
}

/// A slot being filled in place ([`SlotRing::fill_with`]): emptied on drop if filling failed
/// or panicked.
struct Filling<'a, T: SlotValue> {
    slot: &'a mut T,
    filled: bool,
}

impl<T: SlotValue> Drop for Filling<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if !self.filled {
            drop(std::mem::take(self.slot));
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn slots_come_back_only_as_far_as_the_device_consumed() {
        let ring = SlotRing::<Option<Arc<()>>>::new(4);
        let token = Arc::new(());
        for i in 0..4 {
            assert!(ring.is_free(i));
            // SAFETY: the one poster, for free slots in order.
            unsafe { ring.fill(i, Some(Arc::clone(&token))) };
        }
        ring.publish(4);
        assert!(!ring.is_free(4), "a full ring has no free slot");
        assert_eq!(ring.retire(|| 3), 3);
        assert_eq!(Arc::strong_count(&token), 2, "exactly the three consumed slots let go");
        assert!(ring.is_free(6) && !ring.is_free(7), "three slots came back");
        // A consumer index outside [retired, published] (a reset in flight) retires nothing.
        assert_eq!(ring.retire(|| 9), 3);
        assert_eq!(ring.retire(|| 1), 3);
        // A slot filled but never published (a forgotten batch) is emptied by `discard`.
        // SAFETY: the one poster, for a free slot at the published count.
        unsafe { ring.fill(4, Some(Arc::clone(&token))) };
        assert_eq!(Arc::strong_count(&token), 3);
        ring.discard(0);
        assert_eq!(Arc::strong_count(&token), 1);
        assert!(ring.is_free(0) && ring.is_free(3) && !ring.is_free(4));
    }

    /// Batches as the QP posts them: the first WQE of a batch takes a hold, each later one
    /// takes it from the WQE before (`fill_with` and `with_staged`), every slot is sealed once
    /// final; some batches are all NOPs, which hold nothing. Over many laps of the ring, a
    /// retire lets go of exactly the holds of the batches whose last WQE was consumed.
    #[test]
    fn holds_moved_along_a_batch_are_let_go_from_its_last_slot() {
        let ring = SlotRing::<Option<Arc<()>>>::new(8);
        // (index of the batch's last WQE, its hold)
        let mut live: Vec<(u32, Arc<()>)> = Vec::new();
        let mut next = 0u32;
        for batch in 0..300u32 {
            // 1 to 6 WQEs (with the 2 the device is behind, at most the ring), starting
            // anywhere in a slot line.
            let len = batch % 6 + 1;
            let hold = (batch % 5 != 0).then(|| Arc::new(()));
            for ahead in 0..len {
                let index = next + ahead;
                assert!(ring.is_free(index));
                // SAFETY: the one poster, for free slots past the published count, in order;
                // the slot before is staged and reached only here, then sealed.
                unsafe {
                    ring.fill_with(index, |slot| -> Result<(), ()> {
                        *slot = match ahead {
                            0 => hold.clone(),
                            _ => ring.with_staged(index - 1, Option::take),
                        };
                        Ok(())
                    })
                    .unwrap();
                    if ahead > 0 {
                        ring.seal(index - 1);
                    }
                }
            }
            next += len;
            // SAFETY: as above, for the batch's last WQE.
            unsafe { ring.seal(next - 1) };
            ring.publish(next);
            live.extend(hold.map(|hold| (next - 1, hold)));
            // The device is two WQEs behind.
            let consumed = next.saturating_sub(2).max(ring.retired.load(Ordering::Relaxed));
            assert_eq!(ring.retire(|| consumed), consumed);
            for (last, hold) in &live {
                assert_eq!(Arc::strong_count(hold) == 1, *last < consumed, "batch ending at {last}, consumed {consumed}");
            }
            live.retain(|(_, hold)| Arc::strong_count(hold) > 1);
        }
        ring.discard(0);
        assert!(live.iter().all(|(_, hold)| Arc::strong_count(hold) == 1), "discard lets go of the rest");
    }

    /// A failed fill leaves the slot vacant: what it held is let go.
    #[test]
    fn a_failed_fill_lets_go_of_what_it_held() {
        let ring = SlotRing::<Option<Arc<()>>>::new(4);
        let token = Arc::new(());
        // SAFETY: the one poster, for a free slot at the published count.
        let failed = unsafe {
            ring.fill_with(0, |slot| {
                *slot = Some(Arc::clone(&token));
                Err(())
            })
        };
        assert!(failed.is_err());
        assert_eq!(Arc::strong_count(&token), 1);
    }

    /// The protocol with real threads (the loom model explores it exhaustively; this runs
    /// under Miri, which checks the accesses themselves).
    #[test]
    fn a_poster_and_a_retirer_on_two_threads_share_nothing() {
        const WQES: u32 = if cfg!(miri) { 40 } else { 20_000 };
        let ring = SlotRing::<Option<Arc<u32>>>::new(8);
        let consumed = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..WQES {
                    while !ring.is_free(i) {
                        ring.retire(|| consumed.load(Ordering::Acquire));
                        std::thread::yield_now();
                    }
                    // SAFETY: the one poster, for a free slot at the published count.
                    unsafe { ring.fill(i, Some(Arc::new(i))) };
                    ring.publish(i + 1);
                    // Stands in for the device: done with it at once.
                    consumed.store(i + 1, Ordering::Release);
                }
            });
            while ring.retire(|| consumed.load(Ordering::Acquire)) != WQES {
                std::thread::yield_now();
            }
        });
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Stands for the regions WQE `index` holds: counts its drop, which must come after the
    /// device consumed the WQE.
    #[derive(Debug, Default)]
    struct Held(Option<(u32, Arc<AtomicU32>, Arc<AtomicU32>)>);

    impl SlotValue for Held {
        fn is_vacant(&self) -> bool {
            self.0.is_none()
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            if let Some((index, consumed, dropped)) = &self.0 {
                assert!(consumed.load(Ordering::Acquire) > *index, "let go before the device finished");
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// What a model's threads share: a two-slot ring, the device's consumer index, the
    /// doorbell, and how many holds were dropped.
    #[derive(Clone)]
    struct Shared {
        ring: Arc<SlotRing<Held>>,
        consumed: Arc<AtomicU32>,
        doorbell: Arc<AtomicU32>,
        dropped: Arc<AtomicU32>,
    }

    impl Shared {
        /// The hold of WQE `index`.
        fn held(&self, index: u32) -> Held {
            Held(Some((index, Arc::clone(&self.consumed), Arc::clone(&self.dropped))))
        }

        /// Publishes the WQEs below `upto` and rings the doorbell.
        fn publish(&self, upto: u32) {
            self.ring.publish(upto);
            self.doorbell.store(upto, Ordering::Release);
        }

        /// Retires until slot `index` is free, as the poster does when its ring looks full.
        fn wait_free(&self, index: u32) {
            while !self.ring.is_free(index) {
                self.ring.retire(|| self.consumed.load(Ordering::Acquire));
                loom::thread::yield_now();
            }
        }
    }

    /// Runs `poster` (posting `wqes` WQEs) against a device that consumes them in order and a
    /// poller retiring at any moment: no slot is touched by two threads at once (loom's cell
    /// checks), a poller that saw the device consume WQEs gets their slots emptied before its
    /// retire returns, even while the poster is retiring too, and in the end everything
    /// retires with exactly `holds` holds dropped, each after the device consumed its WQE.
    fn check(wqes: u32, holds: u32, poster: fn(&Shared)) {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(3);
        model.check(move || {
            let shared = Shared {
                ring: Arc::new(SlotRing::new(2)),
                consumed: Arc::new(AtomicU32::new(0)),
                doorbell: Arc::new(AtomicU32::new(0)),
                dropped: Arc::new(AtomicU32::new(0)),
            };
            let device = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    for i in 0..wqes {
                        while shared.doorbell.load(Ordering::Acquire) <= i {
                            loom::thread::yield_now();
                        }
                        shared.consumed.store(i + 1, Ordering::Release);
                    }
                })
            };
            let posting = {
                let shared = shared.clone();
                loom::thread::spawn(move || poster(&shared))
            };
            let consumed = || shared.consumed.load(Ordering::Acquire);
            let seen = consumed();
            assert!(shared.ring.retire(consumed) >= seen, "retire returned before covering what the caller saw");
            posting.join().unwrap();
            device.join().unwrap();
            assert_eq!(shared.ring.retire(consumed), wqes);
            assert_eq!(shared.dropped.load(Ordering::Relaxed), holds, "a hold was dropped twice or never");
        });
    }

    /// A poster reusing the two-slot ring, one WQE at a time, each holding something.
    #[test]
    fn poster_device_and_retirer_never_share_a_slot() {
        check(3, 3, |shared| {
            for i in 0..3 {
                shared.wait_free(i);
                // SAFETY: the one poster, filling index i after is_free(i).
                unsafe { shared.ring.fill(i, shared.held(i)) };
                shared.publish(i + 1);
            }
        });
    }

    /// WQEs 0 and 1 posted as one batch whose second WQE takes the first's hold (`fill_with`,
    /// `with_staged`, `seal`), so slot 0 is published vacant and skipped by its line's mark,
    /// then WQE 2 in slot 0 again: the marks lead every retirer to every hold, whichever lap
    /// it reads them in.
    #[test]
    fn holds_moved_along_a_batch_are_found_by_the_marks() {
        check(3, 2, |shared| {
            let ring = &shared.ring;
            // SAFETY: the one poster, filling free slots 0 and 1 of a fresh ring in order;
            // slot 0 is staged while slot 1 takes from it, then sealed.
            unsafe {
                ring.fill_with(0, |slot| -> Result<(), ()> {
                    *slot = shared.held(0);
                    Ok(())
                })
                .unwrap();
                ring.fill_with(1, |slot| -> Result<(), ()> {
                    *slot = ring.with_staged(0, std::mem::take);
                    Ok(())
                })
                .unwrap();
                ring.seal(0);
                ring.seal(1);
            }
            shared.publish(2);
            shared.wait_free(2);
            // SAFETY: the one poster, filling index 2 after is_free(2).
            unsafe {
                ring.fill_with(2, |slot| -> Result<(), ()> {
                    *slot = shared.held(2);
                    Ok(())
                })
                .unwrap();
                ring.seal(2);
            }
            shared.publish(3);
        });
    }
}
