// The return value is recorded: it must be `Serialize` (and `DeserializeOwned`).
struct Connection;

#[retrace::record]
fn connect(url: &str) -> Connection {
    let _ = url;
    Connection
}

fn main() {
    connect("db://");
}
