//! For the hygiene tests (key material, a cipher's per-request state): secrets kept in a page
//! of their own, and a scan of the process's writable memory for copies of them elsewhere.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

pub const PAGE: usize = 4096;

/// One private page holding key material, unmapped on drop (after zeroing).
#[derive(Debug)]
pub struct SecretPage {
    ptr: *mut u8,
}

impl SecretPage {
    /// `len` bytes from a generator no other code runs with this seed.
    pub fn new(len: usize, seed: u64) -> Self {
        // SAFETY: a fresh anonymous private mapping of one page.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        let ptr = ptr.cast::<u8>();
        let mut x = seed | 1;
        for i in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // SAFETY: `i < len <= PAGE`, inside the mapping.
            unsafe { ptr.add(i).write(x as u8) };
        }
        Self { ptr }
    }

    pub fn bytes(&self, len: usize) -> &[u8] {
        assert!(len <= PAGE);
        // SAFETY: the page is mapped and `len <= PAGE`.
        unsafe { std::slice::from_raw_parts(self.ptr, len) }
    }

    pub fn bytes_mut(&mut self, len: usize) -> &mut [u8] {
        assert!(len <= PAGE);
        // SAFETY: the page is mapped, ours alone (`&mut self`), and `len <= PAGE`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, len) }
    }

    /// The page's addresses, to leave out of a scan.
    pub fn range(&self) -> (usize, usize) {
        (self.ptr as usize, self.ptr as usize + PAGE)
    }
}

impl Drop for SecretPage {
    fn drop(&mut self) {
        // SAFETY: our mapping, zeroed then unmapped once.
        unsafe {
            std::ptr::write_bytes(self.ptr, 0, PAGE);
            libc::munmap(self.ptr.cast(), PAGE);
        }
    }
}

/// Regions larger than this are address space reserved, not data (a sanitizer's shadow
/// memory, terabytes): the heap and the device's mappings are far smaller.
const LARGEST_REGION: usize = 1 << 32;

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// Where `needle` occurs in the process's writable anonymous memory (heap, mmaps, thread
/// stacks), other than in the ranges of `skip`: the mapping's line for each hit.
pub fn find_in_memory(needle: &[u8], skip: &[(usize, usize)]) -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut mem = File::open("/proc/self/mem").unwrap();
    let mut hits = Vec::new();
    // Chunks overlap by the needle's length less one, so no occurrence falls between two.
    let mut chunk = vec![0u8; CHUNK + needle.len()];
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (range, perms, path) = (fields[0], fields[1], fields.get(5).copied().unwrap_or(""));
        // Anonymous (or the heap), readable and writable: where data lives.
        if !perms.starts_with("rw") || !(path.is_empty() || path == "[heap]") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let (start, end) = (usize::from_str_radix(start, 16).unwrap(), usize::from_str_radix(end, 16).unwrap());
        if end - start > LARGEST_REGION {
            continue;
        }
        let mut at = start;
        while at < end {
            let len = (end - at).min(CHUNK + needle.len() - 1);
            let bytes = &mut chunk[..len];
            if mem.seek(SeekFrom::Start(at as u64)).is_err() || mem.read_exact(bytes).is_err() {
                break;
            }
            for (i, window) in bytes.windows(needle.len()).enumerate() {
                let address = at + i;
                if window == needle && !skip.iter().any(|s| (s.0..s.1).contains(&address)) {
                    hits.push(format!("{address:#x} in {line}"));
                }
            }
            at += CHUNK;
        }
    }
    chunk.fill(0);
    hits
}
