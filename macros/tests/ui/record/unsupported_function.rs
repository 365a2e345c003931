// Functions whose calls cannot be recorded or replayed as written.
#[retrace::record]
const fn double(n: u64) -> u64 {
    n * 2
}

#[retrace::record]
fn numbers(n: u64) -> impl Iterator<Item = u64> {
    0..n
}

#[retrace::record]
fn pair((a, b): (u64, u64)) -> u64 {
    a + b
}

fn main() {}
