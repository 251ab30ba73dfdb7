use manager_client::shared;

#[derive(Default)]
pub struct Greeter;

#[shared]
impl Greeter {
    pub fn greet(&self, name: &str) -> String {
        format!("hello {name}")
    }
}

fn main() {}
