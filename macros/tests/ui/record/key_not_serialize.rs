// A recorded argument must be `Serialize`: reported at its type.
struct Password(String);

#[retrace::record]
fn login(user: &str, password: Password) -> bool {
    !user.is_empty() && !password.0.is_empty()
}

fn main() {
    login("ada", Password("secret".into()));
}
