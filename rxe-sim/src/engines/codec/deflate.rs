//! Deflate, zlib and gzip through flate2 over zlib-rs.

use accelverbs_uapi::compress::Format;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{Codec, Corrupt, Feed, Step};

/// zlib's largest window (32 KiB), what gzip and zlib streams from stock tools use.
const WINDOW_BITS: u8 = 15;

fn counted(before: (u64, u64), after: (u64, u64)) -> (usize, usize) {
    ((after.0 - before.0) as usize, (after.1 - before.1) as usize)
}

/// Deflate-family compression.
pub struct Deflater {
    stream: Compress,
}

impl Deflater {
    pub fn new(format: Format, level: i8) -> Self {
        let level = Compression::new(level.clamp(0, 9) as u32);
        let stream = match format {
            Format::Gzip => Compress::new_gzip(level, WINDOW_BITS),
            Format::Zlib => Compress::new(level, true),
            _ => Compress::new(level, false),
        };
        Self { stream }
    }
}

impl Codec for Deflater {
    fn step(&mut self, input: &[u8], output: &mut [u8], feed: Feed) -> Result<Step, Corrupt> {
        let flush = match feed {
            Feed::More => FlushCompress::None,
            Feed::Flush => FlushCompress::Sync,
            Feed::Finish => FlushCompress::Finish,
        };
        let before = (self.stream.total_in(), self.stream.total_out());
        // Compression fails only on misuse (a buffer error is "no progress", reported as such).
        let status = self.stream.compress(input, output, flush).map_err(|_| Corrupt)?;
        let (consumed, produced) = counted(before, (self.stream.total_in(), self.stream.total_out()));
        Ok(Step { consumed, produced, ended: status == Status::StreamEnd })
    }

    fn reset(&mut self) {
        self.stream.reset();
    }
}

/// Deflate-family decompression.
pub struct Inflater {
    stream: Decompress,
    zlib_header: bool,
}

impl Inflater {
    pub fn new(format: Format) -> Self {
        let (stream, zlib_header) = match format {
            Format::Gzip => (Decompress::new_gzip(WINDOW_BITS), true),
            Format::Zlib => (Decompress::new(true), true),
            _ => (Decompress::new(false), false),
        };
        Self { stream, zlib_header }
    }
}

impl Codec for Inflater {
    fn step(&mut self, input: &[u8], output: &mut [u8], _feed: Feed) -> Result<Step, Corrupt> {
        let before = (self.stream.total_in(), self.stream.total_out());
        let status = self.stream.decompress(input, output, FlushDecompress::None).map_err(|_| Corrupt)?;
        let (consumed, produced) = counted(before, (self.stream.total_in(), self.stream.total_out()));
        Ok(Step { consumed, produced, ended: status == Status::StreamEnd })
    }

    fn reset(&mut self) {
        // For a gzip stream, flate2 keeps the window bits (and the gzip wrapper) it was made
        // with; `zlib_header` only picks between zlib and raw for the others.
        self.stream.reset(self.zlib_header);
    }
}
