//! Compression: one stream per file, `DEPTH` requests in flight on one QP. Slot `i % DEPTH`
//! carries request `i`; a slot is refilled only after its completion was polled and its
//! output written, and completions arrive in posting order, so outputs are written in order.

use std::io::{Read, Write};

use accelverbs::{Access, Compress, CqeStatus, Format, MemoryRegion, WorkCompletion};

use super::{check, read_full, Failure, Pipeline, Progress, Totals, CHUNK, DEPTH, ENCODE_ROOM};

/// One request's buffers and what it was given.
pub struct Slot {
    input: MemoryRegion,
    output: MemoryRegion,
    /// Input bytes posted.
    len: u32,
    /// Posted with FINISH.
    finish: bool,
}

impl Pipeline {
    fn encode_slots(&mut self) -> Result<(), Failure> {
        // One direction's buffers at a time: together they would pass the 8 MiB of locked
        // memory an unprivileged user usually gets.
        self.decode_buffers = None;
        while self.encode_slots.len() < DEPTH {
            let input = self.alloc(CHUNK, Access::empty())?;
            let output = self.alloc(ENCODE_ROOM, Access::LOCAL_WRITE)?;
            self.encode_slots.push(Slot { input, output, len: 0, finish: false });
        }
        Ok(())
    }

    pub(super) fn encode(
        &mut self,
        format: Format,
        level: i8,
        input: &mut dyn Read,
        output: &mut dyn Write,
        progress: &dyn Progress,
    ) -> Result<Totals, Failure> {
        self.encode_slots()?;
        let stream = self.pd.compression_stream(format, level)?;
        let mut totals = Totals::default();
        let (mut posted, mut done) = (0u64, 0u64);
        let mut eof = false;
        // A FINISH request is in flight: nothing may follow it.
        let mut finishing = false;
        let mut wc = [WorkCompletion::default(); DEPTH];
        loop {
            // Read ahead into every free slot, posting each chunk as soon as it is read so the
            // device starts at once.
            while !finishing && posted - done < DEPTH as u64 {
                let slot = &mut self.encode_slots[(posted % DEPTH as u64) as usize];
                let n = if eof { 0 } else { read_full(input, &mut slot.input.as_mut_slice()?[..CHUNK])? };
                // A short read is the end; a full chunk at the end is followed by an empty
                // FINISH request.
                eof |= n < CHUNK;
                slot.len = n as u32;
                slot.finish = eof;
                let mut wr =
                    Compress::new(posted, format, slot.input.slice(0, n as u32), slot.output.slice_mut(0, ENCODE_ROOM as u32))
                        .in_stream(&stream);
                if eof {
                    wr = wr.finish();
                    finishing = true;
                }
                self.qp.post(wr)?;
                self.outstanding += 1;
                posted += 1;
                totals.read += n as u64;
            }
            // Write behind: every completed output, in order.
            let got = self.wait(&mut wc)?;
            for w in &wc[..got] {
                check(w)?;
                let slot = &self.encode_slots[(w.wr_id % DEPTH as u64) as usize];
                if w.status == CqeStatus::OutputTooSmall || w.consumed() != slot.len {
                    // The requests behind it already ran on the stream: its output is broken.
                    return Err(Failure::Device(format!(
                        "internal error: a compressed chunk outgrew its {ENCODE_ROOM}-byte output slot"
                    )));
                }
                let produced = &slot.output.as_slice()?[..w.byte_len as usize];
                output.write_all(produced).map_err(Failure::Write)?;
                totals.written += produced.len() as u64;
                progress.advance(u64::from(slot.len));
                done += 1;
                if w.end_of_stream() {
                    return Ok(totals);
                }
                if slot.finish {
                    if w.byte_len == 0 {
                        return Err(Failure::Device("internal error: finishing a stream made no progress".to_owned()));
                    }
                    // The trailer did not fit yet: another empty FINISH request drains it.
                    finishing = false;
                }
            }
        }
    }
}
