//! Compile-time layout assertions for shared structs.

/// `assert_layout!(Type, size; field @ offset, ...)` fails the build if the size or any listed
/// offset differs. Every shared struct in this crate is followed by one.
macro_rules! assert_layout {
    ($ty:ty, $size:expr $(; $($field:ident @ $off:expr),* $(,)?)?) => {
        const _: () = {
            assert!(core::mem::size_of::<$ty>() == $size);
            $($(assert!(core::mem::offset_of!($ty, $field) == $off);)*)?
        };
    };
}

/// Declares a `#[repr(int)]` wire enum with a `TryFrom<int>` that rejects unknown values.
macro_rules! wire_enum {
    ($(#[$meta:meta])* pub enum $name:ident : $repr:ty { $($(#[$vmeta:meta])* $variant:ident = $value:expr),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr($repr)]
        pub enum $name { $($(#[$vmeta])* $variant = $value),* }

        impl TryFrom<$repr> for $name {
            type Error = $crate::UnknownValue;
            fn try_from(raw: $repr) -> Result<Self, Self::Error> {
                match raw {
                    $(v if v == $value => Ok(Self::$variant),)*
                    other => Err($crate::UnknownValue(other as u32)),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> $repr { v as $repr }
        }
    };
}
