//! COMPRESS and DECOMPRESS against independent implementations, both ways: what the device
//! writes is decoded by the stock tools (gzip, zstd, lz4, Python's zlib and lz4.block), what
//! they write is decoded by the device, for every format, over one SGE and over 16-entry lists.
//! Then the outcomes the data decides: each has its status and leaves the QP usable.

use accelverbs::{
    Access, Compress, CqeStatus, Decompress, ExecPolicy, Format, MemoryRegion, MrSlice, MrSliceMut, WorkCompletion,
};
use accelverbs_tests::stock::{self, compressible};
use accelverbs_tests::{pattern, poll_n, Traffic};

/// Worst-case room for `n` bytes of any format's output (incompressible data grows a little).
fn bound(n: usize) -> usize {
    n + n / 8 + 1024
}

fn traffic() -> Traffic {
    Traffic::new(1, ExecPolicy::Threads, 64)
}

/// Posts one request built by `wr` and returns its completion.
fn run_one<W: accelverbs::WorkRequest>(t: &mut Traffic, wr: W) -> WorkCompletion {
    t.qp.post(wr).expect("post");
    poll_n(&mut t.cq, 1)[0]
}

/// The data in a fresh region with room for `room` output bytes beside it.
fn regions(t: &Traffic, data: &[u8], room: usize) -> (MemoryRegion, MemoryRegion) {
    let mut src = t.mr(data.len().max(1), Access::empty());
    src.as_mut_slice().unwrap()[..data.len()].copy_from_slice(data);
    (src, t.mr(room.max(1), Access::LOCAL_WRITE))
}

fn device_compress(t: &mut Traffic, format: Format, level: i8, data: &[u8]) -> (Vec<u8>, WorkCompletion) {
    let (src, mut dst) = regions(t, data, bound(data.len()));
    let dst_len = dst.len() as u32;
    let wc = run_one(t, Compress::new(1, format, src.slice(0, data.len() as u32), dst.slice_mut(0, dst_len)).level(level));
    assert_eq!(wc.status, CqeStatus::Success, "{format:?} level {level}: {wc:?}");
    assert!(wc.end_of_stream());
    assert_eq!(wc.consumed() as usize, data.len());
    (dst.as_slice().unwrap()[..wc.byte_len as usize].to_vec(), wc)
}

fn device_decompress(t: &mut Traffic, format: Format, packed: &[u8], room: usize) -> (Vec<u8>, WorkCompletion) {
    let (src, mut dst) = regions(t, packed, room);
    let dst_len = room as u32;
    let wc = run_one(t, Decompress::new(2, format, src.slice(0, packed.len() as u32), dst.slice_mut(0, dst_len)));
    (dst.as_slice().unwrap()[..wc.byte_len as usize].to_vec(), wc)
}

fn payloads(sizes: &[usize]) -> Vec<(String, Vec<u8>)> {
    sizes
        .iter()
        .flat_map(|&n| [(format!("random {n}"), pattern(n as u64 + 7, n)), (format!("text {n}"), compressible(n as u64, n))])
        .collect()
}

/// 16 slices of 16 KiB.
const LIST_BYTES: u32 = 16 * (16 << 10);

const SIZES: [usize; 4] = [0, 1, 4096, 1 << 20];

#[test]
fn device_output_is_decoded_by_the_stock_tools() {
    let mut t = traffic();
    for format in Format::ALL {
        for (what, data) in payloads(&SIZES) {
            let (packed, wc) = device_compress(&mut t, format, format.default_level(), &data);
            let back = stock::decompress(format, &packed, data.len());
            assert!(back == data, "{format:?} {what}: stock tool disagrees");
            if let Some(sum) = stock::checksum(format, &data) {
                assert_eq!(wc.checksum(), sum, "{format:?} {what}: checksum");
            }
        }
    }
}

#[test]
fn stock_tool_output_is_decoded_by_the_device() {
    let mut t = traffic();
    for format in Format::ALL {
        for (what, data) in payloads(&SIZES) {
            let packed = stock::compress(format, &data);
            let (back, wc) = device_decompress(&mut t, format, &packed, data.len().max(1));
            assert_eq!(wc.status, CqeStatus::Success, "{format:?} {what}: {wc:?}");
            assert!(back == data, "{format:?} {what}: device disagrees with the stock tool");
            assert_eq!(wc.consumed() as usize, packed.len(), "{format:?} {what}");
            assert!(wc.end_of_stream());
            if let Some(sum) = stock::checksum(format, &data) {
                assert_eq!(wc.checksum(), sum, "{format:?} {what}: checksum");
            }
        }
    }
}

/// The frame formats report the content checksum the stock tool wrote into the frame.
#[test]
fn frame_checksums_are_the_ones_in_the_trailer() {
    let mut t = traffic();
    let data = compressible(3, 10_000);
    for format in [Format::Zstd, Format::Lz4Frame] {
        let packed = stock::compress(format, &data);
        let trailer = u32::from_le_bytes(packed[packed.len() - 4..].try_into().unwrap());
        let (_, wc) = device_decompress(&mut t, format, &packed, data.len());
        assert_eq!(wc.checksum(), trailer, "{format:?}");
        let (ours, wc) = device_compress(&mut t, format, format.default_level(), &data);
        assert_eq!(wc.checksum(), u32::from_le_bytes(ours[ours.len() - 4..].try_into().unwrap()), "{format:?}");
        // A skippable frame after the data frame carries no checksum: the data frame's stands.
        let mut with_skippable = packed.clone();
        with_skippable.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
        with_skippable.extend_from_slice(&3u32.to_le_bytes());
        with_skippable.extend_from_slice(b"abc");
        let (back, wc) = device_decompress(&mut t, format, &with_skippable, data.len());
        assert!(back == data, "{format:?} with a skippable frame");
        assert_eq!((wc.checksum(), wc.consumed() as usize), (trailer, with_skippable.len()), "{format:?} with a skippable frame");
    }
}

#[test]
fn every_level_of_every_format_round_trips() {
    let mut t = traffic();
    let data = compressible(9, 20_000);
    for format in Format::ALL {
        let levels = format.levels();
        let mut sizes = Vec::new();
        for level in [*levels.start(), 0, 1, format.default_level(), *levels.end()] {
            let (packed, _) = device_compress(&mut t, format, level, &data);
            assert!(stock::decompress(format, &packed, data.len()) == data, "{format:?} level {level}");
            sizes.push((level, packed.len()));
        }
        // The top level is never worse than the bottom one: the level reaches the library.
        assert!(sizes.last().unwrap().1 <= sizes[0].1, "{format:?}: {sizes:?}");
    }
    // deflate level 0 stores: the output is a little larger than the input.
    let (stored, _) = device_compress(&mut t, Format::Deflate, 0, &data);
    assert!(stored.len() > data.len());
}

/// 16 slices per side, in several regions, round trip through the stock tools.
#[test]
fn sixteen_entry_lists_gather_and_scatter() {
    let mut t = traffic();
    let data = compressible(5, 100_000);
    for format in Format::ALL {
        // Input: 16 slices spread over two regions, out of order in memory.
        let (mut a, mut b) = (t.mr(128 << 10, Access::empty()), t.mr(128 << 10, Access::empty()));
        let piece = data.len().div_ceil(16);
        let chunks: Vec<&[u8]> = data.chunks(piece).collect();
        assert_eq!(chunks.len(), 16);
        let (abuf, bbuf) = (a.as_mut_slice().unwrap(), b.as_mut_slice().unwrap());
        let mut offsets = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let (buf, at) = if i % 2 == 0 { (&mut *abuf, (15 - i) * 8192) } else { (&mut *bbuf, i * 8192) };
            buf[at..at + chunk.len()].copy_from_slice(chunk);
            offsets.push((i % 2, at, chunk.len() as u32));
        }
        let src: Vec<MrSlice<'_>> =
            offsets.iter().map(|&(r, at, len)| if r == 0 { a.slice(at, len) } else { b.slice(at, len) }).collect();
        // Output: 16 slices of one region, split with gaps the device must not touch.
        let mut out = t.mr(LIST_BYTES as usize, Access::LOCAL_WRITE);
        out.as_mut_slice().unwrap().fill(0xEE);
        let slices = split_with_gaps(out.slice_mut(0, LIST_BYTES), 16, 16 << 10, 1000);
        let wc = run_one(&mut t, Compress::gather(3, format, &src, slices));
        assert_eq!(wc.status, CqeStatus::Success, "{format:?}: {wc:?}");
        assert_eq!(wc.consumed() as usize, data.len());
        let packed = gathered(out.as_slice().unwrap(), 16, 16 << 10, 1000, wc.byte_len as usize);
        assert!(stock::decompress(format, &packed, data.len()) == data, "{format:?}: 16-SGE output");
        assert!(out.as_slice().unwrap().chunks(16 << 10).all(|c| c[(16 << 10) - 1000..].iter().all(|&x| x == 0xEE)));

        // And back: the packed bytes in 16 slices, the output in 16 slices.
        let mut packed_mr = t.mr(packed.len() + 16, Access::empty());
        packed_mr.as_mut_slice().unwrap()[..packed.len()].copy_from_slice(&packed);
        let src = split(packed_mr.slice(0, packed.len() as u32), 16);
        let mut plain = t.mr(LIST_BYTES as usize, Access::LOCAL_WRITE);
        let slices = split_with_gaps(plain.slice_mut(0, LIST_BYTES), 16, 16 << 10, 1000);
        let wc = run_one(&mut t, Decompress::gather(4, format, &src, slices));
        assert_eq!(wc.status, CqeStatus::Success, "{format:?}: {wc:?}");
        assert_eq!(wc.byte_len as usize, data.len());
        assert!(gathered(plain.as_slice().unwrap(), 16, 16 << 10, 1000, data.len()) == data, "{format:?}: 16-SGE input");
    }
}

/// A gathered request needs at least one slice on each side, and at most 16.
#[test]
fn gathered_requests_need_one_to_sixteen_slices_per_side() {
    let mut t = traffic();
    let src = t.mr(4096, Access::empty());
    let mut dst = t.mr(4096, Access::LOCAL_WRITE);
    let err = t.qp.post(Compress::gather(1, Format::Gzip, &[], vec![dst.slice_mut(0, 4096)])).unwrap_err();
    assert_eq!(err, accelverbs::PostError::SgeCount { max: 16 });
    let seventeen: Vec<MrSlice<'_>> = (0..17).map(|i| src.slice(i * 16, 16)).collect();
    let err = t.qp.post(Compress::gather(2, Format::Gzip, &seventeen, vec![dst.slice_mut(0, 4096)])).unwrap_err();
    assert_eq!(err, accelverbs::PostError::SgeCount { max: 16 });
    assert!(!src.in_flight() && !dst.in_flight(), "a refused request holds nothing");
    let wc = run_one(&mut t, Compress::gather(3, Format::Gzip, &seventeen[..16], vec![dst.slice_mut(0, 4096)]));
    assert_eq!(wc.status, CqeStatus::Success);
}

/// `n` slices of `stride` bytes, each missing its last `gap` bytes.
fn split_with_gaps(mut whole: MrSliceMut<'_>, n: usize, stride: u32, gap: u32) -> Vec<MrSliceMut<'_>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (this, rest) = whole.split_at(stride);
        out.push(this.split_at(stride - gap).0);
        whole = rest;
    }
    out
}

fn split(mut whole: MrSlice<'_>, n: u32) -> Vec<MrSlice<'_>> {
    let piece = whole.len().div_ceil(n);
    (0..n)
        .map(|_| {
            let (this, rest) = whole.split_at(piece);
            whole = rest;
            this
        })
        .collect()
}

fn gathered(buf: &[u8], n: usize, stride: usize, gap: usize, len: usize) -> Vec<u8> {
    buf.chunks(stride).take(n).flat_map(|c| &c[..stride - gap]).copied().take(len).collect()
}

/// In place: the output overwrites the input's own bytes.
#[test]
fn in_place_requests_in_one_region() {
    let mut t = traffic();
    let data = compressible(8, 50_000);
    for format in Format::ALL {
        let room = bound(data.len());
        let mut region = t.mr(room, Access::LOCAL_WRITE);
        region.as_mut_slice().unwrap()[..data.len()].copy_from_slice(&data);
        let wc = run_one(&mut t, Compress::within(5, format, &mut region, (0, data.len() as u32), (0, room as u32)));
        assert_eq!(wc.status, CqeStatus::Success, "{format:?}: {wc:?}");
        let packed = region.as_slice().unwrap()[..wc.byte_len as usize].to_vec();
        assert!(stock::decompress(format, &packed, data.len()) == data, "{format:?}: compressed in place");

        // Decompress in place too, the packed bytes at the end of the region.
        let at = room - packed.len();
        region.as_mut_slice().unwrap()[at..].copy_from_slice(&packed);
        let wc = run_one(&mut t, Decompress::within(6, format, &mut region, (at, packed.len() as u32), (0, room as u32)));
        assert_eq!(wc.status, CqeStatus::Success, "{format:?}: {wc:?}");
        assert!(region.as_slice().unwrap()[..wc.byte_len as usize] == data[..], "{format:?}: decompressed in place");
    }
}

/// 64 MiB of random and of text-like data, every format, both ways, the input gathered from 16
/// slices: the large end of the sizes, at level 1 to keep the stock tools' side quick.
#[test]
fn sixty_four_mib_round_trips_both_ways() {
    const SIZE: usize = 64 << 20;
    let mut t = traffic();
    for (what, data) in [("random", pattern(64, SIZE)), ("text", compressible(64, SIZE))] {
        let mut plain = t.mr(SIZE, Access::empty());
        plain.as_mut_slice().unwrap().copy_from_slice(&data);
        for format in Format::ALL {
            let room = bound(SIZE);
            let mut out = t.mr(room, Access::LOCAL_WRITE);
            let level = if format == Format::Zstd { 1 } else { (*format.levels().start()).max(1) };
            let src = split(plain.slice(0, SIZE as u32), 16);
            let wc = run_one(&mut t, Compress::gather(1, format, &src, vec![out.slice_mut(0, room as u32)]).level(level));
            assert_eq!((wc.status, wc.consumed() as usize), (CqeStatus::Success, SIZE), "{format:?} {what}: {wc:?}");
            let packed = &out.as_slice().unwrap()[..wc.byte_len as usize];
            assert!(stock::decompress(format, packed, SIZE) == data, "{format:?} {what}: stock tool disagrees");

            let theirs = stock::compress(format, &data);
            let (back, wc) = device_decompress(&mut t, format, &theirs, SIZE);
            assert_eq!(wc.status, CqeStatus::Success, "{format:?} {what}: {wc:?}");
            assert!(back == data, "{format:?} {what}: device disagrees with the stock tool");
        }
    }
}
