//! Serde for the catalog's code enums (P status, reason, hand-off decision...): each is its
//! `u8` code, read back through the catalog so an unknown code is an error, never a default.
//! The engine's model is saved this way in a flight recording's state record.

use goro_probes::catalog::CodeEnum;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// `#[serde(with = "codes::code")]` on a code field.
pub mod code {
    use super::*;

    pub fn serialize<T: CodeEnum, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8((*v).into())
    }

    pub fn deserialize<'de, T: CodeEnum, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        T::try_from(u8::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// `#[serde(with = "codes::opt")]` on an `Option` of a code.
pub mod opt {
    use super::*;

    pub fn serialize<T: CodeEnum, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&Into::<u8>::into(*v)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: CodeEnum, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<u8>::deserialize(d)?
            .map(|c| T::try_from(c).map_err(D::Error::custom))
            .transpose()
    }
}

/// `#[serde(with = "codes::m_handoff")]` on a P's hand-off: the M and its decision.
pub mod m_handoff {
    use super::*;
    use goro_probes::Handoff;

    pub fn serialize<S: Serializer>(
        v: &Option<(Option<u64>, Handoff)>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some((m, h)) => s.serialize_some(&(m, h.code())),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<(Option<u64>, Handoff)>, D::Error> {
        Option::<(Option<u64>, u8)>::deserialize(d)?
            .map(|(m, c)| {
                Handoff::try_from(c)
                    .map(|h| (m, h))
                    .map_err(D::Error::custom)
            })
            .transpose()
    }
}
