//! Crypto keys: the driver-namespace object holding key material the device uses by number.

use accelverbs_kernel_abi::objects::CryptoKey;
use accelverbs_kernel_abi::Errno;
use accelverbs_uapi::crypto::{MAX_WRAPPED_MATERIAL, MIN_KEY_MATERIAL};
use accelverbs_uapi::ids::{crypto_key, object};

use super::pd::PdType;
use super::ObjectType;
use crate::hw::SoftHardware;
use crate::uverbs::bundle::{Access, AttrSpec as A, Bundle};
use crate::uverbs::call::{Call, Method};

#[derive(Debug)]
pub struct CryptoKeyType;

impl ObjectType for CryptoKeyType {
    const ID: u16 = object::CRYPTO_KEY;
    /// After QPs (no request runs with it any more), before the PD it is scoped to.
    const DESTROY_ORDER: u8 = 16;
    type Object = CryptoKey<SoftHardware>;
    const METHODS: &'static [Method] = &[
        Method {
            id: crypto_key::METHOD_CREATE,
            attrs: &[
                A::handle(crypto_key::ATTR_HANDLE, object::CRYPTO_KEY, Access::New, true),
                A::handle(crypto_key::ATTR_CREATE_PD_HANDLE, object::PD, Access::Read, true),
                A::input::<u32>(crypto_key::ATTR_CREATE_ALGORITHM, true),
                A::input_bytes(crypto_key::ATTR_CREATE_MATERIAL, MIN_KEY_MATERIAL as u16, MAX_WRAPPED_MATERIAL as u16, true),
                A::output::<u32>(crypto_key::ATTR_CREATE_RESP_NUMBER, true),
                A::handle(crypto_key::ATTR_CREATE_WRAPPING_KEY, object::CRYPTO_KEY, Access::Read, false),
            ],
            handler: create,
        },
        Method {
            id: crypto_key::METHOD_DESTROY,
            attrs: &[A::handle(crypto_key::ATTR_HANDLE, object::CRYPTO_KEY, Access::Destroy, true)],
            handler: destroy,
        },
    ];

    fn check_destroy(key: &Self::Object) -> Result<(), Errno> {
        key.check_destroy()
    }
}

fn create(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.ctx()?;
    let pd = call.object::<PdType>(b, crypto_key::ATTR_CREATE_PD_HANDLE)?;
    // Zeroed when this call returns: the device keeps its own copy.
    let material = b.require_secret(crypto_key::ATTR_CREATE_MATERIAL)?;
    let wrapping_key = match b.has(crypto_key::ATTR_CREATE_WRAPPING_KEY) {
        true => Some(call.object::<CryptoKeyType>(b, crypto_key::ATTR_CREATE_WRAPPING_KEY)?),
        false => None,
    };
    let key = pd.create_crypto_key(b.require(crypto_key::ATTR_CREATE_ALGORITHM)?, &material, wrapping_key.as_deref())?;
    b.write(crypto_key::ATTR_CREATE_RESP_NUMBER, &key.number());
    call.create::<CryptoKeyType>(crypto_key::ATTR_HANDLE, key);
    Ok(())
}

fn destroy(call: &mut Call<'_>, b: &mut Bundle) -> Result<(), Errno> {
    call.destroy::<CryptoKeyType>(b, crypto_key::ATTR_HANDLE).map(drop)
}
