//! Every goro probe of a binary, read from outside with bpftrace: the independent tracer that
//! the runtime's and trace-cli's tests check their own view against. Test support only.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::catalog::{self, ProbeDef};

/// Why bpftrace cannot run here (it is not installed, or this is not root), if it cannot.
pub fn missing() -> Option<&'static str> {
    let have = Command::new("sh")
        .args(["-c", "command -v bpftrace"])
        .output()
        .is_ok_and(|o| o.status.success());
    // Attaching uprobes needs root; /proc says who we are without a libc dependency.
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    });
    match (have, root) {
        (true, true) => None,
        (false, _) => Some("bpftrace is not installed"),
        (true, false) => Some("attaching uprobes needs root"),
    }
}

/// A bpftrace script printing every catalog probe of `bin`: `@E ns tid name args...`. Only
/// the probes with a traceable site: the linker drops the functions a program never calls
/// (template_race never makes a syscall), and bpftrace refuses a probe with no site.
pub fn script(bin: &Path) -> String {
    let data = std::fs::read(bin).unwrap();
    let sites: BTreeSet<String> = crate::sdt::read_elf(&data)
        .unwrap()
        .probes
        .into_iter()
        .filter(|p| p.provider == catalog::PROVIDER && p.file_offset.is_some())
        .map(|p| p.name)
        .collect();
    let mut s = String::new();
    for def in catalog::CATALOG.iter().filter(|d| sites.contains(d.name)) {
        let fmt: String = def.args.iter().map(|_| " %llu").collect();
        let args: String = (0..def.args.len()).map(|i| format!(", arg{i}")).collect();
        s.push_str(&format!(
            "usdt:{bin}:goro:{name} {{ printf(\"@E %llu %d {name}{fmt}\\n\", nsecs, tid{args}); }}\n",
            bin = bin.display(),
            name = def.name
        ));
    }
    s
}

/// One probe hit as bpftrace printed it.
#[derive(Clone, Debug)]
pub struct Hit {
    pub ns: u64,
    pub tid: u32,
    pub def: &'static ProbeDef,
    /// In the catalog's order.
    pub args: Vec<u64>,
}

/// What a run under bpftrace printed.
pub struct Run {
    /// Every probe hit, in time order: bpftrace prints each CPU's buffer in turn.
    pub hits: Vec<Hit>,
    /// The other lines of stdout: the traced program's own output.
    pub other: Vec<String>,
    pub stderr: String,
}

/// Runs `cmd` (a command line) under bpftrace tracing every goro probe of `bin`; bpftrace
/// starts it once every probe is attached, so nothing is missed. Panics if bpftrace lost
/// events: a lost event would break every chain the tests follow.
pub fn run(bin: &Path, cmd: &str, env: &[(&str, &str)]) -> Run {
    let mut c = Command::new("bpftrace");
    c.args(["-e", &script(bin), "-c", cmd])
        // Room for the bursts (4 MiB per CPU).
        .env("BPFTRACE_PERF_RB_PAGES", "1024")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stdout.contains("Lost ") && !stderr.contains("Lost "),
        "bpftrace lost events:\n{stderr}"
    );
    let mut hits = Vec::new();
    let mut other = Vec::new();
    for line in stdout.lines() {
        // A test harness may print "test child ... " on the line of an event.
        let Some(i) = line.find("@E ") else {
            other.push(line.to_owned());
            continue;
        };
        if i > 0 {
            other.push(line[..i].to_owned());
        }
        let mut w = line[i + 3..].split_whitespace();
        let ns = w.next().unwrap().parse().unwrap();
        let tid = w.next().unwrap().parse().unwrap();
        let name = w.next().unwrap();
        let def = catalog::find(name).unwrap_or_else(|| panic!("unknown probe in {line}"));
        let args: Vec<u64> = w.map(|a| a.parse().unwrap()).collect();
        assert_eq!(args.len(), def.args.len(), "{line}");
        hits.push(Hit { ns, tid, def, args });
    }
    hits.sort_by_key(|h| h.ns);
    Run {
        hits,
        other,
        stderr,
    }
}
