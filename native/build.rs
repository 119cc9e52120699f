//! Links the C libraries the fast path uses, as Debian ships them
//! (libnetfilter-queue-dev, libnetfilter-conntrack-dev, libmnl-dev): their
//! functions are declared by hand in src/nfq.rs and src/conntrack.rs, as the
//! N-API is in src/napi.rs, so the crate still needs no crates.io
//! dependency. libnfnetlink comes along for libnetfilter_conntrack.

fn main() {
    for lib in ["netfilter_queue", "netfilter_conntrack", "nfnetlink", "mnl"] {
        println!("cargo:rustc-link-lib=dylib={}", lib);
    }
    println!("cargo:rerun-if-changed=build.rs");
}
