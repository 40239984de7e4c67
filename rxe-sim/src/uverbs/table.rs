//! The per-file object table (the kernel's per-`ib_uverbs_file` IDR): handles → objects of any
//! registered type.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use accelverbs_kernel_abi::Errno;

use super::objects::ObjectType;

/// What the table stores: any `ObjectType::Object`, still printable.
trait AnyObject: Any + Send + Sync + Debug {
    /// For the downcast back to the concrete type (`Arc<dyn AnyObject>` cannot be upcast to
    /// `Arc<dyn Any>` on our minimum Rust).
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<T: Any + Send + Sync + Debug> AnyObject for T {
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// An object a user context created (`struct ib_uobject`), with what the table needs to know
/// of its type.
#[derive(Debug)]
pub struct UObject {
    type_id: u16,
    destroy_order: u8,
    object: Arc<dyn AnyObject>,
}

impl UObject {
    pub fn new<T: ObjectType>(object: Arc<T::Object>) -> Self {
        Self { type_id: T::ID, destroy_order: T::DESTROY_ORDER, object }
    }

    /// Its object type (`ids::object`).
    pub fn type_id(&self) -> u16 {
        self.type_id
    }

    /// The object, if it has type `T`: `EINVAL` otherwise.
    fn downcast<T: ObjectType>(&self) -> Result<Arc<T::Object>, Errno> {
        if self.type_id != T::ID {
            return Err(Errno::EINVAL);
        }
        // Only a registry listing two ids for one Rust type could fail here.
        Arc::clone(&self.object).into_any().downcast().map_err(|_| Errno::EINVAL)
    }
}

/// Handles of one file. Handles are never reused within a file while it is open.
#[derive(Debug, Default)]
pub struct ObjectTable {
    next: u32,
    objects: BTreeMap<u32, UObject>,
}

impl ObjectTable {
    /// Live objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn insert(&mut self, obj: UObject) -> Result<u32, Errno> {
        let handle = self.next;
        self.next = self.next.checked_add(1).ok_or(Errno::ENOMEM)?;
        self.objects.insert(handle, obj);
        Ok(handle)
    }

    /// The object `handle` names, if it has type `type_id`: `ENOENT` for no such handle,
    /// `EINVAL` for the wrong type.
    pub fn get(&self, handle: u32, type_id: u16) -> Result<&UObject, Errno> {
        let obj = self.objects.get(&handle).ok_or(Errno::ENOENT)?;
        if obj.type_id != type_id {
            return Err(Errno::EINVAL);
        }
        Ok(obj)
    }

    /// As [`get`](Self::get), for a caller that knows the type.
    pub fn get_typed<T: ObjectType>(&self, handle: u32) -> Result<Arc<T::Object>, Errno> {
        self.get(handle, T::ID)?.downcast::<T>()
    }

    pub fn remove(&mut self, handle: u32) -> Option<UObject> {
        self.objects.remove(&handle)
    }

    /// Destroys everything, children before parents (the kernel's `uverbs_destroy_ufile_hw`):
    /// each pass drops the objects of the lowest `DESTROY_ORDER` left, in handle order.
    pub fn destroy_all(&mut self) {
        while let Some(order) = self.objects.values().map(|o| o.destroy_order).min() {
            self.objects.retain(|_, o| o.destroy_order != order);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::uverbs::call::Method;

    type Log = Arc<Mutex<Vec<&'static str>>>;

    /// Records its name in its log when dropped.
    #[derive(Debug)]
    struct Logged(&'static str, Log);

    impl Drop for Logged {
        fn drop(&mut self) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[derive(Debug)]
    struct Child;
    impl ObjectType for Child {
        const ID: u16 = 0x0ff0;
        const DESTROY_ORDER: u8 = 1;
        type Object = Logged;
        const METHODS: &'static [Method] = &[];
    }

    #[derive(Debug)]
    struct Parent;
    impl ObjectType for Parent {
        const ID: u16 = 0x0ff1;
        const DESTROY_ORDER: u8 = 2;
        type Object = Logged;
        const METHODS: &'static [Method] = &[];
    }

    #[test]
    fn lookup_errors_and_handles_not_reused() {
        let log = Log::default();
        let mut table = ObjectTable::default();
        let a = table.insert(UObject::new::<Child>(Arc::new(Logged("a", Arc::clone(&log))))).unwrap();
        assert_eq!(table.get_typed::<Child>(a).unwrap().0, "a");
        assert_eq!(table.get_typed::<Parent>(a).unwrap_err(), Errno::EINVAL);
        assert_eq!(table.get_typed::<Child>(a + 1).unwrap_err(), Errno::ENOENT);
        table.remove(a);
        assert_eq!(table.get_typed::<Child>(a).unwrap_err(), Errno::ENOENT);
        let b = table.insert(UObject::new::<Child>(Arc::new(Logged("b", log)))).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn destroy_all_drops_lower_orders_first() {
        let log = Log::default();
        let mut table = ObjectTable::default();
        for (parent, name) in [(true, "p0"), (false, "c1"), (true, "p2"), (false, "c3")] {
            let object = Arc::new(Logged(name, Arc::clone(&log)));
            let obj = if parent { UObject::new::<Parent>(object) } else { UObject::new::<Child>(object) };
            table.insert(obj).unwrap();
        }
        table.destroy_all();
        assert_eq!(*log.lock().unwrap(), ["c1", "c3", "p0", "p2"]);
    }
}
