//! TCP on the netpoller: `TcpListener` and `TcpStream` whose blocking
//! operations park the goroutine ("IO wait"), not the thread.
//!
//! Sockets are non-blocking std sockets registered with the poller; an
//! operation tries the system call, and on `WouldBlock` waits for the
//! edge-triggered readiness event and tries again.
//!
//! A poll descriptor has one waiter slot per direction (Go's rg and wg), so
//! at most one goroutine per direction may wait in the poller. Sockets are
//! `Sync` and several goroutines may read (or write, or accept) at once, so
//! each direction has a goroutine-parking lock held across the system call
//! and the wait, as Go's `fdMutex` read and write locks: the others queue
//! on it ("semacquire" in dumps) and each is served in turn.

use crate::netpoll::{self, PollDesc};
use crate::sync::{Mutex, MutexGuard};
use grt_table::waitreason;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};

/// A TCP listener whose `accept` parks the goroutine.
pub struct TcpListener {
    inner: std::net::TcpListener,
    pd: &'static PollDesc,
    /// Held by the one goroutine accepting (waiting in the poller).
    alock: Mutex<()>,
}

/// Takes a direction's lock (see the module comment).
fn io_lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    m.lock_waiting_as(waitreason::SEMACQUIRE)
}

impl TcpListener {
    /// Binds to `addr` (port 0 picks a free port).
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        crate::need_runtime("net::TcpListener::bind");
        let inner = std::net::TcpListener::bind(addr)?;
        inner.set_nonblocking(true)?;
        let pd = netpoll::open(inner.as_raw_fd())?;
        Ok(TcpListener { inner, pd, alock: Mutex::new(()) })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Accepts a connection, parking until one arrives.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        crate::proc::preempt_check();
        let _held = io_lock(&self.alock);
        loop {
            match self.inner.accept() {
                Ok((s, addr)) => return Ok((TcpStream::from_std(s)?, addr)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.pd.wait(false)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        netpoll::close(self.pd);
    }
}

/// A TCP connection whose reads and writes park the goroutine.
pub struct TcpStream {
    inner: std::net::TcpStream,
    pd: &'static PollDesc,
    /// Held by the one goroutine reading, and the one writing.
    rlock: Mutex<()>,
    wlock: Mutex<()>,
}

impl TcpStream {
    fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        let pd = netpoll::open(s.as_raw_fd())?;
        Ok(TcpStream::with_pd(s, pd))
    }

    fn with_pd(inner: std::net::TcpStream, pd: &'static PollDesc) -> TcpStream {
        TcpStream { inner, pd, rlock: Mutex::new(()), wlock: Mutex::new(()) }
    }

    /// Connects to `addr`, parking while the connection is being set up.
    #[track_caller]
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        crate::need_runtime("net::TcpStream::connect");
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no addresses to connect to");
        for a in addr.to_socket_addrs()? {
            match Self::connect_one(a) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
        // SAFETY: creates a new socket fd that we own from here on.
        let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh socket owned by nobody else.
        let std = unsafe { std::net::TcpStream::from_raw_fd(fd) };
        let (storage, len) = sockaddr(&addr);
        // SAFETY: storage holds a valid sockaddr of length len.
        let r = unsafe { libc::connect(fd, &storage as *const _ as *const libc::sockaddr, len) };
        let pd = netpoll::open(fd)?;
        let s = TcpStream::with_pd(std, pd);
        if r != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
            s.pd.wait(true)?;
            if let Some(e) = s.inner.take_error()? {
                return Err(e);
            }
        }
        Ok(s)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    pub fn set_nodelay(&self, v: bool) -> io::Result<()> {
        self.inner.set_nodelay(v)
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Reads some bytes, parking until at least one is available (0 = EOF).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        crate::proc::preempt_check();
        let _held = io_lock(&self.rlock);
        self.read_locked(buf)
    }

    /// Writes some bytes, parking while the socket buffer is full.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        crate::proc::preempt_check();
        let _held = io_lock(&self.wlock);
        self.write_locked(buf)
    }

    /// Fills `buf`, holding the read lock throughout: concurrent readers
    /// never split one `read_exact`'s bytes.
    pub fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        crate::proc::preempt_check();
        let _held = io_lock(&self.rlock);
        while !buf.is_empty() {
            match self.read_locked(buf)? {
                0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected EOF")),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Writes all of `buf`, holding the write lock throughout (as a Go
    /// `Write`): concurrent writers' buffers are never interleaved.
    pub fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        crate::proc::preempt_check();
        let _held = io_lock(&self.wlock);
        while !buf.is_empty() {
            match self.write_locked(buf)? {
                0 => return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0")),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// One read; the caller holds `rlock`, so it is the only reader waiting.
    fn read_locked(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match (&self.inner).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.pd.wait(false)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// One write; the caller holds `wlock`.
    fn write_locked(&self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match (&self.inner).write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.pd.wait(true)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// The raw fd (still owned by the stream).
    pub fn as_raw_fd(&self) -> i32 {
        self.inner.as_raw_fd()
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::read(self, buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        TcpStream::write(self, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::read(self, buf)
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        TcpStream::write(self, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        netpoll::close(self.pd);
    }
}

impl IntoRawFd for TcpStream {
    fn into_raw_fd(self) -> i32 {
        let me = core::mem::ManuallyDrop::new(self);
        netpoll::close(me.pd);
        // SAFETY: `me` is never dropped; we move the std stream out once.
        let inner = unsafe { core::ptr::read(&me.inner) };
        inner.into_raw_fd()
    }
}

fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut st: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { core::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in, sin) };
            (st, core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { core::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (st, core::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}
