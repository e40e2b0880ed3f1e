//! The one-line live status a terminal user reads at a glance; nothing without a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_millis(250);

pub struct StatusLine {
    enabled: bool,
    last: Instant,
    last_events: u64,
    shown: bool,
}

impl Default for StatusLine {
    fn default() -> Self {
        Self::new()
    }
}

impl StatusLine {
    /// Shown on stderr when stderr is a terminal.
    pub fn new() -> StatusLine {
        StatusLine {
            enabled: std::io::stderr().is_terminal(),
            last: Instant::now(),
            last_events: 0,
            shown: false,
        }
    }

    pub fn update(&mut self, events: u64, drops: u64, bytes: u64) {
        if !self.enabled || self.last.elapsed() < EVERY {
            return;
        }
        let secs = self.last.elapsed().as_secs_f64();
        let rate = (events - self.last_events) as f64 / secs;
        self.last = Instant::now();
        self.last_events = events;
        let drops = if drops == 0 {
            "0 drops".to_owned()
        } else {
            format!("\x1b[1;31m{drops} DROPPED\x1b[0m")
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[Krecording: {} events/s · {} events · {drops} · {}",
            human(rate as u64),
            human(events),
            crate::report::bytes(bytes)
        );
        let _ = err.flush();
        self.shown = true;
    }

    /// Erases the line before the summary.
    pub fn clear(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.shown = false;
        }
    }
}

/// 1234567 → "1,234,567".
pub fn human(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::human(0), "0");
        assert_eq!(super::human(999), "999");
        assert_eq!(super::human(1000), "1,000");
        assert_eq!(super::human(1234567), "1,234,567");
    }
}
