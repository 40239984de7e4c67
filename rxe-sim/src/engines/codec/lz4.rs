//! LZ4 frames and blocks through liblz4 (lz4-sys), the reference implementation: levels 0–2
//! are its fast mode, 3–12 its HC mode, as the `lz4` tool's `-1`…`-12`.

use std::os::raw::{c_char, c_int};
use std::ptr;

use lz4_sys::{
    BlockChecksum, BlockMode, BlockSize, ContentChecksum, FrameType, LZ4FCompressionContext, LZ4FDecompressionContext,
    LZ4FFrameInfo, LZ4FPreferences, LZ4F_compressBegin, LZ4F_compressBound, LZ4F_compressEnd, LZ4F_compressUpdate,
    LZ4F_createCompressionContext, LZ4F_createDecompressionContext, LZ4F_decompress, LZ4F_flush, LZ4F_freeCompressionContext,
    LZ4F_freeDecompressionContext, LZ4F_isError, LZ4F_resetDecompressionContext, LZ4_compress_HC, LZ4_compress_fast,
    LZ4_decompress_safe,
};

use super::{Codec, Corrupt, Feed, Step};

/// `LZ4F_VERSION`: the frame API revision the contexts are made for.
const LZ4F_API_VERSION: u32 = 100;
/// Input taken per `LZ4F_compressUpdate`: the frame's block size, so the staging buffer that
/// holds one update's worst case stays small.
const UPDATE_INPUT: usize = 64 * 1024;
/// `LZ4F_HEADER_SIZE_MAX`.
const HEADER_MAX: usize = 19;
/// First HC level; below it the fast compressor runs.
const FIRST_HC_LEVEL: i8 = 3;

fn preferences(level: i8) -> LZ4FPreferences {
    LZ4FPreferences {
        frame_info: LZ4FFrameInfo {
            block_size_id: BlockSize::Max64KB,
            block_mode: BlockMode::Linked,
            content_checksum_flag: ContentChecksum::ChecksumEnabled,
            frame_type: FrameType::Frame,
            content_size: 0,
            dict_id: 0,
            block_checksum_flag: BlockChecksum::NoBlockChecksum,
        },
        compression_level: level.max(0) as u32,
        auto_flush: 0,
        favor_dec_speed: 0,
        reserved: [0; 3],
    }
}

/// A liblz4 size result: `Err` for its error codes.
fn checked(code: usize) -> Result<usize, Corrupt> {
    // SAFETY: a pure function of its argument.
    if unsafe { LZ4F_isError(code) } != 0 {
        Err(Corrupt)
    } else {
        Ok(code)
    }
}

/// LZ4 frame compression. liblz4 writes an update only into room for its worst case, so
/// output goes through `staged` and drains into the caller's buffers from there; what did not
/// fit waits for the next step (so a stream loses nothing to a full destination).
pub struct Lz4FrameEncoder {
    ctx: LZ4FCompressionContext,
    level: i8,
    staged: Vec<u8>,
    drained: usize,
    phase: EncoderPhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EncoderPhase {
    /// No header written yet.
    Fresh,
    Running,
    /// Running, and a flush was written with no input since.
    Flushed,
    /// The end mark and checksum are staged.
    Ending,
}

// SAFETY: the context is used only through `&mut self`; liblz4 contexts have no thread affinity.
unsafe impl Send for Lz4FrameEncoder {}

impl Lz4FrameEncoder {
    pub fn new(level: i8) -> Self {
        let prefs = preferences(level);
        let mut ctx = LZ4FCompressionContext(ptr::null_mut());
        // SAFETY: `ctx` is a valid out-pointer; a failure leaves it null, which every later call
        // reports as an error rather than dereferencing (checked in `step`).
        unsafe { LZ4F_createCompressionContext(&mut ctx, LZ4F_API_VERSION) };
        // SAFETY: `prefs` is a valid preferences struct.
        let bound = unsafe { LZ4F_compressBound(UPDATE_INPUT, &prefs) };
        Self {
            ctx,
            level,
            staged: Vec::with_capacity(bound.max(HEADER_MAX) + HEADER_MAX),
            drained: 0,
            phase: EncoderPhase::Fresh,
        }
    }

    /// Copies staged bytes into `output`; the count copied.
    fn drain(&mut self, output: &mut [u8]) -> usize {
        let n = (self.staged.len() - self.drained).min(output.len());
        output[..n].copy_from_slice(&self.staged[self.drained..self.drained + n]);
        self.drained += n;
        if self.drained == self.staged.len() {
            self.staged.clear();
            self.drained = 0;
        }
        n
    }

    /// Runs one liblz4 call that writes into the (empty) staging buffer.
    fn stage(&mut self, call: impl FnOnce(LZ4FCompressionContext, *mut u8, usize) -> usize) -> Result<(), Corrupt> {
        debug_assert!(self.staged.is_empty());
        let room = self.staged.capacity();
        let written = checked(call(self.ctx, self.staged.as_mut_ptr(), room))?;
        // SAFETY: liblz4 initialized `written` (≤ `room`) bytes of the buffer.
        unsafe { self.staged.set_len(written.min(room)) };
        Ok(())
    }
}

impl Codec for Lz4FrameEncoder {
    fn step(&mut self, input: &[u8], output: &mut [u8], feed: Feed) -> Result<Step, Corrupt> {
        if self.ctx.0.is_null() {
            return Err(Corrupt);
        }
        let mut step = Step::default();
        loop {
            step.produced += self.drain(&mut output[step.produced..]);
            if !self.staged.is_empty() {
                return Ok(step);
            }
            let rest = &input[step.consumed..];
            // A local, not a field: `stage` borrows `self` mutably while liblz4 reads it.
            let prefs_local = preferences(self.level);
            let prefs: *const LZ4FPreferences = &prefs_local;
            match self.phase {
                EncoderPhase::Ending => {
                    step.ended = true;
                    return Ok(step);
                }
                EncoderPhase::Fresh => {
                    // SAFETY: `dst` has `room` writable bytes (≥ LZ4F_HEADER_SIZE_MAX).
                    self.stage(|ctx, dst, room| unsafe { LZ4F_compressBegin(ctx, dst, room, prefs) })?;
                    self.phase = EncoderPhase::Running;
                }
                _ if !rest.is_empty() => {
                    let take = rest.len().min(UPDATE_INPUT);
                    // SAFETY: `dst` has room for `LZ4F_compressBound(UPDATE_INPUT)` bytes (the
                    // staging buffer's capacity) and `take` ≤ UPDATE_INPUT bytes are readable.
                    self.stage(|ctx, dst, room| unsafe {
                        LZ4F_compressUpdate(ctx, dst, room, rest.as_ptr(), take, ptr::null())
                    })?;
                    step.consumed += take;
                    self.phase = EncoderPhase::Running;
                }
                EncoderPhase::Running if feed == Feed::Flush => {
                    // SAFETY: as for an update (a flush writes at most the buffered block).
                    self.stage(|ctx, dst, room| unsafe { LZ4F_flush(ctx, dst, room, ptr::null()) })?;
                    self.phase = EncoderPhase::Flushed;
                }
                _ if feed == Feed::Finish => {
                    // SAFETY: as for an update (the end writes the buffered block and trailer).
                    self.stage(|ctx, dst, room| unsafe { LZ4F_compressEnd(ctx, dst, room, ptr::null()) })?;
                    self.phase = EncoderPhase::Ending;
                }
                _ => return Ok(step),
            }
        }
    }

    fn reset(&mut self) {
        // `LZ4F_compressBegin` restarts the context; staged bytes of the old stream are dropped.
        self.staged.clear();
        self.drained = 0;
        self.phase = EncoderPhase::Fresh;
    }
}

impl Drop for Lz4FrameEncoder {
    fn drop(&mut self) {
        if !self.ctx.0.is_null() {
            // SAFETY: the context was created by liblz4 and is freed once.
            unsafe { LZ4F_freeCompressionContext(self.ctx) };
        }
    }
}

/// LZ4 frame decompression, one frame at a time.
pub struct Lz4FrameDecoder {
    ctx: LZ4FDecompressionContext,
}

// SAFETY: as for the encoder.
unsafe impl Send for Lz4FrameDecoder {}

impl Lz4FrameDecoder {
    pub fn new() -> Self {
        let mut ctx = LZ4FDecompressionContext(ptr::null_mut());
        // SAFETY: as for the encoder's context.
        unsafe { LZ4F_createDecompressionContext(&mut ctx, LZ4F_API_VERSION) };
        Self { ctx }
    }
}

impl Codec for Lz4FrameDecoder {
    fn step(&mut self, input: &[u8], output: &mut [u8], _feed: Feed) -> Result<Step, Corrupt> {
        if self.ctx.0.is_null() {
            return Err(Corrupt);
        }
        let (mut src_len, mut dst_len) = (input.len(), output.len());
        // SAFETY: both buffers are valid for the lengths passed; liblz4 writes back how much
        // of each it used.
        let hint =
            unsafe { LZ4F_decompress(self.ctx, output.as_mut_ptr(), &mut dst_len, input.as_ptr(), &mut src_len, ptr::null()) };
        let hint = checked(hint)?;
        Ok(Step { consumed: src_len, produced: dst_len, ended: hint == 0 })
    }

    fn reset(&mut self) {
        if !self.ctx.0.is_null() {
            // SAFETY: a live context.
            unsafe { LZ4F_resetDecompressionContext(self.ctx) };
        }
    }
}

impl Drop for Lz4FrameDecoder {
    fn drop(&mut self) {
        if !self.ctx.0.is_null() {
            // SAFETY: created by liblz4, freed once.
            unsafe { LZ4F_freeDecompressionContext(self.ctx) };
        }
    }
}

/// A one-shot LZ4 block failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// The block does not fit the output.
    NoFit,
    /// The input is not an LZ4 block.
    Corrupt,
    /// An input beyond what liblz4's `int` sizes take.
    TooLong,
}

fn c_len(len: usize) -> Result<c_int, BlockError> {
    c_int::try_from(len).map_err(|_| BlockError::TooLong)
}

/// Compresses `input` as one LZ4 block into `output`; the bytes written.
pub fn lz4_block_compress(input: &[u8], output: &mut [u8], level: i8) -> Result<usize, BlockError> {
    let (src, dst) = (input.as_ptr().cast::<c_char>(), output.as_mut_ptr().cast::<c_char>());
    let src_len = c_len(input.len())?;
    let dst_len = c_len(output.len()).unwrap_or(c_int::MAX);
    // SAFETY: both buffers are valid for the lengths passed; liblz4 writes at most `dst_len`.
    let written = unsafe {
        if level < FIRST_HC_LEVEL {
            LZ4_compress_fast(src, dst, src_len, dst_len, 1)
        } else {
            LZ4_compress_HC(src, dst, src_len, dst_len, c_int::from(level))
        }
    };
    // An empty input makes a one-byte block; zero means it did not fit.
    if written <= 0 {
        return Err(BlockError::NoFit);
    }
    Ok(written as usize)
}

extern "C" {
    // In liblz4 (linked by lz4-sys), not bound by it: decodes until `target` bytes are out.
    fn LZ4_decompress_safe_partial(
        src: *const c_char,
        dst: *mut c_char,
        src_size: c_int,
        target: c_int,
        capacity: c_int,
    ) -> c_int;
}

/// Decodes as much of one LZ4 block as fits `output`; the bytes written (the whole output if
/// the block is longer), or `Corrupt` for an input that is not a block.
pub fn lz4_block_decompress_partial(input: &[u8], output: &mut [u8]) -> Result<usize, BlockError> {
    let (src_len, dst_len) = (c_len(input.len())?, c_len(output.len())?);
    // SAFETY: both buffers are valid for the lengths passed; liblz4 never reads or writes
    // outside them, whatever the input.
    let written =
        unsafe { LZ4_decompress_safe_partial(input.as_ptr().cast(), output.as_mut_ptr().cast(), src_len, dst_len, dst_len) };
    if written < 0 {
        return Err(BlockError::Corrupt);
    }
    Ok(written as usize)
}

/// Decompresses one LZ4 block into `output`; the bytes written.
pub fn lz4_block_decompress(input: &[u8], output: &mut [u8]) -> Result<usize, BlockError> {
    let src_len = c_len(input.len())?;
    let dst_len = c_len(output.len()).unwrap_or(c_int::MAX);
    // SAFETY: both buffers are valid for the lengths passed; `LZ4_decompress_safe` never reads
    // or writes outside them, whatever the input.
    let written = unsafe { LZ4_decompress_safe(input.as_ptr().cast(), output.as_mut_ptr().cast(), src_len, dst_len) };
    if written < 0 {
        return Err(BlockError::NoFit);
    }
    Ok(written as usize)
}
