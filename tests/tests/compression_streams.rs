//! Compression contexts: streams carried across requests. Stock tools' files decoded in
//! arbitrary chunks into small buffers, compression with flush and finish decoded by the stock
//! tools, EBUSY while queued work names a context, cleanup with the context, and streams that
//! never mix under several engines and threads.

use accelverbs::{
    Access, Compress, CompressionStream, CqeStatus, Decompress, ExecPolicy, Format, Nop, QpInit, StreamDirection, WorkCompletion,
};
use accelverbs_tests::raw::RawFile;
use accelverbs_tests::stock::{self, compressible};
use accelverbs_tests::{pattern, poll_n, Traffic};

const STREAM_FORMATS: [Format; 5] = [Format::Deflate, Format::Zlib, Format::Gzip, Format::Lz4Frame, Format::Zstd];

fn run_one<W: accelverbs::WorkRequest>(t: &mut Traffic, wr: W) -> WorkCompletion {
    t.qp.post(wr).expect("post");
    poll_n(&mut t.cq, 1)[0]
}

/// Decodes `packed` through `stream`, posting `chunk` input bytes at a time into `room`-byte
/// outputs, as an application reading a file would: what a request did not consume goes
/// again, and empty requests drain the stream until it ends.
fn stream_decode(t: &mut Traffic, stream: &CompressionStream, packed: &[u8], chunk: usize, room: u32) -> Vec<u8> {
    let mut input = t.mr(chunk.max(1), Access::empty());
    let mut output = t.mr(room as usize, Access::LOCAL_WRITE);
    let mut plain = Vec::new();
    let mut at = 0;
    for _round in 0..1_000_000 {
        let n = chunk.min(packed.len() - at);
        input.as_mut_slice().unwrap()[..n].copy_from_slice(&packed[at..at + n]);
        let wc = run_one(
            t,
            Decompress::new(1, stream.format(), input.slice(0, n as u32), output.slice_mut(0, room)).in_stream(stream),
        );
        assert!(matches!(wc.status, CqeStatus::Success | CqeStatus::OutputTooSmall), "{:?} at {at}: {wc:?}", stream.format());
        plain.extend_from_slice(&output.as_slice().unwrap()[..wc.byte_len as usize]);
        at += wc.consumed() as usize;
        if wc.end_of_stream() && at == packed.len() {
            return plain;
        }
    }
    panic!("{:?}: the stream never ended", stream.format());
}

/// Encodes `data` through `stream`, `chunk` bytes per request (flushing every `flush_every`
/// requests), finishing with the last, into `room`-byte outputs.
fn stream_encode(
    t: &mut Traffic,
    stream: &CompressionStream,
    data: &[u8],
    chunk: usize,
    room: u32,
    flush_every: usize,
) -> Vec<u8> {
    let mut input = t.mr(chunk.max(1), Access::empty());
    let mut output = t.mr(room as usize, Access::LOCAL_WRITE);
    let mut packed = Vec::new();
    let mut at = 0;
    for round in 1..1_000_000 {
        let n = chunk.min(data.len() - at);
        input.as_mut_slice().unwrap()[..n].copy_from_slice(&data[at..at + n]);
        let last = at + n == data.len();
        let mut wr = Compress::new(2, stream.format(), input.slice(0, n as u32), output.slice_mut(0, room)).in_stream(stream);
        if last {
            wr = wr.finish();
        } else if round % flush_every == 0 {
            wr = wr.flush();
        }
        let wc = run_one(t, wr);
        assert!(matches!(wc.status, CqeStatus::Success | CqeStatus::OutputTooSmall), "{:?}: {wc:?}", stream.format());
        packed.extend_from_slice(&output.as_slice().unwrap()[..wc.byte_len as usize]);
        at += wc.consumed() as usize;
        if wc.end_of_stream() {
            assert_eq!(at, data.len(), "ended before the input did");
            return packed;
        }
    }
    panic!("{:?}: the stream never ended", stream.format());
}

#[test]
fn stock_files_decode_in_any_chunks() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let data = [compressible(1, 300_000), pattern(2, 50_000)].concat();
    for format in STREAM_FORMATS {
        let packed = stock::compress(format, &data);
        let stream = t.base.pd.decompression_stream(format).unwrap();
        for (chunk, room) in [(1, 1), (7, 3000), (4096, 4096), (65_536, 1 << 20), (packed.len(), 100)] {
            if chunk == 1 && packed.len() > 100_000 {
                // Byte by byte only over the start: a million round trips prove nothing more.
                let head = stream_decode(&mut t, &stream, &stock::compress(format, &data[..5000]), 1, 1);
                assert!(head == data[..5000], "{format:?} byte by byte");
                continue;
            }
            let back = stream_decode(&mut t, &stream, &packed, chunk, room);
            assert!(back == data, "{format:?} in {chunk}-byte chunks into {room}-byte outputs");
        }
    }
}

#[test]
fn multi_member_files_decode_through_one_stream() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let (a, b) = (compressible(3, 70_000), compressible(4, 20_000));
    for format in [Format::Gzip, Format::Zstd, Format::Lz4Frame] {
        let packed = [stock::compress(format, &a), stock::compress(format, &b)].concat();
        let stream = t.base.pd.decompression_stream(format).unwrap();
        // Chunks that cut the second member's header.
        let back = stream_decode(&mut t, &stream, &packed, 1021, 4096);
        assert!(back == [a.as_slice(), b.as_slice()].concat(), "{format:?}");
    }
}

#[test]
fn streamed_compression_with_flushes_is_decoded_by_the_stock_tools() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let data = [compressible(5, 200_000), pattern(6, 30_000)].concat();
    for format in STREAM_FORMATS {
        for level in [*format.levels().start(), format.default_level()] {
            let stream = t.base.pd.compression_stream(format, level).unwrap();
            for (chunk, room, flush_every) in [(10_000, 64 << 10, 3), (4096, 100, 1), (data.len(), 1 << 20, 1)] {
                let packed = stream_encode(&mut t, &stream, &data, chunk, room, flush_every);
                let back = stock::decompress(format, &packed, data.len());
                assert!(back == data, "{format:?} level {level}, {chunk}-byte chunks, {room}-byte outputs");
            }
        }
    }
}

/// A flush makes everything so far decodable: the output up to it decodes to the input up to it.
#[test]
fn a_flush_makes_the_input_so_far_decodable() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let data = compressible(7, 40_000);
    let stream = t.base.pd.compression_stream(Format::Zlib, 6).unwrap();
    let input = {
        let mut mr = t.mr(data.len(), Access::empty());
        mr.as_mut_slice().unwrap().copy_from_slice(&data);
        mr
    };
    let mut output = t.mr(1 << 20, Access::LOCAL_WRITE);
    let wc = run_one(
        &mut t,
        Compress::new(3, Format::Zlib, input.slice(0, 25_000), output.slice_mut(0, 1 << 20)).in_stream(&stream).flush(),
    );
    assert_eq!((wc.status, wc.consumed(), wc.end_of_stream()), (CqeStatus::Success, 25_000, false));
    let partial = output.as_slice().unwrap()[..wc.byte_len as usize].to_vec();
    let script = "import sys, zlib\nd = zlib.decompressobj()\nsys.stdout.buffer.write(d.decompress(sys.stdin.buffer.read()))";
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&partial)?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.stdout == data[..25_000], "the flushed prefix decodes to the input so far");
}

#[test]
fn a_context_named_by_queued_work_is_busy() {
    // No engine and a CQ with room for one completion: the second request waits in the ring.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let cq = t.base.ctx.create_cq(1, None).unwrap();
    t.qp = t.base.pd.create_qp(&cq, QpInit::new(8)).unwrap();
    t.cq = cq;
    let stream = t.base.pd.decompression_stream(Format::Gzip).unwrap();
    let packed = stock::compress(Format::Gzip, b"hello");
    let mut input = t.mr(64, Access::empty());
    input.as_mut_slice().unwrap()[..packed.len()].copy_from_slice(&packed);
    let mut output = t.mr(64, Access::LOCAL_WRITE);
    let cq_room = t.cq.capacity();
    for i in 0..cq_room {
        t.qp.post(Nop::new(u64::from(i))).unwrap();
    }
    t.qp.post(Decompress::new(9, Format::Gzip, input.slice(0, packed.len() as u32), output.slice_mut(0, 64)).in_stream(&stream))
        .unwrap();
    let other = t.base.pd.decompression_stream(Format::Gzip).unwrap();
    assert_eq!(other.destroy().map_err(|e| e.errno()), Ok(()), "a context no request names goes at once");
    let number = stream.number();
    assert_eq!(stream.destroy().err().and_then(|e| e.errno()), Some(libc::EBUSY), "stream {number} is queued");
    // Completions drain; the request runs and the context (still held by it) then goes.
    let wcs = poll_n(&mut t.cq, cq_room as usize + 1);
    let last = wcs.last().unwrap();
    assert_eq!((last.wr_id, last.status, last.byte_len), (9, CqeStatus::Success, 5));
    assert!(output.as_slice().unwrap().starts_with(b"hello"));
    t.qp.post(Nop::new(99)).unwrap();
    poll_n(&mut t.cq, 1);
    assert_eq!(t.base.ctx.device_resources().unwrap().comp_streams, 0, "freed once its last request retired");
}

/// Closing a file destroys its contexts, like every other object (driven through the raw
/// ioctls: the safe API's objects keep their file open).
#[test]
fn contexts_are_freed_with_their_file() {
    let device = accelverbs_tests::device(1);
    let observer = device.open().unwrap();
    let file = RawFile::new(device.open_channel().unwrap());
    file.get_context().unwrap();
    let pd = file.alloc_pd().unwrap();
    for level in 0..10 {
        file.create_stream(pd, Format::Zstd, StreamDirection::Compress, level).unwrap();
    }
    assert_eq!(observer.device_resources().unwrap().comp_streams, 10);
    assert_eq!(file.destroy_pd(pd), Err(libc::EBUSY), "the streams hold their PD");
    drop(file);
    assert_eq!(observer.device_resources().unwrap().comp_streams, 0, "closing the file destroyed them");
}

/// Several threads, each with its own QP and stream, on a device with two engines (and inline
/// contexts beside them): every stream decodes to its own data.
#[test]
fn streams_never_mix_under_engines_and_threads() {
    let device = accelverbs_tests::device(2);
    std::thread::scope(|s| {
        for worker in 0..4u64 {
            let device = &device;
            s.spawn(move || {
                let policy = if worker % 2 == 0 { ExecPolicy::Threads } else { ExecPolicy::Inline };
                let ctx = device.open_with(accelverbs::ContextOptions { policy, ..Default::default() }).unwrap();
                let pd = ctx.alloc_pd().unwrap();
                let cq = ctx.create_cq(32, None).unwrap();
                let qp = pd.create_qp(&cq, QpInit::new(16)).unwrap();
                let mut t = Traffic { base: accelverbs_tests::Base { device: device.clone(), ctx, pd }, cq, qp };
                for round in 0..3 {
                    let format = STREAM_FORMATS[(worker as usize + round) % STREAM_FORMATS.len()];
                    let data = compressible(worker * 10 + round as u64, 60_000 + worker as usize * 1000);
                    let up = t.base.pd.compression_stream(format, 1).unwrap();
                    let packed = stream_encode(&mut t, &up, &data, 3000 + worker as usize, 2000, 4);
                    let down = t.base.pd.decompression_stream(format).unwrap();
                    let back = stream_decode(&mut t, &down, &packed, 1500, 3000);
                    assert!(back == data, "worker {worker} round {round} {format:?}: streams mixed");
                }
            });
        }
    });
}

/// The ratio limit holds over a whole stream: a bomb posted in small chunks still stops.
#[test]
fn the_ratio_limit_holds_across_a_stream() {
    let base = Traffic::new(1, ExecPolicy::Threads, 8);
    let cq = base.base.ctx.create_cq(16, None).unwrap();
    let qp = base.base.pd.create_qp(&cq, QpInit::new(8).max_decompress_ratio(100)).unwrap();
    let mut t = Traffic { base: base.base, cq, qp };
    let packed = stock::compress(Format::Gzip, &vec![0u8; 8 << 20]);
    let stream = t.base.pd.decompression_stream(Format::Gzip).unwrap();
    let mut input = t.mr(256, Access::empty());
    let mut output = t.mr(1 << 20, Access::LOCAL_WRITE);
    let (mut at, mut produced) = (0usize, 0u64);
    let status = loop {
        let n = 256.min(packed.len() - at);
        input.as_mut_slice().unwrap()[..n].copy_from_slice(&packed[at..at + n]);
        let wc = run_one(
            &mut t,
            Decompress::new(1, Format::Gzip, input.slice(0, n as u32), output.slice_mut(0, 1 << 20)).in_stream(&stream),
        );
        at += wc.consumed() as usize;
        produced += u64::from(wc.byte_len);
        if wc.status != CqeStatus::Success || wc.end_of_stream() {
            break wc.status;
        }
    };
    assert_eq!(status, CqeStatus::OutputLimit);
    // The bound: the ratio times the input consumed before the last request plus its input.
    assert!(produced <= 100 * (at as u64 + 256), "produced {produced} from {at} input bytes");
}
