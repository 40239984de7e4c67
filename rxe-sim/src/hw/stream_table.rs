//! The device's compression contexts: number → stream state. A WQE naming a stream resolves it
//! here (unknown, stale and other-PD numbers are refused like bad keys); the state itself is
//! behind a lock that serializes the stream's requests, whichever engine runs them.

use std::sync::{Arc, Mutex};

use accelverbs_kernel_abi::{CompStreamSetup, Errno};
use accelverbs_uapi::compress::{Format, StreamDirection};
use accelverbs_uapi::cqe::VendorError;

use super::key_slots::KeySlots;
use crate::engines::compression::StreamState;

/// One compression context.
#[derive(Debug)]
pub struct SoftStream {
    pub pdn: u32,
    pub format: Format,
    pub direction: StreamDirection,
    /// Held while a request runs on the stream.
    pub state: Mutex<StreamState>,
}

/// The table.
#[derive(Debug)]
pub struct StreamTable {
    inner: Mutex<KeySlots<Arc<SoftStream>>>,
}

impl StreamTable {
    pub fn new(max: u32) -> Self {
        Self { inner: Mutex::new(KeySlots::new(max)) }
    }

    pub fn create(&self, setup: CompStreamSetup) -> Result<u32, Errno> {
        // Built outside the lock: codec state allocates.
        let state = StreamState::new(setup.format, setup.direction, setup.level).ok_or(Errno::EINVAL)?;
        let stream =
            Arc::new(SoftStream { pdn: setup.pdn, format: setup.format, direction: setup.direction, state: Mutex::new(state) });
        self.lock().insert(|_| stream)
    }

    /// The stream `number` names, for a QP of PD `pdn`.
    pub fn resolve(&self, number: u32, pdn: u32) -> Result<Arc<SoftStream>, VendorError> {
        let stream = Arc::clone(self.lock().get(number).map_err(|_| VendorError::StreamUnknown)?);
        if stream.pdn != pdn {
            return Err(VendorError::PdMismatch);
        }
        Ok(stream)
    }

    /// Whether a request is running on stream `number` now.
    pub fn running(&self, number: u32) -> bool {
        self.lock().get(number).is_ok_and(|s| s.state.try_lock().is_err())
    }

    /// The PD of stream `number`.
    pub fn pdn(&self, number: u32) -> Option<u32> {
        self.lock().get(number).ok().map(|s| s.pdn)
    }

    /// Removes the stream; a request running on it finishes with the state it holds.
    pub fn destroy(&self, number: u32) {
        let removed = self.lock().remove(number);
        drop(removed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeySlots<Arc<SoftStream>>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
