//! The object types the device implements, one file each holding its method schemas, handlers
//! and destroy precondition (the kernel's `DECLARE_UVERBS_NAMED_OBJECT`), and the registry
//! built from their list. A new type is a new file, its `mod` line and one line in [`OBJECTS`].

mod comp_channel;
mod comp_stream;
mod cq;
mod crypto_key;
mod device;
mod mr;
mod pd;
mod qp;

use std::fmt::Debug;

use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::ids::object;

use super::call::Method;

/// A type of object a file holds by handle.
pub trait ObjectType: 'static {
    /// The `UVERBS_OBJECT_*` id.
    const ID: u16;
    /// When the file closes, lower orders are destroyed first: children before the parents
    /// they keep busy (`uverbs_destroy_ufile_hw`). Today's types use tens, so a new one can
    /// slot in between without renumbering the others.
    const DESTROY_ORDER: u8;
    type Object: Send + Sync + Debug + 'static;
    const METHODS: &'static [Method];

    /// The destroy precondition (`EBUSY` while children use it).
    fn check_destroy(_object: &Self::Object) -> Result<(), Errno> {
        Ok(())
    }
}

/// One object id and its methods, as the dispatcher sees it.
#[derive(Debug)]
struct ObjectDef {
    id: u16,
    methods: &'static [Method],
}

impl ObjectDef {
    const fn of<T: ObjectType>() -> Self {
        Self { id: T::ID, methods: T::METHODS }
    }

    /// An object with methods only, no handles (`DECLARE_UVERBS_GLOBAL_METHODS`).
    const fn global(id: u16, methods: &'static [Method]) -> Self {
        Self { id, methods }
    }
}

/// Every object the device implements.
static OBJECTS: &[ObjectDef] = &[
    ObjectDef::global(object::DEVICE, device::METHODS),
    ObjectDef::of::<pd::PdType>(),
    ObjectDef::of::<mr::MrType>(),
    ObjectDef::of::<comp_channel::CompChannelType>(),
    ObjectDef::of::<cq::CqType>(),
    ObjectDef::of::<qp::QpType>(),
    ObjectDef::of::<comp_stream::CompStreamType>(),
    ObjectDef::of::<crypto_key::CryptoKeyType>(),
];

// File close destroys children before the parents they keep busy: QPs, then compression
// contexts and crypto keys, MRs, CQs, completion channels, PDs.
const _: () = assert!(
    qp::QpType::DESTROY_ORDER < comp_stream::CompStreamType::DESTROY_ORDER
        && qp::QpType::DESTROY_ORDER < crypto_key::CryptoKeyType::DESTROY_ORDER
        && crypto_key::CryptoKeyType::DESTROY_ORDER < pd::PdType::DESTROY_ORDER
        && comp_stream::CompStreamType::DESTROY_ORDER < mr::MrType::DESTROY_ORDER
        && qp::QpType::DESTROY_ORDER < mr::MrType::DESTROY_ORDER
        && mr::MrType::DESTROY_ORDER < cq::CqType::DESTROY_ORDER
        && cq::CqType::DESTROY_ORDER < comp_channel::CompChannelType::DESTROY_ORDER
        && comp_channel::CompChannelType::DESTROY_ORDER < pd::PdType::DESTROY_ORDER
);

/// The method for (object, method), or `EPROTONOSUPPORT` as the kernel answers.
pub fn find(object_id: u16, method_id: u16) -> Result<&'static Method, Errno> {
    OBJECTS.iter().filter(|o| o.id == object_id).flat_map(|o| o.methods).find(|m| m.id == method_id).ok_or(Errno::EPROTONOSUPPORT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        for (i, o) in OBJECTS.iter().enumerate() {
            assert!(OBJECTS[..i].iter().all(|p| p.id != o.id), "object {:#x} listed twice", o.id);
            for (j, m) in o.methods.iter().enumerate() {
                assert!(o.methods[..j].iter().all(|n| n.id != m.id), "method {:#x} of {:#x} twice", m.id, o.id);
            }
        }
    }
}
