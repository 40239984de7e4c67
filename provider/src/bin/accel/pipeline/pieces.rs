//! Work that goes through the device piece by piece, for inputs of any size in bounded memory
//! (AES-XTS by whole data units, CRC32C by chaining its seed): two registered buffers, the host
//! reading the next piece into one while the device works on the other. One request is in
//! flight at a time: CRC32C needs each result as the next request's seed, and XTS output is
//! written in order anyway, so a deeper queue would buy only what the read-ahead already does.

use std::io::Read;

use accelverbs::{Access, MemoryRegion, WorkCompletion};

use super::{expect_success, read_full, Failure, Pipeline};

/// What one kind of piecewise work does with each piece.
pub(super) trait Pieces {
    /// Posts the request for the first `len` bytes of `buffer` (`len > 0`, and less than the
    /// buffer only for the last piece); `before`: the input bytes of the earlier pieces.
    fn post(&mut self, pipeline: &mut Pipeline, buffer: &mut MemoryRegion, len: u32, before: u64) -> Result<(), Failure>;

    /// Takes the successful completion of the piece in the first `len` bytes of `buffer`.
    fn complete(&mut self, wc: &WorkCompletion, buffer: &MemoryRegion, len: u32) -> Result<(), Failure>;
}

impl Pipeline {
    /// Runs `work` over all of `input` in pieces of `piece` bytes (two buffers of that size,
    /// registered with `access`); the count of bytes read.
    pub(super) fn in_pieces(
        &mut self,
        piece: usize,
        access: Access,
        input: &mut dyn Read,
        work: &mut dyn Pieces,
    ) -> Result<u64, Failure> {
        let piece_len = u32::try_from(piece).map_err(|_| Failure::Device(format!("internal error: a {piece}-byte piece")))?;
        let mut buffers = [self.alloc(piece, access)?, self.alloc(piece, access)?];
        // The buffer and length of the request in flight.
        let mut in_flight: Option<(usize, u32)> = None;
        let (mut next, mut read, mut eof) = (0, 0u64, false);
        loop {
            // The next piece, read while the device works on the previous one. After a short
            // read nothing more is read: a terminal would wait for a second end of file.
            let n = if eof { 0 } else { read_full(input, &mut buffers[next].as_mut_slice()?[..piece])? };
            eof |= n < piece;
            if let Some((busy, len)) = in_flight.take() {
                let mut wc = [WorkCompletion::default(); 1];
                self.wait(&mut wc)?;
                expect_success(&wc[0])?;
                work.complete(&wc[0], &buffers[busy], len)?;
            }
            if n == 0 {
                return Ok(read);
            }
            // `n <= piece`, which fits a u32.
            let len = (n as u32).min(piece_len);
            work.post(self, &mut buffers[next], len, read)?;
            read += u64::from(len);
            in_flight = Some((next, len));
            next ^= 1;
        }
    }
}
