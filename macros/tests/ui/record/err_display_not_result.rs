#[retrace::record(err = display)]
fn balance(account: u64) -> Option<u64> {
    Some(account)
}

#[retrace::record(err = display)]
fn ping(host: &str) {
    let _ = host;
}

fn main() {}
