//! Per-thread scratch memory for the requests that cannot work on the application's buffers
//! directly: in-place requests (the input staged first) and LZ4 blocks over scattered buffers
//! (liblz4 takes one contiguous buffer per side). Kept between requests; trimmed after one
//! that needed a lot, so a single huge request does not pin memory for good.

use std::cell::RefCell;

use crate::engines::sgl::SgList;

/// Scratch kept past a request; a larger buffer is freed after use.
const KEEP: usize = 4 << 20;

thread_local! {
    static STAGING: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static GATHER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static SCATTER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Borrows one of the buffers for `f` (taken out, so nested use of another buffer is fine).
fn with_buffer<R>(key: &'static std::thread::LocalKey<RefCell<Vec<u8>>>, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut buffer = key.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let result = f(&mut buffer);
    buffer.clear();
    if buffer.capacity() > KEEP {
        buffer = Vec::new();
    }
    key.with(|b| *b.borrow_mut() = buffer);
    result
}

/// Runs `f` with a copy of the bytes `list` names (`None`: nothing to stage).
pub fn with_staging<R>(list: Option<&SgList>, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
    let Some(list) = list else { return f(None) };
    with_buffer(&STAGING, |buffer| {
        for (ptr, len) in list.ranges() {
            // SAFETY: the range lies in a pinned MR that `list` holds; it is only read here,
            // before anything of the request is written.
            buffer.extend_from_slice(unsafe { std::slice::from_raw_parts(ptr, len) });
        }
        f(Some(buffer))
    })
}

/// Runs `f` with the chunks as one slice (gathered unless there is just one).
pub fn with_contiguous<R>(chunks: &[&[u8]], f: impl FnOnce(&[u8]) -> R) -> R {
    match chunks {
        [] => f(&[]),
        [one] => f(one),
        many => with_buffer(&GATHER, |buffer| {
            for chunk in many {
                buffer.extend_from_slice(chunk);
            }
            f(buffer)
        }),
    }
}

/// Runs `f` with `room` bytes of output (at most the chunks' total); the `Ok(n)` bytes it
/// writes land at the start of the chunks, in order.
pub fn with_output<E>(chunks: &mut [&mut [u8]], room: usize, f: impl FnOnce(&mut [u8]) -> Result<usize, E>) -> Result<usize, E> {
    match chunks {
        [] => f(&mut []),
        [one] => {
            let room = room.min(one.len());
            f(&mut one[..room])
        }
        many => with_buffer(&SCATTER, |buffer| {
            buffer.resize(room, 0);
            let written = f(buffer)?;
            let mut rest = &buffer[..written];
            for chunk in many.iter_mut() {
                let n = rest.len().min(chunk.len());
                chunk[..n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
            Ok(written)
        }),
    }
}
