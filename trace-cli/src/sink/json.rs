//! One JSON object per line, flushed as it is written (a reader may act on a finding at once).

use std::io::{self, Write};

use super::{RunReport, Sink};
use crate::engine::Finding;

pub struct Json<W: Write> {
    out: W,
}

impl<W: Write> Json<W> {
    pub fn new(out: W) -> Json<W> {
        Json { out }
    }
}

impl<W: Write> Sink for Json<W> {
    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        writeln!(self.out, "{}", f.to_json())?;
        self.out.flush()
    }

    fn report(&mut self, r: &RunReport) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, r).map_err(io::Error::other)?;
        writeln!(self.out)?;
        self.out.flush()
    }
}
