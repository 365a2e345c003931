#[retrace::record]
struct Account {
    id: u64,
}

fn main() {}
