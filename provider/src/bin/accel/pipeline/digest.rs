//! Digests on the device, in pieces of any number for inputs of any size: CRC32C, each piece
//! continuing from the previous piece's result, and SHA-256, its state carried between pieces
//! in registered memory; HMAC-SHA-256 in one request over the whole input (its state would be
//! derived from the key, which the device keeps).

use std::io::Read;

use accelverbs::{Access, CryptoKey, Digest, MemoryRegion, WorkCompletion, DIGEST_LEN, DIGEST_STATE_LEN, SHA256_BLOCK};

use super::pieces::Pieces;
use super::{expect_success, read_limited, DataError, Failure, Pipeline, ONE_REQUEST_LIMIT};

/// Bytes of input per CRC32C or SHA-256 request (whole SHA-256 blocks).
const PIECE: usize = 1 << 20;
const _: () = assert!(PIECE.is_multiple_of(SHA256_BLOCK));

/// The CRC32C so far.
struct Crc32c {
    crc: u32,
}

impl Pieces for Crc32c {
    fn post(&mut self, pipeline: &mut Pipeline, buffer: &mut MemoryRegion, len: u32, _before: u64) -> Result<(), Failure> {
        pipeline.post(Digest::crc32c(0, buffer.slice(0, len), self.crc))
    }

    fn complete(&mut self, wc: &WorkCompletion, _buffer: &MemoryRegion, _len: u32) -> Result<(), Failure> {
        self.crc = wc.checksum();
        Ok(())
    }
}

/// A SHA-256 in pieces: where its state is carried, where the digest goes, and how far it got.
struct Sha256 {
    state: MemoryRegion,
    digest: MemoryRegion,
    started: bool,
    finished: bool,
}

impl Sha256 {
    /// The request for `input`, a whole piece (more may follow) or less (the last).
    fn part<'a>(&'a mut self, input: accelverbs::MrSlice<'a>, last: bool) -> Digest<'a> {
        let digest = self.digest.slice_mut(0, DIGEST_LEN as u32);
        let request = match (self.started, last) {
            (false, true) => Digest::sha256(0, input, digest),
            (false, false) => Digest::sha256_first(0, input, self.state.slice_mut(0, DIGEST_STATE_LEN as u32)),
            (true, false) => Digest::sha256_next(0, input, self.state.slice_mut(0, DIGEST_STATE_LEN as u32)),
            (true, true) => Digest::sha256_last(0, input, self.state.slice(0, DIGEST_STATE_LEN as u32), digest),
        };
        self.started = true;
        self.finished = last;
        request
    }
}

impl Pieces for Sha256 {
    fn post(&mut self, pipeline: &mut Pipeline, buffer: &mut MemoryRegion, len: u32, _before: u64) -> Result<(), Failure> {
        // A short piece is the input's end; a whole one may be followed by more.
        pipeline.post(self.part(buffer.slice(0, len), len as usize != PIECE))
    }

    fn complete(&mut self, _wc: &WorkCompletion, _buffer: &MemoryRegion, _len: u32) -> Result<(), Failure> {
        Ok(())
    }
}

impl Pipeline {
    /// SHA-256 of all of `input`, or with `key` (an HMAC-SHA-256 key) its HMAC.
    pub fn sha256(&mut self, key: Option<&CryptoKey>, input: &mut dyn Read) -> Result<[u8; DIGEST_LEN], Failure> {
        let result = match key {
            Some(key) => self.sha256_whole(Some(key), input),
            None => self.sha256_in_pieces(input),
        };
        self.settle(result)
    }

    fn sha256_in_pieces(&mut self, input: &mut dyn Read) -> Result<[u8; DIGEST_LEN], Failure> {
        let state = self.alloc(DIGEST_STATE_LEN, Access::LOCAL_WRITE)?;
        let digest = self.alloc(DIGEST_LEN, Access::LOCAL_WRITE)?;
        let mut run = Sha256 { state, digest, started: false, finished: false };
        self.in_pieces(PIECE, Access::empty(), input, &mut run)?;
        if !run.finished {
            // The input was empty or a whole number of pieces: the message ends with no more
            // data, its last part empty.
            let nothing = self.alloc(1, Access::empty())?;
            let wc = self.post_and_wait(run.part(nothing.slice(0, 0), true))?;
            expect_success(&wc)?;
        }
        let mut digest = [0; DIGEST_LEN];
        digest.copy_from_slice(&run.digest.as_slice()?[..DIGEST_LEN]);
        Ok(digest)
    }

    fn sha256_whole(&mut self, key: Option<&CryptoKey>, input: &mut dyn Read) -> Result<[u8; DIGEST_LEN], Failure> {
        let operation = if key.is_some() { "HMAC-SHA-256" } else { "SHA-256" };
        let too_large = DataError::OverRequestLimit { operation };
        let data = read_limited(input, ONE_REQUEST_LIMIT, too_large)?;
        let len = u32::try_from(data.len()).map_err(|_| Failure::Data(too_large))?;
        let region = self.register(data, Access::empty())?;
        let mut out = self.alloc(DIGEST_LEN, Access::LOCAL_WRITE)?;
        let wc = match key {
            Some(key) => {
                self.post_and_wait(Digest::hmac_sha256(0, key, region.slice(0, len), out.slice_mut(0, DIGEST_LEN as u32)))?
            }
            None => self.post_and_wait(Digest::sha256(0, region.slice(0, len), out.slice_mut(0, DIGEST_LEN as u32)))?,
        };
        expect_success(&wc)?;
        let mut digest = [0; DIGEST_LEN];
        digest.copy_from_slice(&out.as_slice()?[..DIGEST_LEN]);
        Ok(digest)
    }

    /// CRC32C (Castagnoli) of all of `input`, in pieces.
    pub fn crc32c(&mut self, input: &mut dyn Read) -> Result<u32, Failure> {
        let mut run = Crc32c { crc: 0 };
        let result = self.in_pieces(PIECE, Access::empty(), input, &mut run).map(|_| run.crc);
        self.settle(result)
    }
}
