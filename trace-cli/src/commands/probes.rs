//! `trace-cli probes BINARY | --pid PID [--json]`: lists the SDT probes of a file, or of a
//! process's executable and the ELF libraries it has mapped, decoded against the catalog.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use goro_probes::catalog::{self, ArgType, ProbeDef};
use goro_probes::sdt::{Probe, ReadError, read_elf};
use goro_probes::spec::ArgSpec;
use serde::Serialize;

use crate::cli::ProbesArgs;
use crate::error::Error;

/// A file to read: its name for the user, and the path that opens it (through
/// `/proc/PID/root` for a process, so a process in another mount namespace works too).
struct Target {
    shown: String,
    open: PathBuf,
    /// Libraries of a process are optional: a mapped file that is not ELF (a locale archive)
    /// is skipped, one that cannot be read is reported and skipped.
    required: bool,
}

pub fn run(args: &ProbesArgs) -> Result<(), Error> {
    let targets = match (args.pid, &args.binary) {
        (Some(pid), _) => process_targets(pid)?,
        (None, Some(path)) => vec![Target {
            shown: path.display().to_string(),
            open: path.clone(),
            required: true,
        }],
        // clap requires one of them.
        (None, None) => unreachable!("clap enforces BINARY or --pid"),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut goro = 0usize;
    for target in &targets {
        let data = match fs::read(&target.open) {
            Ok(data) => data,
            Err(e) if target.required => return Err(Error::read(Path::new(&target.shown), e)),
            Err(e) => {
                eprintln!(
                    "trace-cli: warning: skipping {}: {}",
                    target.shown,
                    Error::read(&target.open, e)
                );
                continue;
            }
        };
        let file = match read_elf(&data) {
            Ok(file) => file,
            Err(ReadError::NotElf) if !target.required => continue,
            Err(source) => {
                let e = Error::Elf {
                    path: target.shown.clone(),
                    source,
                };
                if target.required {
                    return Err(e);
                }
                eprintln!("trace-cli: warning: skipping {e}");
                continue;
            }
        };
        let views: Vec<ProbeView<'_>> = file
            .probes
            .iter()
            .map(|p| ProbeView::new(&target.shown, p, file.catalog_version))
            .collect();
        let has_goro = views.iter().any(|v| v.provider == catalog::PROVIDER);
        if has_goro && file.catalog_version != Some(catalog::CATALOG_VERSION) {
            let built = file
                .catalog_version
                .map_or("has no catalog version note".to_owned(), |v| {
                    format!("follows probe catalog v{v}")
                });
            eprintln!(
                "trace-cli: warning: {} {built}; this trace-cli knows v{}: names and arguments may be decoded wrongly",
                target.shown,
                catalog::CATALOG_VERSION
            );
        }
        goro += views
            .iter()
            .filter(|v| v.provider == catalog::PROVIDER)
            .count();
        for v in views.iter().filter(|v| v.catalog_mismatch()) {
            eprintln!(
                "trace-cli: warning: {}:{} in {} does not match catalog v{} (built with another version?)",
                v.provider,
                v.name,
                v.file,
                catalog::CATALOG_VERSION
            );
        }
        if args.json {
            for v in &views {
                serde_json::to_writer(&mut out, v).map_err(io::Error::from)?;
                writeln!(out)?;
            }
        } else {
            write_text(&mut out, &target.shown, &views, file.catalog_version)?;
        }
    }
    out.flush()?;
    if goro == 0 {
        let what = match args.pid {
            Some(pid) => format!("process {pid}"),
            None => targets[0].shown.clone(),
        };
        return Err(Error::NoGoroProbes(what));
    }
    Ok(())
}

/// The executable of `pid` and every distinct ELF file it has mapped, in map order.
fn process_targets(pid: u32) -> Result<Vec<Target>, Error> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !proc_dir.exists() {
        return Err(Error::NoSuchProcess(pid));
    }
    let exe_link = proc_dir.join("exe");
    let exe = fs::read_link(&exe_link).map_err(|e| Error::read(&exe_link, e))?;
    let maps_path = proc_dir.join("maps");
    let maps = fs::read_to_string(&maps_path).map_err(|e| Error::read(&maps_path, e))?;
    let root = proc_dir.join("root");
    // The exe link opens the very file the process runs, even if it was replaced or deleted.
    let mut targets = vec![Target {
        shown: exe.display().to_string(),
        open: exe_link,
        required: true,
    }];
    let mut seen = BTreeSet::from([exe.clone()]);
    for path in mapped_files(&maps) {
        if seen.insert(path.clone()) {
            let open = root.join(path.strip_prefix("/").unwrap_or(&path));
            targets.push(Target {
                shown: path.display().to_string(),
                open,
                required: false,
            });
        }
    }
    Ok(targets)
}

/// The file paths of a `/proc/PID/maps` text: the sixth field when it is an absolute path.
/// Deleted files (" (deleted)") cannot be opened by path and are left out.
fn mapped_files(maps: &str) -> Vec<PathBuf> {
    maps.lines()
        .filter_map(|line| {
            // address perms offset dev inode pathname; the pathname may contain spaces.
            let mut fields = line.splitn(6, ' ');
            let path = fields.nth(5)?.trim_start();
            (path.starts_with('/') && !path.ends_with(" (deleted)")).then(|| PathBuf::from(path))
        })
        .collect()
}

/// One probe as printed, in text or JSON.
#[derive(Serialize)]
struct ProbeView<'a> {
    file: &'a str,
    provider: &'a str,
    name: &'a str,
    address: u64,
    /// `null` when the site is in no file-backed segment (it cannot be traced).
    file_offset: Option<u64>,
    semaphore: u64,
    semaphore_offset: Option<u64>,
    /// The raw argument string of the note.
    arguments: &'a str,
    /// For goro probes: whether the catalog has it, and its version.
    #[serde(skip_serializing_if = "Option::is_none")]
    in_catalog: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_version: Option<u32>,
    /// For goro probes: the catalog version the binary says it was built with (`.note.goro`).
    #[serde(skip_serializing_if = "Option::is_none")]
    binary_catalog_version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meaning: Option<String>,
    args: Vec<ArgView>,
    /// Set when the argument string could not be decoded; `args` is then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct ArgView {
    index: usize,
    spec: String,
    /// The type the spec carries: size and signedness.
    #[serde(rename = "type")]
    ty: Option<&'static str>,
    /// Where the value is: `%eax`, `$7`, `-8(%rbp)`.
    location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meaning: Option<String>,
}

impl<'a> ProbeView<'a> {
    fn new(file: &'a str, probe: &'a Probe, binary_version: Option<u32>) -> ProbeView<'a> {
        let goro = probe.provider == catalog::PROVIDER;
        let def = if goro {
            catalog::find(&probe.name)
        } else {
            None
        };
        let (args, error) = match probe.specs() {
            Ok(specs) => (
                specs
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ArgView::new(i, s, def))
                    .collect(),
                None,
            ),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        ProbeView {
            file,
            provider: &probe.provider,
            name: &probe.name,
            address: probe.address,
            file_offset: probe.file_offset,
            semaphore: probe.semaphore,
            semaphore_offset: probe.semaphore_offset,
            arguments: &probe.args,
            in_catalog: goro.then_some(def.is_some()),
            catalog_version: goro.then_some(catalog::CATALOG_VERSION),
            binary_catalog_version: binary_version.filter(|_| goro),
            meaning: def.map(|d| catalog::one_line(d.doc)),
            args,
            error,
        }
    }

    /// A goro probe the catalog does not describe as found: unknown, or other arguments.
    fn catalog_mismatch(&self) -> bool {
        if self.provider != catalog::PROVIDER {
            return false;
        }
        let Some(def) = catalog::find(self.name) else {
            return true;
        };
        self.error.is_some()
            || self.args.len() != def.args.len()
            || self.args.iter().any(|a| a.ty != a.catalog_type)
    }
}

impl ArgView {
    fn new(index: usize, spec: &ArgSpec, def: Option<&ProbeDef>) -> ArgView {
        let arg = def.and_then(|d| d.args.get(index));
        let text = spec.to_string();
        // The spec always has the `N@` prefix; what follows is the location.
        let location = text
            .split_once('@')
            .map_or(String::new(), |(_, loc)| loc.to_owned());
        ArgView {
            index,
            spec: text,
            ty: ArgType::from_spec(spec.size, spec.signed).map(ArgType::name),
            location,
            name: arg.map(|a| a.name),
            catalog_type: arg.map(|a| a.ty.name()),
            kind: arg.map(|a| a.kind.name()),
            meaning: arg.map(|a| catalog::one_line(a.doc)),
        }
    }
}

fn write_text(
    out: &mut impl Write,
    file: &str,
    views: &[ProbeView<'_>],
    binary_version: Option<u32>,
) -> io::Result<()> {
    if views.is_empty() {
        return writeln!(out, "{file}: no probes");
    }
    let goro = views
        .iter()
        .filter(|v| v.provider == catalog::PROVIDER)
        .count();
    let built = match binary_version {
        Some(v) => format!(", built for catalog v{v}"),
        None if goro > 0 => ", no catalog version note".to_owned(),
        None => String::new(),
    };
    writeln!(
        out,
        "{file}: {} probe{} ({goro} goro, catalog v{}{built})",
        views.len(),
        if views.len() == 1 { "" } else { "s" },
        catalog::CATALOG_VERSION
    )?;
    for v in views {
        let offset = v.file_offset.map_or(
            "none (not in executable code: a discarded site)".to_owned(),
            |o| format!("{o:#x}"),
        );
        write!(
            out,
            "  {}:{}  address {:#x}  file offset {offset}",
            v.provider, v.name, v.address
        )?;
        if v.semaphore != 0 {
            write!(out, "  semaphore {:#x}", v.semaphore)?;
        }
        match v.in_catalog {
            Some(false) => writeln!(out, "  (not in catalog v{})", catalog::CATALOG_VERSION)?,
            _ => writeln!(out)?,
        }
        if let Some(meaning) = &v.meaning {
            writeln!(out, "      {meaning}")?;
        }
        if let Some(error) = &v.error {
            writeln!(out, "      arguments {:?}: {error}", v.arguments)?;
        }
        for a in &v.args {
            let ty = a.ty.unwrap_or("?");
            match (a.name, a.meaning.as_deref()) {
                (Some(name), Some(meaning)) => {
                    let kind = a
                        .kind
                        .filter(|k| *k != "number")
                        .map(|k| format!(" [{k}]"))
                        .unwrap_or_default();
                    let mismatch = match a.catalog_type {
                        Some(c) if Some(c) != a.ty => format!(" (catalog: {c})"),
                        _ => String::new(),
                    };
                    writeln!(
                        out,
                        "    {name}: {ty}{mismatch}{kind} = {}  {meaning}",
                        a.spec
                    )?;
                }
                _ => writeln!(out, "    arg{}: {ty} = {}", a.index + 1, a.spec)?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_files_takes_absolute_paths_once_per_line() {
        let maps = "\
55d0c000-55d0d000 r--p 00000000 fe:01 1234                       /usr/bin/my prog
55d0d000-55d0e000 r-xp 00001000 fe:01 1234                       /usr/bin/my prog
7f00-7f01 rw-p 00000000 00:00 0                                  [heap]
7f01-7f02 r--p 00000000 00:00 0 \n\
7f02-7f03 r--p 00000000 fe:01 99                                 /usr/lib/libc.so.6
7f03-7f04 r--p 00000000 fe:01 98                                 /tmp/gone.so (deleted)
";
        assert_eq!(
            mapped_files(maps),
            vec![
                PathBuf::from("/usr/bin/my prog"),
                PathBuf::from("/usr/bin/my prog"),
                PathBuf::from("/usr/lib/libc.so.6"),
            ]
        );
    }
}
