//! sd_notify(3) without libsystemd: one datagram with the state lines
//! ("READY=1\nSTATUS=...") to the AF_UNIX socket named by `$NOTIFY_SOCKET`.
//!
//! systemd passes either a filesystem path ("/run/systemd/notify") or, for
//! some managers and containers, an abstract name written with a leading '@'
//! ("@/org/freedesktop/systemd1/notify"), whose sockaddr starts with a NUL
//! byte instead. std builds both kinds of sockaddr, so no libc is needed.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Why a notification was not delivered.
#[derive(Debug)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` is neither an absolute path nor an @abstract name,
    /// or is too long for a sockaddr_un.
    Address { socket: OsString, reason: String },
    /// socket(2) or sendto(2) failed; `source` carries errno.
    Io {
        action: &'static str,
        socket: OsString,
        source: io::Error,
    },
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::Address { socket, reason } => {
                write!(f, "NOTIFY_SOCKET {:?}: {}", socket, reason)
            }
            NotifyError::Io {
                action,
                socket,
                source,
            } => {
                write!(f, "{} NOTIFY_SOCKET {:?}: {}", action, socket, source)
            }
        }
    }
}

/// Builds the sockaddr for a `$NOTIFY_SOCKET` value.
pub fn socket_addr(socket: &OsStr) -> Result<SocketAddr, NotifyError> {
    let bytes = socket.as_bytes();
    let addr = match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(socket),
        // An empty abstract name would mean "autobind", never a listener.
        Some(b'@') if bytes.len() > 1 => SocketAddr::from_abstract_name(&bytes[1..]),
        _ => {
            return Err(NotifyError::Address {
                socket: socket.to_owned(),
                reason: "expected an absolute path or an @abstract name".to_string(),
            })
        }
    };
    // std refuses names longer than sun_path (108 bytes with the NUL).
    addr.map_err(|err| NotifyError::Address {
        socket: socket.to_owned(),
        reason: err.to_string(),
    })
}

/// Sends `state` to `socket` (the value of `$NOTIFY_SOCKET`). Returns
/// Ok(false) when there is no socket, i.e. the process is not run by a
/// service manager that wants notifications, as sd_notify(3) does.
pub fn notify(socket: Option<&OsStr>, state: &[u8]) -> Result<bool, NotifyError> {
    let socket = match socket {
        Some(s) => s,
        None => return Ok(false),
    };
    let addr = socket_addr(socket)?;
    let io_error = |action: &'static str, source: io::Error| NotifyError::Io {
        action,
        socket: socket.to_owned(),
        source,
    };
    let sender = UnixDatagram::unbound().map_err(|e| io_error("open socket for", e))?;
    let sent = sender
        .send_to_addr(state, &addr)
        .map_err(|e| io_error("send to", e))?;
    // A datagram goes whole or not at all; a short count would be a kernel
    // surprise worth reporting rather than a half-read state.
    if sent != state.len() {
        let short = io::Error::new(
            io::ErrorKind::WriteZero,
            format!("sent {} of {} bytes", sent, state.len()),
        );
        return Err(io_error("send to", short));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process;

    #[test]
    fn socket_addr_forms() {
        struct Case {
            socket: &'static str,
            path: Option<&'static str>,
            abstract_name: Option<&'static [u8]>,
        }
        let cases = [
            Case {
                socket: "/run/systemd/notify",
                path: Some("/run/systemd/notify"),
                abstract_name: None,
            },
            Case {
                socket: "@/org/freedesktop/systemd1/notify",
                path: None,
                abstract_name: Some(b"/org/freedesktop/systemd1/notify"),
            },
            Case {
                socket: "@x",
                path: None,
                abstract_name: Some(b"x"),
            },
        ];
        for c in cases {
            let addr = socket_addr(OsStr::new(c.socket)).unwrap_or_else(|e| {
                panic!(
                    "socket_addr({:?}): got error {}; want an address",
                    c.socket, e
                )
            });
            let path = addr.as_pathname().map(|p| p.to_str().unwrap().to_string());
            assert_eq!(
                path.as_deref(),
                c.path,
                "socket_addr({:?}) path: got {:?}; want {:?}",
                c.socket,
                path,
                c.path
            );
            let name = addr.as_abstract_name();
            assert_eq!(
                name, c.abstract_name,
                "socket_addr({:?}) abstract name: got {:?}; want {:?}",
                c.socket, name, c.abstract_name
            );
        }
    }

    #[test]
    fn socket_addr_rejects() {
        let too_long = format!("/{}", "a".repeat(108));
        for socket in ["", "@", "run/notify", "vsock:2:1234", too_long.as_str()] {
            match socket_addr(OsStr::new(socket)) {
                Err(NotifyError::Address { .. }) => {}
                other => panic!(
                    "socket_addr({:?}): got {:?}; want an Address error",
                    socket,
                    other.map(|_| ())
                ),
            }
        }
    }

    #[test]
    fn notify_unset_is_false() {
        let got = notify(None, b"READY=1").expect("no error when unset");
        assert!(!got, "notify(None): got {}; want false", got);
    }

    #[test]
    fn notify_delivers_exact_bytes() {
        let dir = std::env::temp_dir().join(format!("tern-sdnotify-test-{}", process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let abstract_name = format!("@tern-sdnotify-test-{}", process::id());

        let path_receiver = UnixDatagram::bind(&path).unwrap();
        let abstract_addr = SocketAddr::from_abstract_name(&abstract_name.as_bytes()[1..]).unwrap();
        let abstract_receiver = UnixDatagram::bind_addr(&abstract_addr).unwrap();

        let state = b"READY=1\nSTATUS=up \xe2\x9c\x93\n";
        for (socket, receiver) in [
            (path.as_os_str(), &path_receiver),
            (OsStr::new(&abstract_name), &abstract_receiver),
        ] {
            let sent = notify(Some(socket), state)
                .unwrap_or_else(|e| panic!("notify({:?}): got error {}; want Ok", socket, e));
            assert!(sent, "notify({:?}): got false; want true", socket);
            let mut buf = [0u8; 256];
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(
                &buf[..n],
                &state[..],
                "datagram at {:?}: got {:?}; want {:?}",
                socket,
                &buf[..n],
                &state[..]
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn notify_without_listener_carries_errno() {
        let socket = format!("@tern-sdnotify-nobody-{}", process::id());
        match notify(Some(OsStr::new(&socket)), b"READY=1") {
            Err(NotifyError::Io { source, .. }) => {
                let errno = source.raw_os_error();
                // ECONNREFUSED: nothing is bound to that abstract name.
                assert_eq!(errno, Some(111), "errno: got {:?}; want Some(111)", errno);
            }
            other => panic!(
                "notify to an unbound name: got {:?}; want an Io error",
                other.map(|_| ())
            ),
        }
    }
}
