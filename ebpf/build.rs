//! Compiles the C BPF programs with Debian's clang into OUT_DIR; `src/lib.rs` embeds the object.
//! BPF programs are C because a Rust BPF toolchain (rust-src for build-std, bpf-linker) is not
//! available on the machines goro is built on.

use std::env;
use std::path::PathBuf;
use std::process::{Command, exit};

const INSTALL: &str =
    "install the Debian packages `clang libbpf-dev` (apt-get install clang libbpf-dev)";

fn fail(msg: &str) -> ! {
    // One line, with what to do: cargo shows it as the build error.
    println!("cargo::error=goro-ebpf: {msg}; {INSTALL}");
    exit(1);
}

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let src = dir.join("bpf/goro_usdt.bpf.c");
    println!("cargo::rerun-if-changed=bpf/goro_usdt.bpf.c");
    println!("cargo::rerun-if-changed=bpf/goro_usdt.h");
    println!("cargo::rerun-if-env-changed=BPF_CLANG");
    let clang = env::var("BPF_CLANG").unwrap_or_else(|_| "clang".to_owned());
    // `-target bpf` drops the multiarch include directory, where <asm/types.h> lives.
    let multiarch = "/usr/include/x86_64-linux-gnu";
    let helpers = [
        "/usr/include/bpf/bpf_helpers.h",
        "/usr/local/include/bpf/bpf_helpers.h",
    ];
    if !helpers.iter().any(|h| std::path::Path::new(h).exists()) {
        fail("<bpf/bpf_helpers.h> not found");
    }
    let obj = out.join("goro_usdt.bpf.o");
    let output = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I{multiarch}"))
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run {clang}: {e}")));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // A compile error in our C is not a packaging problem: show clang's own words.
        eprintln!("{stderr}");
        let first = stderr
            .lines()
            .find(|l| l.contains("error"))
            .unwrap_or("clang failed");
        if stderr.contains("file not found") {
            fail(&format!("header missing: {first}"));
        }
        println!(
            "cargo::error=goro-ebpf: compiling {}: {first}",
            src.display()
        );
        exit(1);
    }
}
