struct Pool;

#[retrace::record(skip(pol))]
fn balance(pool: &Pool, account: u64) -> u64 {
    let _ = pool;
    account
}

#[retrace::record(skip(self))]
fn free(account: u64) -> u64 {
    account
}

fn main() {}
