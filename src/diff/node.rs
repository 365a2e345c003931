//! A JSON tree borrowed from the body it was parsed from, for comparison only.
//!
//! Parsing into `serde_json::Value` allocates a `String` per key and per string and a
//! B-tree per object, and that dominated the cost of a diff (about six times the cost
//! of scanning the bytes). Here strings without escapes borrow from the body and
//! objects are one vector sorted by key, which also lets two objects be compared by a
//! single merge instead of a lookup per key. Only the values of reported changes are
//! converted to `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One JSON value, borrowing its strings where it can.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JsonNode<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<JsonNode<'a>>),
    /// Members sorted by key; for a repeated key the last one wins, as in `serde_json`.
    Object(Vec<(Cow<'a, str>, JsonNode<'a>)>),
}

impl<'a> JsonNode<'a> {
    /// Parses a whole body; `None` if it is not one JSON document.
    pub(crate) fn parse(body: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }

    /// An owned copy, for a reported change.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(value) => Value::Bool(*value),
            Self::Number(number) => Value::Number(number.clone()),
            Self::String(text) => Value::String(text.clone().into_owned()),
            Self::Array(items) => Value::Array(items.iter().map(Self::to_value).collect()),
            Self::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(key, value)| (key.clone().into_owned(), value.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// Equality with numbers compared by value.
    pub(crate) fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Number(x), Self::Number(y)) => numbers_eq(x, y),
            (Self::Array(x), Self::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| x.same(y))
            }
            (Self::Object(x), Self::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((key_x, x), (key_y, y))| key_x == key_y && x.same(y))
            }
            _ => self == other,
        }
    }
}

fn numbers_eq(a: &Number, b: &Number) -> bool {
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => x == y,
        (Some(int), None) => b.as_f64().is_some_and(|float| float_is_integer(float, int)),
        (None, Some(int)) => a.as_f64().is_some_and(|float| float_is_integer(float, int)),
        (None, None) => a.as_f64() == b.as_f64(),
    }
}

fn integer(number: &Number) -> Option<i128> {
    number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
}

/// Whether a float is exactly the given integer (no rounding through `f64`).
fn float_is_integer(float: f64, int: i128) -> bool {
    // 2^127: beyond it the cast saturates, and no i128 could equal the float anyway.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    float.fract() == 0.0 && float.abs() < LIMIT && float as i128 == int
}

impl<'de> Deserialize<'de> for JsonNode<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = JsonNode<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(JsonNode::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
        Ok(JsonNode::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
        Ok(JsonNode::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
        Ok(JsonNode::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
        // JSON text has no NaN or infinity, so this is always a number.
        Ok(Number::from_f64(value).map_or(JsonNode::Null, JsonNode::Number))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(JsonNode::String(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(JsonNode::String(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(JsonNode::String(Cow::Owned(value)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(JsonNode::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((MemberName(key), value)) = map.next_entry()? {
            members.push((key, value));
        }
        // Reversed, a stable sort and `dedup` keep the last of each repeated key.
        members.reverse();
        members.sort_by(|(a, _), (b, _)| a.cmp(b));
        members.dedup_by(|(later, _), (earlier, _)| later == earlier);
        Ok(JsonNode::Object(members))
    }
}

/// An object key, borrowed when it has no escapes (`Cow`'s own impl always copies).
struct MemberName<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(MemberNameVisitor)
    }
}

struct MemberNameVisitor;

impl<'de> Visitor<'de> for MemberNameVisitor {
    type Value = MemberName<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(MemberName(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(MemberName(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(MemberName(Cow::Owned(value)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::JsonNode;

    fn node(text: &str) -> JsonNode<'_> {
        JsonNode::parse(text.as_bytes()).expect("valid JSON")
    }

    #[test]
    fn numbers_compare_by_value() {
        let same = |a: &str, b: &str| node(a).same(&node(b));
        assert!(same("1", "1.0"));
        assert!(same("-3", "-3e0"));
        assert!(same("18446744073709551615", "18446744073709551615"));
        assert!(!same("1", "1.5"));
        assert!(!same("1", "\"1\""));
        // 2^53 + 1 is not representable as f64; it must not equal 2^53 as a float.
        assert!(!same("9007199254740993", "9007199254740992.0"));
        assert!(same(r#"{"a":[1,{"b":2.0}]}"#, r#"{"a":[1.0,{"b":2}]}"#));
        assert!(!same(r#"{"a":1}"#, r#"{"a":1,"b":1}"#));
    }

    #[test]
    fn strings_borrow_and_objects_sort_with_last_key_winning() {
        let text = r#"{"b":"plain","a":"esc\"aped","b":"last"}"#;
        let JsonNode::Object(members) = node(text) else {
            panic!("expected an object");
        };
        let keys: Vec<&str> = members.iter().map(|(key, _)| key.as_ref()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(matches!(
            &members[1].1,
            JsonNode::String(std::borrow::Cow::Borrowed("last"))
        ));
        assert!(matches!(
            &members[0].1,
            JsonNode::String(std::borrow::Cow::Owned(_))
        ));
        assert_eq!(
            node(text).to_value(),
            json!({"a": "esc\"aped", "b": "last"})
        );
        assert!(JsonNode::parse(b"{\"a\":1} trailing").is_none());
    }
}
