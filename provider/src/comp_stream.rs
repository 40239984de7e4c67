//! Compression contexts: a stream the device carries across work requests, so input and output
//! may be cut anywhere (a multi-gigabyte gzip file posted in chunks). Requests name one with
//! `Compress::in_stream` / `Decompress::in_stream`; each holds the context until it retires,
//! so dropping a [`CompressionStream`] with requests in flight destroys it only after them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use accelverbs_uapi::compress::{Format, StreamDirection};
use accelverbs_uapi::ids::{comp_stream, object};

use crate::context::ContextInner;
use crate::ioctl::Command;
use crate::pd::PdInner;
use crate::{Error, Pd};

#[derive(Debug)]
pub(crate) struct StreamInner {
    pd: Arc<PdInner>,
    handle: u32,
    pub number: u32,
    pub format: Format,
    pub direction: StreamDirection,
    /// Destroyed explicitly already (`CompressionStream::destroy`).
    destroyed: AtomicBool,
}

impl StreamInner {
    pub fn belongs_to(&self, ctx: &Arc<ContextInner>) -> bool {
        Arc::ptr_eq(&self.pd.ctx, ctx)
    }
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        if *self.destroyed.get_mut() {
            return;
        }
        let mut cmd = Command::new(object::COMP_STREAM, comp_stream::METHOD_DESTROY);
        cmd.handle(comp_stream::ATTR_HANDLE, self.handle);
        // The last holder is gone, requests included; a refusal leaves it to the context's
        // close, which destroys what is left.
        let _ = self.pd.ctx.call(&mut cmd);
    }
}

/// A compression context (stream) on the device.
#[derive(Debug)]
pub struct CompressionStream {
    pub(crate) inner: Arc<StreamInner>,
}

impl<B> Pd<B> {
    /// A stream that compresses to `format` at `level` (in `format.levels()`).
    pub fn compression_stream(&self, format: Format, level: i8) -> Result<CompressionStream, Error> {
        self.create_stream(format, StreamDirection::Compress, level)
    }

    /// A stream that decompresses `format`: any stream a stock tool wrote, in any chunks.
    pub fn decompression_stream(&self, format: Format) -> Result<CompressionStream, Error> {
        self.create_stream(format, StreamDirection::Decompress, 0)
    }

    fn create_stream(&self, format: Format, direction: StreamDirection, level: i8) -> Result<CompressionStream, Error> {
        let mut number = 0u32;
        let mut cmd = Command::new(object::COMP_STREAM, comp_stream::METHOD_CREATE);
        let h = cmd.new_object(comp_stream::ATTR_HANDLE);
        cmd.handle(comp_stream::ATTR_CREATE_PD_HANDLE, self.inner.handle)
            .input_u32(comp_stream::ATTR_CREATE_FORMAT, u32::from(format as u8))
            .input_u32(comp_stream::ATTR_CREATE_DIRECTION, direction as u32)
            .input_u32(comp_stream::ATTR_CREATE_LEVEL, i32::from(level) as u32)
            .output(comp_stream::ATTR_CREATE_RESP_NUMBER, &mut number);
        self.inner.ctx.run("create_comp_stream", &mut cmd)?;
        let handle = cmd.new_handle(h);
        Ok(CompressionStream {
            inner: Arc::new(StreamInner {
                pd: Arc::clone(&self.inner),
                handle,
                number,
                format,
                direction,
                destroyed: AtomicBool::new(false),
            }),
        })
    }
}

impl CompressionStream {
    pub fn format(&self) -> Format {
        self.inner.format
    }

    pub fn direction(&self) -> StreamDirection {
        self.inner.direction
    }

    /// The device number requests name it by.
    pub fn number(&self) -> u32 {
        self.inner.number
    }

    /// Destroys the context now, as the device sees fit: `EBUSY` while a posted request that
    /// names it has not run (dropping instead waits for those requests to retire).
    pub fn destroy(self) -> Result<(), Error> {
        self.try_destroy()
    }

    /// [`CompressionStream::destroy`] that keeps the stream when the device refuses (`EBUSY`),
    /// for bindings whose callers retry. Once it succeeded, requests naming the stream are
    /// refused by the device (`StreamUnknown`).
    pub fn try_destroy(&self) -> Result<(), Error> {
        let mut cmd = Command::new(object::COMP_STREAM, comp_stream::METHOD_DESTROY);
        cmd.handle(comp_stream::ATTR_HANDLE, self.inner.handle);
        self.inner.pd.ctx.run("destroy_comp_stream", &mut cmd)?;
        self.inner.destroyed.store(true, Ordering::Relaxed);
        Ok(())
    }
}
