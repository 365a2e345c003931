#[retrace::record(level = "info")]
fn balance(account: u64) -> u64 {
    account
}

#[retrace::record(err = debug)]
fn lookup(account: u64) -> Result<u64, String> {
    Ok(account)
}

fn main() {}
