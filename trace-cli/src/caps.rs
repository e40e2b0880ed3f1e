//! Whether this process may load BPF programs and attach uprobes, checked before trying so the
//! user gets one clear sentence instead of the kernel's EPERM.

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The capabilities in a `/proc/PID/status` `CapEff:` line (hex bit mask).
fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

/// The missing capabilities, named, or `None` if tracing is allowed: CAP_BPF and CAP_PERFMON
/// together (kernel 5.8+), or CAP_SYS_ADMIN.
pub fn missing_for_tracing() -> Option<&'static str> {
    let eff = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_cap_eff(&s))
        .unwrap_or(0);
    missing(eff)
}

fn missing(eff: u64) -> Option<&'static str> {
    let has = |c: u32| eff & (1 << c) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return None;
    }
    Some(match (has(CAP_BPF), has(CAP_PERFMON)) {
        (false, false) => "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)",
        (false, true) => "CAP_BPF (or CAP_SYS_ADMIN)",
        _ => "CAP_PERFMON (or CAP_SYS_ADMIN)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_set_and_names_what_is_missing() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(missing(0x1ff_ffff_ffff), None);
        assert_eq!(missing(1 << CAP_SYS_ADMIN), None);
        assert_eq!(missing((1 << CAP_BPF) | (1 << CAP_PERFMON)), None);
        assert_eq!(
            missing(0),
            Some("CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)")
        );
        assert_eq!(
            missing(1 << CAP_PERFMON),
            Some("CAP_BPF (or CAP_SYS_ADMIN)")
        );
        assert_eq!(
            missing(1 << CAP_BPF),
            Some("CAP_PERFMON (or CAP_SYS_ADMIN)")
        );
    }
}
