//! The independent implementation crypto results are checked against: OpenSSL, through Python's
//! `cryptography` (Debian's python3-cryptography), fed on stdin.

use std::io::Write;
use std::process::{Command, Stdio};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `script` with `args`, `input` on stdin: its stdout if it succeeded.
fn python(script: &str, args: &[String], input: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (apt install python3-cryptography)");
    let mut stdin = child.stdin.take().expect("a pipe");
    // A script that fails early closes its stdin: its status says so, not this write.
    let _ = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output().expect("python3 ran");
    out.status.success().then_some(out.stdout)
}

/// AES-GCM: `data` sealed (ciphertext then tag) or, with `open`, opened; `None` when OpenSSL
/// refuses (a tag that does not check).
pub fn gcm(open: bool, key: &[u8], iv: &[u8], aad: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let op = if open { "decrypt" } else { "encrypt" };
    let script = format!(
        "import sys\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\
         k, iv, aad = (bytes.fromhex(a) for a in sys.argv[1:4])\n\
         sys.stdout.buffer.write(AESGCM(k).{op}(iv, sys.stdin.buffer.read(), aad or None))\n"
    );
    python(&script, &[hex(key), hex(iv), hex(aad)], data)
}

/// AES-XTS of `data`, unit by unit, each unit's tweak the previous one's plus one,
/// little-endian, from `tweak`; `encrypt` or decrypt.
pub fn xts(encrypt: bool, key: &[u8], tweak: u128, unit: usize, data: &[u8]) -> Vec<u8> {
    let op = if encrypt { "encryptor" } else { "decryptor" };
    let script = format!(
        "import sys\nfrom cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes\n\
         key, tweak, unit = bytes.fromhex(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])\n\
         data, out = sys.stdin.buffer.read(), b''\n\
         for i in range(0, len(data), unit):\n\
         \x20   t = ((tweak + i // unit) % (1 << 128)).to_bytes(16, 'little')\n\
         \x20   c = Cipher(algorithms.AES(key), modes.XTS(t)).{op}()\n\
         \x20   out += c.update(data[i:i + unit]) + c.finalize()\n\
         sys.stdout.buffer.write(out)\n"
    );
    python(&script, &[hex(key), tweak.to_string(), unit.to_string()], data).expect("cryptography ran AES-XTS")
}
