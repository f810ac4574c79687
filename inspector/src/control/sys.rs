//! Thin wrappers over the raw system calls control uses: ptrace requests,
//! non-blocking waits (their status decoded into [`WaitStatus`]), and the
//! `/proc` files that describe threads. They return the errno so that
//! callers can tell "thread gone" (ESRCH) from "not allowed" (EPERM). The
//! raw `ptrace` is an `unsafe fn`; each typed request above it says why
//! its arguments are sound. (libc directly, not nix: these dozen calls
//! are the whole surface, and nix's typed requests would be wrapped again
//! to keep the errno contract.)

use core::ffi::c_void;

pub type Errno = i32;

fn errno() -> Errno {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// One ptrace request. Not for PEEK* (whose result may be -1).
///
/// # Safety
///
/// `addr` and `data` must be what `req` expects: integers for requests
/// that take none, or the address of a live buffer of the type and size
/// the kernel reads or writes for `req` (a `user_regs_struct`, a
/// `siginfo_t`, an `unsigned long`). The kernel writes through them.
unsafe fn ptrace(req: libc::c_uint, tid: i32, addr: usize, data: usize) -> Result<libc::c_long, Errno> {
    // SAFETY: the caller passes addr/data as `req` expects (see above).
    let r = unsafe { libc::ptrace(req, tid, addr as *mut c_void, data as *mut c_void) };
    if r == -1 {
        Err(errno())
    } else {
        Ok(r)
    }
}

pub fn seize(tid: i32, options: i32) -> Result<(), Errno> {
    // SAFETY: SEIZE reads no memory: data is the option bits.
    unsafe { ptrace(libc::PTRACE_SEIZE, tid, 0, options as usize) }.map(drop)
}

pub fn interrupt(tid: i32) -> Result<(), Errno> {
    // SAFETY: INTERRUPT takes no addr or data.
    unsafe { ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) }.map(drop)
}

pub fn cont(tid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: CONT reads no memory: data is a signal number.
    unsafe { ptrace(libc::PTRACE_CONT, tid, 0, sig as usize) }.map(drop)
}

pub fn listen(tid: i32) -> Result<(), Errno> {
    // SAFETY: LISTEN takes no addr or data.
    unsafe { ptrace(libc::PTRACE_LISTEN, tid, 0, 0) }.map(drop)
}

pub fn singlestep(tid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: SINGLESTEP reads no memory: data is a signal number.
    unsafe { ptrace(libc::PTRACE_SINGLESTEP, tid, 0, sig as usize) }.map(drop)
}

pub fn detach(tid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: DETACH reads no memory: data is a signal number.
    unsafe { ptrace(libc::PTRACE_DETACH, tid, 0, sig as usize) }.map(drop)
}

pub fn getregs(tid: i32) -> Result<libc::user_regs_struct, Errno> {
    // SAFETY: plain data, filled by the kernel.
    let mut regs: libc::user_regs_struct = unsafe { core::mem::zeroed() };
    // SAFETY: GETREGS writes one user_regs_struct at data, which is ours.
    unsafe { ptrace(libc::PTRACE_GETREGS, tid, 0, &mut regs as *mut _ as usize) }?;
    Ok(regs)
}

pub fn setregs(tid: i32, regs: &libc::user_regs_struct) -> Result<(), Errno> {
    // SAFETY: SETREGS reads one user_regs_struct at data, borrowed for the call.
    unsafe { ptrace(libc::PTRACE_SETREGS, tid, 0, regs as *const _ as usize) }.map(drop)
}

pub fn geteventmsg(tid: i32) -> Result<u64, Errno> {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: GETEVENTMSG writes one unsigned long at data, which is ours.
    unsafe { ptrace(libc::PTRACE_GETEVENTMSG, tid, 0, &mut msg as *mut _ as usize) }?;
    Ok(msg as u64)
}

pub fn getsiginfo(tid: i32) -> Result<libc::siginfo_t, Errno> {
    // SAFETY: plain data, filled by the kernel.
    let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
    // SAFETY: GETSIGINFO writes one siginfo_t at data, which is ours.
    unsafe { ptrace(libc::PTRACE_GETSIGINFO, tid, 0, &mut info as *mut _ as usize) }?;
    Ok(info)
}

/// A `waitpid` status word, decoded: the one place that knows its
/// encoding (the ptrace event sits in bits 16..32 of a stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    /// The thread ended (exited, or killed by a signal).
    Ended(super::ExitStatus),
    /// A ptrace stop: its signal, and the `PTRACE_EVENT_*` it reports
    /// (`None`: a signal-delivery-stop).
    Stopped { sig: i32, event: Option<i32> },
    /// Anything else (a `WIFCONTINUED` report): nothing to answer.
    Other,
}

impl WaitStatus {
    pub fn decode(status: i32) -> WaitStatus {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            WaitStatus::Ended(super::ExitStatus::from_wait(status))
        } else if libc::WIFSTOPPED(status) {
            let event = (status >> 16) & 0xffff;
            WaitStatus::Stopped { sig: libc::WSTOPSIG(status), event: (event != 0).then_some(event) }
        } else {
            WaitStatus::Other
        }
    }
}

/// `waitpid(tid, WNOHANG | __WALL)`: the thread's next state change, if
/// it has one.
pub fn wait_nohang(tid: i32) -> Result<Option<WaitStatus>, Errno> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let r = unsafe { libc::waitpid(tid, &mut status, libc::WNOHANG | libc::__WALL) };
        if r > 0 {
            return Ok(Some(WaitStatus::decode(status)));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// If `tid` has exited, its status, *without* reaping it
/// (`waitid(WNOWAIT)`): for a process whose parent is this process, so
/// that the parent's own wait still gets the status.
pub fn peek_exit(tid: i32) -> Result<Option<super::ExitStatus>, Errno> {
    // SAFETY: siginfo_t is plain data filled by the kernel.
    let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
    loop {
        // SAFETY: info is a valid out-pointer.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                tid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
            )
        };
        if r == 0 {
            break;
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
    // SAFETY: waitid filled a CLD_* siginfo (or left it zeroed).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(match info.si_code {
        libc::CLD_EXITED => Some(super::ExitStatus::Code(status)),
        libc::CLD_KILLED | libc::CLD_DUMPED => Some(super::ExitStatus::Signal(status)),
        _ => None, // a stop: collected as usual
    })
}

pub fn gettid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// The thread ids in `/proc/<pid>/task` ([`crate::find::thread_ids`]).
pub fn list_tasks(pid: i32) -> Result<Vec<i32>, Errno> {
    crate::find::thread_ids(pid).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
}

/// A field of `/proc/<pid>/status` or `/proc/<pid>/task/<tid>/status`.
pub fn status_field(path: &str, field: &str) -> Result<Option<String>, Errno> {
    let text = std::fs::read_to_string(path).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    Ok(text.lines().find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')).map(|v| v.trim().to_string())))
}

/// The tracer of a thread (`TracerPid`), 0 if none.
pub fn tracer_of(pid: i32, tid: i32) -> Result<i32, Errno> {
    let v = status_field(&format!("/proc/{pid}/task/{tid}/status"), "TracerPid")?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// The process a tracer thread (a `TracerPid`, which is a thread id)
/// belongs to: its `Tgid` and the process's `comm`. The thread id itself
/// and no name when it cannot be read (it may have exited meanwhile).
pub fn tracer_process(tracer_tid: i32) -> (i32, Option<String>) {
    let tgid = status_field(&format!("/proc/{tracer_tid}/status"), "Tgid")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|&t| t > 0)
        .unwrap_or(tracer_tid);
    (tgid, comm(tgid, tgid))
}

/// The one-letter state of `/proc/<pid>/task/<tid>/stat` ('R', 'S', 't', ...).
pub fn task_state(pid: i32, tid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    s[s.rfind(')')? + 1..].trim_start().chars().next()
}

/// Whether SIGTRAP is pending for the thread itself (`SigPnd`).
pub fn sigtrap_pending(pid: i32, tid: i32) -> bool {
    let Ok(Some(v)) = status_field(&format!("/proc/{pid}/task/{tid}/status"), "SigPnd") else {
        return false;
    };
    u64::from_str_radix(&v, 16).is_ok_and(|m| m & (1 << (libc::SIGTRAP - 1)) != 0)
}

/// The thread's name (`comm`), if it can be read.
pub fn comm(pid: i32, tid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).ok().map(|s| s.trim_end().to_string())
}

/// `pread` that fills `buf` completely or fails.
pub fn pread_all(fd: i32, buf: &mut [u8], off: u64) -> Result<(), Errno> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the buffer tail is valid for writes of its length.
        let r = unsafe {
            libc::pread(fd, buf[done..].as_mut_ptr() as *mut c_void, buf.len() - done, (off + done as u64) as i64)
        };
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Err(libc::EIO);
        }
        done += r as usize;
    }
    Ok(())
}

/// `pwrite` of all of `buf` or failure.
pub fn pwrite_all(fd: i32, buf: &[u8], off: u64) -> Result<(), Errno> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the buffer tail is valid for reads of its length.
        let r = unsafe {
            libc::pwrite(fd, buf[done..].as_ptr() as *const c_void, buf.len() - done, (off + done as u64) as i64)
        };
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Err(libc::EIO);
        }
        done += r as usize;
    }
    Ok(())
}
