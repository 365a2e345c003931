//! Serialisable values: what `boundary()`, `BoundaryLayer` and other keyed boundaries
//! record, redacted by the same rules as HTTP traffic while they are encoded.
//!
//! A value is encoded with postcard, which keeps no field names, so redaction happens
//! on the way in: a serializer wrapper sees every struct field and map key by name and
//! every string, and passes the value on with its secrets replaced. The encoded shape
//! does not change (replay decodes a redacted value as the type it was): under a secret
//! name, a string becomes the replacement, a number 0 (or, pseudonymising, a number
//! derived from the keyed hash, so equal secrets stay equal), a `char` `*`, bytes the
//! replacement's bytes, and every leaf of a struct, map or sequence likewise; any other
//! string passes through the value detectors and the text rules, as a text body does.

use std::cell::RefCell;
use std::fmt::Display;

use serde::ser::{self, Serialize, Serializer};

use super::Redaction;
use super::names::Place;
use super::verdicts::Verdicts;

impl Redaction {
    /// `value` encoded with postcard, its secrets replaced as the
    /// module docs describe; `None` when it cannot be encoded.
    pub fn encode_value<T: Serialize + ?Sized>(&self, value: &T) -> Option<bytes::Bytes> {
        let ctx = Ctx {
            redaction: self,
            fields: RefCell::default(),
        };
        postcard::to_stdvec(&Redacted {
            value,
            ctx: &ctx,
            secret: false,
        })
        .ok()
        .map(bytes::Bytes::from)
    }

    fn is_secret_field(&self, name: &str) -> bool {
        self.inner.names.is_secret(name.as_bytes(), Place::Field)
    }

    /// The stand-in for a secret integer: 0, or pseudonymising a number from the
    /// keyed hash of its decimal text.
    fn replace_number(&self, text: &str) -> u64 {
        match &self.inner.key {
            None => 0,
            Some(key) => {
                let pseudonym = key.pseudonym(text.as_bytes());
                let hex = &pseudonym[super::PSEUDONYM_PREFIX.len()..][..16];
                hex.iter().fold(0u64, |acc, &d| {
                    (acc << 4) | u64::from((d as char).to_digit(16).unwrap_or(0))
                })
            }
        }
    }

    fn replace_text(&self, secret: &str) -> String {
        String::from_utf8_lossy(&self.replace(secret.as_bytes())).into_owned()
    }
}

/// Field names whose verdicts one encoding remembers.
const FIELD_CACHE: usize = 16;

/// One encoding: the rules, and the verdicts on the field names already seen. A
/// struct's field names are `&'static str`s the same for every value of the type, so
/// the rows of a query's answer test each name once, not once a row (the name test is
/// most of the cost of a row otherwise).
struct Ctx<'r> {
    redaction: &'r Redaction,
    fields: RefCell<Verdicts<&'static str, FIELD_CACHE>>,
}

impl Ctx<'_> {
    /// Whether the field or variant `name` is a secret's, remembered by address.
    fn is_secret_static(&self, name: &'static str) -> bool {
        let test = || self.redaction.is_secret_field(name);
        match self.fields.try_borrow_mut() {
            Ok(mut fields) => fields.get_or_test(|known| std::ptr::eq(*known, name), || name, test),
            Err(_) => test(),
        }
    }
}

/// A value serialised through [`Wrap`].
struct Redacted<'a, T: ?Sized> {
    value: &'a T,
    ctx: &'a Ctx<'a>,
    /// Under a secret name: every leaf is replaced.
    secret: bool,
}

impl<T: Serialize + ?Sized> Serialize for Redacted<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Wrap {
            inner: serializer,
            ctx: self.ctx,
            secret: self.secret,
        })
    }
}

struct Wrap<'a, S> {
    inner: S,
    ctx: &'a Ctx<'a>,
    secret: bool,
}

impl<'a, S> Wrap<'a, S> {
    fn child<'v, T: ?Sized>(&self, value: &'v T, secret: bool) -> Redacted<'v, T>
    where
        'a: 'v,
    {
        Redacted {
            value,
            ctx: self.ctx,
            secret: self.secret || secret,
        }
    }

    /// The wrapper of a compound the inner serializer started.
    fn compound<C>(&self) -> impl FnOnce(C) -> Compound<'a, C> + use<'a, C, S> {
        let (ctx, secret) = (self.ctx, self.secret);
        move |inner| Compound {
            inner,
            ctx,
            secret,
            value_is_secret: false,
        }
    }
}

macro_rules! numbers {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, v: $ty) -> Result<S::Ok, S::Error> {
            if self.secret {
                // Truncation keeps the type; the value is a stand-in, not the secret.
                let replaced = self.ctx.redaction.replace_number(&v.to_string()) as $ty;
                self.inner.$method(replaced)
            } else {
                self.inner.$method(v)
            }
        }
    )*};
}

impl<'a, S: Serializer> Serializer for Wrap<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<'a, S::SerializeSeq>;
    type SerializeTuple = Compound<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<'a, S::SerializeTupleVariant>;
    type SerializeMap = Compound<'a, S::SerializeMap>;
    type SerializeStruct = Compound<'a, S::SerializeStruct>;
    type SerializeStructVariant = Compound<'a, S::SerializeStructVariant>;

    numbers!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128
    );

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bool(v)
    }

    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_f32(if self.secret { 0.0 } else { v })
    }

    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_f64(if self.secret { 0.0 } else { v })
    }

    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.inner.serialize_char(if self.secret { '*' } else { v })
    }

    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        if self.secret {
            if v.is_empty() {
                return self.inner.serialize_str(v);
            }
            return self
                .inner
                .serialize_str(&self.ctx.redaction.replace_text(v));
        }
        match self.ctx.redaction.body(None, v.as_bytes()) {
            Some(redacted) => self
                .inner
                .serialize_str(&String::from_utf8_lossy(&redacted)),
            None => self.inner.serialize_str(v),
        }
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        if self.secret && !v.is_empty() {
            return self.inner.serialize_bytes(&self.ctx.redaction.replace(v));
        }
        match (self.secret, self.ctx.redaction.body(None, v)) {
            (false, Some(redacted)) => self.inner.serialize_bytes(&redacted),
            _ => self.inner.serialize_bytes(v),
        }
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let child = self.child(value, false);
        self.inner.serialize_some(&child)
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_struct(name)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let secret = self.ctx.is_secret_static(name);
        let child = self.child(value, secret);
        self.inner.serialize_newtype_struct(name, &child)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let secret = self.ctx.is_secret_static(variant);
        let child = self.child(value, secret);
        self.inner
            .serialize_newtype_variant(name, index, variant, &child)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let wrap = self.compound();
        self.inner.serialize_seq(len).map(wrap)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let wrap = self.compound();
        self.inner.serialize_tuple(len).map(wrap)
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let wrap = self.compound();
        self.inner.serialize_tuple_struct(name, len).map(wrap)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let wrap = self.compound();
        self.inner
            .serialize_tuple_variant(name, index, variant, len)
            .map(wrap)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let wrap = self.compound();
        self.inner.serialize_map(len).map(wrap)
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let wrap = self.compound();
        self.inner.serialize_struct(name, len).map(wrap)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let wrap = self.compound();
        self.inner
            .serialize_struct_variant(name, index, variant, len)
            .map(wrap)
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.serialize_str(&value.to_string())
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A sequence, tuple, map or struct being serialised: each element goes through
/// [`Wrap`], a field or map value under a secret name in secret mode.
struct Compound<'a, C> {
    inner: C,
    ctx: &'a Ctx<'a>,
    secret: bool,
    /// A map's last key was a secret name, so its value is secret.
    value_is_secret: bool,
}

impl<'a, C> Compound<'a, C> {
    fn child<'v, T: ?Sized>(&self, value: &'v T, secret: bool) -> Redacted<'v, T>
    where
        'a: 'v,
    {
        Redacted {
            value,
            ctx: self.ctx,
            secret: self.secret || secret,
        }
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl<C: ser::$trait> ser::$trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                let child = Redacted { value, ctx: self.ctx, secret: self.secret };
                self.inner.$method(&child)
            }

            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        self.value_is_secret = match serde_json::to_value(key) {
            Ok(serde_json::Value::String(name)) => self.ctx.redaction.is_secret_field(&name),
            _ => false,
        };
        // A key is kept as it is: it names the value, and replay looks values up by it.
        self.inner.serialize_key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let child = self.child(value, self.value_is_secret);
        self.inner.serialize_value(&child)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl<C: ser::$trait> ser::$trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), C::Error> {
                let secret = self.ctx.is_secret_static(key);
                let child = self.child(value, secret);
                self.inner.serialize_field(key, &child)
            }

            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.inner.skip_field(key)
            }

            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use crate::{Redaction, RedactionMode};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct User {
        email: String,
        password_hash: String,
        api_token: Option<String>,
        pin: u32,
        notes: Vec<String>,
        extra: BTreeMap<String, String>,
    }

    fn user() -> User {
        User {
            email: "ada@example.com".into(),
            password_hash: "$argon2id$v=19$secret-hash".into(),
            api_token: Some("tok-abc-123".into()),
            pin: 4321,
            notes: vec!["card 4111 1111 1111 1111 on file".into()],
            extra: BTreeMap::from([
                ("sessionId".to_owned(), "sess-9".to_owned()),
                ("plan".to_owned(), "pro".to_owned()),
            ]),
        }
    }

    #[test]
    fn secrets_are_replaced_and_the_shape_kept() {
        let bytes = Redaction::default().encode_value(&user()).expect("encodes");
        let back: User = postcard::from_bytes(&bytes).expect("decodes as the same type");
        assert_eq!(
            back,
            User {
                email: "ada@example.com".into(),
                password_hash: "[redacted]".into(),
                api_token: Some("[redacted]".into()),
                pin: 0,
                notes: vec!["card [redacted] on file".into()],
                extra: BTreeMap::from([
                    ("sessionId".to_owned(), "[redacted]".to_owned()),
                    ("plan".to_owned(), "pro".to_owned()),
                ]),
            }
        );
        let raw = String::from_utf8_lossy(&bytes);
        for secret in ["argon2id", "tok-abc", "sess-9", "4111"] {
            assert!(!raw.contains(secret), "{secret} in {raw:?}");
        }
    }

    /// Wider than the field-name cache, so names are evicted and tested again.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wide {
        a1: u8,
        a2: u8,
        a3: u8,
        a4: u8,
        a5: u8,
        a6: u8,
        a7: u8,
        a8: u8,
        a9: u8,
        a10: u8,
        a11: u8,
        a12: u8,
        a13: u8,
        a14: u8,
        a15: u8,
        a16: u8,
        secret_key: String,
        plain: String,
    }

    #[test]
    fn every_row_of_many_is_redacted_however_names_are_remembered() {
        let rows: Vec<User> = (0..40).map(|_| user()).collect();
        let bytes = Redaction::default().encode_value(&rows).expect("encodes");
        let back: Vec<User> = postcard::from_bytes(&bytes).expect("decodes");
        assert!(
            back.iter()
                .all(|u| u.password_hash == "[redacted]" && u.pin == 0)
        );
        assert!(back.iter().all(|u| u.email == "ada@example.com"));

        let wide = |n: u8| Wide {
            a1: n,
            a2: n,
            a3: n,
            a4: n,
            a5: n,
            a6: n,
            a7: n,
            a8: n,
            a9: n,
            a10: n,
            a11: n,
            a12: n,
            a13: n,
            a14: n,
            a15: n,
            a16: n,
            secret_key: format!("key-{n}"),
            plain: format!("text-{n}"),
        };
        let rows: Vec<Wide> = (0..5).map(wide).collect();
        let bytes = Redaction::default().encode_value(&rows).expect("encodes");
        let back: Vec<Wide> = postcard::from_bytes(&bytes).expect("decodes");
        for (n, row) in back.iter().enumerate() {
            assert_eq!(row.secret_key, "[redacted]");
            assert_eq!(row.plain, format!("text-{n}"));
            assert_eq!(row.a16, n as u8);
        }
    }

    #[test]
    fn pseudonymised_values_stay_equal() {
        let r = Redaction::builder()
            .mode(RedactionMode::Pseudonymise)
            .key([1; 32])
            .build()
            .expect("valid");
        let a: User = postcard::from_bytes(&r.encode_value(&user()).unwrap()).unwrap();
        let b: User = postcard::from_bytes(&r.encode_value(&user()).unwrap()).unwrap();
        assert_eq!(a, b);
        assert!(a.password_hash.starts_with("pseudo:"));
        assert_ne!(a.pin, 4321);
        assert_eq!(
            Redaction::disabled().encode_value(&user()),
            postcard::to_stdvec(&user()).ok().map(bytes::Bytes::from),
            "without rules, the plain encoding"
        );
    }
}
