//! Decompression: one stream per file, one request in flight. A request consumes what its
//! output allows; the rest is posted again. While it runs, the host writes the previous
//! request's output and reads the next chunk into the spare input region.
//!
//! A file may hold several members (frames): the device decodes the ones it sees in one
//! request and restarts its stream after an end, so the pipeline keeps posting while input
//! remains. At the end of the input, the last completion must have ended the stream; if not,
//! empty requests drain what the device still holds, and when nothing more comes the file is
//! truncated. gzip adds its rules for what follows the last member (`boundary`).

use std::io::{Read, Write};

use accelverbs::{Access, Decompress, Format, MemoryRegion, WorkCompletion};

use super::{check, read_full, DataError, Failure, Pipeline, Progress, Totals, Trailing, CHUNK, DECODE_ROOM};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Two input and two output regions.
pub struct Buffers {
    input: [MemoryRegion; 2],
    output: [MemoryRegion; 2],
}

/// The input as the host sees it: the unconsumed bytes of the current region, then the
/// read-ahead in the other.
struct InputWindow {
    current: usize,
    pos: usize,
    len: usize,
    /// Bytes read ahead into the other region (`None`: not read yet).
    ahead: Option<usize>,
    eof: bool,
}

impl InputWindow {
    fn remaining(&self) -> usize {
        self.len - self.pos
    }

    /// Reads the next chunk into the spare region, unless done already or at the end.
    fn read_ahead(&mut self, buffers: &mut Buffers, input: &mut dyn Read) -> Result<(), Failure> {
        if self.ahead.is_none() && !self.eof {
            let n = read_full(input, buffers.input[1 - self.current].as_mut_slice()?)?;
            self.eof = n < CHUNK;
            self.ahead = Some(n);
        }
        Ok(())
    }

    /// When the current region is used up, moves to the read-ahead (reading it now if need be).
    fn advance(&mut self, buffers: &mut Buffers, input: &mut dyn Read) -> Result<(), Failure> {
        if self.remaining() == 0 {
            self.read_ahead(buffers, input)?;
            if let Some(n) = self.ahead.take().filter(|&n| n > 0) {
                self.current = 1 - self.current;
                (self.pos, self.len) = (0, n);
            }
        }
        Ok(())
    }

    /// Up to two next bytes (reading ahead if the current region has fewer).
    fn peek2(&mut self, buffers: &mut Buffers, input: &mut dyn Read) -> Result<Vec<u8>, Failure> {
        if self.remaining() < 2 {
            self.read_ahead(buffers, input)?;
        }
        let here = &buffers.input[self.current].as_slice()?[self.pos..self.len];
        let there = &buffers.input[1 - self.current].as_slice()?[..self.ahead.unwrap_or(0)];
        Ok(here.iter().chain(there).take(2).copied().collect())
    }

    /// Whether everything from here to the end of the input is zero bytes.
    fn rest_is_zeros(&mut self, buffers: &mut Buffers, input: &mut dyn Read) -> Result<bool, Failure> {
        loop {
            if buffers.input[self.current].as_slice()?[self.pos..self.len].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            self.pos = self.len;
            self.advance(buffers, input)?;
            if self.remaining() == 0 {
                return Ok(true);
            }
        }
    }
}

/// At the start of the input or after an end of stream, what gzip makes of the next bytes.
enum Boundary {
    /// A member (or, for other formats, whatever the device makes of it) follows.
    Decode,
    /// The input is over.
    End(Trailing),
}

impl Pipeline {
    fn decode_buffers(&mut self) -> Result<Buffers, Failure> {
        // One direction's buffers at a time (see `encode_slots`).
        self.encode_slots.clear();
        match self.decode_buffers.take() {
            Some(buffers) => Ok(buffers),
            None => Ok(Buffers {
                input: [self.alloc(CHUNK, Access::empty())?, self.alloc(CHUNK, Access::empty())?],
                output: [self.alloc(DECODE_ROOM, Access::LOCAL_WRITE)?, self.alloc(DECODE_ROOM, Access::LOCAL_WRITE)?],
            }),
        }
    }

    pub(super) fn decode(
        &mut self,
        format: Format,
        input: &mut dyn Read,
        output: &mut dyn Write,
        progress: &dyn Progress,
    ) -> Result<Totals, Failure> {
        let mut buffers = self.decode_buffers()?;
        let result = self.decode_with(&mut buffers, format, input, output, progress);
        // A request still in flight after a failure is waited out by `settle`.
        self.decode_buffers = Some(buffers);
        result
    }

    fn decode_with(
        &mut self,
        buffers: &mut Buffers,
        format: Format,
        input: &mut dyn Read,
        output: &mut dyn Write,
        progress: &dyn Progress,
    ) -> Result<Totals, Failure> {
        let stream = self.pd.decompression_stream(format)?;
        let mut totals = Totals::default();
        let mut window = InputWindow { current: 0, pos: 0, len: 0, ahead: None, eof: false };
        // The output region holding the last request's bytes, not written yet.
        let mut unwritten: Option<(usize, usize)> = None;
        let mut next_output = 0;
        let mut members = 0u64;
        // At the start or right after an end of stream.
        let mut boundary = true;
        let mut wc = [WorkCompletion::default(); 1];
        loop {
            window.advance(buffers, input)?;
            if boundary {
                match boundary_after(format, members, &mut window, buffers, input)? {
                    Boundary::Decode => {}
                    Boundary::End(trailing) => {
                        totals.trailing = trailing;
                        break;
                    }
                }
            }
            let (pos, n) = (window.pos, window.remaining());
            let room = DECODE_ROOM as u32;
            let src = buffers.input[window.current].slice(pos, n as u32);
            let wr = Decompress::new(0, format, src, buffers.output[next_output].slice_mut(0, room)).in_stream(&stream);
            self.post(wr)?;
            // While the device works: write behind, read ahead.
            if let Some((k, len)) = unwritten.take() {
                output.write_all(&buffers.output[k].as_slice()?[..len]).map_err(Failure::Write)?;
            }
            window.read_ahead(buffers, input)?;
            self.wait(&mut wc)?;
            let w = wc[0];
            if let Err(failure) = check(&w) {
                if matches!(failure, Failure::Data(_)) {
                    // As gzip: what decoded before the damage (earlier members, say) reaches
                    // standard output, where `gunzip -c` recovers what it can; an output file
                    // is removed anyway.
                    output.write_all(&buffers.output[next_output].as_slice()?[..w.byte_len as usize]).map_err(Failure::Write)?;
                }
                return Err(failure);
            }
            window.pos += w.consumed() as usize;
            totals.read += u64::from(w.consumed());
            totals.written += u64::from(w.byte_len);
            progress.advance(u64::from(w.consumed()));
            unwritten = Some((next_output, w.byte_len as usize));
            next_output = 1 - next_output;
            boundary = w.end_of_stream();
            if boundary {
                members += 1;
            } else if w.byte_len == 0 && w.consumed() == 0 {
                if n == 0 {
                    // Nothing left to read and nothing more from the device, mid-stream.
                    return Err(Failure::Data(DataError::Truncated));
                }
                // A codec given input and room always moves; never spin on one that does not.
                return Err(Failure::Device("internal error: a decompression request made no progress".to_owned()));
            }
        }
        if let Some((k, len)) = unwritten {
            output.write_all(&buffers.output[k].as_slice()?[..len]).map_err(Failure::Write)?;
        }
        Ok(totals)
    }
}

/// What follows: nothing (the end, or before the first member a truncated file), a member,
/// or for gzip zeros (ignored) or garbage (ignored with a warning), as gzip decides.
fn boundary_after(
    format: Format,
    members: u64,
    window: &mut InputWindow,
    buffers: &mut Buffers,
    input: &mut dyn Read,
) -> Result<Boundary, Failure> {
    let next = window.peek2(buffers, input)?;
    if next.is_empty() {
        return if members == 0 { Err(Failure::Data(DataError::Truncated)) } else { Ok(Boundary::End(Trailing::None)) };
    }
    if format != Format::Gzip || next[..] == GZIP_MAGIC {
        return Ok(Boundary::Decode);
    }
    if members == 0 {
        // One byte of magic and then the end is a truncated file; anything else is not gzip.
        return Err(Failure::Data(if next[..] == GZIP_MAGIC[..1] { DataError::Truncated } else { DataError::NotGzip }));
    }
    if next[0] == 0 && window.rest_is_zeros(buffers, input)? {
        return Ok(Boundary::End(Trailing::Zeros));
    }
    Ok(Boundary::End(Trailing::Garbage))
}
