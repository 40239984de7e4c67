//! The codecs behind COMPRESS and DECOMPRESS: one streaming interface over the libraries (for the
//! deflate family ISA-L's igzip at levels 1 and 2 and zlib-rs through flate2 otherwise, libzstd,
//! liblz4), so the device walks scattered buffers and carries a stream across requests the same
//! way for every format.
//!
//! Codecs are reused, never built per request: one-shot requests borrow them from a per-thread
//! cache (an engine thread or the application's thread running inline), and a compression
//! context owns its own.

mod deflate;
mod isal;
#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    missing_debug_implementations,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]
mod isal_sys;
mod lz4;
mod zstd;

use std::cell::RefCell;

use accelverbs_uapi::compress::Format;

pub use lz4::{lz4_block_compress, lz4_block_decompress, lz4_block_decompress_partial, BlockError};

/// Whether more input follows the input a compression step is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// More input will come: emit what is convenient.
    More,
    /// Make everything given so far decodable from the output.
    Flush,
    /// This is the end of the stream: emit the trailer.
    Finish,
}

/// Which way data goes through a codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Compress,
    Decompress,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Step {
    pub consumed: usize,
    pub produced: usize,
    /// The stream is complete: the trailer was written (compression) or read (decompression).
    pub ended: bool,
}

/// The input is not valid data of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// A stream of one format in one direction.
pub trait Codec: Send {
    /// Runs the codec over `input` into `output`, consuming and producing as much as it can.
    /// `feed` matters only to compression.
    fn step(&mut self, input: &[u8], output: &mut [u8], feed: Feed) -> Result<Step, Corrupt>;
    /// Starts a new stream with the same settings (after an end, an error, or for reuse).
    fn reset(&mut self);
    /// Compression: the whole stream is `total` bytes (a one-shot request), so the codec can
    /// size its tables to it instead of to the level's largest window.
    fn expect_total(&mut self, _total: u64) {}
}

/// The deflate-family levels compressed by ISA-L: at 1 and 2 it is faster than zlib-rs and
/// compresses as small as zlib-rs's level 2; above, zlib-rs compresses smaller.
const ISAL_LEVELS: std::ops::RangeInclusive<i8> = 1..=2;

/// A codec for `format` at `level` (compression only; already checked against
/// `Format::levels`). `None` for LZ4 blocks, which have no stream.
pub fn new_codec(format: Format, direction: Direction, level: i8) -> Option<Box<dyn Codec>> {
    Some(match (format, direction) {
        (Format::Deflate | Format::Zlib | Format::Gzip, Direction::Compress) if ISAL_LEVELS.contains(&level) => {
            Box::new(isal::IsalDeflater::new(format, level))
        }
        (Format::Deflate | Format::Zlib | Format::Gzip, Direction::Compress) => Box::new(deflate::Deflater::new(format, level)),
        (Format::Deflate | Format::Zlib | Format::Gzip, Direction::Decompress) => Box::new(deflate::Inflater::new(format)),
        (Format::Zstd, Direction::Compress) => Box::new(zstd::ZstdEncoder::new(level)),
        (Format::Zstd, Direction::Decompress) => Box::new(zstd::ZstdDecoder::new()),
        (Format::Lz4Frame, Direction::Compress) => Box::new(lz4::Lz4FrameEncoder::new(level)),
        (Format::Lz4Frame, Direction::Decompress) => Box::new(lz4::Lz4FrameDecoder::new()),
        (Format::Lz4Block, _) => return None,
    })
}

/// Codecs kept per thread for one-shot requests, most recently used first.
const CACHED_CODECS: usize = 8;

type CacheKey = (Format, Direction, i8);

thread_local! {
    static CODECS: RefCell<Vec<(CacheKey, Box<dyn Codec>)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a fresh-stream codec of this thread's cache (built on first use); `None` for
/// a format without streams.
pub fn with_cached<R>(format: Format, direction: Direction, level: i8, f: impl FnOnce(&mut dyn Codec) -> R) -> Option<R> {
    let key = (format, direction, level);
    let taken = CODECS.with(|c| {
        let mut cache = c.borrow_mut();
        let at = cache.iter().position(|(k, _)| *k == key)?;
        Some(cache.remove(at).1)
    });
    let mut codec = match taken {
        Some(codec) => codec,
        None => new_codec(format, direction, level)?,
    };
    let result = f(codec.as_mut());
    codec.reset();
    // Put back, not held across `f`: a nested use on this thread finds the cache usable.
    CODECS.with(|c| {
        let mut cache = c.borrow_mut();
        cache.insert(0, (key, codec));
        cache.truncate(CACHED_CODECS);
    });
    Some(result)
}
