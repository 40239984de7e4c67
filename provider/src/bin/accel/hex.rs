//! Hexadecimal bytes on the command line (`--iv`, `--aad`): two digits per byte, either case,
//! nothing else.

/// The bytes `text` spells, or why it spells none.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(text.len() / 2);
    // The first digit of a byte, waiting for its second.
    let mut high = None;
    for (at, c) in text.char_indices() {
        let Some(digit) = c.to_digit(16) else {
            return Err(format!("{c:?} at position {} is not a hexadecimal digit (0-9, a-f)", at + 1));
        };
        match high.take() {
            None => high = Some(digit),
            // Two digits below 16 make a value below 256.
            Some(h) => bytes.push((h * 16 + digit) as u8),
        }
    }
    if high.is_some() {
        return Err(format!("{} hexadecimal digits: an odd number (two make a byte)", text.len()));
    }
    Ok(bytes)
}
