//! What the benches share: deterministic, random-looking request data.

use bytes::Bytes;
use retrace::Header;

/// A small deterministic generator (xorshift64*): random-looking bodies without a
/// dependency on a random number crate's API.
pub struct Noise(pub u64);

impl Noise {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `len` characters of `[A-Za-z0-9]`.
    pub fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// A JSON body of about `size` bytes: a few fields and random tokens (ids, signatures,
/// opaque cursors), which compress little.
pub fn body(noise: &mut Noise, i: usize, size: usize) -> Bytes {
    let mut s = format!("{{\"order\":{i},\"items\":[");
    while s.len() + 80 < size {
        s.push_str(&format!(
            "{{\"id\":\"{}\",\"sig\":\"{}\"}},",
            noise.token(16),
            noise.token(40)
        ));
    }
    s.push_str(&format!("{{}}],\"cursor\":\"{}\"}}", noise.token(16)));
    Bytes::from(s)
}

pub fn header(name: &str, value: String) -> Header {
    Header::new(name.to_owned(), Bytes::from(value))
}
