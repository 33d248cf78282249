//! `docker attach` without a daemon: the process that waits for a task (its
//! monitor, or an attached `berth run`) serves a unix socket in the bundle,
//! `attach.sock`; `berth attach` connects to it.
//!
//! Wire format (all lengths big-endian u32):
//! - hub to client: docker's stdcopy frames, `[stream, 0, 0, 0, len]` then
//!   `len` bytes; stream 1 is stdout (and a terminal's output), 2 stderr.
//! - client to hub: `[kind, len]` then `len` bytes; kind 0 is input for the
//!   container's stdin, kind 1 a terminal size (rows u16, cols u16).
//!
//! The hub never blocks on a client: client sockets are non-blocking, and a
//! client that cannot take a frame is disconnected.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use crate::attach::Stream;
use crate::{Error, Result};

const KIND_STDIN: u8 = 0;
const KIND_RESIZE: u8 = 1;
/// Largest client frame accepted.
const MAX_FRAME: usize = 1 << 20;

/// The serving side, polled by the loop that waits for the task.
#[derive(Debug)]
pub struct Hub {
    listener: UnixListener,
    clients: Vec<Client>,
}

#[derive(Debug)]
struct Client {
    sock: UnixStream,
    inbuf: Vec<u8>,
}

/// Where clients' input goes.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The pty master (a terminal container): input and sizes.
    pub master: Option<BorrowedFd<'a>>,
    /// The write end of the container's stdin pipe (`-i` without a terminal).
    pub stdin: Option<BorrowedFd<'a>>,
}

impl Hub {
    /// Serve on `listener` (made non-blocking).
    pub fn new(listener: UnixListener) -> Result<Self> {
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::sys("attach socket", e))?;
        Ok(Self {
            listener,
            clients: Vec::new(),
        })
    }

    /// The fds to poll: the listener first, then each client.
    pub fn poll_fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = vec![self.listener.as_fd()];
        v.extend(self.clients.iter().map(|c| c.sock.as_fd()));
        v
    }

    /// Handles readiness of the `i`th fd of [`Hub::poll_fds`].
    pub fn ready(&mut self, i: usize, input: Input<'_>) {
        if i == 0 {
            while let Ok((sock, _)) = self.listener.accept() {
                if sock.set_nonblocking(true).is_ok() {
                    tracing::debug!("attach client connected");
                    self.clients.push(Client {
                        sock,
                        inbuf: Vec::new(),
                    });
                }
            }
            return;
        }
        let idx = i - 1;
        let Some(client) = self.clients.get_mut(idx) else {
            return;
        };
        let mut buf = [0u8; 32 * 1024];
        let alive = match client.sock.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                client.inbuf.extend_from_slice(&buf[..n]);
                client.handle_frames(input)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
            Err(_) => false,
        };
        if !alive {
            self.clients.remove(idx);
        }
    }

    /// Sends output to every client, dropping those that cannot take it.
    pub fn broadcast(&mut self, stream: Stream, data: &[u8]) {
        if self.clients.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(8 + data.len());
        frame.push(match stream {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        });
        frame.extend_from_slice(&[0, 0, 0]);
        frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        frame.extend_from_slice(data);
        self.clients
            .retain_mut(|c| write_all_nonblocking(&mut c.sock, &frame));
    }
}

/// Writes the whole frame, waiting a little for a slow reader; false if the
/// client is gone or too slow (it is then dropped).
fn write_all_nonblocking(sock: &mut UnixStream, mut data: &[u8]) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while !data.is_empty() {
        match sock.write(data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() > deadline {
                    return false;
                }
                let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::from(50u8));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

impl Client {
    /// Applies every complete frame; false if the client sent garbage.
    fn handle_frames(&mut self, input: Input<'_>) -> bool {
        loop {
            if self.inbuf.len() < 5 {
                return true;
            }
            let kind = self.inbuf[0];
            let len =
                u32::from_be_bytes([self.inbuf[1], self.inbuf[2], self.inbuf[3], self.inbuf[4]])
                    as usize;
            if len > MAX_FRAME {
                return false;
            }
            if self.inbuf.len() < 5 + len {
                return true;
            }
            let payload: Vec<u8> = self.inbuf.drain(..5 + len).skip(5).collect();
            match kind {
                KIND_STDIN => {
                    if let Some(fd) = input.master.or(input.stdin) {
                        write_fd_all(fd, &payload);
                    }
                }
                KIND_RESIZE if payload.len() == 4 => {
                    if let Some(m) = input.master {
                        let ws = rustix::termios::Winsize {
                            ws_row: u16::from_be_bytes([payload[0], payload[1]]),
                            ws_col: u16::from_be_bytes([payload[2], payload[3]]),
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        let _ = rustix::termios::tcsetwinsize(m, ws);
                    }
                }
                _ => return false,
            }
        }
    }
}

fn write_fd_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(0) => return,
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::from(100u8));
            }
            Err(_) => return,
        }
    }
}

/// How an attach session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The task ended (the hub closed the socket).
    Closed,
    /// The user typed the detach keys.
    Detached,
}

/// `berth attach` options.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The container has a terminal (raw output, detach keys, sizes).
    pub tty: bool,
    /// Send our stdin (`--no-stdin` turns it off).
    pub stdin: bool,
    /// Forward signals to `pid` (`--sig-proxy`, non-terminal only).
    pub sig_proxy: Option<i32>,
    /// The detach sequence (`ctrl-p,ctrl-q` by default).
    pub detach_keys: Vec<u8>,
}

/// Parses docker's `--detach-keys` (`ctrl-p,ctrl-q`, `a`, `ctrl-@`…).
pub fn parse_detach_keys(s: &str) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{k}'"));
        }
    }
    Ok(out)
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + payload.len());
    v.push(kind);
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn size_frame(fd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    let ws = rustix::termios::tcgetwinsize(fd).ok()?;
    let mut p = ws.ws_row.to_be_bytes().to_vec();
    p.extend_from_slice(&ws.ws_col.to_be_bytes());
    Some(frame(KIND_RESIZE, &p))
}

/// The client side: copies the hub's output to our stdout/stderr and our
/// stdin to the hub until the hub closes or the user detaches. Single-threaded.
pub fn attach_client(mut sock: UnixStream, o: &ClientOptions) -> Result<AttachEnd> {
    let _guard = crate::attach::SignalGuard::block()?;
    let mut set = nix::sys::signal::SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        set.add(s);
    }
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::sys("creating a signalfd", e))?;
    let stdin = std::io::stdin();
    let stdin_fd = stdin.as_fd();
    let stdin_tty = rustix::termios::isatty(stdin_fd);
    let _raw = if o.tty && o.stdin && stdin_tty {
        crate::attach::RawMode::enter_fd(stdin_fd)
    } else {
        None
    };
    if o.tty && stdin_tty {
        if let Some(f) = size_frame(stdin_fd) {
            let _ = sock.write_all(&f);
        }
    }
    let mut stdin_open = o.stdin;
    let mut pending: Vec<u8> = Vec::new();
    let mut matched = 0usize;
    let mut buf = vec![0u8; 32 * 1024];
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    loop {
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(sock.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin_fd, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                if sig == Signal::SIGWINCH {
                    if let Some(f) = size_frame(stdin_fd).filter(|_| o.tty) {
                        let _ = sock.write_all(&f);
                    }
                } else if let Some(pid) = o.sig_proxy {
                    let _ = signal::kill(Pid::from_raw(pid), sig);
                } else {
                    return Ok(AttachEnd::Detached);
                }
            }
        }
        if ready[1] {
            match sock.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = out.flush();
                    return Ok(AttachEnd::Closed);
                }
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    while pending.len() >= 8 {
                        let len =
                            u32::from_be_bytes([pending[4], pending[5], pending[6], pending[7]])
                                as usize;
                        if pending.len() < 8 + len {
                            break;
                        }
                        let data = &pending[8..8 + len];
                        let _ = if pending[0] == 2 {
                            err.write_all(data)
                        } else {
                            out.write_all(data).and_then(|_| out.flush())
                        };
                        pending.drain(..8 + len);
                    }
                }
            }
        }
        if stdin_open && ready.get(2) == Some(&true) {
            match stdin.lock().read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let mut data = &buf[..n];
                    let mut keep = Vec::new();
                    if o.tty && !o.detach_keys.is_empty() {
                        for &b in data {
                            if b == o.detach_keys[matched] {
                                matched += 1;
                                if matched == o.detach_keys.len() {
                                    return Ok(AttachEnd::Detached);
                                }
                            } else {
                                // Not the sequence after all: send what was held back.
                                keep.extend_from_slice(&o.detach_keys[..matched]);
                                matched = 0;
                                keep.push(b);
                            }
                        }
                        data = &keep;
                    }
                    if !data.is_empty() && sock.write_all(&frame(KIND_STDIN, data)).is_err() {
                        return Ok(AttachEnd::Closed);
                    }
                }
            }
        }
    }
}

/// Binds the attach socket at `dir/attach.sock`, going through an fd of
/// `dir` since socket paths must fit in 108 bytes.
pub fn bind(dir: &std::path::Path) -> Result<UnixListener> {
    let d = std::fs::File::open(dir).map_err(|e| Error::sys("opening the bundle", e))?;
    let path = format!(
        "/proc/self/fd/{}/attach.sock",
        std::os::fd::AsRawFd::as_raw_fd(&d)
    );
    let _ = std::fs::remove_file(&path);
    UnixListener::bind(&path).map_err(|e| Error::sys("binding the attach socket", e))
}

/// Connects to `dir/attach.sock`.
pub fn connect(dir: &std::path::Path) -> std::io::Result<UnixStream> {
    let d = std::fs::File::open(dir)?;
    let path = format!(
        "/proc/self/fd/{}/attach.sock",
        std::os::fd::AsRawFd::as_raw_fd(&d)
    );
    UnixStream::connect(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-foo").is_err());
    }
}
