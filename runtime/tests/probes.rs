//! The probe contract, checked on real binaries: every catalog probe is compiled into the
//! runtime at a traceable site, nothing else is, and independent tools (readelf, bpftrace,
//! trace-cli) agree — bpftrace even reads the argument values the runtime passed.
//!
//! Tools that need root or BPF: outside CI a missing capability skips loudly; under CI=true it
//! fails.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use goro_probes::catalog::{self, ArgType};
use goro_probes::sdt::read_elf;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A missing tool or capability: fail under CI, skip loudly elsewhere.
fn unavailable(what: &str) {
    assert!(!in_ci(), "CI=true but {what}");
    eprintln!("SKIPPED (not in CI): {what}");
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// target/<profile>/examples/template_race, built by `cargo test` with the tests.
fn template_race() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/template_race");
    assert!(
        p.exists(),
        "{} is not built (cargo test builds examples)",
        p.display()
    );
    p
}

/// Links every public API that holds a probe site, so the linker keeps them all in this test
/// binary, and exercises them.
#[test]
fn exercise_every_api() {
    goro::Runtime::builder()
        .procs(2)
        .build()
        .unwrap()
        .block_on(|| {
            goro::lock_os_thread();
            goro::unlock_os_thread();
            goro::syscall(|| std::thread::sleep(Duration::from_millis(1)));
            goro::set_procs(3);
            let _ = goro::read_stats();
            goro::sleep(Duration::from_micros(10));
            goro::go(goro::gosched).join().unwrap();
        });
}

#[test]
fn the_runtime_carries_every_catalog_probe_at_a_traceable_site() {
    let exe = std::env::current_exe().unwrap();
    let data = std::fs::read(&exe).unwrap();
    let file = read_elf(&data).unwrap();
    let goro: Vec<_> = file
        .probes
        .iter()
        .filter(|p| p.provider == catalog::PROVIDER)
        .collect();
    for def in catalog::CATALOG {
        let live = goro
            .iter()
            .filter(|p| p.name == def.name && p.file_offset.is_some())
            .count();
        assert!(
            live > 0,
            "catalog probe {} has no traceable site in the runtime",
            def.name
        );
    }
    for p in &goro {
        let def = catalog::find(&p.name)
            .unwrap_or_else(|| panic!("site {} is not in the catalog", p.name));
        let specs = p.specs().unwrap();
        assert_eq!(specs.len(), def.args.len(), "{}", p.name);
        for (s, a) in specs.iter().zip(def.args) {
            assert_eq!(
                ArgType::from_spec(s.size, s.signed),
                Some(a.ty),
                "{}.{}",
                p.name,
                a.name
            );
        }
        if let Some(off) = p.file_offset {
            assert_eq!(
                data[off as usize], 0x90,
                "{} at {off:#x}: a 1-byte nop",
                p.name
            );
        }
    }
}

#[test]
fn the_binary_says_which_catalog_its_probes_follow() {
    let data = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(
        read_elf(&data).unwrap().catalog_version,
        Some(goro_probes::CATALOG_VERSION),
        "the .note.goro version note"
    );
}

fn names(lines: impl Iterator<Item = String>) -> BTreeSet<String> {
    lines.collect()
}

#[test]
fn readelf_bpftrace_and_trace_cli_list_the_catalog_for_template_race() {
    let bin = template_race();
    let catalog: BTreeSet<String> = catalog::CATALOG
        .iter()
        .map(|d| d.name.to_string())
        .collect();

    // trace-cli's reader. Every probe has a note, but the scenario never calls `syscall` or
    // `unlock_os_thread`, so the linker discarded those functions: their notes point at no
    // code. Only the rest are traceable, and that is what a tracer must see.
    let data = std::fs::read(&bin).unwrap();
    let probes: Vec<_> = read_elf(&data)
        .unwrap()
        .probes
        .into_iter()
        .filter(|p| p.provider == "goro")
        .collect();
    let noted = names(probes.iter().map(|p| p.name.clone()));
    assert_eq!(noted, catalog, "note reader vs catalog");
    let traceable = names(
        probes
            .iter()
            .filter(|p| p.file_offset.is_some())
            .map(|p| p.name.clone()),
    );
    let unused: BTreeSet<String> = ["syscall_enter", "unlock_os_thread"]
        .map(String::from)
        .into();
    assert_eq!(
        traceable,
        &catalog - &unused,
        "traceable sites in template_race"
    );

    if have("readelf") {
        let out = Command::new("readelf")
            .arg("-n")
            .arg(&bin)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut found = BTreeSet::new();
        let mut provider = false;
        for line in text.lines().map(str::trim) {
            if let Some(p) = line.strip_prefix("Provider: ") {
                provider = p == "goro";
            } else if let Some(n) = line.strip_prefix("Name: ")
                && provider
            {
                found.insert(n.to_string());
            }
        }
        assert_eq!(found, catalog, "readelf -n vs catalog");
    } else {
        unavailable("readelf is not installed");
    }

    if !have("bpftrace") {
        unavailable("bpftrace is not installed");
        return;
    }
    if !is_root() {
        unavailable("bpftrace -l needs root");
        return;
    }
    let out = Command::new("bpftrace")
        .arg("-l")
        .arg(format!("usdt:{}:goro:*", bin.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let listed = names(
        text.lines()
            .filter_map(|l| l.trim().rsplit(':').next().map(str::to_string)),
    );
    assert_eq!(
        listed, traceable,
        "bpftrace -l vs our traceable sites:\n{text}"
    );
}

/// Child mode: set the P count to values the parent expects to read through bpftrace.
#[test]
fn child() {
    if std::env::var("GORO_PROBES_CHILD").is_err() {
        return;
    }
    goro::Runtime::builder()
        .procs(4)
        .build()
        .unwrap()
        .block_on(|| {
            goro::set_procs(3);
            goro::set_procs(5);
            let _ = goro::read_stats();
        });
    println!("CHILD OK");
}

#[test]
fn bpftrace_reads_the_arguments_the_runtime_passed() {
    if !have("bpftrace") {
        unavailable("bpftrace is not installed");
        return;
    }
    if !is_root() {
        unavailable("attaching uprobes needs root");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let e = exe.display();
    let script = format!(
        "usdt:{e}:goro:procresize {{ printf(\"procresize %d %d\\n\", arg0, arg1); }} \
         usdt:{e}:goro:stw_begin {{ printf(\"stw_begin %d %d %d\\n\", arg0, arg1, arg2); }}"
    );
    let cmd = format!("{e} --exact child --nocapture --test-threads=1");
    let child = Command::new("bpftrace")
        .args(["-e", &script, "-c", &cmd])
        .env("GORO_PROBES_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("CHILD OK"),
        "the traced child did not finish:\n{stdout}\n{stderr}"
    );
    // The test harness may print "test child ... " on the line of the first event.
    let events: Vec<&str> = stdout
        .lines()
        .filter_map(|l| {
            l.find("procresize")
                .or_else(|| l.find("stw_begin"))
                .map(|i| &l[i..])
        })
        .collect();
    // Start-up (0 -> 4), then the two set_procs calls, each inside a stop-the-world whose
    // reason is set_procs (2) with the P count of the moment; then read_stats (1). Every
    // start-the-world runs procresize, with an unchanged count after read_stats (as Go does).
    assert_eq!(
        events,
        [
            "procresize 0 4",
            "stw_begin 1 2 4",
            "procresize 4 3",
            "stw_begin 2 2 3",
            "procresize 3 5",
            "stw_begin 3 1 5",
            "procresize 5 5",
        ],
        "bpftrace saw:\n{stdout}\n{stderr}"
    );
}
