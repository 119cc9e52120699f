//! The N-API surface Tern uses, declared by hand against Node's `node_api.h`
//! (crates.io is out of reach, so no `napi-sys`), plus the one boundary every
//! exported function goes through.
//!
//! On Linux the `napi_*` symbols are left undefined in `tern.node` and resolve
//! against the `node` executable when the module is loaded.

#![allow(non_camel_case_types)]

use std::any::Any;
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CString};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::Once;

// Opaque handles; Node owns what they point to.
pub type napi_env = *mut c_void;
pub type napi_value = *mut c_void;
pub type napi_callback_info = *mut c_void;
/// `napi_status` is a C enum: an `int` on every platform Node supports.
pub type napi_status = c_int;
/// `napi_valuetype`, also a C enum.
pub type napi_valuetype = c_int;
pub type napi_callback =
    unsafe extern "C" fn(env: napi_env, info: napi_callback_info) -> napi_value;

const NAPI_OK: napi_status = 0;

// napi_valuetype, in header order.
const NAPI_UNDEFINED: napi_valuetype = 0;
const NAPI_NULL: napi_valuetype = 1;
const NAPI_BOOLEAN: napi_valuetype = 2;
const NAPI_NUMBER: napi_valuetype = 3;
const NAPI_STRING: napi_valuetype = 4;
const NAPI_SYMBOL: napi_valuetype = 5;
const NAPI_OBJECT: napi_valuetype = 6;
const NAPI_FUNCTION: napi_valuetype = 7;
const NAPI_EXTERNAL: napi_valuetype = 8;
const NAPI_BIGINT: napi_valuetype = 9;

extern "C" {
    fn napi_create_function(
        env: napi_env,
        utf8name: *const c_char,
        length: usize,
        cb: Option<napi_callback>,
        data: *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_set_named_property(
        env: napi_env,
        object: napi_value,
        utf8name: *const c_char,
        value: napi_value,
    ) -> napi_status;
    fn napi_create_string_utf8(
        env: napi_env,
        str: *const c_char,
        length: usize,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_get_cb_info(
        env: napi_env,
        cbinfo: napi_callback_info,
        argc: *mut usize,
        argv: *mut napi_value,
        this_arg: *mut napi_value,
        data: *mut *mut c_void,
    ) -> napi_status;
    fn napi_get_value_string_utf8(
        env: napi_env,
        value: napi_value,
        buf: *mut c_char,
        bufsize: usize,
        result: *mut usize,
    ) -> napi_status;
    fn napi_get_boolean(env: napi_env, value: bool, result: *mut napi_value) -> napi_status;
    fn napi_get_value_bool(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_typeof(env: napi_env, value: napi_value, result: *mut napi_valuetype) -> napi_status;
    fn napi_create_error(
        env: napi_env,
        code: napi_value,
        msg: napi_value,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_throw(env: napi_env, error: napi_value) -> napi_status;
    fn napi_is_exception_pending(env: napi_env, result: *mut bool) -> napi_status;
    fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64) -> napi_status;
    fn napi_create_double(env: napi_env, value: f64, result: *mut napi_value) -> napi_status;
    fn napi_create_object(env: napi_env, result: *mut napi_value) -> napi_status;
    fn napi_create_array_with_length(
        env: napi_env,
        length: usize,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_set_element(
        env: napi_env,
        object: napi_value,
        index: u32,
        value: napi_value,
    ) -> napi_status;
    fn napi_is_array(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_get_array_length(env: napi_env, value: napi_value, result: *mut u32) -> napi_status;
    fn napi_get_element(
        env: napi_env,
        object: napi_value,
        index: u32,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_get_null(env: napi_env, result: *mut napi_value) -> napi_status;
    fn napi_get_undefined(env: napi_env, result: *mut napi_value) -> napi_status;
    fn napi_is_buffer(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_get_buffer_info(
        env: napi_env,
        value: napi_value,
        data: *mut *mut c_void,
        length: *mut usize,
    ) -> napi_status;
    fn napi_create_buffer_copy(
        env: napi_env,
        length: usize,
        data: *const c_void,
        result_data: *mut *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_create_external(
        env: napi_env,
        data: *mut c_void,
        finalize_cb: Option<napi_finalize>,
        finalize_hint: *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_get_value_external(
        env: napi_env,
        value: napi_value,
        result: *mut *mut c_void,
    ) -> napi_status;
    fn napi_type_tag_object(
        env: napi_env,
        value: napi_value,
        type_tag: *const napi_type_tag,
    ) -> napi_status;
    fn napi_check_object_type_tag(
        env: napi_env,
        value: napi_value,
        type_tag: *const napi_type_tag,
        result: *mut bool,
    ) -> napi_status;
}

pub type napi_finalize = unsafe extern "C" fn(env: napi_env, data: *mut c_void, hint: *mut c_void);

/// A 128-bit tag (N-API 8) put on every external this module creates, so an
/// argument can be checked to be the right kind of handle before its pointer
/// is used: an external from another addon, or of another type, is refused.
#[repr(C)]
pub struct napi_type_tag {
    pub lower: u64,
    pub upper: u64,
}

/// Error codes this module throws; each is listed in `daemons/lib/errors.ts`.
pub const CODE_PANIC: &str = "TERN_E_NATIVE_PANIC";
pub const CODE_ARG: &str = "TERN_E_NATIVE_ARG";
pub const CODE_IO: &str = "TERN_E_NATIVE_IO";

/// A JS `Error` to throw: `code` becomes its `code` property.
#[derive(Debug)]
pub struct JsError {
    pub code: &'static str,
    pub message: String,
}

impl JsError {
    pub fn new(code: &'static str, message: String) -> JsError {
        JsError { code, message }
    }
}

/// One function on the module's exports object.
pub struct Export {
    /// The JS name, also the `<function>` in every error message.
    pub name: &'static str,
    pub body: fn(&Call) -> Result<napi_value, JsError>,
}

/// The most arguments any export reads; extra JS arguments are ignored, as
/// JS functions do.
const MAX_ARGS: usize = 6;

/// One JS call into an export: the environment and its arguments.
pub struct Call {
    env: napi_env,
    function: &'static str,
    args: [napi_value; MAX_ARGS],
}

impl Call {
    /// The JS name of the export being called.
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// Argument `index` as a string; `name` is its name in `index.d.ts`.
    pub fn string_arg(&self, index: usize, name: &str) -> Result<String, JsError> {
        let value = self.args[index];
        let kind = self.type_of(value);
        if kind != NAPI_STRING {
            return Err(JsError::new(
                CODE_ARG,
                format!(
                    "native: {}: argument {}: expected a string; got {}",
                    self.function,
                    name,
                    type_name(kind)
                ),
            ));
        }
        // First ask for the length, then copy; the extra byte is for the NUL
        // napi_get_value_string_utf8 always writes.
        let mut len = 0usize;
        // SAFETY: value is a live handle of this call; a null buffer asks only for the length.
        check(
            unsafe { napi_get_value_string_utf8(self.env, value, ptr::null_mut(), 0, &mut len) },
            "napi_get_value_string_utf8",
        );
        let mut buf = vec![0u8; len + 1];
        let mut copied = 0usize;
        // SAFETY: buf holds len + 1 bytes, as told to napi.
        check(
            unsafe {
                napi_get_value_string_utf8(
                    self.env,
                    value,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut copied,
                )
            },
            "napi_get_value_string_utf8",
        );
        buf.truncate(copied);
        // V8 writes UTF-8 (lone surrogates become U+FFFD), so this cannot fail.
        Ok(String::from_utf8(buf).expect("napi_get_value_string_utf8 returned UTF-8"))
    }

    pub fn string(&self, s: &str) -> Result<napi_value, JsError> {
        Ok(create_string(self.env, s))
    }

    pub fn boolean(&self, b: bool) -> Result<napi_value, JsError> {
        let mut result = ptr::null_mut();
        // SAFETY: env is the live environment of this call.
        check(
            unsafe { napi_get_boolean(self.env, b, &mut result) },
            "napi_get_boolean",
        );
        Ok(result)
    }

    /// Argument `index` as a boolean; `name` is its name in `index.d.ts`.
    pub fn boolean_arg(&self, index: usize, name: &str) -> Result<bool, JsError> {
        let value = self.args[index];
        let kind = self.type_of(value);
        if kind != NAPI_BOOLEAN {
            return Err(self.arg_error(name, "a boolean", type_name(kind)));
        }
        let mut b = false;
        // SAFETY: value is a live boolean handle of this call.
        check(
            unsafe { napi_get_value_bool(self.env, value, &mut b) },
            "napi_get_value_bool",
        );
        Ok(b)
    }

    /// Whether argument `index` was left out (or passed as undefined).
    pub fn is_undefined(&self, index: usize) -> bool {
        self.type_of(self.args[index]) == NAPI_UNDEFINED
    }

    /// Argument `index` as a finite number; `name` is its name in `index.d.ts`.
    pub fn number_arg(&self, index: usize, name: &str) -> Result<f64, JsError> {
        let value = self.args[index];
        let kind = self.type_of(value);
        if kind != NAPI_NUMBER {
            return Err(self.arg_error(name, "a number", type_name(kind)));
        }
        let mut n = 0f64;
        // SAFETY: value is a live number handle of this call.
        check(
            unsafe { napi_get_value_double(self.env, value, &mut n) },
            "napi_get_value_double",
        );
        Ok(n)
    }

    /// Argument `index` as the bytes of a Buffer (or any Uint8Array view).
    /// The slice lives as long as this call: JS cannot run, and so cannot
    /// detach or resize the buffer, until the export returns.
    pub fn buffer_arg(&self, index: usize, name: &str) -> Result<&[u8], JsError> {
        let value = self.args[index];
        let mut is_buffer = false;
        // SAFETY: value is a live handle of this call.
        check(
            unsafe { napi_is_buffer(self.env, value, &mut is_buffer) },
            "napi_is_buffer",
        );
        if !is_buffer {
            return Err(self.arg_error(name, "a Buffer", type_name(self.type_of(value))));
        }
        let mut data = ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: value is a Buffer, as just checked.
        check(
            unsafe { napi_get_buffer_info(self.env, value, &mut data, &mut len) },
            "napi_get_buffer_info",
        );
        if len == 0 || data.is_null() {
            // An empty buffer may have no backing store at all.
            return Ok(&[]);
        }
        // SAFETY: napi reports `len` readable bytes at `data`, alive for the call.
        Ok(unsafe { std::slice::from_raw_parts(data as *const u8, len) })
    }

    /// Argument `index` as the `T` inside an external made by `external`
    /// with the same `tag`; `what` says what the argument should have been.
    pub fn external_arg<T: 'static>(
        &self,
        index: usize,
        name: &str,
        what: &str,
        tag: &'static napi_type_tag,
    ) -> Result<&T, JsError> {
        self.external_value(self.args[index], name, what, tag)
    }

    /// Argument `index` as an array of at most `max` externals made by
    /// `external` with `tag`, each as its `T`; `what` names one element.
    pub fn externals_arg<T: 'static>(
        &self,
        index: usize,
        name: &str,
        what: &str,
        max: u32,
        tag: &'static napi_type_tag,
    ) -> Result<Vec<&T>, JsError> {
        let value = self.args[index];
        let mut is_array = false;
        // SAFETY: value is a live handle of this call.
        check(
            unsafe { napi_is_array(self.env, value, &mut is_array) },
            "napi_is_array",
        );
        let expected = format!("an array of at most {} of {}", max, what);
        if !is_array {
            return Err(self.arg_error(name, &expected, type_name(self.type_of(value))));
        }
        let mut len = 0u32;
        // SAFETY: value is an array, as just checked.
        check(
            unsafe { napi_get_array_length(self.env, value, &mut len) },
            "napi_get_array_length",
        );
        if len > max {
            return Err(self.arg_error(name, &expected, &format!("{} items", len)));
        }
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            let mut item = ptr::null_mut();
            // SAFETY: value is an array of len items; a hole reads as undefined.
            check(
                unsafe { napi_get_element(self.env, value, i, &mut item) },
                "napi_get_element",
            );
            out.push(self.external_value(item, &format!("{}[{}]", name, i), what, tag)?);
        }
        Ok(out)
    }

    /// `value` (argument `name`, or an element of it) as the `T` inside an
    /// external made by `external` with `tag`.
    fn external_value<T: 'static>(
        &self,
        value: napi_value,
        name: &str,
        what: &str,
        tag: &'static napi_type_tag,
    ) -> Result<&T, JsError> {
        let kind = self.type_of(value);
        let mut tagged = false;
        if kind == NAPI_EXTERNAL {
            // SAFETY: value is a live external handle of this call.
            check(
                unsafe { napi_check_object_type_tag(self.env, value, tag, &mut tagged) },
                "napi_check_object_type_tag",
            );
        }
        if !tagged {
            let got = if kind == NAPI_EXTERNAL {
                "another kind of external"
            } else {
                type_name(kind)
            };
            return Err(self.arg_error(name, what, got));
        }
        let mut data = ptr::null_mut();
        // SAFETY: value is an external, as just checked.
        check(
            unsafe { napi_get_value_external(self.env, value, &mut data) },
            "napi_get_value_external",
        );
        // SAFETY: only `external::<T>` puts this tag on an external, and its
        // data is a Box<T> that lives until the finalizer runs, which cannot
        // happen while the external is reachable from an argument of this
        // call (JS cannot run, so an array argument cannot change either).
        Ok(unsafe { &*(data as *const T) })
    }

    /// A JS external owning `value`, tagged with `tag`; `value` is dropped
    /// when the garbage collector finalizes the external.
    pub fn external<T: 'static>(
        &self,
        value: T,
        tag: &'static napi_type_tag,
    ) -> Result<napi_value, JsError> {
        unsafe extern "C" fn finalize<T>(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
            // A panic must not unwind into the garbage collector; dropping
            // plain data does not panic, and if it did, leaking is the safe end.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: data is the Box<T> made in `external` and is finalized once.
                drop(unsafe { Box::from_raw(data as *mut T) });
            }));
        }
        let data = Box::into_raw(Box::new(value)) as *mut c_void;
        let mut result = ptr::null_mut();
        // SAFETY: data stays valid until finalize::<T> reclaims it.
        let status = unsafe {
            napi_create_external(
                self.env,
                data,
                Some(finalize::<T>),
                ptr::null_mut(),
                &mut result,
            )
        };
        if status != NAPI_OK {
            // SAFETY: Node did not take the pointer, so it is still ours.
            drop(unsafe { Box::from_raw(data as *mut T) });
            check(status, "napi_create_external");
        }
        // SAFETY: result is the external just created.
        check(
            unsafe { napi_type_tag_object(self.env, result, tag) },
            "napi_type_tag_object",
        );
        Ok(result)
    }

    pub fn number(&self, n: f64) -> Result<napi_value, JsError> {
        let mut result = ptr::null_mut();
        // SAFETY: env is the live environment of this call.
        check(
            unsafe { napi_create_double(self.env, n, &mut result) },
            "napi_create_double",
        );
        Ok(result)
    }

    pub fn null(&self) -> Result<napi_value, JsError> {
        let mut result = ptr::null_mut();
        // SAFETY: env is the live environment of this call.
        check(
            unsafe { napi_get_null(self.env, &mut result) },
            "napi_get_null",
        );
        Ok(result)
    }

    pub fn undefined(&self) -> Result<napi_value, JsError> {
        let mut result = ptr::null_mut();
        // SAFETY: env is the live environment of this call.
        check(
            unsafe { napi_get_undefined(self.env, &mut result) },
            "napi_get_undefined",
        );
        Ok(result)
    }

    /// A new Buffer holding a copy of `bytes`.
    pub fn buffer(&self, bytes: &[u8]) -> Result<napi_value, JsError> {
        let mut result = ptr::null_mut();
        let mut data = ptr::null_mut();
        // SAFETY: bytes is readable for its length; napi copies it.
        check(
            unsafe {
                napi_create_buffer_copy(
                    self.env,
                    bytes.len(),
                    bytes.as_ptr().cast(),
                    &mut data,
                    &mut result,
                )
            },
            "napi_create_buffer_copy",
        );
        Ok(result)
    }

    /// A plain JS object with the given properties, in order.
    pub fn object(&self, props: &[(&str, napi_value)]) -> Result<napi_value, JsError> {
        let mut obj = ptr::null_mut();
        // SAFETY: env is the live environment of this call.
        check(
            unsafe { napi_create_object(self.env, &mut obj) },
            "napi_create_object",
        );
        for (name, value) in props {
            let key = CString::new(*name).expect("property names have no NUL");
            // SAFETY: obj is the object just created; value a live handle.
            check(
                unsafe { napi_set_named_property(self.env, obj, key.as_ptr(), *value) },
                "napi_set_named_property",
            );
        }
        Ok(obj)
    }

    /// A plain JS object of named counts, in order (stats and reports).
    pub fn counts(&self, fields: &[(&str, u64)]) -> Result<napi_value, JsError> {
        let mut props = Vec::with_capacity(fields.len());
        for &(name, n) in fields {
            props.push((name, self.number(n as f64)?));
        }
        self.object(&props)
    }

    /// A JS array of the given values.
    pub fn array(&self, items: &[napi_value]) -> Result<napi_value, JsError> {
        let mut arr = ptr::null_mut();
        // SAFETY: env is the live environment of this call.
        check(
            unsafe { napi_create_array_with_length(self.env, items.len(), &mut arr) },
            "napi_create_array_with_length",
        );
        for (i, item) in items.iter().enumerate() {
            // SAFETY: arr is the array just created; item a live handle.
            check(
                unsafe { napi_set_element(self.env, arr, i as u32, *item) },
                "napi_set_element",
            );
        }
        Ok(arr)
    }

    /// An error about argument `name`: `<function>: argument <name>: expected <what>; got <got>`.
    pub fn arg_error(&self, name: &str, what: &str, got: &str) -> JsError {
        JsError::new(
            CODE_ARG,
            format!(
                "native: {}: argument {}: expected {}; got {}",
                self.function, name, what, got
            ),
        )
    }

    /// A system call of the export failed: `native: <function>: <message>`,
    /// code TERN_E_NATIVE_IO.
    pub fn io_error(&self, message: &str) -> JsError {
        JsError::new(CODE_IO, format!("native: {}: {}", self.function, message))
    }

    /// An error about the content of an argument: `native: <function>: <message>`.
    pub fn input_error(&self, message: &str) -> JsError {
        JsError::new(CODE_ARG, format!("native: {}: {}", self.function, message))
    }

    fn type_of(&self, value: napi_value) -> napi_valuetype {
        let mut kind = NAPI_UNDEFINED;
        // SAFETY: value is a live handle of this call.
        check(
            unsafe { napi_typeof(self.env, value, &mut kind) },
            "napi_typeof",
        );
        kind
    }
}

fn type_name(kind: napi_valuetype) -> &'static str {
    match kind {
        NAPI_UNDEFINED => "undefined",
        NAPI_NULL => "null",
        NAPI_BOOLEAN => "boolean",
        NAPI_NUMBER => "number",
        NAPI_STRING => "string",
        NAPI_SYMBOL => "symbol",
        NAPI_OBJECT => "object",
        NAPI_FUNCTION => "function",
        NAPI_EXTERNAL => "external",
        NAPI_BIGINT => "bigint",
        _ => "unknown type",
    }
}

/// A failing N-API call means a bug here (wrong handle, wrong type), not bad
/// input: panic, and the boundary turns it into a TERN_E_NATIVE_PANIC error.
fn check(status: napi_status, call: &str) {
    if status != NAPI_OK {
        panic!("{} returned napi_status {}", call, status);
    }
}

fn create_string(env: napi_env, s: &str) -> napi_value {
    let mut result = ptr::null_mut();
    // SAFETY: an explicit length, so s needs no NUL terminator.
    check(
        unsafe { napi_create_string_utf8(env, s.as_ptr().cast(), s.len(), &mut result) },
        "napi_create_string_utf8",
    );
    result
}

/// Attaches `exports` to the module object. Called once per Node environment
/// (the main thread and each worker thread that loads the module).
///
/// # Safety
/// `env` and `module` must be the handles Node passed to
/// `napi_register_module_v1`.
pub unsafe fn register(
    env: napi_env,
    module: napi_value,
    exports: &'static [Export],
) -> napi_value {
    install_panic_hook();
    let outcome = panic::catch_unwind(|| {
        let _boundary = Boundary::enter();
        for export in exports {
            let name = CString::new(export.name).expect("export names have no NUL");
            let mut function = ptr::null_mut();
            // The Export itself is the callback data, so one trampoline serves
            // every function and always knows which one it is running.
            let data = export as *const Export as *mut c_void;
            check(
                napi_create_function(
                    env,
                    name.as_ptr(),
                    export.name.len(),
                    Some(trampoline),
                    data,
                    &mut function,
                ),
                "napi_create_function",
            );
            check(
                napi_set_named_property(env, module, name.as_ptr(), function),
                "napi_set_named_property",
            );
        }
    });
    if let Err(payload) = outcome {
        throw(env, &panic_error("register", payload));
    }
    module
}

/// The only way JS reaches Rust. Since Rust 1.81 a panic unwinding out of an
/// `extern "C"` function aborts the process, and before that it was undefined
/// behaviour; either way a bug in one export would kill the whole daemon. So
/// the whole call runs inside `catch_unwind`, and a panic becomes a JS Error
/// with code TERN_E_NATIVE_PANIC that the daemon can log and survive.
unsafe extern "C" fn trampoline(env: napi_env, info: napi_callback_info) -> napi_value {
    let mut function = "<unknown>";
    // AssertUnwindSafe: after a panic only `function`, always a valid
    // &'static str, is read; nothing half-updated is used again.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let _boundary = Boundary::enter();
        let mut argc = MAX_ARGS;
        let mut args = [ptr::null_mut(); MAX_ARGS];
        let mut data = ptr::null_mut();
        check(
            napi_get_cb_info(
                env,
                info,
                &mut argc,
                args.as_mut_ptr(),
                ptr::null_mut(),
                &mut data,
            ),
            "napi_get_cb_info",
        );
        // SAFETY: data is the &'static Export given to napi_create_function.
        let export = &*(data as *const Export);
        function = export.name;
        (export.body)(&Call {
            env,
            function,
            args,
        })
    }));
    match outcome {
        Ok(Ok(value)) => value,
        Ok(Err(err)) => {
            throw(env, &err);
            ptr::null_mut()
        }
        Err(payload) => {
            throw(env, &panic_error(function, payload));
            ptr::null_mut()
        }
    }
}

fn panic_error(function: &str, payload: Box<dyn Any + Send>) -> JsError {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    };
    let location = PANIC_LOCATION.with(|l| l.take());
    let message = match location {
        Some(at) => format!("native: {}: panic: {} (at {})", function, text, at),
        None => format!("native: {}: panic: {}", function, text),
    };
    JsError::new(CODE_PANIC, message)
}

/// Throws `err` as a JS Error with its `code` property set. This runs outside
/// `catch_unwind`, so it must not panic: a failing N-API call here is ignored
/// (the call then returns undefined), and an exception already pending, e.g.
/// from a JS getter, is left to propagate instead of being replaced.
unsafe fn throw(env: napi_env, err: &JsError) {
    let mut pending = false;
    if napi_is_exception_pending(env, &mut pending) != NAPI_OK || pending {
        return;
    }
    let mut code = ptr::null_mut();
    let mut message = ptr::null_mut();
    let mut error = ptr::null_mut();
    if napi_create_string_utf8(env, err.code.as_ptr().cast(), err.code.len(), &mut code) != NAPI_OK
        || napi_create_string_utf8(
            env,
            err.message.as_ptr().cast(),
            err.message.len(),
            &mut message,
        ) != NAPI_OK
        || napi_create_error(env, code, message, &mut error) != NAPI_OK
    {
        return;
    }
    napi_throw(env, error);
}

thread_local! {
    /// How many boundaries this thread is inside; the panic hook stays quiet
    /// when it is non-zero because the panic will be caught and thrown to JS.
    static BOUNDARY_DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Where the last caught panic happened, for the JS error message.
    static PANIC_LOCATION: Cell<Option<String>> = const { Cell::new(None) };
}

/// Marks the current thread as inside a boundary until dropped (also when a
/// panic unwinds through it).
struct Boundary;

impl Boundary {
    fn enter() -> Boundary {
        BOUNDARY_DEPTH.with(|d| d.set(d.get() + 1));
        Boundary
    }
}

impl Drop for Boundary {
    fn drop(&mut self) {
        BOUNDARY_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// The default hook prints every panic to stderr, even ones the boundary
/// catches and throws to JS; the daemon logs those itself. Inside a boundary
/// the hook only records the location; elsewhere (e.g. future worker
/// threads) the default hook still reports the panic.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default_hook = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if BOUNDARY_DEPTH.with(|d| d.get()) > 0 {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_LOCATION.with(|l| l.set(at));
            } else {
                default_hook(info);
            }
        }));
    });
}

// --- Thread-safe functions: how a Rust thread hands values to JS --------------
//
// A receive thread (src/sock.rs) queues values with `Threadsafe::call`; Node
// runs `call_js` on the JS thread, which turns each value into the
// callback's argument inside the same panic boundary as every export. The
// `finalized` flag, set under its lock by Node's finalizer, keeps a thread
// from touching the function once Node has freed it (at environment
// teardown Node finalizes thread-safe functions whoever still holds them).

pub type napi_threadsafe_function = *mut c_void;
type napi_threadsafe_function_call_js =
    unsafe extern "C" fn(env: napi_env, js_callback: napi_value, context: *mut c_void, data: *mut c_void);

const NAPI_TSFN_NONBLOCKING: c_int = 0;
const NAPI_TSFN_RELEASE: c_int = 0;
const NAPI_QUEUE_FULL: napi_status = 15;

extern "C" {
    fn napi_create_threadsafe_function(
        env: napi_env,
        func: napi_value,
        async_resource: napi_value,
        async_resource_name: napi_value,
        max_queue_size: usize,
        initial_thread_count: usize,
        thread_finalize_data: *mut c_void,
        thread_finalize_cb: Option<napi_finalize>,
        context: *mut c_void,
        call_js_cb: Option<napi_threadsafe_function_call_js>,
        result: *mut napi_threadsafe_function,
    ) -> napi_status;
    fn napi_call_threadsafe_function(
        func: napi_threadsafe_function,
        data: *mut c_void,
        is_blocking: c_int,
    ) -> napi_status;
    fn napi_release_threadsafe_function(func: napi_threadsafe_function, mode: c_int) -> napi_status;
    fn napi_call_function(
        env: napi_env,
        recv: napi_value,
        func: napi_value,
        argc: usize,
        argv: *const napi_value,
        result: *mut napi_value,
    ) -> napi_status;
}

/// Turns a queued value into the JS callback's one argument, on the JS thread.
pub type ToJs<T> = fn(&Call, T) -> Result<napi_value, JsError>;

struct TsfnContext<T> {
    function: &'static str,
    to_js: ToJs<T>,
    finalized: std::sync::Arc<std::sync::Mutex<bool>>,
}

/// What became of a value handed to `Threadsafe::call`.
#[derive(Debug, PartialEq, Clone, Copy)]
pub enum Queued {
    Yes,
    /// The queue was full: the value was dropped.
    Full,
    /// The function is closing (Node is shutting down): the value was dropped.
    Closing,
}

/// A JS function another thread may queue calls to. Dropping it releases
/// the thread's hold on the function (the event loop may then exit).
pub struct Threadsafe<T: Send + 'static> {
    raw: napi_threadsafe_function,
    finalized: std::sync::Arc<std::sync::Mutex<bool>>,
    _marker: std::marker::PhantomData<fn(T)>,
}

// SAFETY: N-API's thread-safe function calls may be made from any thread;
// the values queued are Send.
unsafe impl<T: Send + 'static> Send for Threadsafe<T> {}

impl<T: Send + 'static> Threadsafe<T> {
    /// Queues `value` for the JS thread without blocking.
    pub fn call(&self, value: T) -> Queued {
        let finalized = self.finalized.lock().unwrap_or_else(|p| p.into_inner());
        if *finalized {
            return Queued::Closing;
        }
        let data = Box::into_raw(Box::new(value)) as *mut c_void;
        // SAFETY: raw is alive (not finalized, checked under the lock Node's
        // finalizer takes); data is reclaimed by call_js or below.
        let status = unsafe { napi_call_threadsafe_function(self.raw, data, NAPI_TSFN_NONBLOCKING) };
        if status == NAPI_OK {
            return Queued::Yes;
        }
        // SAFETY: Node did not take the value.
        drop(unsafe { Box::from_raw(data as *mut T) });
        if status == NAPI_QUEUE_FULL {
            Queued::Full
        } else {
            Queued::Closing
        }
    }
}

impl<T: Send + 'static> Drop for Threadsafe<T> {
    fn drop(&mut self) {
        let finalized = self.finalized.lock().unwrap_or_else(|p| p.into_inner());
        if !*finalized {
            // SAFETY: raw is alive, as checked under the finalizer's lock.
            unsafe { napi_release_threadsafe_function(self.raw, NAPI_TSFN_RELEASE) };
        }
    }
}

unsafe extern "C" fn tsfn_finalize<T>(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: data is the Box<TsfnContext<T>> given at creation, finalized once.
        let ctx = unsafe { Box::from_raw(data as *mut TsfnContext<T>) };
        *ctx.finalized.lock().unwrap_or_else(|p| p.into_inner()) = true;
    }));
}

unsafe extern "C" fn tsfn_call_js<T: Send + 'static>(
    env: napi_env,
    js_callback: napi_value,
    context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: data is a Box<T> queued by Threadsafe::call; it is ours now.
    let value = unsafe { Box::from_raw(data as *mut T) };
    // A null env means Node is tearing the function down: just drop the value.
    if env.is_null() || js_callback.is_null() || context.is_null() {
        return;
    }
    // SAFETY: context is the TsfnContext<T>, alive until tsfn_finalize.
    let ctx = unsafe { &*(context as *const TsfnContext<T>) };
    let function = ctx.function;
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let _boundary = Boundary::enter();
        let call = Call { env, function, args: [ptr::null_mut(); MAX_ARGS] };
        let arg = (ctx.to_js)(&call, *value)?;
        let recv = call.undefined()?;
        let mut result = ptr::null_mut();
        // An exception thrown by the callback stays pending: Node reports it
        // as uncaught, as it does for any event listener.
        // SAFETY: every handle belongs to this callback's scope.
        unsafe { napi_call_function(env, recv, js_callback, 1, &arg, &mut result) };
        Ok::<(), JsError>(())
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(err)) => throw(env, &err),
        Err(payload) => throw(env, &panic_error(function, payload)),
    }
}

impl Call {
    /// Argument `index` as a JS function; `name` is its name in `index.d.ts`.
    pub fn function_arg(&self, index: usize, name: &str) -> Result<napi_value, JsError> {
        let value = self.args[index];
        let kind = self.type_of(value);
        if kind != NAPI_FUNCTION {
            return Err(self.arg_error(name, "a function", type_name(kind)));
        }
        Ok(value)
    }

    /// Wraps JS function `func` so another thread can queue calls to it, at
    /// most `max_queue` waiting; `to_js` makes each value its argument.
    pub fn threadsafe<T: Send + 'static>(
        &self,
        func: napi_value,
        max_queue: usize,
        to_js: ToJs<T>,
    ) -> Result<Threadsafe<T>, JsError> {
        let finalized = std::sync::Arc::new(std::sync::Mutex::new(false));
        let ctx = Box::into_raw(Box::new(TsfnContext { function: self.function, to_js, finalized: finalized.clone() }));
        let name = create_string(self.env, self.function);
        let mut raw = ptr::null_mut();
        // SAFETY: ctx lives until tsfn_finalize reclaims it; func is a live function handle.
        let status = unsafe {
            napi_create_threadsafe_function(
                self.env,
                func,
                ptr::null_mut(),
                name,
                max_queue,
                1,
                ctx as *mut c_void,
                Some(tsfn_finalize::<T>),
                ctx as *mut c_void,
                Some(tsfn_call_js::<T>),
                &mut raw,
            )
        };
        if status != NAPI_OK {
            // SAFETY: Node did not take ctx.
            drop(unsafe { Box::from_raw(ctx) });
            check(status, "napi_create_threadsafe_function");
        }
        Ok(Threadsafe { raw, finalized, _marker: std::marker::PhantomData })
    }
}
