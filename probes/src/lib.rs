//! goro's USDT probes: the catalog (the contract between the runtime and the tools), the probe
//! macro that emits SystemTap SDT notes, and the reader that finds them in an ELF file.
