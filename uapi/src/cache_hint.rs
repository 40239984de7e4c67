//! Cache hints for the rings the application and the device share. A ring slot is written on
//! one core and read on the other, so its line is in the reader's cache when the writer comes
//! back to it a lap later: the write has to take the line back first. Asking for it a few
//! slots ahead overlaps that hand-over with useful work instead of stalling on it.

/// Starts taking the cache line at `ptr` for writing. Only a hint: `ptr` is never dereferenced
/// (the CPU neither faults nor changes any byte), so any address, even a dangling or unmapped
/// one, is allowed, and the function is safe.
#[inline(always)]
pub fn prefetch_for_write(ptr: *const u8) {
    // Miri runs no inline assembly; a hint changes nothing it checks.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: PREFETCHW accesses no memory and cannot fault; CPUs without it (Intel before
    // Broadwell) decode it as a no-op. It leaves the stack and the flags alone.
    unsafe {
        core::arch::asm!("prefetchw [{}]", in(reg) ptr, options(nostack, preserves_flags, readonly));
    }
    #[cfg(any(not(target_arch = "x86_64"), miri))]
    let _ = ptr;
}
