//! Staying attached to a running task: forwarding signals, proxying a pty,
//! and waiting for the exit status. Everything here is single-threaded: one
//! `poll` loop over a signalfd, stdin and the pty master.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::{Error, Result};

/// Signals berth forwards to an attached container (docker's sig-proxy).
const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The signals an attached session handles itself. Block them (with
/// [`SignalGuard::block`]) after the task is created and before it starts,
/// so none is lost and the task never inherits the blocked mask.
fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGWINCH);
    set
}

/// Blocks the session's signals while alive; unblocks them on drop.
#[derive(Debug)]
pub struct SignalGuard {
    set: SigSet,
}

impl SignalGuard {
    /// Blocks the forwarded signals, SIGCHLD and SIGWINCH for this thread.
    pub fn block() -> Result<Self> {
        let set = handled_set();
        set.thread_block()
            .map_err(|e| Error::sys("blocking signals", e))?;
        Ok(Self { set })
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        let _ = self.set.thread_unblock();
    }
}

/// Accepts the container's connection on the console socket and receives
/// the pty master it sends.
pub fn receive_pty_master(listener: &UnixListener) -> Result<OwnedFd> {
    let (conn, _) = listener
        .accept()
        .map_err(|e| Error::sys("accepting on the console socket", e))?;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::sys("receiving the pty master", e))?;
    for c in msg
        .cmsgs()
        .map_err(|e| Error::sys("reading the pty message", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed `fd` in our table through
                // SCM_RIGHTS; nothing else owns it.
                return Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
            }
        }
    }
    Err(Error::sys(
        "receiving the pty master",
        std::io::Error::other("no file descriptor in the message"),
    ))
}

/// Turns a wait status into docker's exit code (128+n for signal n).
fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Puts the host terminal into raw mode and restores it on drop.
struct RawMode {
    fd: BorrowedFd<'static>,
    saved: rustix::termios::Termios,
}

impl RawMode {
    fn enter(fd: BorrowedFd<'static>) -> Option<Self> {
        let saved = rustix::termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(Self { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ =
            rustix::termios::tcsetattr(self.fd, rustix::termios::OptionalActions::Now, &self.saved);
    }
}

fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(ws) = rustix::termios::tcgetwinsize(from) {
        let _ = rustix::termios::tcsetwinsize(to, ws);
    }
}

/// Waits for the task `pid` (a child of this process) while forwarding
/// signals to it and, with a pty `master`, proxying the terminal: stdin (when
/// `interactive`) to the master, the master to stdout. Signals must already
/// be blocked with a [`SignalGuard`]. Returns docker's exit code.
pub fn wait_attached(pid: i32, master: Option<OwnedFd>, interactive: bool) -> Result<i32> {
    let pid = Pid::from_raw(pid);
    let sfd = SignalFd::with_flags(
        &handled_set(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(|e| Error::sys("creating a signalfd", e))?;
    // The task may have exited before the signals were blocked.
    if let Ok(st) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        if let Some(code) = exit_code(st) {
            if let Some(m) = master.as_ref() {
                drain(m.as_fd());
            }
            return Ok(code);
        }
    }
    let stdin = std::io::stdin();
    // SAFETY: fd 0 stays open for the life of the process.
    let stdin_fd: BorrowedFd<'static> = unsafe { BorrowedFd::borrow_raw(0) };
    let _raw = match &master {
        Some(m) if rustix::termios::isatty(stdin_fd) => {
            copy_winsize(stdin_fd, m.as_fd());
            RawMode::enter(stdin_fd)
        }
        _ => None,
    };
    let mut stdin_open = interactive && master.is_some();
    let mut out = std::io::stdout();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
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
        if ready.get(1) == Some(&true) {
            if let Some(m) = &master {
                match rustix::io::read(m, &mut buf) {
                    Ok(0) | Err(_) => {}
                    Ok(n) => {
                        let _ = out.write_all(&buf[..n]);
                        let _ = out.flush();
                    }
                }
            }
        }
        if ready.get(2) == Some(&true) {
            match stdin.lock().read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if let Some(m) = &master {
                        let _ = rustix::io::write(m, &buf[..n]);
                    }
                }
            }
        }
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                match sig {
                    Signal::SIGCHLD => {}
                    Signal::SIGWINCH => {
                        if let Some(m) = &master {
                            copy_winsize(stdin_fd, m.as_fd());
                        }
                    }
                    s => {
                        let _ = signal::kill(pid, s);
                    }
                }
            }
            if let Ok(st) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                if let Some(code) = exit_code(st) {
                    if let Some(m) = &master {
                        drain(m.as_fd());
                    }
                    let _ = out.flush();
                    return Ok(code);
                }
            }
        }
    }
}

/// Copies what is left in the pty to stdout after the task exited.
fn drain(master: BorrowedFd<'_>) {
    let _ = rustix::io::ioctl_fionbio(master, true);
    let mut out = std::io::stdout();
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = rustix::io::read(master, &mut buf) {
        if n == 0 {
            break;
        }
        let _ = out.write_all(&buf[..n]);
    }
    let _ = out.flush();
}
