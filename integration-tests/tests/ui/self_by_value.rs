use manager_client::shared;

#[derive(Default)]
pub struct Once;

#[shared]
impl Once {
    pub fn consume(self) -> u32 {
        1
    }
}

fn main() {}
