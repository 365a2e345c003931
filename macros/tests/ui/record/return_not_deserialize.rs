// The return value is replayed: it must be `DeserializeOwned`.
#[derive(serde::Serialize)]
struct Report {
    total: u64,
}

#[retrace::record]
fn report(day: u32) -> Report {
    Report {
        total: u64::from(day),
    }
}

fn main() {
    report(1);
}
