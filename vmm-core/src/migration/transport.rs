//! Where a migration stream goes: `unix:PATH` or `tcp:HOST:PORT`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

/// Errors of the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Not `unix:PATH` or `tcp:HOST:PORT`.
    #[error("migration address {0:?}: expected unix:PATH or tcp:HOST:PORT")]
    BadUri(String),
    /// A Unix socket path that cannot be listened on.
    #[error(transparent)]
    Listen(crate::socket::ListenError),
    /// Connecting, listening or accepting failed.
    #[error("{what} {uri}")]
    Io {
        /// What failed.
        what: &'static str,
        /// The address.
        uri: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A parsed migration address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    /// A Unix socket path.
    Unix(PathBuf),
    /// A TCP host and port.
    Tcp(String),
}

impl Uri {
    /// Parses `unix:PATH` or `tcp:HOST:PORT`.
    pub fn parse(s: &str) -> Result<Uri, TransportError> {
        if let Some(p) = s.strip_prefix("unix:").filter(|p| !p.is_empty()) {
            return Ok(Uri::Unix(PathBuf::from(p)));
        }
        if let Some(a) = s.strip_prefix("tcp:") {
            if let Some((host, port)) = a.rsplit_once(':') {
                if !host.is_empty() && port.parse::<u16>().is_ok() {
                    return Ok(Uri::Tcp(a.to_string()));
                }
            }
        }
        Err(TransportError::BadUri(s.to_string()))
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Uri::Unix(p) => write!(f, "unix:{}", p.display()),
            Uri::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// A connected stream of either kind.
pub trait Stream: Read + Write + Send {
    /// Sets the read and write timeouts.
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()>;
}

impl Stream for UnixStream {
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(t)?;
        self.set_write_timeout(t)
    }
}

impl Stream for TcpStream {
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(t)?;
        self.set_write_timeout(t)
    }
}

fn io(what: &'static str, uri: &Uri) -> impl FnOnce(std::io::Error) -> TransportError {
    let uri = uri.to_string();
    move |source| TransportError::Io { what, uri, source }
}

/// Connects to a listening destination.
pub fn connect(uri: &Uri, timeout: Duration) -> Result<Box<dyn Stream>, TransportError> {
    match uri {
        Uri::Unix(p) => Ok(Box::new(
            UnixStream::connect(p).map_err(io("cannot connect to", uri))?,
        )),
        Uri::Tcp(a) => {
            let addr = a
                .to_socket_addrs()
                .map_err(io("cannot resolve", uri))?
                .next()
                .ok_or_else(|| TransportError::BadUri(uri.to_string()))?;
            let s =
                TcpStream::connect_timeout(&addr, timeout).map_err(io("cannot connect to", uri))?;
            s.set_nodelay(true)
                .map_err(io("cannot set TCP_NODELAY on", uri))?;
            Ok(Box::new(s))
        }
    }
}

/// A listening destination.
pub enum Listener {
    /// On a Unix socket (removed when dropped).
    Unix(UnixListener, PathBuf),
    /// On TCP.
    Tcp(TcpListener),
}

impl Listener {
    /// Listens on `uri`.
    pub fn bind(uri: &Uri) -> Result<Listener, TransportError> {
        match uri {
            // Only a stale socket at the path is replaced; a user's file is refused and kept.
            Uri::Unix(p) => Ok(Listener::Unix(
                crate::socket::listen(p).map_err(TransportError::Listen)?,
                p.clone(),
            )),
            Uri::Tcp(a) => Ok(Listener::Tcp(
                TcpListener::bind(a.as_str()).map_err(io("cannot listen on", uri))?,
            )),
        }
    }

    /// The bound TCP port (for `tcp:HOST:0`).
    pub fn port(&self) -> Option<u16> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok().map(|a| a.port()),
            Listener::Unix(..) => None,
        }
    }

    /// Accepts one source.
    pub fn accept(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(match self {
            Listener::Unix(l, _) => Box::new(l.accept()?.0),
            Listener::Tcp(l) => {
                let s = l.accept()?.0;
                s.set_nodelay(true)?;
                Box::new(s)
            }
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            Uri::parse("unix:/tmp/x").unwrap(),
            Uri::Unix("/tmp/x".into())
        );
        assert_eq!(
            Uri::parse("tcp:127.0.0.1:4444").unwrap(),
            Uri::Tcp("127.0.0.1:4444".into())
        );
        assert_eq!(
            Uri::parse("tcp:[::1]:80").unwrap(),
            Uri::Tcp("[::1]:80".into())
        );
        for bad in [
            "",
            "unix:",
            "tcp:host",
            "tcp::80",
            "tcp:h:99999",
            "udp:x:1",
            "/tmp/x",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }
}
