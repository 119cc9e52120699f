//! The few libc calls the relay needs, declared by hand because crates.io is
//! not reachable where Tern is built, with small safe wrappers around them.
//! Constants are the Linux values, identical on x86_64 and arm64.

use std::ffi::{c_int, c_long, c_ulong, c_void};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicU32, Ordering};

pub const SIGHUP: c_int = 1;
pub const SIGINT: c_int = 2;
pub const SIGUSR1: c_int = 10;
pub const SIGTERM: c_int = 15;

const POLLIN: i16 = 0x1;
const O_NONBLOCK: c_int = 0o4000;
const O_CLOEXEC: c_int = 0o2000000;
const PR_SET_PDEATHSIG: c_int = 1;
const PR_SET_TIMERSLACK: c_int = 29;
const SIG_BLOCK: c_int = 0;
const SCHED_FIFO: c_int = 1;
const ESRCH: i32 = 3;
const EPERM: i32 = 1;
/// _IOW('T', 202, int): attach this file to a TUN/TAP interface.
const TUNSETIFF: c_ulong = 0x4004_54ca;
const IFF_TUN: u16 = 0x0001;
const IFF_NO_PI: u16 = 0x1000;
const IFNAMSIZ: usize = 16;

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

#[repr(C)]
struct Timespec {
    tv_sec: c_long,
    tv_nsec: c_long,
}

#[repr(C)]
struct SchedParam {
    sched_priority: c_int,
}

/// glibc's sigset_t: 1024 bits.
#[repr(C)]
struct SigSet {
    bits: [u64; 16],
}

extern "C" {
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn ppoll(fds: *mut PollFd, nfds: c_ulong, timeout: *const Timespec, sigmask: *const SigSet) -> c_int;
    fn prctl(option: c_int, ...) -> c_int;
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn sigemptyset(set: *mut SigSet) -> c_int;
    fn sigaddset(set: *mut SigSet, signum: c_int) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn sched_setscheduler(pid: c_int, policy: c_int, param: *const SchedParam) -> c_int;
    fn getppid() -> c_int;
}

/// Bits set by the signal handler, read and cleared by the main loop.
pub const FLAG_TERM: u32 = 1;
pub const FLAG_STATS: u32 = 2;
pub const FLAG_RELOAD: u32 = 4;
static SIGNAL_FLAGS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(sig: c_int) {
    let bit = match sig {
        SIGUSR1 => FLAG_STATS,
        SIGHUP => FLAG_RELOAD,
        _ => FLAG_TERM,
    };
    SIGNAL_FLAGS.fetch_or(bit, Ordering::SeqCst);
}

/// Take the signal flags raised since the last call.
pub fn take_signal_flags() -> u32 {
    SIGNAL_FLAGS.swap(0, Ordering::SeqCst)
}

/// Install handlers for TERM/INT/HUP/USR1 and block those signals outside
/// wait(): they are delivered only inside ppoll, so none is lost between
/// checking the flags and going to sleep.
pub fn install_signal_handlers() -> io::Result<()> {
    let sigs = [SIGTERM, SIGINT, SIGHUP, SIGUSR1];
    unsafe {
        let mut set = SigSet { bits: [0; 16] };
        sigemptyset(&mut set);
        for s in sigs {
            sigaddset(&mut set, s);
            signal(s, on_signal);
        }
        if sigprocmask(SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Ask the kernel to send SIGTERM when the parent process exits, and check
/// that the parent did not already exit before the request took effect.
pub fn die_with_parent() -> io::Result<()> {
    let parent = unsafe { getppid() };
    if unsafe { prctl(PR_SET_PDEATHSIG, SIGTERM as c_ulong) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if parent == 1 {
        return Err(io::Error::other("parent already exited"));
    }
    Ok(())
}

/// Timer slack delays every wakeup by up to 50 µs by default; the relay's
/// whole point is accurate holding times, so ask for 1 ns.
pub fn tight_timer_slack() {
    unsafe {
        prctl(PR_SET_TIMERSLACK, 1 as c_ulong);
    }
}

/// Run under SCHED_FIFO at `priority` (1-99). On this 2-core VM a normal
/// process wakes ~0.3 ms late on average with multi-ms outliers; real-time
/// scheduling brings the mean near 0.1 ms. The relay sleeps between packets,
/// so it never starves the machine.
pub fn realtime(priority: i32) -> io::Result<()> {
    let p = SchedParam { sched_priority: priority };
    if unsafe { sched_setscheduler(0, SCHED_FIFO, &p) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// True while a process with this pid exists (EPERM still means it exists).
pub fn process_alive(pid: i32) -> bool {
    if unsafe { kill(pid, 0) } == 0 {
        return true;
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(ESRCH) => false,
        Some(EPERM) => true,
        _ => true,
    }
}

/// Create (or attach to) the TUN interface `name`, without packet-info
/// header, non-blocking. Returns the file and the interface name the kernel
/// gave it. A non-persistent TUN vanishes with its last file descriptor, so
/// the relay exiting also removes the interface and its routes.
pub fn open_tun(name: &str) -> io::Result<(File, String)> {
    if name.is_empty() || name.len() >= IFNAMSIZ || name.contains('/') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface name must be 1-15 characters"));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(O_NONBLOCK | O_CLOEXEC)
        .open("/dev/net/tun")?;
    // struct ifreq: 16 bytes of name, then a 24-byte union whose first
    // member here is the short ifr_flags.
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    ifr[16..18].copy_from_slice(&(IFF_TUN | IFF_NO_PI).to_ne_bytes());
    if unsafe { ioctl(file.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr() as *mut c_void) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let end = ifr[..IFNAMSIZ].iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
    Ok((file, String::from_utf8_lossy(&ifr[..end]).into_owned()))
}

/// Wait until `file` is readable or `timeout_ns` passes; signals blocked by
/// install_signal_handlers are let through only during the wait. Returns
/// true when readable; an interrupted wait returns false.
pub fn wait_readable(file: &File, timeout_ns: u64) -> io::Result<bool> {
    let mut pfd = PollFd { fd: file.as_raw_fd(), events: POLLIN, revents: 0 };
    let ts = Timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as c_long,
        tv_nsec: (timeout_ns % 1_000_000_000) as c_long,
    };
    let mut empty = SigSet { bits: [0; 16] };
    unsafe { sigemptyset(&mut empty) };
    let n = unsafe { ppoll(&mut pfd, 1, &ts, &empty) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(err);
    }
    Ok(n > 0 && (pfd.revents & POLLIN) != 0)
}
