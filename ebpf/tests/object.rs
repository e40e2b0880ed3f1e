//! The embedded object is what the loader expects: a BPF ELF with both programs, the three
//! maps and the wake-up global under the names `goro_ebpf` exports, and a GPL license (the
//! read helpers the handler calls are GPL-only).

use object::{Object, ObjectSection, ObjectSymbol};

#[test]
fn object_has_the_programs_maps_and_license_the_loader_names() {
    let obj = object::File::parse(goro_ebpf::OBJECT).expect("a valid ELF object");
    assert_eq!(obj.architecture(), object::Architecture::Bpf);
    let symbols: Vec<String> = obj
        .symbols()
        .filter_map(|s| s.name().ok().map(str::to_owned))
        .collect();
    for name in [
        goro_ebpf::PROGRAM,
        goro_ebpf::PROGRAM_FLOOR,
        goro_ebpf::MAP_EVENTS,
        goro_ebpf::MAP_SPECS,
        goro_ebpf::MAP_COUNTERS,
        goro_ebpf::GLOBAL_WAKE_BYTES,
    ] {
        assert!(
            symbols.iter().any(|s| s == name),
            "{name} missing: {symbols:?}"
        );
    }
    let license = obj.section_by_name("license").expect("license section");
    assert_eq!(license.data().unwrap(), b"GPL\0");
    assert!(
        obj.section_by_name("uprobe").is_some(),
        "programs in SEC(\"uprobe\")"
    );
    assert!(obj.section_by_name(".BTF").is_some(), "BTF for the maps");
}

#[test]
fn raw_events_are_read_only_at_their_exact_size() {
    let mut bytes = vec![0u8; size_of::<goro_ebpf::RawEvent>()];
    bytes[0..8].copy_from_slice(&42u64.to_le_bytes());
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    bytes[20..22].copy_from_slice(&3u16.to_le_bytes());
    bytes[22] = 2;
    bytes[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = goro_ebpf::RawEvent::from_bytes(&bytes).unwrap();
    assert_eq!(
        (e.ts_ns, e.tgid, e.probe, e.nargs, e.args[0]),
        (42, 7, 3, 2, u64::MAX)
    );
    assert!(goro_ebpf::RawEvent::from_bytes(&bytes[1..]).is_none());
    bytes.push(0);
    assert!(goro_ebpf::RawEvent::from_bytes(&bytes).is_none());
}
