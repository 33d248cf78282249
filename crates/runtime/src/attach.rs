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

/// Poll-kind offset of the attach hub's fds.
const HUB: usize = 100;

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
pub(crate) struct RawMode {
    fd: BorrowedFd<'static>,
    saved: rustix::termios::Termios,
}

impl RawMode {
    /// Raw mode on our stdin (fd 0) when it is a terminal.
    pub(crate) fn enter_fd(_stdin: BorrowedFd<'_>) -> Option<Self> {
        // SAFETY: fd 0 stays open for the life of the process.
        let fd: BorrowedFd<'static> = unsafe { BorrowedFd::borrow_raw(0) };
        Self::enter(fd)
    }

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

/// Which of the task's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (and a terminal's output).
    Stdout,
    /// Standard error.
    Stderr,
}

/// Where a task's output goes while berth waits for it.
pub trait Sink {
    /// Takes one chunk of output.
    fn write(&mut self, stream: Stream, data: &[u8]);
}

/// Output straight to berth's own stdout and stderr.
#[derive(Debug, Default)]
pub struct StdioSink;

impl Sink for StdioSink {
    fn write(&mut self, stream: Stream, data: &[u8]) {
        let _ = match stream {
            Stream::Stdout => {
                let mut o = std::io::stdout();
                o.write_all(data).and_then(|_| o.flush())
            }
            Stream::Stderr => std::io::stderr().write_all(data),
        };
    }
}

/// What berth holds of a running task's stdio.
#[derive(Debug, Default)]
pub struct TaskStreams {
    /// The pty master, with a terminal.
    pub master: Option<OwnedFd>,
    /// Forward berth's stdin to the pty.
    pub interactive: bool,
    /// Read ends of the task's stdout/stderr pipes, when not inherited.
    pub pipes: Vec<(OwnedFd, Stream)>,
    /// Serves `berth attach` clients.
    pub hub: Option<crate::hub::Hub>,
    /// Write end of the task's stdin pipe, fed by attach clients.
    pub stdin_pipe: Option<OwnedFd>,
}

/// Output to the sink and to every attach client.
fn emit(sink: &mut dyn Sink, hub: &mut Option<crate::hub::Hub>, stream: Stream, data: &[u8]) {
    sink.write(stream, data);
    if let Some(h) = hub {
        h.broadcast(stream, data);
    }
}

/// Waits for the task `pid` (a child of this process) while forwarding
/// signals to it and, with a pty `master`, proxying the terminal: stdin (when
/// `interactive`) to the master, the master to stdout. Signals must already
/// be blocked with a [`SignalGuard`]. Returns docker's exit code.
pub fn wait_attached(pid: i32, master: Option<OwnedFd>, interactive: bool) -> Result<i32> {
    let streams = TaskStreams {
        master,
        interactive,
        ..TaskStreams::default()
    };
    wait_task(pid, streams, &mut StdioSink)
}

/// Like [`wait_attached`], with the task's output (pty and pipes) going to
/// `sink` as it comes.
pub fn wait_task(pid: i32, streams: TaskStreams, sink: &mut dyn Sink) -> Result<i32> {
    let TaskStreams {
        master,
        interactive,
        mut pipes,
        mut hub,
        stdin_pipe,
    } = streams;
    let pid = Pid::from_raw(pid);
    let sfd = SignalFd::with_flags(
        &handled_set(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(|e| Error::sys("creating a signalfd", e))?;
    for (p, _) in &pipes {
        let _ = rustix::io::ioctl_fionbio(p, true);
    }
    let finish = |master: &Option<OwnedFd>,
                  pipes: &[(OwnedFd, Stream)],
                  sink: &mut dyn Sink,
                  hub: &mut Option<crate::hub::Hub>| {
        if let Some(m) = master.as_ref() {
            drain(m.as_fd(), Stream::Stdout, sink, hub);
        }
        for (p, s) in pipes {
            drain(p.as_fd(), *s, sink, hub);
        }
    };
    // The task may have exited before the signals were blocked.
    if let Ok(st) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        if let Some(code) = exit_code(st) {
            finish(&master, &pipes, sink, &mut hub);
            return Ok(code);
        }
    }
    let stdin = std::io::stdin();
    // SAFETY: fd 0 stays open for the life of the process.
    let stdin_fd: BorrowedFd<'static> = unsafe { BorrowedFd::borrow_raw(0) };
    let _raw = match &master {
        Some(m) if interactive && rustix::termios::isatty(stdin_fd) => {
            copy_winsize(stdin_fd, m.as_fd());
            RawMode::enter(stdin_fd)
        }
        _ => None,
    };
    let mut stdin_open = interactive && master.is_some();
    let mut master_open = master.is_some();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // Order: signalfd, master, stdin, then the pipes.
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let mut kinds = vec![0usize];
        if let (Some(m), true) = (&master, master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            kinds.push(1);
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            kinds.push(2);
        }
        for (i, (p, _)) in pipes.iter().enumerate() {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            kinds.push(3 + i);
        }
        if let Some(h) = &hub {
            for (j, fd) in h.poll_fds().into_iter().enumerate() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                kinds.push(HUB + j);
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let ready: Vec<usize> = fds
            .iter()
            .zip(&kinds)
            .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, k)| *k)
            .collect();
        drop(fds);
        let mut closed_pipes = Vec::new();
        let mut check_exit = false;
        for k in ready {
            match k {
                0 => {
                    check_exit = true;
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
                }
                1 => {
                    if let Some(m) = &master {
                        match rustix::io::read(m, &mut buf) {
                            Ok(0) | Err(_) => master_open = false,
                            Ok(n) => emit(sink, &mut hub, Stream::Stdout, &buf[..n]),
                        }
                    }
                }
                2 => match stdin.lock().read(&mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => {
                        if let Some(m) = &master {
                            let _ = rustix::io::write(m, &buf[..n]);
                        }
                    }
                },
                i if i >= HUB => {
                    if let Some(h) = &mut hub {
                        h.ready(
                            i - HUB,
                            crate::hub::Input {
                                master: master.as_ref().map(|m| m.as_fd()),
                                stdin: stdin_pipe.as_ref().map(|p| p.as_fd()),
                            },
                        );
                    }
                }
                i => {
                    let (p, s) = &pipes[i - 3];
                    match rustix::io::read(p, &mut buf) {
                        Ok(0) => closed_pipes.push(i - 3),
                        Ok(n) => emit(sink, &mut hub, *s, &buf[..n]),
                        Err(e) if e == rustix::io::Errno::AGAIN => {}
                        Err(_) => closed_pipes.push(i - 3),
                    }
                }
            }
        }
        for i in closed_pipes.into_iter().rev() {
            pipes.remove(i);
        }
        if check_exit {
            if let Ok(st) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                if let Some(code) = exit_code(st) {
                    finish(&master, &pipes, sink, &mut hub);
                    return Ok(code);
                }
            }
        }
    }
}

/// Copies what is left in a pty or pipe after the task exited, without
/// waiting for writers that may still hold it open.
fn drain(
    fd: BorrowedFd<'_>,
    stream: Stream,
    sink: &mut dyn Sink,
    hub: &mut Option<crate::hub::Hub>,
) {
    let _ = rustix::io::ioctl_fionbio(fd, true);
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = rustix::io::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        emit(sink, hub, stream, &buf[..n]);
    }
}
