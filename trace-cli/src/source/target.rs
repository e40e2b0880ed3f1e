//! What to trace: finding the executable, its goro probe sites and their argument specs, and
//! starting a command held before `exec` until the probes are attached.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use goro_probes::catalog::{self, ProbeDef};
use goro_probes::sdt::{Probe, read_elf};
use goro_probes::spec::{Arch, ArgLoc, ArgSpec};
use tracing::{debug, warn};

use crate::error::Error;
use crate::event::probe_index;

/// The three attach modes.
#[derive(Clone, Debug)]
pub enum TargetSpec {
    Pid(u32),
    Binary(PathBuf),
    Spawn(Vec<OsString>),
}

impl TargetSpec {
    pub fn mode(&self) -> &'static str {
        match self {
            TargetSpec::Pid(_) => "pid",
            TargetSpec::Binary(_) => "binary",
            TargetSpec::Spawn(_) => "spawn",
        }
    }
}

/// One attachable probe site.
#[derive(Clone, Debug)]
pub struct Site {
    pub name: &'static str,
    pub file_offset: u64,
    pub spec: goro_ebpf::SiteSpec,
}

/// A target resolved to its executable and probe sites.
#[derive(Debug)]
pub struct Resolved {
    pub spec: TargetSpec,
    /// The executable as the user knows it.
    pub exe: String,
    /// The path the uprobes attach to (for a process: its `/proc/PID/exe`, which names the
    /// very file it runs).
    pub attach_path: PathBuf,
    /// The process (pid mode), known before attaching.
    pub pid: Option<u32>,
    pub sites: Vec<Site>,
    pub build_id: Option<String>,
    pub binary_catalog_version: Option<u32>,
    /// Kept open from resolution on, so the process cannot be replaced by another with the
    /// same pid unnoticed; readable once it exits.
    pub pidfd: Option<OwnedFd>,
    /// Spawn mode: where the command's stdout and stderr go instead of trace-cli's own (its
    /// stdin is then `/dev/null`). The live view owns the terminal: a command writing to it
    /// would tear the screen, and one reading from it would take the view's keys.
    pub child_output: Option<OwnedFd>,
}

/// `pidfd_open(2)`: a handle on a process that becomes readable when it exits.
pub fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether the process behind `fd` has exited (without blocking).
pub fn pidfd_exited(fd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, timeout 0: poll only reads and writes that struct.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

pub fn resolve(spec: TargetSpec) -> Result<Resolved, Error> {
    let (exe, attach_path, pid, pidfd) = match &spec {
        TargetSpec::Pid(pid) => {
            let fd = pidfd_open(*pid).map_err(|e| match e.raw_os_error() {
                Some(libc::ESRCH) | Some(libc::EINVAL) => Error::NoSuchProcess(*pid),
                _ => Error::Bpf(format!("process {pid}: {}", crate::error::describe(&e))),
            })?;
            let link = PathBuf::from(format!("/proc/{pid}/exe"));
            let exe = std::fs::read_link(&link).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::NoSuchProcess(*pid),
                _ => Error::read(&link, e),
            })?;
            (exe.display().to_string(), link, Some(*pid), Some(fd))
        }
        TargetSpec::Binary(path) => {
            let abs = std::fs::canonicalize(path).map_err(|e| Error::read(path, e))?;
            (path.display().to_string(), abs, None, None)
        }
        TargetSpec::Spawn(cmd) => {
            let first = cmd
                .first()
                .ok_or_else(|| Error::Usage("no command to run".into()))?;
            let abs = find_in_path(Path::new(first)).ok_or_else(|| {
                Error::Usage(format!(
                    "cannot run {}: command not found",
                    Path::new(first).display()
                ))
            })?;
            (abs.display().to_string(), abs.clone(), None, None)
        }
    };
    let data = std::fs::read(&attach_path).map_err(|e| Error::read(Path::new(&exe), e))?;
    let file = read_elf(&data).map_err(|source| Error::Elf {
        path: exe.clone(),
        source,
    })?;
    let build_id = object::File::parse(&*data)
        .ok()
        .and_then(|f| object::Object::build_id(&f).ok().flatten())
        .map(|id| id.iter().map(|b| format!("{b:02x}")).collect());
    let what = match pid {
        Some(p) => format!("process {p} ({exe})"),
        None => exe.clone(),
    };
    if let Some(v) = file
        .catalog_version
        .filter(|&v| v != catalog::CATALOG_VERSION)
    {
        warn!(
            "{what} was built for probe catalog v{v}; this trace-cli knows v{}: probes whose arguments differ are skipped",
            catalog::CATALOG_VERSION
        );
    }
    let sites = sites(&file.probes, &what);
    if sites.is_empty() {
        return Err(Error::NoGoroProbes(what));
    }
    Ok(Resolved {
        spec,
        exe,
        attach_path,
        pid,
        sites,
        build_id,
        binary_catalog_version: file.catalog_version,
        pidfd,
        child_output: None,
    })
}

/// Like a shell: a name with a slash is a path, else it is looked up in `PATH`.
fn find_in_path(cmd: &Path) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if cmd.as_os_str().as_bytes().contains(&b'/') {
        return is_exec(cmd)
            .then(|| std::fs::canonicalize(cmd).ok())
            .flatten();
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(cmd))
        .find(|p| is_exec(p))
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// The goro sites that match this catalog, as BPF specs. Sites the linker discarded, probes
/// the catalog does not know and sites whose arguments differ from the catalog are skipped.
fn sites(probes: &[Probe], what: &str) -> Vec<Site> {
    let mut out = Vec::new();
    for p in probes.iter().filter(|p| p.provider == catalog::PROVIDER) {
        let Some(idx) = probe_index(&p.name) else {
            warn!(
                "{what}: probe goro:{} is not in catalog v{}; skipped",
                p.name,
                catalog::CATALOG_VERSION
            );
            continue;
        };
        let def = &catalog::CATALOG[usize::from(idx)];
        let Some(file_offset) = p.file_offset else {
            debug!(
                "{what}: goro:{} at {:#x} is not in code (a discarded site); skipped",
                p.name, p.address
            );
            continue;
        };
        match site_spec(p, idx, def) {
            Ok(spec) => out.push(Site {
                name: def.name,
                file_offset,
                spec,
            }),
            Err(why) => warn!(
                "{what}: goro:{} at {:#x}: {why}; skipped",
                p.name, p.address
            ),
        }
    }
    out
}

/// The BPF spec of one site, checked against the catalog's argument types.
pub fn site_spec(p: &Probe, idx: u16, def: &ProbeDef) -> Result<goro_ebpf::SiteSpec, String> {
    let specs = p.specs().map_err(|e| e.to_string())?;
    if specs.len() != def.args.len() {
        return Err(format!(
            "{} arguments, the catalog has {}",
            specs.len(),
            def.args.len()
        ));
    }
    if specs.len() > goro_ebpf::MAX_ARGS {
        return Err(format!("more than {} arguments", goro_ebpf::MAX_ARGS));
    }
    let mut site = goro_ebpf::SiteSpec {
        probe: idx,
        nargs: specs.len() as u8,
        ..Default::default()
    };
    for ((slot, s), a) in site.args.iter_mut().zip(&specs).zip(def.args) {
        if (s.size, s.signed) != (a.ty.size(), a.ty.signed()) {
            return Err(format!(
                "argument {} is {}, the catalog says {}",
                a.name, s, a.ty
            ));
        }
        *slot = arg_spec(s)?;
    }
    Ok(site)
}

fn arg_spec(s: &ArgSpec) -> Result<goro_ebpf::ArgSpec, String> {
    if Some(s.arch) != Arch::host() {
        return Err(format!("argument spec {s} is for another architecture"));
    }
    let mut a = goro_ebpf::ArgSpec {
        size: s.size,
        is_signed: u8::from(s.signed),
        ..Default::default()
    };
    match s.loc {
        ArgLoc::Const(v) => {
            a.loc = goro_ebpf::ArgLoc::Const as u8;
            a.val = v;
        }
        ArgLoc::Reg(r) => {
            a.loc = goro_ebpf::ArgLoc::Reg as u8;
            a.reg_off = r.pt_regs_offset;
            a.shift = r.shift;
        }
        ArgLoc::Mem { base, disp } => {
            a.loc = goro_ebpf::ArgLoc::Mem as u8;
            a.reg_off = base.pt_regs_offset;
            a.val = disp;
        }
    }
    Ok(a)
}

/// A child process forked and waiting, before `exec`, for [`HeldChild::release`].
pub struct HeldChild {
    pub pid: u32,
    go: Option<OwnedFd>,
    exec_err: OwnedFd,
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded: both fds are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl HeldChild {
    /// Forks; the child waits for one byte on a pipe, then `execv`s `path` with `argv`.
    /// If trace-cli dies first, the pipe closes and the child exits (127) without running.
    /// With `output`, the command writes its stdout and stderr there and reads `/dev/null`.
    pub fn spawn(
        path: &Path,
        argv: &[OsString],
        output: Option<&OwnedFd>,
    ) -> Result<HeldChild, Error> {
        let cpath = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::Usage("command contains a NUL byte".into()))?;
        let cargs: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|_| Error::Usage("command contains a NUL byte".into()))?;
        let mut cargv: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
        cargv.push(std::ptr::null());
        let err = |e: std::io::Error| Error::Bpf(format!("cannot start the command: {e}"));
        let (go_r, go_w) = pipe().map_err(err)?;
        let (err_r, err_w) = pipe().map_err(err)?;
        let output = output.map(|fd| fd.as_raw_fd());
        // SAFETY: between fork and exec the child calls only async-signal-safe functions
        // (sigemptyset, sigprocmask, read, close, open, dup2, execv, write, _exit) on memory
        // prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(err(std::io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: the child, see above. The go pipe's write end is closed here so that a
            // dead parent means EOF; the exec-error pipe is close-on-exec, so the parent sees
            // EOF when exec succeeds and the errno when it fails.
            unsafe {
                // The command starts with no signal blocked, whatever trace-cli blocks.
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                libc::close(go_w.as_raw_fd());
                let mut b = 0u8;
                if libc::read(go_r.as_raw_fd(), (&raw mut b).cast(), 1) != 1 {
                    libc::_exit(127);
                }
                if let Some(out) = output {
                    // dup2 clears close-on-exec on the copies: the command keeps them.
                    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                    if null < 0
                        || libc::dup2(null, 0) < 0
                        || libc::dup2(out, 1) < 0
                        || libc::dup2(out, 2) < 0
                    {
                        let errno = *libc::__errno_location();
                        libc::write(err_w.as_raw_fd(), (&raw const errno).cast(), 4);
                        libc::_exit(127);
                    }
                    if null > 2 {
                        libc::close(null);
                    }
                }
                libc::execv(cpath.as_ptr(), cargv.as_ptr());
                let errno = *libc::__errno_location();
                libc::write(err_w.as_raw_fd(), (&raw const errno).cast(), 4);
                libc::_exit(127);
            }
        }
        drop(go_r);
        drop(err_w);
        Ok(HeldChild {
            pid: pid as u32,
            go: Some(go_w),
            exec_err: err_r,
        })
    }

    /// Lets the child `exec`; reports an `exec` failure.
    pub fn release(mut self) -> Result<u32, Error> {
        let go = self.go.take().expect("released once");
        // SAFETY: writes one byte from a local to our own pipe fd.
        let n = unsafe { libc::write(go.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        drop(go);
        if n != 1 {
            return Err(Error::Bpf(
                "the held command died before it could run".into(),
            ));
        }
        let mut errno = [0u8; 4];
        // SAFETY: reads at most 4 bytes into a local buffer from our own pipe fd; blocks until
        // the child execs (EOF: close-on-exec) or reports its errno.
        let n = unsafe { libc::read(self.exec_err.as_raw_fd(), errno.as_mut_ptr().cast(), 4) };
        if n == 4 {
            let e = std::io::Error::from_raw_os_error(i32::from_ne_bytes(errno));
            reap(self.pid);
            return Err(Error::Usage(format!(
                "cannot run the command: {}",
                crate::error::describe(&e)
            )));
        }
        Ok(self.pid)
    }

    /// Ends a child that must not run (attaching failed).
    pub fn kill(mut self) {
        // Closing the pipe unblocks the child, which exits without running.
        self.go.take();
        reap(self.pid);
    }
}

fn reap(pid: u32) {
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out-pointer.
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
}

/// The exit status of our child `pid` if it has ended: its code, or 128 + the signal.
pub fn try_wait(pid: u32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: non-blocking wait for our own child; `status` is a valid out-pointer.
    let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    if r != pid as libc::pid_t {
        return None;
    }
    Some(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    })
}

/// Kills our child `pid` (SIGKILL: a hung process may not answer anything else) and reaps it.
/// Whether it was still there to kill.
pub fn kill(pid: u32) -> bool {
    // SAFETY: kill takes a pid and a signal; `pid` is our own unreaped child, so it cannot
    // name another process.
    let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0;
    reap(pid);
    sent
}
