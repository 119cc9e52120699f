//! Tern's native Node.js module: the parts of the appliance that Node cannot
//! do itself. This file only lists the exports; each feature has its own
//! module. The JS-facing types are in `../index.d.ts`, and a test checks that
//! they match what is registered here.

// The test build leaves out the registration, so most of the N-API glue is
// unreferenced there; it is exercised through Node by the tap tests.
#![cfg_attr(test, allow(dead_code))]

mod napi;
mod sdnotify;

use napi::{Call, Export, JsError, CODE_IO};

/// Every function the module exports, in `index.d.ts` order.
static EXPORTS: [Export; 3] = [
    Export {
        name: "version",
        body: version,
    },
    Export {
        name: "sdNotify",
        body: sd_notify,
    },
    Export {
        name: "debugPanic",
        body: debug_panic,
    },
];

/// `version(): string`: the crate version, so the loader can tell a stale build.
fn version(call: &Call) -> Result<napi::napi_value, JsError> {
    call.string(env!("CARGO_PKG_VERSION"))
}

/// `sdNotify(state: string): boolean`: reads `$NOTIFY_SOCKET` at every call,
/// like sd_notify(3), so a daemon needs no setup.
fn sd_notify(call: &Call) -> Result<napi::napi_value, JsError> {
    let state = call.string_arg(0, "state")?;
    let socket = std::env::var_os("NOTIFY_SOCKET");
    match sdnotify::notify(socket.as_deref(), state.as_bytes()) {
        Ok(sent) => call.boolean(sent),
        Err(err) => Err(JsError::new(CODE_IO, format!("native: sdNotify: {}", err))),
    }
}

/// `debugPanic(message: string): never`: panics on purpose so tests can prove
/// a panic reaches JS as an exception instead of aborting Node.
fn debug_panic(call: &Call) -> Result<napi::napi_value, JsError> {
    let message = call.string_arg(0, "message")?;
    panic!("{}", message);
}

/// Node's entry point for N-API modules (what `NAPI_MODULE_INIT` expands to).
/// Left out of `cargo test` builds: the test binary is not loaded by Node, so
/// the napi_* symbols it would pull in could not be resolved.
///
/// # Safety
/// Called by Node only, with a live environment and exports object.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(
    env: napi::napi_env,
    exports: napi::napi_value,
) -> napi::napi_value {
    napi::register(env, exports, &EXPORTS)
}
