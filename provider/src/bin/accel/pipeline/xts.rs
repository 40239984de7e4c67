//! AES-XTS, as storage encrypts sectors: the input is a whole number of data units, the first
//! under the starting tweak and each next one under the next number (IEEE 1619). Any size
//! goes, in pieces of whole units encrypted in place, each request starting at the tweak of
//! its first unit: the output is the same as one request over everything would give.

use std::io::{Read, Write};

use accelverbs::{Access, CryptoKey, Decrypt, Encrypt, MemoryRegion, WorkCompletion};

use super::pieces::Pieces;
use super::{DataError, Direction, Failure, Pipeline, Totals};

/// Bytes of input per request, rounded down to whole data units.
const PIECE: usize = 1 << 20;
/// The largest data unit: one piece (two are registered at once, and storage uses 512 or
/// 4096 bytes).
pub const MAX_DATA_UNIT: u32 = PIECE as u32;
/// The smallest data unit: one AES block.
pub const MIN_DATA_UNIT: u32 = accelverbs::uapi::crypto::XTS_MIN_DATA_UNIT as u32;

/// What an AES-XTS run takes besides the data.
#[derive(Debug)]
pub struct XtsRequest<'a> {
    /// An AES-128-XTS or AES-256-XTS key.
    pub key: &'a CryptoKey,
    /// The first data unit's tweak (a sector number, say).
    pub tweak: u128,
    /// Bytes per data unit, `MIN_DATA_UNIT..=MAX_DATA_UNIT` (checked by the caller).
    pub data_unit: u32,
}

/// The state of one run between pieces.
struct Xts<'a, 'w> {
    direction: Direction,
    request: &'a XtsRequest<'a>,
    /// The tweak of the next piece's first unit.
    tweak: u128,
    output: &'w mut dyn Write,
    written: u64,
}

impl Pieces for Xts<'_, '_> {
    fn post(&mut self, pipeline: &mut Pipeline, buffer: &mut MemoryRegion, len: u32, before: u64) -> Result<(), Failure> {
        let unit = self.request.data_unit;
        if !len.is_multiple_of(unit) {
            // Only the last piece can be short, so the input ends here.
            return Err(Failure::Data(DataError::PartialDataUnit { size: before + u64::from(len), unit }));
        }
        let (key, tweak) = (self.request.key, self.tweak);
        match self.direction {
            Direction::Encrypt => pipeline.post(Encrypt::xts_in_place(0, key, tweak, unit, buffer.slice_mut(0, len)))?,
            Direction::Decrypt => pipeline.post(Decrypt::xts_in_place(0, key, tweak, unit, buffer.slice_mut(0, len)))?,
        }
        // Counting on as the device does from unit to unit (modulo 2^128, as IEEE 1619's
        // 128-bit tweak does).
        self.tweak = tweak.wrapping_add(u128::from(len / unit));
        Ok(())
    }

    fn complete(&mut self, wc: &WorkCompletion, buffer: &MemoryRegion, len: u32) -> Result<(), Failure> {
        if wc.byte_len != len {
            return Err(Failure::Device(format!("internal error: AES-XTS of {len} bytes reported {}", wc.byte_len)));
        }
        self.output.write_all(&buffer.as_slice()?[..len as usize]).map_err(Failure::Write)?;
        self.written += u64::from(len);
        Ok(())
    }
}

impl Pipeline {
    /// Encrypts or decrypts all of `input` into `output`; an input that is not a whole number
    /// of units fails at its end (output already written stays written).
    pub fn xts(
        &mut self,
        direction: Direction,
        request: &XtsRequest<'_>,
        input: &mut dyn Read,
        output: &mut dyn Write,
    ) -> Result<Totals, Failure> {
        if !(MIN_DATA_UNIT..=MAX_DATA_UNIT).contains(&request.data_unit) {
            return Err(Failure::Device(format!("internal error: a data unit of {} bytes", request.data_unit)));
        }
        let unit = request.data_unit as usize;
        let piece = PIECE / unit * unit;
        let mut run = Xts { direction, request, tweak: request.tweak, output, written: 0 };
        let result = self.in_pieces(piece, Access::LOCAL_WRITE, input, &mut run);
        let result = result.map(|read| Totals { read, written: run.written, ..Totals::default() });
        self.settle(result)
    }
}
