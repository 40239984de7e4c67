//! Numbered slots for the objects WQEs name by a number (MR keys, compression contexts): the
//! number is `index << 8 | variant`, the variant bumped on each reuse of a slot, so a number
//! outlives its object only as a stale number that fails. A slot whose variant is used up is
//! retired for good rather than wrapped, so no number is ever issued twice in the device's
//! life (at most 2^24 slots x 255 uses). Index 0 is never used: number 0 (a zeroed field) is
//! always invalid.

use accelverbs_kernel_abi::Errno;

const VARIANT_BITS: u32 = 8;
const LAST_VARIANT: u8 = u8::MAX;

/// Why a number names nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// No object has this index.
    Unknown,
    /// The index exists but the variant is old (the object was replaced).
    Stale,
}

#[derive(Debug)]
struct Slot<T> {
    variant: u8,
    object: Option<(u32, T)>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self { variant: 0, object: None }
    }
}

/// The table (callers bring the lock).
#[derive(Debug)]
pub struct KeySlots<T> {
    slots: Vec<Slot<T>>,
    /// Empty slots with variants left.
    free: Vec<u32>,
    live: u32,
    max: u32,
}

impl<T> KeySlots<T> {
    /// At most `max` live objects.
    pub fn new(max: u32) -> Self {
        Self { slots: vec![Slot::default()], free: Vec::new(), live: 0, max }
    }

    /// Stores `object` under a number never issued before; `ENOMEM` when full.
    pub fn insert(&mut self, object: impl FnOnce(u32) -> T) -> Result<u32, Errno> {
        if self.live >= self.max {
            return Err(Errno::ENOMEM);
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = self.slots.len() as u32;
                if i >= 1 << (32 - VARIANT_BITS) {
                    return Err(Errno::ENOMEM);
                }
                self.slots.push(Slot::default());
                i
            }
        };
        self.live += 1;
        let slot = &mut self.slots[index as usize];
        slot.variant = slot.variant.wrapping_add(1);
        let number = index << VARIANT_BITS | u32::from(slot.variant);
        slot.object = Some((number, object(number)));
        Ok(number)
    }

    /// The object `number` names.
    pub fn get(&self, number: u32) -> Result<&T, Miss> {
        let slot = self.slots.get((number >> VARIANT_BITS) as usize).ok_or(Miss::Unknown)?;
        match &slot.object {
            Some((n, object)) if *n == number => Ok(object),
            Some(_) => Err(Miss::Stale),
            None => Err(Miss::Unknown),
        }
    }

    /// Takes the object `number` names out of the table.
    pub fn remove(&mut self, number: u32) -> Option<T> {
        let index = number >> VARIANT_BITS;
        let slot = self.slots.get_mut(index as usize)?;
        if slot.object.as_ref().map(|(n, _)| *n) != Some(number) {
            return None;
        }
        let (_, object) = slot.object.take()?;
        if slot.variant != LAST_VARIANT {
            self.free.push(index);
        }
        self.live -= 1;
        Some(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_slots_get_a_new_variant_and_old_numbers_go_stale() {
        let mut t = KeySlots::new(4);
        let first = t.insert(|_| "a").unwrap();
        assert_eq!(t.remove(first), Some("a"));
        let second = t.insert(|_| "b").unwrap();
        assert_eq!(first >> VARIANT_BITS, second >> VARIANT_BITS);
        assert_eq!(t.get(first), Err(Miss::Stale));
        assert_eq!(t.get(second), Ok(&"b"));
        assert_eq!(t.get(0), Err(Miss::Unknown));
        assert_eq!(t.remove(first), None);
    }

    #[test]
    fn a_number_is_never_issued_twice() {
        let mut t = KeySlots::new(4);
        let mut issued = std::collections::HashSet::new();
        for _ in 0..600 {
            let n = t.insert(|n| n).unwrap();
            assert!(issued.insert(n), "{n:#x} issued twice");
            t.remove(n);
        }
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = KeySlots::new(2);
        t.insert(|_| ()).unwrap();
        t.insert(|_| ()).unwrap();
        assert_eq!(t.insert(|_| ()), Err(Errno::ENOMEM));
    }
}
