//! Shared names: [`Text`], the immutable string the views share (a status
//! name, a wait reason, a creation site), and [`section_name`].

use grt_table::header::SectionKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// An immutable string shared between views (a status name, a wait
/// reason, a creation site). Names that match the compiled-in lists of
/// `grt_table` are `&'static str` (cloning costs nothing); others are
/// reference counted. Serialized as a plain JSON string.
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

/// Every name the compiled-in table lists know.
fn static_names() -> impl Iterator<Item = &'static str> {
    use grt_table::*;
    G_STATUS_NAMES
        .iter()
        .chain(P_STATUS_NAMES.iter())
        .chain(waitreason::NAMES.iter())
        .chain(mrole::NAMES.iter())
        .chain(mstate::NAMES.iter())
        .chain(spanstate::NAMES.iter())
        .chain(gcphase::NAMES.iter())
        .chain(bugs::NAMES.iter())
        .chain(STW_REASONS.iter())
        .copied()
}

impl Text {
    pub fn new(s: &str) -> Text {
        Text(Repr::Shared(Arc::from(s)))
    }

    /// A text for a name from a table list: static when it is a known name.
    pub fn name(s: &str) -> Text {
        match static_names().find(|n| *n == s) {
            Some(n) => Text(Repr::Static(n)),
            None => Text::new(s),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl Default for Text {
    fn default() -> Text {
        Text(Repr::Static(""))
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    fn eq(&self, o: &Text) -> bool {
        self.as_str() == o.as_str()
    }
}

impl Eq for Text {}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, o: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Text {
    fn cmp(&self, o: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(o.as_str())
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Repr::Shared(Arc::from(s)))
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, o: &str) -> bool {
        self.as_str() == o
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, o: &&str) -> bool {
        self.as_str() == *o
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        String::deserialize(d).map(|s| Text::name(&s))
    }
}

/// The short name of a section ("g", "sudog", "arena").
pub fn section_name(k: SectionKind) -> &'static str {
    match k {
        SectionKind::Desc => "desc",
        SectionKind::Strings => "strings",
        SectionKind::Arena => "arena",
        other => other.record_name().unwrap_or("?"),
    }
}
