//! `trace-cli probes`, run as a user runs it. The probe binary is this test executable itself:
//! it fires every catalog probe (see `fire_every_probe` below), so its ELF file carries every
//! goro probe site, and it is alive for `--pid`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use goro_probes::catalog;
use serde_json::Value;

use common::{TRACE_CLI, assert_error, stderr, stdout, trace_cli};

/// This executable, after making sure its probe sites exist and run.
fn probe_binary() -> PathBuf {
    if !goro_probes::SITES_ENABLED {
        panic!("probe sites are compiled out: run the tests without goro-probes/disabled");
    }
    goro_probes::testing::fire_every_probe(std::hint::black_box(3));
    std::env::current_exe().unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn lists_every_catalog_probe_with_names_and_meanings() {
    let bin = probe_binary();
    let out = trace_cli(&["probes", bin.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for def in catalog::CATALOG {
        let line = format!("  goro:{}  address 0x", def.name);
        assert!(text.contains(&line), "{} missing from:\n{text}", def.name);
        for arg in def.args {
            let shown = format!("    {}: {}", arg.name, arg.ty);
            assert!(text.contains(&shown), "{}.{} missing", def.name, arg.name);
        }
    }
    assert!(
        text.contains("    old: u8 [pstatus] = 1@%"),
        "code tables are named:\n{text}"
    );
    assert!(text.contains(&catalog::one_line(catalog::find("p_status").unwrap().doc)));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn json_is_one_probe_per_line_and_agrees_with_the_reader() {
    let bin = probe_binary();
    let out = trace_cli(&["probes", "--json", bin.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    let file = goro_probes::sdt::read_elf(&std::fs::read(&bin).unwrap()).unwrap();
    assert_eq!(lines.len(), file.probes.len());
    for (v, probe) in lines.iter().zip(&file.probes) {
        assert_eq!(v["name"], probe.name.as_str());
        assert_eq!(v["address"], probe.address);
        assert_eq!(v["file_offset"], probe.file_offset.unwrap());
    }
    for def in catalog::CATALOG {
        let v = lines
            .iter()
            .find(|v| v["provider"] == "goro" && v["name"] == def.name)
            .unwrap_or_else(|| panic!("{} missing", def.name));
        assert_eq!(v["in_catalog"], true);
        assert_eq!(v["catalog_version"], catalog::CATALOG_VERSION);
        let args = v["args"].as_array().unwrap();
        assert_eq!(args.len(), def.args.len(), "{}", def.name);
        for (a, d) in args.iter().zip(def.args) {
            assert_eq!(a["name"], d.name);
            assert_eq!(
                a["type"],
                d.ty.name(),
                "{}.{}: decoded type",
                def.name,
                d.name
            );
            assert_eq!(a["catalog_type"], d.ty.name());
            assert!(a["location"].as_str().unwrap().starts_with('%'), "{a}");
        }
    }
}

#[test]
fn pid_lists_the_running_executable() {
    let bin = probe_binary();
    let pid = std::process::id().to_string();
    let out = trace_cli(&["probes", "--pid", &pid, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    let exe = std::fs::canonicalize(&bin).unwrap();
    let ours: Vec<_> = lines
        .iter()
        .filter(|v| Path::new(v["file"].as_str().unwrap()) == exe)
        .collect();
    for def in catalog::CATALOG {
        assert!(
            ours.iter().any(|v| v["name"] == def.name),
            "{} missing",
            def.name
        );
    }
}

#[test]
fn a_binary_without_goro_probes_is_an_error() {
    // trace-cli reads probes; it has none of its own.
    let out = trace_cli(&["probes", TRACE_CLI]);
    assert_error(&out, &format!("no goro probes in {TRACE_CLI}"));
    assert!(stdout(&out).contains("no probes"));
}

#[test]
fn a_file_that_is_not_elf_is_an_error() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = trace_cli(&["probes", path]);
    assert_error(&out, &format!("{path}: not an ELF file"));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_file_is_an_error() {
    let out = trace_cli(&["probes", "/nonexistent/goro-binary"]);
    assert_error(&out, "/nonexistent/goro-binary: no such file or directory");
}

#[test]
fn a_truncated_elf_is_an_error() {
    let bin = probe_binary();
    let data = std::fs::read(bin).unwrap();
    let dir = std::env::temp_dir().join(format!("trace-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("truncated");
    std::fs::write(&cut, &data[..200]).unwrap();
    let out = trace_cli(&["probes", cut.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_error(&out, "malformed ELF file");
}

#[test]
fn a_missing_process_is_an_error() {
    // Above the kernel's pid_max limit (4194304), so it cannot exist.
    let out = trace_cli(&["probes", "--pid", "4294967295"]);
    assert_error(&out, "no process with pid 4294967295");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["probes"][..],
        &["probes", "a", "--pid", "1"],
        &["probes", "--pid", "abc"],
        &["probes", "a", "--bogus"],
        &["nonsense"],
        &[],
    ] {
        let out = trace_cli(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("Usage:") || err.contains("--help"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn unsupported_argument_specs_are_shown_not_fatal() {
    // Crafted by probes/fuzz/make_seeds.py: goro:stw_end, a demo probe with a semaphore, a
    // demo probe whose spec uses an indexed address, and a goro probe the catalog lacks.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../probes/fuzz/corpus/elf/crafted-x86_64"
    );
    let out = trace_cli(&["probes", path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("goro:stw_end  address 0x400101  file offset 0x101"),
        "{text}"
    );
    assert!(
        text.contains("demo:sema  address 0x400102  file offset 0x102  semaphore 0x400103"),
        "{text}"
    );
    assert!(text.contains("    arg2: u8 = 1@%ah"), "{text}");
    assert!(
        text.contains("unsupported argument spec \"8@-8(%rax,%rbx,4)\""),
        "{text}"
    );
}

/// A binary built for another catalog version: listed, but with a warning that names both
/// versions, and the JSON carries the binary's version.
#[test]
fn a_binary_built_for_another_catalog_is_flagged() {
    let bin = probe_binary();
    let mut data = std::fs::read(&bin).unwrap();
    // The note is `namesz descsz type "goro\0\0\0\0" version`: find it and claim v99.
    let mut pattern = Vec::new();
    for w in [5u32, 4, catalog::NT_GORO_CATALOG] {
        pattern.extend_from_slice(&w.to_le_bytes());
    }
    pattern.extend_from_slice(b"goro\0\0\0\0");
    let at = data
        .windows(pattern.len())
        .position(|w| w == pattern.as_slice())
        .expect("the .note.goro version note");
    let v = at + pattern.len();
    assert_eq!(data[v..v + 4], catalog::CATALOG_VERSION.to_le_bytes());
    data[v..v + 4].copy_from_slice(&99u32.to_le_bytes());
    let dir = std::env::temp_dir().join(format!("trace-cli-version-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let other = dir.join("built-for-v99");
    std::fs::write(&other, &data).unwrap();

    let out = trace_cli(&["probes", other.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("follows probe catalog v99"), "{err}");
    assert!(
        stdout(&out)
            .lines()
            .next()
            .unwrap()
            .contains("built for catalog v99")
    );

    let out = trace_cli(&["probes", "--json", other.to_str().unwrap()]);
    let first: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["binary_catalog_version"], 99);
    let _ = std::fs::remove_dir_all(&dir);
}
