//! Compression contexts: the state of one compression or decompression stream across work
//! requests, held by the device and named in WQEs by a device number. Scoped to a PD (a QP
//! of another PD naming it gets a protection error), counted against the device's limit,
//! destroyed with its ucontext.

use alloc::sync::Arc;

use accelverbs_uapi::compress::{Format, StreamDirection};

use crate::objects::Pd;
use crate::{CompStreamSetup, Errno, Hardware, ResourceGuard};

/// A compression context (stream).
pub struct CompStream<H: Hardware> {
    pd: Arc<Pd<H>>,
    number: u32,
    _count: ResourceGuard,
}

impl<H: Hardware> core::fmt::Debug for CompStream<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CompStream").field("number", &self.number).finish_non_exhaustive()
    }
}

impl<H: Hardware> Pd<H> {
    /// CREATE of a compression context: `format` at `level` (its `Format::levels`; zero for
    /// decompression). LZ4 blocks have no stream: `EINVAL`, as for any value out of range.
    pub fn create_comp_stream(self: &Arc<Self>, format: u32, direction: u32, level: u32) -> Result<Arc<CompStream<H>>, Errno> {
        let driver = &self.ctx.driver;
        let format = u8::try_from(format).ok().and_then(|f| Format::try_from(f).ok()).ok_or(Errno::EINVAL)?;
        let direction = StreamDirection::try_from(direction).map_err(|_| Errno::EINVAL)?;
        // The level travels as an i8 in the low byte of a u32; anything above it is garbage.
        let level = i8::try_from(level as i32).map_err(|_| Errno::EINVAL)?;
        let level_ok = match direction {
            StreamDirection::Compress => format.levels().contains(&level),
            StreamDirection::Decompress => level == 0,
        };
        if !format.streams() || !level_ok {
            return Err(Errno::EINVAL);
        }
        let count = driver.counters.comp_streams.acquire()?;
        let number =
            driver.hw.create_comp_stream(CompStreamSetup { pdn: self.pdn, ctx_id: self.ctx.id, format, direction, level })?;
        self.usecnt.inc();
        Ok(Arc::new(CompStream { pd: Arc::clone(self), number, _count: count }))
    }
}

impl<H: Hardware> CompStream<H> {
    /// The device number WQEs name it by.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// DESTROY precondition: `EBUSY` while a posted work request names the stream or one is
    /// running on it.
    pub fn check_destroy(&self) -> Result<(), Errno> {
        if self.pd.ctx.driver.hw.comp_stream_busy(self.number) {
            return Err(Errno::EBUSY);
        }
        Ok(())
    }
}

impl<H: Hardware> Drop for CompStream<H> {
    fn drop(&mut self) {
        self.pd.ctx.driver.hw.destroy_comp_stream(self.number);
        self.pd.usecnt.dec();
    }
}
