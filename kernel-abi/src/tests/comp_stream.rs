//! Compression contexts: what CREATE accepts, EBUSY while work names the context, the PD kept
//! busy, the device's limit, and removal from the device when the object goes.

use accelverbs_uapi::compress::{Format, StreamDirection};

use super::fixture::{Base, LIMITS};
use super::limits::fill_refuse_release;
use super::mock::Event;
use crate::Errno;

const COMPRESS: u32 = StreamDirection::Compress as u32;
const DECOMPRESS: u32 = StreamDirection::Decompress as u32;

fn level(l: i8) -> u32 {
    i32::from(l) as u32
}

#[test]
fn create_takes_every_streaming_format_at_its_levels() {
    let b = Base::new();
    for format in Format::ALL.into_iter().filter(|f| f.streams()) {
        let (lo, hi) = (*format.levels().start(), *format.levels().end());
        for l in [lo, hi] {
            let s = b.pd.create_comp_stream(u32::from(format as u8), COMPRESS, level(l)).unwrap();
            let installed = b.hw().streams();
            let setup = installed.iter().find(|(n, _)| *n == s.number()).expect("installed").1;
            assert_eq!(
                (setup.format, setup.direction, setup.level, setup.pdn),
                (format, StreamDirection::Compress, l, b.pd.pdn())
            );
        }
        b.pd.create_comp_stream(u32::from(format as u8), DECOMPRESS, 0).unwrap();
    }
}

#[test]
fn create_refuses_what_no_stream_can_be() {
    let b = Base::new();
    let gzip = u32::from(Format::Gzip as u8);
    for (what, format, direction, lvl) in [
        ("unknown format", 0, COMPRESS, 0),
        ("format beyond a byte", 0x103, COMPRESS, 0),
        ("LZ4 blocks have no stream", u32::from(Format::Lz4Block as u8), COMPRESS, 1),
        ("unknown direction", gzip, 2, 0),
        ("gzip level 10", gzip, COMPRESS, 10),
        ("gzip level -1", gzip, COMPRESS, level(-1)),
        ("level beyond an i8", gzip, COMPRESS, 300),
        ("a level for decompression", gzip, DECOMPRESS, 1),
    ] {
        assert_eq!(b.pd.create_comp_stream(format, direction, lvl).err(), Some(Errno::EINVAL), "{what}");
    }
    assert!(b.hw().streams().is_empty(), "nothing installed");
    assert_eq!(b.driver.resources().comp_streams, 0, "nothing counted");
}

#[test]
fn busy_streams_refuse_destroy_and_keep_their_pd_busy() {
    let b = Base::new();
    let s = b.pd.create_comp_stream(u32::from(Format::Zstd as u8), COMPRESS, 3).unwrap();
    assert_eq!(b.pd.check_destroy(), Err(Errno::EBUSY), "the stream holds its PD");
    b.hw().set_stream_busy(s.number(), true);
    assert_eq!(s.check_destroy(), Err(Errno::EBUSY));
    b.hw().set_stream_busy(s.number(), false);
    assert_eq!(s.check_destroy(), Ok(()));
    let number = s.number();
    drop(s);
    assert!(b.hw().events().contains(&Event::DestroyStream(number)));
    assert!(b.hw().streams().is_empty());
    assert_eq!(b.pd.check_destroy(), Ok(()));
}

#[test]
fn streams_stop_at_max_comp_streams() {
    let b = Base::new();
    let zlib = u32::from(Format::Zlib as u8);
    fill_refuse_release(&b.driver, LIMITS.max_comp_streams, |r| r.comp_streams, || b.pd.create_comp_stream(zlib, DECOMPRESS, 0));
}
