use manager_client::shared;

#[derive(Default)]
pub struct Counter {
    n: u64,
}

#[shared]
impl Counter {
    #[shared(rename = "value")]
    fn get(&self) -> u64 {
        self.n
    }
}

fn main() {}
