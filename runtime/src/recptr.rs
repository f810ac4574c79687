//! Typed pointers to the status table's records, as Go's `guintptr`,
//! `muintptr` and `puintptr`: a `RecPtr<G>` is a pointer to a G record or
//! null, and `get` turns it into a `&'static G`. This file holds the one
//! dereference of a record pointer in the runtime, and the argument for it.
//!
//! # Why the dereference is sound
//!
//! 1. A record lives as long as the process. Records are allocated in the
//!    table (`status::Table::alloc`) and never freed: Gs, Ms, sudogs,
//!    channels and spans go back to free lists and are reused in place. The
//!    table is mapped once, before any record exists, and never unmapped.
//! 2. A shared reference to a record is fine from any thread: records are
//!    `#[repr(C)]` structs of atomics (grt-table's invariant), and the
//!    record types are `Sync`.
//! 3. A `RecPtr<T>` is non-null only if it points at a `T` record. It is
//!    made from a `&'static T` (`from_ref`), loaded from a record's
//!    `AtomicPtr<T>` field (`Link::rec`), or read back from one of the
//!    runtime's own typed slots (the current G and M, the arguments of
//!    `mcall`). The runtime stores nothing but record addresses (or null)
//!    into those fields and slots: that is the invariant code in this
//!    crate keeps, and the reason `grt::internal` lets tests read records
//!    but asks them never to write one.
//!
//! Null is checked on every `get` (a throw, never undefined behaviour).

use core::marker::PhantomData;
use core::sync::atomic::AtomicPtr;
use core::sync::atomic::Ordering::{self, Relaxed};
use grt_table::{Hchan, MSpan, Sudog, G, M, P};

/// A record type of the table (sealed: only these).
pub(crate) trait TableRecord: Sync + 'static + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

macro_rules! table_records {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl TableRecord for $t {}
    )*};
}
table_records!(G, M, P, Sudog, Hchan, MSpan);

/// A pointer to a `T` record, or null.
#[repr(transparent)]
pub(crate) struct RecPtr<T: TableRecord>(*mut T, PhantomData<&'static T>);

impl<T: TableRecord> Clone for RecPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: TableRecord> Copy for RecPtr<T> {}

impl<T: TableRecord> PartialEq for RecPtr<T> {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self.0, other.0)
    }
}
impl<T: TableRecord> Eq for RecPtr<T> {}

// SAFETY: a RecPtr is a shared reference to a `Sync` record that lives for
// the process (see the module docs), or null.
unsafe impl<T: TableRecord> Send for RecPtr<T> {}
// SAFETY: as above.
unsafe impl<T: TableRecord> Sync for RecPtr<T> {}

impl<T: TableRecord> RecPtr<T> {
    pub(crate) const NULL: RecPtr<T> = RecPtr(core::ptr::null_mut(), PhantomData);

    /// The pointer to a record.
    #[inline]
    pub(crate) fn from_ref(r: &'static T) -> RecPtr<T> {
        RecPtr(r as *const T as *mut T, PhantomData)
    }

    /// Takes a raw pointer as a record pointer.
    ///
    /// # Safety
    /// `p` is null or points at a `T` record of the status table.
    #[inline]
    pub(crate) unsafe fn from_raw(p: *mut T) -> RecPtr<T> {
        RecPtr(p, PhantomData)
    }

    #[inline]
    pub(crate) fn is_null(self) -> bool {
        self.0.is_null()
    }

    /// The raw pointer, for storing into a record field.
    #[inline]
    pub(crate) fn as_ptr(self) -> *mut T {
        self.0
    }

    /// The record, which must exist (a null pointer throws).
    #[inline]
    pub(crate) fn get(self) -> &'static T {
        match self.opt() {
            Some(r) => r,
            None => crate::fatal::throw("nil record pointer dereference"),
        }
    }

    /// The record, or `None` for null.
    #[inline]
    pub(crate) fn opt(self) -> Option<&'static T> {
        // SAFETY: the one dereference of a record pointer; see the module
        // docs: non-null means a `T` record, which lives for the process
        // and may be shared between threads.
        unsafe { self.0.as_ref() }
    }
}

/// Typed access to a record's pointer fields (`AtomicPtr<T>` in the
/// table's layout): what the runtime reads from them is a `RecPtr`.
pub(crate) trait Link<T: TableRecord> {
    /// A Relaxed load, typed.
    fn rec(&self) -> RecPtr<T>;
    /// A load with `order`, typed.
    fn rec_with(&self, order: Ordering) -> RecPtr<T>;
    /// A Relaxed store.
    fn set_rec(&self, v: RecPtr<T>);
    /// A swap with `order`, typed.
    fn swap_rec(&self, v: RecPtr<T>, order: Ordering) -> RecPtr<T>;
}

impl<T: TableRecord> Link<T> for AtomicPtr<T> {
    #[inline]
    fn rec(&self) -> RecPtr<T> {
        self.rec_with(Relaxed)
    }

    #[inline]
    fn rec_with(&self, order: Ordering) -> RecPtr<T> {
        // SAFETY: a record's pointer field holds null or a `T` record
        // (invariant 3 of the module docs).
        unsafe { RecPtr::from_raw(self.load(order)) }
    }

    #[inline]
    fn set_rec(&self, v: RecPtr<T>) {
        self.store(v.as_ptr(), Relaxed)
    }

    #[inline]
    fn swap_rec(&self, v: RecPtr<T>, order: Ordering) -> RecPtr<T> {
        // SAFETY: as in `rec_with`: the field held null or a `T` record.
        unsafe { RecPtr::from_raw(self.swap(v.as_ptr(), order)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{table, testing::setup};
    use grt_table::header::SectionKind;

    #[test]
    fn typed_loads_and_stores_round_trip() {
        let _t = setup();
        let t = table();
        let (a, b) = (t.alloc::<G>(SectionKind::G).unwrap(), t.alloc::<G>(SectionKind::G).unwrap());
        assert!(RecPtr::<G>::NULL.is_null() && RecPtr::<G>::NULL.opt().is_none());
        let pa = RecPtr::from_ref(a);
        assert!(core::ptr::eq(pa.get(), a) && pa != RecPtr::from_ref(b));
        a.schedlink.set_rec(RecPtr::from_ref(b));
        assert!(core::ptr::eq(a.schedlink.rec().get(), b));
        let old = a.schedlink.swap_rec(RecPtr::NULL, Relaxed);
        assert!(core::ptr::eq(old.get(), b) && a.schedlink.rec().is_null());
    }
}
