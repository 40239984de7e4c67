//! Key files: the raw key bytes and nothing else (no hex, no newline), checked against what the
//! algorithm takes before anything touches the device, and zeroed once the device has its copy.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use accelverbs::uapi::crypto::MAX_KEY_MATERIAL;
use accelverbs::KeyAlgorithm;

use crate::status::io_message;

/// Key material, overwritten with zeros when dropped (best effort: the bytes were also in the
/// kernel's page cache and the device's copy, which the device zeroes itself).
pub struct KeyMaterial {
    bytes: Vec<u8>,
}

impl KeyMaterial {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        self.bytes.fill(0);
        // Keeps the zeroing from being dropped as a dead store.
        std::hint::black_box(&self.bytes);
    }
}

/// What `algorithm` takes, in words: "a 16-byte key", "a key of 16 to 128 bytes", ...
pub fn lengths_taken(algorithm: KeyAlgorithm) -> String {
    let lengths = algorithm.material_lengths();
    let (lo, hi) = (*lengths.start(), *lengths.end());
    match algorithm {
        KeyAlgorithm::Aes128Xts | KeyAlgorithm::Aes256Xts => format!("a {lo}-byte key (two different {}-byte halves)", lo / 2),
        _ if lo == hi => format!("a {lo}-byte key"),
        _ => format!("a key of {lo} to {hi} bytes"),
    }
}

/// Reads the key in `path` for `algorithm` (called `alg_name` on the command line); the error
/// message names neither the file (the caller does) nor any key byte.
pub fn read_key(path: &Path, algorithm: KeyAlgorithm, alg_name: &str) -> Result<KeyMaterial, String> {
    let mut file = File::open(path).map_err(|e| io_message(&e))?;
    // Read into a buffer that never grows (so no copy is left behind by a reallocation), one
    // byte more than any key to tell a longer file.
    let mut key = KeyMaterial { bytes: vec![0; MAX_KEY_MATERIAL + 1] };
    let mut len = 0;
    while len < key.bytes.len() {
        match file.read(&mut key.bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_message(&e)),
        }
    }
    key.bytes[len..].fill(0);
    key.bytes.truncate(len);
    if !algorithm.material_lengths().contains(&len) {
        let size = if len > MAX_KEY_MATERIAL { format!("over {MAX_KEY_MATERIAL} bytes") } else { format!("{len} bytes") };
        return Err(format!(
            "the key file is {size}; {alg_name} takes {} (raw bytes, as `head -c {} /dev/urandom > FILE` makes them)",
            lengths_taken(algorithm),
            algorithm.material_lengths().start()
        ));
    }
    if !algorithm.accepts(key.bytes()) {
        return Err(format!(
            "the key's two halves are the same; {alg_name} needs two different keys (IEEE 1619: data key, then tweak key)"
        ));
    }
    Ok(key)
}
