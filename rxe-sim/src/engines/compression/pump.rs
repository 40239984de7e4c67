//! Drives a codec across scattered input and output: the chunks are walked in order, each step
//! gets the current piece of each side, and what passes is shown to the checksum tracker.

use accelverbs_uapi::compress::Format;

use super::checksum::{another_member_follows, ChecksumTracker};
use crate::engines::codec::{Codec, Direction, Feed};

/// Why a pump stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The stream ended (the last member or frame, for decompression).
    Ended,
    /// The input is used up and the codec has nothing more to give for it.
    InputUsed,
    /// The output (or the output allowed) filled while the codec had more.
    OutputFull,
    /// The input is not valid data of the format.
    Corrupt,
}

/// What a pump did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pumped {
    pub consumed: u64,
    pub produced: u64,
    pub stop: Stop,
}

/// A cursor over a list of chunks.
struct Cursor {
    chunk: usize,
    offset: usize,
    moved: u64,
}

impl Cursor {
    /// Moves past empty or finished chunks; false at the end.
    fn settle(&mut self, lens: impl Fn(usize) -> Option<usize>) -> bool {
        while let Some(len) = lens(self.chunk) {
            if self.offset < len {
                return true;
            }
            self.chunk += 1;
            self.offset = 0;
        }
        false
    }
}

/// One request's two sides.
pub struct Sides<'s, 'a> {
    pub input: &'s [&'a [u8]],
    pub output: &'s mut [&'a mut [u8]],
    /// Most bytes the request may produce (the ratio limit), at most the output's size.
    pub output_cap: u64,
    /// One-shot: when the output fills, the codec's state may be spent finding out whether it
    /// had more to give.
    pub probe_when_full: bool,
}

/// Runs `codec` over `sides`. `feed` applies once the last input is given (`More` between).
pub fn pump(
    codec: &mut dyn Codec,
    direction: Direction,
    format: Format,
    tracker: &mut ChecksumTracker,
    sides: Sides<'_, '_>,
    feed: Feed,
) -> Pumped {
    let Sides { input, output, output_cap, probe_when_full: sides_probe } = sides;
    let mut src = Cursor { chunk: 0, offset: 0, moved: 0 };
    let mut dst = Cursor { chunk: 0, offset: 0, moved: 0 };
    let stop = loop {
        let has_input = src.settle(|i| input.get(i).map(|c| c.len()));
        let has_output = dst.settle(|i| output.get(i).map(|c| c.len()));
        let piece_in: &[u8] = if has_input { &input[src.chunk][src.offset..] } else { &[] };
        let last_input = !has_input || input[src.chunk + 1..].iter().all(|c| c.is_empty());
        let allowed = (output_cap - dst.moved).min(usize::MAX as u64) as usize;
        let piece_out: &mut [u8] = if has_output {
            let rest = &mut output[dst.chunk][dst.offset..];
            let n = rest.len().min(allowed);
            &mut rest[..n]
        } else {
            &mut []
        };
        let out_room = piece_out.len();
        let step = match codec.step(piece_in, piece_out, if last_input { feed } else { Feed::More }) {
            Ok(step) => step,
            Err(_) => break Stop::Corrupt,
        };
        let consumed_bytes = &piece_in[..step.consumed];
        match direction {
            Direction::Compress => tracker.plain(consumed_bytes),
            Direction::Decompress => tracker.packed(consumed_bytes),
        }
        if step.produced > 0 {
            let written = &output[dst.chunk][dst.offset..dst.offset + step.produced];
            match direction {
                Direction::Compress => tracker.packed(written),
                Direction::Decompress => tracker.plain(written),
            }
        }
        src.offset += step.consumed;
        src.moved += step.consumed as u64;
        dst.offset += step.produced;
        dst.moved += step.produced as u64;
        if step.ended {
            tracker.member_ended();
            if direction == Direction::Decompress && {
                let (next, n) = peek4(input, &src);
                another_member_follows(format, &next[..n])
            } {
                codec.reset();
                tracker.next_member();
                continue;
            }
            break Stop::Ended;
        }
        if step.consumed == 0 && step.produced == 0 {
            // No progress: which side ran out decides. With both sides open a codec always
            // moves, so a codec that does not is treated as a bad stream (never a spin).
            if out_room == 0 {
                // Full, but would the codec give more? A one-shot stream is over either way, so
                // one byte of scratch can tell "too small" from "nothing more to come" (a
                // truncated input that happened to fill the output exactly).
                if !sides_probe {
                    break Stop::OutputFull;
                }
                match probe(codec, piece_in) {
                    Probe::More => break Stop::OutputFull,
                    // The stream filled the output exactly and only its end was left to say
                    // (zlib-rs reports a raw deflate stream's end on the call after).
                    Probe::Ended => {
                        tracker.member_ended();
                        let another = direction == Direction::Decompress && {
                            let (next, n) = peek4(input, &src);
                            another_member_follows(format, &next[..n])
                        };
                        break if another { Stop::OutputFull } else { Stop::Ended };
                    }
                    Probe::Nothing => break if piece_in.is_empty() { Stop::InputUsed } else { Stop::Corrupt },
                }
            }
            if piece_in.is_empty() {
                break Stop::InputUsed;
            }
            break Stop::Corrupt;
        }
    };
    Pumped { consumed: src.moved, produced: dst.moved, stop }
}

/// What a codec whose output filled does with one more byte of room.
enum Probe {
    /// It produces: the output was too small.
    More,
    /// It says the stream ended, taking and giving nothing: the output held all of it.
    Ended,
    /// Neither (or it fails).
    Nothing,
}

/// Gives the codec one byte of scratch room (the byte is lost: only for streams that end here).
fn probe(codec: &mut dyn Codec, input: &[u8]) -> Probe {
    let mut byte = [0u8; 1];
    match codec.step(input, &mut byte, Feed::Finish) {
        Ok(step) if step.produced > 0 => Probe::More,
        Ok(step) if step.ended && step.consumed == 0 => Probe::Ended,
        _ => Probe::Nothing,
    }
}

/// The next input bytes (up to 4, fewer where the input ends), across chunk boundaries.
fn peek4(input: &[&[u8]], at: &Cursor) -> ([u8; 4], usize) {
    let (mut bytes, mut n) = ([0u8; 4], 0);
    for (i, chunk) in input.iter().enumerate().skip(at.chunk) {
        let from = if i == at.chunk { at.offset.min(chunk.len()) } else { 0 };
        for &b in &chunk[from..] {
            if n == bytes.len() {
                return (bytes, n);
            }
            bytes[n] = b;
            n += 1;
        }
    }
    (bytes, n)
}
