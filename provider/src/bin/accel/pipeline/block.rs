//! LZ4 blocks: the format has no stream and no size field, so a block is one request over the
//! whole input, and decompression needs the decompressed size from the user.

use std::io::{Read, Write};

use accelverbs::{Access, Compress, CqeStatus, Decompress, Format, WorkCompletion};

use super::{check, read_limited, registration_failure, DataError, Failure, Pipeline, Progress, Totals};

/// Most bytes of plain data in one LZ4 block request: the whole input and the whole output are
/// registered with the device at once.
pub const BLOCK_LIMIT: usize = 64 << 20;

/// `LZ4_COMPRESSBOUND`: the largest block `len` bytes compress to.
fn compress_bound(len: usize) -> usize {
    len + len / 255 + 16
}

impl Pipeline {
    pub(super) fn block_compress(
        &mut self,
        level: i8,
        input: &mut dyn Read,
        output: &mut dyn Write,
        progress: &dyn Progress,
    ) -> Result<Totals, Failure> {
        let data = read_limited(input, BLOCK_LIMIT, DataError::BlockTooLarge)?;
        let len = data.len();
        let room = compress_bound(len);
        let too_small = Failure::Device(format!("internal error: an LZ4 block outgrew its bound of {room} bytes"));
        self.one_shot(Some(level), data, room, too_small, progress, output)
    }

    pub(super) fn block_decompress(
        &mut self,
        size: Option<u64>,
        input: &mut dyn Read,
        output: &mut dyn Write,
        progress: &dyn Progress,
    ) -> Result<Totals, Failure> {
        let size = size.ok_or(Failure::Data(DataError::BlockNeedsSize))?;
        if size > BLOCK_LIMIT as u64 {
            return Err(Failure::Data(DataError::BlockSizeTooLarge { size }));
        }
        let data = read_limited(input, compress_bound(BLOCK_LIMIT), DataError::BlockTooLarge)?;
        let too_small = Failure::Data(DataError::BlockLargerThanSize { size });
        self.one_shot(None, data, size as usize, too_small, progress, output)
    }

    /// Posts one request over all of `data` into `room` bytes (compression at `level`, or
    /// decompression) and writes what it produced; `too_small` is the failure an output too
    /// small means.
    fn one_shot(
        &mut self,
        level: Option<i8>,
        data: Vec<u8>,
        room: usize,
        too_small: Failure,
        progress: &dyn Progress,
        output: &mut dyn Write,
    ) -> Result<Totals, Failure> {
        let len = data.len();
        // Regions of at least a byte; a request names only `len` and `room` of them.
        let src = self
            .pd
            .reg_mr(if data.is_empty() { vec![0] } else { data }, Access::empty())
            .map_err(|e| registration_failure(len, e))?;
        let mut dst = self.alloc(room.max(1), Access::LOCAL_WRITE)?;
        let (input, output_room) = (src.slice(0, len as u32), dst.slice_mut(0, room as u32));
        match level {
            Some(level) => self.post(Compress::new(0, Format::Lz4Block, input, output_room).level(level))?,
            None => self.post(Decompress::new(0, Format::Lz4Block, input, output_room))?,
        }
        let mut wc = [WorkCompletion::default(); 1];
        self.wait(&mut wc)?;
        check(&wc[0])?;
        if wc[0].status == CqeStatus::OutputTooSmall {
            return Err(too_small);
        }
        let produced = &dst.as_slice()?[..wc[0].byte_len as usize];
        output.write_all(produced).map_err(Failure::Write)?;
        progress.advance(len as u64);
        Ok(Totals { read: len as u64, written: produced.len() as u64, ..Totals::default() })
    }
}
