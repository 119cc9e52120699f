//! Closable handles: a Rust value (a socket, a socket set, a queue) that JS
//! holds as a tagged external until it closes it.
//!
//! Every kind works alike: the open function wraps the value, each function
//! using it takes the handle as argument 0, refuses an external of another
//! kind (by its type tag) and refuses a closed handle; the close function
//! drops the value at once rather than whenever the garbage collector
//! finalizes the external, since the value holds descriptors, threads or a
//! kernel queue binding.

use std::marker::PhantomData;
use std::sync::Mutex;

use crate::napi::{napi_type_tag, napi_value, Call, JsError, CODE_IO};

/// One kind of handle, declared once as a `static` beside the functions
/// that take it.
pub struct HandleKind<T> {
    /// Put on every external of this kind; it must differ from every other
    /// tag in the module, since `Call::external_arg` trusts it to mean "the
    /// data is a `Handle<T>`" (a test below checks they differ).
    tag: napi_type_tag,
    /// The handle argument's name in `index.d.ts`.
    arg: &'static str,
    /// What the argument should have been, for a wrong-type error.
    what: &'static str,
    /// The message for a closed handle, after `native: <function>: `.
    closed: &'static str,
    /// Ties the tag to `T`, so one kind cannot wrap one type and read back
    /// another. `fn() -> T` keeps the static Sync whatever `T` is.
    _value: PhantomData<fn() -> T>,
}

/// What a handle's external owns: the value until it is closed, then nothing.
pub struct Handle<T> {
    inner: Mutex<Option<T>>,
}

impl<T: 'static> HandleKind<T> {
    pub const fn new(
        tag: napi_type_tag,
        arg: &'static str,
        what: &'static str,
        closed: &'static str,
    ) -> HandleKind<T> {
        HandleKind {
            tag,
            arg,
            what,
            closed,
            _value: PhantomData,
        }
    }

    /// A new JS handle owning `value`.
    pub fn wrap(&'static self, call: &Call, value: T) -> Result<napi_value, JsError> {
        call.external(
            Handle {
                inner: Mutex::new(Some(value)),
            },
            &self.tag,
        )
    }

    /// Argument 0 as a handle of this kind, open or closed. Only for a
    /// function that must check the handle before its other arguments and
    /// use it after; the rest call `with`.
    pub fn arg<'c>(&'static self, call: &'c Call) -> Result<&'c Handle<T>, JsError> {
        call.external_arg(0, self.arg, self.what, &self.tag)
    }

    /// Runs `f` on the value of the handle in argument 0, under its lock.
    pub fn with<R>(
        &'static self,
        call: &Call,
        f: impl FnOnce(&mut T) -> Result<R, JsError>,
    ) -> Result<R, JsError> {
        self.with_open(call, self.arg(call)?, f)
    }

    /// Runs `f` on the value of `handle` (from `arg`), under its lock.
    pub fn with_open<R>(
        &'static self,
        call: &Call,
        handle: &Handle<T>,
        f: impl FnOnce(&mut T) -> Result<R, JsError>,
    ) -> Result<R, JsError> {
        handle.with(|| self.closed_error(call.function()), f)
    }

    /// Closes the handle in argument 0 now; closing twice is fine.
    pub fn close(&'static self, call: &Call) -> Result<napi_value, JsError> {
        drop(self.arg(call)?.take());
        call.undefined()
    }

    fn closed_error(&self, function: &str) -> JsError {
        JsError::new(CODE_IO, format!("native: {}: {}", function, self.closed))
    }
}

impl<T> Handle<T> {
    /// `f` on the value, or `closed()` once the handle is closed.
    fn with<R>(
        &self,
        closed: impl FnOnce() -> JsError,
        f: impl FnOnce(&mut T) -> Result<R, JsError>,
    ) -> Result<R, JsError> {
        // A poisoned lock only means a panic while it was held (the boundary
        // threw it to JS); no value here holds half-updated state worth
        // refusing over, counters at worst.
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(value) => f(value),
            None => Err(closed()),
        }
    }

    /// The value, leaving the handle closed. The caller drops it after the
    /// lock is released: dropping may join a thread or close descriptors.
    fn take(&self) -> Option<T> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{self, AssertUnwindSafe};

    fn handle(v: u32) -> Handle<u32> {
        Handle {
            inner: Mutex::new(Some(v)),
        }
    }

    fn closed() -> JsError {
        JsError::new(CODE_IO, "closed".to_string())
    }

    #[test]
    fn with_reaches_the_value_until_take() {
        let h = handle(7);
        h.with(closed, |v| {
            *v += 1;
            Ok(())
        })
        .unwrap();
        let got = h.with(closed, |v| Ok(*v)).unwrap();
        assert_eq!(got, 8, "value after one increment: got {}; want 8", got);
        let taken = h.take();
        assert_eq!(taken, Some(8), "first take: got {:?}; want Some(8)", taken);
        let again = h.take();
        assert_eq!(again, None, "second take: got {:?}; want None", again);
        let mut ran = false;
        let err = h
            .with(closed, |_| {
                ran = true;
                Ok(())
            })
            .unwrap_err();
        assert!(!ran, "f ran on a closed handle");
        assert_eq!(
            err.message, "closed",
            "error: got {:?}; want the closed error",
            err.message
        );
    }

    #[test]
    fn a_panic_under_the_lock_does_not_close_the_handle() {
        let h = handle(1);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            h.with(closed, |_| -> Result<(), JsError> { panic!("inside") })
        }));
        assert!(outcome.is_err(), "the panic should have unwound");
        assert!(h.inner.is_poisoned(), "the lock should be poisoned");
        let got = h.with(closed, |v| Ok(*v)).ok();
        assert_eq!(
            got,
            Some(1),
            "value after the panic: got {:?}; want Some(1)",
            got
        );
        assert_eq!(h.take(), Some(1), "take after the panic");
    }

    #[test]
    fn closed_error_names_the_function() {
        static KIND: HandleKind<u32> = HandleKind::new(
            napi_type_tag { lower: 1, upper: 2 },
            "thing",
            "a thing from thingOpen",
            "the thing is closed",
        );
        let e = KIND.closed_error("thingSend");
        let want = "native: thingSend: the thing is closed";
        assert_eq!(e.code, CODE_IO, "code: got {}; want {}", e.code, CODE_IO);
        assert_eq!(
            e.message, want,
            "message: got {:?}; want {:?}",
            e.message, want
        );
    }

    /// `Call::external_arg` reads an external's data as the type its tag
    /// stands for, so two kinds sharing a tag would let JS hand one kind's
    /// handle to the other's functions: memory unsafety, not an error.
    #[test]
    fn every_tag_in_the_module_differs() {
        let tags: [(&str, &napi_type_tag); 6] = [
            ("icmp", &crate::icmp::ICMP.tag),
            ("udp", &crate::udp::UDP.tag),
            ("nfq", &crate::nfq::QUEUE.tag),
            ("vrrp", &crate::sock::VRRP.tag),
            ("ether", &crate::sock::ETHER.tag),
            ("selector", &crate::SELECTOR_TAG),
        ];
        for (i, (a, ta)) in tags.iter().enumerate() {
            for (b, tb) in &tags[i + 1..] {
                let same = ta.lower == tb.lower && ta.upper == tb.upper;
                assert!(
                    !same,
                    "{} and {} share the tag {:#x}/{:#x}",
                    a, b, ta.lower, ta.upper
                );
            }
        }
    }
}
