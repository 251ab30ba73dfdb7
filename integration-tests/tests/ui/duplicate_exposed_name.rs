use manager_client::shared;

#[derive(Default)]
pub struct Counter {
    n: u64,
}

#[shared]
impl Counter {
    pub fn get(&self) -> u64 {
        self.n
    }

    #[shared(rename = "get")]
    pub fn read(&self) -> u64 {
        self.n
    }
}

fn main() {}
