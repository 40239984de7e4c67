//! A hostile user's attack on deflate, zlib and gzip compression at levels 1 and 2, which run
//! on ISA-L's igzip (dc7a2b4) where every other level runs on zlib-rs, the codec the pump was
//! written for. What a user relies on must not depend on which library a level picked: streams
//! cut anywhere (outputs of a byte, scattered lists, buffers rewritten between requests) decode
//! with Python's zlib at every completed flush and at the end; one-shot outputs that fit exactly
//! or a byte short complete as at level 6, with the same checksum field; a stream misused after
//! a FINISH that ran out of room is refused as zlib-rs refuses it, never a silently corrupt
//! stream.

use accelverbs::{Access, Compress, CompressionStream, CqeStatus, ExecPolicy, Format, MrSliceMut, WorkCompletion};
use accelverbs_tests::stock::{self, compressible};
use accelverbs_tests::{pattern, poll_n, Rng, Traffic};

const DEFLATE_FORMATS: [Format; 3] = [Format::Deflate, Format::Zlib, Format::Gzip];
/// ISA-L's two levels, and zlib-rs's default as the reference.
const LEVELS: [i8; 3] = [1, 2, 6];

fn run_one<W: accelverbs::WorkRequest>(t: &mut Traffic, wr: W) -> WorkCompletion {
    t.qp.post(wr).expect("post");
    poll_n(&mut t.cq, 1)[0]
}

/// What Python's zlib decodes from `packed` without asking for the stream's end: everything a
/// completed flush made decodable.
fn python_prefix(format: Format, packed: &[u8]) -> Vec<u8> {
    let wbits = match format {
        Format::Deflate => -15,
        Format::Zlib => 15,
        _ => 31,
    };
    let script = format!(
        "import sys, zlib\nd = zlib.decompressobj({wbits})\nsys.stdout.buffer.write(d.decompress(sys.stdin.buffer.read()))"
    );
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            let mut stdin = c.stdin.take().unwrap();
            let packed = packed.to_vec();
            let writer = std::thread::spawn(move || stdin.write_all(&packed));
            let out = c.wait_with_output();
            writer.join().unwrap()?;
            out
        })
        .expect("run python3");
    assert!(
        out.status.success(),
        "{format:?}: Python's zlib refused the prefix (starting {:02x?}): {}",
        &packed[..packed.len().min(12)],
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `room` bytes of `whole` from 0 as 1 to 4 slices (some of a byte or two when `rng` says).
fn scattered<'a>(rng: &mut Rng, mut whole: MrSliceMut<'a>, room: u32) -> Vec<MrSliceMut<'a>> {
    whole = whole.split_at(room).0;
    let pieces = 1 + rng.below(4.min(u64::from(room))) as u32;
    let mut out = Vec::new();
    let mut left = room;
    for i in 0..pieces {
        let len = if i + 1 == pieces { left } else { 1 + rng.below(u64::from(left - (pieces - 1 - i))) as u32 };
        let (this, rest) = whole.split_at(len);
        out.push(this);
        whole = rest;
        left -= len;
    }
    out
}

/// One stream session, cut at random: input pieces of 0 to 70 000 bytes, outputs of 1 byte to
/// 64 KiB (some scattered), flushes now and then, FINISH with the last input and again until
/// the stream ends; the input and output buffers are rewritten before every request. Checks
/// each completion's status and, at the first completed flushes and at the end, that Python's
/// zlib decodes the output to the input so far. How many requests it took.
fn session(t: &mut Traffic, rng: &mut Rng, stream: &CompressionStream, data: &[u8], what: &str) -> usize {
    const ROOM: usize = 64 << 10;
    let format = stream.format();
    let mut input = t.mr(70_000, Access::empty());
    let mut output = t.mr(ROOM, Access::LOCAL_WRITE);
    let (mut at, mut packed, mut finishing, mut checked_flushes) = (0usize, Vec::new(), false, 0);
    for request in 0..200_000 {
        let n = match rng.below(4) {
            _ if finishing => data.len() - at,
            0 => 0,
            1 => rng.below(300) as usize,
            _ => rng.below(70_000) as usize,
        }
        .min(data.len() - at);
        let last = at + n == data.len();
        finishing |= last && rng.chance(60);
        let flush = !finishing && rng.chance(30);
        let room = match rng.below(8) {
            0 => 1 + rng.below(8) as u32,
            1..=3 => 1 + rng.below(5000) as u32,
            _ => ROOM as u32,
        };
        // Stale bytes in both buffers: the codec must not have kept a pointer into either.
        input.as_mut_slice().unwrap().fill(0xA5);
        input.as_mut_slice().unwrap()[..n].copy_from_slice(&data[at..at + n]);
        output.as_mut_slice().unwrap().fill(0x5A);
        let src = input.slice(0, n as u32);
        let mut wr = if rng.chance(30) {
            let dst = scattered(rng, output.slice_mut(0, ROOM as u32), room);
            Compress::gather(request as u64, format, &[src], dst).in_stream(stream)
        } else {
            Compress::new(request as u64, format, src, output.slice_mut(0, room)).in_stream(stream)
        };
        if finishing {
            wr = wr.finish();
        } else if flush {
            wr = wr.flush();
        }
        let wc = run_one(t, wr);
        let consumed = wc.consumed() as usize;
        let ctx = format!("{what}, request {request} ({n} bytes in, {room} out, finish {finishing}, flush {flush}): {wc:?}");
        match wc.status {
            CqeStatus::Success => assert_eq!(consumed, n, "{ctx}"),
            CqeStatus::OutputTooSmall => assert!(consumed < n && wc.byte_len == room, "{ctx}"),
            _ => panic!("{ctx}"),
        }
        assert!(wc.byte_len <= room, "{ctx}");
        packed.extend_from_slice(&output.as_slice().unwrap()[..wc.byte_len as usize]);
        at += consumed;
        if wc.end_of_stream() {
            assert!(finishing && at == data.len(), "{ctx}: ended early");
            let back = stock::decompress(format, &packed, data.len());
            assert!(back == data, "{ctx}: the stream decodes to something else ({} bytes of {})", back.len(), data.len());
            assert_eq!(Some(wc.checksum()), stock::checksum(format, data), "{ctx}: the checksum field");
            return request + 1;
        }
        // A flush is complete when it took all its input and left room.
        if flush && wc.status == CqeStatus::Success && wc.byte_len < room && checked_flushes < 2 {
            checked_flushes += 1;
            let prefix = python_prefix(format, &packed);
            assert!(prefix == data[..at], "{ctx}: the flushed output decodes to {} bytes, not the {at} given", prefix.len());
        }
    }
    panic!("{what}: the stream never ended");
}

#[test]
fn streams_cut_anywhere_decode_at_every_flush_and_at_the_end() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let mut rng = Rng(0x15A1_5EED);
    for format in DEFLATE_FORMATS {
        for level in LEVELS {
            let stream = t.base.pd.compression_stream(format, level).unwrap();
            // One context across sessions: each end restarts it.
            for round in 0..5u64 {
                let len = [0, 1 + rng.below(2000) as usize, 150_000, 40_000, 300_000][round as usize];
                let mut data = compressible(round * 31 + level as u64, len);
                // Incompressible stretches: stored blocks, long matches broken, and in the
                // last round more than igzip's token buffer takes at once.
                let noisy = if round == 4 { len / 2 } else { 5000 };
                if len > 10_000 {
                    data[len / 3..len / 3 + noisy].copy_from_slice(&pattern(round, noisy));
                }
                let what = format!("{format:?} level {level} round {round} ({len} bytes)");
                session(&mut t, &mut rng, &stream, &data, &what);
            }
        }
    }
}

/// A FINISH that ran out of output has begun the stream's last block: zlib-rs then refuses a
/// request that is not a FINISH, or brings more input, with `GeneralError` (its stream error)
/// and the context starts over. ISA-L would go on, writing blocks after the final one: Success
/// for a stream no decoder accepts. Every level must refuse alike.
#[test]
fn a_request_after_a_finish_that_ran_out_of_room_is_refused_at_every_level() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let data = compressible(21, 2000);
    let mut input = t.mr(data.len(), Access::empty());
    input.as_mut_slice().unwrap().copy_from_slice(&data);
    let mut output = t.mr(64 << 10, Access::LOCAL_WRITE);
    for format in DEFLATE_FORMATS {
        for level in LEVELS {
            for misuse in ["flush", "no flag", "finish with more input"] {
                let what = format!("{format:?} level {level}, then {misuse}");
                let stream = t.base.pd.compression_stream(format, level).unwrap();
                let cut = Compress::new(1, format, input.slice(0, 1500), output.slice_mut(0, 10)).in_stream(&stream).finish();
                let wc = run_one(&mut t, cut);
                assert_eq!(
                    (wc.status, wc.consumed(), wc.byte_len, wc.end_of_stream()),
                    (CqeStatus::Success, 1500, 10, false),
                    "{what}"
                );
                let next = match misuse {
                    "flush" => Compress::new(2, format, input.slice(0, 0), output.slice_mut(0, 64 << 10)).flush(),
                    "no flag" => Compress::new(2, format, input.slice(0, 0), output.slice_mut(0, 64 << 10)),
                    _ => Compress::new(2, format, input.slice(1500, 500), output.slice_mut(0, 64 << 10)).finish(),
                };
                let wc = run_one(&mut t, next.in_stream(&stream));
                assert_eq!((wc.status, wc.end_of_stream()), (CqeStatus::GeneralError, false), "{what}: {wc:?}");
                // The context started over: a whole stream in one request.
                let wc = run_one(
                    &mut t,
                    Compress::new(3, format, input.slice(0, 2000), output.slice_mut(0, 64 << 10)).in_stream(&stream).finish(),
                );
                assert_eq!((wc.status, wc.end_of_stream()), (CqeStatus::Success, true), "{what}: {wc:?}");
                let packed = output.as_slice().unwrap()[..wc.byte_len as usize].to_vec();
                assert!(stock::decompress(format, &packed, data.len()) == data, "{what}: the restarted stream");
            }
        }
    }
}

/// One-shot requests whose output fits exactly, a byte short, or is scattered down to single
/// bytes: the same statuses at levels 1 and 2 as at level 6, the exact bytes of the ample run,
/// and the format's checksum in the completion.
#[test]
fn one_shot_outputs_that_fit_exactly_or_a_byte_short_complete_as_at_level_6() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    for (name, data) in
        [("empty", Vec::new()), ("a byte", vec![b'x']), ("text", compressible(22, 50_000)), ("noise", pattern(23, 3000))]
    {
        let mut input = t.mr(data.len().max(1), Access::empty());
        input.as_mut_slice().unwrap()[..data.len()].copy_from_slice(&data);
        let mut output = t.mr(data.len() * 2 + 4096, Access::LOCAL_WRITE);
        let room = output.len() as u32;
        for format in DEFLATE_FORMATS {
            let expected_sum = stock::checksum(format, &data);
            for level in LEVELS {
                let what = format!("{format:?} level {level}, {name}");
                let one = |t: &mut Traffic, dst: Vec<MrSliceMut<'_>>| {
                    run_one(t, Compress::gather(1, format, &[input.slice(0, data.len() as u32)], dst).level(level))
                };
                let wc = one(&mut t, vec![output.slice_mut(0, room)]);
                assert_eq!((wc.status, wc.end_of_stream()), (CqeStatus::Success, true), "{what}: {wc:?}");
                assert_eq!(Some(wc.checksum()), expected_sum, "{what}: the checksum field");
                assert_eq!(wc.consumed() as usize, data.len(), "{what}");
                let size = wc.byte_len;
                let packed = output.as_slice().unwrap()[..size as usize].to_vec();
                assert!(stock::decompress(format, &packed, data.len()) == data, "{what}: the stock tool decodes it");

                output.as_mut_slice().unwrap().fill(0);
                let exact = one(&mut t, vec![output.slice_mut(0, size)]);
                assert_eq!(
                    (exact.status, exact.byte_len, exact.checksum()),
                    (CqeStatus::Success, size, wc.checksum()),
                    "{what}: exact"
                );
                assert!(output.as_slice().unwrap()[..size as usize] == packed[..], "{what}: exact, other bytes");

                // The exact size scattered: single bytes first, the rest in one piece.
                output.as_mut_slice().unwrap().fill(0);
                let ones = (size as usize - 1).min(15);
                let mut whole = output.slice_mut(0, size);
                let mut dst = Vec::new();
                for _ in 0..ones {
                    let (byte, rest) = whole.split_at(1);
                    dst.push(byte);
                    whole = rest;
                }
                dst.push(whole);
                let wc = one(&mut t, dst);
                assert_eq!((wc.status, wc.byte_len), (CqeStatus::Success, size), "{what}: exact, in {} pieces", ones + 1);
                assert!(output.as_slice().unwrap()[..size as usize] == packed[..], "{what}: scattered, other bytes");

                for short in [size - 1, 1] {
                    if short >= size {
                        continue;
                    }
                    let wc = one(&mut t, vec![output.slice_mut(0, short)]);
                    assert_eq!(
                        (wc.status, wc.end_of_stream(), wc.byte_len),
                        (CqeStatus::OutputTooSmall, false, short),
                        "{what}: {short} of {size} bytes"
                    );
                }
            }
        }
    }
}

/// Flush and finish repeated with empty input: once a flush is complete, more flushes add
/// nothing, as at level 6; a flush that fills its output exactly still decodes (an empty flush
/// after it may add an empty block); FINISH after the end starts and ends an empty stream.
#[test]
fn flushes_and_finishes_repeated_with_empty_input() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let data = compressible(24, 30_000);
    let mut input = t.mr(data.len(), Access::empty());
    input.as_mut_slice().unwrap().copy_from_slice(&data);
    let mut output = t.mr(64 << 10, Access::LOCAL_WRITE);
    let room = 64 << 10;
    for format in DEFLATE_FORMATS {
        for level in LEVELS {
            let what = format!("{format:?} level {level}");
            let stream = t.base.pd.compression_stream(format, level).unwrap();
            let twin = t.base.pd.compression_stream(format, level).unwrap();
            let mut post = |t: &mut Traffic, stream: &CompressionStream, from: usize, n: u32, room: u32, finish: bool| {
                let wr = Compress::new(1, format, input.slice(from, n), output.slice_mut(0, room)).in_stream(stream);
                let wc = run_one(t, if finish { wr.finish() } else { wr.flush() });
                (wc, output.as_slice().unwrap()[..wc.byte_len as usize].to_vec())
            };
            // How many bytes the first flush takes, from a twin context with room to spare.
            let (wc, _) = post(&mut t, &twin, 0, 20_000, room, false);
            let flushed_size = wc.byte_len;
            let (wc, mut packed) = post(&mut t, &stream, 0, 20_000, flushed_size, false);
            assert_eq!((wc.status, wc.consumed(), wc.byte_len), (CqeStatus::Success, 20_000, flushed_size), "{what}: {wc:?}");
            assert!(python_prefix(format, &packed) == data[..20_000], "{what}: the flush that filled its output");
            let (wc, more) = post(&mut t, &stream, 0, 0, room, false);
            assert!(wc.status == CqeStatus::Success && wc.byte_len <= 6, "{what}: an empty flush after it: {wc:?}");
            packed.extend_from_slice(&more);
            for again in 0..3 {
                let (wc, _) = post(&mut t, &stream, 0, 0, room, false);
                assert_eq!((wc.status, wc.byte_len, wc.end_of_stream()), (CqeStatus::Success, 0, false), "{what}: flush {again}");
            }
            let (wc, more) = post(&mut t, &stream, 20_000, 10_000, room, true);
            assert_eq!((wc.status, wc.end_of_stream()), (CqeStatus::Success, true), "{what}: {wc:?}");
            packed.extend_from_slice(&more);
            assert!(stock::decompress(format, &packed, data.len()) == data, "{what}: the whole stream");
            let (wc, empty) = post(&mut t, &stream, 0, 0, room, true);
            assert_eq!((wc.status, wc.end_of_stream()), (CqeStatus::Success, true), "{what}: FINISH after the end: {wc:?}");
            assert_eq!(Some(wc.checksum()), stock::checksum(format, b""), "{what}: the empty stream's checksum");
            assert!(stock::decompress(format, &empty, 0).is_empty(), "{what}: the empty stream");
        }
    }
}
