//! Deflate, zlib and gzip compression at levels 1 and 2 through ISA-L's igzip (Debian's libisal,
//! the library DPDK's ISA-L compression device runs on). On the demo's text it compresses 4 KiB
//! as fast as zlib-rs at level 1 and 64 KiB 1.3× faster, to output 22–25% smaller: the size
//! zlib-rs reaches at level 2, at twice that level's speed (docs/BENCHMARKS.md, "Libraries
//! (chosen by measurement)"). Higher levels stay on zlib-rs, which compresses smaller there.

use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};

use accelverbs_uapi::compress::Format;

use super::isal_sys as isal;
use super::{Codec, Corrupt, Feed, Step};

// The library itself: Debian's libisal.so.2.
#[link(name = "isal")]
extern "C" {}

/// Deflate-family compression on igzip, at its level 1 or 2.
pub struct IsalDeflater {
    stream: Box<isal::isal_zstream>,
    /// The level's working memory; `stream.level_buf` points into it.
    level_buf: Box<[u8]>,
    /// The wrapper (`gzip_flag`) the stream was made with. The library rewrites the stream's
    /// copy once it wrote the header (to the `_NO_HDR` variant), and its reset keeps that: a
    /// restarted stream without this would lack its gzip or zlib header.
    wrapper: u16,
    /// A sync flush completed and no input came since: another would only add an empty block.
    flushed: bool,
    /// A FINISH took all its input: the last block has begun. Only FINISH without input may
    /// follow (zlib's rule, which zlib-rs enforces for the other levels); the library would
    /// go on after the final block, writing a stream no decoder accepts.
    finishing: bool,
}

// SAFETY: the stream's pointers are its own level buffer (a heap allocation owned beside it,
// which moves with it) and the input and output of a call in progress, cleared when the call
// returns. Nothing in it is shared with another thread.
unsafe impl Send for IsalDeflater {}

impl IsalDeflater {
    /// `level` 1 or 2 (others are clamped to them).
    pub fn new(format: Format, level: i8) -> Self {
        let (level, buf_len) = match level {
            ..=1 => (1, isal::ISAL_DEF_LVL1_DEFAULT),
            _ => (2, isal::ISAL_DEF_LVL2_DEFAULT),
        };
        let mut level_buf = vec![0u8; buf_len as usize].into_boxed_slice();
        // Zeroed in place on the heap: the stream is 80 KiB, which a debug build's
        // `Box::new(zeroed())` puts on the stack more than once, overflowing a small thread
        // stack (an application thread posting inline) where zlib-rs's codec fits.
        let layout = Layout::new::<isal::isal_zstream>();
        // SAFETY: the layout has a non-zero size. `isal_zstream` is a C struct of integers,
        // pointers and arrays of them: all zeroes is a value of it (the pointers null), and
        // `isal_deflate_init` sets it up. The allocation is the global allocator's for this
        // layout, as `Box::from_raw` requires.
        let mut stream: Box<isal::isal_zstream> = unsafe {
            let raw = alloc_zeroed(layout).cast::<isal::isal_zstream>();
            if raw.is_null() {
                handle_alloc_error(layout);
            }
            Box::from_raw(raw)
        };
        // SAFETY: a live stream of our own.
        unsafe { isal::isal_deflate_init(&mut *stream) };
        stream.level = level;
        stream.level_buf = level_buf.as_mut_ptr();
        stream.level_buf_size = buf_len;
        let wrapper = match format {
            Format::Gzip => isal::IGZIP_GZIP,
            Format::Zlib => isal::IGZIP_ZLIB,
            _ => isal::IGZIP_DEFLATE,
        } as u16;
        stream.gzip_flag = wrapper;
        Self { stream, level_buf, wrapper, flushed: false, finishing: false }
    }

    fn ended(&self) -> bool {
        self.stream.internal_state.state == isal::isal_zstate_state_ZSTATE_END
    }
}

impl Codec for IsalDeflater {
    fn step(&mut self, input: &[u8], output: &mut [u8], feed: Feed) -> Result<Step, Corrupt> {
        if self.ended() {
            return Ok(Step { consumed: 0, produced: 0, ended: true });
        }
        if self.finishing && (feed != Feed::Finish || !input.is_empty()) {
            return Err(Corrupt);
        }
        if feed == Feed::Flush && input.is_empty() && self.flushed {
            return Ok(Step::default());
        }
        // The library counts in 32 bits: a larger piece goes in parts (the pump calls again),
        // and the flush or the end applies only with the last part.
        let in_len = input.len().min(u32::MAX as usize);
        let out_len = output.len().min(u32::MAX as usize);
        let whole = in_len == input.len();
        debug_assert_eq!(self.stream.level_buf, self.level_buf.as_mut_ptr());
        let stream = &mut *self.stream;
        // The library takes a mutable pointer to the input but only reads through it.
        stream.next_in = input.as_ptr().cast_mut();
        stream.avail_in = in_len as u32;
        stream.next_out = output.as_mut_ptr();
        stream.avail_out = out_len as u32;
        stream.end_of_stream = u16::from(whole && feed == Feed::Finish);
        stream.flush = if whole && feed == Feed::Flush { isal::SYNC_FLUSH } else { isal::NO_FLUSH } as u16;
        // SAFETY: `next_in`/`avail_in` describe `input` and `next_out`/`avail_out` `output`, both
        // live and disjoint (`&` and `&mut`) for this call; the level buffer is ours, of the
        // size given. The library keeps no pointer into either past the call: what it holds
        // back for the next one it copies into the stream's own buffer.
        let status = unsafe { isal::isal_deflate(stream) };
        let consumed = in_len - stream.avail_in as usize;
        let produced = out_len - stream.avail_out as usize;
        let room_left = stream.avail_out > 0;
        stream.next_in = std::ptr::null_mut();
        stream.next_out = std::ptr::null_mut();
        // Compression fails only on misuse (a level or buffer the library refuses).
        if status != isal::COMP_OK as i32 {
            return Err(Corrupt);
        }
        // A flush is complete once the library returns with room to spare.
        let all_taken = whole && stream.avail_in == 0;
        self.flushed = all_taken && feed == Feed::Flush && room_left;
        let ended = self.ended();
        self.finishing = all_taken && feed == Feed::Finish && !ended;
        Ok(Step { consumed, produced, ended })
    }

    fn reset(&mut self) {
        // SAFETY: a live stream of our own; the level and level buffer stay set.
        unsafe { isal::isal_deflate_reset(&mut *self.stream) };
        self.stream.gzip_flag = self.wrapper;
        self.flushed = false;
        self.finishing = false;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn text(len: usize) -> Vec<u8> {
        let words = ["queue ", "pair ", "completion ", "doorbell ", "engine ", "region ", "key "];
        let mut text = Vec::with_capacity(len + 16);
        for (i, word) in words.iter().cycle().enumerate() {
            if text.len() >= len {
                break;
            }
            text.extend_from_slice(word.as_bytes());
            text.push(b'0' + (i % 7) as u8);
        }
        text.truncate(len);
        text
    }

    fn inflate(format: Format, packed: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        let read = match format {
            Format::Gzip => flate2::read::MultiGzDecoder::new(packed).read_to_end(&mut plain),
            Format::Zlib => flate2::read::ZlibDecoder::new(packed).read_to_end(&mut plain),
            _ => flate2::read::DeflateDecoder::new(packed).read_to_end(&mut plain),
        };
        read.expect("zlib decodes what igzip wrote");
        plain
    }

    #[test]
    #[cfg_attr(miri, ignore = "runs the C compiler")]
    fn the_bindings_match_the_installed_header() {
        use std::mem::{offset_of, size_of};
        type Stream = isal::isal_zstream;
        let ours: Vec<(&str, &str, u64)> = vec![
            ("sizeof", "sizeof(struct isal_zstream)", size_of::<Stream>() as u64),
            ("next_in", "offsetof(struct isal_zstream, next_in)", offset_of!(Stream, next_in) as u64),
            ("avail_in", "offsetof(struct isal_zstream, avail_in)", offset_of!(Stream, avail_in) as u64),
            ("next_out", "offsetof(struct isal_zstream, next_out)", offset_of!(Stream, next_out) as u64),
            ("avail_out", "offsetof(struct isal_zstream, avail_out)", offset_of!(Stream, avail_out) as u64),
            ("level", "offsetof(struct isal_zstream, level)", offset_of!(Stream, level) as u64),
            ("level_buf_size", "offsetof(struct isal_zstream, level_buf_size)", offset_of!(Stream, level_buf_size) as u64),
            ("level_buf", "offsetof(struct isal_zstream, level_buf)", offset_of!(Stream, level_buf) as u64),
            ("end_of_stream", "offsetof(struct isal_zstream, end_of_stream)", offset_of!(Stream, end_of_stream) as u64),
            ("flush", "offsetof(struct isal_zstream, flush)", offset_of!(Stream, flush) as u64),
            ("gzip_flag", "offsetof(struct isal_zstream, gzip_flag)", offset_of!(Stream, gzip_flag) as u64),
            (
                "state",
                "offsetof(struct isal_zstream, internal_state.state)",
                (offset_of!(Stream, internal_state) + offset_of!(isal::isal_zstate, state)) as u64,
            ),
            ("ZSTATE_END", "ZSTATE_END", u64::from(isal::isal_zstate_state_ZSTATE_END)),
            ("COMP_OK", "COMP_OK", u64::from(isal::COMP_OK)),
            ("NO_FLUSH", "NO_FLUSH", u64::from(isal::NO_FLUSH)),
            ("SYNC_FLUSH", "SYNC_FLUSH", u64::from(isal::SYNC_FLUSH)),
            ("IGZIP_DEFLATE", "IGZIP_DEFLATE", u64::from(isal::IGZIP_DEFLATE)),
            ("IGZIP_GZIP", "IGZIP_GZIP", u64::from(isal::IGZIP_GZIP)),
            ("IGZIP_ZLIB", "IGZIP_ZLIB", u64::from(isal::IGZIP_ZLIB)),
            ("ISAL_DEF_LVL1_DEFAULT", "ISAL_DEF_LVL1_DEFAULT", u64::from(isal::ISAL_DEF_LVL1_DEFAULT)),
            ("ISAL_DEF_LVL2_DEFAULT", "ISAL_DEF_LVL2_DEFAULT", u64::from(isal::ISAL_DEF_LVL2_DEFAULT)),
        ];
        let probes: Vec<(String, String)> = ours.iter().map(|(name, expr, _)| (name.to_string(), expr.to_string())).collect();
        let theirs = crate::c_header_probe::c_values(&["isa-l/igzip_lib.h"], &[], &probes);
        let ours: Vec<(String, u64)> = ours.into_iter().map(|(name, _, value)| (name.to_string(), value)).collect();
        assert_eq!(ours, theirs);
    }

    /// Input and output in small, odd pieces, each input piece overwritten once it is given:
    /// what zlib decodes is the input, for every wrapper and both levels.
    #[test]
    #[cfg_attr(miri, ignore = "calls into ISA-L")]
    fn streams_in_small_pieces_decode_with_zlib() {
        let plain = text(200_000);
        for format in [Format::Deflate, Format::Zlib, Format::Gzip] {
            for level in [1, 2] {
                let mut codec = IsalDeflater::new(format, level);
                let mut packed = Vec::new();
                let mut out = [0u8; 97];
                for (i, piece) in plain.chunks(3001).enumerate() {
                    let mut given = piece.to_vec();
                    let last = (i + 1) * 3001 >= plain.len();
                    let mut at = 0;
                    loop {
                        let step = codec.step(&given[at..], &mut out, if last { Feed::Finish } else { Feed::More }).unwrap();
                        packed.extend_from_slice(&out[..step.produced]);
                        at += step.consumed;
                        if step.ended || (at == given.len() && step.produced == 0 && !last) {
                            break;
                        }
                    }
                    given.fill(0xAA);
                }
                assert!(codec.ended(), "{format:?} level {level}");
                assert_eq!(inflate(format, &packed), plain, "{format:?} level {level}");
                assert!(packed.len() < plain.len() / 3, "{format:?} level {level}: {} bytes", packed.len());
            }
        }
    }

    /// Whole streams one after another through one codec, reset between them (as the
    /// per-thread cache and a context that ended do): each has its gzip or zlib header.
    #[test]
    #[cfg_attr(miri, ignore = "calls into ISA-L")]
    fn a_reset_stream_keeps_its_wrapper() {
        let plain = text(5000);
        for format in [Format::Deflate, Format::Zlib, Format::Gzip] {
            for level in [1, 2] {
                let mut codec = IsalDeflater::new(format, level);
                let mut out = vec![0u8; 10_000];
                for round in 0..3 {
                    let step = codec.step(&plain, &mut out, Feed::Finish).unwrap();
                    assert!(step.ended, "{format:?} level {level} round {round}");
                    assert_eq!(inflate(format, &out[..step.produced]), plain, "{format:?} level {level} round {round}");
                    codec.reset();
                }
            }
        }
    }

    /// Once a FINISH took all its input, only FINISH without input goes on (as zlib-rs, at
    /// the other levels): a flush, more input or no flag is refused and changes nothing.
    #[test]
    #[cfg_attr(miri, ignore = "calls into ISA-L")]
    fn after_a_finish_began_only_finish_without_input_follows() {
        let plain = text(2000);
        for format in [Format::Deflate, Format::Zlib, Format::Gzip] {
            let mut codec = IsalDeflater::new(format, 1);
            let mut out = vec![0u8; 10_000];
            let first = codec.step(&plain, &mut out[..10], Feed::Finish).unwrap();
            assert_eq!((first.consumed, first.produced, first.ended), (plain.len(), 10, false), "{format:?}");
            assert_eq!(codec.step(&[], &mut out[10..], Feed::Flush), Err(Corrupt), "{format:?}");
            assert_eq!(codec.step(&[], &mut out[10..], Feed::More), Err(Corrupt), "{format:?}");
            assert_eq!(codec.step(b"more", &mut out[10..], Feed::Finish), Err(Corrupt), "{format:?}");
            let rest = codec.step(&[], &mut out[10..], Feed::Finish).unwrap();
            assert!(rest.ended, "{format:?}");
            assert_eq!(inflate(format, &out[..10 + rest.produced]), plain, "{format:?}");
        }
    }

    /// A thread with a small stack (an application's, posting inline) builds the codec and
    /// compresses, as it can at the other levels.
    #[test]
    #[cfg_attr(miri, ignore = "calls into ISA-L")]
    fn a_small_thread_stack_builds_the_codec() {
        let plain = text(5000);
        let inflated = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(move || {
                let mut codec = IsalDeflater::new(Format::Gzip, 1);
                let mut out = vec![0u8; 10_000];
                let step = codec.step(&plain, &mut out, Feed::Finish).unwrap();
                (inflate(Format::Gzip, &out[..step.produced]), plain)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(inflated.0, inflated.1);
    }

    /// A sync flush makes everything given so far decodable; flushing again with nothing new
    /// adds nothing (the pump stops on a step without progress); reset starts a new stream.
    #[test]
    #[cfg_attr(miri, ignore = "calls into ISA-L")]
    fn a_flush_completes_once_and_reset_starts_over() {
        let plain = text(10_000);
        let mut codec = IsalDeflater::new(Format::Deflate, 1);
        let mut out = vec![0u8; 20_000];
        let first = codec.step(&plain, &mut out, Feed::Flush).unwrap();
        assert_eq!(first.consumed, plain.len());
        assert!(!first.ended);
        assert_eq!(&out[first.produced - 4..first.produced], &[0, 0, 0xff, 0xff], "a sync flush ends on the empty stored block");
        let mut partial = Vec::new();
        let _ = flate2::read::DeflateDecoder::new(&out[..first.produced]).read_to_end(&mut partial);
        assert_eq!(partial, plain, "what was flushed decodes in full");
        assert_eq!(codec.step(&[], &mut out, Feed::Flush).unwrap(), Step::default());

        codec.reset();
        let whole = codec.step(&plain, &mut out, Feed::Finish).unwrap();
        assert!(whole.ended && whole.consumed == plain.len());
        assert_eq!(inflate(Format::Deflate, &out[..whole.produced]), plain);
        assert_eq!(codec.step(&[], &mut out, Feed::Finish).unwrap(), Step { consumed: 0, produced: 0, ended: true });
    }
}
