//! Digests on the device: SHA-256 and HMAC-SHA-256 in one request over the whole input (the
//! device cannot carry a hash state from request to request yet), CRC32C in pieces of any
//! number, each continuing from the previous piece's result.

use std::io::Read;

use accelverbs::{Access, CryptoKey, Digest, MemoryRegion, WorkCompletion, DIGEST_LEN};

use super::pieces::Pieces;
use super::{expect_success, read_limited, DataError, Failure, Pipeline, ONE_REQUEST_LIMIT};

/// Bytes of input per CRC32C request.
const CRC_PIECE: usize = 1 << 20;

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

impl Pipeline {
    /// SHA-256 of all of `input`, or with `key` (an HMAC-SHA-256 key) its HMAC.
    pub fn sha256(&mut self, key: Option<&CryptoKey>, input: &mut dyn Read) -> Result<[u8; DIGEST_LEN], Failure> {
        let result = self.sha256_whole(key, input);
        self.settle(result)
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
        let result = self.in_pieces(CRC_PIECE, Access::empty(), input, &mut run).map(|_| run.crc);
        self.settle(result)
    }
}
