use manager_client::shared;

#[derive(Default)]
pub struct Factory;

#[shared]
impl Factory {
    pub fn create(&self) -> u32 {
        1
    }
}

fn main() {}
