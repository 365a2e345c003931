//! What identifies a query in a recording: its SQL text and its bound arguments.
//!
//! Arguments are captured as they are bound, and only when a recording or replay is
//! current: each is kept as JSON text under a name, so a replay that misses can say
//! which argument differed and how (`argument 2 (email): "bob@x.io", recorded
//! "alice@x.io"`). The name is the column the placeholder is compared with or
//! inserted into when the SQL says so (`email = $1`, `INSERT INTO users (email,
//! password_hash) VALUES ($1, $2)`), else `$N`. The recorder's redaction sees each
//! argument under that name, as it sees a struct field: a password hash bound to an
//! INSERT is replaced before it is buffered, and values of any name still pass the
//! value detectors.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod names;

pub(crate) use names::placeholder_names;

/// A query as the recording keys it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QueryKey<'a> {
    pub(crate) sql: Cow<'a, str>,
    pub(crate) args: Vec<Arg>,
}

/// One bound argument: its name and its value as JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Arg {
    pub(crate) name: String,
    pub(crate) json: String,
}

/// An argument is a one-entry map, so redaction sees its name as a key.
impl Serialize for Arg {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&self.name, &self.json)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Arg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgVisitor;
        impl<'de> Visitor<'de> for ArgVisitor {
            type Value = Arg;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a one-entry map of an argument's name to its JSON text")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Arg, A::Error> {
                let (name, json) = map
                    .next_entry::<String, String>()?
                    .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
                Ok(Arg { name, json })
            }
        }
        deserializer.deserialize_map(ArgVisitor)
    }
}

/// The arguments bound so far, captured only when a recording or replay was current
/// when the query was built.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    args: Option<Vec<String>>,
}

impl Capture {
    /// Captures when a recording or replay is current: one thread-local read.
    pub(crate) fn new() -> Self {
        let active = retrace::context::RetraceContext::with_current(|c| c.is_some());
        Self {
            args: active.then(Vec::new),
        }
    }

    /// Keeps `value` as JSON text when capturing. A value serde_json cannot write (a
    /// map with non-string keys, say) is kept as its error, which still tells two
    /// queries apart only by position; it never fails the query.
    pub(crate) fn bind<T: Serialize + ?Sized>(&mut self, value: &T) {
        if let Some(args) = &mut self.args {
            args.push(
                serde_json::to_string(value)
                    .unwrap_or_else(|e| format!("<not representable as JSON: {e}>")),
            );
        }
    }

    /// The key of `sql` with the captured arguments, named from the SQL.
    pub(crate) fn key<'a>(&self, sql: &'a str) -> QueryKey<'a> {
        let values = self.args.as_deref().unwrap_or_default();
        let mut names = placeholder_names(sql, values.len());
        let args = values
            .iter()
            .zip(names.iter_mut())
            .map(|(json, name)| Arg {
                name: std::mem::take(name),
                json: json.clone(),
            })
            .collect();
        QueryKey {
            sql: Cow::Borrowed(sql),
            args,
        }
    }
}

/// Why a query found no recorded answer: the closest unused recorded query of the same
/// operation and what differed, or that there is none.
pub(crate) fn explain_miss(live: Option<&[u8]>, unused: &[Option<bytes::Bytes>]) -> String {
    let Some(live) = live.and_then(|b| postcard::from_bytes::<QueryKey<'_>>(b).ok()) else {
        return String::new();
    };
    let recorded: Vec<QueryKey<'_>> = unused
        .iter()
        .flatten()
        .filter_map(|b| postcard::from_bytes(b).ok())
        .collect();
    let closest = recorded
        .iter()
        .min_by_key(|r| (r.sql != live.sql, differing_args(&live, r).len()));
    match closest {
        None => format!(
            "no unused recorded query of this kind; the query was {}",
            quote(&live.sql)
        ),
        Some(r) => describe(&live, r),
    }
}

fn differing_args<'k>(live: &'k QueryKey<'_>, recorded: &'k QueryKey<'_>) -> Vec<String> {
    let n = live.args.len().max(recorded.args.len());
    (0..n)
        .filter_map(|i| match (live.args.get(i), recorded.args.get(i)) {
            (Some(a), Some(b)) if a.json == b.json => None,
            (a, b) => {
                let name = a.or(b).map(|x| x.name.as_str()).unwrap_or_default();
                let show = |x: Option<&Arg>| x.map_or("nothing".to_owned(), |x| x.json.clone());
                Some(format!(
                    "argument {} ({name}): {}, recorded {}",
                    i + 1,
                    show(a),
                    show(b)
                ))
            }
        })
        .collect()
}

fn describe(live: &QueryKey<'_>, recorded: &QueryKey<'_>) -> String {
    let mut what = Vec::new();
    if live.sql != recorded.sql {
        what.push(format!(
            "the SQL differs: {}, recorded {}",
            quote(&live.sql),
            quote(&recorded.sql)
        ));
    }
    what.extend(differing_args(live, recorded));
    format!(
        "closest unused recorded query: {}; {}",
        quote(&recorded.sql),
        what.join("; ")
    )
}

/// SQL on one line, cut to a readable length.
fn quote(sql: &str) -> String {
    const MAX: usize = 160;
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(MAX) {
        Some((cut, _)) => format!("`{}…`", &flat[..cut]),
        None => format!("`{flat}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sql: &str, args: &[(&str, &str)]) -> QueryKey<'static> {
        QueryKey {
            sql: Cow::Owned(sql.to_owned()),
            args: args
                .iter()
                .map(|(n, j)| Arg {
                    name: (*n).to_owned(),
                    json: (*j).to_owned(),
                })
                .collect(),
        }
    }

    fn encoded(k: &QueryKey<'_>) -> bytes::Bytes {
        postcard::to_stdvec(k).expect("encodes").into()
    }

    #[test]
    fn a_miss_names_the_closest_query_and_the_argument_that_differed() {
        let sql = "SELECT id FROM users WHERE email = $1";
        let live = key(sql, &[("email", "\"bob@x.io\"")]);
        let unused = [
            Some(encoded(&key("SELECT 1", &[]))),
            Some(encoded(&key(sql, &[("email", "\"alice@x.io\"")]))),
        ];
        assert_eq!(
            explain_miss(Some(&encoded(&live)), &unused),
            "closest unused recorded query: `SELECT id FROM users WHERE email = $1`; \
             argument 1 (email): \"bob@x.io\", recorded \"alice@x.io\""
        );
    }

    #[test]
    fn a_miss_with_other_sql_shows_both_texts() {
        let live = key(
            "SELECT id, name FROM users\n  WHERE id = $1",
            &[("id", "7")],
        );
        let unused = [Some(encoded(&key(
            "SELECT id FROM users WHERE id = $1",
            &[("id", "7")],
        )))];
        assert_eq!(
            explain_miss(Some(&encoded(&live)), &unused),
            "closest unused recorded query: `SELECT id FROM users WHERE id = $1`; the SQL \
             differs: `SELECT id, name FROM users WHERE id = $1`, recorded `SELECT id FROM \
             users WHERE id = $1`"
        );
    }

    #[test]
    fn a_miss_with_nothing_left_says_so() {
        let live = key("SELECT 1", &[]);
        assert_eq!(
            explain_miss(Some(&encoded(&live)), &[]),
            "no unused recorded query of this kind; the query was `SELECT 1`"
        );
    }

    #[test]
    fn arguments_round_trip_as_one_entry_maps() {
        let k = key("INSERT INTO t (a) VALUES ($1)", &[("a", "[1,2]")]);
        let back: QueryKey<'_> = postcard::from_bytes(&encoded(&k)).expect("decodes");
        assert_eq!(back, k);
    }
}
