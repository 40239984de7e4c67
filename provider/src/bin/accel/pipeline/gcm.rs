//! AES-GCM: one request over the whole input (the device cannot stream GCM yet), in place in
//! one region, so an input needs its own size of locked memory rather than twice that. The
//! output of encryption is the ciphertext followed by the 16-byte tag, the layout of OpenSSL's
//! AEAD users and of Python's `AESGCM.encrypt`; decryption takes the tag from the end of its
//! input and writes nothing at all unless the tag checks.

use std::io::{Read, Write};

use accelverbs::{Access, CqeStatus, CryptoKey, Decrypt, Encrypt, TAG_LEN};

use super::{expect_success, read_limited, DataError, Direction, Failure, Pipeline, Totals, ONE_REQUEST_LIMIT};

/// What an AES-GCM request takes besides the data.
#[derive(Debug)]
pub struct GcmRequest<'a> {
    /// An AES-128-GCM or AES-256-GCM key.
    pub key: &'a CryptoKey,
    pub iv: [u8; 12],
    /// Authenticated, not encrypted (may be empty).
    pub aad: &'a [u8],
}

impl Pipeline {
    /// Encrypts all of `input` into ciphertext and tag, or decrypts ciphertext and tag into
    /// plaintext, written to `output` only once the device is done (and the tag checked).
    pub fn gcm(
        &mut self,
        direction: Direction,
        request: &GcmRequest<'_>,
        input: &mut dyn Read,
        output: &mut dyn Write,
    ) -> Result<Totals, Failure> {
        let result = self.gcm_whole(direction, request, input, output);
        self.settle(result)
    }

    fn gcm_whole(
        &mut self,
        direction: Direction,
        request: &GcmRequest<'_>,
        input: &mut dyn Read,
        output: &mut dyn Write,
    ) -> Result<Totals, Failure> {
        let too_large = DataError::OverRequestLimit { operation: "AES-GCM" };
        let (data, tag) = match direction {
            Direction::Encrypt => (read_limited(input, ONE_REQUEST_LIMIT, too_large)?, vec![0; TAG_LEN]),
            Direction::Decrypt => {
                let mut data = read_limited(input, ONE_REQUEST_LIMIT + TAG_LEN, too_large)?;
                let size = data.len() as u64;
                let Some(at) = data.len().checked_sub(TAG_LEN) else {
                    return Err(Failure::Data(DataError::ShorterThanTag { size }));
                };
                let tag = data.split_off(at);
                (data, tag)
            }
        };
        let read = (data.len() + if direction == Direction::Decrypt { TAG_LEN } else { 0 }) as u64;
        let len = u32::try_from(data.len()).map_err(|_| Failure::Data(too_large))?;
        let mut region = self.register(data, Access::LOCAL_WRITE)?;
        let mut tag = self.register(tag, Access::LOCAL_WRITE)?;
        let aad = match request.aad.is_empty() {
            true => None,
            false => Some(self.register(request.aad.to_vec(), Access::empty())?),
        };
        let aad_len =
            u32::try_from(request.aad.len()).map_err(|_| Failure::Device(format!("the AAD is over {} bytes", u32::MAX)))?;
        let (key, iv) = (request.key, request.iv);
        let wc = match direction {
            Direction::Encrypt => {
                let mut wr = Encrypt::in_place(0, key, iv, region.slice_mut(0, len), tag.slice_mut(0, TAG_LEN as u32));
                if let Some(aad) = &aad {
                    wr = wr.aad(aad.slice(0, aad_len));
                }
                self.post_and_wait(wr)?
            }
            Direction::Decrypt => {
                let mut wr = Decrypt::in_place(0, key, iv, region.slice_mut(0, len), tag.slice(0, TAG_LEN as u32));
                if let Some(aad) = &aad {
                    wr = wr.aad(aad.slice(0, aad_len));
                }
                self.post_and_wait(wr)?
            }
        };
        if wc.status == CqeStatus::AuthenticationFailed {
            return Err(Failure::Data(DataError::AuthenticationFailed));
        }
        expect_success(&wc)?;
        let mut written = u64::from(len);
        output.write_all(&region.as_slice()?[..len as usize]).map_err(Failure::Write)?;
        if direction == Direction::Encrypt {
            output.write_all(tag.as_slice()?).map_err(Failure::Write)?;
            written += TAG_LEN as u64;
        }
        Ok(Totals { read, written, ..Totals::default() })
    }
}
