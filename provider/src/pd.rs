//! Protection domains.

use std::marker::PhantomData;
use std::sync::Arc;

use accelverbs_uapi::ids::{object, pd};

use crate::brand::Unbranded;
use crate::context::ContextInner;
use crate::ioctl::Command;
use crate::{Context, Error};

#[derive(Debug)]
pub(crate) struct PdInner {
    pub ctx: Arc<ContextInner>,
    pub handle: u32,
}

impl Drop for PdInner {
    fn drop(&mut self) {
        let mut cmd = Command::new(object::PD, pd::METHOD_DESTROY);
        cmd.handle(pd::ATTR_DESTROY_HANDLE, self.handle);
        // Children hold this PD alive, so the driver has no reason to refuse; if it does, the
        // context's close reclaims the PD.
        let _ = self.ctx.call(&mut cmd);
    }
}

/// A protection domain (`ibv_pd`). MRs and QPs created from it keep it alive; a QP can only
/// reach MRs of its own PD.
#[derive(Debug)]
pub struct Pd<B = Unbranded> {
    pub(crate) inner: Arc<PdInner>,
    brand: PhantomData<B>,
}

impl<B> Clone for Pd<B> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner), brand: PhantomData }
    }
}

impl<B> Context<B> {
    /// `ibv_alloc_pd`.
    pub fn alloc_pd(&self) -> Result<Pd<B>, Error> {
        let mut cmd = Command::new(object::PD, pd::METHOD_ALLOC);
        let h = cmd.new_object(pd::ATTR_ALLOC_HANDLE);
        self.inner.run("alloc_pd", &mut cmd)?;
        Ok(Pd { inner: Arc::new(PdInner { ctx: Arc::clone(&self.inner), handle: cmd.new_handle(h) }), brand: PhantomData })
    }
}

impl<B> Pd<B> {
    /// The handle the driver gave this PD.
    pub fn handle(&self) -> u32 {
        self.inner.handle
    }
}
