//! Configuration from the environment, as a user sets it: GOROMAXPROCS and GORODEBUG. Each
//! case runs in a child process (this binary re-executed), since the environment is
//! process-wide.

use std::process::Command;

const CHILD: &str = "GORO_CONFIG_CHILD";

/// Child mode: build a runtime from the environment and report what happened.
#[test]
fn child() {
    if std::env::var(CHILD).is_err() {
        return;
    }
    match goro::Runtime::builder().build() {
        Ok(rt) => {
            let procs = rt.block_on(goro::procs);
            println!("PROCS {procs}");
        }
        Err(e) => println!("ERROR {e}"),
    }
}

fn run_child(env: &[(&str, &str)]) -> String {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("GOROMAXPROCS")
        .env_remove("GORODEBUG");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout
        .lines()
        .find_map(|l| {
            l.find("PROCS ")
                .or_else(|| l.find("ERROR "))
                .map(|i| l[i..].to_string())
        })
        .unwrap_or_else(|| panic!("no result line in:\n{stdout}"))
}

#[test]
fn goromaxprocs_sets_the_default_p_count() {
    assert_eq!(run_child(&[("GOROMAXPROCS", "3")]), "PROCS 3");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        run_child(&[]),
        format!("PROCS {cpus}"),
        "default: available parallelism"
    );
}

#[test]
fn a_bad_environment_is_a_clear_build_error() {
    for (k, v) in [
        ("GOROMAXPROCS", "0"),
        ("GOROMAXPROCS", "four"),
        ("GORODEBUG", "templaterace=soon"),
    ] {
        let got = run_child(&[(k, v)]);
        assert!(
            got.starts_with("ERROR invalid ") && got.contains(k),
            "{k}={v}: {got}"
        );
    }
    // Unknown GORODEBUG settings are ignored, as Go ignores unknown GODEBUG ones.
    assert_eq!(
        run_child(&[("GOROMAXPROCS", "2"), ("GORODEBUG", "somefuturesetting=1")]),
        "PROCS 2"
    );
}

#[test]
fn the_builder_overrides_the_environment() {
    // Checked in-process: the builder's value wins whatever GOROMAXPROCS says.
    let procs = goro::Runtime::builder()
        .procs(1)
        .build()
        .unwrap()
        .block_on(goro::procs);
    assert_eq!(procs, 1);
}
