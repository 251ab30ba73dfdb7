use manager_client::shared;

#[derive(Default)]
pub struct Printer;

#[shared]
impl Printer {
    pub fn print(&self, value: impl std::fmt::Display) -> String {
        value.to_string()
    }
}

fn main() {}
