// Types of Tern's native module (tern.node), written by hand to match
// src/lib.rs; daemons/lib/native/exports.test.ts checks that every function
// declared here is exported by the module and nothing else is.
//
// Every function throws an Error with a `code` property instead of crashing:
// TERN_E_NATIVE_ARG for an argument of the wrong type, TERN_E_NATIVE_PANIC
// when Rust code panicked (message `native: <function>: panic: ...`), and
// TERN_E_NATIVE_IO when a system call failed (the message carries errno).

/** The crate version (Cargo.toml), to tell a stale build from the expected one. */
export declare function version(): string;

/**
 * Sends `state` (newline-separated assignments such as "READY=1\nSTATUS=up")
 * as one datagram to the service manager socket in `$NOTIFY_SOCKET`, as
 * sd_notify(3) does; both a path and an `@abstract` name are accepted.
 * Returns false when `$NOTIFY_SOCKET` is unset (not run by systemd), true
 * when the datagram was sent. Throws TERN_E_NATIVE_IO when the variable is
 * not a usable address or the send fails.
 */
export declare function sdNotify(state: string): boolean;

/**
 * Panics inside Rust on purpose, with `message` as the panic text. Exists
 * only so tests can prove a panic becomes a TERN_E_NATIVE_PANIC exception
 * and Node keeps running.
 */
export declare function debugPanic(message: string): never;
