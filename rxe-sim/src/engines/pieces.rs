//! A request's data as byte ranges in order (one SGE, or an indirect list's entries), addressed
//! by position in their concatenation: what crypto needs to walk an input and an output that
//! are cut differently.

/// A range of device-reachable memory: start and length.
pub type Span = (*mut u8, usize);

/// A range of the application's memory (a resolved SGE's `user` address): start and length.
/// The overlap rules of a request are checked on these.
pub type UserSpan = (u64, usize);

/// A range's start, as a number: a device pointer or an application address.
pub trait Start: Copy {
    fn start(self) -> u128;
}

impl Start for *mut u8 {
    fn start(self) -> u128 {
        self as usize as u128
    }
}

impl Start for u64 {
    fn start(self) -> u128 {
        u128::from(self)
    }
}

/// Whether two ranges share a byte.
pub fn overlap<P: Start>((a, a_len): (P, usize), (b, b_len): (P, usize)) -> bool {
    let (a, b) = (a.start(), b.start());
    a_len != 0 && b_len != 0 && a < b + b_len as u128 && b < a + a_len as u128
}

/// Whether any range of `spans` shares a byte with `other`.
pub fn hits<P: Start>(spans: &[(P, usize)], other: (P, usize)) -> bool {
    spans.iter().any(|&s| overlap(s, other))
}

/// Whether two of `spans` share a byte.
pub fn overlaps_itself<P: Start>(spans: impl Iterator<Item = (P, usize)> + Clone) -> bool {
    spans.clone().enumerate().any(|(i, a)| spans.clone().skip(i + 1).any(|b| overlap(a, b)))
}

/// The first `len` bytes of `spans`, as ranges (the output of a request uses only as much as
/// its input).
pub fn truncated<P: Start>(spans: impl Iterator<Item = (P, usize)>, len: usize) -> Vec<(P, usize)> {
    let mut left = len;
    let mut out = Vec::new();
    for (ptr, span_len) in spans {
        if left == 0 {
            break;
        }
        let take = span_len.min(left);
        out.push((ptr, take));
        left -= take;
    }
    out
}

/// The bytes of `spans` that are contiguous from position `pos`: where they start and how
/// many; `None` at or past the end.
pub fn at(spans: &[Span], pos: usize) -> Option<Span> {
    let mut pos = pos;
    for &(ptr, len) in spans {
        if pos < len {
            return Some((ptr.wrapping_add(pos), len - pos));
        }
        pos -= len;
    }
    None
}

/// Copies `into.len()` bytes from position `pos` of `spans`.
///
/// # Safety
/// Every span is readable for its length, nothing writes the bytes read meanwhile, they do not
/// overlap `into`, and `spans` hold at least `pos + into.len()` bytes.
pub unsafe fn gather(spans: &[Span], pos: usize, into: &mut [u8]) {
    let mut done = 0;
    while done < into.len() {
        let (ptr, len) = at(spans, pos + done).expect("the caller's bound");
        let n = len.min(into.len() - done);
        // SAFETY: `ptr` starts `n` readable bytes of a span (`at`), disjoint from `into`.
        unsafe { std::ptr::copy_nonoverlapping(ptr, into.as_mut_ptr().add(done), n) };
        done += n;
    }
}

/// Copies `from` to position `pos` of `spans`.
///
/// # Safety
/// Every span is writable for its length, nothing else accesses the bytes written meanwhile,
/// they do not overlap `from`, and `spans` hold at least `pos + from.len()` bytes.
pub unsafe fn scatter(spans: &[Span], pos: usize, from: &[u8]) {
    let mut done = 0;
    while done < from.len() {
        let (ptr, len) = at(spans, pos + done).expect("the caller's bound");
        let n = len.min(from.len() - done);
        // SAFETY: `ptr` starts `n` writable bytes of a span (`at`), disjoint from `from`.
        unsafe { std::ptr::copy_nonoverlapping(from.as_ptr().add(done), ptr, n) };
        done += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_run_through_the_ranges_in_order_skipping_empty_ones() {
        let mut a = [1u8, 2, 3];
        let mut b = [4u8, 5];
        let (pa, pb) = (a.as_mut_ptr(), b.as_mut_ptr());
        let spans: Vec<Span> = vec![(pa, 3), (std::ptr::null_mut(), 0), (pb, 2)];
        assert_eq!(at(&spans, 2), Some((pa.wrapping_add(2), 1)));
        assert_eq!(at(&spans, 3), Some((pb, 2)));
        assert_eq!(at(&spans, 5), None);
        assert_eq!(truncated(spans.iter().copied(), 4), vec![(pa, 3), (std::ptr::null_mut(), 0), (pb, 1)]);
        assert!(overlap((pa, 3), (pa.wrapping_add(2), 1)));
        assert!(!overlap((pa, 2), (pa.wrapping_add(2), 1)));

        let mut mid = [0u8; 3];
        // SAFETY: the spans are the two live arrays above, reached only through `pa` and
        // `pb` until the end; `mid` is apart from them.
        unsafe { gather(&spans, 1, &mut mid) };
        assert_eq!(mid, [2, 3, 4]);
        // SAFETY: as above.
        unsafe { scatter(&spans, 2, &[9, 9]) };
        assert_eq!((a, b), ([1, 2, 9], [9, 5]));
    }
}
