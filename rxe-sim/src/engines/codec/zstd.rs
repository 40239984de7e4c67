//! Zstandard through libzstd (zstd-safe).

use zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd_safe::{CCtx, CParameter, DCtx, InBuffer, OutBuffer, ResetDirective};

use super::{Codec, Corrupt, Feed, Step};

/// Zstandard compression, frames with a content checksum (as the `zstd` tool writes them).
pub struct ZstdEncoder {
    cctx: CCtx<'static>,
    level: i8,
}

impl ZstdEncoder {
    pub fn new(level: i8) -> Self {
        let mut encoder = Self { cctx: CCtx::create(), level };
        encoder.reset();
        encoder
    }
}

impl Codec for ZstdEncoder {
    fn step(&mut self, input: &[u8], output: &mut [u8], feed: Feed) -> Result<Step, Corrupt> {
        let directive = match feed {
            Feed::More => ZSTD_EndDirective::ZSTD_e_continue,
            Feed::Flush => ZSTD_EndDirective::ZSTD_e_flush,
            Feed::Finish => ZSTD_EndDirective::ZSTD_e_end,
        };
        let mut src = InBuffer::around(input);
        let mut dst = OutBuffer::around(output);
        let left = self.cctx.compress_stream2(&mut dst, &mut src, directive).map_err(|_| Corrupt)?;
        let ended = feed == Feed::Finish && left == 0 && src.pos == input.len();
        Ok(Step { consumed: src.pos, produced: dst.pos(), ended })
    }

    fn expect_total(&mut self, total: u64) {
        // Without it, a gathered input (first step not the last) sizes the tables for an
        // unknown, unbounded source.
        let _ = self.cctx.set_pledged_src_size(Some(total));
    }

    fn reset(&mut self) {
        // Parameters are valid by construction (level checked against `Format::levels`); a
        // failure here would surface as an error on the next step.
        let _ = self.cctx.reset(ResetDirective::SessionAndParameters);
        let _ = self.cctx.set_parameter(CParameter::CompressionLevel(i32::from(self.level)));
        let _ = self.cctx.set_parameter(CParameter::ChecksumFlag(true));
    }
}

/// Zstandard decompression of one frame at a time.
pub struct ZstdDecoder {
    dctx: DCtx<'static>,
}

impl ZstdDecoder {
    pub fn new() -> Self {
        Self { dctx: DCtx::create() }
    }
}

impl Codec for ZstdDecoder {
    fn step(&mut self, input: &[u8], output: &mut [u8], _feed: Feed) -> Result<Step, Corrupt> {
        let mut src = InBuffer::around(input);
        let mut dst = OutBuffer::around(output);
        let hint = self.dctx.decompress_stream(&mut dst, &mut src).map_err(|_| Corrupt)?;
        Ok(Step { consumed: src.pos, produced: dst.pos(), ended: hint == 0 })
    }

    fn reset(&mut self) {
        let _ = self.dctx.reset(ResetDirective::SessionOnly);
    }
}
