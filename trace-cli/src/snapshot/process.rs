//! A live process's memory: `process_vm_readv`, or `/proc/PID/mem` where that system call is
//! not allowed (some seccomp profiles). Both need the kernel's ptrace access check to pass
//! (`PTRACE_MODE_ATTACH_REALCREDS`): the same user as the target (which must not have made
//! itself non-dumpable) with Yama's `kernel.yama.ptrace_scope` at most 1 — and at 1 only a
//! parent may attach, but reading memory of a process of the same user still works — or
//! `CAP_SYS_PTRACE`. No root, no BPF.
//!
//! `--freeze` stops the process with SIGSTOP for a read that cannot tear, and [`Frozen`]
//! resumes it when dropped, on every path (a process that was stopped already is left so).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::elf::{Exe, auxv_entry, io_msg, read_exe};
use super::{Error, Memory};

/// A process to read.
pub struct Process {
    pub pid: u32,
    /// Its executable's path, for the user.
    pub exe_path: String,
    pub exe: Exe,
    /// Load bias: runtime address = link-time address + bias.
    pub bias: u64,
    mem: Option<File>,
}

fn proc_path(pid: u32, what: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{what}"))
}

/// Why a read of `pid` was refused, naming the rule.
fn denied(pid: u32, what: &str) -> Error {
    let me = uid_of("self");
    let them = uid_of(&pid.to_string());
    let rule = match (me, them) {
        (Some(a), Some(b)) if a != b && a != 0 => format!(
            "process {pid} belongs to uid {b}, you are uid {a}: reading another user's process \
             needs CAP_SYS_PTRACE"
        ),
        _ => match std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope") {
            Ok(s) if s.trim() == "1" => "kernel.yama.ptrace_scope is 1: only an ancestor of the \
                 process (or CAP_SYS_PTRACE) may read it; run trace-cli with CAP_SYS_PTRACE \
                 (e.g. sudo), or set kernel.yama.ptrace_scope=0"
                .to_owned(),
            Ok(s) if s.trim() != "0" => format!(
                "kernel.yama.ptrace_scope is {} (2: only CAP_SYS_PTRACE may read another \
                 process; 3: nobody)",
                s.trim()
            ),
            _ => "the kernel's ptrace access check refused it (same user needed, the target \
                  must be dumpable — see prctl PR_SET_DUMPABLE — or CAP_SYS_PTRACE)"
                .to_owned(),
        },
    };
    Error::new(format!(
        "cannot read {what} of process {pid}: permission denied: {rule}"
    ))
}

fn uid_of(pid: &str) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn gone(pid: u32) -> Error {
    Error::new(format!("no process with pid {pid}"))
}

impl Process {
    /// Opens `pid`: its executable, the table's address in it, and the load bias.
    pub fn open(pid: u32) -> Result<Process, Error> {
        if pid == 0 || !proc_path(pid, "").exists() {
            return Err(gone(pid));
        }
        let exe_link = proc_path(pid, "exe");
        let exe_path = match std::fs::read_link(&exe_link) {
            Ok(p) => p.display().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(denied(pid, "the executable"));
            }
            Err(_) if !proc_path(pid, "").exists() => return Err(gone(pid)),
            Err(e) => {
                return Err(Error::new(format!(
                    "process {pid}: no executable to read ({}): a kernel thread?",
                    io_msg(&e)
                )));
            }
        };
        // The link opens the very file the process runs, even if replaced or deleted.
        let exe = read_exe(&exe_link, &format!("process {pid} ({exe_path})"))?;
        let auxv = match std::fs::read(proc_path(pid, "auxv")) {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(denied(pid, "the auxiliary vector"));
            }
            Err(_) => return Err(gone(pid)),
        };
        let entry = auxv_entry(&auxv)
            .ok_or_else(|| Error::new(format!("process {pid}: no AT_ENTRY in its auxv")))?;
        Ok(Process {
            pid,
            exe_path,
            bias: entry.wrapping_sub(exe.entry),
            exe,
            mem: None,
        })
    }

    /// The table's address in the process.
    pub fn table_addr(&self) -> u64 {
        self.exe.table.wrapping_add(self.bias)
    }

    fn read_mem_file(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Error> {
        if self.mem.is_none() {
            let f = File::open(proc_path(self.pid, "mem")).map_err(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied => denied(self.pid, "the memory"),
                std::io::ErrorKind::NotFound => gone(self.pid),
                _ => Error::new(format!(
                    "process {}: /proc/PID/mem: {}",
                    self.pid,
                    io_msg(&e)
                )),
            })?;
            self.mem = Some(f);
        }
        let f = self.mem.as_ref().expect("opened above");
        f.read_exact_at(buf, addr).map_err(|e| {
            if !proc_path(self.pid, "").exists() {
                gone(self.pid)
            } else {
                Error::new(format!(
                    "process {}: cannot read {} bytes at {addr:#x}: {}",
                    self.pid,
                    buf.len(),
                    io_msg(&e)
                ))
            }
        })
    }
}

impl Memory for Process {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Error> {
        if self.mem.is_some() {
            return self.read_mem_file(addr, buf);
        }
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: `local` describes `buf`, which is writable for its length; the kernel only
        // reads the remote iovec's description and checks the remote range itself.
        let n =
            unsafe { libc::process_vm_readv(self.pid as libc::pid_t, &local, 1, &remote, 1, 0) };
        if n == buf.len() as isize {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ESRCH) => Err(gone(self.pid)),
            Some(libc::EPERM) => Err(denied(self.pid, "the memory")),
            // The system call is filtered or missing: /proc/PID/mem does the same.
            Some(libc::ENOSYS) => self.read_mem_file(addr, buf),
            _ if n >= 0 => Err(Error::new(format!(
                "process {}: short read of {} bytes at {addr:#x} ({n} read): the table is not \
                 mapped there — is the executable the one the process runs?",
                self.pid,
                buf.len()
            ))),
            _ => Err(Error::new(format!(
                "process {}: cannot read {} bytes at {addr:#x}: {}",
                self.pid,
                buf.len(),
                io_msg(&e)
            ))),
        }
    }

    fn live(&self) -> bool {
        true
    }
}

/// A process stopped with SIGSTOP; resumed with SIGCONT when dropped, unless it was stopped
/// before.
pub struct Frozen {
    pid: u32,
    resume: bool,
}

/// The state letter of every thread of `pid` (`/proc/PID/task/*/stat`).
fn thread_states(pid: u32) -> Vec<char> {
    let Ok(dir) = std::fs::read_dir(proc_path(pid, "task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let s = std::fs::read_to_string(e.ok()?.path().join("stat")).ok()?;
        // The state follows the command name in parentheses, which may contain anything.
        s[s.rfind(')')? + 1..].trim_start().chars().next()
    })
    .collect()
}

impl Frozen {
    pub fn freeze(pid: u32) -> Result<Frozen, Error> {
        let already = {
            let s = thread_states(pid);
            !s.is_empty() && s.iter().all(|&c| c == 'T' || c == 't')
        };
        if !already {
            // SAFETY: kill has no memory preconditions.
            if unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) } != 0 {
                let e = std::io::Error::last_os_error();
                return Err(match e.raw_os_error() {
                    Some(libc::ESRCH) => gone(pid),
                    Some(libc::EPERM) => Error::new(format!(
                        "cannot stop process {pid} (--freeze): permission denied: it belongs \
                         to another user"
                    )),
                    _ => Error::new(format!("cannot stop process {pid}: {}", io_msg(&e))),
                });
            }
        }
        let frozen = Frozen {
            pid,
            resume: !already,
        };
        // Every thread must have stopped before the read.
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            let s = thread_states(pid);
            if s.is_empty() {
                return Err(gone(pid));
            }
            if s.iter()
                .all(|&c| c == 'T' || c == 't' || c == 'Z' || c == 'X')
            {
                return Ok(frozen);
            }
            if Instant::now() > until {
                return Err(Error::new(format!(
                    "process {pid} did not stop within 2 s of SIGSTOP"
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if self.resume {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGCONT) };
        }
    }
}
