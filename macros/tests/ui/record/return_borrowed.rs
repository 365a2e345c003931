// A borrowed return value cannot be replayed: a replayed value is owned.
#[retrace::record]
fn names(n: usize) -> Vec<&'static str> {
    vec!["ada"; n]
}

fn main() {
    names(1);
}
