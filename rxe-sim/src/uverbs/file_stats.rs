//! What one open file holds, readable by any other file without its lock: QUERY_FILES
//! (`accel devinfo --stats`) reports every client of a device this way.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use accelverbs_uapi::cmd::{FileStats, ResourceCounts};
use accelverbs_uapi::ids::object;

use crate::memory::UserSpace;

/// Live objects of one file, by kind, and the process behind it.
#[derive(Debug)]
pub struct FileCounters {
    user: Arc<dyn UserSpace>,
    contexts: AtomicU32,
    pds: AtomicU32,
    mrs: AtomicU32,
    cqs: AtomicU32,
    qps: AtomicU32,
    comp_channels: AtomicU32,
    comp_streams: AtomicU32,
    crypto_keys: AtomicU32,
}

impl FileCounters {
    pub fn new(user: Arc<dyn UserSpace>) -> Self {
        let zero = || AtomicU32::new(0);
        Self {
            user,
            contexts: zero(),
            pds: zero(),
            mrs: zero(),
            cqs: zero(),
            qps: zero(),
            comp_channels: zero(),
            comp_streams: zero(),
            crypto_keys: zero(),
        }
    }

    fn counter(&self, type_id: u16) -> Option<&AtomicU32> {
        Some(match type_id {
            object::PD => &self.pds,
            object::MR => &self.mrs,
            object::CQ => &self.cqs,
            object::QP => &self.qps,
            object::COMP_CHANNEL => &self.comp_channels,
            object::COMP_STREAM => &self.comp_streams,
            object::CRYPTO_KEY => &self.crypto_keys,
            _ => return None,
        })
    }

    pub fn created(&self, type_id: u16) {
        if let Some(c) = self.counter(type_id) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn destroyed(&self, type_id: u16) {
        if let Some(c) = self.counter(type_id) {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn context_opened(&self) {
        self.contexts.store(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> FileStats {
        let get = |c: &AtomicU32| c.load(Ordering::Relaxed);
        let credentials = self.user.credentials();
        let (pinned_bytes, memlock_limit) = self.user.locked_memory();
        FileStats {
            pid: credentials.pid,
            uid: credentials.uid,
            objects: ResourceCounts {
                contexts: get(&self.contexts),
                pds: get(&self.pds),
                mrs: get(&self.mrs),
                cqs: get(&self.cqs),
                qps: get(&self.qps),
                comp_channels: get(&self.comp_channels),
                comp_streams: get(&self.comp_streams),
                crypto_keys: get(&self.crypto_keys),
                pinned_bytes,
            },
            memlock_limit,
            shared_bytes: self.user.shared_bytes(),
        }
    }
}
