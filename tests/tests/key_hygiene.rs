//! After a key is destroyed and its context closed, no copy of its material is left in this
//! process's heap and anonymous memory (where the embedded device, its rings and CQs, and the
//! provider live), nor of the first round keys of its expanded schedule (which are the key's
//! own bytes). The material exists only in one page of the test's, excluded from the scan and
//! unmapped before it; it never passes through a `Vec` of the test.
//!
//! Its own test binary: no other test's allocations share the process.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use accelverbs::{Access, Decrypt, Digest, Encrypt, ExecPolicy, KeyAlgorithm, TAG_LEN};
use accelverbs_tests::{pattern, poll_n, Traffic};

const PAGE: usize = 4096;

/// One private page holding key material, unmapped on drop (after zeroing).
struct SecretPage {
    ptr: *mut u8,
}

impl SecretPage {
    /// `len` bytes from a generator no other code runs with this seed.
    fn new(len: usize, seed: u64) -> Self {
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

    fn bytes(&self, len: usize) -> &[u8] {
        // SAFETY: the page is mapped and `len <= PAGE`.
        unsafe { std::slice::from_raw_parts(self.ptr, len) }
    }

    fn range(&self) -> (usize, usize) {
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
/// stacks), other than in `[skip.0, skip.1)`: the mapping's line for each hit.
fn find_in_memory(needle: &[u8], skip: (usize, usize)) -> Vec<String> {
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
                if window == needle && !(skip.0..skip.1).contains(&address) {
                    hits.push(format!("{address:#x} in {line}"));
                }
            }
            at += CHUNK;
        }
    }
    chunk.fill(0);
    hits
}

#[test]
fn no_key_bytes_survive_destroy_and_close() {
    // AES-256-GCM, AES-256-XTS, HMAC-SHA-256: material from the secret page.
    let secrets =
        [(KeyAlgorithm::Aes256Gcm, 32usize, 11u64), (KeyAlgorithm::Aes256Xts, 64, 21), (KeyAlgorithm::HmacSha256, 48, 31)];
    let pages: Vec<SecretPage> = secrets.iter().map(|&(_, len, seed)| SecretPage::new(len, seed)).collect();
    {
        let mut t = Traffic::new(1, ExecPolicy::Threads, 8);
        let keys: Vec<_> = secrets
            .iter()
            .zip(&pages)
            .map(|(&(algorithm, len, _), page)| t.base.pd.create_crypto_key(algorithm, page.bytes(len)).unwrap())
            .collect();
        // Use each key, so its schedule was built and run.
        let data = t.base.pd.reg_mr(pattern(1, 4096), Access::empty()).unwrap();
        let mut out = t.base.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
        let mut tag = t.base.pd.alloc_mr(TAG_LEN, Access::LOCAL_WRITE).unwrap();
        t.qp.post(Encrypt::new(1, &keys[0], [7; 12], data.slice(0, 4096), out.slice_mut(0, 4096), tag.slice_mut(0, 16))).unwrap();
        poll_n(&mut t.cq, 1);
        // Gathered too: GCM then streams through a copy of the key's cipher context, and an
        // XTS unit that straddles two slices runs on its own.
        let halves = [data.slice(0, 1000), data.slice(1000, 3096)];
        let (head, rest) = out.slice_mut(0, 4096).split_at(2000);
        t.qp.post(Encrypt::gather(5, &keys[0], [7; 12], &halves, vec![head, rest], tag.slice_mut(0, 16))).unwrap();
        poll_n(&mut t.cq, 1);
        let (head, rest) = out.slice_mut(0, 4096).split_at(2000);
        t.qp.post(Encrypt::xts_gather(6, &keys[1], 9, 512, &halves, vec![head, rest])).unwrap();
        poll_n(&mut t.cq, 1);
        t.qp.post(Encrypt::xts(2, &keys[1], 9, 512, data.slice(0, 4096), out.slice_mut(0, 4096))).unwrap();
        poll_n(&mut t.cq, 1);
        t.qp.post(Decrypt::xts(3, &keys[1], 9, 512, data.slice(0, 4096), out.slice_mut(0, 4096))).unwrap();
        poll_n(&mut t.cq, 1);
        t.qp.post(Digest::hmac_sha256(4, &keys[2], data.slice(0, 4096), out.slice_mut(0, 32))).unwrap();
        let wcs = poll_n(&mut t.cq, 1);
        assert!(wcs[0].is_success());
        // The first key is destroyed explicitly, the others by the context's close.
        keys[0].try_destroy().unwrap();
    }
    for (&(algorithm, len, _), page) in secrets.iter().zip(&pages) {
        // The whole material, and each 16-byte piece of it (an AES key is also its schedule's
        // first round key; XTS has two keys).
        for piece in std::iter::once(page.bytes(len)).chain(page.bytes(len).chunks(16)) {
            let hits = find_in_memory(piece, page.range());
            assert!(hits.is_empty(), "{algorithm:?}: key bytes left at {hits:#?}");
        }
    }
}
