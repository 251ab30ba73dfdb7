use manager_client::shared;

#[derive(Default)]
pub struct Holder {
    name: String,
}

#[shared]
impl Holder {
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn main() {}
