//! Secret names: the names under which credentials travel, matched as people write them.
//!
//! One list serves headers, query and form parameters and JSON members alike. A name is
//! compared after [normalising](normalise) it: ASCII letters lower-cased, everything that
//! is not a letter or a digit dropped, so `accessToken`, `access-token`, `ACCESS_TOKEN`
//! and `access.token` are one name. A [`NameRule`] then says how the normalised name must
//! match: exactly, as its ending, or anywhere in it.

use std::ops::Range;

/// How a [`NameRule`] matches a normalised name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameMatch {
    /// The whole name (`pin` matches `PIN`, not `spinner`).
    Exact,
    /// The end of the name (`token` matches `accessToken`, `x-auth-token`).
    Suffix,
    /// Anywhere in the name (`password` matches `newPasswordConfirm`).
    Contains,
}

/// Where a [`NameRule`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameScope {
    /// Headers, query and form parameters, JSON members.
    Everywhere,
    /// Query and form parameters only (`?key=` is Google's API key; a JSON `key` is
    /// nearly always a lookup key, an S3 object key, a map entry).
    Parameters,
}

/// One entry of the secret-name list, with the reason it is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameRule {
    /// The normalised name (lower-case letters and digits only).
    pub name: &'static str,
    /// How it matches.
    pub matches: NameMatch,
    /// Where it applies.
    pub scope: NameScope,
    /// Why the name carries a secret.
    pub reason: &'static str,
}

const fn rule(
    name: &'static str,
    matches: NameMatch,
    scope: NameScope,
    reason: &'static str,
) -> NameRule {
    NameRule {
        name,
        matches,
        scope,
        reason,
    }
}

use NameMatch::{Contains, Exact, Suffix};
use NameScope::{Everywhere, Parameters};

/// The names redacted by default. The README's table is this list; a test keeps the two
/// equal.
pub const DEFAULT_SECRET_NAMES: &[NameRule] = &[
    rule(
        "authorization",
        Suffix,
        Everywhere,
        "HTTP authentication (RFC 9110), also behind proxies (`proxy-authorization`, `x-forwarded-authorization`)",
    ),
    rule(
        "cookie",
        Suffix,
        Everywhere,
        "session cookies in both directions (`cookie`, `set-cookie`)",
    ),
    rule(
        "token",
        Suffix,
        Everywhere,
        "bearer, access, refresh, id, CSRF and session tokens (`accessToken`, `x-auth-token`, `refresh-token`)",
    ),
    rule(
        "secret",
        Suffix,
        Everywhere,
        "client and webhook secrets (`client_secret`, `webhookSecret`)",
    ),
    rule(
        "password",
        Contains,
        Everywhere,
        "passwords, their confirmations and hashes (`newPassword`, `password_confirmation`)",
    ),
    rule("passwd", Contains, Everywhere, "Unix spelling of password"),
    rule("pwd", Exact, Everywhere, "short form of password in forms"),
    rule("passphrase", Suffix, Everywhere, "key passphrases"),
    rule(
        "apikey",
        Suffix,
        Everywhere,
        "API keys (`apiKey`, `x-api-key`, `x-goog-api-key`)",
    ),
    rule(
        "key",
        Exact,
        Parameters,
        "Google's API key parameter (`?key=`)",
    ),
    rule(
        "privatekey",
        Contains,
        Everywhere,
        "private keys (`privateKey`, `private_key_pem`)",
    ),
    rule(
        "secretkey",
        Suffix,
        Everywhere,
        "secret keys (`secretKey`, `aws_secret_key`)",
    ),
    rule(
        "accesskey",
        Suffix,
        Everywhere,
        "cloud secret access keys (`aws_secret_access_key`, `SecretAccessKey`)",
    ),
    rule(
        "signingkey",
        Suffix,
        Everywhere,
        "keys that sign requests or tokens",
    ),
    rule("encryptionkey", Suffix, Everywhere, "data encryption keys"),
    rule(
        "masterkey",
        Suffix,
        Everywhere,
        "master keys (Cosmos DB and the like)",
    ),
    rule("sessionkey", Suffix, Everywhere, "session keys"),
    rule(
        "session",
        Exact,
        Everywhere,
        "a session identifier is a credential for that session",
    ),
    rule(
        "sessionid",
        Suffix,
        Everywhere,
        "session identifiers (`sessionId`, `JSESSIONID`)",
    ),
    rule("sessid", Suffix, Everywhere, "PHP's `PHPSESSID`"),
    rule(
        "signature",
        Contains,
        Everywhere,
        "request and webhook signatures (`Stripe-Signature`, `X-Hub-Signature-256`, `x-amz-signature`)",
    ),
    rule(
        "sig",
        Suffix,
        Everywhere,
        "signatures of signed URLs (Azure SAS `sig`, `paypal-transmission-sig`)",
    ),
    rule(
        "hmac",
        Contains,
        Everywhere,
        "HMAC signatures (`X-Shopify-Hmac-Sha256`)",
    ),
    rule("credential", Exact, Everywhere, "a credential object"),
    rule(
        "credentials",
        Exact,
        Everywhere,
        "a credentials object (its whole subtree)",
    ),
    rule(
        "otp",
        Suffix,
        Everywhere,
        "one-time passwords (`otp`, `totp`)",
    ),
    rule("otpcode", Exact, Everywhere, "one-time password codes"),
    rule("mfacode", Exact, Everywhere, "multi-factor codes"),
    rule("pin", Exact, Everywhere, "PINs"),
    rule("pincode", Exact, Everywhere, "PINs"),
    rule("ssn", Exact, Everywhere, "US social security numbers"),
    rule(
        "socialsecuritynumber",
        Exact,
        Everywhere,
        "US social security numbers",
    ),
    rule(
        "cardnumber",
        Suffix,
        Everywhere,
        "payment card numbers (`cardNumber`, `credit_card_number`)",
    ),
    rule("ccnumber", Exact, Everywhere, "payment card numbers"),
    rule(
        "pan",
        Exact,
        Everywhere,
        "primary account number (a card number, PCI DSS)",
    ),
    rule("cvv", Exact, Everywhere, "card verification values"),
    rule("cvv2", Exact, Everywhere, "card verification values"),
    rule("cvc", Exact, Everywhere, "card verification codes"),
    rule("cvc2", Exact, Everywhere, "card verification codes"),
    rule("securitycode", Exact, Everywhere, "card security codes"),
    rule(
        "xretracerecord",
        Exact,
        Everywhere,
        "the SDK's trigger header, whose value may be the shared token that forces recording (a recorder adds its configured trigger header's name too)",
    ),
];

/// Names that a rule above would match but that are deliberately kept, with the reason.
/// Their values still pass the value detectors.
pub const NAME_EXCEPTIONS: &[(&str, &str)] = &[
    (
        "pagetoken",
        "a pagination cursor: redacting it makes replay diffs useless",
    ),
    ("nextpagetoken", "a pagination cursor (Google APIs)"),
    ("prevpagetoken", "a pagination cursor"),
    ("nexttoken", "a pagination cursor (AWS APIs)"),
    ("continuationtoken", "a pagination cursor (S3, Azure)"),
    ("paginationtoken", "a pagination cursor"),
    ("synctoken", "an incremental-sync cursor"),
    (
        "idempotencytoken",
        "an idempotency key chosen by the client, not a credential",
    ),
];

/// `name` normalised: ASCII letters lower-cased, every byte that is not an ASCII letter or
/// digit dropped. Written into `buf` (cleared first).
pub(super) fn normalise_into(name: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend(
        name.iter()
            .filter(|b| b.is_ascii_alphanumeric())
            .map(u8::to_ascii_lowercase),
    );
}

/// `name` normalised (see `normalise_into`).
pub fn normalise(name: &str) -> String {
    let mut buf = Vec::with_capacity(name.len());
    normalise_into(name.as_bytes(), &mut buf);
    // Only ASCII letters and digits are kept.
    String::from_utf8_lossy(&buf).into_owned()
}

/// The secret-name list of one [`Redaction`](super::Redaction): the rules in force and
/// the exceptions, all normalised.
#[derive(Clone, Debug, Default)]
pub(super) struct SecretNames {
    rules: Vec<(String, NameMatch, NameScope)>,
    exceptions: Vec<String>,
    /// For each last byte, the exact and suffix rules ending with it: a name is only
    /// compared with those (built by [`SecretNames::finish`]).
    by_last: Vec<Vec<u16>>,
    /// The rules that match anywhere in a name.
    contains: Vec<u16>,
}

/// Where a name was found, for [`SecretNames::is_secret`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// A header or a JSON member.
    Field,
    /// A query or form parameter.
    Parameter,
}

impl SecretNames {
    pub(super) fn new(defaults: bool) -> Self {
        let rules = if defaults {
            DEFAULT_SECRET_NAMES
                .iter()
                .map(|r| (r.name.to_owned(), r.matches, r.scope))
                .collect()
        } else {
            Vec::new()
        };
        let exceptions = if defaults {
            NAME_EXCEPTIONS
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect()
        } else {
            Vec::new()
        };
        let mut names = Self {
            rules,
            exceptions,
            by_last: Vec::new(),
            contains: Vec::new(),
        };
        names.finish();
        names
    }

    pub(super) fn add(&mut self, normalised: String, matches: NameMatch) {
        self.exceptions.retain(|e| *e != normalised);
        if !self
            .rules
            .iter()
            .any(|(n, m, _)| *n == normalised && *m == matches)
        {
            self.rules
                .push((normalised, matches, NameScope::Everywhere));
        }
    }

    pub(super) fn allow(&mut self, normalised: String) {
        if !self.exceptions.contains(&normalised) {
            self.exceptions.push(normalised);
        }
    }

    /// Indexes the rules; call once all are added.
    pub(super) fn finish(&mut self) {
        self.by_last = vec![Vec::new(); 256];
        self.contains.clear();
        for (index, (rule, matches, _)) in self.rules.iter().enumerate() {
            let index = u16::try_from(index).unwrap_or(u16::MAX);
            match (matches, rule.as_bytes().last()) {
                (NameMatch::Contains, _) => self.contains.push(index),
                (_, Some(&last)) => self.by_last[usize::from(last)].push(index),
                (_, None) => {}
            }
        }
    }

    /// The rules' names, normalised.
    pub(super) fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|(n, _, _)| n.as_str())
    }

    /// Whether the raw name `name` is a secret's name at `place`.
    pub(super) fn is_secret(&self, name: &[u8], place: Place) -> bool {
        if self.rules.is_empty() || name.is_empty() {
            return false;
        }
        let mut stack = [0u8; 64];
        let mut heap = Vec::new();
        let normalised: &[u8] = if name.len() <= stack.len() {
            let mut len = 0;
            for &b in name {
                if b.is_ascii_alphanumeric() {
                    stack[len] = b.to_ascii_lowercase();
                    len += 1;
                }
            }
            &stack[..len]
        } else {
            normalise_into(name, &mut heap);
            &heap
        };
        self.is_secret_normalised(normalised, place)
    }

    fn is_secret_normalised(&self, name: &[u8], place: Place) -> bool {
        let Some(&last) = name.last() else {
            return false;
        };
        if self.exceptions.iter().any(|e| e.as_bytes() == name) {
            return false;
        }
        let applies = |index: u16| {
            let (rule, matches, scope) = &self.rules[usize::from(index)];
            let rule = rule.as_bytes();
            (*scope == NameScope::Everywhere || place == Place::Parameter)
                && match matches {
                    NameMatch::Exact => rule == name,
                    NameMatch::Suffix => name.ends_with(rule),
                    NameMatch::Contains => {
                        rule.len() <= name.len()
                            && (0..=name.len() - rule.len())
                                .any(|i| name[i] == rule[0] && name[i..].starts_with(rule))
                    }
                }
        };
        let ending = self
            .by_last
            .get(usize::from(last))
            .map_or(&[][..], Vec::as_slice);
        ending
            .iter()
            .chain(&self.contains)
            .any(|&index| applies(index))
    }
}

/// Bytes that may be part of a name written in text (`access_token`, `x-api-key`,
/// `user.password`, `user[password]`).
pub(super) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']')
}

/// The whole name-like word around `hit` in `text`.
pub(super) fn word_around(text: &[u8], hit: Range<usize>) -> Range<usize> {
    let mut start = hit.start;
    while start > 0 && is_name_byte(text[start - 1]) {
        start -= 1;
    }
    let mut end = hit.end;
    while end < text.len() && is_name_byte(text[end]) {
        end += 1;
    }
    start..end
}
