//! A table every request reads and only control operations write (MR registration, key
//! creation). A pass of an engine (or of an inline poster) reads it through one [`View`], taken
//! once for the pass: a request then resolves its keys with no lock and no reference-count
//! traffic. A writer waits for the views to reach the next WQE boundary, where a view that sees
//! a writer waiting lets it in; so once a writer holds the table, no request still uses what it
//! removes — the wait deregistration needs anyway.

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The table and how many writers wait for it.
#[derive(Debug)]
pub struct ReadMostly<T> {
    inner: RwLock<T>,
    writers_waiting: AtomicUsize,
}

/// A read of the table held across requests.
#[derive(Debug)]
pub struct View<'t, T> {
    table: &'t ReadMostly<T>,
    /// Always `Some` but inside `yield_to_writers`.
    guard: Option<RwLockReadGuard<'t, T>>,
}

impl<T> ReadMostly<T> {
    pub fn new(value: T) -> Self {
        Self { inner: RwLock::new(value), writers_waiting: AtomicUsize::new(0) }
    }

    /// A view for a pass.
    pub fn view(&self) -> View<'_, T> {
        View { table: self, guard: Some(self.read()) }
    }

    /// The table for a change, once every view has let go (each does at its next WQE).
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        // Relaxed: the count only asks views to yield sooner; the lock itself orders the data.
        self.writers_waiting.fetch_add(1, Ordering::Relaxed);
        let guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.writers_waiting.fetch_sub(1, Ordering::Relaxed);
        guard
    }

    fn read(&self) -> RwLockReadGuard<'_, T> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> View<'_, T> {
    /// Between requests: if a writer waits, lets it in and reads the table again after it
    /// (std's lock holds new readers back while a writer waits). One relaxed load otherwise.
    /// `&mut self`: nothing borrowed from the view may live across this.
    pub fn yield_to_writers(&mut self) {
        if self.table.writers_waiting.load(Ordering::Relaxed) != 0 {
            self.guard = None;
            self.guard = Some(self.table.read());
        }
    }
}

impl<T> Deref for View<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.guard.as_deref().expect("a view holds its guard outside yield_to_writers")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_gets_in_at_the_next_yield_and_the_view_sees_its_change() {
        let table = ReadMostly::new(1);
        let mut view = table.view();
        std::thread::scope(|s| {
            let writer = s.spawn(|| *table.write() = 2);
            // The writer blocks on the view; the view yields once it sees the writer waiting.
            while !writer.is_finished() {
                view.yield_to_writers();
                std::thread::yield_now();
            }
        });
        view.yield_to_writers();
        assert_eq!(*view, 2);
    }
}
