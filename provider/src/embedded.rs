//! The embedded channel: the soft device runs in this process and takes each ioctl's header
//! address directly, copying attributes in and out as the kernel would.

use std::ptr::NonNull;

use accelverbs_rxe_sim::UverbsFile;

use crate::Channel;

/// A uverbs file on the in-process soft device.
#[derive(Debug)]
pub struct EmbeddedChannel {
    file: UverbsFile,
}

impl EmbeddedChannel {
    pub fn new(file: UverbsFile) -> Self {
        Self { file }
    }
}

// SAFETY: the soft device writes only through the attributes' output addresses (copy_to_user),
// and maps only its UAR page, which lives as long as the device the file holds.
unsafe impl Channel for EmbeddedChannel {
    unsafe fn ioctl(&self, request: u32, hdr_addr: u64) -> Result<(), i32> {
        // SAFETY: the caller keeps `Channel::ioctl`'s contract, which is `UverbsFile::ioctl`'s.
        unsafe { self.file.ioctl(request, hdr_addr) }.map_err(|e| e.0)
    }

    fn mmap(&self, offset: u64, len: usize) -> Result<NonNull<u8>, i32> {
        let p = self.file.mmap(offset, len).map_err(|e| e.0)?;
        NonNull::new(p).ok_or(libc::EFAULT)
    }

    fn drive_qp(&self, qpn: u32) -> Result<(), i32> {
        self.file.drive_qp(qpn).map(drop).map_err(|e| e.0)
    }

    fn drive_cq(&self, cqn: u32) -> Result<(), i32> {
        self.file.drive_cq(cqn).map(drop).map_err(|e| e.0)
    }

    fn describe(&self) -> String {
        "embedded".to_owned()
    }
}
